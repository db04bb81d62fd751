package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// Envelope encryption. Every sealed field (a PAN, a CVC) has its own
// random 256-bit data key (DEK); the field is sealed with AES-256-GCM
// under the DEK, and the DEK is sealed (wrapped) with AES-256-GCM under a
// versioned KEK. The associated data of both binds them to the record id
// and the field name, and the wrapping also to the KEK version, so that a
// ciphertext or wrapped key copied to another row, field or version does
// not open. Rotation re-wraps only the DEK; the field's ciphertext stays.

// ErrDecrypt is returned when a sealed field does not open: tampered,
// moved to another record, or wrapped under a key that is gone. It never
// comes with data.
var ErrDecrypt = errors.New("vault: sealed data does not open (tampered, moved or key missing)")

const (
	dekLength   = 32
	nonceLength = 12
	// Sealed sizes: nonce + data + GCM tag.
	wrappedKeyLength = nonceLength + dekLength + 16
)

// Wrapper wraps and unwraps data keys under versioned KEKs. LocalWrapper
// does it in process with a KeyProvider's keys; an external KMS (where
// the KEK never leaves the KMS) would implement this interface itself.
type Wrapper interface {
	// CurrentVersion is the version new data keys are wrapped with.
	CurrentVersion() int
	// WrapKey seals dek under a KEK version, bound to ad.
	WrapKey(version int, dek, ad []byte) (wrapped []byte, err error)
	// UnwrapKey opens a wrapped key; any failure is ErrDecrypt or
	// ErrUnknownKeyVersion.
	UnwrapKey(version int, wrapped, ad []byte) ([]byte, error)
}

// LocalWrapper wraps data keys with a KeyProvider's keys in process,
// keeping one AES-GCM instance per version.
type LocalWrapper struct {
	keys  KeyProvider
	mu    sync.RWMutex
	aeads map[int]cipher.AEAD
}

var _ Wrapper = (*LocalWrapper)(nil)

// NewLocalWrapper returns a wrapper over keys.
func NewLocalWrapper(keys KeyProvider) *LocalWrapper {
	return &LocalWrapper{keys: keys, aeads: map[int]cipher.AEAD{}}
}

func (w *LocalWrapper) CurrentVersion() int {
	v, _ := w.keys.Current()
	return v
}

func (w *LocalWrapper) aead(version int) (cipher.AEAD, error) {
	w.mu.RLock()
	a, ok := w.aeads[version]
	w.mu.RUnlock()
	if ok {
		return a, nil
	}
	key, err := w.keys.Key(version)
	if err != nil {
		return nil, err
	}
	a, err = newGCM(key)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.aeads[version] = a
	w.mu.Unlock()
	return a, nil
}

// forget drops a cached key (after the provider removed it).
func (w *LocalWrapper) forget(version int) {
	w.mu.Lock()
	delete(w.aeads, version)
	w.mu.Unlock()
}

func (w *LocalWrapper) WrapKey(version int, dek, ad []byte) ([]byte, error) {
	a, err := w.aead(version)
	if err != nil {
		return nil, err
	}
	return seal(a, dek, wrapAD(ad, version)), nil
}

func (w *LocalWrapper) UnwrapKey(version int, wrapped, ad []byte) ([]byte, error) {
	a, err := w.aead(version)
	if err != nil {
		return nil, err
	}
	dek, err := open(a, wrapped, wrapAD(ad, version))
	if err != nil || len(dek) != dekLength {
		return nil, ErrDecrypt
	}
	return dek, nil
}

func wrapAD(ad []byte, version int) []byte {
	b := make([]byte, 0, len(ad)+24)
	b = append(b, "kassa/vault/dek/v"...)
	b = strconv.AppendInt(b, int64(version), 10)
	b = append(b, '/')
	return append(b, ad...)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal returns nonce || AES-GCM(plaintext, ad).
func seal(a cipher.AEAD, plaintext, ad []byte) []byte {
	out := make([]byte, nonceLength, nonceLength+len(plaintext)+a.Overhead())
	rand.Read(out) // crypto/rand never fails on supported platforms
	return a.Seal(out, out[:nonceLength], plaintext, ad)
}

func open(a cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < nonceLength+a.Overhead() {
		return nil, ErrDecrypt
	}
	pt, err := a.Open(nil, sealed[:nonceLength], sealed[nonceLength:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Sealed is one envelope-encrypted field as stored: the field's
// ciphertext under its DEK, and the DEK wrapped under a KEK version.
type Sealed struct {
	WrappedKey []byte
	Ciphertext []byte
}

// IsZero reports whether nothing is sealed (a destroyed CVC).
func (s Sealed) IsZero() bool { return len(s.Ciphertext) == 0 }

// fieldAD is the associated data binding a field to its record.
func fieldAD(recordID, field string) []byte {
	return []byte("kassa/vault/" + field + "/" + recordID)
}

// sealField encrypts plaintext under a fresh DEK wrapped by KEK version.
func sealField(w Wrapper, version int, recordID, field string, plaintext []byte) (Sealed, error) {
	dek := make([]byte, dekLength)
	rand.Read(dek)
	defer clear(dek)
	a, err := newGCM(dek)
	if err != nil {
		return Sealed{}, err
	}
	ad := fieldAD(recordID, field)
	var s Sealed
	s.Ciphertext = seal(a, plaintext, ad)
	if s.WrappedKey, err = w.WrapKey(version, dek, ad); err != nil {
		return Sealed{}, fmt.Errorf("wrap data key: %w", err)
	}
	return s, nil
}

// openField decrypts a sealed field of a record whose DEK is wrapped
// under version.
func openField(w Wrapper, recordID, field string, version int, s Sealed) ([]byte, error) {
	ad := fieldAD(recordID, field)
	dek, err := w.UnwrapKey(version, s.WrappedKey, ad)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	a, err := newGCM(dek)
	if err != nil {
		return nil, ErrDecrypt
	}
	return open(a, s.Ciphertext, ad)
}

// rewrapField re-wraps a field's DEK from KEK version from to version
// to, leaving its ciphertext alone.
func rewrapField(w Wrapper, recordID, field string, from, to int, wrapped []byte) ([]byte, error) {
	ad := fieldAD(recordID, field)
	dek, err := w.UnwrapKey(from, wrapped, ad)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	return w.WrapKey(to, dek, ad)
}
