package ledgertest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// errAmbiguous is what an AmbiguousStore reports after committing: the
// connection broke after COMMIT reached the database, so the caller
// cannot tell whether it took effect.
var errAmbiguous = errors.New("ledgertest: connection lost after commit (the commit took effect)")

// AmbiguousStore wraps a store: after Fail, its next Update that commits
// returns an error anyway.
type AmbiguousStore struct {
	ledger.Store
	fail    atomic.Bool
	tripped atomic.Int64
}

// Fail makes the next committing Update report failure.
func (s *AmbiguousStore) Fail() { s.fail.Store(true) }

// Update commits through the wrapped store, then lies when armed.
func (s *AmbiguousStore) Update(ctx context.Context, fn func(ctx context.Context, tx ledger.Tx) error) error {
	err := s.Store.Update(ctx, fn)
	if err == nil && s.fail.CompareAndSwap(true, false) {
		s.tripped.Add(1)
		return errAmbiguous
	}
	return err
}

// AmbiguousCommit makes the store commit a call's batch and then report
// failure, and retries the call, as a client that got an error must: a
// transfer, a pending transfer's post, a linked chain and a call with an
// effect. Each retry finds the events committed once (Exists), the
// balances hold each amount once, the effect's writes are in the store
// once, later calls get the next leaves, and the log verifies.
func AmbiguousCommit(t *testing.T, open Opener) {
	ctx := context.Background()
	const eur = money.Currency("EUR")
	amb := &AmbiguousStore{}
	e := NewEnv(t, func(tb testing.TB) ledger.Store { amb.Store = open(tb); return amb })
	e.Accounts(t, "m", ledger.Account{ID: "a", Currency: eur}, ledger.Account{ID: "b", Currency: eur},
		ledger.Account{ID: "c", Currency: eur})
	tr := func(id, dr, cr string, amount money.Amount, flags ledger.TransferFlags) ledger.Transfer {
		return ledger.Transfer{ID: id, DebitAccountID: dr, CreditAccountID: cr, Amount: amount, Currency: eur, Flags: flags}
	}
	// retry runs call once under an ambiguous commit, then again.
	retry := func(name string, call func() ([]ledger.Result, error)) []ledger.Result {
		t.Helper()
		amb.Fail()
		if _, err := call(); err == nil {
			t.Fatalf("%s: the ambiguous commit reported success", name)
		}
		rs, err := call()
		if err != nil {
			t.Fatalf("%s: retry: %v", name, err)
		}
		return rs
	}
	want := func(name string, rs []ledger.Result, codes ...ledger.ResultCode) {
		t.Helper()
		got := Codes(rs)
		if len(got) != len(codes) {
			t.Fatalf("%s: retry results %v, want %v", name, got, codes)
		}
		for i := range codes {
			if got[i] != codes[i] {
				t.Errorf("%s: retry results %v, want %v (committed once, found on retry)", name, got, codes)
				return
			}
		}
	}
	transfers := func(ts ...ledger.Transfer) func() ([]ledger.Result, error) {
		return func() ([]ledger.Result, error) { return e.L.CreateTransfers(ctx, "m", ts) }
	}

	want("transfer", retry("transfer", transfers(tr("t1", "a", "b", 100, 0))), ledger.Exists)
	want("pending", retry("pending", transfers(tr("p1", "a", "b", 50, ledger.FlagPending))), ledger.Exists)
	post := ledger.Transfer{ID: "p1-post", PendingID: "p1", Amount: 50, Flags: ledger.FlagPostPending}
	want("post", retry("post", transfers(post)), ledger.Exists)
	// A chain is all or nothing, and Exists is not OK: the retry finds
	// the first event committed and the chain refused, not applied again.
	want("linked chain", retry("linked chain", transfers(tr("l1", "a", "c", 7, ledger.FlagLinked), tr("l2", "c", "b", 7, 0))),
		ledger.Exists, ledger.LinkedEventFailed)

	// An effect commits with its transfers; on the retry it runs again
	// and sees them as Exists (a payment's effect refuses then). It may
	// run more than once per call (the store may retry its transaction):
	// what counts is what its last run saw.
	var last atomic.Value
	effectCall := func() ([]ledger.Result, error) {
		ts := []ledger.Transfer{tr("e1", "a", "b", 3, 0)}
		return e.L.CreateTransfersWith(ctx, "m", ts, func(ctx context.Context, tx ledger.Tx, rs []ledger.Result) error {
			last.Store(rs[0].Code)
			return nil
		})
	}
	amb.Fail()
	if _, err := effectCall(); err == nil {
		t.Fatal("effect: the ambiguous commit reported success")
	}
	if got := last.Load(); got != ledger.OK {
		t.Errorf("effect: the committed run saw %v, want ok", got)
	}
	rs, err := effectCall()
	if err != nil {
		t.Fatalf("effect: retry: %v", err)
	}
	want("effect", rs, ledger.Exists)
	if got := last.Load(); got != ledger.Exists {
		t.Errorf("effect: the retry's run saw %v, want exists", got)
	}

	// The next call, after the sequencer was told its commit failed,
	// appends after the committed leaves instead of over them.
	if rs := e.Transfers(t, "m", tr("t2", "b", "a", 1, 0)); rs[0].Code != ledger.OK || rs[0].LeafIndex != 9 {
		t.Errorf("next transfer = %+v, want ok at leaf 9", rs[0])
	}
	if n := amb.tripped.Load(); n != 5 {
		t.Fatalf("%d ambiguous commits happened, want 5", n)
	}
	wantBal := map[string][4]money.Amount{ // debits pending, posted; credits pending, posted
		"a": {0, 100 + 50 + 7 + 3, 0, 1},
		"b": {0, 1, 0, 100 + 50 + 7 + 3},
		"c": {0, 7, 0, 7},
	}
	for id, w := range wantBal {
		a, err := e.L.Account(ctx, "m", id)
		if err != nil {
			t.Fatal(err)
		}
		got := [4]money.Amount{a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted}
		if got != w {
			t.Errorf("account %s balances %v, want %v (each transfer once)", id, got, w)
		}
	}
	// A second ledger over the same store (a restarted process) agrees.
	l2 := e.Open(t, e.Store)
	if a, err := l2.Account(ctx, "m", "a"); err != nil || a.DebitsPosted != 160 {
		t.Errorf("after restart account a = %+v, %v", a, err)
	}
	e.Clock.Advance(time.Second)
	if sum := e.Verify(t); sum.Transfers != 7 {
		t.Errorf("Verify: %d transfers, want 7 (t1, p1, its post, l1, l2, e1, t2)", sum.Transfers)
	}
}
