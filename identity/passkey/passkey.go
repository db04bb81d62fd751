// Package passkey lets payers register WebAuthn passkeys and prove, with
// one, that they are present and verified: to log in, and to step up before
// a large or unusual payment.
//
// The biometric or PIN never leaves the payer's device. The server keeps
// only the credential's public key (a COSE key), its id, counters and
// flags, and the raw attestation it was registered with.
//
// # User verification
//
// Every ceremony asks the authenticator for user verification
// (userVerification "required"), and the library is told to require it.
// The service then reads the UV bit of the authenticator data itself, on
// every registration and every assertion, and refuses a response without it
// (code user_verification_required), so that a weakened option, a lenient
// library version or a misbehaving client cannot let an unverified
// assertion through. User presence (UP) is checked the same way.
//
// # Ceremonies
//
// A ceremony (its challenge, user, purpose, subject and expiry) is stored
// server-side by Begin* and consumed by Finish*, whatever the outcome: a
// ceremony is finished at most once, a replayed response is refused, and
// any node can finish a ceremony another began. Ceremonies expire after
// CeremonyTTL. A login ceremony is bound to a purpose and a subject (for
// example step_up and a payment id): FinishLogin refuses one begun for
// anything else.
//
// # Sign counters
//
// An assertion whose signature counter does not exceed the stored one (when
// either is non-zero) may come from a cloned authenticator: it is refused
// and the credential is flagged; a flagged credential is refused from then
// on, until the payer deletes it and registers a new one.
//
// The package knows no SQL and no HTTP: storage is behind Store
// (store/sqlstore implements it); Script is the browser half of the
// ceremonies for hosted pages to serve.
package passkey

import (
	"context"
	_ "embed"
	"encoding/hex"
	"errors"
	"time"
)

// Limits.
const (
	// CeremonyTTL is how long a begun ceremony can be finished.
	CeremonyTTL = 5 * time.Minute
	// CredentialsPerCustomerMax is how many passkeys one customer may have.
	CredentialsPerCustomerMax = 20
	// ResponseBytesMax bounds the JSON of a ceremony response.
	ResponseBytesMax = 64 << 10
	// NameLengthMax bounds a passkey's name, in characters.
	NameLengthMax = 64
	// SubjectLengthMax bounds a ceremony's subject, in bytes.
	SubjectLengthMax = 128
	// UserHandleLengthMax is WebAuthn's limit on the user handle (the
	// customer id's bytes).
	UserHandleLengthMax = 64
	// listLimit bounds what one listing of a customer's passkeys reads, in
	// case the per-customer limit was once higher.
	listLimit = 100
)

// Script is passkey.js: the browser half of the ceremonies. Hosted pages
// serve it from their own origin (it needs no inline script or eval) and
// call kassaPasskey.create(options) and kassaPasskey.get(options) with
// the options Begin* returned; each resolves to the JSON to post back to
// Finish*.
//
//go:embed passkey.js
var Script []byte

// User is the payer a ceremony is for. It is given by the caller (package
// identity) so that this package does not depend on it.
type User struct {
	// CustomerID (cus_...) is the customer; its bytes are the WebAuthn
	// user handle, an opaque value the authenticator returns at login.
	CustomerID string
	// Email is the account's name shown by the authenticator's account
	// picker; DisplayName a friendlier one (the email when empty).
	Email       string
	DisplayName string
}

// Purpose is what a login ceremony proves the payer for.
type Purpose string

const (
	// PurposeLogin signs the payer in.
	PurposeLogin Purpose = "login"
	// PurposeStepUp confirms one action, named by the subject (e.g. a
	// payment id, required), that the risk engine asked a passkey for.
	PurposeStepUp Purpose = "step_up"
)

// Kind tells registration ceremonies from login ceremonies.
type Kind string

const (
	KindRegistration Kind = "registration"
	KindLogin        Kind = "login"
)

// Ceremony is a begun ceremony as stored between Begin* and Finish*.
type Ceremony struct {
	ID   string // pkc_...
	Kind Kind
	// CustomerID is the user; empty for a discoverable login, where the
	// authenticator names the user.
	CustomerID string
	Purpose    Purpose // empty for registrations
	Subject    string
	// Session is the library's session data (challenge, allowed
	// credentials, user verification requirement) as JSON.
	Session []byte
	Created time.Time
	Expires time.Time
}

// Credential is a registered passkey: public data only.
type Credential struct {
	ID         string // pkey_..., Kassa's id
	CustomerID string
	RPID       string
	// CredentialID is the authenticator's id of the credential.
	CredentialID []byte
	Name         string
	// PublicKey is the credential's COSE_Key; PublicKeyAlgorithm its COSE
	// algorithm (-7 is ES256).
	PublicKey          []byte
	PublicKeyAlgorithm int64
	// AAGUID names the authenticator model (16 bytes, all zero when it
	// does not say).
	AAGUID     []byte
	SignCount  uint32
	Transports []string // "internal", "hybrid", "usb", ...
	Attachment string   // "platform" or "cross-platform" when known
	// UserVerified is set when registration verified the user (it always
	// does here).
	UserVerified bool
	// BackupEligible: the credential may be synced to other devices;
	// BackupState: it is (as of its last use).
	BackupEligible bool
	BackupState    bool
	// Discoverable is what the credProps extension reported: whether the
	// credential can be used without naming the user first. Nil when the
	// client did not say.
	Discoverable *bool
	// AttestationFormat and AttestationType describe the registration's
	// attestation ("none" unless requested); AttestationObject and
	// ClientDataJSON are its raw bytes, kept so the credential can be
	// verified again later.
	AttestationFormat string
	AttestationType   string
	AttestationObject []byte
	ClientDataJSON    []byte
	Created           time.Time
	LastUsed          time.Time // zero until first used
	// CloneSuspected is when an assertion's sign counter went backwards:
	// the credential is refused from then on. Zero normally.
	CloneSuspected time.Time
}

