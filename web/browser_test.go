package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/internal/browser"
	"github.com/kassa/kassa/risk"
)

// TestBrowserPayWithThreeVouchers pays 25.00 EUR with three 10.00 EUR
// vouchers in Chromium (the third only half needed) and lands on the
// shop's return_url with status=captured.
func TestBrowserPayWithThreeVouchers(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	shop := browser.NewShop(t)
	f.allowAutomatedBrowser(t)
	vs := f.issue(t, 3, 1000, "EUR")
	p := f.createPayment(t, map[string]any{"amount": 2500, "currency": "EUR", "description": "Deposit to account 1001",
		"return_url": shop.URL + "/done?order=7"})

	var hidden2, hidden4 bool
	var bg string
	b.Run(
		chromedp.Navigate(redirectURL(t, p)),
		browser.Loaded("#pin-1"),
		// The script ran (one field shown) and the nonce'd style applied.
		chromedp.Evaluate(`document.getElementById("pin-2").closest(".pin").hidden`, &hidden2),
		chromedp.Evaluate(`document.getElementById("add-pin").hidden`, &hidden4),
		chromedp.Evaluate(`getComputedStyle(document.body).backgroundColor`, &bg),
	)
	if !hidden2 || hidden4 {
		t.Errorf("with JavaScript: field 2 hidden=%v (want true), add button hidden=%v (want false)", hidden2, hidden4)
	}
	if bg != "rgb(242, 244, 248)" {
		t.Errorf("body background %q: the page's style did not apply", bg)
	}
	b.Snap("form")
	b.Run(
		chromedp.SendKeys("#pin-1", vs[0].PIN, chromedp.ByID),
		chromedp.Click("#add-pin", chromedp.ByID),
		chromedp.WaitVisible("#pin-2", chromedp.ByID),
		chromedp.SendKeys("#pin-2", vs[1].PIN[:4]+" "+vs[1].PIN[4:8]+" "+vs[1].PIN[8:12]+" "+vs[1].PIN[12:], chromedp.ByID),
		chromedp.Click("#add-pin", chromedp.ByID),
		chromedp.WaitVisible("#pin-3", chromedp.ByID),
		chromedp.SendKeys("#pin-3", vs[2].PIN, chromedp.ByID),
	)
	b.Snap("filled")
	var loc string
	b.Run(
		chromedp.Click("#submit", chromedp.ByID),
		browser.Loaded("#vouchers-left"), // the receipt (TestBrowserVoucherReceipt), then back to the shop
		chromedp.Click("#back", chromedp.ByID),
		browser.Loaded("#thanks"),
		chromedp.Location(&loc),
	)
	if !strings.HasPrefix(loc, shop.URL+"/done?order=7&") {
		t.Fatalf("landed on %s, want the shop's return_url", loc)
	}
	q := shop.Got()
	if q.Get("payment_id") != p["id"] || q.Get("status") != "captured" || q.Get("order") != "7" {
		t.Errorf("return_url query = %v", q)
	}

	// The API agrees: captured in full, the third voucher half used, the
	// merchant's balance holds it.
	_, got := f.api(t, "GET", "/v1/payments/"+p["id"].(string), nil)
	if got["status"] != "captured" || got["amount_captured"] != 2500.0 {
		t.Fatalf("payment = %v", got)
	}
	pm, _ := got["payment_method"].(map[string]any)
	used, _ := pm["vouchers"].([]any)
	var amounts []float64
	for _, u := range used {
		amounts = append(amounts, u.(map[string]any)["amount"].(float64))
	}
	if len(amounts) != 3 || amounts[0] != 1000 || amounts[1] != 1000 || amounts[2] != 500 {
		t.Errorf("voucher amounts %v, want [1000 1000 500]", amounts)
	}
	_, bal := f.api(t, "GET", "/v1/balance", nil)
	avail, _ := bal["available"].([]any)
	if len(avail) != 1 || avail[0].(map[string]any)["amount"] != 2500.0 || avail[0].(map[string]any)["currency"] != "EUR" {
		t.Errorf("balance = %v", bal)
	}
}

