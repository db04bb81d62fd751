package account_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
)

// credit puts amount on a payer's wallet in cur, as a payout to the
// wallet books it (payout_clearing → wallet:<cus>:<CUR>, never negative).
func (f *fixture) credit(t *testing.T, customerID string, amount money.Amount, cur money.Currency) {
	t.Helper()
	ctx := context.Background()
	acct := payout.WalletAccount(customerID, cur)
	res, err := f.led.CreateAccounts(ctx, "", []ledger.Account{
		{ID: "payout_clearing:" + string(cur), Currency: cur, Code: 4},
		{ID: acct, Currency: cur, Code: 5, Flags: ledger.DebitsMustNotExceedCredits}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Code != ledger.OK && r.Code != ledger.Exists {
			t.Fatalf("wallet accounts: %v", res)
		}
	}
	res, err = f.led.CreateTransfers(ctx, "", []ledger.Transfer{{ID: fmt.Sprintf("fund:%s:%d", acct, amount),
		DebitAccountID: "payout_clearing:" + string(cur), CreditAccountID: acct, Amount: amount, Currency: cur, Code: 1}})
	if err != nil || res[0].Code != ledger.OK {
		t.Fatalf("credit wallet: %v %v", res, err)
	}
}

// TestPayWithWallet: the payment page offers the wallet only to a
// logged-in payer with a balance in the payment's currency; paying from
// it debits that payer's wallet and nobody else's; a stranger without a
// session who posts the wallet form is refused, nothing charged.
func TestPayWithWallet(t *testing.T) {
	f := newFixture(t)
	alice := f.signUp(t, "alice@example.com", "+4915112340001")
	f.credit(t, alice.Session.CustomerID, 5000, "EUR")
	bob := f.signUp(t, "bob@example.com", "+4915112340002")
	pageOf := func(p payment.Payment) string {
		return "/pay/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret)
	}
	walletPost := func(v *visitor, p payment.Payment) int {
		return v.post("/pay/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "method": {payment.MethodKassaBalance},
			"csrf": {""}}).StatusCode
	}

	p := f.createPayment(t, 2000, "https://shop.example/done")
	// A stranger: no form, and the form posted anyway is refused.
	stranger := f.visitor(t)
	stranger.get(pageOf(p))
	if strings.Contains(stranger.body, `id="pay-wallet"`) {
		t.Fatal("the wallet form is shown to a payer who is not logged in")
	}
	if st := walletPost(stranger, p); st != 422 || !strings.Contains(stranger.body, "Log in to your Kassa account") {
		t.Fatalf("anonymous wallet post = %d\n%s", st, stranger.shown())
	}
	// Bob is logged in but has no balance: no form; his post is refused
	// and alice's wallet is untouched.
	b := f.visitor(t)
	b.setSession(bob)
	b.get(pageOf(p))
	if strings.Contains(b.body, `id="pay-wallet"`) {
		t.Fatal("the wallet form is shown to a payer without a balance")
	}
	if st := walletPost(b, p); st != 422 || !strings.Contains(b.body, "does not cover the amount") {
		t.Fatalf("bob's wallet post = %d\n%s", st, b.shown())
	}
	if got := f.payment(t, p.ID); got.Status != payment.StatusRequiresAction || got.AmountCaptured != 0 {
		t.Fatalf("after refused wallet posts the payment is %s, %d captured", got.Status, got.AmountCaptured)
	}

	// Alice sees her balance and pays from it.
	a := f.visitor(t)
	a.setSession(alice)
	a.wantPage("alice's payment page", a.get(pageOf(p)), 200, `id="pay-wallet"`, "Your balance: €50.00", "Pay €20.00 from your balance")
	resp := a.post("/pay/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "method": {payment.MethodKassaBalance}, "csrf": {""}})
	if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "https://shop.example/done") {
		t.Fatalf("alice's wallet payment = %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), a.shown())
	}
	got := f.payment(t, p.ID)
	if got.Status != payment.StatusCaptured || got.MethodType != payment.MethodKassaBalance || got.PayerID != alice.Session.CustomerID {
		t.Fatalf("paid: %s %s payer %q", got.Status, got.MethodType, got.PayerID)
	}
	if avail, err := f.payments.WalletAvailable(context.Background(), alice.Session.CustomerID, "EUR"); err != nil || avail != 3000 {
		t.Fatalf("alice's wallet after paying 20.00: %d, %v", avail, err)
	}

	// The account page shows the balance and the movement; a refund
	// comes back onto it.
	a.wantPage("account page", a.get("/account"), 200, `id="wallet-EUR"`, "€30.00</strong> available",
		"Payment to Acme Bets &amp; Games", "-€20.00")
	if _, _, err := f.payments.CreateRefund(context.Background(), f.merchant.ID, payment.RefundRequest{Payment: p.ID}); err != nil {
		t.Fatal(err)
	}
	a.wantPage("account page after the refund", a.get("/account"), 200, "€50.00</strong> available", "Refund</td>", "&#43;€20.00")
	// A held payment captured in part, another canceled: one row each,
	// with what it took.
	ctx := context.Background()
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
	a.wantPage("account page after held payments", a.get("/account"), 200, "€44.00</strong> available", "-€6.00",
		"(reservation released)</td><td class=\"num\">€0.00")
	if n := strings.Count(a.body, "<tr><td>"); n != 5 {
		t.Errorf("%d wallet rows, want 5 (credit, payment, refund, captured, released)", n)
	}
	// In German, every row and amount is German; no row names an id.
	a.acceptLanguage = "de-AT"
	a.wantPage("German account page", a.get("/account"), 200, "44,00\u00a0€</strong> verfügbar", "Zahlung an Acme Bets &amp; Games",
		"Rückerstattung", "Sonstige Buchung", "&#43;20,00\u00a0€", "nicht abgebucht (Reservierung aufgehoben)</td><td class=\"num\">0,00\u00a0€")
	history, _, _ := strings.Cut(a.body[strings.Index(a.body, `id="wallet-EUR-history"`)+1:], "</table>")
	if strings.Contains(history, ">Payment") || strings.Contains(history, "pay_") || strings.Contains(history, "re_") {
		t.Errorf("the German wallet history shows English words or ids:\n%s", a.shown())
	}
	a.acceptLanguage = ""
	b.get("/account")
	if strings.Contains(b.body, `id="wallet-EUR"`) {
		t.Errorf("bob, with no wallet, is shown one:\n%s", b.shown())
	}

	// A payment in another currency: no form for a EUR balance.
	usd, err := f.payments.Create(context.Background(), f.merchant.ID, payment.CreateRequest{Amount: 100, Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	a.get(pageOf(usd))
	if strings.Contains(a.body, `id="pay-wallet"`) {
		t.Fatal("a EUR balance is offered for a USD payment")
	}
}
