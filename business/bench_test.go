package business_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/payment"
)

// BenchmarkSync derives balance transactions from 20,000 ledger transfers
// (captures with fees) on SQLite, from scratch each iteration; it reports
// transactions derived per second.
func BenchmarkSync(b *testing.B) {
	e := newSQLiteEnv(b)
	ctx := context.Background()
	const n = 10_000
	acct := payment.MerchantAccount(e.merchant, "EUR")
	if _, err := e.led.CreateAccounts(ctx, "", []ledger.Account{{ID: "bench_funding:EUR", Currency: "EUR", Code: 9},
		{ID: acct, Currency: "EUR", Code: 2}, {ID: payment.RevenueAccount("EUR"), Currency: "EUR", Code: 6}}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i += 4000 {
		var ts []ledger.Transfer
		for j := i; j < i+4000 && j < n; j++ {
			ts = append(ts, ledger.Transfer{ID: fmt.Sprintf("pay:pay_b%d:auth:0", j), DebitAccountID: "bench_funding:EUR",
				CreditAccountID: acct, Amount: 1000, Currency: "EUR", Code: 10},
				ledger.Transfer{ID: payment.FeeTransferID(fmt.Sprintf("pay_b%d", j)), DebitAccountID: acct,
					CreditAccountID: payment.RevenueAccount("EUR"), Amount: 30, Currency: "EUR", Code: 60})
		}
		if _, err := e.led.CreateTransfers(ctx, "", ts); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if _, err := e.db.Writer().ExecContext(ctx, `DELETE FROM balance_transactions`); err != nil {
			b.Fatal(err)
		}
		if _, err := e.db.Writer().ExecContext(ctx, `UPDATE balance_sync SET next_leaf = 0`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := e.biz.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(2*n)*float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
}
