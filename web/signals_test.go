package web_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/web"
)

// TestConfirmClientSignals sends the form as pay.js does: its report
// reaches the stored evaluation, with the payer's user agent.
func TestConfirmClientSignals(t *testing.T) {
	f := newFixture(t)
	v := f.issue(t, 1, 1000, "EUR")[0]
	p := f.createPayment(t, map[string]any{"amount": 700, "currency": "EUR", "return_url": "https://shop.example/done"})
	want := risk.Signals{Present: true, TimeOnPageMS: 21500, TimeToSubmitMS: 8200, PointerMoves: 143, KeyEvents: 18,
		PasteEvents: 1, FocusChanges: 2, Fingerprint: "8c1f3a9e0b7d2c45", Timezone: "Europe/Vienna", Language: "de-AT",
		Screen: "1920x1080", Platform: "Win32"}
	report, _ := json.Marshal(want)
	form := payForm(p["client_secret"].(string), v.PIN)
	form.Set("client_signals", string(report))
	ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0 Safari/537.36"
	resp, body := post(t, f, "/pay/"+p["id"].(string), form, map[string]string{"User-Agent": ua})
	if resp.StatusCode != 200 || !strings.Contains(body, `id="vouchers-left"`) {
		t.Fatalf("POST with client_signals = %d, want the receipt\n%s", resp.StatusCode, body)
	}
	paid, ev := f.evaluation(t, p["id"].(string))
	if paid.Status != payment.StatusCaptured {
		t.Errorf("payment %s (decision %s), want captured", paid.Status, ev.Decision)
	}
	if ev.Event.Signals != want {
		t.Errorf("stored signals\n%+v, want\n%+v", ev.Event.Signals, want)
	}
	if ev.Event.UserAgent != ua || !strings.HasPrefix(ev.Event.DeviceID, "dev_") {
		t.Errorf("stored user agent %q, device %q", ev.Event.UserAgent, ev.Event.DeviceID)
	}

	// Present is Kassa's to say: a report claiming false still counts.
	v = f.issue(t, 1, 1000, "EUR")[0]
	p = f.createPayment(t, map[string]any{"amount": 700, "currency": "EUR"})
	form = payForm(p["client_secret"].(string), v.PIN)
	form.Set("client_signals", `{"present":false,"key_events":16}`)
	post(t, f, "/pay/"+p["id"].(string), form, nil)
	if _, ev := f.evaluation(t, p["id"].(string)); !ev.Event.Signals.Present || ev.Event.Signals.KeyEvents != 16 {
		t.Errorf("stored signals %+v, want present with 16 key events", ev.Event.Signals)
	}
}

// TestConfirmBadClientSignals: a report that is too long, not JSON or out
// of range is dropped — the payment goes on as without JavaScript — and
// the log says so without the value.
func TestConfirmBadClientSignals(t *testing.T) {
	f := newFixture(t)
	const canary = "canary7f3e"
	tests := []struct {
		name, value, problem string
	}{
		{"too long", `{"key_events":16,"fingerprint":"` + canary + `"` + strings.Repeat(" ", web.ClientSignalsBytesMax) + `}`, "too long"},
		{"not JSON", canary + `{"key_events":16`, "not a JSON object of client signals"},
		{"cut short", `{"key_events":16,"fingerprint":"` + canary, "not a JSON object of client signals"},
		{"trailing data", `{"key_events":16}` + canary, "not a JSON object of client signals"},
		{"null", `null`, "not a JSON object of client signals"},
		{"array", `[16]`, "not a JSON object of client signals"},
		{"wrong type", `{"key_events":"` + canary + `"}`, "not a JSON object of client signals"},
		{"fraction", `{"key_events":16.5}`, "not a JSON object of client signals"},
		{"negative count", `{"key_events":-1,"fingerprint":"` + canary + `"}`, "out of range"},
		{"count too large", `{"pointer_moves":1000001}`, "out of range"},
		{"longer than a day", `{"time_on_page_ms":86400001}`, "out of range"},
		{"long fingerprint", `{"fingerprint":"` + canary + strings.Repeat("f", 200) + `"}`, "out of range"},
		{"long text", `{"platform":"` + canary + strings.Repeat("x", 64) + `"}`, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := f.issue(t, 1, 1000, "EUR")[0]
			p := f.createPayment(t, map[string]any{"amount": 700, "currency": "EUR", "return_url": "https://shop.example/done"})
			form := payForm(p["client_secret"].(string), v.PIN)
			form.Set("client_signals", tt.value)
			before := len(f.logs.String())
			resp, body := post(t, f, "/pay/"+p["id"].(string), form, nil)
			if resp.StatusCode != 200 || !strings.Contains(body, `id="vouchers-left"`) {
				t.Fatalf("POST = %d, want the receipt (paid as without signals)\n%s", resp.StatusCode, body)
			}
			paid, ev := f.evaluation(t, p["id"].(string))
			if paid.Status != payment.StatusCaptured {
				t.Errorf("payment %s, want captured", paid.Status)
			}
			if ev.Event.Signals != (risk.Signals{}) || ev.Event.DeviceID != "" {
				t.Errorf("stored signals %+v, device %q; want none", ev.Event.Signals, ev.Event.DeviceID)
			}
			logs := f.logs.String()[before:]
			if !strings.Contains(logs, `"msg":"payment page: client_signals ignored"`) ||
				!strings.Contains(logs, `"problem":"`+tt.problem+`"`) || !strings.Contains(logs, `"level":"DEBUG"`) {
				t.Errorf("log lacks the debug line with problem %q:\n%s", tt.problem, logs)
			}
		})
	}
	if strings.Contains(f.logs.String(), canary) {
		t.Error("the log holds a client_signals value")
	}
}

// TestConfirmLongUserAgent: a User-Agent longer than risk takes is cut,
// not a way around scoring (an event risk refuses goes unscored).
func TestConfirmLongUserAgent(t *testing.T) {
	f := newFixture(t)
	v := f.issue(t, 1, 1000, "EUR")[0]
	blockSerial(t, f, v.Serial)
	p := f.createPayment(t, map[string]any{"amount": 700, "currency": "EUR"})
	ua := "Mozilla/5.0 (" + strings.Repeat("é", 400) + ")"
	resp, body := post(t, f, "/pay/"+p["id"].(string), payForm(p["client_secret"].(string), v.PIN),
		map[string]string{"User-Agent": ua})
	if resp.StatusCode != 402 || !strings.Contains(body, "<h1>Declined</h1>") {
		t.Errorf("POST with a %d-byte User-Agent from a blocked voucher = %d\n%s", len(ua), resp.StatusCode, body)
	}
	_, ev := f.evaluation(t, p["id"].(string))
	if got := ev.Event.UserAgent; len(got) > 512 || len(got) < 510 || !strings.HasPrefix(ua, got) {
		t.Errorf("stored user agent of %d bytes, want the first 512 at most, whole characters", len(got))
	}
}
