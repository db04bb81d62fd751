package sqlstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/ledger/ledgertest"
	"golang.org/x/mod/sumdb/tlog"
)

// sqliteLedgerEnv is a ledger on a SQLite database in dir, closed when
// the test ends.
func sqliteLedgerEnv(t testing.TB, dir string) (*ledgertest.Env, *DB) {
	t.Helper()
	var db *DB
	e := ledgertest.NewEnv(t, func(tb testing.TB) ledger.Store {
		var err error
		if db, err = OpenSQLite(context.Background(), dir); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		return NewLedger(db)
	})
	return e, db
}

// verifyEnv is a SQLite ledger of n transfers (plus 4 accounts, "d"
// created half way) and its database, to tamper with.
func verifyEnv(t *testing.T, n int) (*ledgertest.Env, *DB) {
	t.Helper()
	e, db := sqliteLedgerEnv(t, t.TempDir())
	ledgertest.Fill(t, e, n/2, 997)
	if r := e.Accounts(t, "m", ledger.Account{ID: "d", Currency: "EUR"}); r[0].Code != ledger.OK {
		t.Fatal(r)
	}
	var ts []ledger.Transfer
	for i := range n - n/2 {
		ts = append(ts, ledger.Transfer{ID: fmt.Sprintf("u%d", i), DebitAccountID: "d", CreditAccountID: "a", Amount: 1, Currency: "EUR"})
		if len(ts) == 1001 || i == n-n/2-1 {
			e.Transfers(t, "m", ts...)
			ts = ts[:0]
		}
	}
	return e, db
}

// TestLedgerLeaves checks that the SQLite library reader yields what
// database/sql reads (the PostgreSQL path).
func TestLedgerLeaves(t *testing.T) {
	ctx := context.Background()
	e, db := verifyEnv(t, 5000)
	s := e.Store.(*Ledger)
	var path string
	if err := db.read.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path); err != nil {
		t.Fatal(err)
	}
	collect := func(seq func(func(*ledger.LeafChunk, error) bool)) ledger.LeafChunk {
		var all ledger.LeafChunk
		for c, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.Len() {
				all.Append(c.Index[i], c.Leaf(i), c.Accounts[i])
			}
		}
		return all
	}
	for _, from := range []int64{0, 1, 2500, 5003, 5004, 9999} {
		got, want := collect(s.sqliteLeaves(ctx, from, path)), collect(s.sqlLeaves(ctx, from))
		if !slices.Equal(got.Index, want.Index) || !bytes.Equal(got.Data, want.Data) || !slices.Equal(got.Ends, want.Ends) || !slices.Equal(got.Accounts, want.Accounts) {
			t.Fatalf("from %d: the library reader yields %d leaves, database/sql %d, or other data", from, got.Len(), want.Len())
		}
		if want := max(0, 5004-from); int64(got.Len()) != want {
			t.Fatalf("from %d: %d leaves, want %d", from, got.Len(), want)
		}
	}
}

