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
