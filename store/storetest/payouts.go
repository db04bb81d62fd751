package storetest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/webhook"
)

func init() {
	Register("Payouts", func(t *testing.T, open Opener) {
		t.Run("RoundTripAndScope", func(t *testing.T) { testPayoutRoundTrip(t, open) })
		t.Run("VersionedUpdates", func(t *testing.T) { testPayoutUpdates(t, open) })
		t.Run("ListsAndWorker", func(t *testing.T) { testPayoutLists(t, open) })
		t.Run("Totals", func(t *testing.T) { testPayoutTotals(t, open) })
		t.Run("EffectAccount", func(t *testing.T) { testEffectAccount(t, open) })
	})
}

type payoutEnv struct {
	db    *sqlstore.DB
	store *sqlstore.Payouts
	led   *ledger.Ledger
	a, b  merchant.Created
	base  time.Time
}

func newPayoutEnv(t *testing.T, open Opener) *payoutEnv {
	t.Helper()
	ctx := context.Background()
	e := &payoutEnv{db: open(t), base: time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)}
	e.store = sqlstore.NewPayouts(e.db)
	skey, _, err := note.GenerateKey(rand.Reader, "kassa.test/payouts")
	if err != nil {
		t.Fatal(err)
	}
	if e.led, err = ledger.New(ledger.Config{Store: sqlstore.NewLedger(e.db), SignerKey: skey}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.led.Close() })
	if _, err := e.led.CreateAccounts(ctx, "", []ledger.Account{{ID: "a", Currency: "EUR"}, {ID: "b", Currency: "EUR"}}); err != nil {
		t.Fatal(err)
	}
	ms := merchant.NewService(sqlstore.NewMerchants(e.db), nil, id.Generator{})
	if e.a, err = ms.Create(ctx, "Casino A"); err != nil {
		t.Fatal(err)
	}
	if e.b, err = ms.Create(ctx, "Casino B"); err != nil {
		t.Fatal(err)
	}
	return e
}

func newPayout(merchantID string, created time.Time) payout.Payout {
	return payout.Payout{ID: id.New("po"), MerchantID: merchantID, Amount: 1500, Currency: "EUR",
		Status: payout.StatusPending, Destination: payout.Destination{Type: payout.DestBankAccount, IBAN: "DE89370400440532013000", AccountHolder: "Jane Doe"},
		Customer: payout.Customer{ID: "player-1", Email: "jane@example.com", FirstName: "Jane", LastName: "Doe"},
		Rail:     "sepa_test", Created: created, Updated: created, Version: 1}
}

// create stores p in a ledger effect, as the service does.
func (e *payoutEnv) create(t *testing.T, p payout.Payout, evs ...webhook.Event) {
	t.Helper()
	ts := []ledger.Transfer{{ID: p.ID, DebitAccountID: "a", CreditAccountID: "b", Amount: 1, Currency: "EUR"}}
	_, err := e.led.CreateTransfersWith(context.Background(), "", ts, func(ctx context.Context, tx ledger.Tx, _ []ledger.Result) error {
		return e.store.CreatePayoutTx(ctx, tx, p, evs)
	})
	if err != nil {
		t.Fatalf("create %s: %v", p.ID, err)
	}
}

func testPayoutRoundTrip(t *testing.T, open Opener) {
	e := newPayoutEnv(t, open)
	ctx := context.Background()
	p := newPayout(e.a.ID, e.base.Add(123456*time.Microsecond))
	p.Customer.DateOfBirth = "" // never stored
	p.Checks = []payout.Check{{Check: "age", Result: "pass"}, {Check: "policy", Result: "review", Detail: "large"}}
	p.MerchantReference = "win-1"
	p.Metadata = json.RawMessage(`{"game":"poker"}`)
	p.CreatedBy, p.RequestKey = "key_1", "idem-1"
	p.ArrivalEstimate = e.base.Add(24 * time.Hour)
	ev := webhook.Event{ID: id.New("evt"), MerchantID: e.a.ID, Type: payout.EventCreated, Created: p.Created, Data: json.RawMessage(`{"id":"x"}`)}
	e.create(t, p, ev)
	got, err := e.store.Payout(ctx, e.a.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, p)
	}
	if _, err := e.store.Payout(ctx, e.b.ID, p.ID); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("another merchant read the payout: %v", err)
	}
	if _, err := e.store.Payout(ctx, "", p.ID); err != nil {
		t.Errorf("the worker's read (any merchant): %v", err)
	}
	evs, _, err := sqlstore.NewWebhooks(e.db).Events(ctx, e.a.ID, payout.EventCreated, "", 10)
	if err != nil || len(evs) != 1 || evs[0].ID != ev.ID {
		t.Errorf("event not in the outbox: %v %v", evs, err)
	}
}

