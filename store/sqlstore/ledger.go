package sqlstore

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/kassa/kassa/lease"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"golang.org/x/mod/sumdb/tlog"
)

// Ledger implements ledger.Store on the database (tables ledger_*,
// migration 0002_ledger.sql). Batches are written with multi-row INSERTs
// prepared once per size within the transaction.
type Ledger struct {
	db *DB
}

var _ ledger.Store = (*Ledger)(nil)

// NewLedger returns the ledger store of db.
func NewLedger(db *DB) *Ledger { return &Ledger{db: db} }

// Rows per multi-row statement: well below SQLite's 32766 and PostgreSQL's
// 65535 bound parameters for the widest row (13 columns).
const ledgerChunkRows = 500

const (
	ledgerAccountCols  = "owner, id, currency, code, flags, metadata, debits_pending, debits_posted, credits_pending, credits_posted, ts, leaf"
	ledgerTransferCols = "leaf, owner, id, data"
	ledgerPendingCols  = "owner, id, leaf, debit_account_id, credit_account_id, currency, code, amount, amount_posted, state, expires_at"
)

// ledgerQuerier is what reads need from *sql.DB, *sql.Tx or *Tx.
type ledgerQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// rebinder rebinds queries for reads outside a transaction.
type ledgerDBQuerier struct{ db *DB }

func (q ledgerDBQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.db.QueryContext(ctx, query, args...)
}

func ledgerBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func ledgerTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func ledgerNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

type ledgerScanner interface{ Scan(...any) error }

func scanLedgerAccount(r ledgerScanner, a *ledger.Account) error {
	var cur string
	var code, flags int64
	var dp, dpo, cp, cpo, ts int64
	var meta []byte
	if err := r.Scan(&a.Owner, &a.ID, &cur, &code, &flags, &meta, &dp, &dpo, &cp, &cpo, &ts, &a.LeafIndex); err != nil {
		return err
	}
	a.Currency, a.Code, a.Flags, a.Metadata = money.Currency(cur), uint16(code), ledger.AccountFlags(flags), meta
	a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted = money.Amount(dp), money.Amount(dpo), money.Amount(cp), money.Amount(cpo)
	a.Timestamp = ledgerTime(ts)
	return nil
}

// scanLedgerTransfer scans ledgerTransferCols and decodes the stored leaf.
func scanLedgerTransfer(r ledgerScanner, t *ledger.Transfer) error {
	var leaf int64
	var owner, id string
	var data []byte
	if err := r.Scan(&leaf, &owner, &id, &data); err != nil {
		return err
	}
	return decodeLedgerTransfer(leaf, owner, id, data, t)
}

// decodeLedgerTransfer decodes a stored transfer leaf and checks it
// against the row's key columns.
func decodeLedgerTransfer(leaf int64, owner, id string, data []byte, t *ledger.Transfer) error {
	rec, err := ledger.DecodeLeaf(data)
	if err != nil || rec.Transfer == nil {
		return fmt.Errorf("ledger transfer at leaf %d: stored data is no transfer leaf: %v", leaf, err)
	}
	if rec.Transfer.Owner != owner || rec.Transfer.ID != id {
		return fmt.Errorf("ledger transfer at leaf %d: key (%q, %q) differs from its data (record altered)", leaf, owner, id)
	}
	*t = *rec.Transfer
	t.LeafIndex = leaf
	return nil
}

func scanLedgerPending(r ledgerScanner, p *ledger.Pending) error {
	var cur string
	var code, amount, posted, state, expires int64
	if err := r.Scan(&p.Owner, &p.ID, &p.LeafIndex, &p.DebitAccountID, &p.CreditAccountID, &cur, &code, &amount, &posted, &state, &expires); err != nil {
		return err
	}
	p.Currency, p.Code, p.Amount, p.AmountPosted = money.Currency(cur), uint16(code), money.Amount(amount), money.Amount(posted)
	p.State, p.ExpiresAt = ledger.PendingState(state), ledgerTime(expires)
	return nil
}