// TestBrowserWrongPIN shows a wrong PIN's error next to its field, with
// the PINs typed still in their masked fields (the script keeps them; the
// server writes none into the page) and no PIN anywhere in the page's HTML.
func TestBrowserWrongPIN(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	vs := f.issue(t, 1, 1000, "EUR")
	p := f.createPayment(t, map[string]any{"amount": 1500, "currency": "EUR", "return_url": "https://shop.example/done"})
	wrong := "9999888877776666"
	var errText, focused, describedBy, html string
	var values []string
	b.Run(
		chromedp.Navigate(redirectURL(t, p)),
		browser.Loaded("#pin-1"),
		chromedp.SendKeys("#pin-1", vs[0].PIN, chromedp.ByID),
		chromedp.Click("#add-pin", chromedp.ByID),
		chromedp.WaitVisible("#pin-2", chromedp.ByID),
		chromedp.SendKeys("#pin-2", wrong, chromedp.ByID),
		chromedp.Click("#submit", chromedp.ByID),
		browser.Loaded("#pin-2-error"),
		chromedp.Text("#pin-2-error", &errText, chromedp.ByID),
		chromedp.Evaluate(`document.activeElement.id`, &focused),
		chromedp.Evaluate(`document.getElementById("pin-2").getAttribute("aria-describedby")`, &describedBy),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("input[name=pin]")).map(e => e.value)`, &values),
		chromedp.OuterHTML("html", &html, chromedp.ByQuery),
	)
	b.Snap("wrong-pin")
	if !strings.Contains(errText, "not valid") {
		t.Errorf("error next to field 2 = %q", errText)
	}
	if focused != "pin-2" || !strings.Contains(describedBy, "pin-2-error") {
		t.Errorf("focus on %q, aria-describedby %q; want the wrong field, described by its error", focused, describedBy)
	}
	if len(values) != 10 {
		t.Errorf("%d PIN fields", len(values))
	}
	for i, v := range values {
		want := ""
		switch i {
		case 0:
			want = vs[0].PIN
		case 1:
			want = wrong
		}
		if v != want {
			t.Errorf("field %d holds %q after the error, want %q", i+1, v, want)
		}
	}
	for _, pin := range []string{vs[0].PIN, wrong} {
		if strings.Contains(html, pin) {
			t.Errorf("the page contains PIN %s", pin)
		}
	}
	_, got := f.api(t, "GET", "/v1/payments/"+p["id"].(string), nil)
	if got["status"] != "requires_action" {
		t.Errorf("payment %v after a wrong PIN", got["status"])
	}
}

// TestBrowserWithoutJavaScript pays with scripts disabled: all ten fields
// show, empty ones are ignored.
func TestBrowserWithoutJavaScript(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	shop := browser.NewShop(t)
	vs := f.issue(t, 1, 1000, "EUR")
	p := f.createPayment(t, map[string]any{"amount": 700, "currency": "EUR", "capture_method": "manual",
		"return_url": shop.URL + "/done"})
	var loc string
	b.Run(
		emulation.SetScriptExecutionDisabled(true),
		chromedp.Navigate(redirectURL(t, p)),
		browser.Loaded("#pin-10"),
	)
	b.Snap("no-javascript")
	var shown []bool
	b.Run(chromedp.Evaluate(`Array.from(document.querySelectorAll(".pin")).map(e => e.offsetParent !== null)`, &shown))
	for i, s := range shown {
		if !s {
			t.Errorf("field %d is hidden without JavaScript", i+1)
		}
	}
	b.Run(
		chromedp.SendKeys("#pin-4", vs[0].PIN, chromedp.ByID),
		chromedp.Submit("#pin-4", chromedp.ByID),
		browser.Loaded("#vouchers-left"),
		chromedp.Click("#back", chromedp.ByID),
		browser.Loaded("#thanks"),
		chromedp.Location(&loc),
	)
	if q := shop.Got(); q.Get("status") != "authorized" || q.Get("payment_id") != p["id"] {
		t.Errorf("landed on %s", loc)
	}
	if _, ev := f.evaluation(t, p["id"].(string)); ev.Event.Signals != (risk.Signals{}) {
		t.Errorf("signals %+v without JavaScript", ev.Event.Signals)
	}
}
