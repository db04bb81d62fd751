package sqlstore_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/ledger/ledgertest"
	"github.com/kassa/kassa/money"
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

// BenchmarkLedgerVerifyLarge measures ledger.Verify over a SQLite ledger
// of KASSA_VERIFY_BENCH_LEAVES transfers (default 2,000,000) between
// 10,000 accounts, shaped like `kassa bench ledger`'s. The ledger is filled
// once into KASSA_VERIFY_BENCH_DIR and reused by later runs (its
// ledger-signer.key lets `kassa ledger verify --data DIR` read it too);
// without the variable the benchmark is skipped, as filling takes minutes.
func BenchmarkLedgerVerifyLarge(b *testing.B) {
	dir := os.Getenv("KASSA_VERIFY_BENCH_DIR")
	if dir == "" {
		b.Skip("KASSA_VERIFY_BENCH_DIR not set")
	}
	n := 2_000_000
	if s := os.Getenv("KASSA_VERIFY_BENCH_LEAVES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s := sqlstore.NewLedger(db)
	vkey := fillVerifyBench(b, s, dir, n)
	b.ResetTimer()
	var leaves int64
	for range b.N {
		sum, err := ledger.Verify(ctx, s, vkey)
		if err != nil {
			b.Fatal(err)
		}
		leaves += sum.Leaves
	}
	b.ReportMetric(float64(leaves)/b.Elapsed().Seconds(), "leaves/s")
}

// fillVerifyBench fills s with n transfers unless dir already holds a
// ledger, and returns the verifier key.
func fillVerifyBench(b *testing.B, s ledger.Store, dir string, n int) string {
	ctx := context.Background()
	keyFile := filepath.Join(dir, "ledger-signer.key")
	if skey, err := os.ReadFile(keyFile); err == nil {
		vkey, err := ledger.VerifierKeyFor(string(skey))
		if err != nil {
			b.Fatal(err)
		}
		return vkey
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "kassa.bench/ledger")
	if err != nil {
		b.Fatal(err)
	}
	l, err := ledger.New(ledger.Config{Store: s, SignerKey: skey, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const owner, accounts = "mer_01jq8zk4w7c2v9f3h6t5n0b1xe", 10_000
	for lo := 0; lo < accounts; lo += ledger.TransfersPerCallMax {
		var as []ledger.Account
		for i := lo; i < min(accounts, lo+ledger.TransfersPerCallMax); i++ {
			as = append(as, ledger.Account{ID: "a" + strconv.Itoa(i), Currency: "EUR", Code: 1})
		}
		if _, err := l.CreateAccounts(ctx, owner, as); err != nil {
			b.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	const callers, per = 8, 2000
	for w := range callers {
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(w), 42))
			ts := make([]ledger.Transfer, per)
			for seq := w * per; seq < n; seq += callers * per {
				ts = ts[:min(per, n-seq)]
				for i := range ts {
					d := r.IntN(accounts)
					c := (d + 1 + r.IntN(accounts-1)) % accounts
					ts[i] = ledger.Transfer{ID: "w" + strconv.Itoa(w) + "-" + strconv.Itoa(seq+i),
						DebitAccountID: "a" + strconv.Itoa(d), CreditAccountID: "a" + strconv.Itoa(c),
						Amount: money.Amount(1 + r.IntN(10_000)), Currency: "EUR", Code: 1}
				}
				if _, err := l.CreateTransfers(ctx, owner, ts); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	if err := os.WriteFile(keyFile, []byte(skey), 0o600); err != nil {
		b.Fatal(err)
	}
	return vkey
}
