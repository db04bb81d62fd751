package identity_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

// stepUpEnv is a verified customer who can be sent step-up codes.
func stepUpEnv(t *testing.T, change ...func(*identity.Config)) (*env, string) {
	e := newEnv(t, change...)
	res := e.signUp(t, "otp@example.com", "+4915100000200")
	return e, res.Customer.ID
}

func (e *env) sendStepUp(t *testing.T, cus, subject string) string {
	t.Helper()
	if err := e.svc.SendCode(e.ctx, cus, identity.PurposeStepUp, subject, identity.ChannelEmail); err != nil {
		t.Fatalf("SendCode: %v", err)
	}
	return e.lastCode(t, "otp@example.com")
}

func TestCodeExpiry(t *testing.T) {
	e, cus := stepUpEnv(t)
	code := e.sendStepUp(t, cus, "pay_1")
	e.clock.Advance(10*time.Minute - time.Second)
	e.clock.Advance(time.Second) // exactly at the expiry: too late
	wantErr(t, "expired code", e.svc.VerifyCode(e.ctx, cus, identity.PurposeStepUp, "pay_1", code), kassa.EInvalid, identity.CodeCodeInvalid)

	code = e.sendStepUp(t, cus, "pay_1")
	e.clock.Advance(10*time.Minute - time.Second)
	if err := e.svc.VerifyCode(e.ctx, cus, identity.PurposeStepUp, "pay_1", code); err != nil {
		t.Errorf("code a second before its expiry: %v", err)
	}
}

func TestCodeAttemptsAndSingleUse(t *testing.T) {
	// No lockout of the customer here: the code's own limit is tested.
	e, cus := stepUpEnv(t, func(c *identity.Config) { c.Limits.Account = identity.Lockout{Failures: 100, Backoff: -1} })
	code := e.sendStepUp(t, cus, "pay_1")
	for range 5 {
		err := e.svc.VerifyCode(e.ctx, cus, identity.PurposeStepUp, "pay_1", wrong(code))
		wantErr(t, "wrong code", err, kassa.EInvalid, identity.CodeCodeInvalid)
	}
	// Five wrong tries killed it: the right code is refused now.
	if err := e.svc.VerifyCode(e.ctx, cus, identity.PurposeStepUp, "pay_1", code); err == nil {
		t.Fatal("a code accepted after five wrong attempts")
	}

	e.clock.Advance(time.Minute)
	code = e.sendStepUp(t, cus, "pay_2")
	if err := e.svc.VerifyCode(e.ctx, cus, identity.PurposeStepUp, "pay_2", " "+code[:3]+"-"+code[3:]); err != nil {
		t.Fatalf("right code (typed with a space and a dash): %v", err)
	}
	wantErr(t, "used code", e.svc.VerifyCode(e.ctx, cus, identity.PurposeStepUp, "pay_2", code), kassa.EInvalid, identity.CodeCodeInvalid)
}

func TestNewCodeInvalidatesOld(t *testing.T) {
	e, cus := stepUpEnv(t)
	old := e.sendStepUp(t, cus, "pay_1")
	e.clock.Advance(time.Minute)
	fresh := e.sendStepUp(t, cus, "pay_1")
	if old == fresh {
		t.Skip("two random codes happen to be equal") // one chance in a million
	}
	wantErr(t, "replaced code", e.svc.VerifyCode(e.ctx, cus, identity.PurposeStepUp, "pay_1", old), kassa.EInvalid, identity.CodeCodeInvalid)
	if err := e.svc.VerifyCode(e.ctx, cus, identity.PurposeStepUp, "pay_1", fresh); err != nil {
		t.Errorf("newest code: %v", err)
	}
}

func TestCodeBinding(t *testing.T) {
	e, cus := stepUpEnv(t)
	other := e.signUp(t, "other@example.com", "+4915100000201").Customer.ID
	code := e.sendStepUp(t, cus, "pay_A")
	for _, tt := range []struct {
		what     string
		cus      string
		purpose  identity.Purpose
		subject  string
		wantPass bool
	}{
		{"another payment", cus, identity.PurposeStepUp, "pay_B", false},
		{"another purpose", cus, identity.PurposeLogin, "pay_A", false},
		{"another customer", other, identity.PurposeStepUp, "pay_A", false},
		{"its own payment", cus, identity.PurposeStepUp, "pay_A", true},
	} {
		e.clock.Advance(10 * time.Second) // past the backoff of the customer's last failure
		err := e.svc.VerifyCode(e.ctx, tt.cus, tt.purpose, tt.subject, code)
		if (err == nil) != tt.wantPass {
			t.Errorf("code for pay_A used for %s: %v", tt.what, err)
		}
	}
	wantErr(t, "bad purpose", e.svc.SendCode(e.ctx, cus, identity.PurposeConfirmEmail, "x", identity.ChannelEmail), kassa.EInvalid, "purpose_invalid")
	wantErr(t, "no subject", e.svc.SendCode(e.ctx, cus, identity.PurposeStepUp, "", identity.ChannelEmail), kassa.EInvalid, "subject_invalid")
}

