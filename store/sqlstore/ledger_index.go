package sqlstore

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The account index (SQLite).
//
// Listing an account's transfers needs, per account, the leaves of the
// transfers it took part in. Kept as B-tree indexes inside the ledger's own
// transactions — (debit_leaf, leaf) and (credit_leaf, leaf), until
// migration 0016 — every transfer cost two inserts at random places: half
// of SQLite's single writer's time. That index is derived data (every
// ledger_transfers row names both of its accounts), so on SQLite it lives
// in a database file of its own, LedgerIndexFile beside kassa.db, written
// by a goroutine of its own, off the writer's path and on the other core.
//
// The indexer works in steps. A step reads a range of leaves [w, to) —
// to being a checkpointed tree size — and writes one row per account in
// the range holding that account's leaves in it (delta-encoded varints),
// keyed (account, last leaf). The rows and the new watermark (to, with the
// ledger's root hash at that size) commit together, so the index always
// covers exactly the leaves below its watermark. A reader takes the leaves
// below the watermark from the index and scans the ledger's own rows from
// the watermark on: every committed transfer is listed however far the
// index lags. Steps wait for leaves to pile up (ledgerIndexDelay), so a
// busy account gets a few large rows, not one per commit.
//
// The index is not a record. Deleting the file rebuilds it; an index whose
// watermark hash does not match the ledger's checkpoint at that size (a
// database restored from a backup) is emptied and rebuilt on its own; a
// row that does not decode, or names a leaf the ledger lacks, fails the
// read and empties the index.

// LedgerIndexFile is the account index's file inside the data directory.
const LedgerIndexFile = "ledger-index.db"

// Limits of the account index (variables for tests).
var (
	ledgerIndexStepMax int64 = 1 << 16 // leaves per step: bounds the step's memory
	ledgerIndexRowMax        = 4096    // leaves per index row: bounds a row's size
)

const (
	ledgerIndexVersion  = 1
	ledgerIndexDelay    = time.Second
	ledgerIndexPoll     = 5 * time.Second // notices other processes' commits
	ledgerIndexRetry    = time.Second
	ledgerIndexReadRows = 500 // leaves fetched from the ledger per query
)

const ledgerIndexSchema = `
CREATE TABLE IF NOT EXISTS state (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL,
	indexed INTEGER NOT NULL,
	hash    BLOB
);
CREATE TABLE IF NOT EXISTS postings (
	account INTEGER NOT NULL,
	last    INTEGER NOT NULL,
	leaves  BLOB NOT NULL,
	PRIMARY KEY (account, last)
) WITHOUT ROWID;
`

type ledgerIndex struct {
	main        *DB
	write, read *sql.DB

	indexed  atomic.Int64 // the watermark as this process last saw it
	head     atomic.Int64 // the ledger's size when the indexer last looked
	failures atomic.Int64 // steps that failed
	reset    atomic.Bool  // a reader found the index inconsistent
	kick     chan struct{}
	closing  chan struct{}
	stopped  chan struct{}
	start    sync.Once
	running  bool // set once, inside start
}

// ledgerIndex returns db's account index, opening it on first use.
func (db *DB) ledgerIndex() (*ledgerIndex, error) {
	db.lindexOnce.Do(func() {
		db.lindex, db.lindexErr = openLedgerIndex(context.Background(), db)
	})
	return db.lindex, db.lindexErr
}

func openLedgerIndex(ctx context.Context, main *DB) (*ledgerIndex, error) {
	if main.dir == "" {
		return nil, errors.New("ledger index: the database has no directory")
	}
	path := filepath.Join(main.dir, LedgerIndexFile)
	if err := privateFiles(path); err != nil {
		return nil, fmt.Errorf("ledger index: %w", err)
	}
	// Losing the last steps to a power cut costs only their redoing.
	params := sqliteParams("NORMAL")
	write, read, err := openSQLitePools(path, params, 4)
	if err != nil {
		return nil, fmt.Errorf("ledger index: %w", err)
	}
	ix := &ledgerIndex{main: main, write: write, read: read, kick: make(chan struct{}, 1),
		closing: make(chan struct{}), stopped: make(chan struct{})}
	if err := ix.open(ctx); err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("ledger index %s: %w", path, err)
	}
	return ix, nil
}