func testPayoutUpdates(t *testing.T, open Opener) {
	e := newPayoutEnv(t, open)
	ctx := context.Background()
	p := newPayout(e.a.ID, e.base)
	e.create(t, p)
	next := p
	next.Version, next.Status, next.RailAttempts, next.Updated = 2, payout.StatusInTransit, 1, e.base.Add(time.Minute)
	if err := e.store.UpdatePayout(ctx, next, nil); err != nil {
		t.Fatal(err)
	}
	stale := p
	stale.Version, stale.Status = 2, payout.StatusCanceled
	if err := e.store.UpdatePayout(ctx, stale, nil); !errors.Is(err, payout.ErrConflict) {
		t.Errorf("stale update: %v, want ErrConflict", err)
	}
	paid := next
	paid.Version, paid.Status, paid.PaidAt, paid.FailureCode, paid.FailureMessage = 3, payout.StatusPaid, e.base.Add(time.Hour), "x", "y"
	ts := []ledger.Transfer{{ID: p.ID + ":2", DebitAccountID: "a", CreditAccountID: "b", Amount: 1, Currency: "EUR"}}
	if _, err := e.led.CreateTransfersWith(ctx, "", ts, func(ctx context.Context, tx ledger.Tx, _ []ledger.Result) error {
		return e.store.UpdatePayoutTx(ctx, tx, paid, nil)
	}); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.Payout(ctx, e.a.ID, p.ID)
	if err != nil || !reflect.DeepEqual(got, paid) {
		t.Errorf("after updates:\n got %+v %v\nwant %+v", got, err, paid)
	}
}

