package identity

import (
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kassa/kassa"
)

// Field limits.
const (
	EmailLengthMax      = 254 // RFC 5321 path limit
	emailLocalLengthMax = 64
	phoneDigitsMin      = 8 // shortest real E.164 numbers have 8 digits with the country code
	phoneDigitsMax      = 15
	phoneInputMax       = 32
	nameLengthMax       = 100 // runes
	addressLineMax      = 200 // runes
	cityLengthMax       = 100
	regionLengthMax     = 100
	postalCodeMax       = 16
	documentNumberMin   = 4
	documentNumberMax   = 30
	userAgentMax        = 256 // bytes kept of a User-Agent
	fingerprintMax      = 256 // bytes of a page's fingerprint hash
	ageMin              = 18
	ageMax              = 130
)

// NormalizeEmail trims and lower-cases an address and checks its shape:
// one @, a local part of 1 to 64 printable ASCII characters without
// spaces or specials, a domain of dot-separated labels (letters, digits,
// hyphens; punycode for IDNs) with at least one dot; at most 254 bytes.
// Provider-specific rules (dots and +tags at Gmail) are not applied: the
// address is the address. Error: kassa EInvalid email_invalid, param email.
func NormalizeEmail(s string) (string, error) {
	bad := kassa.Invalid("email", "email_invalid", "email must be an address like name@example.com of at most %d characters", EmailLengthMax)
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > EmailLengthMax {
		return "", bad
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || len(local) > emailLocalLengthMax || !validLocal(local) || !validDomain(domain) {
		return "", bad
	}
	return s, nil
}

func validLocal(s string) bool {
	if s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),:;<>@[\]`, c) >= 0 {
			return false
		}
	}
	return true
}

func validDomain(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// NormalizePhone strips spaces, dashes, dots and parentheses from a
// number as typed and checks that what is left is E.164: "+", a first
// digit 1-9, 8 to 15 digits in all. No number plan is consulted: whether
// the number exists is proven by the code sent to it. Error: kassa
// EInvalid phone_invalid, param phone.
func NormalizePhone(s string) (string, error) {
	bad := kassa.Invalid("phone", "phone_invalid", "phone must be an international number like +4915112345678 (E.164)")
	if len(s) > phoneInputMax {
		return "", bad
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		case c == '+' && b.Len() == 0:
			b.WriteByte(c)
		case c >= '0' && c <= '9' && b.Len() > 0:
			b.WriteByte(c)
		default:
			return "", bad
		}
	}
	p := b.String()
	if n := len(p) - 1; n < phoneDigitsMin || n > phoneDigitsMax || p[1] == '0' {
		return "", bad
	}
	return p, nil
}

// cleanText trims s and checks it is 1..max runes (0..max when optional)
// of printable text without control characters.
func cleanText(param, s string, maxRunes int, optional bool) (string, error) {
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	if (n == 0 && !optional) || n > maxRunes || !utf8.ValidString(s) {
		return "", kassa.Invalid(param, param+"_invalid", "%s must be 1 to %d characters", param, maxRunes)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return "", kassa.Invalid(param, param+"_invalid", "%s must not contain control characters", param)
		}
	}
	return s, nil
}

// validCountry reports whether s is two upper-case ASCII letters (ISO
// 3166-1 alpha-2 shape).
func validCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// Adult reports whether someone born on birth (a date; its clock time is
// ignored) is at least 18 at now, in UTC. A birthday on 29 February
// comes of age on 1 March in years without one.
func Adult(birth, now time.Time) bool {
	b := dateOf(birth)
	return !dateOf(now).Before(b.AddDate(ageMin, 0, 0))
}

func dateOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// ipSubject is the throttle subject of a client IP: the address itself
// for IPv4, its /64 for IPv6 (one subscriber usually holds a whole /64);
// "" when ip is no address.
func ipSubject(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// maskEmail shows an address in logs and to the page as j***@example.com.
func maskEmail(e string) string {
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" {
		return "***"
	}
	_, size := utf8.DecodeRuneInString(local)
	return local[:size] + "***@" + domain
}

// maskPhone shows a number as +49*******78.
func maskPhone(p string) string {
	if len(p) < 6 {
		return "***"
	}
	return p[:3] + strings.Repeat("*", len(p)-5) + p[len(p)-2:]
}

// MaskEmail shows an address as j***@example.com, MaskPhone a number as
// +49*******78: enough for a payer to recognise their own, too little to
// learn someone else's.
func MaskEmail(e string) string { return maskEmail(e) }

// MaskPhone: see MaskEmail.
func MaskPhone(p string) string { return maskPhone(p) }