// AAGUIDString returns the AAGUID in UUID form, "" when it is missing.
func (c Credential) AAGUIDString() string {
	if len(c.AAGUID) != 16 {
		return ""
	}
	h := hex.EncodeToString(c.AAGUID)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Store is what the service needs from storage.
type Store interface {
	// CreateCeremony stores a begun ceremony.
	CreateCeremony(ctx context.Context, c Ceremony) error
	// TakeCeremony deletes the ceremony id and returns it, so that of
	// concurrent callers exactly one gets it. It returns ErrNotFound when
	// there is none (never stored, already taken or pruned).
	TakeCeremony(ctx context.Context, id string) (Ceremony, error)
	// DeleteExpiredCeremonies deletes ceremonies that expired before
	// before and returns how many.
	DeleteExpiredCeremonies(ctx context.Context, before time.Time) (int, error)

	// CreateCredential stores a new credential unless its customer has
	// max credentials already (ErrLimit) or the credential id is taken for
	// its RP ID (ErrDuplicate). Concurrent calls for one customer cannot
	// together exceed max.
	CreateCredential(ctx context.Context, c Credential, max int) error
	// Credential returns a customer's credential by Kassa id;
	// CredentialByCredentialID one by the authenticator's id. Both return
	// ErrNotFound when absent.
	Credential(ctx context.Context, customerID, id string) (Credential, error)
	CredentialByCredentialID(ctx context.Context, rpID string, credentialID []byte) (Credential, error)
	// Credentials returns up to limit of a customer's credentials, oldest
	// first.
	Credentials(ctx context.Context, customerID string, limit int) ([]Credential, error)
	// RecordUse sets the credential's sign count to count, its backup
	// state and last use, if its sign count is still old and it is not
	// flagged as cloned. It reports whether it changed the credential.
	RecordUse(ctx context.Context, id string, old, count uint32, backupState bool, now time.Time) (bool, error)
	// FlagCloned marks the credential as possibly cloned at now (keeping
	// an earlier mark).
	FlagCloned(ctx context.Context, id string, now time.Time) error
	// RenameCredential and DeleteCredential change a customer's credential
	// and return ErrNotFound when the customer has no such credential.
	RenameCredential(ctx context.Context, customerID, id, name string) error
	DeleteCredential(ctx context.Context, customerID, id string) error
}

// Errors of stores.
var (
	ErrNotFound  = errors.New("passkey: not found")
	ErrDuplicate = errors.New("passkey: credential id already registered")
	ErrLimit     = errors.New("passkey: too many credentials for the customer")
)

// Error codes callers see.
const (
	// EForbidden: the authenticator did not verify the user (no UV bit).
	CodeUserVerificationRequired = "user_verification_required"
	// EForbidden: the authenticator did not test user presence (no UP bit).
	CodeUserPresenceRequired = "user_presence_required"
	// EUnprocessable: no such ceremony: never begun, already finished
	// (a replay) or pruned.
	CodeCeremonyUnknown = "passkey_ceremony_unknown"
	// EUnprocessable: the ceremony is older than CeremonyTTL.
	CodeCeremonyExpired = "passkey_ceremony_expired"
	// EForbidden: the ceremony was begun for another kind, user, purpose
	// or subject.
	CodeCeremonyMismatch = "passkey_ceremony_mismatch"
	// EInvalid: the response is not a WebAuthn response.
	CodeResponseInvalid = "passkey_response_invalid"
	// EUnauthorized: the response did not verify (challenge, origin, RP ID,
	// signature, ...); the message names what failed.
	CodeVerificationFailed = "passkey_verification_failed"
	// EUnauthorized: the credential is not registered (for this user).
	CodeUnknownCredential = "passkey_unknown_credential"
	// EForbidden: the sign counter went backwards; the credential is
	// flagged and refused.
	CodePossiblyCloned = "passkey_possibly_cloned"
	// EUnprocessable: the customer has CredentialsPerCustomerMax passkeys.
	CodeLimitReached = "passkey_limit_reached"
	// EConflict: the credential is registered already.
	CodeAlreadyRegistered = "passkey_already_registered"
	// EUnprocessable: BeginLogin for a customer without passkeys.
	CodeNoPasskeys = "passkey_none_registered"
	// ENotFound: no such passkey of the customer.
	CodeNotFound = "passkey_not_found"
	// EInvalid, with Param: a bad argument.
	CodeNameInvalid     = "passkey_name_invalid"
	CodePurposeInvalid  = "passkey_purpose_invalid"
	CodeSubjectInvalid  = "passkey_subject_invalid"
	CodeCustomerInvalid = "passkey_customer_invalid"
)
