package vault

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Envelope seals single values outside the card records (identity's KYC
// fields and TOTP secrets, the development outbox's messages, webhook
// signing secrets) under the vault's key-encryption keys. Every value gets
// its own random 256-bit data key (DEK); the value is sealed with
// AES-256-GCM under the DEK, and the DEK is wrapped under the current KEK
// version, both bound to the associated data "kassa/<Domain>/sealed/v1/"
// + aad, so a value copied to another place or domain does not open.
//
// The value carries its KEK version, so that KeyStatus counts it, the
// rewrap moves it to the current version without touching its ciphertext,
// and RetireKey refuses a version it still uses. Store.SealedKeyUsage and
// Store.StaleSealed must find every value sealed this way.
//
// Layout: 0x01 | KEK version (uint32, big endian) | wrapped DEK length
// (uint16) | wrapped DEK | nonce | ciphertext+tag. Byte 2 to 5 (SQL's
// substr(value, 2, 4)) is the version, so a store can count and select by
// version without opening anything.
type Envelope struct {
	Wrapper Wrapper
	Domain  string    // who seals: identity, webhook
	Rand    io.Reader // DEKs and nonces; nil means crypto/rand
}

const (
	envelopeFormat = 1
	envelopeHeader = 1 + 4 + 2
	// EnvelopeValueMax bounds a value Envelope seals.
	EnvelopeValueMax = 64 << 10
)

// ErrEnvelope is returned by Open for a value that does not open:
// tampered, moved, or wrapped under a key that is gone. It never comes
// with data.
var ErrEnvelope = errors.New("vault: sealed value does not open (tampered, moved or key missing)")

func (e *Envelope) ad(aad []byte) []byte {
	return append([]byte("kassa/"+e.Domain+"/sealed/v1/"), aad...)
}

func (e *Envelope) random(b []byte) error {
	r := e.Rand
	if r == nil {
		r = rand.Reader
	}
	_, err := io.ReadFull(r, b)
	return err
}

// Seal seals plaintext under the current KEK version, bound to aad.
func (e *Envelope) Seal(plaintext, aad []byte) ([]byte, error) {
	if len(plaintext) > EnvelopeValueMax {
		return nil, errors.New("vault: value too large to seal")
	}
	dek := make([]byte, dekLength)
	defer clear(dek)
	if err := e.random(dek); err != nil {
		return nil, err
	}
	ad := e.ad(aad)
	version := e.Wrapper.CurrentVersion()
	wrapped, err := e.Wrapper.WrapKey(version, dek, ad)
	if err != nil {
		return nil, fmt.Errorf("wrap data key: %w", err)
	}
	a, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	out := envelopeHead(version, wrapped, nonceLength+len(plaintext)+a.Overhead())
	nonce := make([]byte, nonceLength)
	if err := e.random(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return a.Seal(out, nonce, plaintext, ad), nil
}

func envelopeHead(version int, wrapped []byte, rest int) []byte {
	out := make([]byte, envelopeHeader, envelopeHeader+len(wrapped)+rest)
	out[0] = envelopeFormat
	binary.BigEndian.PutUint32(out[1:], uint32(version))
	binary.BigEndian.PutUint16(out[5:], uint16(len(wrapped)))
	return append(out, wrapped...)
}

// splitEnvelope reads the layout of a sealed value.
func splitEnvelope(sealed []byte) (version int, wrapped, rest []byte, err error) {
	if len(sealed) < envelopeHeader || sealed[0] != envelopeFormat || len(sealed) > EnvelopeValueMax+1024 {
		return 0, nil, nil, ErrEnvelope
	}
	version = int(binary.BigEndian.Uint32(sealed[1:]))
	n := int(binary.BigEndian.Uint16(sealed[5:]))
	if len(sealed) < envelopeHeader+n+nonceLength {
		return 0, nil, nil, ErrEnvelope
	}
	return version, sealed[envelopeHeader : envelopeHeader+n], sealed[envelopeHeader+n:], nil
}

// Open opens a sealed value bound to aad; any failure is ErrEnvelope.
func (e *Envelope) Open(sealed, aad []byte) ([]byte, error) {
	version, wrapped, rest, err := splitEnvelope(sealed)
	if err != nil {
		return nil, err
	}
	ad := e.ad(aad)
	dek, err := e.Wrapper.UnwrapKey(version, wrapped, ad)
	if err != nil {
		return nil, ErrEnvelope
	}
	defer clear(dek)
	a, err := newGCM(dek)
	if err != nil {
		return nil, ErrEnvelope
	}
	pt, err := a.Open(nil, rest[:nonceLength], rest[nonceLength:], ad)
	if err != nil {
		return nil, ErrEnvelope
	}
	return pt, nil
}

// Rewrap re-wraps a sealed value's data key under the current KEK version,
// leaving its ciphertext alone, and reports whether it changed (false: it
// was current already).
func (e *Envelope) Rewrap(sealed, aad []byte) ([]byte, bool, error) {
	version, wrapped, rest, err := splitEnvelope(sealed)
	if err != nil {
		return nil, false, err
	}
	to := e.Wrapper.CurrentVersion()
	if version == to {
		return sealed, false, nil
	}
	ad := e.ad(aad)
	dek, err := e.Wrapper.UnwrapKey(version, wrapped, ad)
	if err != nil {
		return nil, false, ErrEnvelope
	}
	defer clear(dek)
	nw, err := e.Wrapper.WrapKey(to, dek, ad)
	if err != nil {
		return nil, false, fmt.Errorf("wrap data key: %w", err)
	}
	return append(envelopeHead(to, nw, len(rest)), rest...), true, nil
}

// EnvelopeVersion returns the KEK version a sealed value is wrapped under.
func EnvelopeVersion(sealed []byte) (int, bool) {
	v, _, _, err := splitEnvelope(sealed)
	return v, err == nil
}

// EnvelopeVersionBytes is how a KEK version is written in a sealed value
// (byte 2 to 5), for a store that selects values by version.
func EnvelopeVersionBytes(version int) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(version))
}
