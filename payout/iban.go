package payout

import (
	"net/netip"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// ibanLength is the length of an IBAN per country of the SEPA scheme (the
// SWIFT IBAN registry).
var ibanLength = map[string]int{
	"AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
	"EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28,
	"IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31,
	"NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
	"VA": 22,
}

// IBAN problems.
const (
	IBANFormat   = "iban_invalid" // not letters and digits of a known country's length
	IBANCountry  = "iban_country_unsupported"
	IBANChecksum = "iban_checksum_invalid" // mod-97 fails
)

// NormalizeIBAN removes spaces and upper-cases.
func NormalizeIBAN(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// ValidateIBAN checks a normalized IBAN: a SEPA country, its length, the
// basic format (two letters, two check digits, letters and digits) and the
// ISO 13616 mod-97 checksum. It returns "" or the problem's code.
func ValidateIBAN(iban string) string {
	if len(iban) < 5 || len(iban) > 34 {
		return IBANFormat
	}
	for i := 0; i < len(iban); i++ {
		c := iban[i]
		letter, digit := c >= 'A' && c <= 'Z', c >= '0' && c <= '9'
		if (i < 2 && !letter) || (i >= 2 && i < 4 && !digit) || (!letter && !digit) {
			return IBANFormat
		}
	}
	n, ok := ibanLength[iban[:2]]
	if !ok {
		return IBANCountry
	}
	if len(iban) != n {
		return IBANFormat
	}
	if ibanMod97(iban) != 1 {
		return IBANChecksum
	}
	return ""
}

// ibanMod97 computes the ISO 7064 mod 97-10 remainder of the IBAN with
// its first four characters moved to the end, letters as 10..35.
func ibanMod97(iban string) int {
	r := 0
	for _, c := range iban[4:] + iban[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = (r*10 + int(c-'0')) % 97
		default:
			r = (r*100 + int(c-'A'+10)) % 97
		}
	}
	return r
}

// IBANCheckDigits returns iban (country + "00" + BBAN) with its check
// digits set: how the test IBANs in docs/payouts.md were made.
func IBANCheckDigits(country, bban string) string {
	s := country + "00" + bban
	d := 98 - ibanMod97(s)
	return country + string(rune('0'+d/10)) + string(rune('0'+d%10)) + bban
}

// nameKey folds a person's name for comparison: accents removed, case
// folded, punctuation dropped, words sorted away from their order by
// being compared as a set.
func nameKey(s string) map[string]bool {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteByte(' ')
		}
	}
	words := map[string]bool{}
	for _, w := range strings.Fields(b.String()) {
		words[w] = true
	}
	return words
}

// NamesMatch reports whether holder names the person first + last: the
// same words, ignoring case, accents, punctuation and order ("DOE, Jane"
// matches Jane Doe; "J. Doe" and "John Doe" do not).
func NamesMatch(holder, first, last string) bool {
	h, p := nameKey(holder), nameKey(first+" "+last)
	if len(h) == 0 || len(h) != len(p) {
		return false
	}
	for w := range p {
		if !h[w] {
			return false
		}
	}
	return true
}

// validIP reports whether s is an IP address.
func validIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
