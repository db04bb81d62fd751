package account

import (
	"regexp"
	"testing"

	"github.com/kassa/kassa"
)

// TestPayerTexts: what the account pages show for a service's refusal is
// written for payers: no error code, field name, id or API message, for
// every code the pages know and for one they do not.
func TestPayerTexts(t *testing.T) {
	api := regexp.MustCompile(`\b[a-z0-9]+_[a-z0-9_]+\b|(?i)\b(param|null|requires.action|captured|must be|no such|session|token|ceremony|credential|aal[12])\b`)
	for code, text := range payerTexts {
		if m := api.FindString(text); m != "" || text == "" {
			t.Errorf("%s: %q shows %q", code, text, m)
		}
	}
	e := kassa.Errorf(kassa.EConflict, "something_new", "the payment is captured; only a payment that requires action can be confirmed")
	if got := payerText(e); got != payerTextOther {
		t.Errorf("an unknown code shows %q", got)
	}
}
