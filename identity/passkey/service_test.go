package passkey_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity/passkey"
	"github.com/kassa/kassa/identity/passkey/passkeytest"
	"github.com/kassa/kassa/internal/syncbuf"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/store/sqlstore"
)

const (
	testRPID   = "pay.example"
	testOrigin = "https://pay.example"
)

// env is a service over a fresh SQLite database, a payer and their
// software authenticator.
type env struct {
	svc   *passkey.Service
	store *sqlstore.Passkeys
	clock *testclock.Clock
	auth  *passkeytest.Authenticator
	user  passkey.User
	logs  *syncbuf.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{
		store: sqlstore.NewPasskeys(db),
		clock: testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		auth:  passkeytest.New(testOrigin),
		user:  passkey.User{CustomerID: "cus_payer0000000000001", Email: "payer@example.com", DisplayName: "Pat Payer"},
		logs:  &syncbuf.Buffer{},
	}
	e.svc, err = passkey.New(passkey.Config{
		RPID: testRPID, RPDisplayName: "Kassa", Origins: []string{testOrigin}, Store: e.store, Clock: e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// register registers a passkey for the env's user on its authenticator.
func (e *env) register(t *testing.T) passkey.Credential {
	t.Helper()
	ctx := context.Background()
	opts, cid, err := e.svc.BeginRegistration(ctx, e.user)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.auth.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.FinishRegistration(ctx, cid, e.user, resp)
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return c
}

// stepUp runs a step-up ceremony for subject and returns FinishLogin's
// result.
func (e *env) stepUp(t *testing.T, subject string) (passkey.Credential, error) {
	t.Helper()
	ctx := context.Background()
	opts, cid, err := e.svc.BeginLogin(ctx, e.user, passkey.PurposeStepUp, subject)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e.svc.FinishLogin(ctx, cid, passkey.PurposeStepUp, subject, resp)
}

func wantCode(t *testing.T, what string, err error, kind, code string) {
	t.Helper()
	ke := kassa.AsError(err)
	if ke == nil || ke.Kind != kind || ke.Code != code {
		t.Errorf("%s = %v, want %s %s", what, err, kind, code)
	}
}

// publicKeyOptions decodes the "publicKey" member of Begin*'s options.
func publicKeyOptions(t *testing.T, opts []byte) map[string]any {
	t.Helper()
	var o struct {
		PublicKey map[string]any `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil || o.PublicKey == nil {
		t.Fatalf("options %s: %v", opts, err)
	}
	return o.PublicKey
}

func TestRegisterAndStepUp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	opts, _, err := e.svc.BeginRegistration(ctx, e.user)
	if err != nil {
		t.Fatal(err)
	}
	pk := publicKeyOptions(t, opts)
	sel, _ := pk["authenticatorSelection"].(map[string]any)
	if sel["userVerification"] != "required" || sel["residentKey"] != "preferred" {
		t.Errorf("authenticatorSelection = %v, want userVerification required, residentKey preferred", sel)
	}
	user, _ := pk["user"].(map[string]any)
	if user["id"] != base64.RawURLEncoding.EncodeToString([]byte(e.user.CustomerID)) ||
		user["name"] != e.user.Email || user["displayName"] != e.user.DisplayName {
		t.Errorf("user = %v, want the customer id as handle and the email as name", user)
	}
	if rp, _ := pk["rp"].(map[string]any); rp["id"] != testRPID || rp["name"] != "Kassa" {
		t.Errorf("rp = %v", rp)
	}
	if _, ok := pk["excludeCredentials"]; ok {
		t.Errorf("excludeCredentials = %v before any registration", pk["excludeCredentials"])
	}

	c := e.register(t)
	if !strings.HasPrefix(c.ID, "pkey_") || c.CustomerID != e.user.CustomerID || c.RPID != testRPID || c.Name != "Passkey" {
		t.Errorf("credential = %+v", c)
	}
	held := e.auth.Credentials()[0]
	if string(c.CredentialID) != string(held.ID) || len(c.PublicKey) == 0 || c.PublicKeyAlgorithm != -7 {
		t.Errorf("credential id %x (want %x), public key %d bytes, alg %d", c.CredentialID, held.ID, len(c.PublicKey), c.PublicKeyAlgorithm)
	}
	if c.AAGUIDString() != "6b617373-612d-7465-7374-2d617574686e" || !c.UserVerified || c.SignCount != 1 ||
		c.Discoverable == nil || !*c.Discoverable || len(c.Transports) != 1 || c.Transports[0] != "internal" ||
		c.Attachment != "platform" || c.AttestationFormat != "none" || !c.LastUsed.IsZero() {
		t.Errorf("credential = %+v", c)
	}
	if !c.Created.Equal(e.clock.Now()) {
		t.Errorf("created %v, want %v", c.Created, e.clock.Now())
	}

	// A second registration excludes the first: the authenticator refuses.
	opts, _, err = e.svc.BeginRegistration(ctx, e.user)
	if err != nil {
		t.Fatal(err)
	}
	ex, _ := publicKeyOptions(t, opts)["excludeCredentials"].([]any)
	if len(ex) != 1 || ex[0].(map[string]any)["id"] != base64.RawURLEncoding.EncodeToString(c.CredentialID) {
		t.Errorf("excludeCredentials = %v, want the registered passkey", ex)
	}
	if _, err := e.auth.Create(opts); !errors.Is(err, passkeytest.ErrExcluded) {
		t.Errorf("Create with the passkey excluded = %v", err)
	}

	// Step-up for a payment.
	e.clock.Advance(time.Minute)
	opts, cid, err := e.svc.BeginLogin(ctx, e.user, passkey.PurposeStepUp, "pay_123")
	if err != nil {
		t.Fatal(err)
	}
	pk = publicKeyOptions(t, opts)
	allow, _ := pk["allowCredentials"].([]any)
	if pk["userVerification"] != "required" || pk["rpId"] != testRPID || len(allow) != 1 {
		t.Errorf("login options = %v", pk)
	}
	resp, err := e.auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.FinishLogin(ctx, cid, passkey.PurposeStepUp, "pay_123", resp)
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if got.ID != c.ID || got.SignCount != 2 || !got.LastUsed.Equal(e.clock.Now()) {
		t.Errorf("after step-up: %+v", got)
	}
	list, err := e.svc.Credentials(ctx, e.user.CustomerID)
	if err != nil || len(list) != 1 || list[0].SignCount != 2 || !list[0].LastUsed.Equal(e.clock.Now()) {
		t.Errorf("Credentials = %+v, %v", list, err)
	}
}

func TestReplayRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t)
	opts, cid, err := e.svc.BeginLogin(ctx, e.user, passkey.PurposeStepUp, "pay_1")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.FinishLogin(ctx, cid, passkey.PurposeStepUp, "pay_1", resp); err != nil {
		t.Fatal(err)
	}
	// The same response again: the ceremony is gone.
	_, err = e.svc.FinishLogin(ctx, cid, passkey.PurposeStepUp, "pay_1", resp)
	wantCode(t, "replayed FinishLogin", err, kassa.EUnprocessable, passkey.CodeCeremonyUnknown)
	// The same response for a new ceremony: another challenge.
	_, cid2, err := e.svc.BeginLogin(ctx, e.user, passkey.PurposeStepUp, "pay_1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.FinishLogin(ctx, cid2, passkey.PurposeStepUp, "pay_1", resp)
	wantCode(t, "old response for a new ceremony", err, kassa.EUnauthorized, passkey.CodeVerificationFailed)
	var pe *protocol.Error
	if !errors.As(err, &pe) || !strings.Contains(pe.Details, "challenge") {
		t.Errorf("library error = %v, want a challenge mismatch", pe)
	}
	// A registration response replayed.
	opts, cid, err = e.svc.BeginRegistration(ctx, e.user)
	if err != nil {
		t.Fatal(err)
	}
	e2 := passkeytest.New(testOrigin)
	reg, err := e2.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.FinishRegistration(ctx, cid, e.user, reg); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.FinishRegistration(ctx, cid, e.user, reg)
	wantCode(t, "replayed FinishRegistration", err, kassa.EUnprocessable, passkey.CodeCeremonyUnknown)
}

func TestCeremonyExpires(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Just inside the limit works.
	opts, cid, err := e.svc.BeginRegistration(ctx, e.user)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(passkey.CeremonyTTL - time.Microsecond)
	resp, _ := e.auth.Create(opts)
	if _, err := e.svc.FinishRegistration(ctx, cid, e.user, resp); err != nil {
		t.Fatalf("finish just before expiry: %v", err)
	}
	// At the limit it is refused, registration and login alike.
	opts, cid, err = e.svc.BeginRegistration(ctx, e.user)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(passkey.CeremonyTTL)
	resp, _ = passkeytest.New(testOrigin).Create(opts)
	_, err = e.svc.FinishRegistration(ctx, cid, e.user, resp)
	wantCode(t, "expired registration", err, kassa.EUnprocessable, passkey.CodeCeremonyExpired)

	opts, cid, err = e.svc.BeginLogin(ctx, e.user, passkey.PurposeLogin, "")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(passkey.CeremonyTTL)
	resp, _ = e.auth.Get(opts)
	_, err = e.svc.FinishLogin(ctx, cid, passkey.PurposeLogin, "", resp)
	wantCode(t, "expired login", err, kassa.EUnprocessable, passkey.CodeCeremonyExpired)

	// Pruning deletes what expired and keeps the rest.
	if _, _, err := e.svc.BeginLogin(ctx, e.user, passkey.PurposeLogin, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.BeginLogin(ctx, e.user, passkey.PurposeLogin, ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(passkey.CeremonyTTL + time.Second)
	_, fresh, err := e.svc.BeginLogin(ctx, e.user, passkey.PurposeLogin, "")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.PruneCeremonies(ctx); err != nil || n != 2 {
		t.Errorf("PruneCeremonies = %d, %v; want 2", n, err)
	}
	if _, err := e.store.TakeCeremony(ctx, fresh); err != nil {
		t.Errorf("the fresh ceremony was pruned: %v", err)
	}
}

func TestWrongOriginAndRPID(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		mutate func(a *passkeytest.Authenticator)
		want   string // in the library's error
	}{
		{"origin", func(a *passkeytest.Authenticator) { a.Origin = "https://pay.example.evil" }, "origin"},
		{"http origin", func(a *passkeytest.Authenticator) { a.Origin = "http://pay.example" }, "origin"},
		{"rp id", func(a *passkeytest.Authenticator) { a.RPID = "evil.example" }, "RP Hash mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			good := e.register(t)
			// Registration from the wrong place.
			bad := passkeytest.New(testOrigin)
			tt.mutate(bad)
			opts, cid, err := e.svc.BeginRegistration(ctx, e.user)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := bad.Create(opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.svc.FinishRegistration(ctx, cid, e.user, resp)
			wantCode(t, "registration", err, kassa.EUnauthorized, passkey.CodeVerificationFailed)
			if err == nil || !strings.Contains(err.Error()+libraryInfo(err), tt.want) {
				t.Errorf("registration error %v (%s), want it to name %q", err, libraryInfo(err), tt.want)
			}
			// A login from the wrong place, with the good credential.
			tt.mutate(e.auth)
			_, err = e.stepUp(t, "pay_9")
			wantCode(t, "login", err, kassa.EUnauthorized, passkey.CodeVerificationFailed)
			if err == nil || !strings.Contains(err.Error()+libraryInfo(err), tt.want) {
				t.Errorf("login error %v (%s), want it to name %q", err, libraryInfo(err), tt.want)
			}
			// Nothing changed: one passkey, its counter as registered.
			list, _ := e.svc.Credentials(ctx, e.user.CustomerID)
			if len(list) != 1 || list[0].SignCount != good.SignCount {
				t.Errorf("passkeys after refusals: %+v", list)
			}
		})
	}
}

func libraryInfo(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Details + " " + pe.DevInfo
	}
	return ""
}

func TestUserVerificationRequired(t *testing.T) {
	ctx := context.Background()
	for _, asked := range []string{"required", "preferred", "discouraged"} {
		t.Run("asked "+asked, func(t *testing.T) {
			e := newEnv(t)
			e.register(t)
			// The library is told what the options ask; the service's own
			// check of the UV bit refuses whatever they asked.
			passkey.SetUserVerification(e.svc, asked)
			noUV := passkeytest.New(testOrigin)
			noUV.UserVerified = false
			opts, cid, err := e.svc.BeginRegistration(ctx, e.user)
			if err != nil {
				t.Fatal(err)
			}
			sel, _ := publicKeyOptions(t, opts)["authenticatorSelection"].(map[string]any)
			if sel["userVerification"] != asked {
				t.Fatalf("options ask userVerification %v, want %s", sel["userVerification"], asked)
			}
			resp, err := noUV.Create(opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.svc.FinishRegistration(ctx, cid, e.user, resp)
			wantCode(t, "registration without UV", err, kassa.EForbidden, passkey.CodeUserVerificationRequired)

			e.auth.UserVerified = false
			_, err = e.stepUp(t, "pay_1")
			wantCode(t, "step-up without UV", err, kassa.EForbidden, passkey.CodeUserVerificationRequired)
			e.auth.UserVerified = true
			if _, err := e.stepUp(t, "pay_1"); err != nil {
				t.Errorf("step-up with UV after a refusal: %v", err)
			}
			if list, _ := e.svc.Credentials(ctx, e.user.CustomerID); len(list) != 1 {
				t.Errorf("%d passkeys, want only the verified one", len(list))
			}
		})
	}
}

func TestUserPresenceRequired(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t)
	e.auth.UserPresent = false
	_, err := e.stepUp(t, "pay_1")
	wantCode(t, "step-up without UP", err, kassa.EForbidden, passkey.CodeUserPresenceRequired)

	opts, cid, err := e.svc.BeginRegistration(ctx, e.user)
	if err != nil {
		t.Fatal(err)
	}
	a := passkeytest.New(testOrigin)
	a.UserPresent = false
	resp, _ := a.Create(opts)
	_, err = e.svc.FinishRegistration(ctx, cid, e.user, resp)
	wantCode(t, "registration without UP", err, kassa.EForbidden, passkey.CodeUserPresenceRequired)
}

func TestCounterRegression(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register(t)
	for range 3 {
		if _, err := e.stepUp(t, "pay_1"); err != nil {
			t.Fatal(err)
		}
	}
	// A copy of the key with an older counter (a clone) signs next.
	e.auth.SetSignCount(c.CredentialID, 2) // sends 3; 4 is stored
	_, err := e.stepUp(t, "pay_2")
	wantCode(t, "step-up with a lower counter", err, kassa.EForbidden, passkey.CodePossiblyCloned)
	got, err := e.store.Credential(ctx, e.user.CustomerID, c.ID)
	if err != nil || !got.CloneSuspected.Equal(e.clock.Now()) || got.SignCount != 4 {
		t.Errorf("credential after the regression: %+v, %v; want flagged, count 4", got, err)
	}
	if !strings.Contains(e.logs.String(), "possibly cloned") {
		t.Errorf("no warning logged: %s", e.logs)
	}
	// Flagged: refused even with a counter that goes up again.
	e.auth.SetSignCount(c.CredentialID, 100)
	_, err = e.stepUp(t, "pay_3")
	wantCode(t, "step-up with a flagged passkey", err, kassa.EForbidden, passkey.CodePossiblyCloned)
	if got, _ := e.svc.Credentials(ctx, e.user.CustomerID); got[0].SignCount != 4 {
		t.Errorf("sign count %d after refusals, want 4", got[0].SignCount)
	}
	// An equal counter is a regression too.
	e2 := newEnv(t)
	c2 := e2.register(t)
	e2.auth.SetSignCount(c2.CredentialID, 0) // sends 1, as registered
	_, err = e2.stepUp(t, "pay_1")
	wantCode(t, "step-up repeating the counter", err, kassa.EForbidden, passkey.CodePossiblyCloned)
}

func TestNoCounter(t *testing.T) {
	e := newEnv(t)
	e.auth.NoCounter = true
	e.register(t)
	for i := range 3 {
		if c, err := e.stepUp(t, "pay_1"); err != nil || c.SignCount != 0 {
			t.Fatalf("step-up %d with an authenticator without counter: %+v, %v", i, c, err)
		}
	}
}

func TestLimitPerCustomer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for range passkey.CredentialsPerCustomerMax - 1 {
		e.auth = passkeytest.New(testOrigin)
		e.register(t)
	}
	// Two ceremonies begun at 19 passkeys: one of them gets the 20th.
	var resps [2][]byte
	var cids [2]string
	for i := range 2 {
		opts, cid, err := e.svc.BeginRegistration(ctx, e.user)
		if err != nil {
			t.Fatal(err)
		}
		resps[i], _ = passkeytest.New(testOrigin).Create(opts)
		cids[i] = cid
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { _, errs[i] = e.svc.FinishRegistration(ctx, cids[i], e.user, resps[i]) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Errorf("finishing two registrations at %d passkeys: %v, %v; want one refused", passkey.CredentialsPerCustomerMax-1, errs[0], errs[1])
	}
	for _, err := range errs {
		if err != nil {
			wantCode(t, "registration over the limit", err, kassa.EUnprocessable, passkey.CodeLimitReached)
		}
	}
	_, _, err := e.svc.BeginRegistration(ctx, e.user)
	wantCode(t, "BeginRegistration at the limit", err, kassa.EUnprocessable, passkey.CodeLimitReached)
	if list, _ := e.svc.Credentials(ctx, e.user.CustomerID); len(list) != passkey.CredentialsPerCustomerMax {
		t.Errorf("%d passkeys, want %d", len(list), passkey.CredentialsPerCustomerMax)
	}
	// Another customer is not affected.
	other := passkey.User{CustomerID: "cus_other", Email: "o@example.com"}
	if _, _, err := e.svc.BeginRegistration(ctx, other); err != nil {
		t.Errorf("another customer: %v", err)
	}
}

func TestCeremonyBinding(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t)
	opts, cid, err := e.svc.BeginLogin(ctx, e.user, passkey.PurposeStepUp, "pay_1")
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := e.auth.Get(opts)
	_, err = e.svc.FinishLogin(ctx, cid, passkey.PurposeStepUp, "pay_2", resp)
	wantCode(t, "step-up for another payment", err, kassa.EForbidden, passkey.CodeCeremonyMismatch)
	// Consumed by the failed attempt.
	_, err = e.svc.FinishLogin(ctx, cid, passkey.PurposeStepUp, "pay_1", resp)
	wantCode(t, "the right payment after a mismatch", err, kassa.EUnprocessable, passkey.CodeCeremonyUnknown)

	opts, cid, _ = e.svc.BeginLogin(ctx, e.user, passkey.PurposeLogin, "")
	resp, _ = e.auth.Get(opts)
	_, err = e.svc.FinishLogin(ctx, cid, passkey.PurposeStepUp, "", resp)
	wantCode(t, "a login ceremony for a step-up", err, kassa.EForbidden, passkey.CodeCeremonyMismatch)

	// Kinds and users.
	_, cid, _ = e.svc.BeginLogin(ctx, e.user, passkey.PurposeLogin, "")
	_, err = e.svc.FinishRegistration(ctx, cid, e.user, []byte(`{}`))
	wantCode(t, "a login ceremony finished as registration", err, kassa.EForbidden, passkey.CodeCeremonyMismatch)
	opts, cid, _ = e.svc.BeginRegistration(ctx, e.user)
	resp, _ = passkeytest.New(testOrigin).Create(opts)
	_, err = e.svc.FinishRegistration(ctx, cid, passkey.User{CustomerID: "cus_mallory", Email: "m@example.com"}, resp)
	wantCode(t, "registration finished for another customer", err, kassa.EForbidden, passkey.CodeCeremonyMismatch)
	for _, bad := range []string{"", "pkc_nope", "cus_x", strings.Repeat("a", 200)} {
		_, err = e.svc.FinishLogin(ctx, bad, passkey.PurposeLogin, "", resp)
		wantCode(t, "FinishLogin("+bad[:min(len(bad), 10)]+")", err, kassa.EUnprocessable, passkey.CodeCeremonyUnknown)
	}
}

func TestOtherCustomersPasskey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t)
	// Mallory registers her own passkey, then answers the payer's step-up
	// with it.
	mallory := passkey.User{CustomerID: "cus_mallory", Email: "m@example.com"}
	ma := passkeytest.New(testOrigin)
	opts, cid, _ := e.svc.BeginRegistration(ctx, mallory)
	resp, _ := ma.Create(opts)
	if _, err := e.svc.FinishRegistration(ctx, cid, mallory, resp); err != nil {
		t.Fatal(err)
	}
	_, cid, _ = e.svc.BeginLogin(ctx, e.user, passkey.PurposeStepUp, "pay_1")
	mopts, _, _ := e.svc.BeginLogin(ctx, mallory, passkey.PurposeStepUp, "pay_1")
	resp, err := ma.Get(mopts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.FinishLogin(ctx, cid, passkey.PurposeStepUp, "pay_1", resp)
	wantCode(t, "another customer's passkey", err, kassa.EUnauthorized, passkey.CodeUnknownCredential)
}

func TestDiscoverableLogin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register(t)
	opts, cid, err := e.svc.BeginDiscoverableLogin(ctx, passkey.PurposeLogin, "")
	if err != nil {
		t.Fatal(err)
	}
	pk := publicKeyOptions(t, opts)
	if _, ok := pk["allowCredentials"]; ok || pk["userVerification"] != "required" {
		t.Errorf("discoverable options = %v", pk)
	}
	resp, err := e.auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.FinishLogin(ctx, cid, passkey.PurposeLogin, "", resp)
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if got.ID != c.ID || got.CustomerID != e.user.CustomerID || got.SignCount != 2 {
		t.Errorf("discoverable login = %+v", got)
	}
	// A deleted passkey opens nothing.
	if err := e.svc.Delete(ctx, e.user.CustomerID, c.ID); err != nil {
		t.Fatal(err)
	}
	opts, cid, _ = e.svc.BeginDiscoverableLogin(ctx, passkey.PurposeLogin, "")
	resp, _ = e.auth.Get(opts)
	_, err = e.svc.FinishLogin(ctx, cid, passkey.PurposeLogin, "", resp)
	wantCode(t, "login with a deleted passkey", err, kassa.EUnauthorized, passkey.CodeUnknownCredential)
	_, _, err = e.svc.BeginLogin(ctx, e.user, passkey.PurposeLogin, "")
	wantCode(t, "BeginLogin without passkeys", err, kassa.EUnprocessable, passkey.CodeNoPasskeys)
}

func TestRenameDelete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register(t)
	got, err := e.svc.Rename(ctx, e.user.CustomerID, c.ID, "  Work laptop  ")
	if err != nil || got.Name != "Work laptop" {
		t.Errorf("Rename = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "   ", strings.Repeat("x", passkey.NameLengthMax+1), "a\nb", "\x00"} {
		_, err := e.svc.Rename(ctx, e.user.CustomerID, c.ID, bad)
		wantCode(t, "Rename("+bad+")", err, kassa.EInvalid, passkey.CodeNameInvalid)
	}
	if _, err := e.svc.Rename(ctx, e.user.CustomerID, c.ID, strings.Repeat("é", passkey.NameLengthMax)); err != nil {
		t.Errorf("a name of %d characters: %v", passkey.NameLengthMax, err)
	}
	_, err = e.svc.Rename(ctx, "cus_other", c.ID, "mine")
	wantCode(t, "Rename by another customer", err, kassa.ENotFound, passkey.CodeNotFound)
	wantCode(t, "Delete by another customer", e.svc.Delete(ctx, "cus_other", c.ID), kassa.ENotFound, passkey.CodeNotFound)
	if err := e.svc.Delete(ctx, e.user.CustomerID, c.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "Delete twice", e.svc.Delete(ctx, e.user.CustomerID, c.ID), kassa.ENotFound, passkey.CodeNotFound)
	if list, err := e.svc.Credentials(ctx, e.user.CustomerID); err != nil || len(list) != 0 {
		t.Errorf("Credentials after delete = %v, %v", list, err)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.register(t)
	for _, u := range []passkey.User{{}, {CustomerID: "mer_x"}, {CustomerID: "cus_" + strings.Repeat("x", 61)}} {
		_, _, err := e.svc.BeginRegistration(ctx, u)
		wantCode(t, "BeginRegistration("+u.CustomerID+")", err, kassa.EInvalid, passkey.CodeCustomerInvalid)
	}
	_, _, err := e.svc.BeginLogin(ctx, e.user, "pay", "")
	wantCode(t, "unknown purpose", err, kassa.EInvalid, passkey.CodePurposeInvalid)
	_, _, err = e.svc.BeginLogin(ctx, e.user, passkey.PurposeStepUp, strings.Repeat("p", passkey.SubjectLengthMax+1))
	wantCode(t, "long subject", err, kassa.EInvalid, passkey.CodeSubjectInvalid)
	_, _, err = e.svc.BeginLogin(ctx, e.user, passkey.PurposeStepUp, "")
	wantCode(t, "step-up without a subject", err, kassa.EInvalid, passkey.CodeSubjectInvalid)
	_, _, err = e.svc.BeginDiscoverableLogin(ctx, passkey.PurposeLogin, "a\tb")
	wantCode(t, "subject with a tab", err, kassa.EInvalid, passkey.CodeSubjectInvalid)

	for _, resp := range []string{``, `null`, `{}`, `{"id":"x"}`, `[1,2]`, `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}`} {
		_, cid, _ := e.svc.BeginLogin(ctx, e.user, passkey.PurposeLogin, "")
		_, err := e.svc.FinishLogin(ctx, cid, passkey.PurposeLogin, "", []byte(resp))
		wantCode(t, "FinishLogin("+resp+")", err, kassa.EInvalid, passkey.CodeResponseInvalid)
	}
	_, cid, _ := e.svc.BeginLogin(ctx, e.user, passkey.PurposeLogin, "")
	_, err = e.svc.FinishLogin(ctx, cid, passkey.PurposeLogin, "", make([]byte, passkey.ResponseBytesMax+1))
	wantCode(t, "huge response", err, kassa.ETooLarge, passkey.CodeResponseInvalid)
}

func TestConfig(t *testing.T) {
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := sqlstore.NewPasskeys(db)
	good := passkey.Config{RPID: "pay.example", RPDisplayName: "Kassa", Origins: []string{"https://pay.example"}, Store: store}
	if _, err := passkey.New(good); err != nil {
		t.Fatal(err)
	}
	for _, origins := range [][]string{nil, {"http://pay.example"}, {"https://pay.example/path"}, {"pay.example"},
		{"https://pay.example", "ftp://pay.example"}} {
		cfg := good
		cfg.Origins = origins
		if _, err := passkey.New(cfg); err == nil {
			t.Errorf("New accepted origins %q", origins)
		}
	}
	for _, origin := range []string{"http://localhost:8080", "http://127.0.0.1:1", "http://[::1]:2"} {
		cfg := good
		cfg.Origins = []string{origin}
		if _, err := passkey.New(cfg); err != nil {
			t.Errorf("New refused %q: %v", origin, err)
		}
	}
	for _, cfg := range []passkey.Config{
		{RPDisplayName: "Kassa", Origins: good.Origins, Store: store},
		{RPID: "pay.example", Origins: good.Origins, Store: store},
		{RPID: "pay.example", RPDisplayName: "Kassa", Origins: good.Origins},
		{RPID: "https://pay.example", RPDisplayName: "Kassa", Origins: good.Origins, Store: store},
	} {
		if _, err := passkey.New(cfg); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
}
