package account

import (
	"regexp"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/web"
)

// TestPayerTexts: what the account pages show for a service's refusal is
// written for payers: no error code, field name, id or API message, for
// every code the pages know and for one they do not.
func TestPayerTexts(t *testing.T) {
	api := regexp.MustCompile(`\b[a-z0-9]+_[a-z0-9_]+\b|(?i)\b(param|null|requires.action|captured|must be|no such|session|token|ceremony|credential|aal[12])\b`)
	for _, m := range []map[string]string{payerTexts, payerTextsDE} {
		for code, text := range m {
			if m := api.FindString(text); m != "" || text == "" {
				t.Errorf("%s: %q shows %q", code, text, m)
			}
		}
	}
	for code := range payerTexts {
		if _, ok := payerTextsDE[code]; !ok {
			t.Errorf("%s has no German text", code)
		}
	}
	for code := range payerTextsDE {
		if _, ok := payerTexts[code]; !ok {
			t.Errorf("%s has a German text but no English one", code)
		}
	}
	e := kassa.Errorf(kassa.EConflict, "something_new", "the payment is captured; only a payment that requires action can be confirmed")
	if got := payerText(e); got != payerTextOther {
		t.Errorf("an unknown code shows %q", got)
	}
	if got := payerTextIn(web.LangDE, e); got != payerTextOtherDE {
		t.Errorf("an unknown code shows %q in German", got)
	}
	e = kassa.Errorf(kassa.EInvalid, identity.CodeCodeInvalid, "code invalid")
	if got := payerTextIn(web.LangDE, e); got != "Dieser Code ist falsch oder abgelaufen." {
		t.Errorf("a wrong code shows %q in German", got)
	}
}

func TestDeviceName(t *testing.T) {
	for _, tt := range []struct{ ua, want string }{
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iPhone"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:132.0) Gecko/20100101 Firefox/132.0", "Firefox on macOS"},
		{"curl/8.5.0", "A browser"},
		{"", "A browser"},
	} {
		if got := deviceName(tt.ua); got != tt.want {
			t.Errorf("deviceName(%q) = %q, want %q", tt.ua, got, tt.want)
		}
	}
}
