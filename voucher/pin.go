package voucher

import (
	"crypto/hmac"
	"crypto/sha256"
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
)

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
