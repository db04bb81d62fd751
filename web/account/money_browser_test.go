package account_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/internal/browser"
	"github.com/kassa/kassa/payout"
)

// TestBrowserTopUpPayWithdraw: in Chromium, at a phone's and a desktop's
// width, a logged-in, identity-verified payer tops up 20.00 from the
// account page (the form sent with the keyboard), pays the top-up with a
// voucher on the payment page and comes back to a balance of 20.00, pays
// 5.00 with the balance at a shop, and withdraws 7.50 to a bank account
// in their name; the account page shows it. axe-core finds no serious or
// critical violation on the account page with the forms, after the
// top-up and after the withdrawal.
func TestBrowserTopUpPayWithdraw(t *testing.T) {
	f := newFixture(t)
	f.allowAutomatedBrowser(t)
	shop := browser.NewShop(t)
	for i, width := range []int64{375, 1280} {
		email := fmt.Sprintf("topup%d@example.com", i)
		res := f.signUp(t, email, fmt.Sprintf("+491511234010%d", i))
		cus := res.Session.CustomerID
		if _, err := f.identity.SubmitKYC(context.Background(), cus, identity.IdentityData{GivenName: "Grace", FamilyName: "Hopper",
			BirthDate: time.Date(1990, 12, 9, 0, 0, 0, 0, time.UTC), Address: identity.Address{Line1: "Ringstraße 1", City: "Wien",
				PostalCode: "1010", Country: "AT"}, DocumentType: identity.DocumentPassport, DocumentCountry: "AT", DocumentNumber: "P7654321"}); err != nil {
			t.Fatal(err)
		}
		res = f.freshFactor(t, email, res)
		b := browser.New(t)
		f.setCookie(b, "kassa_session", res.Token)
		f.setCookie(b, "kassa_device", res.DeviceToken)
		check := func(what string) {
			t.Helper()
			name := fmt.Sprintf("%s-%d", what, width)
			b.Axe(name) // skips loudly without axe-core, fails when CI requires it
			b.Snap(name)
		}
		b.Run(emulation.SetDeviceMetricsOverride(width, 900, 1, width < 500),
			chromedp.Navigate(f.origin+"/account"), browser.Loaded("#topup-amount"))
		check("account-money")

		// Top up with the keyboard: type the amount, Enter sends the form.
		pin := f.issue(t, 2000).PIN
		b.Run(chromedp.Evaluate(`window.kassaTestOld = true`, nil), chromedp.Focus("#topup-amount", chromedp.ByID),
			chromedp.SendKeys("#topup-amount", "20.00"+kb.Enter, chromedp.ByID), newPage("#pin-1"))
		if s := text(b, "body"); !strings.Contains(s, "€20.00") {
			t.Fatalf("the top-up's payment page does not say €20.00:\n%s", s)
		}
		// Paid with a voucher, the page shows what is left on it and the
		// way back to the balance.
		b.Run(chromedp.SendKeys("#pin-1", pin, chromedp.ByID), chromedp.Click("#submit", chromedp.ByID),
			browser.Loaded("#vouchers-left"), chromedp.Click("#back", chromedp.ByID), browser.Loaded("#wallet"))
		if s := text(b, "#wallet"); !strings.Contains(s, "€20.00") {
			t.Fatalf("wallet after the top-up: %q", s)
		}
		check("account-topped-up")

		// The balance pays at a shop.
		p := f.createPayment(t, 500, shop.URL+"/done?order="+fmt.Sprint(i))
		b.Run(chromedp.Navigate(f.origin+"/pay/"+p.ID+"?client_secret="+url.QueryEscape(p.ClientSecret)),
			browser.Loaded("#submit-wallet"), clickTo("#submit-wallet", "#thanks"))
		if q := shop.Got(); q.Get("payment_id") != p.ID || q.Get("status") != "captured" {
			t.Fatalf("paying with the balance landed with %v", q)
		}

		// Withdraw 7.50 to a bank account in the payer's name.
		b.Run(chromedp.Navigate(f.origin+"/account#withdraw"), browser.Loaded("#withdraw-amount"),
			chromedp.SendKeys("#withdraw-amount", "7,50", chromedp.ByID), chromedp.SendKeys("#iban", ibanPaid, chromedp.ByID),
			clickTo("#withdraw-submit", "#withdrawals"))
		if s := text(b, "#withdrawals"); !strings.Contains(s, "€7.50") || strings.Contains(s, "EUR") || !strings.Contains(s, "Being sent") {
			t.Fatalf("withdrawals shown: %q", s)
		}
		if s := text(b, "#wallet"); !strings.Contains(s, "€7.50 available") {
			t.Fatalf("wallet after paying 5.00 and withdrawing 7.50 of 20.00: %q", s)
		}
		check("account-withdrawn")
		ws, err := f.payouts.Withdrawals(context.Background(), cus, 10)
		if err != nil || len(ws) != 1 || ws[0].Destination.AccountHolder != "Grace Hopper" || ws[0].Status != payout.StatusPending {
			t.Fatalf("withdrawals: %+v %v", ws, err)
		}
		logs := f.logs.String()
		if !strings.Contains(logs, "account page: withdrawal") || !strings.Contains(logs, "account page: top-up created") {
			t.Fatalf("the log does not look like the flow's (%d bytes)", len(logs))
		}
		for _, s := range []string{pin, res.Token, res.DeviceToken, ibanPaid} {
			if strings.Contains(logs, s) {
				t.Errorf("the log contains a PIN, token or IBAN")
			}
		}
	}
}
