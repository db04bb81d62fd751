package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/internal/browser"
)

// TestBrowserPayByCard pays with the test card 4242 4242 4242 4242 in
// Chromium and lands on the shop's return_url with status=captured; a
// declined card shows why, and the number never comes back in the page.
func TestBrowserPayByCard(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	f.allowAutomatedBrowser(t)
	shop := browser.NewShop(t)
	p := f.createPayment(t, map[string]any{"amount": 1999, "currency": "EUR", "description": "Deposit",
		"return_url": shop.URL + "/done?order=9"})
	var loc string
	b.Run(
		chromedp.Navigate(redirectURL(t, p)),
		browser.Loaded("#card_number"),
		chromedp.SendKeys("#card_number", "4242 4242 4242 4242", chromedp.ByID),
		chromedp.SendKeys("#card_expiry", "12/30", chromedp.ByID),
		chromedp.SendKeys("#card_cvc", "123", chromedp.ByID),
		chromedp.SendKeys("#card_name", "Ada Lovelace", chromedp.ByID),
	)
	b.Snap("card-filled")
	b.Run(
		chromedp.Click("#submit-card", chromedp.ByID),
		browser.Loaded("#thanks"),
		chromedp.Location(&loc),
	)
	if !strings.HasPrefix(loc, shop.URL+"/done?order=9&") {
		t.Fatalf("landed on %s, want the shop's return_url", loc)
	}
	if q := shop.Got(); q.Get("payment_id") != p["id"] || q.Get("status") != "captured" {
		t.Errorf("return_url query = %v", q)
	}
	_, got := f.api(t, "GET", "/v1/payments/"+p["id"].(string), nil)
	pm, _ := got["payment_method"].(map[string]any)
	card, _ := pm["card"].(map[string]any)
	if got["status"] != "captured" || pm["type"] != "card" || card["last4"] != "4242" || card["brand"] != "visa" {
		t.Errorf("payment = %v", got)
	}
	// The card form sent pay.js's report: the typing in its four fields.
	if _, ev := f.evaluation(t, p["id"].(string)); !ev.Event.Signals.Present ||
		ev.Event.Signals.KeyEvents < len("4242 4242 4242 4242"+"12/30"+"123"+"Ada Lovelace") || ev.Event.Signals.FocusChanges < 4 {
		t.Errorf("signals of the card form %+v", ev.Event.Signals)
	}

	// A declined card: the page says why and shows no card number.
	p = f.createPayment(t, map[string]any{"amount": 500, "currency": "EUR", "return_url": shop.URL + "/done"})
	var text, html string
	b.Run(
		chromedp.Navigate(redirectURL(t, p)),
		browser.Loaded("#card_number"),
		chromedp.SendKeys("#card_number", acquirer.CardInsufficientFunds, chromedp.ByID),
		chromedp.SendKeys("#card_expiry", "12/30", chromedp.ByID),
		chromedp.SendKeys("#card_cvc", "123", chromedp.ByID),
		chromedp.Click("#submit-card", chromedp.ByID),
		browser.Loaded(".status"),
		chromedp.Text(".status", &text, chromedp.ByQuery),
		chromedp.OuterHTML("html", &html, chromedp.ByQuery),
	)
	b.Snap("card-declined")
	if !strings.Contains(text, "insufficient funds") {
		t.Errorf("declined page says %q", text)
	}
	if strings.Contains(html, acquirer.CardInsufficientFunds) || strings.Contains(html, acquirer.CardApproved) {
		t.Error("the page holds a card number")
	}
	_, got = f.api(t, "GET", "/v1/payments/"+p["id"].(string), nil)
	if got["status"] != "failed" || got["failure_code"] != "insufficient_funds" {
		t.Errorf("declined payment = %v", got)
	}

	// A wrong number is shown next to its field, not echoed.
	p = f.createPayment(t, map[string]any{"amount": 500, "currency": "EUR"})
	var fieldErr string
	b.Run(
		chromedp.Navigate(redirectURL(t, p)),
		browser.Loaded("#card_number"),
		chromedp.SendKeys("#card_number", "4242424242424241", chromedp.ByID),
		chromedp.SendKeys("#card_expiry", "12/30", chromedp.ByID),
		chromedp.SendKeys("#card_cvc", "123", chromedp.ByID),
		chromedp.Click("#submit-card", chromedp.ByID),
		browser.Loaded("#card_number-error"),
		chromedp.Text("#card_number-error", &fieldErr, chromedp.ByID),
		chromedp.OuterHTML("html", &html, chromedp.ByQuery),
	)
	if fieldErr == "" || strings.Contains(html, "4242424242424241") {
		t.Errorf("field error %q; number echoed: %v", fieldErr, strings.Contains(html, "4242424242424241"))
	}
	for _, pan := range []string{acquirer.CardApproved, acquirer.CardInsufficientFunds, "4242424242424241"} {
		if strings.Contains(f.logs.String(), pan) {
			t.Errorf("the logs hold the card number %s…", pan[:6])
		}
	}
}
