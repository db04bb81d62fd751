package voucher

import (
	"regexp"
	"strings"
	"testing"
)

var (
	pinReference    = regexp.MustCompile(`^[0-9]{16}$`)
	serialReference = regexp.MustCompile(`^[0-9]{12}$`)
)

// FuzzNormalizePIN checks PIN parsing against a reference: drop spaces and
// dashes, then exactly 16 ASCII digits, from at most 64 bytes typed. A
// normalized PIN normalizes to itself, and ValidSerial agrees with its
// own reference.
func FuzzNormalizePIN(f *testing.F) {
	for _, s := range []string{"1234567890123456", "1234 5678 9012 3456", "1234-5678-9012-3456", " 1234567890123456 ",
		"123456789012345", "12345678901234567", "１２３４５６７８９０１２３４５６", "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦", "1234567890123456\x00",
		"123456789012345\t6", strings.Repeat("-", 48) + "1234567890123456", strings.Repeat(" ", 49) + "1234567890123456", "",
		"123456789012", "12345678901234é", "123456789012345\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizePIN(s)
		stripped := strings.NewReplacer(" ", "", "-", "").Replace(s)
		want := len(s) <= pinInputLengthMax && pinReference.MatchString(stripped)
		if ok != want {
			t.Fatalf("NormalizePIN(%q) ok = %v, reference says %v", s, ok, want)
		}
		if !ok {
			if got != "" {
				t.Fatalf("NormalizePIN(%q) refused but returned %q", s, got)
			}
		} else {
			if got != stripped {
				t.Fatalf("NormalizePIN(%q) = %q, want %q", s, got, stripped)
			}
			if again, ok := NormalizePIN(got); !ok || again != got {
				t.Fatalf("NormalizePIN(%q) = %q, %v; want itself", got, again, ok)
			}
		}
		if ValidSerial(s) != serialReference.MatchString(s) {
			t.Fatalf("ValidSerial(%q) = %v, reference disagrees", s, ValidSerial(s))
		}
	})
}
