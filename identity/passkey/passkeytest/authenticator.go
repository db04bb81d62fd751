// Package passkeytest is a software WebAuthn authenticator and client for
// tests that run without a browser: it answers the options of
// passkey.Service's Begin* calls with the JSON a browser would post back,
// and can be told to misbehave (no user verification, no presence, another
// origin or RP ID, a counter that goes backwards).
//
// It signs with ES256 (ECDSA P-256) and attests with format "none", as
// passkeys on phones and laptops do when no attestation is asked for.
package passkeytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Flags of authenticator data (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// AAGUID is the model id the authenticator reports.
var AAGUID = []byte{0x6b, 0x61, 0x73, 0x73, 0x61, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x61, 0x75, 0x74, 0x68, 0x6e}

// Authenticator is a software authenticator with its client (the part of
// a browser that writes clientDataJSON). Its exported fields may be changed
// between calls; it is safe for concurrent use.
type Authenticator struct {
	// Origin is the origin the client reports (e.g. "https://pay.example").
	Origin string
	// RPID, when set, replaces the options' RP ID in the authenticator
	// data (to test a response for another relying party).
	RPID string
	// UserPresent and UserVerified set the UP and UV flags; New sets both.
	UserPresent  bool
	UserVerified bool
	// BackupEligible and BackupState set the BE and BS flags.
	BackupEligible bool
	BackupState    bool
	// NoCounter makes every signature counter 0, as synced passkeys do.
	NoCounter bool

	mu    sync.Mutex
	creds []*Credential
}

// Credential is a key pair the authenticator holds.
type Credential struct {
	ID         []byte
	Key        *ecdsa.PrivateKey
	RPID       string
	UserHandle []byte
	SignCount  uint32
}

// New returns an authenticator that verifies its user, reporting origin.
func New(origin string) *Authenticator {
	return &Authenticator{Origin: origin, UserPresent: true, UserVerified: true}
}

// Credentials returns the credentials it holds.
func (a *Authenticator) Credentials() []*Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*Credential(nil), a.creds...)
}

// SetSignCount sets a credential's counter (the next assertion sends n+1
// unless NoCounter).
func (a *Authenticator) SetSignCount(credentialID []byte, n uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.creds {
		if bytes.Equal(c.ID, credentialID) {
			c.SignCount = n
		}
	}
}

// ErrExcluded is returned by Create when the authenticator holds one of the
// options' excluded credentials (a browser says InvalidStateError).
var ErrExcluded = errors.New("passkeytest: the authenticator holds an excluded credential")

// ErrNoCredential is returned by Get when it holds no allowed credential.
var ErrNoCredential = errors.New("passkeytest: no credential for these options")

type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		ExcludeCredentials []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

// Create answers registration options as navigator.credentials.create and
// the page's script would: it returns the JSON to post to
// FinishRegistration.
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("passkeytest: creation options: %w", err)
	}
	userHandle, err := decode(o.PublicKey.User.ID)
	if err != nil {
		return nil, fmt.Errorf("passkeytest: user.id: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ex := range o.PublicKey.ExcludeCredentials {
		id, _ := decode(ex.ID)
		for _, c := range a.creds {
			if bytes.Equal(c.ID, id) {
				return nil, ErrExcluded
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	c := &Credential{ID: make([]byte, 32), Key: key, RPID: o.PublicKey.RP.ID, UserHandle: userHandle}
	rand.Read(c.ID)
	if !a.NoCounter {
		c.SignCount = 1
	}
	clientData := a.clientData("webauthn.create", o.PublicKey.Challenge)
	authData, err := a.authData(c, flagAT)
	if err != nil {
		return nil, err
	}
	attObj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, err
	}
	a.creds = append(a.creds, c)
	return json.Marshal(map[string]any{
		"id": encode(c.ID), "rawId": encode(c.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON": encode(clientData), "attestationObject": encode(attObj), "transports": []string{"internal"},
		},
		"clientExtensionResults": map[string]any{"credProps": map[string]any{"rk": true}},
	})
}

type requestOptions struct {
	PublicKey struct {
		Challenge        string `json:"challenge"`
		RPID             string `json:"rpId"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

// Get answers login options as navigator.credentials.get would, with the
// first credential it holds that they allow (any of the RP's for a
// discoverable login): it returns the JSON to post to FinishLogin.
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("passkeytest: request options: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.pick(o)
	if c == nil {
		return nil, ErrNoCredential
	}
	if !a.NoCounter {
		c.SignCount++
	}
	clientData := a.clientData("webauthn.get", o.PublicKey.Challenge)
	authData, err := a.authData(c, 0)
	if err != nil {
		return nil, err
	}
	hash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), hash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.Key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": encode(c.ID), "rawId": encode(c.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON": encode(clientData), "authenticatorData": encode(authData),
			"signature": encode(sig), "userHandle": encode(c.UserHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
}

func (a *Authenticator) pick(o requestOptions) *Credential {
	rpID := o.PublicKey.RPID
	for _, c := range a.creds {
		if c.RPID != rpID {
			continue
		}
		if len(o.PublicKey.AllowCredentials) == 0 {
			return c
		}
		for _, al := range o.PublicKey.AllowCredentials {
			if id, _ := decode(al.ID); bytes.Equal(id, c.ID) {
				return c
			}
		}
	}
	return nil
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

// authData is the authenticator data for c, with the attested credential
// data when extra has flagAT.
func (a *Authenticator) authData(c *Credential, extra byte) ([]byte, error) {
	rpID := c.RPID
	if a.RPID != "" {
		rpID = a.RPID
	}
	rpHash := sha256.Sum256([]byte(rpID))
	flags := extra
	for _, f := range []struct {
		on  bool
		bit byte
	}{{a.UserPresent, flagUP}, {a.UserVerified, flagUV}, {a.BackupEligible, flagBE}, {a.BackupState, flagBS}} {
		if f.on {
			flags |= f.bit
		}
	}
	var b bytes.Buffer
	b.Write(rpHash[:])
	b.WriteByte(flags)
	binary.Write(&b, binary.BigEndian, c.SignCount)
	if extra&flagAT != 0 {
		b.Write(AAGUID)
		binary.Write(&b, binary.BigEndian, uint16(len(c.ID)))
		b.Write(c.ID)
		pub, err := c.Key.PublicKey.ECDH()
		if err != nil {
			return nil, err
		}
		raw := pub.Bytes() // 0x04 || X || Y
		cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
		if err != nil {
			return nil, err
		}
		b.Write(cose)
	}
	return b.Bytes(), nil
}

func encode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decode(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(trimPadding(s))
}

func trimPadding(s string) string {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return s
}
