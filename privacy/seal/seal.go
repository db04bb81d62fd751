// Package seal keeps personal data sealed per person while it is live
// (crypto-shredding, docs/privacy.md). Every subject — a Kassa account
// (cus_...), a merchant's customer (<merchant>/<customer>) or, for a
// payment that names no customer, the payment itself (pay_...) — has a
// random 256-bit data key of its own. Its personal fields are sealed with
// AES-256-GCM under that key before they are stored; the key itself is
// stored sealed under the vault's key-encryption keys (and rewrapped with
// them). Erasure destroys the key: every copy of the fields, in the live
// database, its backups, replicas, write-ahead logs and old row versions,
// becomes unreadable at once.
//
// Look-ups by a sealed value (an IBAN, an email) go through a blind index:
// an HMAC-SHA256 of the normalised value under a platform key, which
// matches equal values and reveals nothing without the key.
//
// Package seal knows no SQL: the stores find and create keys and call
// Keyring to seal and open.
package seal

import (
	"container/list"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// KEKSealer seals data keys under the vault's key-encryption keys
// (identity.VaultSealer).
type KEKSealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Defaults and limits of Config.
const (
	KeyLength       = 32
	IndexKeyMin     = 32
	CacheMaxDefault = 10_000
	// CacheTTLDefault bounds how long a node keeps a subject's key in
	// memory after reading it: a key destroyed on another node is gone
	// from every node's memory within it.
	CacheTTLDefault = 10 * time.Minute
	// ValueMax bounds a field Keyring seals.
	ValueMax = 4 << 10
)

// Prefix starts every sealed field as stored ("\x1e" is a control
// character no validated personal field holds). A value without it is an
// older Kassa's clear value, read as it is until the backfill seals it.
const Prefix = "\x1eks1."

// ErrShredded is returned by Open for a field whose subject key is gone
// (the person was erased), never with data.
var ErrShredded = errors.New("seal: the subject's data key is destroyed")

// ErrOpen is returned by Open for a field that does not open under its
// subject's key (tampered or moved).
var ErrOpen = errors.New("seal: sealed field does not open")

// Config configures a Keyring.
type Config struct {
	KEK KEKSealer
	// IndexKey is the blind index's HMAC key (at least IndexKeyMin bytes;
	// every node must have the same).
	IndexKey []byte
	CacheMax int           // CacheMaxDefault
	CacheTTL time.Duration // CacheTTLDefault
	Now      func() time.Time
	Rand     io.Reader // keys and nonces; nil: crypto/rand
}

// Keyring seals and opens subjects' fields and caches their keys (bounded
// in count and age).
type Keyring struct {
	cfg   Config
	mu    sync.Mutex
	lru   *list.List // of *entry, most recent first
	index map[string]*list.Element
}

type entry struct {
	subject string
	key     []byte
	gcm     cipher.AEAD
	at      time.Time
}

// New returns a Keyring.
func New(cfg Config) (*Keyring, error) {
	if cfg.KEK == nil {
		return nil, errors.New("seal: Config.KEK is required")
	}
	if len(cfg.IndexKey) < IndexKeyMin {
		return nil, fmt.Errorf("seal: Config.IndexKey must be at least %d bytes", IndexKeyMin)
	}
	if cfg.CacheMax <= 0 {
		cfg.CacheMax = CacheMaxDefault
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = CacheTTLDefault
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	cfg.IndexKey = append([]byte(nil), cfg.IndexKey...)
	return &Keyring{cfg: cfg, lru: list.New(), index: map[string]*list.Element{}}, nil
}

// Key is a subject's opened data key.
type Key struct {
	Subject string
	gcm     cipher.AEAD
	raw     []byte
}

// KeyAAD is what a subject's sealed data key is bound to (the vault's
// rewrap needs it).
func KeyAAD(subject string) []byte { return []byte("privacy/subject_key/" + subject) }

// NewKey makes a fresh data key for subject and returns it with its
// sealed form (to store).
func (k *Keyring) NewKey(subject string) (Key, []byte, error) {
	raw := make([]byte, KeyLength)
	if _, err := io.ReadFull(k.cfg.Rand, raw); err != nil {
		return Key{}, nil, err
	}
	sealed, err := k.cfg.KEK.Seal(raw, KeyAAD(subject))
	if err != nil {
		return Key{}, nil, fmt.Errorf("seal: wrap key: %w", err)
	}
	key, err := newKey(subject, raw)
	return key, sealed, err
}

func newKey(subject string, raw []byte) (Key, error) {
	b, err := aes.NewCipher(raw)
	if err != nil {
		return Key{}, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return Key{}, err
	}
	return Key{Subject: subject, gcm: g, raw: raw}, nil
}

// OpenKey opens a stored (sealed) key of subject.
func (k *Keyring) OpenKey(subject string, sealed []byte) (Key, error) {
	raw, err := k.cfg.KEK.Open(sealed, KeyAAD(subject))
	if err != nil {
		return Key{}, fmt.Errorf("seal: open the data key of a subject: %w", err)
	}
	if len(raw) != KeyLength {
		return Key{}, errors.New("seal: stored data key has the wrong length")
	}
	return newKey(subject, raw)
}

// Cached returns subject's key if this node read it within the TTL.
func (k *Keyring) Cached(subject string) (Key, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	el, ok := k.index[subject]
	if !ok {
		return Key{}, false
	}
	e := el.Value.(*entry)
	if k.cfg.Now().Sub(e.at) > k.cfg.CacheTTL {
		k.lru.Remove(el)
		delete(k.index, subject)
		return Key{}, false
	}
	k.lru.MoveToFront(el)
	return Key{Subject: subject, gcm: e.gcm, raw: e.key}, true
}

// Remember caches a key that is committed to storage (never one created
// in a transaction that may still roll back).
func (k *Keyring) Remember(key Key) {
	if key.gcm == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if el, ok := k.index[key.Subject]; ok {
		el.Value.(*entry).at = k.cfg.Now()
		k.lru.MoveToFront(el)
		return
	}
	k.index[key.Subject] = k.lru.PushFront(&entry{subject: key.Subject, key: key.raw, gcm: key.gcm, at: k.cfg.Now()})
	for k.lru.Len() > k.cfg.CacheMax {
		last := k.lru.Back()
		delete(k.index, last.Value.(*entry).subject)
		k.lru.Remove(last)
	}
}

// Forget drops subjects' keys from the cache (they were destroyed).
func (k *Keyring) Forget(subjects ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, s := range subjects {
		if el, ok := k.index[s]; ok {
			k.lru.Remove(el)
			delete(k.index, s)
		}
	}
}

// CacheLen is how many keys the cache holds.
func (k *Keyring) CacheLen() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lru.Len()
}

func fieldAAD(subject, field string) []byte { return []byte("privacy/field/" + subject + "/" + field) }

// Seal seals a field of key's subject; "" stays "" (nothing to hide).
func (k *Keyring) Seal(key Key, field, value string) (string, error) {
	if value == "" {
		return "", nil
	}
	if len(value) > ValueMax {
		return "", errors.New("seal: value too large")
	}
	ns := key.gcm.NonceSize()
	buf := make([]byte, ns, ns+len(value)+key.gcm.Overhead())
	if _, err := io.ReadFull(k.cfg.Rand, buf); err != nil {
		return "", err
	}
	ct := key.gcm.Seal(buf, buf[:ns], []byte(value), fieldAAD(key.Subject, field))
	return Prefix + base64.RawStdEncoding.EncodeToString(ct), nil
}

// Sealed reports whether a stored value is a sealed field.
func Sealed(stored string) bool { return strings.HasPrefix(stored, Prefix) }

// Open opens a stored field of key's subject. A value that is not sealed
// (an older Kassa's) is returned as it is. Errors: ErrOpen.
func Open(key Key, field, stored string) (string, error) {
	if !Sealed(stored) {
		return stored, nil
	}
	ct, err := base64.RawStdEncoding.DecodeString(stored[len(Prefix):])
	ns := key.gcm.NonceSize()
	if err != nil || len(ct) < ns+key.gcm.Overhead() {
		return "", ErrOpen
	}
	pt, err := key.gcm.Open(nil, ct[:ns], ct[ns:], fieldAAD(key.Subject, field))
	if err != nil {
		return "", ErrOpen
	}
	return string(pt), nil
}

// Index kinds: a blind index is computed per kind, so equal strings of
// different kinds do not match.
const (
	IndexEmail = "email"
	IndexPhone = "phone"
	IndexIBAN  = "iban"
)

// Index is the blind index of value: HMAC-SHA256 under the platform's
// index key of the kind and the normalised value, in hex. "" for "".
// Equal values (after normalising) give equal indexes; without the key an
// index tells nothing about its value.
func (k *Keyring) Index(kind, value string) string {
	v := Normalize(kind, value)
	if v == "" {
		return ""
	}
	m := hmac.New(sha256.New, k.cfg.IndexKey)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil))
}

// Normalize is how a value of kind is compared: emails lower case,
// IBANs upper case without spaces, phones without spaces.
func Normalize(kind, value string) string {
	v := strings.TrimSpace(value)
	switch kind {
	case IndexEmail:
		v = strings.ToLower(v)
	case IndexIBAN:
		v = strings.ToUpper(strings.ReplaceAll(v, " ", ""))
	case IndexPhone:
		v = strings.ReplaceAll(v, " ", "")
	}
	return v
}