func ledgerAccountArgs(args []any, a *ledger.Account) []any {
	return append(args, a.Owner, a.ID, string(a.Currency), int64(a.Code), int64(a.Flags), ledgerBytes(a.Metadata),
		int64(a.DebitsPending), int64(a.DebitsPosted), int64(a.CreditsPending), int64(a.CreditsPosted), ledgerNanos(a.Timestamp), a.LeafIndex)
}

func ledgerTransferArgs(args []any, b *ledger.Batch, i int) []any {
	t := &b.Transfers[i]
	return append(args, t.LeafIndex, t.Owner, t.ID, b.TransferAccounts[i][0], b.TransferAccounts[i][1], b.TransferLeaves[i])
}

func ledgerPendingArgs(args []any, p *ledger.Pending) []any {
	return append(args, p.Owner, p.ID, p.LeafIndex, p.DebitAccountID, p.CreditAccountID, string(p.Currency), int64(p.Code),
		int64(p.Amount), int64(p.AmountPosted), int64(p.State), ledgerNanos(p.ExpiresAt))
}

// ledgerValues returns "(?,?,...),(?,?,...)" for rows of cols placeholders.
func ledgerValues(rows, cols int) string {
	one := "(" + strings.Repeat("?,", cols-1) + "?)"
	return strings.Repeat(one+",", rows-1) + one
}

// Update implements ledger.Store.
func (s *Ledger) Update(ctx context.Context, fn func(ctx context.Context, tx ledger.Tx) error) error {
	var last *ledgerTx
	if s.db.dialect == Postgres {
		ctx = context.WithValue(ctx, withConnKey{}, true)
	}
	err := s.db.Transact(ctx, func(tx *Tx) error {
		if s.db.dialect == SQLite {
			// Multi-row INSERTs keep statement journals (copies of the
			// pages they change, to undo one statement alone); in memory
			// rather than in temp files they cost no write syscalls. The
			// setting is the connection's; it is set in every
			// transaction because the pool may replace the connection.
			if _, err := tx.ExecContext(ctx, "PRAGMA temp_store = MEMORY"); err != nil {
				return fmt.Errorf("temp_store: %w", err)
			}
			// A batch dirties thousands of pages, more than the default
			// checkpoint threshold (1000), so every commit would copy its
			// pages into the database file and fsync it. Checkpointing
			// every ~16,000 pages instead writes a page that many batches
			// change (index pages) once per checkpoint.
			if _, err := tx.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 16384"); err != nil {
				return fmt.Errorf("wal_autocheckpoint: %w", err)
			}
		}
		lt := &ledgerTx{tx: tx, stmts: map[string]*sql.Stmt{}}
		last = lt
		defer lt.close()
		if s.db.dialect == Postgres {
			return fn(ctx, pgLedgerTx{lt})
		}
		return fn(ctx, lt)
	})
	var ce *commitError
	if err != nil && last != nil && last.committed && errors.As(err, &ce) {
		// The batch's pipeline committed; what failed is ending the
		// empty transaction after it.
		err = nil
	}
	if err == nil && s.db.dialect == SQLite {
		// The account index follows the ledger (ledger_index.go). If it
		// cannot open, listings say so; the commit stands.
		if ix, _ := s.db.ledgerIndex(); ix != nil {
			ix.notify()
		}
	}
	return err
}

type ledgerTx struct {
	tx    *Tx
	stmts map[string]*sql.Stmt
	args  []any
	order []int32
	// committed is set when the batch's own pipeline committed it
	// (PostgreSQL, ledger_postgres.go).
	committed bool
}

func (t *ledgerTx) close() {
	for _, st := range t.stmts {
		st.Close()
	}
}

// exec runs query (with '?' placeholders) as a statement prepared once per
// transaction.
func (t *ledgerTx) exec(ctx context.Context, query string, args ...any) error {
	if t.tx.db.dialect == Postgres {
		// pgx prepares and caches statements per connection by itself;
		// an explicit Prepare would add round trips (prepare, close).
		_, err := t.tx.ExecContext(ctx, query, args...)
		return err
	}
	st := t.stmts[query]
	if st == nil {
		var err error
		if st, err = t.tx.PrepareContext(ctx, query); err != nil {
			return err
		}
		t.stmts[query] = st
	}
	_, err := st.ExecContext(ctx, args...)
	return err
}

