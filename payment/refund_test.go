package payment_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/store/sqlstore"
)

// refundTally sits between the payment service and the test acquirer and
// keeps the acquirer's side of refunds: every refund the acquirer carried
// out, once per idempotency key. It can lose answers (the acquirer
// refunds, the caller sees a timeout) or drop calls before they reach the
// acquirer (a crash between Kassa's write and the call).
type refundTally struct {
	acquirer.Acquirer
	mu       sync.Mutex
	refunded map[string]money.Amount // idempotency key → amount refunded
	calls    int
	lose     atomic.Int32 // answers still to lose
	drop     atomic.Int32 // calls still to drop
}

func newRefundTally(a acquirer.Acquirer) *refundTally {
	return &refundTally{Acquirer: a, refunded: map[string]money.Amount{}}
}

func (r *refundTally) Refund(ctx context.Context, req acquirer.RefundRequest) (acquirer.Result, error) {
	if r.drop.Add(-1) >= 0 {
		return acquirer.Result{}, acquirer.ErrTimeout
	}
	res, err := r.Acquirer.Refund(ctx, req)
	r.mu.Lock()
	r.calls++
	if err == nil && res.Status == acquirer.Approved {
		r.refunded[req.IdempotencyKey] = res.Amount
	}
	r.mu.Unlock()
	if r.lose.Add(-1) >= 0 {
		return acquirer.Result{}, acquirer.ErrTimeout
	}
	return res, err
}

// total is what the acquirer refunded in all.
func (r *refundTally) total() money.Amount {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum money.Amount
	for _, a := range r.refunded {
		sum += a
	}
	return sum
}

// refundEnv is env with the tally in front of its acquirer.
func refundEnv(t *testing.T, e *env) *refundTally {
	t.Helper()
	tally := newRefundTally(acquirer.WithTimeout(e.acq, 0))
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.pay = payment.New(payment.Config{Store: sqlstore.NewPayments(e.db), Ledger: e.led, Vouchers: e.vouchers, Clock: e.clk.Now,
		Vault: e.vault, Acquirer: tally, Logger: logger})
	return tally
}

// settleRefunds runs the worker until no refund is pending.
func settleRefunds(t *testing.T, e *env) {
	t.Helper()
	e.clk.Advance(2 * time.Minute) // past the grace the worker gives a running request
	if _, err := e.pay.ResolveUnknown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCardRefundsConcurrent: 20 concurrent partial refunds of one card
// payment, more than it captured in all. The acquirer must refund exactly
// what Kassa records as refunded, never more than was captured.
func TestCardRefundsConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tally := refundEnv(t, e)
		r := &cardRun{e: e}
		p := r.mustPay(10_000, payment.CaptureAutomatic, acquirer.CardApproved, payment.StatusCaptured)
		var wg sync.WaitGroup
		var ok atomic.Int64
		for range 20 {
			wg.Go(func() {
				amt := money.Amount(700)
				if _, _, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID, Amount: &amt}); err == nil {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		settleRefunds(t, e)
		got, err := e.pay.Get(ctx, e.merchant, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if at := tally.total(); at != got.AmountRefunded || at > got.AmountCaptured {
			t.Errorf("the acquirer refunded %d, Kassa records %d refunded of %d captured (%d refunds answered without error)",
				at, got.AmountRefunded, got.AmountCaptured, ok.Load())
		}
		if got.AmountRefunded == 0 {
			t.Errorf("no refund went through")
		}
		e.check()
	})
}

// TestCardRefundRetryAfterLostAnswer: the acquirer refunds but its answer
// is lost (a 5xx for the merchant today), and the merchant retries. The
// acquirer must not refund more than Kassa records.
func TestCardRefundRetryAfterLostAnswer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tally := refundEnv(t, e)
		r := &cardRun{e: e}
		p := r.mustPay(3000, payment.CaptureAutomatic, acquirer.CardApproved, payment.StatusCaptured)
		amt := money.Amount(1000)
		tally.lose.Store(1)
		ref, _, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID, Amount: &amt})
		if err != nil {
			// The merchant saw a failure and retries.
			t.Logf("first refund: %v; the merchant retries", err)
			ref, _, err = e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID, Amount: &amt})
			if err != nil {
				t.Fatal(err)
			}
		}
		settleRefunds(t, e)
		got, err := e.pay.Get(ctx, e.merchant, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if at := tally.total(); at != got.AmountRefunded {
			t.Errorf("the acquirer refunded %d, Kassa records %d refunded", at, got.AmountRefunded)
		}
		if got.AmountRefunded != 1000 {
			t.Errorf("amount_refunded %d, want 1000", got.AmountRefunded)
		}
		if ref, err = e.pay.GetRefund(ctx, e.merchant, ref.ID); err != nil || ref.Status != "succeeded" {
			t.Errorf("refund after the worker: %+v %v", ref, err)
		}
		e.check()
	})
}

