package ledger

import (
	"fmt"
	"testing"
)

// BenchmarkApply measures validation and application of transfers against
// the in-memory cache, without store or hashing.
func BenchmarkApply(b *testing.B) {
	var s seqState
	s.init()
	s.cacheMax = 1 << 30
	s.tree = &tree{}
	s.loaded = true
	const accounts = 10_000
	ids := make([]string, accounts)
	for i := range ids {
		ids[i] = fmt.Sprintf("acc%d", i)
		s.accounts[Key{"m", ids[i]}] = &acct{Account: Account{Owner: "m", ID: ids[i], Currency: "EUR"}}
	}
	const per = 8000
	sub := &submission{owner: "m", transfers: make([]Transfer, per), results: make([]Result, per)}
	tids := make([]string, per)
	for i := range tids {
		tids[i] = fmt.Sprintf("t%d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += per {
		b.StopTimer()
		for i := range sub.transfers {
			sub.transfers[i] = Transfer{ID: tids[i], DebitAccountID: ids[(n+i)%accounts], CreditAccountID: ids[(n+i*7+1)%accounts], Amount: 1, Currency: "EUR"}
		}
		s.epoch++
		s.b.reset(&s, int64(n+1), false)
		s.undo = s.undo[:0]
		b.StartTimer()
		s.createTransfers(sub)
		s.checkBatch()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
}
