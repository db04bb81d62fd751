package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
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

// VaultSealer is the Sealer of Kassa: envelope encryption with the vault's
// key-encryption keys. Every value gets its own random 256-bit data key
// (DEK); the value is sealed with AES-256-GCM under the DEK, and the DEK
// is wrapped by the vault's Wrapper under its current KEK version, both
// bound to aad. Rotating the vault's KEKs leaves sealed values readable
// as long as their version is kept; Rewrap moves one to the current
// version without touching its ciphertext.
//
// Layout: 0x01 | KEK version (uint32, big endian) | wrapped DEK length
// (uint16) | wrapped DEK | nonce | ciphertext+tag.
type VaultSealer struct {
	Wrapper vault.Wrapper
	Rand    io.Reader // DEKs and nonces; nil means crypto/rand
}

var _ Sealer = (*VaultSealer)(nil)

const (
	sealedFormat    = 1
	sealedHeader    = 1 + 4 + 2
	sealDEKLength   = 32
	sealNonceLength = 12
	sealedMax       = 64 << 10 // nothing identity seals is near this
)

// ErrSealed is returned by Open for a value that does not open.
var ErrSealed = errors.New("identity: sealed value does not open (tampered, moved or key missing)")

func sealAD(aad []byte) []byte { return append([]byte("kassa/identity/sealed/v1/"), aad...) }

func (v *VaultSealer) random(b []byte) error {
	r := v.Rand
	if r == nil {
		r = rand.Reader
	}
	_, err := io.ReadFull(r, b)
	return err
}

func (v *VaultSealer) Seal(plaintext, aad []byte) ([]byte, error) {
	if len(plaintext) > sealedMax {
		return nil, errors.New("identity: value too large to seal")
	}
	dek := make([]byte, sealDEKLength)
	defer clear(dek)
	if err := v.random(dek); err != nil {
		return nil, err
	}
	ad := sealAD(aad)
	version := v.Wrapper.CurrentVersion()
	wrapped, err := v.Wrapper.WrapKey(version, dek, ad)
	if err != nil {
		return nil, fmt.Errorf("identity: wrap data key: %w", err)
	}
	a, err := gcm(dek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, sealedHeader, sealedHeader+len(wrapped)+sealNonceLength+len(plaintext)+a.Overhead())
	out[0] = sealedFormat
	binary.BigEndian.PutUint32(out[1:], uint32(version))
	binary.BigEndian.PutUint16(out[5:], uint16(len(wrapped)))
	out = append(out, wrapped...)
	nonce := make([]byte, sealNonceLength)
	if err := v.random(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return a.Seal(out, nonce, plaintext, ad), nil
}

// split reads the layout of a sealed value.
func splitSealed(sealed []byte) (version int, wrapped, rest []byte, err error) {
	if len(sealed) < sealedHeader || sealed[0] != sealedFormat || len(sealed) > sealedMax+1024 {
		return 0, nil, nil, ErrSealed
	}
	version = int(binary.BigEndian.Uint32(sealed[1:]))
	n := int(binary.BigEndian.Uint16(sealed[5:]))
	if len(sealed) < sealedHeader+n+sealNonceLength {
		return 0, nil, nil, ErrSealed
	}
	return version, sealed[sealedHeader : sealedHeader+n], sealed[sealedHeader+n:], nil
}

func (v *VaultSealer) Open(sealed, aad []byte) ([]byte, error) {
	version, wrapped, rest, err := splitSealed(sealed)
	if err != nil {
		return nil, err
	}
	ad := sealAD(aad)
	dek, err := v.Wrapper.UnwrapKey(version, wrapped, ad)
	if err != nil {
		return nil, ErrSealed
	}
	defer clear(dek)
	a, err := gcm(dek)
	if err != nil {
		return nil, ErrSealed
	}
	pt, err := a.Open(nil, rest[:sealNonceLength], rest[sealNonceLength:], ad)
	if err != nil {
		return nil, ErrSealed
	}
	return pt, nil
}

// Rewrap re-wraps a sealed value's data key under the current KEK version
// and reports whether it changed (false: it was current already).
func (v *VaultSealer) Rewrap(sealed, aad []byte) ([]byte, bool, error) {
	version, wrapped, rest, err := splitSealed(sealed)
	if err != nil {
		return nil, false, err
	}
	to := v.Wrapper.CurrentVersion()
	if version == to {
		return sealed, false, nil
	}
	ad := sealAD(aad)
	dek, err := v.Wrapper.UnwrapKey(version, wrapped, ad)
	if err != nil {
		return nil, false, ErrSealed
	}
	defer clear(dek)
	nw, err := v.Wrapper.WrapKey(to, dek, ad)
	if err != nil {
		return nil, false, fmt.Errorf("identity: wrap data key: %w", err)
	}
	out := make([]byte, sealedHeader, sealedHeader+len(nw)+len(rest))
	out[0] = sealedFormat
	binary.BigEndian.PutUint32(out[1:], uint32(to))
	binary.BigEndian.PutUint16(out[5:], uint16(len(nw)))
	return append(append(out, nw...), rest...), true, nil
}

// SealedKeyVersion returns the KEK version a VaultSealer value is wrapped
// under, for a rotation job that looks for stale values.
func SealedKeyVersion(sealed []byte) (int, bool) {
	v, _, _, err := splitSealed(sealed)
	return v, err == nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// sealAAD is the associated data of a customer's sealed field.
func sealAAD(customerID, field string) []byte { return []byte(customerID + "/" + field) }

func (s *Service) seal(customerID, field string, plaintext []byte) ([]byte, error) {
	b, err := s.sealer.Seal(plaintext, sealAAD(customerID, field))
	if err != nil {
		return nil, fmt.Errorf("identity: seal %s: %w", field, err)
	}
	return b, nil
}

func (s *Service) open(customerID, field string, sealed []byte) ([]byte, error) {
	b, err := s.sealer.Open(sealed, sealAAD(customerID, field))
	if err != nil {
		return nil, fmt.Errorf("identity: open %s of %s: %w", field, customerID, err)
	}
	return b, nil
}
