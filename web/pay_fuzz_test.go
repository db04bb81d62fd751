package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzPayForm posts whatever a payer's browser (or anyone) could send to
// the hosted payment page, POST /pay/{id}: PINs, card fields, the client
// secret, client signals, in any number and shape. The page answers with
// HTML or a redirect, never a 5xx (a recovered panic is one), and it never
// writes a PIN or card number it was sent into the answer or the log.
func FuzzPayForm(f *testing.F) {
	for _, s := range []string{
		"", "client_secret={secret}", "client_secret=nope&pin=1234567890123456",
		"client_secret={secret}&pin=1234+5678+9012+3456&pin=&pin=9999-8888-7777-6666",
		"client_secret={secret}&pin=" + strings.Repeat("1", 200),
		"client_secret={secret}&pin=abcdefghijklmnop&client_signals=%7B%22time_on_page_ms%22%3A-1%7D",
		"client_secret={secret}&method=card&card_number=4000+0000+0000+0002&card_expiry=12%2F31&card_cvc=123&card_name=A+B",
		"client_secret={secret}&method=card&card_number=4242424242424241&card_expiry=13%2F99&card_cvc=1",
		"client_secret={secret}&method=card&card_number=378282246310005&card_expiry=1%2F2031&card_cvc=12345",
		"client_secret={secret}&method=card&card_number=&card_expiry=&card_name=%00%01",
		"client_secret={secret}&" + strings.Repeat("pin=1234567890123456&", 12),
		"client_secret={secret}&client_signals=%5B%5D&pin=%EF%BC%91", "%zz=1", "client_secret={secret}&client_secret=x",
	} {
		f.Add(s)
	}
	fx := newFixture(f)
	var paymentID, secret string
	fresh := func(t *testing.T) {
		p := fx.createPayment(t, map[string]any{"amount": 1500, "currency": "EUR"})
		paymentID, secret = p["id"].(string), p["client_secret"].(string)
	}
	f.Fuzz(func(t *testing.T, form string) {
		if paymentID == "" {
			fresh(t)
		}
		form = strings.ReplaceAll(form, "{secret}", url.QueryEscape(secret))
		req := httptest.NewRequest("POST", "/pay/"+paymentID, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		logged := len(fx.logs.String())
		w := httptest.NewRecorder()
		fx.ts.Config.Handler.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("POST /pay: status %d: %s", w.Code, w.Body)
		}
		if w.Code != http.StatusSeeOther && !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("POST /pay: status %d with content type %q", w.Code, w.Header().Get("Content-Type"))
		}
		log := fx.logs.String()[logged:]
		for _, s := range formSecrets(form) {
			if strings.Contains(w.Body.String(), s) || strings.Contains(log, s) {
				t.Fatalf("POST /pay: a PIN or card number sent (%d digits) is in the answer or the log", len(s))
			}
		}
		if w.Code != http.StatusUnprocessableEntity {
			paymentID = "" // paid, failed or refused: the next input gets a new payment
		}
	})
}

// formSecrets returns the PINs and card numbers of a form, as sent
// (trimmed) and as digits only, those with at least 12 digits (shorter
// digit runs occur in any page).
func formSecrets(form string) []string {
	v, err := url.ParseQuery(form)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range append(v["pin"], v["card_number"]...) {
		d := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
		if len(d) >= 12 {
			out = append(out, d, strings.TrimSpace(s))
		}
	}
	return out
}
