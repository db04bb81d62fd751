package payment

import (
	"errors"
	"strings"
	"testing"

	"github.com/kassa/kassa"
)

// TestLocale: a payment's locale is a BCP 47 tag (the hosted pages pick
// their language from it); anything else is refused with locale_invalid,
// so nothing odd is stored or shown back.
func TestLocale(t *testing.T) {
	for _, tt := range []struct {
		locale string
		ok     bool
	}{
		{"", true},
		{"de", true},
		{"de-AT", true},
		{"en-IE", true},
		{"sr-Latn-RS", true},
		{"es-419", true},
		{"fr-x-private1", true},
		{"d", false},
		{"deutsch", false},
		{"de_AT", false},
		{"de-", false},
		{"-de", false},
		{"de--AT", false},
		{"de-AT<script>", false},
		{"12-AT", false},
		{"de-" + strings.Repeat("a", 9), false},
		{"de" + strings.Repeat("-abcdefgh", 4), false}, // 38 bytes
		{"de-Ä", false},
	} {
		_, err := validateCreate(CreateRequest{Amount: 1, Currency: "EUR", CaptureMethod: CaptureAutomatic, Locale: tt.locale})
		if tt.ok && err != nil {
			t.Errorf("locale %q refused: %v", tt.locale, err)
		}
		var kerr *kassa.Error
		if !tt.ok && (!errors.As(err, &kerr) || kerr.Code != "locale_invalid" || kerr.Param != "locale") {
			t.Errorf("locale %q = %v, want locale_invalid", tt.locale, err)
		}
	}
}

// TestCustomerPhone: customer.phone is a mobile number in E.164 form
// (spaces and dashes dropped), where a step-up code can go.
func TestCustomerPhone(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"+436601234567", "+436601234567", true},
		{" +43 660-123 4567 ", "+436601234567", true},
		{"436601234567", "", false},
		{"+0436601234567", "", false},
		{"+4366012", "", false},
		{"+4366012345678901", "", false},
		{"+43660123456x", "", false},
		{"+43660\n1234567", "", false},
	} {
		got, err := validateCustomer(Customer{Phone: tt.in})
		if tt.ok && (err != nil || got.Phone != tt.want) {
			t.Errorf("phone %q = %q, %v; want %q", tt.in, got.Phone, err, tt.want)
		}
		var kerr *kassa.Error
		if !tt.ok && (!errors.As(err, &kerr) || kerr.Code != "customer_invalid" || kerr.Param != "customer.phone") {
			t.Errorf("phone %q = %v, want customer_invalid", tt.in, err)
		}
	}
}
