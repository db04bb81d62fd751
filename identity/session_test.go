package identity_test

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

func TestSessionTokenHashedAtRest(t *testing.T) {
	e := newEnv(t)
	res := e.signUp(t, "hash@example.com", "+4915100000500")
	sum := sha256.Sum256([]byte(res.Token))
	if !bytes.Equal(res.Session.TokenHash, sum[:]) {
		t.Fatal("the session's stored hash is not the SHA-256 of its token")
	}
	got, err := e.store.SessionByTokenHash(e.ctx, sum[:])
	if err != nil || got.ID != res.Session.ID {
		t.Fatalf("session by hash = %+v, %v", got, err)
	}
	if bytes.Contains(got.TokenHash, []byte(res.Token)) || len(res.Token) != 43 {
		t.Errorf("token %q (want 43 base64url characters for 256 bits) is stored in clear", res.Token)
	}
	for _, bad := range []string{"", "x", res.Token + "x", strings.Repeat("A", 43), res.Token[:42] + "!"} {
		_, err := e.svc.Authenticate(e.ctx, bad)
		wantErr(t, "bad token", err, kassa.EUnauthorized, identity.CodeSessionInvalid)
	}
}

func TestSessionIdleAndAbsoluteExpiry(t *testing.T) {
	e := newEnv(t)
	res := e.signUp(t, "exp@example.com", "+4915100000501") // the clock moved 1 minute since
	if _, err := e.svc.Authenticate(e.ctx, res.Token); err != nil {
		t.Fatal(err)
	}
	// Used every 29 minutes, the session lives until its absolute end.
	for e.clock.Now().Before(res.Session.Created.Add(12*time.Hour - 29*time.Minute)) {
		e.clock.Advance(29 * time.Minute)
		if _, err := e.svc.Authenticate(e.ctx, res.Token); err != nil {
			t.Fatalf("at %s after login: %v", e.clock.Now().Sub(res.Session.Created), err)
		}
	}
	e.clock.Set(res.Session.Created.Add(12 * time.Hour))
	_, err := e.svc.Authenticate(e.ctx, res.Token)
	wantErr(t, "after 12 h", err, kassa.EUnauthorized, identity.CodeSessionInvalid)

	// Unused for 30 minutes, a session ends.
	e.clock.Advance(time.Minute)
	lr, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: "exp@example.com", Password: goodPassword,
		Client: identity.Client{DeviceToken: res.DeviceToken}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(30*time.Minute - time.Second)
	if _, err := e.svc.Authenticate(e.ctx, lr.Token); err != nil {
		t.Fatalf("29m59s idle: %v", err)
	}
	e.clock.Advance(30 * time.Minute)
	_, err = e.svc.Authenticate(e.ctx, lr.Token)
	wantErr(t, "30 min idle", err, kassa.EUnauthorized, identity.CodeSessionInvalid)
}

// newDeviceLogin logs in from a device that is not known; the session
// waits for a second factor.
func (e *env) newDeviceLogin(t *testing.T, email string) identity.LoginResult {
	t.Helper()
	lr, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: email, Password: goodPassword,
		Client: identity.Client{IP: "192.0.2.50", Fingerprint: "fp-new"}})
	if err != nil {
		t.Fatal(err)
	}
	if !lr.Session.Pending || len(lr.Factors) == 0 || lr.Device.Known {
		t.Fatalf("login from a new device = %+v, want a pending session with factors", lr)
	}
	return lr
}

