// Package id makes the random, type-prefixed identifiers Kassa shows
// (mer_..., key_..., pay_...).
package id

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"io"
	"strings"
)

var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Generator makes identifiers from a source of randomness; tests inject a
// deterministic one.
type Generator struct {
	Rand io.Reader // nil means crypto/rand
}

// New returns prefix + "_" + 16 random base32 characters (80 bits).
func (g Generator) New(prefix string) string {
	return prefix + "_" + g.Random(10)
}

// Random returns n random bytes, base32-encoded (lower case, no padding).
func (g Generator) Random(n int) string {
	b := make([]byte, n)
	r := g.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b); err != nil {
		// crypto/rand does not fail on supported platforms; a broken
		// source of randomness must never yield predictable ids.
		panic("id: reading randomness: " + err.Error())
	}
	return encoding.EncodeToString(b)
}

// New returns a fresh random identifier with the prefix.
func New(prefix string) string { return Generator{}.New(prefix) }

// HasPrefix reports whether s looks like an id of the prefix's type.
func HasPrefix(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	return ok && len(rest) > 0 && len(rest) <= 64
}

// Derived returns prefix + "_" + 16 base32 characters (80 bits) of the
// SHA-256 of prefix and scope: the same scope always gives the same id.
// For objects a request creates under an Idempotency-Key, so that a retry
// finds what an earlier attempt committed.
func Derived(prefix, scope string) string {
	h := sha256.Sum256([]byte("kassa derived id\x00" + prefix + "\x00" + scope))
	return prefix + "_" + encoding.EncodeToString(h[:10])
}
