package account_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
)

// TestMessagesInPayersLanguage: the emails and SMS the pages make
// identity send are in the page's language — the sign-up's code for a
// German browser, and the step-up code of a payment the shop made in
// German, "123456 bestätigt 120,00 € an …" — and English otherwise.
func TestMessagesInPayersLanguage(t *testing.T) {
	f := newFixture(t)
	lastMessage := func(to string) (subject, body string) {
		t.Helper()
		ms, err := f.outbox.Messages(context.Background(), to, 1)
		if err != nil || len(ms) == 0 {
			t.Fatalf("no message to %s: %v", to, err)
		}
		return ms[0].Subject, ms[0].Body
	}

	// Sign-up from a German browser.
	v := f.visitor(t)
	v.acceptLanguage = "de-AT,de;q=0.9"
	v.get("/signup")
	resp := v.post("/signup", url.Values{"email": {"greta@example.com"}, "phone": {"+4366012345670"}})
	v.follow(resp)
	subject, body := lastMessage("greta@example.com")
	if subject != "Ihr Kassa-Code" || !strings.Contains(body, "um diese E-Mail-Adresse zu bestätigen, lautet") {
		t.Errorf("German sign-up's email: %q / %q", subject, body)
	}

	// A step-up code for a payment the shop made in German, the browser English.
	f.addRule(t, "codes from 100.00", "amount >= 10000", risk.Challenge, risk.FactorOTP)
	const email = "kunde@example.com"
	vch := f.issue(t, 100000)
	p, err := f.payments.Create(context.Background(), f.merchant.ID, payment.CreateRequest{Amount: 12000, Currency: "EUR",
		ReturnURL: "https://shop.example/done", Customer: payment.Customer{Email: email}, Locale: "de-AT"})
	if err != nil {
		t.Fatal(err)
	}
	w := f.visitor(t)
	w.acceptLanguage = "en-GB"
	w.get("/pay/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret))
	w.wantPage("challenged payment", w.post("/pay/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "pin": {vch.PIN}, "csrf": {""}}),
		202, "Noch ein Schritt")
	w.get("/challenge/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret))
	w.follow(w.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"send_code"}, "channel": {"email"}}))
	code := f.lastCode(t, email)
	subject, body = lastMessage(email)
	if !strings.HasPrefix(body, code+" bestätigt 120,00\u00a0€ an Acme Bets & Games.") ||
		subject != "Ihr Kassa-Code, um 120,00\u00a0€ an Acme Bets & Games zu bestätigen" || strings.Contains(body, p.ID) {
		t.Errorf("German step-up message: %q / %q", subject, body)
	}

	// The same for a payment without a locale, from an English browser: English.
	q, err := f.payments.Create(context.Background(), f.merchant.ID, payment.CreateRequest{Amount: 13000, Currency: "EUR",
		ReturnURL: "https://shop.example/done", Customer: payment.Customer{Email: "buyer@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	w.get("/pay/" + q.ID + "?client_secret=" + url.QueryEscape(q.ClientSecret))
	w.post("/pay/"+q.ID, url.Values{"client_secret": {q.ClientSecret}, "pin": {vch.PIN}, "csrf": {""}})
	w.get("/challenge/" + q.ID + "?client_secret=" + url.QueryEscape(q.ClientSecret))
	w.follow(w.post("/challenge/"+q.ID, url.Values{"client_secret": {q.ClientSecret}, "action": {"send_code"}, "channel": {"email"}}))
	if _, body := lastMessage("buyer@example.com"); !strings.Contains(body, " approves €130.00 to Acme Bets & Games.") {
		t.Errorf("English step-up message: %q", body)
	}
}

// TestPasskeyScriptTexts: the account script's passkey messages (a
// device that did not confirm, a browser without passkeys, ...) come with
// the page in its language, not from English in the script.
func TestPasskeyScriptTexts(t *testing.T) {
	f := newFixture(t)
	res := f.signUp(t, "paula@example.com", "+4915112340000")
	for lang, want := range map[string]string{
		"de-AT": `data-notallowed="Ihr Gerät hat nicht bestätigt`,
		"en-IE": `data-notallowed="Your device did not confirm`,
	} {
		v := f.visitor(t)
		v.acceptLanguage = lang
		v.setSession(res)
		v.wantPage(lang+" account page", v.get("/account"), 200, `id="passkey-texts"`, want)
	}
}