// open creates the tables and checks that the index belongs to the ledger
// it sits beside; one that does not is emptied.
func (ix *ledgerIndex) open(ctx context.Context) error {
	if _, err := ix.write.ExecContext(ctx, ledgerIndexSchema); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	tx, err := ix.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var version, indexed int64
	var hash []byte
	err = tx.QueryRowContext(ctx, "SELECT version, indexed, hash FROM state WHERE id = 1").Scan(&version, &indexed, &hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, "INSERT INTO state (id, version, indexed) VALUES (1, ?, 0)", ledgerIndexVersion); err != nil {
			return err
		}
	case err != nil:
		return err
	case version != ledgerIndexVersion:
		indexed = -1
	case indexed > 0:
		var want []byte
		err := ix.main.read.QueryRowContext(ctx, "SELECT hash FROM ledger_checkpoints WHERE size = ?", indexed).Scan(&want)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !bytes.Equal(want, hash)) {
			indexed = -1 // another ledger's index
		} else if err != nil {
			return err
		}
	}
	if indexed < 0 {
		if err := ledgerIndexEmpty(ctx, tx); err != nil {
			return err
		}
		indexed = 0
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	ix.indexed.Store(indexed)
	return nil
}

func ledgerIndexEmpty(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM postings"); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "UPDATE state SET version = ?, indexed = 0, hash = NULL WHERE id = 1", ledgerIndexVersion)
	return err
}

// notify tells the indexer that the ledger grew, starting it if need be.
func (ix *ledgerIndex) notify() {
	ix.start.Do(func() {
		ix.running = true
		go ix.loop()
	})
	ix.notifyLater()
}

// close stops the indexer (between steps) and closes the index.
func (ix *ledgerIndex) close() {
	ix.start.Do(func() {}) // no loop starts after this
	close(ix.closing)
	if ix.running {
		<-ix.stopped
	}
	ix.write.Close()
	ix.read.Close()
}

func (ix *ledgerIndex) loop() {
	defer close(ix.stopped)
	poll := time.NewTicker(ledgerIndexPoll)
	defer poll.Stop()
	for {
		select {
		case <-ix.kick:
			// Let leaves pile up: fewer, larger rows per account.
			select {
			case <-time.After(ledgerIndexDelay):
			case <-ix.closing:
				return
			}
		case <-poll.C:
		case <-ix.closing:
			return
		}
		if err := ix.catchUp(context.Background()); err != nil {
			ix.failures.Add(1)
			if l := ix.main.logger.Load(); l != nil {
				l.Error("ledger account index", "file", LedgerIndexFile, "err", err)
			}
			select {
			case <-time.After(ledgerIndexRetry):
			case <-ix.closing:
				return
			}
			ix.notifyLater()
		}
	}
}

func (ix *ledgerIndex) notifyLater() {
	select {
	case ix.kick <- struct{}{}:
	default:
	}
}

// catchUp runs steps until the index reaches the ledger's head.
func (ix *ledgerIndex) catchUp(ctx context.Context) error {
	for {
		select {
		case <-ix.closing:
			return nil
		default:
		}
		if ix.reset.Swap(false) {
			if err := ix.empty(ctx); err != nil {
				return err
			}
		}
		n, err := ix.step(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
}

func (ix *ledgerIndex) empty(ctx context.Context) error {
	tx, err := ix.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := ledgerIndexEmpty(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	ix.indexed.Store(0)
	return nil
}

type ledgerPosting struct{ account, leaf int64 }

// step indexes the leaves from the watermark to a checkpointed size at
// most ledgerIndexStepMax leaves on (or the next checkpoint, when one batch
// is larger) and reports how many leaves it covered.
func (ix *ledgerIndex) step(ctx context.Context) (int64, error) {
	w := ix.indexed.Load()
	to, hash, postings, err := ix.readLedger(ctx, w)
	if err != nil || to <= w {
		return 0, err
	}
	slices.SortFunc(postings, func(a, b ledgerPosting) int {
		return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.leaf, b.leaf))
	})

	tx, err := ix.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var cur int64
	if err := tx.QueryRowContext(ctx, "SELECT indexed FROM state WHERE id = 1").Scan(&cur); err != nil {
		return 0, err
	}
	if cur != w {
		// Another process moved the watermark (it indexes the same
		// ledger): start from where it is.
		ix.indexed.Store(cur)
		return max(cur-w, 1), nil
	}
	ins, err := tx.PrepareContext(ctx, "INSERT INTO postings (account, last, leaves) VALUES (?, ?, ?)")
	if err != nil {
		return 0, err
	}
	defer ins.Close()
	var buf []byte
	for lo := 0; lo < len(postings); {
		hi := lo + 1
		for hi < len(postings) && hi-lo < ledgerIndexRowMax && postings[hi].account == postings[lo].account {
			hi++
		}
		buf = buf[:0]
		prev := int64(-1)
		for _, p := range postings[lo:hi] {
			if p.leaf == prev {
				continue // a transfer between an account and itself is refused; be safe anyway
			}
			buf = binary.AppendUvarint(buf, uint64(p.leaf-prev))
			prev = p.leaf
		}
		if _, err := ins.ExecContext(ctx, postings[lo].account, prev, buf); err != nil {
			return 0, fmt.Errorf("insert: %w", err)
		}
		lo = hi
	}
	if _, err := tx.ExecContext(ctx, "UPDATE state SET indexed = ?, hash = ? WHERE id = 1", to, hash); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	ix.indexed.Store(to)
	return to - w, nil
}

// readLedger reads, in one read transaction of the ledger, where the next
// step ends and the postings of the transfers before it.
func (ix *ledgerIndex) readLedger(ctx context.Context, w int64) (to int64, hash []byte, postings []ledgerPosting, err error) {
	tx, err := ix.main.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, nil, nil, err
	}
	defer tx.Rollback()
	var head int64
	if err := tx.QueryRowContext(ctx, "SELECT size FROM ledger_head WHERE id = 1").Scan(&head); err != nil {
		return 0, nil, nil, fmt.Errorf("read head: %w", err)
	}
	ix.head.Store(head)
	if head <= w {
		return w, nil, nil, nil
	}
	err = tx.QueryRowContext(ctx, "SELECT size, hash FROM ledger_checkpoints WHERE size > ? AND size <= ? ORDER BY size DESC LIMIT 1", w, min(head, w+ledgerIndexStepMax)).Scan(&to, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, "SELECT size, hash FROM ledger_checkpoints WHERE size > ? AND size <= ? ORDER BY size LIMIT 1", w, head).Scan(&to, &hash)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil, fmt.Errorf("no checkpoint between the index's %d leaves and the ledger's head %d", w, head)
	}
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read checkpoint: %w", err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT leaf, debit_leaf, credit_leaf FROM ledger_transfers WHERE leaf >= ? AND leaf < ? ORDER BY leaf", w, to)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read transfers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var leaf, debit, credit int64
		if err := rows.Scan(&leaf, &debit, &credit); err != nil {
			return 0, nil, nil, err
		}
		postings = append(postings, ledgerPosting{debit, leaf}, ledgerPosting{credit, leaf})
	}
	if err := rows.Err(); err != nil {
		return 0, nil, nil, fmt.Errorf("read transfers: %w", err)
	}
	return to, hash, postings, nil
}

