package seal_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/privacy/seal"
)

func keyring(t testing.TB, indexKey []byte, now func() time.Time) *seal.Keyring {
	t.Helper()
	k, err := seal.New(seal.Config{KEK: identitytest.Sealer(t), IndexKey: indexKey, CacheMax: 3, CacheTTL: time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var indexKey = bytes.Repeat([]byte{7}, 32)

// TestSealOpen: a field opens under its subject's key and field name only;
// a stored key opens only as its own subject's; a tampered value does not
// open; a value from before sealing reads as it is.
func TestSealOpen(t *testing.T) {
	k := keyring(t, indexKey, nil)
	key, stored, err := k.NewKey("mer_a/p7")
	if err != nil {
		t.Fatal(err)
	}
	const email = "anna@example.org"
	v, err := k.Seal(key, "customer_email", email)
	if err != nil {
		t.Fatal(err)
	}
	if !seal.Sealed(v) || strings.Contains(v, "anna") {
		t.Fatalf("sealed value %q", v)
	}
	if again, _ := k.Seal(key, "customer_email", email); again == v {
		t.Error("two seals of one value are equal: the nonce is not fresh")
	}
	if got, err := seal.Open(key, "customer_email", v); err != nil || got != email {
		t.Errorf("open = %q, %v", got, err)
	}
	if _, err := seal.Open(key, "customer_phone", v); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("opened as another field: %v", err)
	}
	reopened, err := k.OpenKey("mer_a/p7", stored)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := seal.Open(reopened, "customer_email", v); err != nil || got != email {
		t.Errorf("open with the stored key = %q, %v", got, err)
	}
	if _, err := k.OpenKey("mer_b/p7", stored); err == nil {
		t.Error("a subject's stored key opened as another subject's")
	}
	other, _, _ := k.NewKey("mer_a/p7")
	if _, err := seal.Open(other, "customer_email", v); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("opened under a new key of the same subject (after a shred): %v", err)
	}
	b := []byte(v)
	b[len(b)-2] ^= 1
	if _, err := seal.Open(key, "customer_email", string(b)); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("tampered value: %v", err)
	}
	if got, err := seal.Open(key, "customer_email", "old@example.org"); err != nil || got != "old@example.org" {
		t.Errorf("clear value from before sealing = %q, %v", got, err)
	}
	if got, _ := k.Seal(key, "customer_email", ""); got != "" {
		t.Errorf("empty value sealed to %q", got)
	}
}

// TestBlindIndex: equal values (after normalising) give equal indexes,
// different values and kinds different ones; the index holds nothing of
// the value, is not its plain hash, and another key gives another index
// (without the platform's key a guess cannot be checked).
func TestBlindIndex(t *testing.T) {
	k := keyring(t, indexKey, nil)
	a := k.Index(seal.IndexIBAN, "DE89 3704 0044 0532 0130 00")
	if b := k.Index(seal.IndexIBAN, "de89370400440532013000"); a != b {
		t.Errorf("equal IBANs: %s != %s", a, b)
	}
	if b := k.Index(seal.IndexIBAN, "DE89370400440532013001"); a == b {
		t.Error("different IBANs have one index")
	}
	if b := k.Index(seal.IndexEmail, "DE89370400440532013000"); a == b {
		t.Error("an IBAN and an email of the same text have one index")
	}
	if e1, e2 := k.Index(seal.IndexEmail, "Anna@Example.org"), k.Index(seal.IndexEmail, " anna@example.org"); e1 != e2 {
		t.Error("emails differing in case and space have different indexes")
	}
	if strings.Contains(strings.ToUpper(a), "DE89") || strings.Contains(a, "370400440532013000") {
		t.Errorf("index %s shows the value", a)
	}
	plain := sha256.Sum256([]byte("DE89370400440532013000"))
	if a == hex.EncodeToString(plain[:]) {
		t.Error("index is the value's plain hash: anyone can check a guess")
	}
	if other := keyring(t, bytes.Repeat([]byte{8}, 32), nil).Index(seal.IndexIBAN, "DE89370400440532013000"); other == a {
		t.Error("another key gives the same index")
	}
	if k.Index(seal.IndexIBAN, "  ") != "" {
		t.Error("empty value has an index")
	}
	if _, err := seal.New(seal.Config{KEK: identitytest.Sealer(t), IndexKey: []byte("short")}); err == nil {
		t.Error("a short index key was accepted")
	}
}

// TestKeyCache: the cache holds at most CacheMax keys, least recently
// used out first, forgets destroyed keys, and drops keys older than its
// TTL (on an injected clock).
func TestKeyCache(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	k := keyring(t, indexKey, func() time.Time { return now })
	for _, s := range []string{"a", "b", "c"} {
		key, _, _ := k.NewKey(s)
		k.Remember(key)
	}
	if _, ok := k.Cached("a"); !ok { // a is now the most recent
		t.Fatal("a not cached")
	}
	d, _, _ := k.NewKey("d")
	k.Remember(d)
	if _, ok := k.Cached("b"); ok || k.CacheLen() != 3 {
		t.Errorf("b (least recently used) still cached; %d keys", k.CacheLen())
	}
	k.Forget("a")
	if _, ok := k.Cached("a"); ok {
		t.Error("a forgotten key is still cached")
	}
	now = now.Add(2 * time.Minute)
	if _, ok := k.Cached("c"); ok {
		t.Error("a key older than the TTL is still cached")
	}
}

// BenchmarkSealPayment is what sealing adds to a payment's create path:
// the subject's key from the cache and a seal of its email and phone.
// NewKey is a payment without a customer id (a key of its own, wrapped
// with the KEK).
func BenchmarkSealPayment(b *testing.B) {
	k := keyring(b, indexKey, nil)
	key, _, err := k.NewKey("mer_a/p7")
	if err != nil {
		b.Fatal(err)
	}
	k.Remember(key)
	b.Run("CachedKey", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			key, _ := k.Cached("mer_a/p7")
			if _, err := k.Seal(key, "customer_email", "anna@example.org"); err != nil {
				b.Fatal(err)
			}
			if _, err := k.Seal(key, "customer_phone", "+4915100000042"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("NewKey", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			key, _, err := k.NewKey("pay_x")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := k.Seal(key, "customer_email", "anna@example.org"); err != nil {
				b.Fatal(err)
			}
			if _, err := k.Seal(key, "customer_phone", "+4915100000042"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Open", func(b *testing.B) {
		v, _ := k.Seal(key, "customer_email", "anna@example.org")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := seal.Open(key, "customer_email", v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
