package identity_test

import (
	"strings"
	"testing"

	"github.com/kassa/kassa/identity"
)

// TestMessagesInGerman: with the payer's language German on the
// request's context, every message identity sends — the sign-up's email
// and SMS codes, the "you already have an account" notice, login and
// step-up codes, the step-up to the customer the merchant named, the
// recovery's codes — is German, with the code in it; without it, English.
func TestMessagesInGerman(t *testing.T) {
	e := newEnv(t)
	de := identity.WithLanguage(e.ctx, "de-AT")
	const email, phone = "greta@example.com", "+4915100000900"
	su, err := e.svc.SignUp(de, identity.SignUpRequest{Email: email, Phone: phone, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	// The last message to an address: German, with its code.
	wantGerman := func(what, to string, subject, body string) {
		t.Helper()
		ms := e.messages(t, to)
		if len(ms) == 0 {
			t.Fatalf("%s: no message to %s", what, to)
		}
		m := ms[0]
		if !strings.Contains(m.Subject, subject) || !strings.Contains(m.Body, body) {
			t.Errorf("%s: %q / %q, want %q / %q", what, m.Subject, m.Body, subject, body)
		}
		for _, english := range []string{"Your ", "code to", "valid", "Never share", "approves", "ignore this"} {
			if strings.Contains(m.Subject+m.Body, english) {
				t.Errorf("%s: English %q in %q / %q", what, english, m.Subject, m.Body)
			}
		}
	}
	wantGerman("sign-up email", email, "Ihr Kassa-Code", "um diese E-Mail-Adresse zu bestätigen, lautet")
	if _, err := e.svc.SignUpConfirm(de, su.Token, e.lastCode(t, email)); err != nil {
		t.Fatal(err)
	}
	wantGerman("sign-up SMS", phone, "", "Kassa-Code, um diese Telefonnummer zu bestätigen: ")
	if _, err := e.svc.SignUpConfirm(de, su.Token, e.lastCode(t, phone)); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.SignUpPassword(de, su.Token, goodPassword, client)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(60e9)

	// A second sign-up with the address: the notice, in German.
	if _, err := e.svc.SignUp(de, identity.SignUpRequest{Email: email, Phone: "+4915100000901", Client: client}); err != nil {
		t.Fatal(err)
	}
	wantGerman("existing account", email, "Sie haben schon ein Kassa-Konto", "Melden Sie sich damit an.")
	e.clock.Advance(60e9)

	// A step-up code of the account, and one to the customer a merchant named.
	if err := e.svc.SendCode(de, res.Customer.ID, identity.PurposeStepUp, "pay_G", identity.ChannelSMS); err != nil {
		t.Fatal(err)
	}
	wantGerman("account step-up", phone, "", "um eine Zahlung zu bestätigen")
	e.clock.Advance(60e9)
	if err := e.svc.SendStepUpCode(de, res.Customer.ID, "pay_G", "43,21\u00a0€ an Demo Merchant", identity.ChannelEmail); err != nil {
		t.Fatal(err)
	}
	code := e.lastCode(t, email)
	wantGerman("account step-up, linked", email, "Ihr Kassa-Code, um 43,21\u00a0€ an Demo Merchant zu bestätigen",
		code+" bestätigt 43,21\u00a0€ an Demo Merchant.")
	if err := e.svc.SendPayerCode(de, identity.PayerCodeRequest{Payment: "pay_H", Channel: identity.ChannelEmail,
		To: "kunde@example.com", Approves: "43,21\u00a0€ an Demo Merchant"}); err != nil {
		t.Fatal(err)
	}
	code = e.lastCode(t, "kunde@example.com")
	wantGerman("payer step-up", "kunde@example.com", "Ihr Kassa-Code, um 43,21\u00a0€ an Demo Merchant zu bestätigen",
		code+" bestätigt 43,21\u00a0€ an Demo Merchant.")
	if err := e.svc.SendPayerCode(de, identity.PayerCodeRequest{Payment: "pay_H", Channel: identity.ChannelSMS,
		To: "+4915100000902", Approves: "43,21\u00a0€ an Demo Merchant"}); err != nil {
		t.Fatal(err)
	}
	wantGerman("payer step-up SMS", "+4915100000902", "", " bestätigt 43,21\u00a0€ an Demo Merchant. Kassa-Code")
	e.clock.Advance(60e9)

	// Recovery: the email code, then the SMS code.
	rec, err := e.svc.StartRecovery(de, email, client)
	if err != nil {
		t.Fatal(err)
	}
	wantGerman("recovery email", email, "Ihr Kassa-Code für ein neues Passwort", "Ihr Passwort bleibt, wie es ist.")
	step, err := e.svc.RecoveryEmailCode(de, rec.Token, e.lastCode(t, email), client)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(60e9)
	if err := e.svc.SendRecoverySMS(de, step.Token); err != nil {
		t.Fatal(err)
	}
	wantGerman("recovery SMS", phone, "", "Kassa-Code für ein neues Passwort: ")

	// Without a language: English.
	e.clock.Advance(60e9)
	if err := e.svc.SendCode(e.ctx, res.Customer.ID, identity.PurposeLogin, "login", identity.ChannelEmail); err != nil {
		t.Fatal(err)
	}
	if m := e.messages(t, email)[0]; m.Subject != "Your Kassa code" || !strings.Contains(m.Body, "to log in is") {
		t.Errorf("without a language: %q / %q", m.Subject, m.Body)
	}
}
