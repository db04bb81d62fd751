package ledgertest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// benchAccounts is the number of accounts transfers move money between.
const benchAccounts = 10_000

// BenchmarkCreateTransfers measures durable transfers per second through
// the sequencer: callers goroutines submit calls of per transfers between
// random accounts (hot: every transfer credits one account).
func BenchmarkCreateTransfers(b *testing.B, open Opener, callers, per int, hot bool) {
	ctx := context.Background()
	e := NewEnv(b, open, func(c *ledger.Config) { c.Clock = time.Now })
	benchSetup(b, e)
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Value
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts := make([]ledger.Transfer, 0, per)
			seed := uint64(c)*7919 + 1
			for {
				lo := next.Add(int64(per)) - int64(per)
				if lo >= int64(b.N) {
					return
				}
				ts = ts[:0]
				for i := lo; i < min(lo+int64(per), int64(b.N)); i++ {
					seed = seed*6364136223846793005 + 1442695040888963407
					d, cr := int(seed>>33)%benchAccounts, int(seed>>13)%benchAccounts
					if d == cr {
						cr = (cr + 1) % benchAccounts
					}
					credit := fmt.Sprintf("acc%d", cr)
					if hot {
						credit = "hot"
					}
					ts = append(ts, ledger.Transfer{ID: fmt.Sprintf("b%d", i), DebitAccountID: fmt.Sprintf("acc%d", d), CreditAccountID: credit, Amount: 1, Currency: "EUR"})
				}
				rs, err := e.L.CreateTransfers(ctx, "m", ts)
				if err != nil {
					failed.Store(err)
					return
				}
				for _, r := range rs {
					if r.Code != ledger.OK {
						failed.Store(fmt.Errorf("result %s", r.Code))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "transfers/s")
}

func benchSetup(b testing.TB, e *Env) {
	var as []ledger.Account
	as = append(as, ledger.Account{ID: "hot", Currency: "EUR"})
	for i := range benchAccounts {
		as = append(as, ledger.Account{ID: fmt.Sprintf("acc%d", i), Currency: money.Currency("EUR")})
		if len(as) == ledger.TransfersPerCallMax || i == benchAccounts-1 {
			for _, r := range e.Accounts(b, "m", as...) {
				if r.Code != ledger.OK {
					b.Fatal(r.Code)
				}
			}
			as = as[:0]
		}
	}
}

// BenchmarkVerify measures ledger.Verify over a log of n transfers.
func BenchmarkVerify(b *testing.B, open Opener, n int) {
	ctx := context.Background()
	e := NewEnv(b, open, func(c *ledger.Config) { c.Clock = time.Now })
	benchSetup(b, e)
	ts := make([]ledger.Transfer, 0, ledger.TransfersPerCallMax)
	for i := 0; i < n; i++ {
		ts = append(ts, ledger.Transfer{ID: fmt.Sprintf("v%d", i), DebitAccountID: fmt.Sprintf("acc%d", i%benchAccounts),
			CreditAccountID: fmt.Sprintf("acc%d", (i*31+1)%benchAccounts), Amount: 5, Currency: "EUR"})
		if ts[len(ts)-1].DebitAccountID == ts[len(ts)-1].CreditAccountID {
			ts[len(ts)-1].CreditAccountID = "hot"
		}
		if len(ts) == cap(ts) || i == n-1 {
			if _, err := e.L.CreateTransfers(ctx, "m", ts); err != nil {
				b.Fatal(err)
			}
			ts = ts[:0]
		}
	}
	b.ResetTimer()
	start := time.Now()
	var leaves int64
	for range b.N {
		sum, err := ledger.Verify(ctx, e.Store, e.VerifierKey)
		if err != nil {
			b.Fatal(err)
		}
		leaves += sum.Leaves
	}
	b.ReportMetric(float64(leaves)/time.Since(start).Seconds(), "leaves/s")
}