func TestRotationOnSecondFactor(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "rot@example.com", "+4915100000502")
	lr := e.newDeviceLogin(t, "rot@example.com")
	if err := e.svc.SendLoginCode(e.ctx, lr.Token, identity.ChannelEmail); err != nil {
		t.Fatal(err)
	}
	code := e.lastCode(t, "rot@example.com")
	c := identity.Client{IP: "192.0.2.50", Fingerprint: "fp-new"}
	_, err := e.svc.VerifySecondFactor(e.ctx, lr.Token, identity.Proof{Factor: identity.FactorOTP, Code: wrong(code)}, c)
	wantErr(t, "wrong login code", err, kassa.EInvalid, identity.CodeCodeInvalid)
	e.clock.Advance(2 * time.Second) // the backoff of the second-factor counter is not reached by one failure
	passed, err := e.svc.VerifySecondFactor(e.ctx, lr.Token, identity.Proof{Factor: identity.FactorOTP, Code: code}, c)
	if err != nil {
		t.Fatal(err)
	}
	if passed.Token == lr.Token || passed.Session.ID != lr.Session.ID || passed.Session.AAL != identity.AAL2 ||
		passed.Session.Pending || passed.Session.SecondFactorAt.IsZero() {
		t.Fatalf("after the second factor: %+v; want the same session at aal2 with a new token", passed.Session)
	}
	_, err = e.svc.Authenticate(e.ctx, lr.Token)
	wantErr(t, "the token before rotation", err, kassa.EUnauthorized, identity.CodeSessionInvalid)
	s, err := e.svc.Authenticate(e.ctx, passed.Token)
	if err != nil || s.AAL != identity.AAL2 {
		t.Fatalf("rotated token = %+v, %v", s, err)
	}
	// Its absolute expiry runs from the login, no longer the pending 15 min.
	if want := lr.Session.Created.Add(12 * time.Hour); !s.ExpiresAt.Equal(want) {
		t.Errorf("expiry %s, want %s", s.ExpiresAt, want)
	}
	// The code is used: a second attempt with it fails.
	if _, err := e.svc.VerifySecondFactor(e.ctx, passed.Token, identity.Proof{Factor: identity.FactorOTP, Code: code}, c); err == nil {
		t.Error("a login code worked twice")
	}
	// The new device is known now.
	if passed.DeviceToken == "" {
		t.Fatal("no device token after the second factor on a new device")
	}
	rec, err := e.svc.RecognizeDevice(e.ctx, s.CustomerID, passed.DeviceToken, "fp-new")
	if err != nil || !rec.Known || !rec.FingerprintMatch || rec.DeviceID != s.DeviceID {
		t.Errorf("RecognizeDevice = %+v, %v", rec, err)
	}
	for _, typ := range []string{identity.EventSecondFactorPassed, identity.EventDeviceAdded} {
		if len(e.events.of(typ)) == 0 {
			t.Errorf("no %s event", typ)
		}
	}
}

func TestRotationOnPasswordChange(t *testing.T) {
	e := newEnv(t)
	res := e.signUp(t, "pwc@example.com", "+4915100000503")
	other, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: "pwc@example.com", Password: goodPassword,
		Client: identity.Client{DeviceToken: res.DeviceToken}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.ChangePassword(e.ctx, res.Token, "not the password", "a new password here", client)
	wantErr(t, "wrong current password", err, kassa.EUnauthorized, identity.CodeLoginFailed)
	e.clock.Advance(time.Second)
	_, err = e.svc.ChangePassword(e.ctx, res.Token, goodPassword, "short", client)
	wantErr(t, "short new password", err, kassa.EInvalid, "password_too_short")
	ch, err := e.svc.ChangePassword(e.ctx, res.Token, goodPassword, "a new password here", client)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Token == res.Token || ch.Session.ID != res.Session.ID {
		t.Errorf("password change kept the token")
	}
	for what, tok := range map[string]string{"old token": res.Token, "other session": other.Token} {
		_, err := e.svc.Authenticate(e.ctx, tok)
		wantErr(t, what, err, kassa.EUnauthorized, identity.CodeSessionInvalid)
	}
	if _, err := e.svc.Authenticate(e.ctx, ch.Token); err != nil {
		t.Errorf("new token: %v", err)
	}
	if err := login(e, "pwc@example.com", "a new password here", ""); err != nil && kassa.AsError(err).Code == identity.CodeLoginFailed {
		t.Errorf("login with the new password: %v", err)
	}
}

func TestRevokeSessions(t *testing.T) {
	e := newEnv(t, func(c *identity.Config) { c.Limits.SessionsPerCustomer = 3 })
	res := e.signUp(t, "rev@example.com", "+4915100000504")
	dev := identity.Client{DeviceToken: res.DeviceToken}
	var toks []string
	for range 3 {
		e.clock.Advance(time.Second)
		lr, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: "rev@example.com", Password: goodPassword, Client: dev})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, lr.Token)
	}
	// Four logins, three kept: the sign-up's session (the oldest) ended.
	_, err := e.svc.Authenticate(e.ctx, res.Token)
	wantErr(t, "oldest session beyond the limit", err, kassa.EUnauthorized, identity.CodeSessionInvalid)
	ss, err := e.svc.Sessions(e.ctx, res.Customer.ID)
	if err != nil || len(ss) != 3 {
		t.Fatalf("Sessions = %d, %v; want 3", len(ss), err)
	}
	wantErr(t, "revoke another's", e.svc.RevokeSession(e.ctx, "cus_someoneelse", ss[0].ID), kassa.ENotFound, identity.CodeSessionNotFound)
	if err := e.svc.RevokeSession(e.ctx, res.Customer.ID, ss[0].ID); err != nil { // the newest: toks[2]
		t.Fatal(err)
	}
	_, err = e.svc.Authenticate(e.ctx, toks[2])
	wantErr(t, "revoked session", err, kassa.EUnauthorized, identity.CodeSessionInvalid)
	if n, err := e.svc.RevokeOtherSessions(e.ctx, toks[0]); err != nil || n != 1 {
		t.Errorf("RevokeOtherSessions = %d, %v; want 1", n, err)
	}
	if err := e.svc.Logout(e.ctx, toks[0]); err != nil {
		t.Fatal(err)
	}
	if ss, _ := e.svc.Sessions(e.ctx, res.Customer.ID); len(ss) != 0 {
		t.Errorf("%d sessions left after logging out everywhere", len(ss))
	}
	if err := e.svc.Logout(e.ctx, toks[0]); err != nil {
		t.Errorf("second logout: %v", err)
	}
}