// leaves returns the watermark and up to limit leaves of account's
// transfers after afterLeaf, in order, all below the watermark.
func (ix *ledgerIndex) leaves(ctx context.Context, account, afterLeaf int64, limit int) (int64, []int64, error) {
	tx, err := ix.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, nil, err
	}
	defer tx.Rollback()
	var w int64
	if err := tx.QueryRowContext(ctx, "SELECT indexed FROM state WHERE id = 1").Scan(&w); err != nil {
		return 0, nil, err
	}
	rows, err := tx.QueryContext(ctx, "SELECT last, leaves FROM postings WHERE account = ? AND last > ? ORDER BY last", account, afterLeaf)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	var out []int64
	for len(out) < limit && rows.Next() {
		var last int64
		var enc []byte
		if err := rows.Scan(&last, &enc); err != nil {
			return 0, nil, err
		}
		prev := int64(-1)
		for len(enc) > 0 {
			d, n := binary.Uvarint(enc)
			if n <= 0 || d == 0 || d > uint64(last-prev) {
				return 0, nil, ix.corrupt(fmt.Errorf("row (%d, %d) does not decode", account, last))
			}
			enc = enc[n:]
			prev += int64(d)
			if prev > afterLeaf && len(out) < limit {
				out = append(out, prev)
			}
		}
		if prev != last || last >= w {
			return 0, nil, ix.corrupt(fmt.Errorf("row (%d, %d) ends at leaf %d, watermark %d", account, last, prev, w))
		}
	}
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	return w, out, nil
}

// corrupt schedules the index's rebuild and returns err as a read error.
func (ix *ledgerIndex) corrupt(err error) error {
	ix.reset.Store(true)
	ix.notify()
	return fmt.Errorf("ledger account index (%s, rebuilding): %w", LedgerIndexFile, err)
}

// LedgerIndexStatus describes the account index of a SQLite ledger
// (ledger_index.go), for metrics.
type LedgerIndexStatus struct {
	Indexed  int64 // leaves indexed
	Lag      int64 // leaves of the ledger not indexed yet, when the indexer last looked
	Failures int64 // indexing steps that failed since the process started
}

// LedgerIndexStatus reports the account index's progress; ok is false
// when the database has none (PostgreSQL, or not opened yet).
func (db *DB) LedgerIndexStatus() (st LedgerIndexStatus, ok bool) {
	if db.dialect != SQLite {
		return st, false
	}
	ix, err := db.ledgerIndex()
	if err != nil {
		return st, false
	}
	st.Indexed = ix.indexed.Load()
	st.Lag = max(0, ix.head.Load()-st.Indexed)
	st.Failures = ix.failures.Load()
	return st, true
}
