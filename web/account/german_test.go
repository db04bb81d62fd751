package account_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
)

var (
	tagRE = regexp.MustCompile(`(?s)<[^>]*>`)
	// englishRE finds English words that German pages must not show
	// (names, addresses and browser names aside).
	englishRE = regexp.MustCompile(`\b(the|your|you|and|with|to|on|from|Log in|Log out|Email|Password|Confirm|Verified|Passkeys? yet|Devices|Paid|never|this|code|Add|Delete|Remove|Rename|Turn|Set up|Back|Cancel)\b`)
)

// germanText is what a German page shows as text, without markup and
// without the values it repeats (the payer's address and phone, the
// merchant's name).
func germanText(body string) string {
	s := tagRE.ReplaceAllString(scriptRE.ReplaceAllString(body, ""), " ")
	for _, v := range []string{"otto@example.com", "neu@example.com", "name@example.com", "+4915112341111", "Acme Bets &amp; Games",
		"Otto", "Kassa"} {
		s = strings.ReplaceAll(s, v, "")
	}
	return s
}

// wantGerman fails t unless v's last page is German, with no English word
// of englishRE.
func wantGerman(t *testing.T, v *visitor, what string) {
	t.Helper()
	if !strings.Contains(v.body, `<html lang="de">`) {
		t.Errorf("%s: not marked German", what)
	}
	if m := englishRE.FindAllString(germanText(v.body), -1); m != nil {
		t.Errorf("%s shows English: %q\n%s", what, m, germanText(v.body))
	}
}

// TestAccountPagesGerman: a payer whose browser asks for German gets the
// login, second-factor, account, identity, authenticator-app, sign-up and
// password-recovery pages in German, with no English sentence left; a payment's locale wins over the
// browser's language on the pages of its step-up.
func TestAccountPagesGerman(t *testing.T) {
	f := newFixture(t, func(o *fixtureOptions) { o.policy = alwaysPolicy{} })
	f.signUp(t, "otto@example.com", "+4915112341111")
	v := f.visitor(t)
	v.acceptLanguage = "de-AT,de;q=0.9,en;q=0.5"
	german := func(what string) { t.Helper(); wantGerman(t, v, what) }

	v.wantPage("login", v.get("/login"), 200, "Bei Kassa anmelden", "Passwort vergessen?", "E-Mail-Adresse")
	german("login")
	v.wantPage("wrong password", v.post("/login", url.Values{"email": {"otto@example.com"}, "password": {"not the password!"}}),
		422, "Die E-Mail-Adresse oder das Passwort ist falsch.")
	german("wrong password")

	resp := v.post("/login", url.Values{"email": {"otto@example.com"}, "password": {goodPassword}})
	v.wantPage("second factor", v.follow(resp), 200, "Bestätigen Sie, dass Sie es sind", "Einmalcode")
	german("second factor")
	resp = v.post("/login/send-code", url.Values{"channel": {"email"}})
	v.wantPage("code sent", v.follow(resp), 200, "Wir haben Ihnen einen Code gesendet", "@example.com gesendeter Code")
	german("code sent")
	resp = v.post("/login/verify", url.Values{"factor": {"otp"}, "sent": {"email"}, "otp_code": {"000000"}})
	if !strings.Contains(v.body, "Dieser Code ist falsch oder abgelaufen.") && !strings.Contains(v.body, "Bestätigen Sie") {
		t.Errorf("wrong code: %d\n%s", resp.StatusCode, v.shown())
	}
	german("wrong code")
	resp = v.post("/login/verify", url.Values{"factor": {"otp"}, "sent": {"email"}, "otp_code": {f.lastCode(t, "otto@example.com")}})
	v.wantPage("account", v.follow(resp), 200, "Ihr Kassa-Konto", "Wo Sie angemeldet sind", "Noch keine Zahlungen mit diesem Konto.",
		"mit zweitem Faktor", `<time class="local" datetime="`)
	german("account")

	// Times name the month in German (and say UTC only until pay.js
	// writes them in the payer's zone).
	if !regexp.MustCompile(`Angemeldet <time class="local" datetime="[0-9T:Z-]+">\d{1,2}\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) 20\d\d, \d\d:\d\d UTC</time>`).MatchString(v.body) {
		t.Errorf("session time not in German:\n%s", v.shown())
	}

	// Identity verification and the authenticator app's set-up.
	v.wantPage("identity", v.get("/account/kyc"), 200, "Identität bestätigen", "Reisepass", "Postleitzahl")
	german("identity")
	v.wantPage("identity error", v.post("/account/kyc", url.Values{"given_name": {"Otto"}}), 422, "Geben Sie Ihr Geburtsdatum ein.")
	german("identity error")
	resp = v.post("/account/totp", url.Values{})
	v.wantPage("authenticator app", resp, 200, "Authenticator-App einrichten", "Einschalten")
	german("authenticator app")

	// The sign-up's first steps.
	v = f.visitor(t)
	v.acceptLanguage = "de"
	v.wantPage("sign-up", v.get("/signup"), 200, "Ihr Kassa-Konto erstellen", "Schritt 1 von 5: E-Mail-Adresse und Telefon", "Mobilnummer")
	german("sign-up")
	v.wantPage("sign-up error", v.post("/signup", url.Values{"email": {"nope"}, "phone": {"+4915112349999"}}), 422,
		"Geben Sie eine E-Mail-Adresse wie name@example.com ein.")
	german("sign-up error")
	resp = v.post("/signup", url.Values{"email": {"neu@example.com"}, "phone": {"+4915112349999"}})
	v.wantPage("sign-up code", v.follow(resp), 200, "Schritt 2 von 5: E-Mail-Adresse bestätigen", "Neuen Code senden")
	german("sign-up code")
	v.wantPage("sign-up wrong code", v.post("/signup/verify", url.Values{"code": {"000000"}}), 422,
		"Dieser Code ist falsch oder abgelaufen.")
	german("sign-up wrong code")

	// Setting a new password after a forgotten one.
	v.wantPage("recover", v.get("/login/forgot"), 200, "Neues Passwort festlegen", "Code senden")
	german("recover")
	v.wantPage("recover code", v.post("/login/forgot", url.Values{"action": {"start"}, "email": {"otto@example.com"}}), 200,
		"zu einem Kassa-Konto gehört", "Code aus der E-Mail")
	german("recover code")

	// A merchant's locale wins over an English browser on the step-up's
	// way through login; a wrong secret shows nothing of the payment and
	// falls back to the browser.
	p, err := f.payments.Create(context.Background(), f.merchant.ID, payment.CreateRequest{Amount: 12000, Currency: "EUR",
		Description: "Deposit", ReturnURL: "https://shop.example/r", Locale: "de-AT"})
	if err != nil {
		t.Fatal(err)
	}
	en := f.visitor(t)
	en.acceptLanguage = "en-IE,en;q=0.9"
	page := "/challenge/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret)
	en.wantPage("login for a German payment", en.get("/login?next="+url.QueryEscape(page)), 200,
		`<html lang="de">`, "Bei Kassa anmelden", "120,00\u00a0€", "Sie zahlen")
	en.wantPage("login with a wrong secret", en.get("/login?next="+url.QueryEscape("/challenge/"+p.ID+"?client_secret=wrong")), 200,
		`<html lang="en">`, "Log in to Kassa")
}

