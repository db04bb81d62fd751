package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/internal/browser"
)

// TestBrowserCardRetry: in Chromium, a declined card leaves the payer on
// the form with the decline above it, the focus on the card number and
// the expiry and name kept; the next card pays and the payer lands on the
// shop's return_url.
func TestBrowserCardRetry(t *testing.T) {
	f := newRetryFixture(t)
	b := browser.New(t)
	shop := browser.NewShop(t)
	p := f.createPayment(t, map[string]any{"amount": 1999, "currency": "EUR", "return_url": shop.URL + "/done?order=7"})
	var formErr, focused, expiry, name, number, cvc, html, loc string
	b.Run(
		chromedp.Navigate(redirectURL(t, p)),
		browser.Loaded("#card_number"),
		chromedp.SendKeys("#card_number", acquirer.CardInsufficientFunds, chromedp.ByID),
		chromedp.SendKeys("#card_expiry", "12/30", chromedp.ByID),
		chromedp.SendKeys("#card_cvc", "123", chromedp.ByID),
		chromedp.SendKeys("#card_name", "Ada Lovelace", chromedp.ByID),
		chromedp.Click("#submit-card", chromedp.ByID),
		browser.Loaded("#card-form-error"),
		chromedp.Text("#card-form-error", &formErr, chromedp.ByID),
		chromedp.Evaluate(`document.activeElement ? document.activeElement.id : ""`, &focused),
		chromedp.Value("#card_number", &number, chromedp.ByID),
		chromedp.Value("#card_cvc", &cvc, chromedp.ByID),
		chromedp.Value("#card_expiry", &expiry, chromedp.ByID),
		chromedp.Value("#card_name", &name, chromedp.ByID),
		chromedp.OuterHTML("html", &html, chromedp.ByQuery),
	)
	b.Snap("card-retry-declined")
	if !strings.Contains(formErr, "insufficient funds") || !strings.Contains(formErr, "Try another card") {
		t.Errorf("the decline above the card form says %q", formErr)
	}
	if focused != "card_number" {
		t.Errorf("focus on %q after a decline, want card_number", focused)
	}
	if number != "" || cvc != "" || strings.Contains(html, acquirer.CardInsufficientFunds) {
		t.Errorf("the card number (%q) or CVC (%q) came back into the page", number, cvc)
	}
	if expiry != "12/30" || name != "Ada Lovelace" {
		t.Errorf("expiry %q, name %q: want what was typed kept", expiry, name)
	}
	b.Run(
		chromedp.SendKeys("#card_number", "4242 4242 4242 4242", chromedp.ByID),
		chromedp.SendKeys("#card_cvc", "123", chromedp.ByID),
		chromedp.Click("#submit-card", chromedp.ByID),
		browser.Loaded("#thanks"),
		chromedp.Location(&loc),
	)
	if !strings.HasPrefix(loc, shop.URL+"/done?order=7&") || !strings.Contains(loc, "status=captured") {
		t.Fatalf("landed on %s, want the shop's return_url, captured", loc)
	}
	if _, got := f.api(t, "GET", "/v1/payments/"+p["id"].(string), nil); got["status"] != "captured" || got["attempts"] != float64(2) {
		t.Errorf("paid on the second try: %v", got)
	}
}
