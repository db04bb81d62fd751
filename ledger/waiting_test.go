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
	for i := range 3 {
		calls.Go(func() {
			id := string(rune('a' + i))
			if _, err := e.L.CreateTransfers(context.Background(), "merA", []ledger.Transfer{
				{ID: id, DebitAccountID: "src", CreditAccountID: "dst", Amount: 1, Currency: "EUR"}}); err != nil {
				t.Error(err)
			}
		})
	}
	// One call may be in the held batch; the others wait behind it.
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
