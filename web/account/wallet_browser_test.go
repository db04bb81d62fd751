package account_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/internal/browser"
	"github.com/kassa/kassa/payment"
)

// TestBrowserPayWithWallet: a logged-in payer with 50.00 EUR on their
// wallet opens the payment page in Chromium, sees their balance in the
// wallet form, pays 20.00 from it and lands back on the shop; the
// payment is captured with kassa_balance and the wallet holds 30.00.
func TestBrowserPayWithWallet(t *testing.T) {
	f := newFixture(t)
	f.allowAutomatedBrowser(t)
	shop := browser.NewShop(t)
	res := f.signUp(t, "wanda@example.com", "+4915112340009")
	cus := res.Session.CustomerID
	f.credit(t, cus, 5000, "EUR")
	p := f.createPayment(t, 2000, shop.URL+"/done?order=5")

	b := browser.New(t)
	f.setCookie(b, "kassa_session", res.Token)
	f.setCookie(b, "kassa_device", res.DeviceToken)
	b.Run(
		chromedp.Navigate(f.origin+"/pay/"+p.ID+"?client_secret="+url.QueryEscape(p.ClientSecret)),
		browser.Loaded("#submit-wallet"),
	)
	b.Snap("wallet-form")
	if s := text(b, "#wallet-balance"); !strings.Contains(s, "€50.00") {
		t.Fatalf("wallet balance shown: %q", s)
	}
	b.Run(clickTo("#submit-wallet", "#thanks"))
	if q := shop.Got(); q.Get("payment_id") != p.ID || q.Get("status") != "captured" || q.Get("order") != "5" {
		t.Errorf("landed on the shop with %v", q)
	}
	got := f.payment(t, p.ID)
	if got.Status != payment.StatusCaptured || got.MethodType != payment.MethodKassaBalance || got.PayerID != cus {
		t.Fatalf("payment %s %s payer %q", got.Status, got.MethodType, got.PayerID)
	}
	if avail, err := f.payments.WalletAvailable(context.Background(), cus, "EUR"); err != nil || avail != 3000 {
		t.Fatalf("wallet after paying: %d, %v", avail, err)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"path":"/pay/`+p.ID+`"`) {
		t.Fatalf("the log does not look like the flow's (%d bytes)", len(logs))
	}
	for _, s := range []string{res.Token, res.DeviceToken} {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains a session or device token")
		}
	}
}
