package identity

import (
	"errors"
	"fmt"
	"io"

	"github.com/kassa/kassa/vault"
)

// Sealer encrypts sensitive fields before they are stored and decrypts
// them after. aad (associated data) binds a sealed value to its place (the
// customer id and field name): a value copied elsewhere does not open.
// Open of anything tampered, moved or sealed under a key that is gone
// fails without data.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// VaultSealer is the Sealer of Kassa: the vault's Envelope (domain
// "identity") under the vault's key-encryption keys. Every value gets its
// own random 256-bit data key (DEK), wrapped under the current KEK
// version; both are bound to aad. The vault's key status, rewrap and
// retirement cover these values (the store finds them by column), so
// rotating the KEKs never strands one.
type VaultSealer struct {
	Wrapper vault.Wrapper
	Rand    io.Reader // DEKs and nonces; nil means crypto/rand
}

var _ Sealer = (*VaultSealer)(nil)

// SealDomain is the vault Envelope domain of identity's sealed values.
const SealDomain = "identity"

// ErrSealed is returned by Open for a value that does not open.
var ErrSealed = errors.New("identity: sealed value does not open (tampered, moved or key missing)")

func (v *VaultSealer) envelope() *vault.Envelope {
	return &vault.Envelope{Wrapper: v.Wrapper, Domain: SealDomain, Rand: v.Rand}
}

func (v *VaultSealer) Seal(plaintext, aad []byte) ([]byte, error) {
	b, err := v.envelope().Seal(plaintext, aad)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return b, nil
}

func (v *VaultSealer) Open(sealed, aad []byte) ([]byte, error) {
	b, err := v.envelope().Open(sealed, aad)
	if err != nil {
		return nil, ErrSealed
	}
	return b, nil
}

// Rewrap re-wraps a sealed value's data key under the current KEK version
// and reports whether it changed (false: it was current already).
func (v *VaultSealer) Rewrap(sealed, aad []byte) ([]byte, bool, error) {
	b, changed, err := v.envelope().Rewrap(sealed, aad)
	if errors.Is(err, vault.ErrEnvelope) {
		err = ErrSealed
	}
	return b, changed, err
}

// SealedKeyVersion returns the KEK version a VaultSealer value is wrapped
// under, for a rotation job that looks for stale values.
func SealedKeyVersion(sealed []byte) (int, bool) { return vault.EnvelopeVersion(sealed) }

// SealAAD is the associated data of a sealed field of a customer (or of
// another record identity seals: an outbox message).
func SealAAD(recordID, field string) []byte { return []byte(recordID + "/" + field) }

func (s *Service) seal(customerID, field string, plaintext []byte) ([]byte, error) {
	b, err := s.sealer.Seal(plaintext, SealAAD(customerID, field))
	if err != nil {
		return nil, fmt.Errorf("identity: seal %s: %w", field, err)
	}
	return b, nil
}

func (s *Service) open(customerID, field string, sealed []byte) ([]byte, error) {
	b, err := s.sealer.Open(sealed, SealAAD(customerID, field))
	if err != nil {
		return nil, fmt.Errorf("identity: open %s of %s: %w", field, customerID, err)
	}
	return b, nil
}
