package account_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/internal/browser"
	"github.com/kassa/kassa/risk"
)

// TestBrowserAccountAccessibility runs axe-core (the npm package,
// injected into the page) on every account page a payer meets, at a
// phone's and a desktop's width: sign-up and its code, password and
// identity steps (also with an error), login (also with an error), the
// second factor a new device is asked for, the account page, a step-up
// challenge before login and the development outbox. No serious or
// critical violation may remain.
func TestBrowserAccountAccessibility(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	if !browser.AxeAvailable() {
		b.Axe("any page") // skips loudly, or fails when CI requires axe-core
		return
	}
	f.addRule(t, "large payments need a code", "amount >= 50000", risk.Challenge, risk.FactorOTP)
	check := func(what string, width int64) {
		t.Helper()
		name := fmt.Sprintf("%s-%d", what, width)
		b.Axe(name)
		b.Snap(name)
	}
	for i, width := range []int64{375, 1280} {
		b.Run(emulation.SetDeviceMetricsOverride(width, 900, 1, width < 500))
		email, phone := fmt.Sprintf("axe%d@example.com", i), fmt.Sprintf("+43 660 765432%d", i)
		phoneE164 := fmt.Sprintf("+43660765432%d", i)

		b.Run(chromedp.Navigate(f.origin+"/privacy"), browser.Loaded("h1"))
		check("privacy", width)
		b.Run(chromedp.Navigate(f.origin+"/signup"), browser.Loaded("#signup"))
		check("signup", width)
		b.Run(chromedp.SendKeys("#email", "not-an-address", chromedp.ByID), clickTo("#signup button", "#signup"))
		check("signup-error", width)
		b.Run(chromedp.Navigate(f.origin+"/signup"), browser.Loaded("#signup"),
			chromedp.SendKeys("#email", email, chromedp.ByID), chromedp.SendKeys("#phone", phone, chromedp.ByID),
			clickTo("#signup button", "#signup-code"))
		check("signup-code", width)
		emailCode := f.outboxCode(t, b, email)
		check("outbox", width)
		b.Run(chromedp.Navigate(f.origin+"/signup/verify"), browser.Loaded("#signup-code"),
			chromedp.SendKeys("#code", emailCode, chromedp.ByID), clickTo("#signup-code button", "#signup-code"))
		phoneCode := f.outboxCode(t, b, phoneE164)
		b.Run(chromedp.Navigate(f.origin+"/signup/verify"), browser.Loaded("#signup-code"),
			chromedp.SendKeys("#code", phoneCode, chromedp.ByID), clickTo("#signup-code button", "#signup-password"))
		check("signup-password", width)
		b.Run(chromedp.SendKeys("#password", goodPassword, chromedp.ByID), clickTo("#signup-password button", "#kyc"))
		check("signup-kyc", width)
		b.Run(clickTo("#skip", "#passkeys"))
		check("account", width)

		b.Run(clickTo("#logout", "#login"))
		check("login", width)
		b.Run(chromedp.SendKeys("#email", email, chromedp.ByID), chromedp.SendKeys("#password", "wrong password!", chromedp.ByID),
			clickTo("#login button", "#login"))
		check("login-error", width)

		b.Run(chromedp.Navigate(f.origin+"/login/forgot"), browser.Loaded("#recover-email"))
		check("recover", width)
		b.Run(chromedp.SendKeys("#email", email, chromedp.ByID), clickTo("#recover-email button", "#recover-code"))
		check("recover-code", width)
		b.Run(chromedp.SendKeys("#code", f.lastCode(t, email), chromedp.ByID), clickTo("#recover-code button", "#recover-factor"))
		check("recover-factor", width)

		// A payment stepped up with a code, before the payer logs in.
		p := f.createPayment(t, 60000, "https://shop.example/r")
		pin := f.issue(t, 60000).PIN
		b.Run(chromedp.Navigate(f.origin+"/pay/"+p.ID+"?client_secret="+url.QueryEscape(p.ClientSecret)),
			browser.Loaded("#pin-1"), chromedp.SendKeys("#pin-1", pin, chromedp.ByID), clickTo("#submit", "#next"))
		check("payment-challenged", width)
		b.Run(clickTo("#next", "#challenge-cancel"))
		check("challenge", width)
	}
	// The second factor a login from a new device is asked for.
	const email = "axe-new@example.com"
	f.signUp(t, email, "+4915112348888")
	b2 := browser.New(t)
	for _, width := range []int64{375, 1280} {
		b2.Run(emulation.SetDeviceMetricsOverride(width, 900, 1, width < 500), chromedp.Navigate(f.origin+"/login"),
			browser.Loaded("#login"), chromedp.SendKeys("#email", email, chromedp.ByID),
			chromedp.SendKeys("#password", goodPassword, chromedp.ByID), clickTo("#login button", "#otp"))
		name := fmt.Sprintf("login-factor-%d", width)
		b2.Axe(name)
		b2.Snap(name)
	}
	// The same pages in German: login (also with an error), the second
	// factor with a code sent, and the account page.
	const emailDE = "axe-de@example.com"
	f.signUp(t, emailDE, "+4915112348889")
	for _, width := range []int64{375, 1280} {
		b3 := browser.New(t)
		check := func(what string) {
			t.Helper()
			name := fmt.Sprintf("de-%s-%d", what, width)
			var lang string
			if b3.Run(chromedp.Evaluate(`document.documentElement.lang`, &lang)); lang != "de" {
				t.Errorf("%s: page language %q, want de", name, lang)
			}
			b3.Axe(name)
			b3.Snap(name)
		}
		b3.Run(network.Enable(), network.SetExtraHTTPHeaders(network.Headers{"Accept-Language": "de-AT,de;q=0.9"}),
			emulation.SetDeviceMetricsOverride(width, 900, 1, width < 500),
			chromedp.Navigate(f.origin+"/login"), browser.Loaded("#login"))
		check("login")
		b3.Run(chromedp.SendKeys("#email", emailDE, chromedp.ByID), chromedp.SendKeys("#password", "wrong password!", chromedp.ByID),
			clickTo("#login button", "#login"))
		check("login-error")
		b3.Run(chromedp.SendKeys("#password", goodPassword, chromedp.ByID), clickTo("#login button", "#otp"),
			clickTo("#send-email", "#factor-otp"))
		check("login-factor")
		b3.Run(chromedp.SendKeys("#otp-code", f.lastCode(t, emailDE), chromedp.ByID), clickTo("#factor-otp button", "#passkeys"))
		check("account")
	}
}
