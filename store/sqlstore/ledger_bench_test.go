package sqlstore_test

import (
	"context"
	"testing"

	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/ledger/ledgertest"
	"github.com/kassa/kassa/store/sqlstore"
)

func sqliteLedger(tb testing.TB) ledger.Store {
	db, err := sqlstore.OpenSQLite(context.Background(), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return sqlstore.NewLedger(db)
}

func postgresLedger(tb testing.TB) ledger.Store {
	db, err := sqlstore.OpenPostgres(context.Background(), pgtest.URL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return sqlstore.NewLedger(db)
}

// Durable group commit: 16 callers submitting 1,000 transfers per call.
// Run with e.g. -benchtime 500000x to reach steady state.
func BenchmarkLedgerSQLite(b *testing.B) {
	b.Run("random", func(b *testing.B) { ledgertest.BenchmarkCreateTransfers(b, sqliteLedger, 16, 1000, false) })
	b.Run("hot", func(b *testing.B) { ledgertest.BenchmarkCreateTransfers(b, sqliteLedger, 16, 1000, true) })
	b.Run("verify", func(b *testing.B) { ledgertest.BenchmarkVerify(b, sqliteLedger, 500_000) })
}

func BenchmarkLedgerPostgres(b *testing.B) {
	b.Run("random", func(b *testing.B) { ledgertest.BenchmarkCreateTransfers(b, postgresLedger, 16, 1000, false) })
	b.Run("hot", func(b *testing.B) { ledgertest.BenchmarkCreateTransfers(b, postgresLedger, 16, 1000, true) })
}
