package sqlstore_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/webhook"
)

func newCachedPayment(t *testing.T, db *sqlstore.DB, id string) payment.Payment {
	t.Helper()
	ctx := context.Background()
	if err := db.Transact(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO merchants (id, name, created_at) VALUES ('m', 'm', 0) ON CONFLICT (id) DO NOTHING`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	p := payment.Payment{ID: id, MerchantID: "m", Amount: 700, Currency: "EUR", CaptureMethod: payment.CaptureManual,
		Status: payment.StatusRequiresAction, Version: 1, ClientSecret: "s", ExpiresAt: now.Add(time.Hour), Created: now, Updated: now,
		Customer: payment.Customer{ID: "c1", Email: "payer@example.com"}, Risk: payment.RiskResult{Score: -1}}
	if err := sqlstore.NewPayments(db).CreatePayment(ctx, p, webhook.Event{ID: "evt_" + id, MerchantID: "m",
		Type: payment.EventCreated, Created: now, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	return p
}

// step is one update of a payment as the lifecycle makes them.
func step(p payment.Payment, f func(*payment.Payment)) payment.Payment {
	next := p
	next.Vouchers = append([]payment.VoucherUse(nil), p.Vouchers...)
	next.Version++
	next.Updated = p.Updated.Add(time.Second)
	f(&next)
	return next
}

// TestPaymentCacheTwoNodes: two nodes on one PostgreSQL database, each
// with its own cache of the payments it read or wrote. A payment one node
// changed is never served stale by the other, an update the other makes
// from its stale copy is refused (payment.ErrConflict), and what the
// cached updates (only changed columns and voucher rows) wrote reads back
// whole on a node that caches nothing.
func TestPaymentCacheTwoNodes(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	open := func() *sqlstore.DB {
		db, err := sqlstore.OpenPostgres(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	dbA, dbB := open(), open()
	a, b := sqlstore.NewPayments(dbA), sqlstore.NewPayments(dbB)
	p := newCachedPayment(t, dbA, "pay_cache1")

	// B reads it (and caches it); A authorizes it with two vouchers.
	if got, err := b.Payment(ctx, "m", p.ID); err != nil || got.Status != payment.StatusRequiresAction {
		t.Fatalf("B's first read: %v %v", got.Status, err)
	}
	auth := step(p, func(n *payment.Payment) {
		n.Status, n.AmountCapturable, n.MethodType, n.Attempts = payment.StatusAuthorized, 700, "voucher", 1
		n.Vouchers = []payment.VoucherUse{{Seq: 0, Serial: "V1", Amount: 500}, {Seq: 1, Serial: "V2", Amount: 200}}
		n.Risk = payment.RiskResult{EvaluationID: "ev1", Score: 12, Level: "low", Decision: "allow"}
	})
	if err := a.UpdatePayment(ctx, auth, nil); err != nil {
		t.Fatal(err)
	}
	got, err := b.Payment(ctx, "m", p.ID)
	if err != nil || got.Version != auth.Version || got.Status != payment.StatusAuthorized || len(got.Vouchers) != 2 {
		t.Fatalf("B after A's write: version %d status %s vouchers %v (%v); want A's version %d", got.Version, got.Status, got.Vouchers, err, auth.Version)
	}
	// A's stale copy: B captures; A's cancel from its own cache loses.
	capture := step(got, func(n *payment.Payment) {
		n.Status, n.AmountCaptured, n.AmountCapturable = payment.StatusCaptured, 600, 0
		n.Vouchers[0].Captured, n.Vouchers[1].Captured = 500, 100
	})
	if err := b.UpdatePayment(ctx, capture, nil); err != nil {
		t.Fatal(err)
	}
	cancel := step(auth, func(n *payment.Payment) { n.Status, n.AmountCapturable = payment.StatusCanceled, 0 })
	if err := a.UpdatePayment(ctx, cancel, nil); !errors.Is(err, payment.ErrConflict) {
		t.Fatalf("A's update over a version B moved on = %v, want ErrConflict", err)
	}
	gotA, err := a.Payment(ctx, "m", p.ID)
	if err != nil || !reflect.DeepEqual(gotA, capture) {
		t.Fatalf("A after B's capture:\n got %+v (%v)\nwant %+v", gotA, err, capture)
	}
	// A refunds from what it read; one voucher row changes, one goes.
	refund := step(gotA, func(n *payment.Payment) {
		n.AmountRefunded, n.RefundSeq = 100, 1
		n.Vouchers = n.Vouchers[:1]
		n.Vouchers[0].Refunded = 100
	})
	if err := a.UpdatePayment(ctx, refund, nil); err != nil {
		t.Fatal(err)
	}
	// A node that caches nothing sees every column A and B wrote.
	fresh := sqlstore.NewPayments(open())
	if got, err := fresh.Payment(ctx, "m", p.ID); err != nil || !reflect.DeepEqual(got, refund) {
		t.Fatalf("a third node reads:\n got %+v (%v)\nwant %+v", got, err, refund)
	}
	if got, err := b.Payment(ctx, "m", p.ID); err != nil || !reflect.DeepEqual(got, refund) {
		t.Fatalf("B after A's refund:\n got %+v (%v)\nwant %+v", got, err, refund)
	}
	// A cached payment is another merchant's no more than a stored one.
	if _, err := a.Payment(ctx, "other", p.ID); err == nil {
		t.Fatal("another merchant read the payment through the cache")
	}
}

// TestPaymentCacheScrubbed: a payment whose payer was erased (the privacy
// scrub, on any node) is not served from a cache that still holds the
// payer's email.
func TestPaymentCacheScrubbed(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			var db, other *sqlstore.DB
			var err error
			if backend == "sqlite" {
				db, err = sqlstore.OpenSQLite(ctx, t.TempDir())
				other = db
			} else {
				url := pgtest.URL(t)
				if db, err = sqlstore.OpenPostgres(ctx, url); err == nil {
					other, err = sqlstore.OpenPostgres(ctx, url)
					t.Cleanup(func() { other.Close() })
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			s := sqlstore.NewPayments(db)
			p := newCachedPayment(t, db, "pay_scrub1")
			if got, err := s.Payment(ctx, "m", p.ID); err != nil || got.Customer.Email != "payer@example.com" {
				t.Fatalf("before: %q %v", got.Customer.Email, err)
			}
			// What the privacy scrub writes (store/sqlstore/privacy.go).
			if err := other.Transact(ctx, func(tx *sqlstore.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE payments SET customer_email = '', customer_phone = '', version = version + 1 WHERE id = ?`, p.ID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Payment(ctx, "m", p.ID); err != nil || got.Customer.Email != "" {
				t.Fatalf("after the scrub: email %q (%v), want none", got.Customer.Email, err)
			}
		})
	}
}