// TestLedgerVerifyTamper changes the SQLite ledger behind its back and
// expects Verify to fail naming the record: a *ledger.VerifyError naming
// leaf (any leaf if -2), or a store error (-1), containing want.
func TestLedgerVerifyTamper(t *testing.T) {
	ctx := context.Background()
	const n = 9000 // leaves 0-2: accounts a, b, c; 4503: account d; 9003 the last
	dataOf := func(db *DB, leaf int64) ledger.Record {
		var data []byte
		if err := db.write.QueryRowContext(ctx, "SELECT data FROM ledger_transfers WHERE leaf = ?", leaf).Scan(&data); err != nil {
			t.Fatal(err)
		}
		r, err := ledger.DecodeLeaf(data)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name   string
		tamper string // SQL, or "" for fn
		fn     func(db *DB) error
		leaf   int64
		want   string
	}{
		{name: "amount", fn: func(db *DB) error {
			r := dataOf(db, 4095)
			r.Transfer.Amount += 1000
			_, err := db.write.ExecContext(ctx, "UPDATE ledger_transfers SET data = ? WHERE leaf = 4095", ledger.EncodeLeaf(&r))
			return err
		}, leaf: 4095, want: "leaf hash does not match"},
		{name: "data malformed", tamper: "UPDATE ledger_transfers SET data = data || X'00' WHERE leaf = 4096", leaf: 4096, want: "undecodable"},
		{name: "data no transfer", tamper: "UPDATE ledger_transfers SET data = X'0101' WHERE leaf = 4096", leaf: -1, want: "no transfer leaf"},
		{name: "transfer deleted", tamper: "DELETE FROM ledger_transfers WHERE leaf = 8191", leaf: 8191, want: "missing"},
		{name: "leaf moved", tamper: "UPDATE ledger_transfers SET leaf = 100000 WHERE leaf = 300", leaf: 300, want: "missing"},
		{name: "leaf onto an account's", tamper: "UPDATE ledger_transfers SET leaf = 4503 WHERE leaf = 4502", leaf: 4502, want: "missing"},
		{name: "account deleted", tamper: "DELETE FROM ledger_accounts WHERE leaf = 4503", leaf: 4503, want: "missing"},
		{name: "id column", tamper: "UPDATE ledger_transfers SET id = 'x' WHERE leaf = 5000", leaf: -1, want: "leaf 5000: key"},
		{name: "owner column", tamper: "UPDATE ledger_transfers SET owner = 'n' WHERE leaf = 5000", leaf: -1, want: "leaf 5000: key"},
		{name: "debit account leaf", tamper: "UPDATE ledger_transfers SET debit_leaf = 0 WHERE leaf = 6000", leaf: 6000, want: "account leaves 0 and 0"},
		{name: "credit account leaf", tamper: "UPDATE ledger_transfers SET credit_leaf = 7 WHERE leaf = 6000", leaf: 6000, want: "account leaves 4503 and 7"},
		{name: "account leaf not an integer", tamper: "UPDATE ledger_transfers SET credit_leaf = 'x' WHERE leaf = 6000", leaf: -1, want: "leaf 6000: account leaf is not an integer"},
		{name: "balance", tamper: "UPDATE ledger_accounts SET debits_posted = debits_posted + 1 WHERE leaf = 4503", leaf: 4503, want: "stored balances"},
		{name: "leaf tile", tamper: "UPDATE ledger_tiles SET data = zeroblob(32) || substr(data, 33) WHERE level = 0 AND n = 17", leaf: 17 * 256, want: "leaf hash does not match"},
		{name: "leaf tile missing", tamper: "DELETE FROM ledger_tiles WHERE level = 0 AND n = 20", leaf: 20 * 256, want: "leaf hash does not match"},
		{name: "level-1 tile", tamper: "UPDATE ledger_tiles SET data = zeroblob(32) || substr(data, 33) WHERE level = 1 AND n = 0", leaf: n + 3, want: "stored tile tile/8/1/000.p/35 differs"},
		{name: "checkpoint inside a tile", fn: func(db *DB) error {
			var size int64
			var note []byte
			if err := db.write.QueryRowContext(ctx, "SELECT size, note FROM ledger_checkpoints WHERE size % 256 != 0 AND size > 5000 ORDER BY size LIMIT 1").Scan(&size, &note); err != nil {
				return err
			}
			h := tlog.Hash{1}
			lines := strings.SplitN(string(note), "\n", 4)
			lines[2] = base64.StdEncoding.EncodeToString(h[:])
			_, err := db.write.ExecContext(ctx, "UPDATE ledger_checkpoints SET hash = ?, note = ? WHERE size = ?", h[:], strings.Join(lines, "\n"), size)
			return err
		}, leaf: -2, want: "differs from its checkpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, db := verifyEnv(t, n)
			e.Verify(t)
			var err error
			if tt.fn != nil {
				err = tt.fn(db)
			} else {
				_, err = db.write.ExecContext(ctx, tt.tamper)
			}
			if err != nil {
				t.Fatalf("tamper: %v", err)
			}
			_, err = ledger.Verify(ctx, e.Store, e.VerifierKey)
			var ve *ledger.VerifyError
			switch {
			case err == nil:
				t.Fatal("Verify accepted the tampered ledger")
			case !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Verify = %v, want %q in it", err, tt.want)
			case tt.leaf == -1 && errors.As(err, &ve):
				t.Fatalf("Verify = %v, want a store error", err)
			case tt.leaf != -1 && !errors.As(err, &ve):
				t.Fatalf("Verify = %v, want a *VerifyError", err)
			case tt.leaf >= 0 && ve.LeafIndex != tt.leaf:
				t.Fatalf("Verify = %v, want a *VerifyError naming leaf %d", err, tt.leaf)
			}
			t.Log(err)
		})
	}
}

func TestSQLiteConnOpenFails(t *testing.T) {
	c, err := openSQLiteConn(t.TempDir() + "/missing/kassa.db")
	if err == nil {
		c.close()
		t.Fatal("opened a database that does not exist")
	}
	t.Log(err)
}
