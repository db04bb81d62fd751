package sqlstore

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/ledger/ledgertest"
	"github.com/kassa/kassa/money"
)

// indexEnv is a SQLite ledger whose account index runs only when the test
// steps it.
func indexEnv(t testing.TB, dir string) (*ledgertest.Env, *DB, *ledgerIndex) {
	t.Helper()
	e, db := sqliteLedgerEnv(t, dir)
	ix, err := db.ledgerIndex()
	if err != nil {
		t.Fatal(err)
	}
	ix.start.Do(func() {}) // no indexer goroutine: the test steps it
	return e, db, ix
}

// listAll pages through an account's transfers with the ledger's own
// AccountTransfers and returns their leaves.
func listAll(t *testing.T, e *ledgertest.Env, account string, page int) []int64 {
	t.Helper()
	var leaves []int64
	after := ""
	for range 10_000 {
		ts, more, err := e.L.AccountTransfers(context.Background(), "m", account, after, page)
		if err != nil {
			t.Fatalf("list %s after %q: %v", account, after, err)
		}
		for _, tr := range ts {
			if tr.DebitAccountID != account && tr.CreditAccountID != account {
				t.Fatalf("list %s: transfer %s is %s → %s", account, tr.ID, tr.DebitAccountID, tr.CreditAccountID)
			}
			leaves = append(leaves, tr.LeafIndex)
		}
		if !more {
			return leaves
		}
		after = ts[len(ts)-1].ID
	}
	t.Fatal("listing does not end")
	return nil
}