func testPayoutLists(t *testing.T, open Opener) {
	e := newPayoutEnv(t, open)
	ctx := context.Background()
	var all []payout.Payout
	for i := range 5 {
		p := newPayout(e.a.ID, e.base.Add(time.Duration(i)*time.Second))
		if i%2 == 1 {
			p.Customer.ID = "player-2"
		}
		e.create(t, p)
		all = append(all, p)
	}
	e.create(t, newPayout(e.b.ID, e.base))
	page, more, err := e.store.Payouts(ctx, payout.Filter{MerchantID: e.a.ID, Limit: 2})
	if err != nil || len(page) != 2 || !more || page[0].ID != all[4].ID {
		t.Fatalf("first page: %v %v %v", page, more, err)
	}
	page, more, err = e.store.Payouts(ctx, payout.Filter{MerchantID: e.a.ID, Limit: 10, StartingAfter: page[1].ID})
	if err != nil || len(page) != 3 || more {
		t.Errorf("second page: %d %v %v", len(page), more, err)
	}
	byCustomer, _, err := e.store.Payouts(ctx, payout.Filter{MerchantID: e.a.ID, Customer: "player-2", Limit: 10})
	if err != nil || len(byCustomer) != 2 {
		t.Errorf("by customer: %d %v", len(byCustomer), err)
	}
	if _, _, err := e.store.Payouts(ctx, payout.Filter{MerchantID: e.b.ID, Limit: 10, StartingAfter: all[0].ID}); kassa.ErrorKind(err) != kassa.EInvalid {
		t.Errorf("a cursor of another merchant's payout: %v", err)
	}
	// The worker: pending and in transit first, paid ones within the window.
	paidOld, paidNew := all[0], all[1]
	paidOld.Version, paidOld.Status, paidOld.PaidAt = 2, payout.StatusPaid, e.base.Add(-30*24*time.Hour)
	paidNew.Version, paidNew.Status, paidNew.PaidAt = 2, payout.StatusPaid, e.base
	for _, p := range []payout.Payout{paidOld, paidNew} {
		if err := e.store.UpdatePayout(ctx, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	due, err := e.store.DuePayouts(ctx, e.base.Add(-14*24*time.Hour), 100)
	if err != nil || len(due) != 5 || due[len(due)-1].ID != paidNew.ID {
		t.Errorf("due: %d %v", len(due), err)
	}
	if due, err := e.store.DuePayouts(ctx, e.base, 2); err != nil || len(due) != 2 {
		t.Errorf("due with limit 2: %d %v", len(due), err)
	}
}

func testPayoutTotals(t *testing.T, open Opener) {
	e := newPayoutEnv(t, open)
	ctx := context.Background()
	day := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	add := func(customer string, created time.Time, amount money.Amount, st payout.Status) {
		p := newPayout(e.a.ID, created)
		p.Customer.ID, p.Amount, p.Status = customer, amount, st
		e.create(t, p)
	}
	add("p1", e.base, 100, payout.StatusPending)
	add("p1", e.base, 200, payout.StatusPaid)
	add("p1", e.base, 400, payout.StatusCanceled)             // does not count
	add("p1", day.Add(-48*time.Hour), 800, payout.StatusPaid) // last month
	add("p1", day.Add(-time.Hour), 1600, payout.StatusInTransit)
	add("p2", e.base, 3200, payout.StatusRequiresReview)
	q := payout.TotalsQuery{MerchantID: e.a.ID, CustomerID: "p1", Currency: "EUR", DayStart: day, MonthStart: day}
	// MonthStart = DayStart here: 1 April is both.
	got, err := e.store.PayoutTotals(ctx, q)
	want := payout.Totals{PayerDay: 300, PayerMonth: 300, MerchantDay: 3500}
	if err != nil || got != want {
		t.Errorf("totals %+v %v, want %+v", got, err, want)
	}
	q.DayStart, q.MonthStart = day, day.AddDate(0, -1, 0)
	got, err = e.store.PayoutTotals(ctx, q)
	want = payout.Totals{PayerDay: 300, PayerMonth: 2700, MerchantDay: 3500}
	if err != nil || got != want {
		t.Errorf("totals %+v %v, want %+v", got, err, want)
	}
	// Paid back to a deposit, ever: open and paid count, canceled not.
	for i, st := range []payout.Status{payout.StatusPaid, payout.StatusInTransit, payout.StatusFailed} {
		po := newPayout(e.a.ID, day.AddDate(0, -3, 0))
		po.Customer.ID, po.Amount, po.Status, po.Destination = "p3", money.Amount(10<<i), st, payout.Destination{Type: payout.DestCard, Payment: "pay_1"}
		e.create(t, po)
	}
	q.Payment = "pay_1"
	if got, err := e.store.PayoutTotals(ctx, q); err != nil || got.Payment != 30 {
		t.Errorf("paid back to pay_1: %d %v, want 30", got.Payment, err)
	}
	if _, err := e.led.CreateTransfersWith(ctx, "", []ledger.Transfer{{ID: "tot", DebitAccountID: "a", CreditAccountID: "b", Amount: 1, Currency: "EUR"}},
		func(ctx context.Context, tx ledger.Tx, _ []ledger.Result) error {
			got, err := e.store.PayoutTotalsTx(ctx, tx, q)
			if err == nil && got.Payment != 30 {
				err = errors.New("wrong sum in the transaction")
			}
			return err
		}); err != nil {
		t.Errorf("PayoutTotalsTx: %v", err)
	}
	sums, err := e.store.PayoutSums(ctx)
	if want := (payout.Sums{Open: 100 + 1600 + 3200 + 20, Paid: 200 + 800 + 10}); err != nil || sums["merchant:"+e.a.ID+":EUR"] != want {
		t.Errorf("open sums %v %v", sums, err)
	}
}

// testEffectAccount: an effect sees its account with the batch's
// transfers applied, its own included; outside an effect there is none.
func testEffectAccount(t *testing.T, open Opener) {
	e := newPayoutEnv(t, open)
	ctx := context.Background()
	if _, ok := ledger.EffectAccount(ctx, "", "a"); ok {
		t.Error("EffectAccount outside an effect")
	}
	ts := []ledger.Transfer{{ID: "t1", DebitAccountID: "a", CreditAccountID: "b", Amount: 7, Currency: "EUR", Flags: ledger.FlagPending}}
	var seen ledger.Account
	_, err := e.led.CreateTransfersWith(ctx, "", ts, func(ctx context.Context, _ ledger.Tx, _ []ledger.Result) error {
		a, ok := ledger.EffectAccount(ctx, "", "a")
		if !ok {
			return errors.New("no account in the effect")
		}
		seen = a
		return nil
	})
	if err != nil || seen.DebitsPending != 7 {
		t.Errorf("effect saw %+v (%v), want 7 pending debits", seen, err)
	}
}
