package identity_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

func payerCode(e *env, t *testing.T, payment, to string, ch identity.Channel) string {
	t.Helper()
	if err := e.svc.SendPayerCode(e.ctx, identity.PayerCodeRequest{Payment: payment, Channel: ch, To: to,
		Approves: "43.21 € to Demo Merchant"}); err != nil {
		t.Fatalf("SendPayerCode(%s): %v", payment, err)
	}
	return e.lastCode(t, to)
}

// TestPayerCode: a step-up code to the customer the merchant named,
// without an account: the message names amount and merchant first and
// never the payment; the code approves its own payment only.
func TestPayerCode(t *testing.T) {
	e := newEnv(t)
	const to = "pia@example.com"
	codeA := payerCode(e, t, "pay_A", to, identity.ChannelEmail)
	ms := e.messages(t, to)
	m := ms[len(ms)-1]
	if !strings.HasPrefix(m.Body, codeA+" approves 43.21 € to Demo Merchant.") || !strings.Contains(m.Subject, "43.21 € to Demo Merchant") {
		t.Errorf("message %q / %q does not lead with what it approves", m.Subject, m.Body)
	}
	if strings.Contains(m.Body+m.Subject, "pay_A") {
		t.Errorf("the message names the payment: %q", m.Body)
	}
	// Payment A's code does not approve payment B, nor B's code A.
	e.clock.Advance(time.Minute)
	codeB := payerCode(e, t, "pay_B", to, identity.ChannelEmail)
	if codeA != codeB {
		wantErr(t, "A's code for B", e.svc.VerifyPayerCode(e.ctx, "pay_B", codeA), kassa.EInvalid, identity.CodeCodeInvalid)
	}
	if err := e.svc.VerifyPayerCode(e.ctx, "pay_A", codeA); err != nil {
		t.Fatalf("A's code for A: %v", err)
	}
	wantErr(t, "A's code again", e.svc.VerifyPayerCode(e.ctx, "pay_A", codeA), kassa.EInvalid, identity.CodeCodeInvalid)
	if err := e.svc.VerifyPayerCode(e.ctx, "pay_B", codeB); err != nil {
		t.Fatalf("B's code for B: %v", err)
	}
	// An account's own step-up code for the same subject is not a payer
	// code, and the other way round: the owner differs.
	if strings.Contains(e.log.String(), codeA) || strings.Contains(e.log.String(), codeB) {
		t.Error("a code is in the log")
	}
	// SMS too, with the number normalized.
	if err := e.svc.SendPayerCode(e.ctx, identity.PayerCodeRequest{Payment: "pay_C", Channel: identity.ChannelSMS,
		To: "+43 660 1234567", Approves: "43,21 € an Demo Merchant"}); err != nil {
		t.Fatal(err)
	}
	code := e.lastCode(t, "+436601234567")
	if err := e.svc.VerifyPayerCode(e.ctx, "pay_C", code); err != nil {
		t.Fatalf("SMS code: %v", err)
	}
	for _, bad := range []identity.PayerCodeRequest{
		{Payment: "pay_D", Channel: identity.ChannelEmail, To: "not an address", Approves: "1 € to X"},
		{Payment: "pay_D", Channel: identity.ChannelSMS, To: "12", Approves: "1 € to X"},
		{Payment: "pay_D", Channel: "pigeon", To: to, Approves: "1 € to X"},
		{Payment: "pay_D", Channel: identity.ChannelEmail, To: to, Approves: ""},
		{Payment: "pay_D", Channel: identity.ChannelEmail, To: to, Approves: "1 € to X\n\nClick http://evil.example"},
		{Payment: "", Channel: identity.ChannelEmail, To: to, Approves: "1 € to X"},
	} {
		if err := e.svc.SendPayerCode(e.ctx, bad); kassa.ErrorKind(err) != kassa.EInvalid {
			t.Errorf("SendPayerCode(%+v) = %v, want invalid", bad, err)
		}
	}
}

// TestPayerCodeBruteForce: all of a payment's codes together take
// CodeAttempts wrong tries, the last answering step_up_locked, even when
// they come at once; new codes do not reset it, and a payment has at most
// PayerCodesPerPayment codes.
func TestPayerCodeBruteForce(t *testing.T) {
	e := newEnv(t)
	const to = "pia@example.com"
	code := payerCode(e, t, "pay_X", to, identity.ChannelEmail)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() { errs[i] = e.svc.VerifyPayerCode(e.ctx, "pay_X", wrong(code)) })
	}
	wg.Wait()
	locked := 0
	for _, err := range errs {
		switch kassa.AsError(err).Code {
		case identity.CodeStepUpLocked:
			locked++
		case identity.CodeCodeInvalid:
		default:
			t.Fatalf("wrong code: %v", err)
		}
	}
	if locked != len(errs)-(identity.DefaultLimits.CodeAttempts-1) {
		t.Errorf("%d of %d wrong tries locked, want all but the first %d", locked, len(errs), identity.DefaultLimits.CodeAttempts-1)
	}
	// A new code does not start the count again.
	e.clock.Advance(time.Minute)
	code = payerCode(e, t, "pay_X", to, identity.ChannelEmail)
	wantErr(t, "wrong code after the lock", e.svc.VerifyPayerCode(e.ctx, "pay_X", wrong(code)), kassa.ERateLimited, identity.CodeStepUpLocked)

	// At most PayerCodesPerPayment codes for one payment (2 sent above).
	for i := 2; i < identity.PayerCodesPerPayment; i++ {
		e.clock.Advance(time.Minute)
		payerCode(e, t, "pay_X", to, identity.ChannelEmail)
	}
	e.clock.Advance(time.Hour)
	err := e.svc.SendPayerCode(e.ctx, identity.PayerCodeRequest{Payment: "pay_X", Channel: identity.ChannelEmail, To: to, Approves: "1 € to X"})
	wantErr(t, "one code too many", err, kassa.ERateLimited, identity.CodeResendLimited)
}

// TestStepUpSendAfterSignUpCode: a sign-up code just sent to an address
// does not hold up the step-up code to it a moment later; a second
// step-up code at once is held up.
func TestStepUpSendAfterSignUpCode(t *testing.T) {
	e := newEnv(t)
	const to = "new@example.com"
	if _, err := e.svc.SignUp(e.ctx, identity.SignUpRequest{Email: to, Phone: "+4915100000300", Client: client}); err != nil {
		t.Fatal(err)
	}
	payerCode(e, t, "pay_S", to, identity.ChannelEmail)
	err := e.svc.SendPayerCode(e.ctx, identity.PayerCodeRequest{Payment: "pay_T", Channel: identity.ChannelEmail, To: to, Approves: "1 € to X"})
	wantErr(t, "a second step-up code at once", err, kassa.ERateLimited, identity.CodeResendLimited)
}
