package passkey

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/kassa/kassa"
)

// Credentials returns the customer's passkeys, oldest first.
func (s *Service) Credentials(ctx context.Context, customerID string) ([]Credential, error) {
	if err := checkUser(User{CustomerID: customerID}); err != nil {
		return nil, err
	}
	creds, err := s.store.Credentials(ctx, customerID, listLimit)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	return creds, nil
}

// Rename names one of the customer's passkeys (trimmed, 1 to NameLengthMax
// characters, no control characters) and returns it.
func (s *Service) Rename(ctx context.Context, customerID, id, name string) (Credential, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > NameLengthMax || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, unicode.IsControl) {
		return Credential{}, kassa.Invalid("name", CodeNameInvalid,
			"the name must be 1 to %d characters without control characters", NameLengthMax)
	}
	err := s.store.RenameCredential(ctx, customerID, id, name)
	if errors.Is(err, ErrNotFound) {
		return Credential{}, errNotFound()
	} else if err != nil {
		return Credential{}, fmt.Errorf("rename passkey: %w", err)
	}
	c, err := s.store.Credential(ctx, customerID, id)
	if err != nil {
		return Credential{}, fmt.Errorf("read passkey: %w", err)
	}
	return c, nil
}

// Delete removes one of the customer's passkeys. The authenticator keeps
// its key pair, which no longer opens anything here.
func (s *Service) Delete(ctx context.Context, customerID, id string) error {
	err := s.store.DeleteCredential(ctx, customerID, id)
	if errors.Is(err, ErrNotFound) {
		return errNotFound()
	} else if err != nil {
		return fmt.Errorf("delete passkey: %w", err)
	}
	return nil
}

func errNotFound() error {
	return kassa.Errorf(kassa.ENotFound, CodeNotFound, "no such passkey")
}

// webauthnUser is a User with their credentials, as the library wants.
type webauthnUser struct {
	user  User
	creds []webauthn.Credential
}

func newWebauthnUser(u User, creds []Credential) *webauthnUser {
	wu := &webauthnUser{user: u}
	for _, c := range creds {
		wu.creds = append(wu.creds, c.webauthn())
	}
	return wu
}

func (u *webauthnUser) WebAuthnID() []byte   { return []byte(u.user.CustomerID) }
func (u *webauthnUser) WebAuthnName() string { return u.user.Email }
func (u *webauthnUser) WebAuthnDisplayName() string {
	if u.user.DisplayName != "" {
		return u.user.DisplayName
	}
	return u.user.Email
}
func (u *webauthnUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// webauthn returns the library's record of c.
func (c Credential) webauthn() webauthn.Credential {
	var flags protocol.AuthenticatorFlags
	// Registration required presence and verification.
	flags |= protocol.FlagUserPresent
	if c.UserVerified {
		flags |= protocol.FlagUserVerified
	}
	if c.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if c.BackupState {
		flags |= protocol.FlagBackupState
	}
	wc := webauthn.Credential{
		ID:                c.CredentialID,
		PublicKey:         c.PublicKey,
		AttestationType:   c.AttestationType,
		AttestationFormat: c.AttestationFormat,
		Flags:             webauthn.NewCredentialFlags(flags),
		Authenticator: webauthn.Authenticator{
			AAGUID:       c.AAGUID,
			SignCount:    c.SignCount,
			CloneWarning: !c.CloneSuspected.IsZero(),
			Attachment:   protocol.AuthenticatorAttachment(c.Attachment),
		},
		Attestation: webauthn.CredentialAttestation{
			ClientDataJSON:     c.ClientDataJSON,
			PublicKeyAlgorithm: c.PublicKeyAlgorithm,
			Object:             c.AttestationObject,
		},
	}
	for _, t := range c.Transports {
		wc.Transport = append(wc.Transport, protocol.AuthenticatorTransport(t))
	}
	return wc
}
