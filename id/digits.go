package id

import (
	"encoding/binary"
	"fmt"
	"io"
)

// digitDrawsMax bounds rejection sampling in Digits; a draw is accepted
// with probability > 1/2, so reaching it means the randomness is broken.
const digitDrawsMax = 128

// Digits returns n (1..18) uniformly random decimal digits read from r
// (voucher PINs and serials, one-time codes). It draws the smallest number
// of bits that covers 10^n and rejects draws beyond it, so there is no
// modulo bias. A broken source of randomness panics: it must never yield
// guessable digits.
func Digits(r io.Reader, n int) string {
	if n < 1 || n > 18 {
		panic(fmt.Sprintf("id: Digits(%d): n must be 1..18", n))
	}
	limit := uint64(1)
	for range n {
		limit *= 10
	}
	bits := 0
	for uint64(1)<<bits < limit {
		bits++
	}
	mask := uint64(1)<<bits - 1
	var b [8]byte
	for range digitDrawsMax {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			panic("id: reading randomness: " + err.Error())
		}
		if v := binary.BigEndian.Uint64(b[:]) & mask; v < limit {
			return fmt.Sprintf("%0*d", n, v)
		}
	}
	panic("id: randomness source keeps returning out-of-range values")
}
