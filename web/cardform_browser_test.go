package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/internal/browser"
)

// TestBrowserCardFormAllErrors: a card form with several mistakes shows
// every field's error at once, keeps what was typed except the card
// number and the CVC, and moves the focus to the first bad field.
func TestBrowserCardFormAllErrors(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	p := f.createPayment(t, map[string]any{"amount": 700, "currency": "EUR"})
	var numErr, expErr, cvcErr, number, expiry, cvc, name, focused, html string
	b.Run(
		chromedp.Navigate(redirectURL(t, p)),
		browser.Loaded("#card_number"),
		chromedp.SendKeys("#card_number", "4242 4242 4242 4241", chromedp.ByID),
		chromedp.SendKeys("#card_expiry", "13/30", chromedp.ByID),
		chromedp.SendKeys("#card_cvc", "12", chromedp.ByID),
		chromedp.SendKeys("#card_name", "Ada Lovelace", chromedp.ByID),
		chromedp.Click("#submit-card", chromedp.ByID),
		browser.Loaded("#card_number-error"),
		chromedp.Evaluate(`(document.getElementById("card_expiry-error")||{}).textContent||""`, &expErr),
		chromedp.Evaluate(`(document.getElementById("card_cvc-error")||{}).textContent||""`, &cvcErr),
		chromedp.Text("#card_number-error", &numErr, chromedp.ByID),
		chromedp.Value("#card_number", &number, chromedp.ByID),
		chromedp.Value("#card_expiry", &expiry, chromedp.ByID),
		chromedp.Value("#card_cvc", &cvc, chromedp.ByID),
		chromedp.Value("#card_name", &name, chromedp.ByID),
		chromedp.Evaluate(`document.activeElement ? document.activeElement.id : ""`, &focused),
		chromedp.OuterHTML("html", &html, chromedp.ByQuery),
	)
	b.Snap("card-form-errors")
	if numErr == "" || expErr == "" || cvcErr == "" {
		t.Errorf("field errors: number %q, expiry %q, CVC %q; want all three", numErr, expErr, cvcErr)
	}
	if number != "" || cvc != "" || strings.Contains(html, "4241") {
		t.Errorf("the card number (%q) or CVC (%q) came back into the page", number, cvc)
	}
	if expiry != "13/30" || name != "Ada Lovelace" {
		t.Errorf("expiry %q, name %q: want what was typed kept", expiry, name)
	}
	if focused != "card_number" {
		t.Errorf("focus on %q, want card_number", focused)
	}
}
