package ledger_test

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/ledger/ledgertest"
	"github.com/kassa/kassa/ledger/memstore"
)

// Waiting counts the calls queued behind the batch in progress (the
// kassa_ledger_queued_submissions gauge): they pile up while a commit
// hangs and are gone once it finishes.
func TestWaitingCountsQueuedCalls(t *testing.T) {
	store := &heldStore{Store: memstore.New(), release: make(chan struct{})}
	e := ledgertest.NewEnv(t, func(testing.TB) ledger.Store { return store })
	e.Accounts(t, "merA", ledger.Account{ID: "src", Currency: "EUR"}, ledger.Account{ID: "dst", Currency: "EUR"})
	if got := e.L.Waiting(); got != 0 {
		t.Fatalf("Waiting() = %d on an idle ledger, want 0", got)
	}
	store.hold.Store(true)
	var calls sync.WaitGroup
	call := func(id string) {
		calls.Go(func() {
			if _, err := e.L.CreateTransfers(context.Background(), "merA", []ledger.Transfer{
				{ID: id, DebitAccountID: "src", CreditAccountID: "dst", Amount: 1, Currency: "EUR"}}); err != nil {
				t.Error(err)
			}
		})
	}
	// The first call's batch is held inside the store; only then are the
	// next two sent, so they cannot join that batch and must queue behind
	// it. (Sent together, the sequencer may batch two of the three and
	// Waiting never reaches 2: the hang CI saw.)
	call("a")
	for store.held.Load() == 0 {
		runtime.Gosched()
	}
	call("b")
	call("c")
	for e.L.Waiting() < 2 {
		runtime.Gosched()
	}
	store.hold.Store(false)
	close(store.release)
	calls.Wait()
	if got := e.L.Waiting(); got != 0 {
		t.Errorf("Waiting() = %d after the calls returned, want 0", got)
	}
}
