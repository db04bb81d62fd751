package account_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/kassa/kassa/identity/passkey"
	"github.com/kassa/kassa/identity/passkey/passkeytest"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
)

// TestChallengeNeedsPayerOfRecord attacks the step-up as a fraudster
// holding someone's PIN: a challenge is passed only with a factor that
// belonged to the payment's payer of record before the challenge began.
// An account made inside the challenge of a payment paid without one,
// another account than the payer's, and a passkey the payer adds during
// the challenge all fail; nothing is charged.
func TestChallengeNeedsPayerOfRecord(t *testing.T) {
	f := newFixture(t)
	f.addRule(t, "codes from 100.00", "amount >= 10000 && amount < 50000", risk.Challenge, risk.FactorOTP)
	f.addRule(t, "passkeys from 500.00", "amount >= 50000", risk.Challenge, risk.FactorPasskey)
	pageOf := func(p payment.Payment) string {
		return "/challenge/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret)
	}
	notCharged := func(t *testing.T, what string, id string, wantStatus payment.Status) {
		t.Helper()
		got := f.payment(t, id)
		if got.Status != wantStatus || got.AmountCaptured != 0 || got.AmountCapturable != 0 || got.Risk.TransStatus == "Y" {
			t.Errorf("%s: payment %s %s/%s captured %d payer %q, want %s and nothing charged", what, got.Status,
				got.Risk.TransStatus, got.Risk.ECI, got.AmountCaptured, got.PayerID, wantStatus)
		}
	}

	t.Run("no payer, an account made in the challenge", func(t *testing.T) {
		v := f.visitor(t)
		p := challenged(t, f, v, 12000, "") // paid without an account
		// The fraudster signs up on the spot: a fresh, verified account.
		mallory := f.signUp(t, "mallory@example.com", "+4915112349999")
		v.setSession(mallory)
		v.get(pageOf(p))
		if !strings.Contains(v.body, `id="no-payer"`) || strings.Contains(v.body, "send_code") {
			t.Errorf("the challenge page offers an account made in the challenge a way to pass it:\n%s", v.shown())
		}
		n := f.outboxCount(t, "mallory@example.com")
		resp := v.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"send_code"}, "channel": {"email"}})
		if f.outboxCount(t, "mallory@example.com") != n {
			t.Error("a challenge code went to an account made in the challenge")
			code := f.lastCode(t, "mallory@example.com")
			v.follow(resp)
			resp = v.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"verify_code"}, "code": {code}})
		}
		v.wantPage("answer without a payer", resp, 402, "Not approved", "made without a Kassa account")
		notCharged(t, "no payer", p.ID, payment.StatusFailed)
		if got := f.payment(t, p.ID); got.PayerID != "" {
			t.Errorf("the fraudster's account %q became the payer", got.PayerID)
		}
	})

	t.Run("another account than the payer's", func(t *testing.T) {
		owner := f.signUp(t, "olga@example.com", "+4915112347777")
		v := f.visitor(t)
		v.setSession(owner)
		p := challenged(t, f, v, 13000, "")
		other := f.signUp(t, "oscar@example.com", "+4915112346666")
		w := f.visitor(t)
		w.setSession(other)
		w.wantPage("someone else's challenge", w.get(pageOf(p)), 200, "started with another Kassa account")
		n := f.outboxCount(t, "oscar@example.com") + f.outboxCount(t, "olga@example.com")
		resp := w.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"send_code"}, "channel": {"email"}})
		if resp.StatusCode != 303 || f.outboxCount(t, "oscar@example.com")+f.outboxCount(t, "olga@example.com") != n {
			t.Errorf("send_code by another account = %d; a code was sent", resp.StatusCode)
		}
		notCharged(t, "another account", p.ID, payment.StatusRequiresAction)
	})

	t.Run("passkey added during the challenge", func(t *testing.T) {
		ctx := context.Background()
		payer := f.signUp(t, "paula@example.com", "+4915112345555")
		v := f.visitor(t)
		v.setSession(payer)
		p := challenged(t, f, v, 60000, "")
		v.wantPage("no passkey before the challenge", v.get(pageOf(p)), 200, `id="no-passkey"`)
		// Whoever holds the payer's session adds a passkey now.
		a := passkeytest.New(f.origin)
		user := passkey.User{CustomerID: payer.Customer.ID, Email: "paula@example.com", DisplayName: "Paula"}
		opts, ceremony, err := f.passkeys.BeginRegistration(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		answer, err := a.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.passkeys.FinishRegistration(ctx, ceremony, user, answer); err != nil {
			t.Fatal(err)
		}
		v.get(pageOf(p))
		if !strings.Contains(v.body, `id="no-passkey"`) {
			t.Errorf("a passkey added during the challenge is offered to pass it:\n%s", v.shown())
		}
		tok := v.csrf()
		if resp := v.post("/challenge/"+p.ID+"/passkey-options", url.Values{"client_secret": {p.ClientSecret}}); resp.StatusCode != 200 {
			t.Fatalf("passkey options = %d %s", resp.StatusCode, v.body)
		}
		var o struct {
			CeremonyID string          `json:"ceremony_id"`
			Options    json.RawMessage `json:"options"`
		}
		if err := json.Unmarshal([]byte(v.body), &o); err != nil {
			t.Fatal(err)
		}
		answer, err = a.Get(o.Options)
		if err != nil {
			t.Fatal(err)
		}
		resp := v.post("/challenge/"+p.ID, url.Values{"csrf": {tok}, "client_secret": {p.ClientSecret}, "action": {"passkey"},
			"ceremony_id": {o.CeremonyID}, "response": {string(answer)}})
		v.wantPage("new passkey refused", resp, 402, "added after the payment was made")
		notCharged(t, "new passkey", p.ID, payment.StatusFailed)
	})
}
