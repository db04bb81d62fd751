package account_test

import (
	"cmp"
	"context"
	"encoding/json"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/passkey"
	"github.com/kassa/kassa/identity/passkey/passkeytest"
)

// stepUp passes a second factor (a code by email) in v's logged-in
// session through the second-factor page, which then goes to next.
func stepUp(t *testing.T, f *fixture, v *visitor, email, next string) {
	t.Helper()
	v.get("/login/verify?next=" + url.QueryEscape(next))
	resp := v.post("/login/send-code", url.Values{"channel": {"email"}, "next": {next}})
	v.follow(resp)
	resp = v.post("/login/verify", url.Values{"factor": {"otp"}, "otp_code": {f.lastCode(t, email)}, "next": {next}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != next {
		t.Fatalf("second factor = %d to %q, want to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), next, v.body)
	}
}

// freshFactor passes a second factor (a code by email) in res's session
// through identity, as the second-factor page does, and returns the
// rotated session.
func (f *fixture) freshFactor(t *testing.T, email string, res identity.LoginResult) identity.LoginResult {
	t.Helper()
	ctx := context.Background()
	if err := f.identity.SendLoginCode(ctx, res.Token, identity.ChannelEmail); err != nil {
		t.Fatal(err)
	}
	got, err := f.identity.VerifySecondFactor(ctx, res.Token, identity.Proof{Factor: identity.FactorOTP, Code: f.lastCode(t, email)}, testClient)
	if err != nil {
		t.Fatal(err)
	}
	got.Customer = res.Customer
	got.DeviceToken = cmp.Or(got.DeviceToken, res.DeviceToken)
	return got
}

// addPasskeyOnPage runs the account page's add-a-passkey ceremony with
// the authenticator a as far as the server lets it; it returns the last
// response's status and Location.
func addPasskeyOnPage(t *testing.T, v *visitor, a *passkeytest.Authenticator) (int, string) {
	t.Helper()
	v.get("/account")
	tok := v.csrf()
	resp := v.post("/account/passkeys/options", url.Values{"csrf": {tok}})
	if resp.StatusCode != 200 {
		return resp.StatusCode, resp.Header.Get("Location")
	}
	var o struct {
		CeremonyID string          `json:"ceremony_id"`
		Options    json.RawMessage `json:"options"`
	}
	if err := json.Unmarshal([]byte(v.body), &o); err != nil {
		t.Fatal(err)
	}
	answer, err := a.Create(o.Options)
	if err != nil {
		t.Fatal(err)
	}
	resp = v.post("/account/passkeys", url.Values{"csrf": {tok}, "ceremony_id": {o.CeremonyID}, "response": {string(answer)}})
	return resp.StatusCode, resp.Header.Get("Location")
}

// TestPasskeyChangesNeedFreshSecondFactor attacks the account page with
// a one-factor session (a stolen password on a known device, a session
// left open): adding or removing a passkey needs a second factor passed
// within the last minutes, as turning the authenticator app off does. A
// session without one is sent to pass it and nothing changes; after it,
// the change goes through; minutes later it is needed again.
func TestPasskeyChangesNeedFreshSecondFactor(t *testing.T) {
	var offset atomic.Int64 // how far the pages' clock is ahead
	f := newFixture(t, func(o *fixtureOptions) {
		o.pageClock = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	ctx := context.Background()
	const email = "sina@example.com"
	res := f.signUp(t, email, "+4915112344444") // aal1, on a known device
	v := f.visitor(t)
	v.setSession(res)
	a := passkeytest.New(f.origin)
	count := func() int {
		t.Helper()
		creds, err := f.passkeys.Credentials(ctx, res.Customer.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(creds)
	}
	const verify = "/login/verify?next=%2Faccount%23passkeys"

	status, loc := addPasskeyOnPage(t, v, a)
	if n := count(); n != 0 {
		t.Errorf("a one-factor session added a passkey (%d stored; last answer %d %q)", n, status, loc)
	}
	// A passkey the payer has (registered before), removed by the same session.
	user := passkey.User{CustomerID: res.Customer.ID, Email: email, DisplayName: "Sina"}
	opts, ceremony, err := f.passkeys.BeginRegistration(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := passkeytest.New(f.origin).Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := f.passkeys.FinishRegistration(ctx, ceremony, user, answer)
	if err != nil {
		t.Fatal(err)
	}
	v.get("/account")
	resp := v.post("/account/passkeys/"+cred.ID+"/delete", url.Values{"csrf": {v.csrf()}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != verify || count() != 1 {
		t.Errorf("delete by a one-factor session = %d %q, %d passkeys left; want %s and 1", resp.StatusCode,
			resp.Header.Get("Location"), count(), verify)
	}
	v.wantPage("account page, one factor", v.get("/account"), 200, `href="/login/verify?next=%2faccount%23passkeys"`)

	// A fresh second factor: both go through.
	stepUp(t, f, v, email, "/account#passkeys")
	if status, loc := addPasskeyOnPage(t, v, passkeytest.New(f.origin)); status != 303 || count() != 2 {
		t.Errorf("add after a second factor = %d %q, %d passkeys", status, loc, count())
	}
	v.get("/account")
	resp = v.post("/account/passkeys/"+cred.ID+"/delete", url.Values{"csrf": {v.csrf()}})
	v.wantPage("deleted", v.follow(resp), 200, "Your passkey was deleted")
	if count() != 1 {
		t.Errorf("%d passkeys after the delete", count())
	}

	// Later, the second factor is no longer fresh.
	offset.Store(int64(11 * time.Minute))
	creds, _ := f.passkeys.Credentials(ctx, res.Customer.ID)
	v.get("/account")
	resp = v.post("/account/passkeys/"+creds[0].ID+"/delete", url.Values{"csrf": {v.csrf()}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != verify || count() != 1 {
		t.Errorf("delete 11 minutes after the second factor = %d %q, %d passkeys", resp.StatusCode, resp.Header.Get("Location"), count())
	}
	if status, _ := addPasskeyOnPage(t, v, passkeytest.New(f.origin)); status == 200 || count() != 1 {
		t.Errorf("add 11 minutes after the second factor = %d, %d passkeys", status, count())
	}
}
