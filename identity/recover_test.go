package identity_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

var newPassword = "a brand new passphrase 2026"

// TestRecoveryNeedsSecondFactor: a forgotten password is reset by the
// email code and then a second factor (here the SMS code to the
// confirmed phone) — never by the email code alone when the account has
// one; the reset ends every session, and its token is spent.
func TestRecoveryNeedsSecondFactor(t *testing.T) {
	e := newEnv(t)
	const email, phone = "rec@example.com", "+4915100000700"
	res := e.signUp(t, email, phone)
	rec, err := e.svc.StartRecovery(e.ctx, "Rec@Example.com", client)
	if err != nil {
		t.Fatal(err)
	}
	code := e.lastCode(t, email)
	step, err := e.svc.RecoveryEmailCode(e.ctx, rec.Token, code, client)
	if err != nil {
		t.Fatalf("email code: %v", err)
	}
	if step.Done || len(step.Factors) != 1 || step.Factors[0] != identity.FactorOTP || step.Phone == "" || strings.Contains(step.Phone, phone) {
		t.Fatalf("after the email code: %+v, want the SMS factor (masked number) and not done", step)
	}
	// Email alone sets no password, with this token or the first.
	for _, tok := range []string{rec.Token, step.Token} {
		wantErr(t, "email alone", e.svc.FinishRecovery(e.ctx, tok, newPassword, client), kassa.EUnauthorized, identity.CodeRecoveryInvalid)
	}
	// The email code is not the SMS code; the SMS code then passes.
	if err := e.svc.SendRecoverySMS(e.ctx, step.Token); err != nil {
		t.Fatal(err)
	}
	sms := e.lastCode(t, phone)
	if sms != code {
		wantErr(t, "email code as SMS code", rec2(e, step.Token, code), kassa.EInvalid, identity.CodeCodeInvalid)
	}
	done, err := e.svc.RecoveryFactor(e.ctx, step.Token, identity.Proof{Factor: identity.FactorOTP, Code: sms}, client)
	if err != nil || !done.Done {
		t.Fatalf("SMS code: %+v %v", done, err)
	}
	wantErr(t, "weak password", e.svc.FinishRecovery(e.ctx, done.Token, "short", client), kassa.EInvalid, "password_too_short")
	if err := e.svc.FinishRecovery(e.ctx, done.Token, newPassword, client); err != nil {
		t.Fatalf("finish: %v", err)
	}
	if _, err := e.svc.Authenticate(e.ctx, res.Token); err == nil {
		t.Error("the session of before the reset still authenticates")
	}
	if _, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: email, Password: newPassword, Client: client}); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	if _, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: email, Password: goodPassword, Client: client}); err == nil {
		t.Error("the old password still logs in")
	}
	wantErr(t, "the token again", e.svc.FinishRecovery(e.ctx, done.Token, "yet another passphrase 99", client), kassa.EUnauthorized, identity.CodeRecoveryInvalid)
	for _, secret := range []string{code, sms, newPassword, done.Token} {
		if strings.Contains(e.log.String(), secret) {
			t.Errorf("the log holds a secret of the recovery")
		}
	}
}

func rec2(e *env, token, code string) error {
	_, err := e.svc.RecoveryFactor(e.ctx, token, identity.Proof{Factor: identity.FactorOTP, Code: code}, client)
	return err
}

// TestRecoveryDoesNotLeak: an address without an account gets the same
// answers as one with an account — a token, then code_invalid — and no
// message; a forged or altered token is refused.
func TestRecoveryDoesNotLeak(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "known@example.com", "+4915100000800")
	known, err1 := e.svc.StartRecovery(e.ctx, "known@example.com", client)
	unknown, err2 := e.svc.StartRecovery(e.ctx, "nobody@example.com", client)
	if err1 != nil || err2 != nil || known.Token == "" || unknown.Token == "" {
		t.Fatalf("start: %v %v", err1, err2)
	}
	if n := len(e.messages(t, "nobody@example.com")); n != 0 {
		t.Errorf("%d messages to an address without an account", n)
	}
	_, errK := e.svc.RecoveryEmailCode(e.ctx, known.Token, "123456", client)
	_, errU := e.svc.RecoveryEmailCode(e.ctx, unknown.Token, "123456", client)
	if kassa.AsError(errU) == nil || kassa.AsError(errK) == nil || kassa.AsError(errK).Code != kassa.AsError(errU).Code ||
		kassa.AsError(errK).Message != kassa.AsError(errU).Message {
		t.Errorf("known %v, unknown %v: the answers differ", errK, errU)
	}
	// Tampering: the step changed, the signature cut.
	payload, mac, _ := strings.Cut(known.Token, ".")
	for _, bad := range []string{payload + ".", payload + "." + mac[:len(mac)-2] + "AA", "x.y", ""} {
		_, err := e.svc.RecoveryEmailCode(e.ctx, bad, "123456", client)
		wantErr(t, "tampered token", err, kassa.EUnauthorized, identity.CodeRecoveryInvalid)
	}
	// A recovery expires.
	e.clock.Advance(31 * time.Minute)
	_, err := e.svc.RecoveryEmailCode(e.ctx, known.Token, e.lastCode(t, "known@example.com"), client)
	wantErr(t, "expired recovery", err, kassa.EUnauthorized, identity.CodeRecoveryInvalid)
}

