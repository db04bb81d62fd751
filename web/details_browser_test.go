package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/internal/browser"
)

// TestBrowserCardFormDetails: the card form names the card's network as
// the number is typed, has expiry and CVC side by side and the name in
// the text font, and the page's h1 is larger than its h2; at a phone's and
// a desktop's width, with a way back to the shop and the time limit in
// the browser's time zone (Asia/Tokyo), in English and German.
func TestBrowserCardFormDetails(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	for i, width := range []int64{375, 1280} {
		locale := []string{"en-IE", "de-AT"}[i]
		p := f.createPayment(t, map[string]any{"amount": 2500, "currency": "EUR", "return_url": "https://shop.example/r", "locale": locale})
		var until, untilISO, untilSentence string
		var visa, amex, nameFont string
		var expTop, cvcTop, h1, h2 float64
		var back bool
		b.Run(
			emulation.SetDeviceMetricsOverride(width, 900, 1, width < 500),
			emulation.SetTimezoneOverride("Asia/Tokyo"),
			chromedp.Navigate(redirectURL(t, p)),
			browser.Loaded("#card_number"),
			chromedp.SendKeys("#card_number", "4242 42", chromedp.ByID),
			chromedp.Text("#card-brand", &visa, chromedp.ByID),
			chromedp.Evaluate(`document.getElementById("card_number").value = ""`, nil),
			chromedp.SendKeys("#card_number", "3782 8224", chromedp.ByID),
			chromedp.Text("#card-brand", &amex, chromedp.ByID),
			chromedp.Evaluate(`document.getElementById("card_expiry").getBoundingClientRect().top`, &expTop),
			chromedp.Evaluate(`document.getElementById("card_cvc").getBoundingClientRect().top`, &cvcTop),
			chromedp.Evaluate(`getComputedStyle(document.getElementById("card_name")).fontFamily`, &nameFont),
			chromedp.Evaluate(`parseFloat(getComputedStyle(document.querySelector("h1")).fontSize)`, &h1),
			chromedp.Evaluate(`parseFloat(getComputedStyle(document.querySelector("h2")).fontSize)`, &h2),
			chromedp.Evaluate(`!!document.querySelector("a#back[href^='https://shop.example/r']")`, &back),
			chromedp.Text("#until-time", &until, chromedp.ByID),
			chromedp.Text("#until", &untilSentence, chromedp.ByID),
			chromedp.Evaluate(`document.getElementById("until-time").getAttribute("datetime")`, &untilISO),
		)
		b.Snap("card-details")
		if visa != "Visa" || amex != "American Express" {
			t.Errorf("%d px: brand shown %q and %q, want Visa and American Express", width, visa, amex)
		}
		if expTop != cvcTop {
			t.Errorf("%d px: expiry at %v, CVC at %v: not side by side", width, expTop, cvcTop)
		}
		if strings.Contains(nameFont, "monospace") {
			t.Errorf("%d px: the name field is in %s", width, nameFont)
		}
		if h1 <= h2 {
			t.Errorf("%d px: h1 %vpx, h2 %vpx", width, h1, h2)
		}
		if !back {
			t.Errorf("%d px: no way back to the shop", width)
		}
		at, err := time.Parse(time.RFC3339, untilISO)
		if err != nil {
			t.Fatalf("%d px: until %q: %v", width, untilISO, err)
		}
		want := []string{"Pay by ", "Bezahlen Sie bis "}[i]
		if local := at.In(tokyo).Format("15:04"); !strings.Contains(until, local) || strings.Contains(until, "UTC") ||
			!strings.HasPrefix(untilSentence, want) {
			t.Errorf("%d px, %s: the time limit reads %q (%q), want %q… with Tokyo's %s", width, locale, untilSentence, until, want, local)
		}
	}
}
