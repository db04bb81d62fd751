package id

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"testing"
)

// draws is a reader that returns the given 64-bit values in turn.
func draws(vs ...uint64) *bytes.Reader {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return bytes.NewReader(b)
}

func TestDigitsRejectsOutOfRange(t *testing.T) {
	// 16 digits need 54 bits; 10^16 and above are drawn again, not
	// reduced modulo 10^16 (which would favour small PINs).
	r := draws(1e16, 1<<54-1, 0xffff_ffff_ffff_ffff, 42)
	if got := Digits(r, 16); got != "0000000000000042" {
		t.Errorf("randomDigits = %q, want the first in-range draw", got)
	}
	// High bits beyond the 54 are masked off.
	if got := Digits(draws(1<<60|7), 16); got != "0000000000000007" {
		t.Errorf("randomDigits = %q, want masked", got)
	}
	if got := Digits(draws(1e12-1), 12); got != "999999999999" {
		t.Errorf("Digits(12) = %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("a failing reader did not panic")
		}
	}()
	Digits(bytes.NewReader(nil), 16)
}

func TestDigitsUniform(t *testing.T) {
	// Every position takes every digit about equally often.
	const n = 20000
	var counts [16][10]int
	for range n {
		p := Digits(rand.Reader, 16)
		for i := range 16 {
			counts[i][p[i]-'0']++
		}
	}
	for i := range counts {
		for d, c := range counts[i] {
			// Expected 2000, sd ≈ 42: 7 sd either way.
			if c < 1700 || c > 2300 {
				t.Errorf("digit %d at position %d drawn %d times of %d", d, i, c, n)
			}
		}
	}
}
