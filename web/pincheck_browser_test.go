package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/internal/browser"
)

// TestBrowserPINCheck: at a phone's and a desktop's width, in English and
// German, a PIN typed in full is checked at once and the page says what
// its voucher covers and what is still to pay; a wrong PIN says so under
// its field. Sent with an error, the PINs stay in their masked fields,
// and the page's HTML holds none of them.
func TestBrowserPINCheck(t *testing.T) {
	f := newFixture(t)
	f.allowAutomatedBrowser(t)
	b := browser.New(t)
	for _, c := range []struct {
		width         int64
		lang          string
		covers, wrong string
	}{
		{375, "en", "This voucher covers €10.00; €15.00 still to pay.", "not valid"},
		{1280, "de", "Dieser Gutschein deckt 10,00\u00a0€; 15,00\u00a0€ sind noch zu zahlen.", "nicht gültig"},
	} {
		vs := f.issue(t, 1, 1000, "EUR")
		p := f.createPayment(t, map[string]any{"amount": 2500, "currency": "EUR", "locale": c.lang})
		wrong := "9999 8888 7777 6666"
		var covers, wrongText, formErr, pinType, html string
		var values []string
		b.Run(
			emulation.SetDeviceMetricsOverride(c.width, 900, 1, c.width < 500),
			chromedp.Navigate(redirectURL(t, p)),
			browser.Loaded("#pin-1"),
			chromedp.SendKeys("#pin-1", vs[0].PIN, chromedp.ByID),
			browser.Loaded("#pin-1-check:not(:empty)"),
			chromedp.Text("#pin-1-check", &covers, chromedp.ByID),
			chromedp.Click("#add-pin", chromedp.ByID),
			chromedp.WaitVisible("#pin-2", chromedp.ByID),
			chromedp.SendKeys("#pin-2", wrong, chromedp.ByID),
			browser.Loaded("#pin-2-check:not(:empty)"),
			chromedp.Text("#pin-2-check", &wrongText, chromedp.ByID),
			chromedp.Evaluate(`document.getElementById("pin-1").type`, &pinType),
		)
		b.Snap("pin-check-" + c.lang)
		if covers != c.covers {
			t.Errorf("%d px, %s: the check says %q, want %q", c.width, c.lang, covers, c.covers)
		}
		if !strings.Contains(wrongText, c.wrong) {
			t.Errorf("%d px, %s: a wrong PIN's check says %q", c.width, c.lang, wrongText)
		}
		if pinType != "password" {
			t.Errorf("PIN field of type %q, want masked", pinType)
		}
		b.Run(
			chromedp.Click("#submit", chromedp.ByID),
			browser.Loaded("#pin-2-error"),
			chromedp.Text("#pin-2-error", &formErr, chromedp.ByID),
			chromedp.Evaluate(`Array.from(document.querySelectorAll("input[name=pin]")).map(e => e.value)`, &values),
			chromedp.OuterHTML("html", &html, chromedp.ByQuery),
		)
		b.Snap("pin-kept-" + c.lang)
		if !strings.Contains(formErr, c.wrong) {
			t.Errorf("%d px: error next to field 2 = %q", c.width, formErr)
		}
		if len(values) < 2 || values[0] != vs[0].PIN || values[1] != wrong {
			t.Errorf("%d px: fields hold %q after the error, want the PINs typed", c.width, values)
		}
		if strings.Contains(html, vs[0].PIN) || strings.Contains(html, "9999888877776666") || strings.Contains(html, wrong) {
			t.Errorf("%d px: a PIN is in the page's HTML", c.width)
		}
		if strings.Contains(f.logs.String(), vs[0].PIN) {
			t.Errorf("a PIN is in the log")
		}
	}
}

// TestBrowserPINLockout: one wrong PIN before the lockout the page warns;
// locked out, it says until when and links to the card form, at a
// phone's and a desktop's width.
func TestBrowserPINLockout(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	for _, width := range []int64{375, 1280} {
		p := f.createPayment(t, map[string]any{"amount": 2500, "currency": "EUR"})
		id, secret := p["id"].(string), p["client_secret"].(string)
		for i := range 4 {
			checkPIN(t, f, id, secret, "7777 0000 0000 000"+string(rune('0'+i)), nil)
		}
		var warning, locked string
		var cardShown bool
		b.Run(
			emulation.SetDeviceMetricsOverride(width, 900, 1, width < 500),
			chromedp.Navigate(redirectURL(t, p)),
			browser.Loaded("#pin-warning"),
			chromedp.Text("#pin-warning", &warning, chromedp.ByID),
			// The fifth wrong PIN, checked as it is typed, locks the
			// payment's vouchers out: the page loads again and says so.
			chromedp.SendKeys("#pin-1", "7777 0000 0000 0009", chromedp.ByID),
			browser.Loaded("#pin-locked"),
			chromedp.Text("#pin-locked", &locked, chromedp.ByID),
			chromedp.Click("#to-card", chromedp.ByID),
			chromedp.Evaluate(`(function(){var r=document.getElementById("pay-card").getBoundingClientRect();return r.top < innerHeight && r.bottom > 0})()`, &cardShown),
		)
		b.Snap("pin-lockout")
		if !strings.Contains(warning, "one more wrong PIN") {
			t.Errorf("%d px: warning %q", width, warning)
		}
		if !strings.Contains(locked, "blocked until") || !strings.Contains(locked, "pay by card") {
			t.Errorf("%d px: lockout says %q", width, locked)
		}
		if !cardShown {
			t.Errorf("%d px: the card form is not in view after its link", width)
		}
	}
}
