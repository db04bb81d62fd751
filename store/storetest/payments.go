package storetest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/webhook"
)

func init() {
	Register("Payments", func(t *testing.T, open Opener) {
		t.Run("RoundTrip", func(t *testing.T) { testPaymentRoundTrip(t, open) })
		t.Run("Update", func(t *testing.T) { testPaymentUpdate(t, open) })
		t.Run("DuplicateReference", func(t *testing.T) { testPaymentDuplicateReference(t, open) })
		t.Run("FiltersAndPages", func(t *testing.T) { testPaymentFiltersAndPages(t, open) })
		t.Run("ByPayer", func(t *testing.T) { testPaymentsByPayer(t, open) })
		t.Run("WorkerQueries", func(t *testing.T) { testPaymentWorkerQueries(t, open) })
		t.Run("Refunds", func(t *testing.T) { testPaymentRefunds(t, open) })
	})
}

// paymentEnv is a payment store over one database with two merchants.
type paymentEnv struct {
	db    *sqlstore.DB
	store *sqlstore.Payments
	a, b  merchant.Created
	base  time.Time
}

func newPaymentEnv(t *testing.T, open Opener) *paymentEnv {
	t.Helper()
	ctx := context.Background()
	e := &paymentEnv{db: open(t), base: time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)}
	e.store = sqlstore.NewPayments(e.db)
	ms := merchant.NewService(sqlstore.NewMerchants(e.db), nil, id.Generator{})
	var err error
	if e.a, err = ms.Create(ctx, "Shop A"); err != nil {
		t.Fatal(err)
	}
	if e.b, err = ms.Create(ctx, "Shop B"); err != nil {
		t.Fatal(err)
	}
	return e
}

// newPayment is a fresh requires_action payment of merchant created at.
func newPayment(merchantID string, created time.Time) payment.Payment {
	return payment.Payment{
		ID: id.New("pay"), MerchantID: merchantID, Amount: 1500, Currency: "EUR",
		CaptureMethod: payment.CaptureManual, Status: payment.StatusRequiresAction,
		Description: "order", ClientSecret: id.New("pay") + "_secret_x",
		ExpiresAt: created.Add(payment.UnpaidTTL), Created: created, Updated: created, Version: 1,
		Risk: payment.RiskResult{Score: -1},
	}
}

func paymentEvent(p payment.Payment, typ string) webhook.Event {
	return webhook.Event{ID: id.New("evt"), MerchantID: p.MerchantID, Type: typ, Created: p.Updated,
		Data: json.RawMessage(fmt.Sprintf(`{"id":%q,"status":%q}`, p.ID, p.Status))}
}

func (e *paymentEnv) create(t *testing.T, p payment.Payment) payment.Payment {
	t.Helper()
	if err := e.store.CreatePayment(context.Background(), p, paymentEvent(p, "payment.created")); err != nil {
		t.Fatalf("CreatePayment(%s): %v", p.ID, err)
	}
	return p
}