// TestCardRefundCrashBeforeCall: the refund is recorded, then the call
// never reaches the acquirer (a crash). The amount stays reserved, the
// books agree meanwhile, and the worker sends it once under the same key.
func TestCardRefundCrashBeforeCall(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tally := refundEnv(t, e)
		r := &cardRun{e: e}
		p := r.mustPay(3000, payment.CaptureAutomatic, acquirer.CardApproved, payment.StatusCaptured)
		amt := money.Amount(1000)
		tally.drop.Store(1)
		ref, q, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID, Amount: &amt})
		if err != nil || ref.Status != payment.RefundPending || q.AmountRefundPending != 1000 || q.AmountRefunded != 0 {
			t.Fatalf("refund whose call was lost: %+v / pending %d refunded %d / %v", ref, q.AmountRefundPending, q.AmountRefunded, err)
		}
		if mb := e.merchantBalance(); mb.Available != 2000 {
			t.Errorf("available %d while 1000 is being refunded, want 2000", mb.Available)
		}
		more := money.Amount(2500)
		if _, _, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID, Amount: &more}); code(err) != "amount_too_large" {
			t.Errorf("refund beyond what is not reserved: %v", err)
		}
		e.check()
		// Within the grace the worker leaves it to the request.
		if n, err := e.pay.ResolveUnknown(ctx); n != 0 || err != nil {
			t.Errorf("worker within the grace: %d %v", n, err)
		}
		settleRefunds(t, e)
		if ref, err = e.pay.GetRefund(ctx, e.merchant, ref.ID); err != nil || ref.Status != payment.RefundSucceeded {
			t.Fatalf("after the worker: %+v %v", ref, err)
		}
		if n, err := e.pay.ResolveUnknown(ctx); n != 0 || err != nil {
			t.Errorf("worker again: %d %v", n, err)
		}
		got, _ := e.pay.Get(ctx, e.merchant, p.ID)
		if at := tally.total(); at != 1000 || got.AmountRefunded != 1000 || got.AmountRefundPending != 0 {
			t.Errorf("acquirer refunded %d; Kassa %d refunded, %d pending", at, got.AmountRefunded, got.AmountRefundPending)
		}
		if mb := e.merchantBalance(); mb.Available != 2000 {
			t.Errorf("available %d after the refund, want 2000", mb.Available)
		}
		e.check()
	})
}

