package web

import (
	"encoding/json"
	"testing"

	"github.com/kassa/kassa/risk"
)

// FuzzParseSignals feeds the hosted page's client_signals field anything
// a payer's machine could send. A report is either dropped whole (zero
// signals and a reason) or kept valid and marked present, and a kept
// report survives a round trip through JSON unchanged.
func FuzzParseSignals(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `"x"`, ` {"time_on_page_ms":1}`,
		`{"time_on_page_ms":21500,"time_to_submit_ms":8200,"pointer_moves":143,"key_events":18,"paste_events":1,
		"focus_changes":2,"webdriver":false,"fingerprint":"8c1f3a9e0b7d2c45","timezone":"Europe/Vienna","language":"de-AT",
		"screen":"1920x1080","platform":"Linux x86_64","touch":true}`,
		`{"time_on_page_ms":-1}`, `{"pointer_moves":1e9}`, `{"time_on_page_ms":86400001}`, `{"present":false,"webdriver":true}`,
		`{"fingerprint":"` + string(make([]byte, 200)) + `"}`, `{"timezone":"\ud800"}`, `{"screen":"` + "\xff\xfe" + `"}`,
		`{"key_events":9223372036854775807}`, `{"key_events":1.5}`, `{"unknown":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		sig, problem := parseSignals(raw)
		if problem != "" || raw == "" {
			if sig != (risk.Signals{}) {
				t.Fatalf("dropped report (%q) left signals %+v", problem, sig)
			}
			return
		}
		if !sig.Present {
			t.Fatalf("kept report %q is not marked present", raw)
		}
		if err := sig.Validate(); err != nil {
			t.Fatalf("kept report %q is invalid: %v", raw, err)
		}
		b, err := json.Marshal(sig)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > ClientSignalsBytesMax {
			return // escaping grew it past the page's limit
		}
		again, problem := parseSignals(string(b))
		if problem != "" || again != sig {
			t.Fatalf("round trip of %s: %+v (%q), want %+v", b, again, problem, sig)
		}
	})
}
