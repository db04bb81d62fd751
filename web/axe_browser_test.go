package web_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/internal/browser"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/web"
)

// TestBrowserAccessibility runs axe-core (the npm package, injected into
// the page) on every page of the payment and issuer pages, in English and
// German, at a phone's and a desktop's width: the voucher and card forms,
// fresh and with their errors, each status a payment can show, the
// voucher receipt after paying, the
// issuer's 3-D Secure page and a message page. No serious or critical
// violation may remain.
func TestBrowserAccessibility(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	if !browser.AxeAvailable() {
		b.Axe("any page") // skips loudly, or fails when CI requires axe-core
		return
	}
	f.allowAutomatedBrowser(t)
	addRule(t, f, "block 13.13", "amount == 1313 && webdriver == 0", risk.Block, "")
	addRule(t, f, "codes for 42.42", "amount == 4242 && webdriver == 0", risk.Challenge, risk.FactorOTP)
	ctx := context.Background()
	pinOf := func(amount int) string { return f.issue(t, 1, money.Amount(amount), "EUR")[0].PIN }
	open := func(amount int, extra map[string]any) (map[string]any, string) {
		body := map[string]any{"amount": amount, "currency": "EUR", "description": "Deposit"}
		for k, v := range extra {
			body[k] = v
		}
		p := f.createPayment(t, body)
		return p, redirectURL(t, p)
	}
	// Each page: its URL after a setup, and what to do on it before the check.
	type pageCase struct {
		name    string
		url     func() string
		actions []chromedp.Action
		wait    string
	}
	cases := []pageCase{
		{"form", func() string { _, u := open(2500, map[string]any{"return_url": "https://shop.example/r"}); return u }, nil, "#pin-1"},
		{"voucher-error", func() string { _, u := open(2500, nil); return u }, []chromedp.Action{
			chromedp.SendKeys("#pin-1", "1234 5678 9012 3456", chromedp.ByID),
			chromedp.Click("#submit", chromedp.ByID), browser.Loaded("#pin-1-error"),
		}, "#pin-1"},
		{"card-errors", func() string { _, u := open(2500, nil); return u }, []chromedp.Action{
			chromedp.SendKeys("#card_cvc", "1", chromedp.ByID),
			chromedp.Click("#submit-card", chromedp.ByID), browser.Loaded("#card_number-error"),
		}, "#card_number"},
		{"bank", func() string {
			p, u := open(2500, nil)
			post(t, f, "/pay/"+p["id"].(string), cardForm(p["client_secret"].(string), acquirer.CardThreeDS), nil)
			return u
		}, nil, "#next"},
		{"issuer", func() string {
			p, _ := open(2500, nil)
			post(t, f, "/pay/"+p["id"].(string), cardForm(p["client_secret"].(string), acquirer.CardThreeDS), nil)
			got, err := f.payments.Get(ctx, "", p["id"].(string))
			if err != nil {
				t.Fatal(err)
			}
			return f.ts.URL + web.IssuerURL(got)
		}, nil, "#approve"},
		{"paid", func() string {
			p, u := open(700, map[string]any{})
			post(t, f, "/pay/"+p["id"].(string), payForm(p["client_secret"].(string), pinOf(1000)), nil)
			return u
		}, nil, "h1"},
		{"receipt", func() string {
			_, u := open(2500, map[string]any{"return_url": "https://shop.example/r"})
			return u
		}, []chromedp.Action{
			chromedp.ActionFunc(func(ctx context.Context) error { // a fresh voucher each time
				return chromedp.SendKeys("#pin-1", pinOf(3000), chromedp.ByID).Do(ctx)
			}),
			chromedp.Click("#submit", chromedp.ByID), browser.Loaded("#vouchers-left .pin-tail:not(:empty)"),
		}, "#pin-1"},
		{"declined", func() string {
			p, u := open(1313, map[string]any{"return_url": "https://shop.example/r"})
			post(t, f, "/pay/"+p["id"].(string), payForm(p["client_secret"].(string), pinOf(2000)), nil)
			return u
		}, nil, "h1"},
		{"challenge", func() string {
			p, u := open(4242, nil)
			post(t, f, "/pay/"+p["id"].(string), payForm(p["client_secret"].(string), pinOf(5000)), nil)
			return u
		}, nil, "#next"},
		{"canceled", func() string {
			p, u := open(700, nil)
			f.api(t, "POST", "/v1/payments/"+p["id"].(string)+"/cancel", nil)
			return u
		}, nil, "h1"},
		{"not-found", func() string { return f.ts.URL + "/pay/pay_nothere?client_secret=x" }, nil, "h1"},
	}
	for _, lang := range []string{"en-IE", "de-AT"} {
		b.Run(network.Enable(), network.SetExtraHTTPHeaders(network.Headers{"Accept-Language": lang}))
		for _, width := range []int64{375, 1280} {
			b.Run(emulation.SetDeviceMetricsOverride(width, 900, 1, width < 500))
			for _, c := range cases {
				what := fmt.Sprintf("%s-%s-%d", c.name, lang, width)
				u := c.url()
				if _, err := url.Parse(u); err != nil {
					t.Fatal(err)
				}
				b.Run(chromedp.Navigate(u), browser.Loaded(c.wait))
				if len(c.actions) > 0 {
					b.Run(c.actions...)
				}
				b.Axe(what)
				b.Snap(what)
			}
		}
	}
}