// samePayment fails the test when got differs from want in any field.
func samePayment(t *testing.T, what string, got, want payment.Payment) {
	t.Helper()
	if len(got.Vouchers) == 0 && len(want.Vouchers) == 0 {
		got.Vouchers, want.Vouchers = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func ids(ps []payment.Payment) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// testPaymentRoundTrip stores a payment with every field set and reads it
// back unchanged, only for its own merchant, with its event in the outbox.
func testPaymentRoundTrip(t *testing.T, open Opener) {
	e := newPaymentEnv(t, open)
	ctx := context.Background()
	p := newPayment(e.a.ID, e.base.Add(123456*time.Microsecond))
	p.MerchantReference = "order-1"
	p.ReturnURL = "https://shop.example/done?x=1"
	p.Locale = "de-AT"
	p.Metadata = json.RawMessage(`{"cart":"c-1","n":2}`)
	p.Description = "Ünïcode ✓ order"
	p.MethodType = "card"
	p.Card = payment.CardUse{Ref: "card_x", Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030,
		Fingerprint: "fp", AuthorizationID: "auth_1", AcquirerState: payment.AcquirerChallenge,
		AttemptKey: "k1", ChallengeID: "ch_1"}
	p.Customer = payment.Customer{ID: "cust-9", Email: "payer@example.com", BillingCountry: "DE", Phone: "+436601234567"}
	p.Risk = payment.RiskResult{EvaluationID: "rev_1", Score: 73, Level: "high", Decision: "challenge", Factor: "otp",
		Reasons:   []risk.Reason{{Code: "feature:amount", Feature: "amount", Value: 1500, Contribution: 0.25, Message: "large"}},
		Challenge: payment.ChallengePending, TransStatus: "U", ECI: "07"}
	p.PayerID = "cus_payer"
	e.create(t, p)

	got, err := e.store.Payment(ctx, e.a.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	samePayment(t, "Payment", got, p)
	if got, err := e.store.Payment(ctx, "", p.ID); err != nil || got.ID != p.ID {
		t.Errorf("Payment(any merchant) = %v, %v", got.ID, err)
	}
	if _, err := e.store.Payment(ctx, e.b.ID, p.ID); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("another merchant's Payment = %v, want not found", err)
	}
	if _, err := e.store.Payment(ctx, e.a.ID, "pay_nope"); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("unknown Payment = %v, want not found", err)
	}
	// A payment without the optional fields reads back with them empty.
	q := e.create(t, newPayment(e.a.ID, e.base))
	got, err = e.store.Payment(ctx, e.a.ID, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	samePayment(t, "bare Payment", got, q)
	var events int
	if err := e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_events WHERE merchant_id = ? AND type = ?`,
		e.a.ID, "payment.created").Scan(&events); err != nil || events != 2 {
		t.Errorf("payment.created events = %d, %v; want 2", events, err)
	}
	// A bad event refuses the payment too: both are one transaction.
	r := newPayment(e.a.ID, e.base)
	bad := paymentEvent(r, "payment.created")
	bad.Data = json.RawMessage(`not json`)
	if err := e.store.CreatePayment(ctx, r, bad); err == nil {
		t.Error("CreatePayment with an invalid event succeeded")
	}
	if _, err := e.store.Payment(ctx, "", r.ID); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("payment whose event was refused: %v, want not found", err)
	}
}

// testPaymentUpdate checks optimistic concurrency and the vouchers.
func testPaymentUpdate(t *testing.T, open Opener) {
	e := newPaymentEnv(t, open)
	ctx := context.Background()
	p := e.create(t, newPayment(e.a.ID, e.base))

	next := p
	next.Version, next.Updated = 2, e.base.Add(time.Minute)
	next.Status, next.MethodType = payment.StatusAuthorized, "voucher"
	next.AmountCapturable = 1500
	next.Vouchers = []payment.VoucherUse{{Seq: 0, Serial: "V2", Amount: 1000}, {Seq: 1, Serial: "V1", Amount: 500}}
	next.PayerID = "cus_late"
	if err := e.store.UpdatePayment(ctx, next, []webhook.Event{paymentEvent(next, "payment.authorized")}); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.Payment(ctx, e.a.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	samePayment(t, "after update", got, next)
	// A writer that read version 1 loses.
	stale := p
	stale.Version, stale.Status = 2, payment.StatusCanceled
	if err := e.store.UpdatePayment(ctx, stale, nil); !errors.Is(err, payment.ErrConflict) {
		t.Errorf("stale update = %v, want ErrConflict", err)
	}
	// Of concurrent writers of the same version exactly one wins, and the
	// vouchers are those of the winner.
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			w := next
			w.Version, w.Status = 3, payment.StatusCaptured
			w.AmountCaptured, w.AmountCapturable = money.Amount(100*(i+1)), 0
			w.Vouchers = []payment.VoucherUse{{Seq: 0, Serial: "W" + itoa(i), Amount: 1500, Captured: w.AmountCaptured}}
			errs[i] = e.store.UpdatePayment(ctx, w, nil)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("writers %d and %d both won version 3", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, payment.ErrConflict):
			t.Errorf("writer %d: %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won version 3")
	}
	got, _ = e.store.Payment(ctx, e.a.ID, p.ID)
	if got.Version != 3 || len(got.Vouchers) != 1 || got.Vouchers[0].Serial != "W"+itoa(winner) ||
		got.AmountCaptured != money.Amount(100*(winner+1)) {
		t.Errorf("after the race: version %d vouchers %+v captured %d; want writer %d's", got.Version, got.Vouchers, got.AmountCaptured, winner)
	}
	// Updating an unknown payment is a conflict, not a silent insert.
	ghost := newPayment(e.a.ID, e.base)
	ghost.Version = 2
	if err := e.store.UpdatePayment(ctx, ghost, nil); !errors.Is(err, payment.ErrConflict) {
		t.Errorf("update of an unknown payment = %v, want ErrConflict", err)
	}
}

// testPaymentDuplicateReference: one live payment per merchant reference.
func testPaymentDuplicateReference(t *testing.T, open Opener) {
	e := newPaymentEnv(t, open)
	ctx := context.Background()
	first := newPayment(e.a.ID, e.base)
	first.MerchantReference = "ref-1"
	e.create(t, first)
	second := newPayment(e.a.ID, e.base.Add(time.Second))
	second.MerchantReference = "ref-1"
	err := e.store.CreatePayment(ctx, second, paymentEvent(second, "payment.created"))
	var dup *payment.DuplicateError
	if !errors.As(err, &dup) || dup.ExistingID != first.ID {
		t.Fatalf("second live payment with the reference = %v, want DuplicateError naming %s", err, first.ID)
	}
	// Another merchant may use the same reference.
	other := newPayment(e.b.ID, e.base)
	other.MerchantReference = "ref-1"
	e.create(t, other)
	// Once the first is no longer live, the reference is free again.
	canceled := first
	canceled.Version, canceled.Status = 2, payment.StatusCanceled
	if err := e.store.UpdatePayment(ctx, canceled, nil); err != nil {
		t.Fatal(err)
	}
	e.create(t, second)
	// The same id twice is refused.
	again := newPayment(e.b.ID, e.base)
	again.ID = second.ID
	if err := e.store.CreatePayment(ctx, again, paymentEvent(again, "payment.created")); err == nil || errors.As(err, &dup) {
		t.Errorf("same id twice = %v, want a plain error", err)
	}
}

// testPaymentFiltersAndPages lists a merchant's payments with every
// filter, page by page, against a reference computed here.
func testPaymentFiltersAndPages(t *testing.T, open Opener) {
	e := newPaymentEnv(t, open)
	ctx := context.Background()
	statuses := []payment.Status{payment.StatusRequiresAction, payment.StatusAuthorized, payment.StatusCaptured, payment.StatusCanceled}
	var all []payment.Payment
	for i := range 31 {
		// Every third payment shares its creation time with the one before
		// it, so the cursor must order by id within a timestamp.
		created := e.base.Add(time.Duration(i-i/3) * time.Second)
		p := newPayment(e.a.ID, created)
		p.Status = statuses[i%len(statuses)]
		if i%5 == 0 {
			p.MerchantReference = "batch-" + itoa(i%2)
			if !p.Status.Live() {
				p.MerchantReference = "batch-dead"
			}
		}
		if p.Status.Live() && p.MerchantReference != "" {
			// Only one live payment per reference.
			p.MerchantReference += "-" + itoa(i)
		}
		all = append(all, e.create(t, p))
		e.create(t, newPayment(e.b.ID, created)) // noise at the other merchant
	}
	slices.SortFunc(all, func(x, y payment.Payment) int {
		if c := y.Created.Compare(x.Created); c != 0 {
			return c
		}
		return strings.Compare(y.ID, x.ID)
	})
	filters := []struct {
		name string
		f    payment.Filter
		keep func(p payment.Payment) bool
	}{
		{"all", payment.Filter{}, func(payment.Payment) bool { return true }},
		{"status", payment.Filter{Status: payment.StatusCaptured}, func(p payment.Payment) bool { return p.Status == payment.StatusCaptured }},
		{"reference", payment.Filter{MerchantReference: "batch-dead"}, func(p payment.Payment) bool { return p.MerchantReference == "batch-dead" }},
		{"created range", payment.Filter{CreatedGTE: e.base.Add(5 * time.Second), CreatedLT: e.base.Add(14 * time.Second)},
			func(p payment.Payment) bool {
				return !p.Created.Before(e.base.Add(5*time.Second)) && p.Created.Before(e.base.Add(14*time.Second))
			}},
		{"status and range", payment.Filter{Status: payment.StatusRequiresAction, CreatedGTE: e.base.Add(3 * time.Second)},
			func(p payment.Payment) bool {
				return p.Status == payment.StatusRequiresAction && !p.Created.Before(e.base.Add(3*time.Second))
			}},
		{"none", payment.Filter{Status: payment.StatusExpired}, func(payment.Payment) bool { return false }},
	}
	for _, tt := range filters {
		var want []string
		for _, p := range all {
			if tt.keep(p) {
				want = append(want, p.ID)
			}
		}
		for _, limit := range []int{1, 4, 7, 100} {
			var got []string
			f := tt.f
			f.MerchantID, f.Limit = e.a.ID, limit
			for pages := 0; ; pages++ {
				if pages > len(all)+1 {
					t.Fatalf("%s limit %d: pages never end", tt.name, limit)
				}
				page, more, err := e.store.Payments(ctx, f)
				if err != nil {
					t.Fatalf("%s limit %d: %v", tt.name, limit, err)
				}
				if len(page) > limit {
					t.Fatalf("%s limit %d: page of %d", tt.name, limit, len(page))
				}
				for _, p := range page {
					if p.MerchantID != e.a.ID {
						t.Fatalf("%s: listed %s of merchant %s", tt.name, p.ID, p.MerchantID)
					}
				}
				got = append(got, ids(page)...)
				if wantMore := len(got) < len(want); more != wantMore {
					t.Errorf("%s limit %d: has_more %v after %d of %d", tt.name, limit, more, len(got), len(want))
				}
				if !more || len(page) == 0 {
					break
				}
				f.StartingAfter = page[len(page)-1].ID
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s limit %d:\n got %v\nwant %v", tt.name, limit, got, want)
			}
		}
	}
	// A listed payment carries its vouchers.
	withVouchers := all[0]
	withVouchers.Version++
	withVouchers.Vouchers = []payment.VoucherUse{{Seq: 0, Serial: "VL", Amount: 1500}}
	if err := e.store.UpdatePayment(ctx, withVouchers, nil); err != nil {
		t.Fatal(err)
	}
	page, _, err := e.store.Payments(ctx, payment.Filter{MerchantID: e.a.ID, Limit: 1})
	if err != nil || len(page) != 1 || len(page[0].Vouchers) != 1 || page[0].Vouchers[0].Serial != "VL" {
		t.Errorf("first page = %+v, %v; want %s with its voucher", page, err, withVouchers.ID)
	}
	// A cursor naming another merchant's payment, or none, is refused.
	theirs, _, err := e.store.Payments(ctx, payment.Filter{MerchantID: e.b.ID, Limit: 1})
	if err != nil || len(theirs) != 1 {
		t.Fatal(theirs, err)
	}
	for _, cursor := range []string{theirs[0].ID, "pay_nope"} {
		_, _, err := e.store.Payments(ctx, payment.Filter{MerchantID: e.a.ID, Limit: 5, StartingAfter: cursor})
		var ke *kassa.Error
		if !errors.As(err, &ke) || ke.Kind != kassa.EInvalid || ke.Param != "starting_after" {
			t.Errorf("starting_after %s = %v, want invalid starting_after", cursor, err)
		}
	}
}

// testPaymentsByPayer lists a payer's payments across merchants.
func testPaymentsByPayer(t *testing.T, open Opener) {
	e := newPaymentEnv(t, open)
	ctx := context.Background()
	var want []string
	for i := range 6 {
		m := e.a.ID
		if i%2 == 1 {
			m = e.b.ID
		}
		p := newPayment(m, e.base.Add(time.Duration(i/2)*time.Minute)) // pairs share a time
		p.PayerID = "cus_one"
		want = append(want, e.create(t, p).ID)
		stranger := newPayment(m, p.Created)
		stranger.PayerID = "cus_two"
		e.create(t, stranger)
		e.create(t, newPayment(m, p.Created)) // no payer
	}
	// A payment whose payer is set later (the challenge) is listed too.
	late := e.create(t, newPayment(e.b.ID, e.base.Add(time.Hour)))
	late.Version, late.PayerID = 2, "cus_one"
	if err := e.store.UpdatePayment(ctx, late, nil); err != nil {
		t.Fatal(err)
	}
	want = append(want, late.ID)
	byTime := map[string]time.Time{late.ID: late.Created}
	for i, id := range want[:6] {
		byTime[id] = e.base.Add(time.Duration(i/2) * time.Minute)
	}
	slices.SortFunc(want, func(x, y string) int {
		if c := byTime[y].Compare(byTime[x]); c != 0 {
			return c
		}
		return strings.Compare(y, x)
	})
	got, err := e.store.PaymentsByPayer(ctx, "cus_one", 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), want) {
		t.Errorf("PaymentsByPayer:\n got %v\nwant %v", ids(got), want)
	}
	got, err = e.store.PaymentsByPayer(ctx, "cus_one", 3)
	if err != nil || !slices.Equal(ids(got), want[:3]) {
		t.Errorf("PaymentsByPayer limit 3 = %v, %v; want %v", ids(got), err, want[:3])
	}
	if got, err := e.store.PaymentsByPayer(ctx, "cus_nobody", 10); err != nil || len(got) != 0 {
		t.Errorf("PaymentsByPayer(unknown) = %v, %v; want none", ids(got), err)
	}
}

// testPaymentWorkerQueries covers what the workers and reconciliation read.
func testPaymentWorkerQueries(t *testing.T, open Opener) {
	e := newPaymentEnv(t, open)
	ctx := context.Background()
	now := e.base.Add(time.Hour)
	due := e.create(t, newPayment(e.a.ID, now.Add(-2*payment.UnpaidTTL)))
	notDue := e.create(t, newPayment(e.a.ID, now))
	authorized := newPayment(e.b.ID, now.Add(-time.Hour))
	authorized.Status, authorized.ExpiresAt = payment.StatusAuthorized, now.Add(-time.Second)
	e.create(t, authorized)
	done := newPayment(e.a.ID, now.Add(-2*payment.UnpaidTTL))
	done.Status, done.Currency = payment.StatusCaptured, "USD"
	e.create(t, done)
	got, err := e.store.DuePayments(ctx, now, 10)
	if err != nil {
		t.Fatal(err)
	}
	if g := ids(got); len(g) != 2 || !slices.Contains(g, due.ID) || !slices.Contains(g, authorized.ID) {
		t.Errorf("DuePayments = %v, want %s and %s (not %s, %s)", g, due.ID, authorized.ID, notDue.ID, done.ID)
	}
	if got, _ := e.store.DuePayments(ctx, now, 1); len(got) != 1 {
		t.Errorf("DuePayments limit 1 = %d payments", len(got))
	}

	inFlight := newPayment(e.a.ID, now)
	inFlight.MethodType, inFlight.Card = "card", payment.CardUse{Ref: "tok_1", AcquirerState: payment.AcquirerUnknown, AttemptKey: "k"}
	e.create(t, inFlight)
	challenged := newPayment(e.a.ID, now)
	challenged.MethodType, challenged.Card = "card", payment.CardUse{Ref: "tok_2", AcquirerState: payment.AcquirerChallenge}
	e.create(t, challenged)
	got, err = e.store.AcquirerPending(ctx, 10)
	if err != nil || !slices.Equal(ids(got), []string{inFlight.ID}) {
		t.Errorf("AcquirerPending = %v, %v; want [%s]", ids(got), err, inFlight.ID)
	}

	curs, err := e.store.Currencies(ctx, e.a.ID)
	if err != nil || !slices.Equal(curs, []money.Currency{"EUR", "USD"}) {
		t.Errorf("Currencies = %v, %v; want [EUR USD]", curs, err)
	}
	if curs, _ := e.store.Currencies(ctx, e.b.ID); !slices.Equal(curs, []money.Currency{"EUR"}) {
		t.Errorf("Currencies of B = %v, want [EUR]", curs)
	}

	if w, err := e.store.CaptureWindow(ctx, e.a.ID); err != nil || w != 0 {
		t.Errorf("CaptureWindow unset = %v, %v; want 0", w, err)
	}
	for _, w := range []time.Duration{48 * time.Hour, time.Hour, 0} {
		if err := e.store.SetCaptureWindow(ctx, e.a.ID, w); err != nil {
			t.Fatal(err)
		}
		if got, err := e.store.CaptureWindow(ctx, e.a.ID); err != nil || got != w {
			t.Errorf("CaptureWindow = %v, %v; want %v", got, err, w)
		}
	}
	if got, _ := e.store.CaptureWindow(ctx, e.b.ID); got != 0 {
		t.Errorf("B's CaptureWindow = %v after A set its own", got)
	}

	// AllPayments pages through every merchant's payments by id.
	var seen []string
	after := ""
	for {
		page, err := e.store.AllPayments(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		seen = append(seen, ids(page)...)
		after = page[len(page)-1].ID
	}
	if len(seen) != 6 || !slices.IsSorted(seen) {
		t.Errorf("AllPayments = %v, want the 6 payments by id", seen)
	}
}

// testPaymentRefunds writes refunds inside ledger batches and reads them
// back only for their merchant.
func testPaymentRefunds(t *testing.T, open Opener) {
	e := newPaymentEnv(t, open)
	ctx := context.Background()
	skey, _, err := note.GenerateKey(rand.Reader, "kassa.test/payments")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(ledger.Config{Store: sqlstore.NewLedger(e.db), SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if rs, err := l.CreateAccounts(ctx, "", []ledger.Account{{ID: "src", Currency: "EUR"}, {ID: "dst", Currency: "EUR"}}); err != nil || rs[0].Code != ledger.OK {
		t.Fatal(rs, err)
	}
	p := newPayment(e.a.ID, e.base)
	p.Status, p.AmountCaptured = payment.StatusCaptured, 1500
	e.create(t, p)
	refund := func(n int, amount money.Amount, version int64) error {
		r := payment.Refund{ID: fmt.Sprintf("re_%d", n), PaymentID: p.ID, MerchantID: e.a.ID, Amount: amount, Currency: "EUR",
			Reason: "requested_by_customer", Status: "succeeded", Created: e.base.Add(time.Duration(n) * time.Minute)}
		next := p
		next.Version, next.AmountRefunded = version, p.AmountRefunded+amount
		_, err := l.CreateTransfersWith(ctx, "", []ledger.Transfer{{ID: r.ID, DebitAccountID: "dst", CreditAccountID: "src", Amount: amount, Currency: "EUR"}},
			func(ctx context.Context, tx ledger.Tx, _ []ledger.Result) error {
				return e.store.CreateRefundTx(ctx, tx, r, next, []webhook.Event{paymentEvent(next, "payment.refunded")})
			})
		if err == nil {
			p = next
		}
		return err
	}
	if err := refund(1, 500, 2); err != nil {
		t.Fatal(err)
	}
	if err := refund(2, 300, 3); err != nil {
		t.Fatal(err)
	}
	// A refund written against a stale version is refused with its transfer.
	if err := refund(3, 700, 3); !errors.Is(err, payment.ErrConflict) {
		t.Errorf("refund on a stale version = %v, want ErrConflict", err)
	}
	if _, _, err := l.Transfer(ctx, "", "re_3"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("the refused refund's transfer: %v, want not found", err)
	}
	rs, err := e.store.Refunds(ctx, p.ID)
	if err != nil || len(rs) != 2 || rs[0].ID != "re_1" || rs[1].ID != "re_2" || rs[0].Amount != 500 {
		t.Errorf("Refunds = %+v, %v; want re_1 then re_2", rs, err)
	}
	got, err := e.store.Refund(ctx, e.a.ID, "re_2")
	if want := (payment.Refund{ID: "re_2", PaymentID: p.ID, MerchantID: e.a.ID, Amount: 300, Currency: "EUR",
		Reason: "requested_by_customer", Status: "succeeded", Created: e.base.Add(2 * time.Minute)}); err != nil || got != want {
		t.Errorf("Refund = %+v, %v; want %+v", got, err, want)
	}
	if _, err := e.store.Refund(ctx, e.b.ID, "re_2"); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("another merchant's Refund = %v, want not found", err)
	}
	if stored, _ := e.store.Payment(ctx, e.a.ID, p.ID); stored.AmountRefunded != 800 || stored.Version != 3 {
		t.Errorf("payment after refunds: refunded %d version %d, want 800 and 3", stored.AmountRefunded, stored.Version)
	}
}