// TestChallengeGerman: the step-up challenge page, its refusals and its
// outcome speak German to a German browser, before and after login.
func TestChallengeGerman(t *testing.T) {
	f := newFixture(t)
	f.addRule(t, "codes from 100.00", "amount >= 10000", risk.Challenge, risk.FactorOTP)
	res := f.signUp(t, "otto@example.com", "+4915112341111")
	payer := f.visitor(t)
	payer.setSession(res)
	p := challenged(t, f, payer, 12000, "https://shop.example/done")
	page := "/challenge/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret)

	v := f.visitor(t)
	v.acceptLanguage = "de-DE"
	v.wantPage("challenge, logged out", v.get(page), 200, "Bestätigen Sie Ihre Zahlung", "Zu Ihrer Sicherheit", "Noch kein Konto?")
	wantGerman(t, v, "challenge, logged out")
	v.wantPage("unknown challenge", v.get("/challenge/"+p.ID+"?client_secret=wrong"), 404, "Diese Bestätigungsseite gibt es nicht.")
	wantGerman(t, v, "unknown challenge")

	v.setSession(res)
	v.wantPage("challenge", v.get(page), 200, "Bestätigen Sie diese Zahlung mit einem Einmalcode.", "Code per E-Mail senden",
		`<span class="value">120,00`+"\u00a0"+`€</span>`)
	wantGerman(t, v, "challenge")
	resp := v.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"send_code"}, "channel": {"email"}})
	v.wantPage("code sent", v.follow(resp), 200, "Wir haben Ihnen einen Code gesendet", "Zahlung bestätigen")
	wantGerman(t, v, "code sent")
	resp = v.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"verify_code"}, "sent": {"email"}, "code": {"000000"}})
	v.wantPage("wrong code", resp, 422, "Dieser Code ist falsch oder abgelaufen.")
	wantGerman(t, v, "wrong code")
	v.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"cancel"}})
	v.wantPage("canceled", v.get(page), 200, "Nicht bestätigt", "Zurück zu")
	wantGerman(t, v, "canceled")
}
