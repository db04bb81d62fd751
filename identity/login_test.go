package identity_test

import (
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

func login(e *env, email, pw, ip string) error {
	_, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: email, Password: pw, Client: identity.Client{IP: ip}})
	return err
}

func TestLockoutPerAccount(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "lock@example.com", "+4915100000400")
	// Known and unknown addresses go through the same steps with the
	// same answers.
	for _, email := range []string{"lock@example.com", "ghost@example.com"} {
		t.Run(email, func(t *testing.T) {
			ip := "192.0.2.1"
			wantErr(t, "failure 1", login(e, email, "wrong password 1", ip), kassa.EUnauthorized, identity.CodeLoginFailed)
			// Exponential backoff from the second failure: 1 s, 2 s, 4 s.
			for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
				wantErr(t, "failure", login(e, email, "wrong password 2", ip), kassa.EUnauthorized, identity.CodeLoginFailed)
				err := login(e, email, goodPassword, ip)
				wantErr(t, "attempt during the backoff", err, kassa.ERateLimited, identity.CodeLoginLocked)
				if got := lockedFor(t, err); got != wait {
					t.Errorf("backoff after failure %d = %s, want %s", i+2, got, wait)
				}
				e.clock.Advance(wait)
			}
			// The fifth failure locks the address out for 15 minutes,
			// the right password included.
			wantErr(t, "failure 5", login(e, email, "wrong password 3", ip), kassa.EUnauthorized, identity.CodeLoginFailed)
			err := login(e, email, goodPassword, "192.0.2.99") // from another IP too
			if d := lockedFor(t, err); d != 15*time.Minute {
				t.Fatalf("lockout = %s, want 15m", d)
			}
			e.clock.Advance(15 * time.Minute)
			// Five more failures: the next lockout doubles.
			for range 5 {
				e.clock.Advance(10 * time.Second)
				login(e, email, "wrong password 4", ip)
			}
			if d := lockedFor(t, login(e, email, goodPassword, ip)); d != 30*time.Minute {
				t.Errorf("second lockout = %s, want 30m", d)
			}
			e.clock.Advance(30 * time.Minute)
		})
	}
	// After the lockout the right password works, and resets the count.
	if err := login(e, "lock@example.com", goodPassword, "192.0.2.1"); err != nil {
		t.Fatalf("login after the lockout: %v", err)
	}
	locked := e.events.of(identity.EventLocked)
	if len(locked) != 4 {
		t.Fatalf("%d identity.locked events, want 4 (two per address)", len(locked))
	}
	if locked[0].CustomerID == "" || locked[2].CustomerID != "" || locked[1].Data["lockouts"] != "2" || locked[0].Data["scope"] != "account" {
		t.Errorf("locked events: %+v", locked)
	}
	if n := len(e.events.of(identity.EventLoginFailed)); n != 20 {
		t.Errorf("%d login_failed events, want 20", n)
	}
	// The sign-up's; the last login (a new device) waits for its second factor.
	if n := len(e.events.of(identity.EventLoginSucceeded)); n != 1 {
		t.Errorf("%d login_succeeded events, want 1", n)
	}
}

func TestLockoutPerIP(t *testing.T) {
	e := newEnv(t, func(c *identity.Config) {
		c.Limits.IP = identity.Lockout{Failures: 6, Duration: time.Hour, Backoff: -1}
	})
	e.signUp(t, "victim@example.com", "+4915100000401")
	// One address per try: only the IP's counter grows.
	for i := range 6 {
		email := string(rune('a'+i)) + "@example.com"
		wantErr(t, "spray", login(e, email, "wrong password", "2001:db8:1:2::1"), kassa.EUnauthorized, identity.CodeLoginFailed)
	}
	// The whole /64 is locked out, for every address.
	err := login(e, "victim@example.com", goodPassword, "2001:db8:1:2:ffff::9")
	if d := lockedFor(t, err); d != time.Hour {
		t.Fatalf("IP lockout = %s, want 1h", d)
	}
	if err := login(e, "victim@example.com", goodPassword, "2001:db8:1:3::1"); err != nil {
		t.Errorf("login from another /64: %v", err)
	}
	evs := e.events.of(identity.EventLocked)
	if len(evs) != 1 || evs[0].Data["scope"] != "ip" || evs[0].Data["ip"] != "2001:db8:1:2::/64" {
		t.Errorf("locked events = %+v, want one for the /64", evs)
	}
}

func TestLoginSameErrorForUnknownEmail(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "same@example.com", "+4915100000402")
	errWrong := login(e, "same@example.com", "not the password", "192.0.2.3")
	errUnknown := login(e, "nobody@example.com", "not the password", "192.0.2.4")
	if errWrong == nil || errUnknown == nil || errWrong.Error() != errUnknown.Error() ||
		kassa.AsError(errWrong).Kind != kassa.AsError(errUnknown).Kind {
		t.Errorf("wrong password: %v; unknown email: %v; want the same", errWrong, errUnknown)
	}
	fail := e.events.of(identity.EventLoginFailed)
	if len(fail) != 2 || fail[0].Data["reason"] != fail[1].Data["reason"] {
		t.Errorf("login_failed events = %+v", fail)
	}
}

func TestLoginPolicyAndFactors(t *testing.T) {
	e := newEnv(t)
	res := e.signUp(t, "pol@example.com", "+4915100000403")
	known := client
	known.DeviceToken = res.DeviceToken
	lr, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: "POL@example.com", Password: goodPassword, Client: known})
	if err != nil || len(lr.Factors) != 0 || !lr.Device.Known || lr.Session.Pending || lr.Session.AAL != identity.AAL1 {
		t.Fatalf("login from the known device = %+v, %v; want no second factor, aal1", lr, err)
	}
	if _, err := e.svc.Authenticate(e.ctx, lr.Token); err != nil {
		t.Errorf("session of a known device: %v", err)
	}
	// A new device needs a second factor; the session waits for it.
	lr, err = e.svc.Login(e.ctx, identity.LoginRequest{Email: "pol@example.com", Password: goodPassword, Client: identity.Client{IP: "192.0.2.5"}})
	if err != nil || lr.Device.Known || !lr.Session.Pending {
		t.Fatalf("login from a new device = %+v, %v", lr, err)
	}
	if len(lr.Factors) != 1 || lr.Factors[0] != identity.FactorOTP {
		t.Errorf("factors = %v, want [otp]", lr.Factors)
	}
	_, err = e.svc.Authenticate(e.ctx, lr.Token)
	wantErr(t, "pending session", err, kassa.EForbidden, identity.CodeSecondFactorRequired)
	ch, err := e.svc.LoginChallenge(e.ctx, lr.Token)
	if err != nil || len(ch.Channels) != 2 || ch.Email != "p***@example.com" || ch.Phone != "+49*********03" {
		t.Errorf("challenge = %+v, %v", ch, err)
	}
	_, err = e.svc.VerifySecondFactor(e.ctx, lr.Token, identity.Proof{Factor: identity.FactorTOTP, Code: "123456"}, client)
	wantErr(t, "totp not enrolled", err, kassa.EInvalid, identity.CodeFactorUnavailable)
	_, err = e.svc.VerifySecondFactor(e.ctx, lr.Token, identity.Proof{Factor: "carrier_pigeon"}, client)
	wantErr(t, "unknown factor", err, kassa.EInvalid, identity.CodeFactorUnavailable)
}