func TestResendLimits(t *testing.T) {
	e, cus := stepUpEnv(t)
	e.sendStepUp(t, cus, "pay_1")
	err := e.svc.SendCode(e.ctx, cus, identity.PurposeStepUp, "pay_1", identity.ChannelEmail)
	wantErr(t, "resend at once", err, kassa.ERateLimited, identity.CodeResendLimited)
	if d := lockedFor(t, err); d != time.Minute {
		t.Errorf("retry after %s, want 1m", d)
	}
	// Another channel is another destination.
	if err := e.svc.SendCode(e.ctx, cus, identity.PurposeStepUp, "pay_1", identity.ChannelSMS); err != nil {
		t.Errorf("SMS right after an email: %v", err)
	}
	// 5 step-up codes an hour; the sign-up's codes are counted apart
	// (TestStepUpSendAfterSignUpCode).
	sent := 1
	for sent < 5 {
		e.clock.Advance(time.Minute)
		e.sendStepUp(t, cus, "pay_1")
		sent++
	}
	e.clock.Advance(time.Minute)
	err = e.svc.SendCode(e.ctx, cus, identity.PurposeStepUp, "pay_1", identity.ChannelEmail)
	wantErr(t, "sixth in an hour", err, kassa.ERateLimited, identity.CodeResendLimited)
	if d := lockedFor(t, err); d <= time.Minute || d > time.Hour {
		t.Errorf("sixth in an hour: retry after %s, want the rest of the hour", d)
	}
	e.clock.Advance(lockedFor(t, err))
	e.sendStepUp(t, cus, "pay_1")
}

func TestOutboxAndLogsWithoutCodes(t *testing.T) {
	e := newEnv(t)
	res := e.signUp(t, "log@example.com", "+4915100000300")
	// A login from a new device with a code by SMS.
	lr, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: "log@example.com", Password: goodPassword,
		Client: identity.Client{IP: "198.51.100.1"}})
	if err != nil || len(lr.Factors) == 0 {
		t.Fatalf("login from a new device = %+v, %v; want factors", lr, err)
	}
	if err := e.svc.SendLoginCode(e.ctx, lr.Token, identity.ChannelSMS); err != nil {
		t.Fatal(err)
	}
	sms := e.lastCode(t, "+4915100000300")
	passed, err := e.svc.VerifySecondFactor(e.ctx, lr.Token, identity.Proof{Factor: identity.FactorOTP, Code: sms}, client)
	if err != nil {
		t.Fatal(err)
	}

	// The outbox got every message, each code in its body.
	var codes []string
	for _, to := range []string{"log@example.com", "+4915100000300"} {
		for _, m := range e.messages(t, to) {
			if m.To != to || !strings.HasPrefix(m.ID, "msg_") {
				t.Errorf("outbox message %+v", m)
			}
			if c := codeRE.FindString(m.Body); c != "" {
				codes = append(codes, c)
			}
		}
	}
	if len(codes) != 3 {
		t.Fatalf("%d codes in the outbox, want 3 (email, phone, login)", len(codes))
	}
	logs := e.log.String()
	if !strings.Contains(logs, "identity message sent") {
		t.Fatalf("nothing logged about the messages: %s", logs)
	}
	secrets := append(codes, goodPassword, res.Token, res.DeviceToken, lr.Token, passed.Token, passed.DeviceToken)
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if regexp.MustCompile(`(^|[^0-9A-Za-z_-])` + regexp.QuoteMeta(s) + `($|[^0-9A-Za-z_-])`).MatchString(logs) {
			t.Errorf("the log holds the secret %q", s)
		}
	}
	// The destination is logged masked only.
	if strings.Contains(logs, "log@example.com") || strings.Contains(logs, "+4915100000300") {
		t.Error("the log holds a full destination")
	}
}
