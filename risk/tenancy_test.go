package risk_test

import (
	"context"
	"testing"
	"time"

	"github.com/kassa/kassa/risk"
)

// Every voucher of an attempt counts: failures of a voucher given second
// lock it (platform-wide, for a while: these are real attempts), and an
// attempt that gives it second, after a clean first one, is blocked.
func TestExtraVouchersCountAndLock(t *testing.T) {
	e := newEngine(t, t.TempDir(), "a", nil)
	ctx := context.Background()
	m1, m2 := e.merchants[0], e.merchants[1]
	for i := range risk.DefaultPolicy.LockFailures {
		ev := legit(m1, 7, e.now.Add(time.Duration(i)*time.Second))
		ev.Method, ev.CardFingerprint, ev.VoucherSerial = risk.MethodVoucher, "", "V-CLEAN-"+string(rune('a'+i))
		ev.ExtraVoucherSerials = []string{"V-GUESSED"}
		out := e.evaluate(ev)
		if err := e.eng.Outcome(ctx, m1, out.ID, risk.OutcomeFailed); err != nil {
			t.Fatal(err)
		}
	}
	ev := legit(m2, 8, e.now.Add(time.Minute))
	ev.Method, ev.CardFingerprint, ev.VoucherSerial = risk.MethodVoucher, "", "V-FRESH"
	ev.ExtraVoucherSerials = []string{"V-GUESSED"}
	out := e.evaluate(ev)
	if out.Decision != risk.Block || !hasReason(out, "lock:voucher_serial") {
		t.Errorf("an attempt whose second voucher is locked: %s %v", out.Decision, codes(out))
	}
	idx, _ := risk.FeatureIndex("voucher_failures_24h")
	if got := out.Features[idx]; got != float32(risk.DefaultPolicy.LockFailures) {
		t.Errorf("voucher_failures_24h = %v, want the second voucher's %d", got, risk.DefaultPolicy.LockFailures)
	}
	locks, err := e.eng.PlatformLocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 1 || locks[0].Value != "V-GUESSED" {
		t.Fatalf("platform locks = %v, want V-GUESSED alone", locks)
	}
	if locks[0].Expires.IsZero() {
		t.Errorf("a platform-wide lock that never expires: %+v", locks[0])
	}
}

// A fraud label on a payment's evaluation locks within the labelling
// merchant, every voucher included, and nothing platform-wide.
func TestFraudLabelLocksWithinMerchant(t *testing.T) {
	e := newEngine(t, t.TempDir(), "a", nil)
	ctx := context.Background()
	m1, m2 := e.merchants[0], e.merchants[1]
	ev := legit(m1, 9, e.now)
	ev.Method, ev.CardFingerprint, ev.VoucherSerial, ev.ExtraVoucherSerials = risk.MethodVoucher, "", "V1", []string{"V2"}
	out, err := e.eng.Evaluate(ctx, risk.Input{Event: ev, Subject: "pay_1"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.Label(ctx, m1, out.ID, risk.LabelFraud, risk.SourceChargeback); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{m1, m2} {
		next := legit(m, 10, e.now.Add(time.Minute))
		next.Method, next.CardFingerprint, next.VoucherSerial = risk.MethodVoucher, "", "V2"
		got := e.evaluate(next)
		if blocked := got.Decision == risk.Block && hasReason(got, "lock:voucher_serial"); blocked != (m == m1) {
			t.Errorf("merchant %s: the second voucher of a payment labelled fraud at %s: %s %v", m, m1, got.Decision, codes(got))
		}
	}
	if locks, _ := e.eng.PlatformLocks(ctx); len(locks) != 0 {
		t.Errorf("a merchant's label locked platform-wide: %v", locks)
	}
}