// scanned is the oracle: an account's transfer leaves by a full scan of
// the ledger's rows, without the index.
func scanned(t *testing.T, db *DB, account string) []int64 {
	t.Helper()
	rows, err := db.read.Query("SELECT t.leaf FROM ledger_transfers t, ledger_accounts a WHERE a.owner = 'm' AND a.id = ? AND (t.debit_leaf = a.leaf OR t.credit_leaf = a.leaf) ORDER BY t.leaf", account)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var l int64
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkListings(t *testing.T, e *ledgertest.Env, db *DB, accounts []string, rng *rand.Rand) {
	t.Helper()
	for _, a := range accounts {
		got, want := listAll(t, e, a, 1+rng.IntN(9)), scanned(t, db, a)
		if !slices.Equal(got, want) {
			t.Fatalf("account %s: listed %v, the ledger holds %v", a, got, want)
		}
	}
}

// TestLedgerIndexListing builds a ledger of plain, pending, posted and
// voided transfers in many commits and steps the account index at random
// moments, in steps of a few leaves and rows of a few leaves; every
// account's listing, paged at random sizes, must equal a scan of the
// ledger whatever the index covers.
func TestLedgerIndexListing(t *testing.T) {
	defer func(step int64, row int) { ledgerIndexStepMax, ledgerIndexRowMax = step, row }(ledgerIndexStepMax, ledgerIndexRowMax)
	ledgerIndexStepMax, ledgerIndexRowMax = 23, 3
	ctx := context.Background()
	e, db, ix := indexEnv(t, t.TempDir())
	rng := rand.New(rand.NewPCG(1, 2))

	var accounts []string
	for i := range 9 {
		accounts = append(accounts, fmt.Sprintf("a%d", i))
		if r := e.Accounts(t, "m", ledger.Account{ID: accounts[i], Currency: "EUR"}); r[0].Code != ledger.OK {
			t.Fatal(r)
		}
	}
	var pendings []string
	n := 0
	for commit := range 60 {
		var ts []ledger.Transfer
		for range 1 + rng.IntN(12) {
			n++
			d := rng.IntN(len(accounts))
			c := (d + 1 + rng.IntN(len(accounts)-1)) % len(accounts)
			tr := ledger.Transfer{ID: fmt.Sprintf("t%d", n), DebitAccountID: accounts[d], CreditAccountID: accounts[c], Amount: money.Amount(1 + rng.IntN(50)), Currency: "EUR"}
			switch k := rng.IntN(6); {
			case k == 0:
				tr.Flags = ledger.FlagPending
				pendings = append(pendings, tr.ID)
			case k == 1 && len(pendings) > 0:
				tr = ledger.Transfer{ID: tr.ID, PendingID: pendings[0], Flags: ledger.FlagPostPending}
				pendings = pendings[1:]
			case k == 2 && len(pendings) > 0:
				tr = ledger.Transfer{ID: tr.ID, PendingID: pendings[0], Flags: ledger.FlagVoidPending}
				pendings = pendings[1:]
			}
			ts = append(ts, tr)
		}
		for i, r := range e.Transfers(t, "m", ts...) {
			if r.Code != ledger.OK {
				t.Fatalf("commit %d transfer %d: %v", commit, i, r)
			}
		}
		if commit == 30 {
			// A new account half way: its listing starts empty.
			accounts = append(accounts, "late")
			if r := e.Accounts(t, "m", ledger.Account{ID: "late", Currency: "EUR"}); r[0].Code != ledger.OK {
				t.Fatal(r)
			}
		}
		for range rng.IntN(3) {
			if _, err := ix.step(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if commit%7 == 0 {
			checkListings(t, e, db, accounts, rng)
		}
	}
	checkListings(t, e, db, accounts, rng) // the index behind the ledger
	if err := ix.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	head := ledgerHeadSize(t, db)
	if w := ix.indexed.Load(); w != head {
		t.Fatalf("caught up to %d, head is %d", w, head)
	}
	var rows, split int
	if err := ix.read.QueryRow("SELECT count(*), count(*) FILTER (WHERE length(leaves) >= 3) FROM postings").Scan(&rows, &split); err != nil {
		t.Fatal(err)
	}
	if rows == 0 || split == 0 {
		t.Fatalf("index has %d rows (%d of 3 leaves): steps or rows not exercised", rows, split)
	}
	checkListings(t, e, db, accounts, rng) // all from the index
	e.Verify(t)
}

func ledgerHeadSize(t *testing.T, db *DB) int64 {
	t.Helper()
	var head int64
	if err := db.read.QueryRow("SELECT size FROM ledger_head WHERE id = 1").Scan(&head); err != nil {
		t.Fatal(err)
	}
	return head
}

// TestLedgerIndexRebuild: a deleted index is rebuilt; an index beside
// another ledger (a restored database) is emptied and rebuilt; a row that
// does not decode fails the read, says so, and is rebuilt.
func TestLedgerIndexRebuild(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e, db, ix := indexEnv(t, dir)
	rng := rand.New(rand.NewPCG(3, 4))
	accounts := []string{"x", "y", "z"}
	for _, a := range accounts {
		e.Accounts(t, "m", ledger.Account{ID: a, Currency: "EUR"})
	}
	fill := func(prefix string, n int) {
		for i := range n {
			d := rng.IntN(3)
			e.Transfers(t, "m", ledger.Transfer{ID: fmt.Sprintf("%s%d", prefix, i), DebitAccountID: accounts[d], CreditAccountID: accounts[(d+1)%3], Amount: 1, Currency: "EUR"})
		}
	}
	fill("r", 40)
	if err := ix.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	want := scanned(t, db, "x")

	// Corrupt one row: the read fails naming the index, which empties.
	if _, err := ix.write.Exec("UPDATE postings SET leaves = x'00' WHERE account = (SELECT min(account) FROM postings)"); err != nil {
		t.Fatal(err)
	}
	var failed bool
	for _, a := range accounts {
		if _, _, err := e.L.AccountTransfers(ctx, "m", a, "", 100); err != nil {
			if !strings.Contains(err.Error(), LedgerIndexFile) || !strings.Contains(err.Error(), "rebuilding") {
				t.Fatalf("error %q does not name the index", err)
			}
			failed = true
		}
	}
	if !failed {
		t.Fatal("a corrupt index row went unnoticed")
	}
	if err := ix.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, e, "x", 7); !slices.Equal(got, want) {
		t.Fatalf("after the rebuild: %v, want %v", got, want)
	}

	// Deleted: the next open starts from nothing and lists correctly.
	e.L.Close()
	db.Close()
	for _, f := range []string{LedgerIndexFile, LedgerIndexFile + "-wal", LedgerIndexFile + "-shm"} {
		os.Remove(filepath.Join(dir, f))
	}
	e2, db2, ix2 := indexEnv(t, dir)
	if ix2.indexed.Load() != 0 {
		t.Fatalf("a new index starts at %d", ix2.indexed.Load())
	}
	if got := listAll(t, e2, "x", 3); !slices.Equal(got, want) {
		t.Fatalf("without an index: %v, want %v", got, want)
	}
	if err := ix2.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, e2, "x", 3); !slices.Equal(got, want) {
		t.Fatalf("rebuilt: %v, want %v", got, want)
	}

	// Another ledger's index copied beside this one: emptied on open.
	other := t.TempDir()
	eo, dbo, ixo := indexEnv(t, other)
	for _, a := range []string{"x", "y"} {
		eo.Accounts(t, "m", ledger.Account{ID: a, Currency: "EUR"})
	}
	for i := range 30 {
		eo.Transfers(t, "m", ledger.Transfer{ID: fmt.Sprintf("o%d", i), DebitAccountID: "y", CreditAccountID: "x", Amount: 1, Currency: "EUR"})
	}
	if err := ixo.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	eo.L.Close()
	dbo.Close()
	e2.L.Close()
	db2.Close()
	data, err := os.ReadFile(filepath.Join(other, LedgerIndexFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, LedgerIndexFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, LedgerIndexFile+"-wal"))
	os.Remove(filepath.Join(dir, LedgerIndexFile+"-shm"))
	e3, db3, ix3 := indexEnv(t, dir)
	if w := ix3.indexed.Load(); w != 0 {
		t.Fatalf("another ledger's index kept its watermark %d", w)
	}
	if got := listAll(t, e3, "x", 5); !slices.Equal(got, want) {
		t.Fatalf("beside another ledger's index: %v, want %v", got, want)
	}
	if err := ix3.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if w, head := ix3.indexed.Load(), ledgerHeadSize(t, db3); w != head {
		t.Fatalf("rebuilt to %d, head %d", w, head)
	}
	if got := listAll(t, e3, "x", 5); !slices.Equal(got, want) {
		t.Fatalf("rebuilt beside another ledger's index: %v, want %v", got, want)
	}
}

// TestLedgerIndexFollows: with the indexer goroutine running, the index
// reaches the ledger's head on its own after commits.
func TestLedgerIndexFollows(t *testing.T) {
	e, db := sqliteLedgerEnv(t, t.TempDir())
	db.SetLogger(slog.New(slog.NewTextHandler(t.Output(), nil))) // the indexer's failures
	ledgertest.Fill(t, e, 500, 97)
	ix, err := db.ledgerIndex()
	if err != nil {
		t.Fatal(err)
	}
	head := ledgerHeadSize(t, db)
	deadline := 200
	for ix.indexed.Load() != head {
		if deadline--; deadline == 0 {
			t.Fatalf("the index is at %d of %d after 20 s (%d failed steps, logged above)", ix.indexed.Load(), head, ix.failures.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, ok := db.LedgerIndexStatus()
	if !ok || st.Indexed != head || st.Lag != 0 || st.Failures != 0 {
		t.Fatalf("status %+v (ok %v), want %d indexed, no lag, no failures", st, ok, head)
	}
}

// BenchmarkLedgerAccountListing lists a page of 100 transfers of a random
// account among 10,000 in a ledger of 131,072 random transfers, through the
// index ("indexed") and with the index empty, by scanning the ledger's rows
// ("scan": what a listing pays for the leaves the index has not reached;
// the indexer steps about once a second, so at 100,000 transfers/s that
// is the cost of a listing at the worst moment).
func BenchmarkLedgerAccountListing(b *testing.B) {
	ctx := context.Background()
	e, _, ix := indexEnv(b, b.TempDir())
	const accounts, transfers, call = 10_000, 1 << 17, 8000
	var as []ledger.Account
	for i := range accounts {
		as = append(as, ledger.Account{ID: fmt.Sprintf("a%d", i), Currency: "EUR"})
		if len(as) == call || i == accounts-1 {
			e.Accounts(b, "m", as...)
			as = as[:0]
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var ts []ledger.Transfer
	for i := range transfers {
		d := rng.IntN(accounts)
		ts = append(ts, ledger.Transfer{ID: fmt.Sprintf("t%d", i), DebitAccountID: fmt.Sprintf("a%d", d), CreditAccountID: fmt.Sprintf("a%d", (d+1+rng.IntN(accounts-1))%accounts), Amount: 1, Currency: "EUR"})
		if len(ts) == call || i == transfers-1 {
			e.Transfers(b, "m", ts...)
			ts = ts[:0]
		}
	}
	list := func(b *testing.B) {
		for b.Loop() {
			if _, _, err := e.L.AccountTransfers(ctx, "m", fmt.Sprintf("a%d", rng.IntN(accounts)), "", 100); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("scan", list)
	if err := ix.catchUp(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("indexed", list)
}
