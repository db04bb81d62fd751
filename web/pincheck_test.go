package web_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/kassa/kassa/voucher"
)

// checkPIN posts one PIN to the page's check and decodes its answer.
func checkPIN(t *testing.T, f *fixture, id, secret, pin string, header map[string]string) (int, string, bool) {
	t.Helper()
	resp, body := post(t, f, "/pay/"+id+"/pin", url.Values{"client_secret": {secret}, "pin": {pin}}, header)
	var c struct {
		OK   bool   `json:"ok"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatalf("POST /pay/%s/pin = %d, not JSON: %s", id, resp.StatusCode, body)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("check answered with %q, %q", resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	if strings.Contains(body, pin) && len(pin) >= 12 {
		t.Errorf("the check echoes the PIN")
	}
	return resp.StatusCode, c.Text, c.OK
}

// TestCheckPINCovers: one PIN, checked as it is entered, says what its
// voucher covers and what is still to pay, in the payer's language and
// money format; the PIN is in neither the answer nor the log.
func TestCheckPINCovers(t *testing.T) {
	f := newFixture(t)
	vs := f.issue(t, 1, 1000, "EUR")
	big := f.issue(t, 1, 5000, "EUR")
	usd := f.issue(t, 1, 5000, "USD")
	p := f.createPayment(t, map[string]any{"amount": 2500, "currency": "EUR"})
	id, secret := p["id"].(string), p["client_secret"].(string)
	for _, c := range []struct {
		pin, lang, want string
		ok              bool
	}{
		{vs[0].PIN, "en-IE", "This voucher covers €10.00; €15.00 still to pay.", true},
		{vs[0].PIN, "de-AT", "Dieser Gutschein deckt 10,00\u00a0€; 15,00\u00a0€ sind noch zu zahlen.", true},
		{big[0].PIN, "en-IE", "This voucher covers the whole €25.00.", true},
		{usd[0].PIN, "en-IE", "This voucher is in another currency than the payment.", false},
	} {
		status, text, ok := checkPIN(t, f, id, secret, c.pin, map[string]string{"Accept-Language": c.lang})
		if ok != c.ok || !strings.HasPrefix(text, c.want) || (ok && status != 200) || (!ok && status != 422) {
			t.Errorf("check (%s) = %d %v %q, want %v %q", c.lang, status, ok, text, c.ok, c.want)
		}
	}
	// Checking spends nothing: the voucher still pays in full.
	if status, _, _ := checkPIN(t, f, id, secret, big[0].PIN, nil); status != 200 {
		t.Errorf("second check = %d", status)
	}
	for _, pin := range []string{vs[0].PIN, big[0].PIN, usd[0].PIN} {
		if strings.Contains(f.logs.String(), pin) {
			t.Error("a PIN is in the log")
		}
	}
	// A stranger: another site, a wrong secret, a JSON body, two PINs.
	if status, _, _ := checkPIN(t, f, id, secret, vs[0].PIN, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); status != 403 {
		t.Errorf("cross-site check = %d, want 403", status)
	}
	if status, text, _ := checkPIN(t, f, id, "cs_wrong", vs[0].PIN, nil); status != 404 || strings.Contains(text, "10") {
		t.Errorf("check with a wrong secret = %d %q", status, text)
	}
	resp, _ := post(t, f, "/pay/"+id+"/pin", url.Values{"client_secret": {secret}, "pin": {vs[0].PIN, big[0].PIN}}, nil)
	if resp.StatusCode != 422 {
		t.Errorf("two PINs in one check = %d, want 422", resp.StatusCode)
	}
}

// TestCheckPINSameGuessLimits: the check is no cheaper a way to guess
// PINs than the form. Wrong PINs through the check and through the form
// count against one budget of the payment; once it is spent both are
// refused, the check with Retry-After, even for a right PIN.
func TestCheckPINSameGuessLimits(t *testing.T) {
	f := newFixture(t)
	vs := f.issue(t, 1, 5000, "EUR")
	p := f.createPayment(t, map[string]any{"amount": 2500, "currency": "EUR"})
	id, secret := p["id"].(string), p["client_secret"].(string)
	for i := range voucher.PaymentFailuresMax - 2 {
		if status, text, _ := checkPIN(t, f, id, secret, fmt.Sprintf("9999 0000 0000 %04d", i), nil); status != 422 || !strings.Contains(text, "not valid") {
			t.Fatalf("wrong PIN %d = %d %q", i, status, text)
		}
	}
	resp, _ := post(t, f, "/pay/"+id, payForm(secret, "9999 0000 0000 7777", "9999 0000 0000 8888"), nil)
	if resp.StatusCode != 422 {
		t.Fatalf("two wrong PINs by the form = %d", resp.StatusCode)
	}
	resp, _ = post(t, f, "/pay/"+id+"/pin", url.Values{"client_secret": {secret}, "pin": {vs[0].PIN}}, nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("right PIN after the budget is spent = %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, _ := post(t, f, "/pay/"+id, payForm(secret, vs[0].PIN), nil); resp.StatusCode != 429 {
		t.Errorf("the form after checks spent the budget = %d, want 429", resp.StatusCode)
	}
}

// TestCheckPINConcurrentGuesses: many wrong PINs checked at once are not
// all looked up before the first failure counts.
func TestCheckPINConcurrentGuesses(t *testing.T) {
	f := newFixture(t)
	p := f.createPayment(t, map[string]any{"amount": 2500, "currency": "EUR"})
	id, secret := p["id"].(string), p["client_secret"].(string)
	const n = 24
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i], _, _ = checkPIN(t, f, id, secret, fmt.Sprintf("8888 0000 0000 %04d", i), nil)
		})
	}
	wg.Wait()
	looked := 0
	for _, s := range statuses {
		switch s {
		case 422:
			looked++
		case 429:
		default:
			t.Errorf("a concurrent guess = %d", s)
		}
	}
	if looked > voucher.PaymentFailuresMax {
		t.Errorf("%d of %d concurrent wrong PINs were looked up, limit %d", looked, n, voucher.PaymentFailuresMax)
	}
}

// TestPINLockoutWarning: one wrong PIN before the payment is locked out,
// the check and the page warn; locked out, the page says until when and
// offers the card form, and the check says until when too.
func TestPINLockoutWarning(t *testing.T) {
	f := newFixture(t)
	p := f.createPayment(t, map[string]any{"amount": 2500, "currency": "EUR"})
	id, secret := p["id"].(string), p["client_secret"].(string)
	page := func() string {
		t.Helper()
		_, body := get(t, f, redirectURLOf(f, p))
		return body
	}
	if strings.Contains(page(), `id="pin-warning"`) {
		t.Error("a fresh payment's page warns of a lockout")
	}
	var text string
	for i := range voucher.PaymentFailuresMax - 1 {
		_, text, _ = checkPIN(t, f, id, secret, fmt.Sprintf("7777 0000 0000 %04d", i), nil)
	}
	if !strings.Contains(text, "one more wrong PIN blocks") {
		t.Errorf("the check one wrong PIN before the lockout says %q", text)
	}
	if body := page(); !strings.Contains(body, `<p class="warn" id="pin-warning" role="status">Check your PINs carefully: one more wrong PIN`) {
		t.Errorf("the page one wrong PIN before the lockout does not warn:\n%s", body)
	}
	resp, body := post(t, f, "/pay/"+id, payForm(secret, "7777 0000 0000 9999"), nil)
	if resp.StatusCode != 422 {
		t.Fatalf("the last wrong PIN = %d", resp.StatusCode)
	}
	if !strings.Contains(body, `id="pin-locked" role="alert">Too many PINs were wrong. For your security, paying with vouchers is blocked until `) ||
		!strings.Contains(body, `You can pay by card below instead. <a href="#pay-card" id="to-card">`) || !strings.Contains(body, `id="pay-card"`) {
		t.Errorf("the locked-out page does not say until when or offer the card:\n%s", body)
	}
	if strings.Contains(body, `id="pin-warning"`) {
		t.Error("the locked-out page still warns")
	}
	resp, body = post(t, f, "/pay/"+id, payForm(secret, "7777 0000 0000 9998"), map[string]string{"Accept-Language": "de-AT"})
	if resp.StatusCode != 429 || !strings.Contains(body, "ist das Bezahlen mit Gutscheinen bis ") {
		t.Errorf("the form while locked out = %d:\n%s", resp.StatusCode, body)
	}
	if status, text, _ := checkPIN(t, f, id, secret, "7777 0000 0000 9997", nil); status != 429 || !strings.Contains(text, "blocked until") {
		t.Errorf("the check while locked out = %d %q", status, text)
	}
}
