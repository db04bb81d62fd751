package vault

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa"
)

var panReference = regexp.MustCompile(`^[0-9]{12,19}$`)

// luhnReference is the Luhn check written the other way round: from the
// left, doubling the digits whose distance from the right end is odd,
// summing the digits of each product.
func luhnReference(pan string) bool {
	sum := 0
	for i, r := range pan {
		d := int(r - '0')
		if (len(pan)-i)%2 == 0 {
			d *= 2
		}
		sum += d/10 + d%10
	}
	return sum%10 == 0
}

// brandReference classifies a PAN by the networks' published ranges,
// compared as prefixes parsed by strconv.
func brandReference(pan string) Brand {
	prefix := func(n int) int {
		if len(pan) < n {
			return -1
		}
		v, _ := strconv.Atoi(pan[:n])
		return v
	}
	in := func(n, lo, hi int) bool { v := prefix(n); return v >= lo && v <= hi }
	switch {
	case strings.HasPrefix(pan, "4"):
		return Visa
	case in(2, 51, 55), in(4, 2221, 2720):
		return Mastercard
	case in(2, 34, 34), in(2, 37, 37):
		return Amex
	case in(4, 6011, 6011), in(2, 65, 65), in(3, 644, 649):
		return Discover
	case in(4, 3528, 3589):
		return JCB
	case in(2, 36, 36), in(2, 38, 38), in(3, 300, 305):
		return Diners
	}
	return ""
}

// FuzzValidateCard checks card parsing against a reference: spaces are
// dropped, then 12 to 19 ASCII digits passing Luhn, of a supported
// network (Amex with 15 digits). A refusal is a kassa.Error (invalid, on a
// card.* param) that never quotes the number or the CVC; an accepted card
// holds exactly the digits typed.
func FuzzValidateCard(f *testing.F) {
	for _, s := range []string{
		"4242424242424242", "4242 4242 4242 4242", "4242424242424241", "378282246310005", "3782822463100050",
		"5555555555554444", "2223003122003222", "6011111111111117", "3566002020360505", "30569309025904",
		"36227206271667", "1234567812345670", "424242424242", "42424242424242424242", "４２４２４２４２４２４２４２４２",
		"4242-4242-4242-4242", "\t4242424242424242", "", " ", "0000000000000", "4242424242424242\x00",
	} {
		f.Add(s, 12, 2031, "123")
	}
	f.Add("378282246310005", 1, 31, "1234")
	f.Add("4242424242424242", 13, 2031, "12a")
	f.Add("4242424242424242", 0, -1, "")
	f.Add("4242424242424242", 12, 9223372036854775807, "123")
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, number string, month, year int, cvc string) {
		c, err := validate(CardInput{Number: number, ExpMonth: month, ExpYear: year, CVC: cvc}, now)
		pan := strings.ReplaceAll(number, " ", "")
		panOK := panReference.MatchString(pan) && luhnReference(pan) && brandReference(pan) != "" &&
			(brandReference(pan) != Amex || len(pan) == 15)
		if err != nil {
			var ke *kassa.Error
			if !errors.As(err, &ke) || ke.Kind != kassa.EInvalid || !strings.HasPrefix(ke.Param, "card.") {
				t.Fatalf("validate(%q) = %#v, want an invalid kassa.Error on a card.* param", number, err)
			}
			if ke.Param == "card.number" && panOK {
				t.Fatalf("validate(%q) refused the number (%s), the reference accepts it", number, ke.Code)
			}
			for _, secret := range []string{pan, cvc} {
				// Only digit strings are secrets here; words typed in the
				// field may well occur in a message.
				if len(secret) >= 3 && allDigits(secret) && strings.Contains(err.Error()+ke.Message+ke.Code, secret) {
					t.Fatalf("the error %q quotes the card's number or CVC", err)
				}
			}
			return
		}
		if !panOK {
			t.Fatalf("validate(%q) accepted a number the reference refuses", number)
		}
		if c.pan != pan || c.brand != brandReference(pan) || BrandOf(pan) != c.brand {
			t.Fatalf("validate(%q) = pan %q brand %q, want %q %q", number, c.pan, c.brand, pan, brandReference(pan))
		}
		if c.expMonth < 1 || c.expMonth > 12 || c.expYear < now.Year() || c.expYear > now.Year()+ExpiryYearsMax {
			t.Fatalf("validate accepted expiry %d/%d", c.expMonth, c.expYear)
		}
		if want := map[bool]int{true: 4, false: 3}[c.brand == Amex]; len(c.cvc) != want || !allDigits(c.cvc) {
			t.Fatalf("validate accepted CVC %q for %s", c.cvc, c.brand)
		}
	})
}
