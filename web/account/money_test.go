package account_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
)

// kycOf gives payouts identity's verified data of a Kassa account, as
// kassa serve does.
type kycOf struct{ id *identity.Service }

func (k kycOf) Identity(ctx context.Context, cus string) (payout.Identity, error) {
	c, err := k.id.Customer(ctx, cus)
	if err != nil {
		return payout.Identity{}, err
	}
	idn := payout.Identity{Email: c.Email, GivenName: c.GivenName, FamilyName: c.FamilyName,
		Verified: c.Level == identity.LevelKYCVerified}
	if idn.Verified {
		d, err := k.id.Identity(ctx, cus)
		if err != nil {
			return payout.Identity{}, err
		}
		idn.DateOfBirth = d.BirthDate.Format(time.DateOnly)
	}
	return idn, nil
}

// verifyKYC completes the visitor's identity verification on the page.
func verifyKYC(t *testing.T, v *visitor, given, family string) {
	t.Helper()
	v.get("/account/kyc")
	resp := v.post("/account/kyc", url.Values{"given_name": {given}, "family_name": {family},
		"birth_date": {"1990-12-10"}, "address_line1": {"Ringstraße 1"}, "address_postal_code": {"1010"},
		"address_city": {"Wien"}, "address_country": {"AT"}, "document_type": {"passport"},
		"document_country": {"AT"}, "document_number": {"P1234567"}})
	v.wantPage("KYC", v.follow(resp), 200, "Identity verified")
}

var ibanPaid = payout.IBANCheckDigits("DE", "100100100000000000")

// TestTopUpAndWithdraw: a logged-in payer tops up with a voucher on the
// hosted payment page and comes back to a balance; spends part of it at
// a merchant; withdraws to a bank account in their own name after a
// fresh second factor, and sees the withdrawal's status. A stranger's
// posts, a stale session and another payer's card are refused, and no
// PIN or IBAN reaches the logs.
func TestTopUpAndWithdraw(t *testing.T) {
	f := newFixture(t)
	email := "ada@example.com"
	ada := f.signUp(t, email, "+4915112340011")
	v := f.visitor(t)
	v.setSession(ada)
	v.wantPage("account page", v.get("/account"), 200, `id="topup"`, `<label for="topup-amount">`, "verify your identity first")

	// Top-up: the form creates a payment of the payer's own and sends
	// them to the payment page.
	resp := v.post("/account/topup", url.Values{"amount": {"abc"}, "currency": {"EUR"}})
	v.wantPage("bad amount", resp, 422, `id="topup-error"`)
	resp = v.post("/account/topup", url.Values{"amount": {"30,00"}, "currency": {"EUR"}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 303 || !strings.HasPrefix(loc, "/pay/pay_") {
		t.Fatalf("top-up = %d %q\n%s", resp.StatusCode, loc, v.shown())
	}
	u, _ := url.Parse(loc)
	pid := strings.TrimPrefix(u.Path, "/pay/")
	p := f.payment(t, pid)
	if !payment.IsTopUp(p) || p.PayerID != ada.Session.CustomerID || p.Amount != 3000 {
		t.Fatalf("top-up payment: %+v", p)
	}
	v.wantPage("top-up payment page", v.get(loc), 200, "€30.00")
	if strings.Contains(v.body, `id="pay-wallet"`) {
		t.Error("a top-up offers to pay with the balance it fills")
	}
	// A stranger with the link cannot pay it into another wallet: the
	// top-up belongs to ada.
	vch := f.issue(t, 3000)
	stranger := f.visitor(t)
	stranger.get(loc)
	stranger.post("/pay/"+pid, url.Values{"client_secret": {p.ClientSecret}, "pin": {vch.PIN}, "csrf": {""}})
	if got := f.payment(t, pid); got.Status != payment.StatusRequiresAction {
		t.Fatalf("a stranger paid ada's top-up: %s", got.Status)
	}
	// Paid with vouchers, the answer is the receipt (what is left on each
	// voucher) with the way back to the balance.
	resp = v.post("/pay/"+pid, url.Values{"client_secret": {p.ClientSecret}, "pin": {vch.PIN}, "csrf": {""}})
	v.wantPage("paying the top-up", resp, 200, `id="vouchers-left"`, `#wallet">`)
	v.wantPage("account after the top-up", v.get("/account"), 200, "€30.00</strong> available")

	// Withdrawing needs KYC, then a fresh second factor.
	verifyKYC(t, v, "Ada", "Lovelace")
	v.wantPage("account, factor not fresh", v.get("/account"), 200, `id="verify-withdraw"`)
	resp = v.post("/account/withdraw", url.Values{"amount": {"10"}, "to": {"bank"}, "iban": {ibanPaid}})
	if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login/verify") {
		t.Fatalf("withdraw without a fresh factor = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	stepUp(t, f, v, email, "/account#withdraw")
	v.wantPage("withdraw form", v.get("/account"), 200, `<form method="post" action="/account/withdraw">`, "A bank account in your name (Ada Lovelace)")
	resp = v.post("/account/withdraw", url.Values{"amount": {"50"}, "to": {"bank"}, "iban": {ibanPaid}})
	v.wantPage("over the balance", resp, 422, "does not cover this amount", `value="`+ibanPaid+`"`)
	resp = v.post("/account/withdraw", url.Values{"amount": {"10"}, "to": {"bank"}, "iban": {"DE00100100100000000000"}})
	v.wantPage("bad IBAN", resp, 422, "check digits")
	resp = v.post("/account/withdraw", url.Values{"amount": {"10"}, "to": {"card:pay_someoneelse"}})
	v.wantPage("another's card", resp, 422, `id="withdraw-error"`)
	v.get("/account")
	form := url.Values{"amount": {"12.50"}, "to": {"bank"}, "iban": {ibanPaid}, "form_id": {"f1"}}
	v.wantPage("withdrawn", v.follow(v.post("/account/withdraw", form)), 200, "Your withdrawal was requested", "Being sent", "DE … 0000", "€17.50</strong> available")
	// The same form again (a double click): one withdrawal.
	v.post("/account/withdraw", form)
	if ws, err := f.payouts.Withdrawals(context.Background(), ada.Session.CustomerID, 10); err != nil || len(ws) != 1 {
		t.Fatalf("withdrawals after a repeated form: %d %v", len(ws), err)
	}
	// The bank takes it: the page says it is on its way.
	if _, err := f.payouts.Process(context.Background()); err != nil {
		t.Fatal(err)
	}
	v.wantPage("in transit", v.get("/account"), 200, "On its way", "<td>Top-up</td>", "<td>Withdrawal<", "-€12.50")
	if n := strings.Count(v.body, "<td>Withdrawal<"); n != 1 {
		t.Errorf("the withdrawal shows %d times in the wallet's history, want once", n)
	}

	// A stranger without a session moves nothing.
	stranger.get("/login")
	resp = stranger.post("/account/withdraw", url.Values{"amount": {"1"}, "to": {"bank"}, "iban": {ibanPaid}})
	if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("a stranger's withdrawal = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if w, _ := f.payouts.Wallet(context.Background(), ada.Session.CustomerID, "EUR"); w.Available != 1750 {
		t.Fatalf("wallet: %+v", w)
	}
	if logs := f.logs.String(); strings.Contains(logs, vch.PIN) || strings.Contains(logs, ibanPaid) {
		t.Error("a PIN or an IBAN is in the logs")
	}
}
