package account_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kassa/kassa/identity"
)

var tokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)

// TestRecoveryPages: a payer who forgot the password gets back in from
// the login page: the email code, then the SMS code (the account has a
// second factor: email alone never does it), then a new password, which
// logs out every session. An address without an account reads the same
// page as one with an account.
func TestRecoveryPages(t *testing.T) {
	f := newFixture(t)
	const email, phone = "rita@example.com", "+4915112345555"
	res := f.signUp(t, email, phone)
	v := f.visitor(t)
	v.wantPage("login", v.get("/login"), 200, `href="/login/forgot"`)
	v.wantPage("forgot", v.get("/login/forgot"), 200, `id="recover-email"`)

	token := func() string {
		t.Helper()
		m := tokenRE.FindStringSubmatch(v.body)
		if m == nil {
			t.Fatalf("no recovery token on the page:\n%s", v.shown())
		}
		return m[1]
	}
	// Unknown and known addresses: the same page but for the address.
	v.post("/login/forgot", url.Values{"action": {"start"}, "email": {"nobody@example.com"}})
	unknown := strings.ReplaceAll(tokenRE.ReplaceAllString(v.shown(), ""), "nobody@example.com", "X")
	resp := v.post("/login/forgot", url.Values{"action": {"start"}, "email": {email}})
	v.wantPage("code step", resp, 200, `id="recover-sent"`)
	tok := token()
	known := strings.ReplaceAll(tokenRE.ReplaceAllString(v.shown(), ""), email, "X")
	if stripCSRF(known) != stripCSRF(unknown) {
		t.Error("the page differs for an address with an account")
	}

	resp = v.post("/login/forgot", url.Values{"action": {"email_code"}, "token": {tok}, "code": {"000000"}})
	v.wantPage("wrong email code", resp, 422, "This code is wrong or has expired")
	resp = v.post("/login/forgot", url.Values{"action": {"email_code"}, "token": {tok}, "code": {f.lastCode(t, email)}})
	v.wantPage("factor step", resp, 200, `id="recover-factor"`, `id="recover-send-sms"`)
	if strings.Contains(v.body, `id="recover-password"`) {
		t.Fatal("email alone reached the new password")
	}
	tok = token()
	resp = v.post("/login/forgot", url.Values{"action": {"send_sms"}, "token": {tok}, "factors": {"otp"}, "phone": {"+49********55"}})
	v.wantPage("SMS sent", resp, 200, "We sent a code by SMS", `id="recover-sms"`)
	resp = v.post("/login/forgot", url.Values{"action": {"factor"}, "factor": {"otp"}, "token": {tok}, "factors": {"otp"},
		"otp_code": {f.lastCode(t, phone)}})
	v.wantPage("password step", resp, 200, `id="recover-password"`)
	tok = token()
	resp = v.post("/login/forgot", url.Values{"action": {"password"}, "token": {tok}, "password": {"short"}})
	v.wantPage("weak password", resp, 422, `id="recover-password"`)
	const fresh = "my brand new passphrase 2026"
	resp = v.post("/login/forgot", url.Values{"action": {"password"}, "token": {tok}, "password": {fresh}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login?reset=1" {
		t.Fatalf("finish = %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), v.shown())
	}
	v.wantPage("login after the reset", v.follow(resp), 200, "Your password was changed and every login ended")
	if _, err := f.identity.Authenticate(context.Background(), res.Token); err == nil {
		t.Error("the session from before the reset still works")
	}
	if _, err := f.identity.Login(context.Background(), identity.LoginRequest{Email: email, Password: fresh, Client: testClient}); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	// The spent token starts nothing again.
	resp = v.post("/login/forgot", url.Values{"action": {"password"}, "token": {tok}, "password": {"another new passphrase 77"}})
	v.wantPage("token again", resp, 401, "expired or was used already")
}

var csrfFieldRE = regexp.MustCompile(`name="csrf" value="[^"]*"`)

func stripCSRF(s string) string { return csrfFieldRE.ReplaceAllString(s, "") }
