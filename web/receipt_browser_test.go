package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/internal/browser"
)

// TestBrowserVoucherReceipt: at a phone's and a desktop's width, in
// English and German, paying with two vouchers shows what is left on
// each in place of the form — the serial's tail, the last four digits of
// the PIN typed for it (the script's; the server sent none), the balance
// in the payer's language — with focus on the heading and the way back
// to the shop, which the payer then takes. No PIN is in the page whole.
func TestBrowserVoucherReceipt(t *testing.T) {
	f := newFixture(t)
	f.allowAutomatedBrowser(t)
	b := browser.New(t)
	shop := browser.NewShop(t)
	for _, c := range []struct {
		width             int64
		lang              string
		head, pin, left   string
		empty, serialText string
	}{
		{375, "en", "Left on your vouchers", "PIN ending ", "€5.00", "Nothing left", "Voucher, serial number ••••\u00a0"},
		{1280, "en", "Left on your vouchers", "PIN ending ", "€5.00", "Nothing left", "Voucher, serial number ••••\u00a0"},
		{375, "de", "Restguthaben Ihrer Gutscheine", "PIN endet auf ", "5,00\u00a0€", "Aufgebraucht", "Gutschein, Seriennummer ••••\u00a0"},
		{1280, "de", "Restguthaben Ihrer Gutscheine", "PIN endet auf ", "5,00\u00a0€", "Aufgebraucht", "Gutschein, Seriennummer ••••\u00a0"},
	} {
		vs := f.issue(t, 2, 1500, "EUR")
		p := f.createPayment(t, map[string]any{"amount": 2500, "currency": "EUR", "locale": c.lang,
			"return_url": shop.URL + "/done?order=8"})
		var rows []string
		var head, focused, html, loc string
		b.Run(
			emulation.SetDeviceMetricsOverride(c.width, 900, 1, c.width < 500),
			chromedp.Navigate(redirectURL(t, p)),
			browser.Loaded("#pin-1"),
			chromedp.SendKeys("#pin-1", vs[0].PIN, chromedp.ByID),
			chromedp.Click("#add-pin", chromedp.ByID),
			chromedp.WaitVisible("#pin-2", chromedp.ByID),
			chromedp.SendKeys("#pin-2", vs[1].PIN[:8]+" "+vs[1].PIN[8:], chromedp.ByID),
			chromedp.Click("#submit", chromedp.ByID),
			browser.Loaded("#vouchers-left .pin-tail:not(:empty)"),
			chromedp.Text("#left-head", &head, chromedp.ByID),
			chromedp.Evaluate(`Array.from(document.querySelectorAll("#vouchers-left li")).map(e => e.innerText.replace(/[ \t\n]+/g, " ").trim())`, &rows),
			chromedp.Evaluate(`document.activeElement.tagName`, &focused),
			chromedp.OuterHTML("html", &html, chromedp.ByQuery),
		)
		b.Snap("voucher-receipt-" + c.lang)
		if head != c.head {
			t.Errorf("%d px, %s: receipt heading %q, want %q", c.width, c.lang, head, c.head)
		}
		want := []string{
			c.serialText + vs[0].Serial[8:] + " " + c.pin + vs[0].PIN[12:] + " " + c.empty,
			c.serialText + vs[1].Serial[8:] + " " + c.pin + vs[1].PIN[12:] + " " + c.left,
		}
		if strings.Join(rows, "\n") != strings.Join(want, "\n") {
			t.Errorf("%d px, %s: receipt rows\n%q\nwant\n%q", c.width, c.lang, rows, want)
		}
		if focused != "H1" {
			t.Errorf("%d px, %s: focus on %s after paying, want the heading", c.width, c.lang, focused)
		}
		for _, v := range vs {
			if strings.Contains(html, v.PIN) || strings.Contains(html, v.PIN[8:]) || strings.Contains(html, v.Serial) {
				t.Errorf("%d px, %s: the receipt's page holds a PIN, most of one, or a whole serial", c.width, c.lang)
			}
		}
		b.Run(chromedp.Click("#back", chromedp.ByID), browser.Loaded("#thanks"), chromedp.Location(&loc))
		if q := shop.Got(); q.Get("payment_id") != p["id"] || q.Get("status") != "captured" || q.Get("order") != "8" {
			t.Errorf("%d px, %s: back to the shop at %s", c.width, c.lang, loc)
		}
	}
}
