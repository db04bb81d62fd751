package voucher

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// Formats.
const (
	PINLength    = 16
	SerialLength = 12
	// pinInputLengthMax bounds what normalization looks at: a PIN with
	// generous separators fits, anything longer is malformed at once.
	pinInputLengthMax = 64
	// drawAttemptsMax bounds rejection sampling; each draw is accepted with
	// probability > 1/2, so reaching it means the randomness is broken.
	drawAttemptsMax = 128
)

// pow10 returns 10^n for n <= 18.
func pow10(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

// randomDigits returns n (<= 18) uniformly random decimal digits read from
// r. It draws the smallest number of bits that covers 10^n and rejects
// draws beyond it, so there is no modulo bias.
func randomDigits(r io.Reader, n int) string {
	limit := pow10(n)
	bits := 0
	for uint64(1)<<bits < limit {
		bits++
	}
	mask := uint64(1)<<bits - 1
	var b [8]byte
	for range drawAttemptsMax {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			// A broken source of randomness must never yield guessable PINs.
			panic("voucher: reading randomness: " + err.Error())
		}
		if v := binary.BigEndian.Uint64(b[:]) & mask; v < limit {
			return fmt.Sprintf("%0*d", n, v)
		}
	}
	panic("voucher: randomness source keeps returning out-of-range values")
}

// NormalizePIN strips spaces and dashes from a PIN as typed and reports
// whether what is left is PINLength decimal digits.
func NormalizePIN(s string) (string, bool) {
	if len(s) > pinInputLengthMax {
		return "", false
	}
	var b strings.Builder
	b.Grow(PINLength)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '-':
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		default:
			return "", false
		}
	}
	if b.Len() != PINLength {
		return "", false
	}
	return b.String(), true
}

// ValidSerial reports whether s is SerialLength decimal digits.
func ValidSerial(s string) bool {
	if len(s) != SerialLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// pinHash is the keyed hash under which a normalized PIN is stored and
// looked up. The domain prefix keeps it apart from any other use of the key.
func pinHash(key []byte, pin string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("kassa/voucher-pin/v1\x00"))
	m.Write([]byte(pin))
	return m.Sum(nil)
}

// ipSubject is the counter subject of a client IP: the address itself for
// IPv4, its /64 for IPv6 (one subscriber usually holds a whole /64).
func ipSubject(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		if len(ip) > 64 {
			ip = ip[:64]
		}
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
