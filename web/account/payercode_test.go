package account_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
)

// challengedFor is a payment for customer, paid without a Kassa account
// and challenged by the merchant's rules.
func challengedFor(t *testing.T, f *fixture, v *visitor, amount money.Amount, customer payment.Customer) payment.Payment {
	t.Helper()
	vch := f.issue(t, 100000)
	p, err := f.payments.Create(context.Background(), f.merchant.ID, payment.CreateRequest{Amount: amount, Currency: "EUR",
		Description: "Deposit", ReturnURL: "https://shop.example/done", Customer: customer})
	if err != nil {
		t.Fatal(err)
	}
	v.get("/pay/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret))
	resp := v.post("/pay/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "pin": {vch.PIN}, "csrf": {""}})
	v.wantPage("challenged payment", resp, 202, "One more step needed")
	return f.payment(t, p.ID)
}

// TestChallengeCodeWithoutAccount: a payment made without a Kassa account
// and stepped up with a one-time code sends the code to the customer the
// merchant named (email or phone), whose message says what it approves
// and names no payment; the right code passes it with no account. A
// stranger holding only the page gets nowhere: payment A's code does not
// pass payment B, guessing fails the payment after a few tries, and the
// full address is never shown. A sign-up code just sent to the address
// does not hold up the step-up's code.
func TestChallengeCodeWithoutAccount(t *testing.T) {
	f := newFixture(t)
	f.addRule(t, "codes from 100.00", "amount >= 10000 && amount < 50000", risk.Challenge, risk.FactorOTP)
	f.addRule(t, "passkeys from 500.00", "amount >= 50000", risk.Challenge, risk.FactorPasskey)
	const email, phone = "pia.payer@example.com", "+436601234567"
	cust := payment.Customer{Email: email, Phone: phone}
	v := f.visitor(t)
	a := challengedFor(t, f, v, 12000, cust)
	page := "/challenge/" + a.ID + "?client_secret=" + url.QueryEscape(a.ClientSecret)
	v.wantPage("challenge without an account", v.get(page), 200, `id="customer-code"`, "no Kassa account is needed",
		"Email me a code (p***@example.com)", "Text me a code (&#43;43********67)")
	if strings.Contains(v.body, email) || strings.Contains(v.body, phone) {
		t.Error("the page shows the customer's whole address or number")
	}

	// A sign-up code to the same address a moment before.
	if _, err := f.identity.SignUp(context.Background(), identity.SignUpRequest{Email: email, Phone: "+4915112340000", Client: testClient}); err != nil {
		t.Fatal(err)
	}
	n := f.outboxCount(t, email)
	resp := v.post("/challenge/"+a.ID, url.Values{"client_secret": {a.ClientSecret}, "action": {"send_code"}, "channel": {"email"}})
	v.wantPage("code sent", v.follow(resp), 200, "We sent you a code", `id="code"`)
	if f.outboxCount(t, email) != n+1 {
		t.Fatal("no step-up code after a sign-up code")
	}
	ms, _ := f.outbox.Messages(context.Background(), email, 1)
	codeA := f.lastCode(t, email)
	if len(ms) == 0 || !strings.HasPrefix(ms[0].Body, codeA+" approves €120.00 to Acme Bets & Games.") || strings.Contains(ms[0].Body+ms[0].Subject, a.ID) {
		t.Errorf("message %+v: not dynamically linked, or names the payment", ms)
	}

	// Payment B, same customer: A's code does not pass it.
	v2 := f.visitor(t)
	b := challengedFor(t, f, v2, 13000, cust)
	v2.get("/challenge/" + b.ID + "?client_secret=" + url.QueryEscape(b.ClientSecret))
	resp = v2.post("/challenge/"+b.ID, url.Values{"client_secret": {b.ClientSecret}, "action": {"send_code"}, "channel": {"sms"}})
	v2.follow(resp)
	codeB := f.lastCode(t, phone)
	if codeB != codeA {
		resp = v2.post("/challenge/"+b.ID, url.Values{"client_secret": {b.ClientSecret}, "action": {"verify_code"}, "sent": {"sms"}, "code": {codeA}})
		v2.wantPage("A's code for B", resp, 422, "This code is wrong or has expired")
	}
	// Guessing B: the wrong tries of all its codes together fail it.
	status := 0
	for i := range 10 {
		resp = v2.post("/challenge/"+b.ID, url.Values{"client_secret": {b.ClientSecret}, "action": {"verify_code"}, "sent": {"sms"},
			"code": {wrongCode(codeB, i)}})
		status = resp.StatusCode
		if status != 422 {
			break
		}
	}
	v2.wantPage("guessing", resp, 402, "Too many wrong codes")
	if got := f.payment(t, b.ID); got.Status != payment.StatusFailed || got.AmountCaptured != 0 {
		t.Errorf("guessed payment %s, captured %d", got.Status, got.AmountCaptured)
	}

	// The right code passes A with no account.
	resp = v.post("/challenge/"+a.ID, url.Values{"client_secret": {a.ClientSecret}, "action": {"verify_code"}, "sent": {"email"}, "code": {codeA}})
	if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "https://shop.example/done?payment_id="+a.ID+"&status=captured") {
		t.Fatalf("right code = %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), v.shown())
	}
	if got := f.payment(t, a.ID); got.Status != payment.StatusCaptured || got.Risk.TransStatus != "Y" || got.PayerID != "" {
		t.Errorf("payment %s %s payer %q", got.Status, got.Risk.TransStatus, got.PayerID)
	}

	// A passkey step-up still needs the account that paid.
	c := challengedFor(t, f, v, 60000, cust)
	v.get("/challenge/" + c.ID + "?client_secret=" + url.QueryEscape(c.ClientSecret))
	if !strings.Contains(v.body, `id="no-payer"`) || strings.Contains(v.body, "send_code") {
		t.Errorf("a passkey challenge offers a code:\n%s", v.shown())
	}
}

// wrongCode is a six-digit code other than code, the i-th such.
func wrongCode(code string, i int) string {
	b := []byte(code)
	b[5] = '0' + (b[5]-'0'+byte(i%9)+1)%10
	return string(b)
}

// TestPayingStaysInView: login and sign-up on the way to a step-up show
// the merchant and the amount being confirmed; with a wrong client
// secret they show nothing of the payment.
func TestPayingStaysInView(t *testing.T) {
	f := newFixture(t)
	f.addRule(t, "codes from 100.00", "amount >= 10000", risk.Challenge, risk.FactorOTP)
	res := f.signUp(t, "otto@example.com", "+4915112341111")
	payer := f.visitor(t)
	payer.setSession(res)
	p := challenged(t, f, payer, 12000, "")
	page := "/challenge/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret)
	v := f.visitor(t)
	for _, path := range []string{"/login", "/signup"} {
		v.wantPage(path, v.get(path+"?next="+url.QueryEscape(page)), 200, `id="paying"`, "€120.00", "Acme Bets &amp; Games")
		v.get(path + "?next=" + url.QueryEscape("/challenge/"+p.ID+"?client_secret=wrong"))
		if strings.Contains(v.body, `id="paying"`) || strings.Contains(v.body, "120.00") {
			t.Errorf("%s with a wrong secret shows the payment", path)
		}
	}
	// Through the sign-up's steps.
	resp := v.post("/signup", url.Values{"email": {"new.payer@example.com"}, "phone": {"+4915112342222"}, "next": {page}})
	v.wantPage("sign-up code step", v.follow(resp), 200, `id="paying"`, "€120.00")
}

// alwaysPolicy asks every login for a second factor, as a risk-based
// policy may on a known device.
type alwaysPolicy struct{}

func (alwaysPolicy) SecondFactor(context.Context, identity.LoginAttempt) (bool, error) {
	return true, nil
}

// TestFactorPageSaysWhy: the second-factor page of a login says the
// device is new only when it is; on a known device it names no reason.
func TestFactorPageSaysWhy(t *testing.T) {
	f := newFixture(t, func(o *fixtureOptions) { o.policy = alwaysPolicy{} })
	res := f.signUp(t, "otto@example.com", "+4915112341111")
	known := f.visitor(t)
	known.setCookie("kassa_device", res.DeviceToken)
	known.get("/login")
	resp := known.post("/login", url.Values{"email": {"otto@example.com"}, "password": {goodPassword}})
	known.wantPage("known device", known.follow(resp), 200, `id="login-risk"`)
	if strings.Contains(known.body, "This device is new") {
		t.Error("a known device is called new")
	}
	fresh := f.visitor(t)
	fresh.get("/login")
	resp = fresh.post("/login", url.Values{"email": {"otto@example.com"}, "password": {goodPassword}})
	fresh.wantPage("new device", fresh.follow(resp), 200, "This device is new to your account")
}