func (t *ledgerTx) insertInto(table string) string { return "INSERT INTO " + table }

// updateAccounts (SQLite) is the start of the balance update, to be followed by a
// VALUES list of (leaf, debits_pending, debits_posted, credits_pending,
// credits_posted) rows.
func (t *ledgerTx) updateAccounts() string {
	return "UPDATE OR FAIL ledger_accounts SET debits_pending = v.column2, debits_posted = v.column3, credits_pending = v.column4, credits_posted = v.column5 FROM (VALUES "
}

// insertRows writes n rows of cols columns in multi-row statements:
// prefix + VALUES list + suffix. row appends the i'th row's arguments.
func (t *ledgerTx) insertRows(ctx context.Context, prefix, suffix string, cols, n int, row func(args []any, i int) []any) error {
	one := "(" + strings.Repeat("?,", cols-1) + "?)"
	for lo := 0; lo < n; lo += ledgerChunkRows {
		hi := min(n, lo+ledgerChunkRows)
		t.args = t.args[:0]
		for i := lo; i < hi; i++ {
			t.args = row(t.args, i)
		}
		if err := t.exec(ctx, prefix+strings.Repeat(one+",", hi-lo-1)+one+suffix, t.args...); err != nil {
			return err
		}
	}
	clear(t.args)
	return nil
}

func (t *ledgerTx) Head(ctx context.Context) (ledger.Head, error) {
	q := "SELECT size, ts, writer FROM ledger_head WHERE id = 1"
	if t.tx.db.dialect == Postgres {
		q += " FOR UPDATE" // SQLite: BEGIN IMMEDIATE already excludes other writers
	}
	var h ledger.Head
	err := t.tx.QueryRowContext(ctx, q).Scan(&h.Size, &h.Timestamp, &h.Writer)
	return h, err
}

func (t *ledgerTx) LatestCheckpoint(ctx context.Context) (ledger.Checkpoint, error) {
	return ledgerLatestCheckpoint(ctx, t.tx)
}

func (t *ledgerTx) ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error) {
	return ledgerReadTiles(ctx, t.tx, tiles)
}