// TestCardRefundRetrySameKey: a merchant's retry under the same
// Idempotency-Key (after a 5xx the API forgot) finds the refund it made.
func TestCardRefundRetrySameKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tally := refundEnv(t, e)
		r := &cardRun{e: e}
		p := r.mustPay(3000, payment.CaptureAutomatic, acquirer.CardApproved, payment.StatusCaptured)
		amt := money.Amount(1000)
		tally.lose.Store(1)
		req := payment.RefundRequest{Payment: p.ID, Amount: &amt, RequestKey: "order-77-refund"}
		first, _, err := e.pay.CreateRefund(ctx, e.merchant, req)
		if err != nil || first.Status != payment.RefundPending {
			t.Fatalf("first try: %+v %v", first, err)
		}
		again, q, err := e.pay.CreateRefund(ctx, e.merchant, req)
		if err != nil || again.ID != first.ID || again.Status != payment.RefundSucceeded || q.AmountRefunded != 1000 {
			t.Fatalf("retry under the same key: %+v %+v %v (first %s)", again, q, err, first.ID)
		}
		other := money.Amount(999)
		if _, _, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID, Amount: &other, RequestKey: req.RequestKey}); code(err) != "idempotency_key_reused" {
			t.Errorf("same key, other amount: %v", err)
		}
		if at := tally.total(); at != 1000 {
			t.Errorf("the acquirer refunded %d, want 1000", at)
		}
		e.check()
	})
}

// TestCardRefundRefused: a refusal voids the reservation, records the
// refund failed and emits refund.failed; the amount can be refunded again.
func TestCardRefundRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := &cardRun{e: e}
		p := r.mustPay(3000, payment.CaptureAutomatic, acquirer.CardApproved, payment.StatusCaptured)
		e.acq.refuse.Store(true)
		ref, q, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID})
		e.acq.refuse.Store(false)
		if code(err) != "acquirer_refused" || ref.Status != payment.RefundFailed || q.AmountRefundPending != 0 || q.AmountRefunded != 0 {
			t.Fatalf("refused refund: %+v %+v %v", ref, q, err)
		}
		var n int
		if err := e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_events WHERE type = 'refund.failed'`).Scan(&n); err != nil || n != 1 {
			t.Errorf("refund.failed events: %d %v", n, err)
		}
		if _, q, err = e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID}); err != nil || q.AmountRefunded != 3000 {
			t.Fatalf("refund after a refused one: %+v %v", q, err)
		}
		e.check()
	})
}

// TestCardRefundSettledOnce: a pending refund (its answer lost) is
// settled by the worker and by the merchant's retries at the same time.
// Its outcome is recorded once: one post, one refund.created.
func TestCardRefundSettledOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tally := refundEnv(t, e)
		r := &cardRun{e: e}
		p := r.mustPay(3000, payment.CaptureAutomatic, acquirer.CardApproved, payment.StatusCaptured)
		amt := money.Amount(1000)
		tally.lose.Store(1)
		req := payment.RefundRequest{Payment: p.ID, Amount: &amt, RequestKey: "order-78-refund"}
		first, _, err := e.pay.CreateRefund(ctx, e.merchant, req)
		if err != nil || first.Status != payment.RefundPending {
			t.Fatalf("first try: %+v %v", first, err)
		}
		e.clk.Advance(2 * time.Minute)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if _, err := e.pay.ResolveUnknown(ctx); err != nil {
					t.Errorf("worker: %v", err)
				}
			})
			wg.Go(func() {
				if again, _, err := e.pay.CreateRefund(ctx, e.merchant, req); err != nil || again.ID != first.ID {
					t.Errorf("retry: %+v %v", again, err)
				}
			})
		}
		wg.Wait()
		got, err := e.pay.GetRefund(ctx, e.merchant, first.ID)
		if err != nil || got.Status != payment.RefundSucceeded {
			t.Fatalf("after the race: %+v %v", got, err)
		}
		q, _ := e.pay.Get(ctx, e.merchant, p.ID)
		if at := tally.total(); at != 1000 || q.AmountRefunded != 1000 || q.AmountRefundPending != 0 {
			t.Errorf("acquirer refunded %d; Kassa %d refunded, %d pending", at, q.AmountRefunded, q.AmountRefundPending)
		}
		var n int
		if err := e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_events WHERE type = 'refund.created'`).Scan(&n); err != nil || n != 1 {
			t.Errorf("refund.created events: %d %v, want 1", n, err)
		}
		e.check()
	})
}