// TestRecoveryGuessLimits: wrong email codes count against the login
// lockout of the address, the same for an address without an account.
func TestRecoveryGuessLimits(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "guess@example.com", "+4915100000900")
	for _, email := range []string{"guess@example.com", "ghost@example.com"} {
		rec, err := e.svc.StartRecovery(e.ctx, email, client)
		if err != nil {
			t.Fatal(err)
		}
		var last error
		for i := range 12 {
			_, last = e.svc.RecoveryEmailCode(e.ctx, rec.Token, "00000"+string(rune('0'+i%10)), client)
			if kassa.ErrorKind(last) == kassa.ERateLimited {
				break
			}
			e.clock.Advance(time.Minute) // past the backoff
		}
		wantErr(t, email+": guessing", last, kassa.ERateLimited, identity.CodeLoginLocked)
		e.clock.Advance(24 * time.Hour)
	}
}

// TestRecoveryWithRecoveryCode: an account with an authenticator app
// recovers with one of its recovery codes (or the app), and the code is
// spent.
func TestRecoveryWithRecoveryCode(t *testing.T) {
	e, res, en := enrolledEnv(t)
	codes, err := e.svc.ConfirmTOTP(e.ctx, res.Customer.ID, oathtool(t, en.Secret, e.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := e.svc.StartRecovery(e.ctx, "totp@example.com", client)
	if err != nil {
		t.Fatal(err)
	}
	step, err := e.svc.RecoveryEmailCode(e.ctx, rec.Token, e.lastCode(t, "totp@example.com"), client)
	if err != nil {
		t.Fatal(err)
	}
	if len(step.Factors) != 3 || step.Factors[0] != identity.FactorTOTP || step.Factors[1] != identity.FactorRecoveryCode {
		t.Fatalf("factors %v, want the app, a recovery code and SMS", step.Factors)
	}
	_, err = e.svc.RecoveryFactor(e.ctx, step.Token, identity.Proof{Factor: identity.FactorRecoveryCode, Code: "wrong-code"}, client)
	wantErr(t, "wrong recovery code", err, kassa.EInvalid, identity.CodeCodeInvalid)
	e.clock.Advance(time.Minute)
	done, err := e.svc.RecoveryFactor(e.ctx, step.Token, identity.Proof{Factor: identity.FactorRecoveryCode, Code: codes[0]}, client)
	if err != nil || !done.Done {
		t.Fatalf("recovery code: %v", err)
	}
	if err := e.svc.FinishRecovery(e.ctx, done.Token, newPassword, client); err != nil {
		t.Fatal(err)
	}
	if left, _ := e.svc.RecoveryCodesLeft(e.ctx, res.Customer.ID); left != identity.RecoveryCodeCount-1 {
		t.Errorf("%d recovery codes left, want %d", left, identity.RecoveryCodeCount-1)
	}
}

// TestRecoveryGuessesAtOnce: wrong email codes sent together are checked
// no more often than the lockout allows one after the other.
func TestRecoveryGuessesAtOnce(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "race@example.com", "+4915100000950")
	rec, err := e.svc.StartRecovery(e.ctx, "race@example.com", client)
	if err != nil {
		t.Fatal(err)
	}
	code := e.lastCode(t, "race@example.com")
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() { _, errs[i] = e.svc.RecoveryEmailCode(e.ctx, rec.Token, wrong(code), client) })
	}
	wg.Wait()
	checked := 0
	for _, err := range errs {
		switch kassa.ErrorKind(err) {
		case kassa.EInvalid:
			checked++
		case kassa.ERateLimited:
		default:
			t.Fatalf("wrong code at once: %v", err)
		}
	}
	if checked > identity.DefaultLimits.Account.Failures {
		t.Errorf("%d wrong codes checked at once, want at most %d", checked, identity.DefaultLimits.Account.Failures)
	}
}
