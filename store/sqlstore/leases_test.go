package sqlstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/lease"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/store/sqlstore"
)

func leaseBackends(t *testing.T, test func(t *testing.T, db *sqlstore.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		test(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := sqlstore.OpenPostgres(context.Background(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		test(t, db)
	})
}

// fencedWrite makes one write under f, the way a leased job's writes go.
func fencedWrite(ctx context.Context, db *sqlstore.DB, f lease.Fence) error {
	return db.Transact(lease.WithFence(ctx, f), func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE lease_fence_probe SET writes = writes + 1 WHERE id = 1`)
		return err
	})
}

func TestLeaseAcquireRenewRelease(t *testing.T) {
	leaseBackends(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		createProbe(t, db)
		s := sqlstore.NewLeases(db)
		e, ok, err := s.Acquire(ctx, "job", "a", 0, time.Minute)
		if err != nil || !ok || e != 1 {
			t.Fatalf("a's first acquire = %d, %v, %v; want epoch 1", e, ok, err)
		}
		if e, ok, err := s.Acquire(ctx, "job", "b", 0, time.Minute); err != nil || ok {
			t.Fatalf("b took a's running lease: %d, %v, %v", e, ok, err)
		}
		// The same holder name without the epoch (a restarted process)
		// does not inherit the lease either.
		if _, ok, _ := s.Acquire(ctx, "job", "a", 0, time.Minute); ok {
			t.Fatal("a restarted holder inherited its predecessor's running lease")
		}
		if e, ok, err := s.Acquire(ctx, "job", "a", 1, time.Minute); err != nil || !ok || e != 1 {
			t.Fatalf("a's renewal = %d, %v, %v; want epoch 1 again", e, ok, err)
		}
		if err := fencedWrite(ctx, db, lease.Fence{Job: "job", Holder: "a", Epoch: 1}); err != nil {
			t.Fatalf("holder's fenced write: %v", err)
		}
		if err := fencedWrite(ctx, db, lease.Fence{Job: "job", Holder: "b", Epoch: 1}); !errors.Is(err, lease.ErrLost) {
			t.Fatalf("another holder's fenced write = %v, want lease.ErrLost", err)
		}
		if err := fencedWrite(ctx, db, lease.Fence{Job: "other", Holder: "a", Epoch: 1}); !errors.Is(err, lease.ErrLost) {
			t.Fatalf("a fenced write under a lease nobody took = %v, want lease.ErrLost", err)
		}
		if err := s.Release(ctx, "job", "b", 1); err != nil { // not b's: nothing happens
			t.Fatal(err)
		}
		if _, ok, _ := s.Acquire(ctx, "job", "b", 0, time.Minute); ok {
			t.Fatal("a release by a non-holder freed the lease")
		}
		if err := s.Release(ctx, "job", "a", 1); err != nil {
			t.Fatal(err)
		}
		if e, ok, err := s.Acquire(ctx, "job", "b", 0, time.Minute); err != nil || !ok || e != 2 {
			t.Fatalf("b after a's release = %d, %v, %v; want epoch 2", e, ok, err)
		}
		if _, ok, _ := s.Acquire(ctx, "job", "a", 1, time.Minute); ok {
			t.Fatal("a renewed a lease b had taken over")
		}
		if err := fencedWrite(ctx, db, lease.Fence{Job: "job", Holder: "a", Epoch: 1}); !errors.Is(err, lease.ErrLost) {
			t.Fatalf("the old holder's fenced write = %v, want lease.ErrLost", err)
		}
		ls, err := s.Leases(ctx)
		if err != nil || len(ls) != 1 || ls[0].Holder != "b" || ls[0].Epoch != 2 {
			t.Fatalf("Leases = %+v, %v; want job held by b at 2", ls, err)
		}
	})
}

// An expired lease is taken over by exactly one of many nodes racing for
// it: no epoch is ever granted twice.
func TestLeaseTakeoverRace(t *testing.T) {
	leaseBackends(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := sqlstore.NewLeases(db)
		const nodes, tries = 6, 40
		var mu sync.Mutex
		granted := map[int64]string{}
		var wg sync.WaitGroup
		errc := make(chan error, nodes)
		for n := range nodes {
			holder := fmt.Sprintf("node%d", n)
			wg.Go(func() {
				for range tries {
					// A one-microsecond lease has expired by the next
					// attempt: every grant is a takeover.
					e, ok, err := s.Acquire(ctx, "race", holder, 0, time.Microsecond)
					if err != nil {
						errc <- err
						return
					}
					if !ok {
						continue
					}
					mu.Lock()
					if prev, dup := granted[e]; dup {
						errc <- fmt.Errorf("epoch %d granted to %s and %s", e, prev, holder)
					}
					granted[e] = holder
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		if len(granted) < 2 {
			t.Fatalf("only %d grants in %d attempts", len(granted), nodes*tries)
		}
	})
}

// Two nodes keep taking a job's lease from each other while writing under
// it. The probe row records the epoch of the last write; a write from an
// older epoch after a newer one has written means two holders wrote at
// once, which the fence (checked in the write's own transaction, and on
// PostgreSQL holding the lease row FOR SHARE until it commits) must make
// impossible.
func TestLeaseFenceUnderTakeovers(t *testing.T) {
	leaseBackends(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		createProbe(t, db)
		s := sqlstore.NewLeases(db)
		const rounds, writesPerRound = 60, 4
		var wg sync.WaitGroup
		errc := make(chan error, 2)
		var mu sync.Mutex
		written, refused := 0, 0
		for _, holder := range []string{"a", "b"} {
			wg.Go(func() {
				for range rounds {
					e, ok, err := s.Acquire(ctx, "fenced", holder, 0, time.Microsecond)
					if err != nil {
						errc <- err
						return
					}
					if !ok {
						continue
					}
					f := lease.Fence{Job: "fenced", Holder: holder, Epoch: e}
					for range writesPerRound {
						err := db.Transact(lease.WithFence(ctx, f), func(tx *sqlstore.Tx) error {
							res, err := tx.ExecContext(ctx, `UPDATE lease_fence_probe SET last_epoch = ?, writes = writes + 1
								WHERE id = 1 AND last_epoch <= ?`, e, e)
							if err != nil {
								return err
							}
							if n, _ := res.RowsAffected(); n != 1 {
								return fmt.Errorf("%s wrote at epoch %d after a later epoch had written", holder, e)
							}
							return nil
						})
						mu.Lock()
						switch {
						case errors.Is(err, lease.ErrLost):
							refused++
						case err != nil:
							mu.Unlock()
							errc <- err
							return
						default:
							written++
						}
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		t.Logf("%d fenced writes committed, %d refused after takeovers", written, refused)
		if written == 0 || refused == 0 {
			t.Fatalf("written %d, refused %d: the test did not exercise takeovers", written, refused)
		}
	})
}

func createProbe(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.Writer().ExecContext(ctx, `CREATE TABLE lease_fence_probe (id INTEGER PRIMARY KEY, last_epoch BIGINT NOT NULL, writes BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Writer().ExecContext(ctx, `INSERT INTO lease_fence_probe VALUES (1, 0, 0)`); err != nil {
		t.Fatal(err)
	}
}

// A leased job's money movement (a payment's expiry, say) goes through the
// ledger's sequencer with an effect; the effect sees the job's fence and
// the store checks it in the batch's transaction: under a lost lease the
// call fails with lease.ErrLost and its transfer is not in the ledger.
func TestLeaseFenceLedgerEffect(t *testing.T) {
	leaseBackends(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		skey, _, err := note.GenerateKey(rand.Reader, "kassa.test/lease")
		if err != nil {
			t.Fatal(err)
		}
		l, err := ledger.New(ledger.Config{Store: sqlstore.NewLedger(db), SignerKey: skey, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if _, err := l.CreateAccounts(ctx, "o", []ledger.Account{{ID: "a", Currency: "EUR", Code: 1}, {ID: "b", Currency: "EUR", Code: 1}}); err != nil {
			t.Fatal(err)
		}
		s := sqlstore.NewLeases(db)
		if _, ok, err := s.Acquire(ctx, "job", "a", 0, time.Minute); !ok || err != nil {
			t.Fatalf("acquire: %v %v", ok, err)
		}
		noop := func(context.Context, ledger.Tx, []ledger.Result) error { return nil }
		move := func(id string) ledger.Transfer {
			return ledger.Transfer{ID: id, DebitAccountID: "a", CreditAccountID: "b", Amount: 100, Currency: "EUR", Code: 1}
		}
		held := lease.WithFence(ctx, lease.Fence{Job: "job", Holder: "a", Epoch: 1})
		if res, err := l.CreateTransfersWith(held, "o", []ledger.Transfer{move("t1")}, noop); err != nil || res[0].Code != ledger.OK {
			t.Fatalf("transfer under the held lease: %v %v", res, err)
		}
		stale := lease.WithFence(ctx, lease.Fence{Job: "job", Holder: "z", Epoch: 1})
		if _, err := l.CreateTransfersWith(stale, "o", []ledger.Transfer{move("t2")}, noop); !errors.Is(err, lease.ErrLost) {
			t.Fatalf("transfer under a lost lease = %v, want lease.ErrLost", err)
		}
		if _, _, err := l.Transfer(ctx, "o", "t2"); !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("the refused transfer is in the ledger (%v)", err)
		}
		if _, _, err := l.Transfer(ctx, "o", "t1"); err != nil {
			t.Fatalf("the accepted transfer: %v", err)
		}
	})
}
