package account_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
)

// apiWordRE finds what a payer must never read on a wallet page: error
// codes and field names (snake_case), ids, and the API's states and terms.
var apiWordRE = regexp.MustCompile(`\b[a-z0-9]+_[a-z0-9_]+\b|\b(pay|re|po|cus|dev|txn|wal)_[A-Za-z0-9]{4,}|` +
	`(?i)\b(kassa.balance|payment.method|requires.action|captured|authorized|pending|param|null|must be|no such|ledger|transfer)\b`)

// TestWalletPagesWording: every page and refusal of the wallet — the
// form on the payment page with the balance, a post without an account,
// a balance that does not cover the amount, and the account page's balance and history with payments,
// refunds, held and released amounts — is written for payers in English
// and in German: the catalogue's text, no code, id or API term, and no
// English on a German page.
func TestWalletPagesWording(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i, lang := range []string{"en-IE", "de-AT"} {
		de := lang == "de-AT"
		alice := f.signUp(t, []string{"alice@example.com", "otto@example.com"}[i], []string{"+4915112340001", "+4915112341111"}[i])
		f.credit(t, alice.Session.CustomerID, 5000, "EUR")
		bob := f.signUp(t, []string{"bob@example.com", "neu@example.com"}[i], []string{"+4915112340002", "+4915112340003"}[i])
		visit := func() *visitor {
			v := f.visitor(t)
			v.acceptLanguage = lang
			return v
		}
		a, b, stranger := visit(), visit(), visit()
		a.setSession(alice)
		b.setSession(bob)
		page := func(p payment.Payment) string {
			return "/pay/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret)
		}
		walletPost := func(v *visitor, p payment.Payment) {
			v.post("/pay/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "method": {payment.MethodKassaBalance}, "csrf": {""}})
		}
		check := func(v *visitor, what string, want ...string) {
			t.Helper()
			text := germanText(v.body)
			for _, w := range want {
				if !strings.Contains(v.body, w) {
					t.Errorf("%s (%s): the page lacks %q\n%s", what, lang, w, text)
				}
			}
			if m := apiWordRE.FindString(text); m != "" {
				t.Errorf("%s (%s): the page shows %q\n%s", what, lang, m, text)
			}
			if de {
				wantGerman(t, v, what)
			}
		}
		pick := func(en, german string) string {
			if de {
				return german
			}
			return en
		}

		p := f.createPayment(t, 2000, "https://shop.example/done")
		a.get(page(p))
		check(a, "the wallet form", pick("Your balance: €50.00", "Ihr Guthaben: 50,00\u00a0€"),
			pick("Pay €20.00 from your balance", "20,00\u00a0€ mit Guthaben bezahlen"))
		stranger.get(page(p))
		walletPost(stranger, p)
		check(stranger, "wallet without an account", pick("Log in to your Kassa account", "Melden Sie sich bei Ihrem Kassa-Konto an"))
		b.get(page(p))
		walletPost(b, p)
		check(b, "balance too small", pick("does not cover the amount", "deckt den Betrag nicht"))
		// (A payment of another account, payer_mismatch, is not reached
		// from the pages: web's TestWalletMessages checks its text.)

		// The account page's balance and history: a payment, its refund, a
		// held payment captured in part and one released.
		q := f.createPayment(t, 1500, "https://shop.example/done")
		a.get(page(q))
		walletPost(a, q)
		if _, _, err := f.payments.CreateRefund(ctx, f.merchant.ID, payment.RefundRequest{Payment: q.ID}); err != nil {
			t.Fatal(err)
		}
		for _, capture := range []money.Amount{600, 0} {
			h, err := f.payments.Create(ctx, f.merchant.ID, payment.CreateRequest{Amount: 1000, Currency: "EUR", CaptureMethod: payment.CaptureManual})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.payments.Confirm(ctx, f.merchant.ID, h.ID, payment.ConfirmRequest{ClientSecret: h.ClientSecret,
				Method: payment.MethodKassaBalance, PayerID: alice.Session.CustomerID}); err != nil {
				t.Fatal(err)
			}
			if capture > 0 {
				_, err = f.payments.Capture(ctx, f.merchant.ID, h.ID, &capture)
			} else {
				_, err = f.payments.Cancel(ctx, f.merchant.ID, h.ID)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		// One more, held: its amount shows as reserved.
		h, err := f.payments.Create(ctx, f.merchant.ID, payment.CreateRequest{Amount: 300, Currency: "EUR", CaptureMethod: payment.CaptureManual})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.payments.Confirm(ctx, f.merchant.ID, h.ID, payment.ConfirmRequest{ClientSecret: h.ClientSecret,
			Method: payment.MethodKassaBalance, PayerID: alice.Session.CustomerID}); err != nil {
			t.Fatal(err)
		}
		a.get("/account")
		check(a, "the account page's wallet", pick("Payment to Acme Bets &amp; Games", "Zahlung an Acme Bets &amp; Games"),
			pick("Refund", "Rückerstattung"), pick("reservation released", "Reservierung aufgehoben"),
			pick("€3.00 reserved by payments not yet final", "3,00\u00a0€ reserviert für Zahlungen"))
	}
}
