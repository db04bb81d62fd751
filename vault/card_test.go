package vault

import (
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa"
)

func TestValidate(t *testing.T) {
	now := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	ok := CardInput{Number: "4242 4242 4242 4242", ExpMonth: 3, ExpYear: 2026, CVC: "123"}
	with := func(f func(*CardInput)) CardInput { c := ok; f(&c); return c }
	tests := []struct {
		name  string
		in    CardInput
		param string
		code  string
		brand Brand
	}{
		{"visa, spaces, expiring this month", ok, "", "", Visa},
		{"mastercard 5x", with(func(c *CardInput) { c.Number = "5555555555554444" }), "", "", Mastercard},
		{"mastercard 2x", with(func(c *CardInput) { c.Number = "2223003122003222" }), "", "", Mastercard},
		{"amex", with(func(c *CardInput) { c.Number = "378282246310005"; c.CVC = "1234" }), "", "", Amex},
		{"discover 6011", with(func(c *CardInput) { c.Number = "6011111111111117" }), "", "", Discover},
		{"jcb", with(func(c *CardInput) { c.Number = "3566002020360505" }), "", "", JCB},
		{"diners", with(func(c *CardInput) { c.Number = "36227206271667" }), "", "", Diners},
		{"two-digit year", with(func(c *CardInput) { c.ExpYear = 27 }), "", "", Visa},
		{"empty", with(func(c *CardInput) { c.Number = "" }), "card.number", "card_number_required", ""},
		{"letters", with(func(c *CardInput) { c.Number = "4242x42424242424" }), "card.number", "card_number_invalid", ""},
		{"dashes", with(func(c *CardInput) { c.Number = "4242-4242-4242-4242" }), "card.number", "card_number_invalid", ""},
		{"11 digits", with(func(c *CardInput) { c.Number = "42424242424" }), "card.number", "card_number_invalid", ""},
		{"20 digits", with(func(c *CardInput) { c.Number = "42424242424242424242" }), "card.number", "card_number_invalid", ""},
		{"luhn", with(func(c *CardInput) { c.Number = "4242424242424241" }), "card.number", "card_number_incorrect", ""},
		{"unionpay", with(func(c *CardInput) { c.Number = "6200000000000005" }), "card.number", "card_brand_unsupported", ""},
		{"amex 16 digits", with(func(c *CardInput) { c.Number = "3782822463100011"; c.CVC = "1234" }), "card.number", "card_number_invalid", ""},
		{"month 0", with(func(c *CardInput) { c.ExpMonth = 0 }), "card.exp_month", "card_exp_month_invalid", ""},
		{"month 13", with(func(c *CardInput) { c.ExpMonth = 13 }), "card.exp_month", "card_exp_month_invalid", ""},
		{"last month", with(func(c *CardInput) { c.ExpMonth = 2 }), "card.exp_year", "card_expired", ""},
		{"last year", with(func(c *CardInput) { c.ExpYear = 2025; c.ExpMonth = 12 }), "card.exp_year", "card_expired", ""},
		{"20 years ahead", with(func(c *CardInput) { c.ExpYear = 2046 }), "", "", Visa},
		{"more than 20 years", with(func(c *CardInput) { c.ExpYear = 2046; c.ExpMonth = 4 }), "card.exp_year", "card_exp_year_invalid", ""},
		{"year 123", with(func(c *CardInput) { c.ExpYear = 123 }), "card.exp_year", "card_exp_year_invalid", ""},
		{"cvc short", with(func(c *CardInput) { c.CVC = "12" }), "card.cvc", "card_cvc_invalid", ""},
		{"cvc missing", with(func(c *CardInput) { c.CVC = "" }), "card.cvc", "card_cvc_invalid", ""},
		{"cvc letters", with(func(c *CardInput) { c.CVC = "12a" }), "card.cvc", "card_cvc_invalid", ""},
		{"cvc 4 on visa", with(func(c *CardInput) { c.CVC = "1234" }), "card.cvc", "card_cvc_invalid", ""},
		{"cvc 3 on amex", with(func(c *CardInput) { c.Number = "378282246310005" }), "card.cvc", "card_cvc_invalid", ""},
		{"name control", with(func(c *CardInput) { c.Name = "a\x00b" }), "card.name", "card_name_invalid", ""},
	}
	for _, tt := range tests {
		c, err := validate(tt.in, now)
		if tt.code == "" {
			if err != nil || c.brand != tt.brand {
				t.Errorf("%s: brand %q, %v; want %s", tt.name, c.brand, err, tt.brand)
			}
			continue
		}
		e := kassa.AsError(err)
		if e == nil || e.Kind != kassa.EInvalid || e.Param != tt.param || e.Code != tt.code {
			t.Errorf("%s: %v; want %s (param %s)", tt.name, err, tt.code, tt.param)
		}
	}
}

func TestBrandRanges(t *testing.T) {
	for prefix, want := range map[string]Brand{
		"4": Visa, "51": Mastercard, "55": Mastercard, "2221": Mastercard, "2720": Mastercard, "2220": "", "2721": "",
		"34": Amex, "37": Amex, "35": "", "6011": Discover, "65": Discover, "644": Discover, "649": Discover, "643": "",
		"3528": JCB, "3589": JCB, "3527": "", "3590": "", "36": Diners, "38": Diners, "300": Diners, "305": Diners,
		"306": "", "62": "", "1": "",
	} {
		pan := prefix + strings.Repeat("0", 16-len(prefix))
		if got := BrandOf(pan); got != want {
			t.Errorf("BrandOf(%s...) = %q, want %q", prefix, got, want)
		}
	}
}

func TestCheckCardReportsEveryField(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	params := func(errs []error) string {
		var out []string
		for _, err := range errs {
			out = append(out, kassa.AsError(err).Param)
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		in   CardInput
		want string
	}{
		{CardInput{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2030, CVC: "123", Name: "Ada"}, ""},
		{CardInput{Number: "4242424242424241", ExpMonth: 13, ExpYear: 2030, CVC: "12", Name: "Ada"}, "card.number,card.exp_month,card.cvc"},
		{CardInput{Number: "", ExpMonth: 1, ExpYear: 2020, CVC: "123", Name: "A\x01"}, "card.number,card.exp_year,card.name"},
		{CardInput{Number: "3782 822463 10005", ExpMonth: 12, ExpYear: 2030, CVC: "123"}, "card.cvc"},
		{CardInput{Number: "4242", ExpMonth: 12, ExpYear: 2030, CVC: "1234"}, "card.number"},
	}
	for _, tt := range tests {
		errs := CheckCard(tt.in, now)
		if got := params(errs); got != tt.want {
			t.Errorf("CheckCard(%+v) = %s, want %s", tt.in, got, tt.want)
		}
		for _, err := range errs {
			if tt.in.Number != "" && strings.Contains(err.Error(), tt.in.Number) {
				t.Errorf("%v quotes the number", err)
			}
		}
	}
}
