package ledger_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/ledger/ledgertest"
	"github.com/kassa/kassa/ledger/memstore"
)

// heldStore is a memstore whose Update waits while hold is set, so a test
// can let submissions pile up behind a batch in progress.
type heldStore struct {
	*memstore.Store
	hold    atomic.Bool
	held    atomic.Int32 // Update calls currently waiting on release
	release chan struct{}
}

func (s *heldStore) Update(ctx context.Context, fn func(context.Context, ledger.Tx) error) error {
	if s.hold.Load() {
		s.held.Add(1)
		<-s.release
		s.held.Add(-1)
	}
	return s.Store.Update(ctx, fn)
}

// While merchant A floods the sequencer with calls of TransfersPerCallMax
// transfers (each fills a batch on its own), merchant B's one-transfer
// call must be served within a bounded number of batches, not behind
// every call A managed to queue.
func TestFairShareAcrossOwners(t *testing.T) {
	const queueMax = 8
	store := &heldStore{Store: memstore.New(), release: make(chan struct{})}
	var batches atomic.Int64
	e := ledgertest.NewEnv(t, func(testing.TB) ledger.Store { return store }, func(c *ledger.Config) {
		c.QueueLengthMax = queueMax
		c.OnCommit = func(int, time.Duration) { batches.Add(1) }
	})
	for _, owner := range []string{"merA", "merB"} {
		e.Accounts(t, owner,
			ledger.Account{ID: "src", Currency: "EUR"},
			ledger.Account{ID: "dst", Currency: "EUR"})
	}

	store.hold.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	var flood sync.WaitGroup
	var seq atomic.Int64
	for range 2 * queueMax {
		flood.Add(1)
		go func() {
			defer flood.Done()
			for ctx.Err() == nil {
				n := seq.Add(1)
				ts := make([]ledger.Transfer, ledger.TransfersPerCallMax)
				for i := range ts {
					ts[i] = ledger.Transfer{ID: fmt.Sprintf("a%d-%d", n, i), DebitAccountID: "src", CreditAccountID: "dst", Amount: 1, Currency: "EUR"}
				}
				e.L.CreateTransfers(ctx, "merA", ts)
			}
		}()
	}
	defer func() { cancel(); flood.Wait() }()
	for e.L.Queued("merA") < queueMax {
		runtime.Gosched()
	}

	start := batches.Load()
	got := make(chan int64, 1)
	go func() {
		rs, err := e.L.CreateTransfers(context.Background(), "merB", []ledger.Transfer{
			{ID: "b1", DebitAccountID: "src", CreditAccountID: "dst", Amount: 1, Currency: "EUR"},
		})
		if err != nil || rs[0].Code != ledger.OK {
			t.Errorf("merB: %v %v", rs, err)
		}
		got <- batches.Load() - start
	}()
	for e.L.Queued("merB") == 0 {
		runtime.Gosched()
	}
	store.hold.Store(false)
	close(store.release)
	if n := <-got; n > 2 {
		t.Errorf("merB's call was served after %d batches of merA's, want at most 2", n)
	}
}
