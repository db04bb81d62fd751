package identity_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

// oathtool returns the TOTP code of a base32 secret at t, computed by
// Debian's oathtool: an implementation independent of ours. Without it
// the test skips loudly, unless KASSA_TEST_REQUIRE names oathtool.
func oathtool(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	path, err := exec.LookPath("oathtool")
	if err != nil {
		if slices.Contains(strings.Split(os.Getenv("KASSA_TEST_REQUIRE"), ","), "oathtool") {
			t.Fatalf("oathtool is required (KASSA_TEST_REQUIRE) but not installed: %v", err)
		}
		t.Skipf("SKIPPING: oathtool not installed (apt-get install oathtool); TOTP is not checked against an independent implementation")
	}
	out, err := exec.Command(path, "--totp", "-b", "--now", "@"+strconv.FormatInt(at.Unix(), 10), secret).CombinedOutput()
	if err != nil {
		t.Fatalf("oathtool: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func enrolledEnv(t *testing.T) (*env, identity.LoginResult, identity.TOTPEnrolment) {
	t.Helper()
	e := newEnv(t)
	res := e.signUp(t, "totp@example.com", "+4915100000600")
	en, err := e.svc.EnrolTOTP(e.ctx, res.Customer.ID)
	if err != nil {
		t.Fatal(err)
	}
	return e, res, en
}

func TestTOTPAcceptedFromOathtool(t *testing.T) {
	e, res, en := enrolledEnv(t)
	cus := res.Customer.ID
	if !strings.HasPrefix(en.URI, "otpauth://totp/Kassa:totp@example.com?") || !strings.Contains(en.URI, "secret="+en.Secret) {
		t.Errorf("URI = %q", en.URI)
	}
	img, err := png.Decode(bytes.NewReader(en.QRPNG))
	if err != nil || img.Bounds().Dx() != 256 {
		t.Errorf("QR code is no 256-pixel PNG: %v", err)
	}
	r, _ := e.store.Customer(e.ctx, cus)
	if bytes.Contains(r.TOTP.Pending, []byte(en.Secret)) || len(r.TOTP.Secret) != 0 {
		t.Error("the pending secret is stored in clear, or counted as enrolled")
	}
	_, err = e.svc.ConfirmTOTP(e.ctx, cus, "000000")
	if err != nil && kassa.AsError(err).Code != identity.CodeCodeInvalid {
		t.Fatalf("ConfirmTOTP with a wrong code = %v", err)
	}
	codes, err := e.svc.ConfirmTOTP(e.ctx, cus, oathtool(t, en.Secret, e.clock.Now()))
	if err != nil {
		t.Fatalf("ConfirmTOTP with oathtool's code: %v", err)
	}
	if len(codes) != identity.RecoveryCodeCount {
		t.Errorf("%d recovery codes, want %d", len(codes), identity.RecoveryCodeCount)
	}
	// The code of the step used to confirm is used up.
	wantErr(t, "replayed code", e.svc.VerifyTOTP(e.ctx, cus, oathtool(t, en.Secret, e.clock.Now())), kassa.EInvalid, identity.CodeCodeInvalid)
	e.clock.Advance(identity.TOTPPeriod)
	next := oathtool(t, en.Secret, e.clock.Now())
	if err := e.svc.VerifyTOTP(e.ctx, cus, next); err != nil {
		t.Fatalf("oathtool's code of the next step: %v", err)
	}
	e.clock.Advance(time.Second)
	wantErr(t, "the same code again", e.svc.VerifyTOTP(e.ctx, cus, next), kassa.EInvalid, identity.CodeCodeInvalid)
	if len(e.events.of(identity.EventTOTPEnabled)) != 1 {
		t.Error("no totp_enabled event")
	}
	if _, err := e.svc.EnrolTOTP(e.ctx, cus); kassa.AsError(err).Code != identity.CodeTOTPEnrolled {
		t.Errorf("second enrolment = %v, want totp_already_enrolled", err)
	}
}

// code computes a TOTP code with the library, for skew tests.
func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTOTPSkew(t *testing.T) {
	e, res, en := enrolledEnv(t)
	cus := res.Customer.ID
	// Align the clock to the middle of a step.
	now := e.clock.Now()
	e.clock.Set(now.Truncate(identity.TOTPPeriod).Add(15 * time.Second))
	if _, err := e.svc.ConfirmTOTP(e.ctx, cus, code(t, en.Secret, e.clock.Now().Add(-3*identity.TOTPPeriod))); err == nil {
		t.Fatal("a code three steps old confirmed the enrolment")
	}
	e.clock.Advance(10 * time.Second) // past the backoff
	if _, err := e.svc.ConfirmTOTP(e.ctx, cus, code(t, en.Secret, e.clock.Now().Add(-identity.TOTPPeriod))); err != nil {
		t.Fatalf("a code one step old: %v", err)
	}
	// ±1 step: the current and next are still newer than the one used.
	base := e.clock.Now()
	for _, tt := range []struct {
		off  time.Duration
		want bool
	}{{2 * identity.TOTPPeriod, false}, {identity.TOTPPeriod, true}, {0, false} /* older than the one just used */} {
		err := e.svc.VerifyTOTP(e.ctx, cus, code(t, en.Secret, base.Add(tt.off)))
		if (err == nil) != tt.want {
			t.Errorf("code at %s: %v, want accepted %v", tt.off, err, tt.want)
		}
	}
}

func TestRecoveryCodes(t *testing.T) {
	e, res, en := enrolledEnv(t)
	cus := res.Customer.ID
	codes, err := e.svc.ConfirmTOTP(e.ctx, cus, code(t, en.Secret, e.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 11 || c[5] != '-' || seen[c] {
			t.Errorf("recovery code %q: want xxxxx-xxxxx, unique", c)
		}
		seen[c] = true
	}
	// A login from a new device offers the authenticator and the codes.
	lr := e.newDeviceLogin(t, "totp@example.com")
	if !slices.Equal(lr.Factors, []identity.Factor{identity.FactorTOTP, identity.FactorRecoveryCode, identity.FactorOTP}) {
		t.Errorf("factors = %v", lr.Factors)
	}
	c := identity.Client{IP: "192.0.2.60"}
	passed, err := e.svc.VerifySecondFactor(e.ctx, lr.Token, identity.Proof{Factor: identity.FactorRecoveryCode, Code: strings.ToUpper(codes[3])}, c)
	if err != nil || passed.Session.AAL != identity.AAL2 {
		t.Fatalf("recovery code as second factor = %+v, %v", passed.Session, err)
	}
	if n, _ := e.svc.RecoveryCodesLeft(e.ctx, cus); n != identity.RecoveryCodeCount-1 {
		t.Errorf("%d recovery codes left, want %d", n, identity.RecoveryCodeCount-1)
	}
	lr = e.newDeviceLogin(t, "totp@example.com")
	_, err = e.svc.VerifySecondFactor(e.ctx, lr.Token, identity.Proof{Factor: identity.FactorRecoveryCode, Code: codes[3]}, c)
	wantErr(t, "recovery code used twice", err, kassa.EInvalid, identity.CodeCodeInvalid)
	// TOTP passes the login too; disabling removes factor and codes.
	e.clock.Advance(identity.TOTPPeriod)
	if _, err := e.svc.VerifySecondFactor(e.ctx, lr.Token, identity.Proof{Factor: identity.FactorTOTP, Code: code(t, en.Secret, e.clock.Now())}, c); err != nil {
		t.Fatalf("totp as second factor: %v", err)
	}
	if err := e.svc.DisableTOTP(e.ctx, cus); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.svc.RecoveryCodesLeft(e.ctx, cus); n != 0 {
		t.Errorf("%d recovery codes left after disabling TOTP", n)
	}
	if lr := e.newDeviceLogin(t, "totp@example.com"); !slices.Equal(lr.Factors, []identity.Factor{identity.FactorOTP}) {
		t.Errorf("factors after disabling = %v", lr.Factors)
	}
	if len(e.events.of(identity.EventRecoveryCodeUsed)) != 1 || len(e.events.of(identity.EventTOTPDisabled)) != 1 {
		t.Error("missing recovery_code_used or totp_disabled event")
	}
}

// passkeys is a FactorVerifier standing in for the WebAuthn module.
type passkeys struct{ sessions []string }

func (p *passkeys) Enrolled(_ context.Context, _ string) (bool, error) { return true, nil }
func (p *passkeys) Verify(_ context.Context, _, sessionID string, pr identity.Proof) (bool, error) {
	p.sessions = append(p.sessions, sessionID)
	return string(pr.Data) == "signed-assertion", nil
}

func TestExtraFactor(t *testing.T) {
	pk := &passkeys{}
	e := newEnv(t, func(c *identity.Config) {
		c.Factors = map[identity.Factor]identity.FactorVerifier{identity.FactorPasskey: pk}
	})
	e.signUp(t, "pk@example.com", "+4915100000601")
	lr := e.newDeviceLogin(t, "pk@example.com")
	if lr.Factors[0] != identity.FactorPasskey {
		t.Errorf("factors = %v, want passkey first", lr.Factors)
	}
	_, err := e.svc.VerifySecondFactor(e.ctx, lr.Token, identity.Proof{Factor: identity.FactorPasskey, Data: []byte("forged")}, client)
	wantErr(t, "bad assertion", err, kassa.EInvalid, identity.CodeCodeInvalid)
	res, err := e.svc.VerifySecondFactor(e.ctx, lr.Token, identity.Proof{Factor: identity.FactorPasskey, Data: []byte("signed-assertion")}, client)
	if err != nil || res.Session.AAL != identity.AAL2 || pk.sessions[1] != lr.Session.ID {
		t.Errorf("passkey = %+v, %v; verifier saw sessions %v", res.Session, err, pk.sessions)
	}
	if _, err := identity.New(identity.Config{Store: e.store, Sealer: e.cfg.Sealer, Notifier: e.outbox, Key: e.cfg.Key,
		Factors: map[identity.Factor]identity.FactorVerifier{identity.FactorTOTP: pk}}); err == nil {
		t.Error("New accepted a verifier replacing the built-in totp")
	}
}
