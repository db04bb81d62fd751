package vault

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kassa/kassa"
)

// Limits of card input.
const (
	PANLengthMin = 12
	PANLengthMax = 19
	// ExpiryYearsMax is how far ahead an expiry date may lie.
	ExpiryYearsMax = 20
	// NameLengthMax bounds the cardholder name, in characters.
	NameLengthMax = 100
)

// Brand is a card network, found from the number's leading digits (BIN).
type Brand string

const (
	Visa       Brand = "visa"
	Mastercard Brand = "mastercard"
	Amex       Brand = "amex"
	Discover   Brand = "discover"
	JCB        Brand = "jcb"
	Diners     Brand = "diners"
)

// CardInput is a card as the payer types it.
type CardInput struct {
	Number   string
	ExpMonth int
	ExpYear  int // four digits; two digits mean 20YY
	CVC      string
	Name     string
}

// card is validated input: the PAN as digits only.
type card struct {
	pan      string
	cvc      string
	brand    Brand
	expMonth int
	expYear  int
	name     string
}

// BrandOf returns the brand of a PAN's leading digits, or "" when none of
// the supported ranges matches.
func BrandOf(pan string) Brand {
	p := func(n int) int { // the first n digits as a number
		if len(pan) < n {
			return -1
		}
		v := 0
		for i := range n {
			v = v*10 + int(pan[i]-'0')
		}
		return v
	}
	switch {
	case p(1) == 4:
		return Visa
	case p(2) >= 51 && p(2) <= 55, p(4) >= 2221 && p(4) <= 2720:
		return Mastercard
	case p(2) == 34, p(2) == 37:
		return Amex
	case p(4) == 6011, p(2) == 65, p(3) >= 644 && p(3) <= 649:
		return Discover
	case p(4) >= 3528 && p(4) <= 3589:
		return JCB
	case p(2) == 36, p(2) == 38, p(3) >= 300 && p(3) <= 305:
		return Diners
	}
	return ""
}

// luhn reports whether the digits pass the Luhn check.
func luhn(digits string) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// validate checks a card at time now. Errors are EInvalid with the
// param of the offending field (card.number, card.exp_month, ...); they
// never quote the number or the CVC.
func validate(in CardInput, now time.Time) (card, error) {
	pan := strings.ReplaceAll(in.Number, " ", "")
	switch {
	case pan == "":
		return card{}, kassa.Invalid("card.number", "card_number_required", "the card number is required")
	case !allDigits(pan):
		return card{}, kassa.Invalid("card.number", "card_number_invalid", "the card number may hold only digits and spaces")
	case len(pan) < PANLengthMin || len(pan) > PANLengthMax:
		return card{}, kassa.Invalid("card.number", "card_number_invalid", "the card number must have %d to %d digits", PANLengthMin, PANLengthMax)
	case !luhn(pan):
		return card{}, kassa.Invalid("card.number", "card_number_incorrect", "the card number is not a valid card number (check digit)")
	}
	brand := BrandOf(pan)
	if brand == "" {
		return card{}, kassa.Invalid("card.number", "card_brand_unsupported", "cards of this network are not accepted")
	}
	if brand == Amex && len(pan) != 15 {
		return card{}, kassa.Invalid("card.number", "card_number_invalid", "an American Express number has 15 digits")
	}
	c := card{pan: pan, brand: brand, expMonth: in.ExpMonth, expYear: in.ExpYear}
	if err := c.validateExpiry(now); err != nil {
		return card{}, err
	}
	cvcLen := 3
	if brand == Amex {
		cvcLen = 4
	}
	if len(in.CVC) != cvcLen || !allDigits(in.CVC) {
		return card{}, kassa.Invalid("card.cvc", "card_cvc_invalid", "the security code must be %d digits", cvcLen)
	}
	c.cvc = in.CVC
	c.name = strings.TrimSpace(in.Name)
	if utf8.RuneCountInString(c.name) > NameLengthMax || !utf8.ValidString(c.name) || strings.ContainsFunc(c.name, isControl) {
		return card{}, kassa.Invalid("card.name", "card_name_invalid", "the cardholder name must be at most %d printable characters", NameLengthMax)
	}
	return c, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// validateExpiry checks the expiry at month granularity: a card is valid
// through the last day of its expiry month.
func (c *card) validateExpiry(now time.Time) error {
	if c.expMonth < 1 || c.expMonth > 12 {
		return kassa.Invalid("card.exp_month", "card_exp_month_invalid", "the expiry month must be 1 to 12")
	}
	if c.expYear >= 0 && c.expYear < 100 {
		c.expYear += 2000
	}
	if c.expYear < 2000 || c.expYear > 9999 {
		return kassa.Invalid("card.exp_year", "card_exp_year_invalid", "the expiry year must have four digits")
	}
	now = now.UTC()
	exp := c.expYear*12 + c.expMonth - 1
	cur := now.Year()*12 + int(now.Month()) - 1
	switch {
	case exp < cur:
		return kassa.Invalid("card.exp_year", "card_expired", "the card has expired")
	case exp > cur+12*ExpiryYearsMax:
		return kassa.Invalid("card.exp_year", "card_exp_year_invalid", "the expiry date is more than %d years ahead", ExpiryYearsMax)
	}
	return nil
}

// cardFieldsMax bounds CheckCard's passes: one per field of a card.
const cardFieldsMax = 4

// CheckCard reports every field of in that Tokenize would refuse, not
// only the first: one kassa EInvalid error per bad field (param
// card.number, card.exp_month or card.exp_year, card.cvc, card.name), in
// that order; none when Tokenize would take it. Like Tokenize's errors,
// they never quote the number or the CVC. A form shows them all at once.
func CheckCard(in CardInput, now time.Time) []error {
	var errs []error
	for range cardFieldsMax {
		_, err := validate(in, now)
		if err == nil {
			break
		}
		errs = append(errs, err)
		// Replace the field at fault with a good value and look again.
		switch e := kassa.AsError(err); {
		case e == nil:
			return errs
		case e.Param == "card.number":
			in.Number = "4242424242424242"
			if len(in.CVC) == 4 {
				in.Number = "378282246310005" // an Amex test number: its CVC has 4 digits
			}
		case strings.HasPrefix(e.Param, "card.exp_"):
			in.ExpMonth, in.ExpYear = int(now.Month()), now.Year()
		case e.Param == "card.cvc":
			in.CVC = "123"
			if BrandOf(strings.ReplaceAll(in.Number, " ", "")) == Amex {
				in.CVC = "1234"
			}
		default:
			in.Name = ""
		}
	}
	return errs
}