// ledgerLookup runs "SELECT cols FROM table WHERE (owner, id) IN (...)" in chunks.
func ledgerLookup[T any](ctx context.Context, q ledgerQuerier, cols, table string, keys []ledger.Key, scan func(ledgerScanner, *T) error) ([]T, error) {
	var out []T
	args := make([]any, 0, 2*min(len(keys), ledgerChunkRows))
	for lo := 0; lo < len(keys); lo += ledgerChunkRows {
		hi := min(len(keys), lo+ledgerChunkRows)
		args = args[:0]
		for _, k := range keys[lo:hi] {
			args = append(args, k.Owner, k.ID)
		}
		rows, err := q.QueryContext(ctx, "SELECT "+cols+" FROM "+table+" WHERE (owner, id) IN (VALUES "+ledgerValues(hi-lo, 2)+")", args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var v T
			if err := scan(rows, &v); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, v)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *ledgerTx) LookupAccounts(ctx context.Context, keys []ledger.Key) ([]ledger.Account, error) {
	return ledgerLookup(ctx, t.tx, ledgerAccountCols, "ledger_accounts", keys, scanLedgerAccount)
}

func (t *ledgerTx) LookupTransfers(ctx context.Context, keys []ledger.Key) ([]ledger.Transfer, error) {
	return ledgerLookup(ctx, t.tx, ledgerTransferCols, "ledger_transfers", keys, scanLedgerTransfer)
}

func (t *ledgerTx) LookupPendings(ctx context.Context, keys []ledger.Key) ([]ledger.Pending, error) {
	return ledgerLookup(ctx, t.tx, ledgerPendingCols, "ledger_pending", keys, scanLedgerPending)
}

func (t *ledgerTx) ExpiredPendings(ctx context.Context, now time.Time, limit int) ([]ledger.Pending, error) {
	rows, err := t.tx.QueryContext(ctx, "SELECT "+ledgerPendingCols+" FROM ledger_pending WHERE state = 1 AND expires_at > 0 AND expires_at <= ? ORDER BY expires_at, leaf LIMIT ?", now.UnixNano(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.Pending
	for rows.Next() {
		var p ledger.Pending
		if err := scanLedgerPending(rows, &p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (t *ledgerTx) NextExpiry(ctx context.Context, after time.Time) (time.Time, bool, error) {
	var next sql.NullInt64
	err := t.tx.QueryRowContext(ctx, "SELECT MIN(expires_at) FROM ledger_pending WHERE state = 1 AND expires_at > 0 AND expires_at > ?", ledgerNanos(after)).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, false, err
	}
	return ledgerTime(next.Int64), true, nil
}

func (t *ledgerTx) Append(ctx context.Context, b *ledger.Batch) error {
	err := t.append(ctx, b)
	if err != nil && t.tx.db.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %v", ledger.ErrDuplicate, err)
	}
	return err
}

func (t *ledgerTx) append(ctx context.Context, b *ledger.Batch) error {
	if len(b.TransferAccounts) != len(b.Transfers) || len(b.TransferLeaves) != len(b.Transfers) {
		return fmt.Errorf("insert transfers: batch without account leaves or leaf data")
	}
	if t.tx.db.dialect == Postgres {
		return t.appendPostgres(ctx, b)
	}
	if err := t.insertRows(ctx, t.insertInto("ledger_accounts")+" ("+ledgerAccountCols+") VALUES ", "", 12, len(b.NewAccounts),
		func(args []any, i int) []any { return ledgerAccountArgs(args, &b.NewAccounts[i]) }); err != nil {
		return fmt.Errorf("insert accounts: %w", err)
	}
	// Balances by the account's leaf (its primary key). On SQLite, UPDATE
	// OR FAIL: with the default ABORT a multi-row statement keeps a
	// statement journal (a copy of every page it changes) to undo itself
	// alone on a failure; the ledger rolls back the whole transaction when
	// Append fails, so FAIL is as safe and copies no page.
	// In leaf order, each row's page is at or after the previous one's.
	order := t.order[:0]
	for i := range b.UpdatedAccounts {
		order = append(order, int32(i))
	}
	slices.SortFunc(order, func(i, j int32) int {
		return cmp.Compare(b.UpdatedAccounts[i].LeafIndex, b.UpdatedAccounts[j].LeafIndex)
	})
	t.order = order
	if err := t.insertRows(ctx, t.updateAccounts(), ") AS v WHERE ledger_accounts.leaf = v.column1", 5, len(b.UpdatedAccounts),
		func(args []any, i int) []any {
			a := &b.UpdatedAccounts[order[i]]
			return append(args, a.LeafIndex, int64(a.DebitsPending), int64(a.DebitsPosted), int64(a.CreditsPending), int64(a.CreditsPosted))
		}); err != nil {
		return fmt.Errorf("update accounts: %w", err)
	}
	if err := t.insertRows(ctx, t.insertInto("ledger_transfers")+" (leaf, owner, id, debit_leaf, credit_leaf, data) VALUES ", "", 6, len(b.Transfers),
		func(args []any, i int) []any { return ledgerTransferArgs(args, b, i) }); err != nil {
		return fmt.Errorf("insert transfers: %w", err)
	}
	if err := t.writePendings(ctx, b); err != nil {
		return err
	}
	if err := t.insertRows(ctx, t.insertInto("ledger_tiles")+" (level, n, data) VALUES ", " ON CONFLICT (level, n) DO UPDATE SET data = excluded.data", 3, len(b.Tiles),
		func(args []any, i int) []any {
			return append(args, int64(b.Tiles[i].Tile.L), b.Tiles[i].Tile.N, b.Tiles[i].Data)
		}); err != nil {
		return fmt.Errorf("write tiles: %w", err)
	}
	cp := b.Checkpoint
	if err := t.exec(ctx, "INSERT INTO ledger_checkpoints (size, hash, note) VALUES (?, ?, ?)", cp.Size, cp.Hash[:], cp.Note); err != nil {
		return fmt.Errorf("insert checkpoint: %w", err)
	}
	if err := t.exec(ctx, "UPDATE ledger_head SET size = ?, ts = ?, writer = ? WHERE id = 1", b.Head.Size, b.Head.Timestamp, b.Head.Writer); err != nil {
		return fmt.Errorf("update head: %w", err)
	}
	return nil
}

func (t *ledgerTx) writePendings(ctx context.Context, b *ledger.Batch) error {
	if err := t.insertRows(ctx, t.insertInto("ledger_pending")+" ("+ledgerPendingCols+") VALUES ", "", 11, len(b.NewPendings),
		func(args []any, i int) []any { return ledgerPendingArgs(args, &b.NewPendings[i]) }); err != nil {
		return fmt.Errorf("insert pending: %w", err)
	}
	if err := t.insertRows(ctx, t.insertInto("ledger_pending")+" ("+ledgerPendingCols+") VALUES ",
		" ON CONFLICT (owner, id) DO UPDATE SET state = excluded.state, amount_posted = excluded.amount_posted", 11, len(b.UpdatedPendings),
		func(args []any, i int) []any { return ledgerPendingArgs(args, &b.UpdatedPendings[i]) }); err != nil {
		return fmt.Errorf("update pending: %w", err)
	}
	return nil
}

// ledgerAppendPostgres writes a batch's balances, transfers, tiles,
// checkpoint and head in one statement (one round trip): each table's rows
// travel as arrays, unnested by the server, so the statement text is the
// same for every batch and stays prepared.
const ledgerAppendPostgres = `WITH
acc AS (UPDATE ledger_accounts a SET debits_pending = v.dp, debits_posted = v.dpo, credits_pending = v.cp, credits_posted = v.cpo
	FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS v(leaf, dp, dpo, cp, cpo) WHERE a.leaf = v.leaf),
tr AS (INSERT INTO ledger_transfers (leaf, owner, id, debit_leaf, credit_leaf, data)
	SELECT * FROM unnest($6::bigint[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bytea[])),
ti AS (INSERT INTO ledger_tiles (level, n, data) SELECT * FROM unnest($12::bigint[], $13::bigint[], $14::bytea[])
	ON CONFLICT (level, n) DO UPDATE SET data = excluded.data),
cp AS (INSERT INTO ledger_checkpoints (size, hash, note) VALUES ($15, $16, $17))
UPDATE ledger_head SET size = $15, ts = $18, writer = $19 WHERE id = 1`

func ledgerLatestCheckpoint(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (ledger.Checkpoint, error) {
	var cp ledger.Checkpoint
	var hash []byte
	err := q.QueryRowContext(ctx, "SELECT size, hash, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1").Scan(&cp.Size, &hash, &cp.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return cp, ledger.ErrNotFound
	}
	if err != nil {
		return cp, err
	}
	if len(hash) != tlog.HashSize {
		return cp, fmt.Errorf("checkpoint %d: hash of %d bytes", cp.Size, len(hash))
	}
	copy(cp.Hash[:], hash)
	return cp, nil
}

func ledgerReadTiles(ctx context.Context, q ledgerQuerier, tiles []tlog.Tile) ([][]byte, error) {
	if len(tiles) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 2*len(tiles))
	for _, t := range tiles {
		args = append(args, int64(t.L), t.N)
	}
	// CAST: PostgreSQL would type bare VALUES parameters as text.
	vals := strings.Repeat("(CAST(? AS BIGINT), CAST(? AS BIGINT)),", len(tiles))
	rows, err := q.QueryContext(ctx, "SELECT level, n, data FROM ledger_tiles WHERE (level, n) IN (VALUES "+vals[:len(vals)-1]+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := make(map[[2]int64][]byte, len(tiles))
	for rows.Next() {
		var l, n int64
		var data []byte
		if err := rows.Scan(&l, &n, &data); err != nil {
			return nil, err
		}
		got[[2]int64{l, n}] = data
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		d := got[[2]int64{int64(t.L), t.N}]
		if len(d) < t.W*tlog.HashSize {
			return nil, fmt.Errorf("tile %s: %w", t.Path(), ledger.ErrNotFound)
		}
		out[i] = d[:t.W*tlog.HashSize]
	}
	return out, nil
}

// Account implements ledger.Store.
func (s *Ledger) Account(ctx context.Context, owner, id string) (ledger.Account, error) {
	var a ledger.Account
	err := scanLedgerAccount(s.db.QueryRowContext(ctx, "SELECT "+ledgerAccountCols+" FROM ledger_accounts WHERE owner = ? AND id = ?", owner, id), &a)
	if errors.Is(err, sql.ErrNoRows) {
		return a, ledger.ErrNotFound
	}
	return a, err
}

// Transfer implements ledger.Store.
func (s *Ledger) Transfer(ctx context.Context, owner, id string) (ledger.Transfer, error) {
	var t ledger.Transfer
	err := scanLedgerTransfer(s.db.QueryRowContext(ctx, "SELECT "+ledgerTransferCols+" FROM ledger_transfers WHERE owner = ? AND id = ?", owner, id), &t)
	if errors.Is(err, sql.ErrNoRows) {
		return t, ledger.ErrNotFound
	}
	return t, err
}

// Pending implements ledger.Store.
func (s *Ledger) Pending(ctx context.Context, owner, id string) (ledger.Pending, error) {
	var p ledger.Pending
	err := scanLedgerPending(s.db.QueryRowContext(ctx, "SELECT "+ledgerPendingCols+" FROM ledger_pending WHERE owner = ? AND id = ?", owner, id), &p)
	if errors.Is(err, sql.ErrNoRows) {
		return p, ledger.ErrNotFound
	}
	return p, err
}

// AccountTransfers implements ledger.Store.
func (s *Ledger) AccountTransfers(ctx context.Context, owner, accountID string, afterLeaf int64, limit int) ([]ledger.Transfer, error) {
	// Transfers refer to accounts by the account's leaf.
	var acct int64
	err := s.db.QueryRowContext(ctx, "SELECT leaf FROM ledger_accounts WHERE owner = ? AND id = ?", owner, accountID).Scan(&acct)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.db.dialect == SQLite {
		return s.accountTransfersIndexed(ctx, owner, accountID, acct, afterLeaf, limit)
	}
	// Two index range scans, merged: an OR over both columns would not
	// use the (account, leaf) indexes in order.
	q := "SELECT " + ledgerTransferCols + " FROM (SELECT " + ledgerTransferCols + " FROM ledger_transfers WHERE debit_leaf = ? AND leaf > ? ORDER BY leaf LIMIT ?) d" +
		" UNION ALL SELECT " + ledgerTransferCols + " FROM (SELECT " + ledgerTransferCols + " FROM ledger_transfers WHERE credit_leaf = ? AND leaf > ? ORDER BY leaf LIMIT ?) c" +
		" ORDER BY leaf LIMIT ?"
	return s.accountTransferRows(ctx, owner, accountID, nil, q, acct, afterLeaf, limit, acct, afterLeaf, limit, limit)
}

// accountTransfersIndexed lists an account's transfers on SQLite: the
// leaves below the account index's watermark from the index, the rest by
// scanning the ledger's rows from the watermark on (ledger_index.go).
func (s *Ledger) accountTransfersIndexed(ctx context.Context, owner, accountID string, acct, afterLeaf int64, limit int) ([]ledger.Transfer, error) {
	ix, err := s.db.ledgerIndex()
	if err != nil {
		return nil, err
	}
	ix.notify()
	w, leaves, err := ix.leaves(ctx, acct, afterLeaf, limit)
	if err != nil {
		return nil, err
	}
	var out []ledger.Transfer
	for lo := 0; lo < len(leaves); lo += ledgerIndexReadRows {
		chunk := leaves[lo:min(len(leaves), lo+ledgerIndexReadRows)]
		args := make([]any, len(chunk))
		for i, l := range chunk {
			args[i] = l
		}
		q := "SELECT " + ledgerTransferCols + " FROM ledger_transfers WHERE leaf IN (?" + strings.Repeat(",?", len(chunk)-1) + ") ORDER BY leaf"
		n := len(out)
		if out, err = s.accountTransferRows(ctx, owner, accountID, out, q, args...); err != nil {
			return nil, err
		}
		if got := out[n:]; len(got) != len(chunk) {
			for i, l := range chunk {
				if i >= len(got) || got[i].LeafIndex != l {
					return nil, ix.corrupt(fmt.Errorf("names leaf %d of account %s/%s, which the ledger does not hold", l, owner, accountID))
				}
			}
		}
	}
	if len(out) < limit {
		q := "SELECT " + ledgerTransferCols + " FROM ledger_transfers WHERE leaf >= ? AND (debit_leaf = ? OR credit_leaf = ?) ORDER BY leaf LIMIT ?"
		if out, err = s.accountTransferRows(ctx, owner, accountID, out, q, max(w, afterLeaf+1), acct, acct, limit-len(out)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// accountTransferRows runs q and appends the transfers it returns to out,
// checking that each names the account it was found under.
func (s *Ledger) accountTransferRows(ctx context.Context, owner, accountID string, out []ledger.Transfer, q string, args ...any) ([]ledger.Transfer, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var t ledger.Transfer
		if err := scanLedgerTransfer(rows, &t); err != nil {
			return nil, err
		}
		if t.Owner != owner || (t.DebitAccountID != accountID && t.CreditAccountID != accountID) {
			return nil, fmt.Errorf("ledger transfer at leaf %d: indexed under account %s/%s but its data names others (record altered)", t.LeafIndex, owner, accountID)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// LatestCheckpoint implements ledger.Store.
func (s *Ledger) LatestCheckpoint(ctx context.Context) (ledger.Checkpoint, error) {
	return ledgerLatestCheckpoint(ctx, s.db)
}

// Checkpoints implements ledger.Store.
func (s *Ledger) Checkpoints(ctx context.Context) iter.Seq2[ledger.Checkpoint, error] {
	return func(yield func(ledger.Checkpoint, error) bool) {
		rows, err := s.db.QueryContext(ctx, "SELECT size, hash, note FROM ledger_checkpoints ORDER BY size")
		if err != nil {
			yield(ledger.Checkpoint{}, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var cp ledger.Checkpoint
			var hash []byte
			if err := rows.Scan(&cp.Size, &hash, &cp.Note); err != nil {
				yield(cp, err)
				return
			}
			copy(cp.Hash[:], hash)
			if !yield(cp, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(ledger.Checkpoint{}, err)
		}
	}
}

// ReadTiles implements ledger.Store.
func (s *Ledger) ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error) {
	return ledgerReadTiles(ctx, ledgerDBQuerier{s.db}, tiles)
}

// Leaves implements ledger.Store: it merges the accounts and the
// transfers, each read in leaf order, and checks every transfer's owner
// and id columns against its data.
func (s *Ledger) Leaves(ctx context.Context, from int64) iter.Seq2[*ledger.LeafChunk, error] {
	if s.db.dialect == SQLite {
		var path string
		err := s.db.read.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path)
		if err != nil {
			return func(yield func(*ledger.LeafChunk, error) bool) { yield(nil, fmt.Errorf("sqlite file: %w", err)) }
		}
		if path != "" { // not an in-memory database
			return s.sqliteLeaves(ctx, from, path)
		}
	}
	return s.sqlLeaves(ctx, from)
}

// sqlLeaves implements Leaves through database/sql.
func (s *Ledger) sqlLeaves(ctx context.Context, from int64) iter.Seq2[*ledger.LeafChunk, error] {
	return func(yield func(*ledger.LeafChunk, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		arows, err := s.db.QueryContext(ctx, "SELECT "+ledgerAccountCols+" FROM ledger_accounts WHERE leaf >= ? ORDER BY leaf", from)
		if err != nil {
			yield(nil, err)
			return
		}
		defer arows.Close()
		trows, err := s.db.QueryContext(ctx, "SELECT leaf, owner, id, debit_leaf, credit_leaf, data FROM ledger_transfers WHERE leaf >= ? ORDER BY leaf", from)
		if err != nil {
			yield(nil, err)
			return
		}
		defer trows.Close()
		var a ledger.Account
		var t ledgerLeafRow
		var c ledger.LeafChunk
		haveA, haveT := false, false
		for {
			if !haveA && arows != nil {
				if arows.Next() {
					if err := scanLedgerAccount(arows, &a); err != nil {
						yield(nil, err)
						return
					}
					haveA = true
				} else {
					if err := arows.Err(); err != nil {
						yield(nil, err)
						return
					}
					arows = nil
				}
			}
			if !haveT && trows != nil {
				if trows.Next() {
					if err := trows.Scan(&t.leaf, &t.owner, &t.id, &t.refs[0], &t.refs[1], &t.data); err != nil {
						yield(nil, err)
						return
					}
					haveT = true
				} else {
					if err := trows.Err(); err != nil {
						yield(nil, err)
						return
					}
					trows = nil
				}
			}
			switch {
			case !haveA && !haveT:
				if c.Len() > 0 {
					yield(&c, nil)
				}
				return
			case haveA && (!haveT || a.LeafIndex < t.leaf):
				c.AppendRecord(&ledger.Record{LeafIndex: a.LeafIndex, Account: &a}, [2]int64{})
				haveA = false
			default:
				if err := checkLedgerLeaf(t.leaf, t.owner, t.id, t.data); err != nil {
					yield(nil, err)
					return
				}
				c.Append(t.leaf, t.data, t.refs)
				haveT = false
			}
			if c.Len() == ledgerLeafChunkMax {
				if !yield(&c, nil) {
					return
				}
				c.Reset()
			}
		}
	}
}

// Leaves per chunk that Leaves yields.
const ledgerLeafChunkMax = 4096

// ledgerLeafRow is a transfer row as Leaves reads it.
type ledgerLeafRow struct {
	leaf            int64
	owner, id, data sql.RawBytes
	refs            [2]int64 // debit_leaf, credit_leaf
}

// checkLedgerLeaf checks a transfer row's key columns, the owner and id it
// is looked up by, against its leaf data. The rest of the data, and the
// account leaves the row is indexed under, are Verify's to check.
func checkLedgerLeaf(leaf int64, owner, id, data []byte) error {
	dOwner, dID, _, _, ok := ledger.TransferLeafKeys(data)
	if !ok {
		return fmt.Errorf("ledger transfer at leaf %d: stored data is no transfer leaf", leaf)
	}
	if !bytes.Equal(owner, dOwner) || !bytes.Equal(id, dID) {
		return fmt.Errorf("ledger transfer at leaf %d: key (%q, %q) differs from its data (record altered)", leaf, owner, id)
	}
	return nil
}

// Accounts implements ledger.Store.
func (s *Ledger) Accounts(ctx context.Context) iter.Seq2[*ledger.Account, error] {
	return func(yield func(*ledger.Account, error) bool) {
		rows, err := s.db.QueryContext(ctx, "SELECT "+ledgerAccountCols+" FROM ledger_accounts")
		if err != nil {
			yield(nil, err)
			return
		}
		defer rows.Close()
		var a ledger.Account
		for rows.Next() {
			if err := scanLedgerAccount(rows, &a); err != nil {
				yield(nil, err)
				return
			}
			if !yield(&a, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// LedgerSQLTx returns the SQL transaction behind a ledger.Tx handed to a
// ledger.Effect, or nil when the ledger does not run on this store.
func LedgerSQLTx(tx ledger.Tx) *Tx {
	switch lt := tx.(type) {
	case *ledgerTx:
		return lt.tx
	case pgLedgerTx:
		return lt.tx
	}
	return nil
}

// RunEffect runs a ledger effect in the batch's transaction.
//
// An effect submitted under a lease fence (a leased job's payment expiry,
// say) runs only while that lease is still held, checked in the batch's
// transaction: a failed check fails the effect with lease.ErrLost, the
// call's transfers are undone and the rest of the batch commits.
func (t *ledgerTx) RunEffect(ctx context.Context, fn func() error) error {
	if f, ok := lease.FenceFrom(ctx); ok {
		if err := t.tx.db.checkFence(ctx, t.tx, f); err != nil {
			return err
		}
	}
	return fn()
}