func TestDevices(t *testing.T) {
	e := newEnv(t)
	a := e.signUp(t, "deva@example.com", "+4915100000505")
	b := e.signUp(t, "devb@example.com", "+4915100000506")
	rec, err := e.svc.RecognizeDevice(e.ctx, a.Customer.ID, a.DeviceToken, client.Fingerprint)
	if err != nil || !rec.Known || !rec.FingerprintMatch {
		t.Fatalf("A's device = %+v, %v; want known with its fingerprint", rec, err)
	}
	if rec, _ := e.svc.RecognizeDevice(e.ctx, a.Customer.ID, a.DeviceToken, "fp-other"); !rec.Known || rec.FingerprintMatch {
		t.Errorf("another fingerprint = %+v, want known without the match", rec)
	}
	devID, mac, _ := strings.Cut(a.DeviceToken, ".")
	forged := []string{
		devID + "." + strings.Repeat("A", len(mac)), // a made-up signature
		devID + "." + mac[:len(mac)-2] + "AA",
		strings.Replace(a.DeviceToken, devID, strings.Split(b.DeviceToken, ".")[0], 1), // A's signature on B's device
		devID, "", "garbage",
	}
	for _, tok := range forged {
		if rec, err := e.svc.RecognizeDevice(e.ctx, a.Customer.ID, tok, client.Fingerprint); err != nil || rec.Known {
			t.Errorf("forged token %q recognized: %+v, %v", tok, rec, err)
		}
	}
	if rec, _ := e.svc.RecognizeDevice(e.ctx, b.Customer.ID, a.DeviceToken, client.Fingerprint); rec.Known {
		t.Error("A's device token recognized for B")
	}
	// A forged device token makes the login one from a new device.
	lr, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: "deva@example.com", Password: goodPassword,
		Client: identity.Client{DeviceToken: forged[0], Fingerprint: client.Fingerprint}})
	if err != nil || !lr.Session.Pending || lr.Device.Known {
		t.Errorf("login with a forged device token = %+v, %v; want a second factor", lr, err)
	}
	ds, err := e.svc.Devices(e.ctx, a.Customer.ID)
	if err != nil || len(ds) != 1 || ds[0].ID != rec.DeviceID || ds[0].UserAgent != client.UserAgent {
		t.Fatalf("Devices = %+v, %v", ds, err)
	}
	// Revoking the device forgets it and ends its sessions.
	wantErr(t, "revoke another's", e.svc.RevokeDevice(e.ctx, b.Customer.ID, ds[0].ID), kassa.ENotFound, identity.CodeDeviceNotFound)
	if err := e.svc.RevokeDevice(e.ctx, a.Customer.ID, ds[0].ID); err != nil {
		t.Fatal(err)
	}
	if rec, _ := e.svc.RecognizeDevice(e.ctx, a.Customer.ID, a.DeviceToken, client.Fingerprint); rec.Known {
		t.Error("a revoked device is still known")
	}
	_, err = e.svc.Authenticate(e.ctx, a.Token)
	wantErr(t, "session of a revoked device", err, kassa.EUnauthorized, identity.CodeSessionInvalid)
	if ds, _ := e.svc.Devices(e.ctx, a.Customer.ID); len(ds) != 0 {
		t.Errorf("%d devices after revoking the only one", len(ds))
	}
}

// Risk is told when a customer's credentials last changed: setting the
// password and phone at sign-up is no change; a new password later is.
func TestCredentialsChangedAt(t *testing.T) {
	e := newEnv(t)
	res := e.signUp(t, "cred@example.com", "+4915100000507")
	c, err := e.svc.Customer(e.ctx, res.Session.CustomerID)
	if err != nil || !c.CredentialsChangedAt.IsZero() {
		t.Fatalf("after sign-up: CredentialsChangedAt %v, %v; want zero", c.CredentialsChangedAt, err)
	}
	e.clock.Advance(3 * time.Hour)
	lr, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: "cred@example.com", Password: goodPassword,
		Client: identity.Client{DeviceToken: res.DeviceToken}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ChangePassword(e.ctx, lr.Token, goodPassword, "a new password here", client); err != nil {
		t.Fatal(err)
	}
	c, err = e.svc.Customer(e.ctx, res.Session.CustomerID)
	if err != nil || !c.CredentialsChangedAt.Equal(e.clock.Now()) {
		t.Errorf("after a password change: CredentialsChangedAt %v, %v; want %v", c.CredentialsChangedAt, err, e.clock.Now())
	}
}
