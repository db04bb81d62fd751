package payment_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/ledger/ledgertest"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/webhook"
)

// ambiguousPayments commits CreatePayment and then, when armed, reports
// failure: the connection was lost after COMMIT reached the database.
type ambiguousPayments struct {
	payment.Store
	fail atomic.Bool
}

func (s *ambiguousPayments) CreatePayment(ctx context.Context, p payment.Payment, ev webhook.Event) error {
	err := s.Store.CreatePayment(ctx, p, ev)
	if err == nil && s.fail.CompareAndSwap(true, false) {
		return errors.New("connection lost after commit (the commit took effect)")
	}
	return err
}

// TestAmbiguousCommitRetry makes the store commit and then report failure
// for a payment's creation, its confirmation and a partial refund, and
// retries each the way a client does: the same request under the same
// Idempotency-Key (whose stored answer the HTTP layer released, since the
// first attempt answered 500). Nothing is applied twice: one payment, the
// voucher charged once, one refund of the amount once, and the ledger and
// the payments reconcile.
func TestAmbiguousCommitRetry(t *testing.T) {
	forEachBackendWith(t, func(t *testing.T, e *env, led *ledgertest.AmbiguousStore, pays *ambiguousPayments) {
		keyed := func(key string) context.Context {
			return kassa.WithIdempotencyKey(context.Background(), e.merchant+"\x00"+key)
		}
		pins, serials := e.issue(2, 100_00)
		// A first payment creates the merchant's ledger account, so that
		// the armed failures below hit the payments' own commits.
		if _, err := e.confirm(e.create(10_00, payment.CaptureAutomatic), pins[1]); err != nil {
			t.Fatal(err)
		}
		req := payment.CreateRequest{Amount: 60_00, Currency: "EUR", CaptureMethod: payment.CaptureAutomatic}

		pays.fail.Store(true)
		// The store reports a failure after its commit: the create then
		// looks for the payment its key names, finds the one it
		// committed and answers it.
		first, err := e.pay.Create(keyed("create-1"), e.merchant, req)
		if err != nil {
			t.Fatalf("the ambiguous create = %v, want the payment it committed", err)
		}
		p, err := e.pay.Create(keyed("create-1"), e.merchant, req)
		if err != nil || p.ID != first.ID {
			t.Fatalf("retry of create: %s %v, want %s", p.ID, err, first.ID)
		}
		list, _, err := e.pay.List(context.Background(), payment.Filter{MerchantID: e.merchant, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(list, 60_00); len(list) != 2 || n != 1 {
			t.Fatalf("after a retried create the merchant has %d payments of 6000 (%v), want 1: %s", n, ids(list), p.ID)
		}

		led.Fail()
		if _, err := e.confirm(p, pins[0]); err == nil {
			t.Fatal("the ambiguous confirm reported success")
		}
		if _, err := e.confirm(p, pins[0]); err == nil || kassa.ErrorKind(err) != kassa.EConflict {
			t.Errorf("retry of confirm = %v, want a conflict (the payment is captured already)", err)
		}
		if got := e.balance(serials[0]); got != 40_00 {
			t.Errorf("voucher balance %d after a retried confirm, want 4000 (charged once)", got)
		}

		amount := money.Amount(25_00)
		rreq := payment.RefundRequest{Payment: p.ID, Amount: &amount}
		led.Fail()
		if _, _, err := e.pay.CreateRefund(keyed("refund-1"), e.merchant, rreq); err == nil {
			t.Fatal("the ambiguous refund reported success")
		}
		r, after, err := e.pay.CreateRefund(keyed("refund-1"), e.merchant, rreq)
		if err != nil {
			t.Fatalf("retry of refund: %v", err)
		}
		got, err := e.pay.Get(context.Background(), e.merchant, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.AmountRefunded != 25_00 || after.AmountRefunded != 25_00 || r.Amount != 25_00 {
			t.Errorf("after a retried refund of 2500: payment refunded %d (answer %d, refund %d), want 2500 once",
				got.AmountRefunded, after.AmountRefunded, r.Amount)
		}
		if b := e.balance(serials[0]); b != 65_00 {
			t.Errorf("voucher balance %d after a retried refund, want 6500 (refunded once)", b)
		}
		e.check()
	})
}

func count(ps []payment.Payment, amount money.Amount) int {
	n := 0
	for _, p := range ps {
		if p.Amount == amount {
			n++
		}
	}
	return n
}

func ids(ps []payment.Payment) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

// forEachBackendWith is forEachBackend over stores that can fail after
// committing.
func forEachBackendWith(t *testing.T, fn func(t *testing.T, e *env, led *ledgertest.AmbiguousStore, pays *ambiguousPayments)) {
	var led *ledgertest.AmbiguousStore
	var pays *ambiguousPayments
	wrap := storeWrap{
		ledger:   func(s ledger.Store) ledger.Store { led = &ledgertest.AmbiguousStore{Store: s}; return led },
		payments: func(s payment.Store) payment.Store { pays = &ambiguousPayments{Store: s}; return pays },
	}
	forEachBackendWrapped(t, wrap, func(t *testing.T, e *env) { fn(t, e, led, pays) })
}
