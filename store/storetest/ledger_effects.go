package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/store/sqlstore"
)

func init() { Register("LedgerEffects", testLedgerEffects) }

// testLedgerEffects checks that a ledger.Effect commits or fails together
// with its call's transfers, and that a failing effect (even one that hit
// a SQL error) does not take the rest of the batch down with it.
func testLedgerEffects(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	skey, _, err := note.GenerateKey(rand.Reader, "kassa.test/effects")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(ledger.Config{Store: sqlstore.NewLedger(db), SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res, err := l.CreateAccounts(ctx, "m", []ledger.Account{
		{ID: "src", Currency: "EUR"}, {ID: "dst", Currency: "EUR"},
		{ID: "cap", Currency: "EUR", Flags: ledger.DebitsMustNotExceedCredits}})
	if err != nil || res[0].Code != ledger.OK {
		t.Fatalf("accounts: %v %v", res, err)
	}
	// The side effect writes a merchants row named after the transfer.
	insert := func(name string) ledger.Effect {
		return func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
			stx := sqlstore.LedgerSQLTx(tx)
			if stx == nil {
				return errors.New("no SQL transaction")
			}
			return stx.Savepoint(ctx, func() error {
				_, err := stx.ExecContext(ctx, `INSERT INTO merchants (id, name, created_at) VALUES (?, ?, 0)`, name, name)
				return err
			})
		}
	}
	refuse := errors.New("refused by the effect")
	tr := func(id string, amount int64) []ledger.Transfer {
		return []ledger.Transfer{{ID: id, DebitAccountID: "src", CreditAccountID: "dst", Amount: money.Amount(amount), Currency: "EUR"}}
	}
	if _, err := l.CreateTransfersWith(ctx, "m", tr("seed", 1), insert("dup")); err != nil {
		t.Fatal(err)
	}
	// Many concurrent calls land in shared batches: good ones, ones whose
	// effect refuses, ones whose effect hits a unique violation.
	var wg sync.WaitGroup
	type outcome struct {
		id  string
		err error
	}
	outcomes := make(chan outcome, 80)
	for i := range 20 {
		for kind, eff := range map[string]ledger.Effect{
			"ok": insert("ok" + itoa(i)),
			"refuse": func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
				if err := insert("refused"+itoa(i))(ctx, tx, results); err != nil {
					return err
				}
				return refuse
			},
			"sqlerr": insert("dup"),
			// No savepoint of its own: on PostgreSQL the failed
			// statement aborts the batch's transaction.
			"rawerr": func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
				stx := sqlstore.LedgerSQLTx(tx)
				if _, err := stx.ExecContext(ctx, `INSERT INTO merchants (id, name, created_at) VALUES ('raw`+itoa(i)+`', 'r', 0)`); err != nil {
					return err
				}
				_, err := stx.ExecContext(ctx, `INSERT INTO merchants (id, name, created_at) VALUES ('dup', 'dup', 0)`)
				return err
			},
		} {
			wg.Go(func() {
				id := kind + itoa(i)
				_, err := l.CreateTransfersWith(ctx, "m", tr(id, 10), eff)
				outcomes <- outcome{id, err}
			})
		}
	}
	wg.Wait()
	close(outcomes)
	var okCount int64
	for o := range outcomes {
		_, _, terr := l.Transfer(ctx, "m", o.id)
		switch o.id[:2] {
		case "ok":
			if o.err != nil || terr != nil {
				t.Errorf("%s: err %v, transfer %v", o.id, o.err, terr)
			}
			okCount++
		case "re":
			if !errors.Is(o.err, refuse) || !errors.Is(terr, ledger.ErrNotFound) {
				t.Errorf("%s: err %v (want refused), transfer lookup %v (want not found)", o.id, o.err, terr)
			}
		case "sq", "ra":
			if o.err == nil || !errors.Is(terr, ledger.ErrNotFound) {
				t.Errorf("%s: err %v (want the SQL error), transfer lookup %v", o.id, o.err, terr)
			}
		}
	}
	var rows int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM merchants WHERE id LIKE 'refused%'`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("refused effects left %d rows (%v)", rows, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM merchants WHERE id LIKE 'raw%'`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("effects that hit a SQL error left %d rows (%v)", rows, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM merchants WHERE id LIKE 'ok%'`).Scan(&rows); err != nil || rows != 20 {
		t.Errorf("good effects wrote %d rows, want 20 (%v)", rows, err)
	}
	dst, err := l.Account(ctx, "m", "dst")
	if err != nil || int64(dst.CreditsPosted) != 1+10*okCount {
		t.Errorf("dst credits %d, want %d (%v)", dst.CreditsPosted, 1+10*okCount, err)
	}
	// The effect sees the results: it may refuse a call whose transfer failed.
	sawCode := ledger.ResultCode("")
	_, err = l.CreateTransfersWith(ctx, "m", []ledger.Transfer{{ID: "over", DebitAccountID: "cap", CreditAccountID: "dst", Amount: 5, Currency: "EUR"}},
		func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
			sawCode = results[0].Code
			return nil
		})
	if err != nil || sawCode != ledger.ExceedsCredits {
		t.Errorf("effect saw %q (err %v), want exceeds_credits", sawCode, err)
	}
}

func itoa(i int) string {
	return string(rune('a'+i/10)) + string(rune('a'+i%10))
}
