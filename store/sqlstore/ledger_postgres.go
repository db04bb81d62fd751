package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/kassa/kassa/ledger"
)

// On PostgreSQL a ledger batch holds the log head row for one round trip.
// The head is locked by a pipeline that also reads, when another writer
// (another Kassa node) committed since this one's last batch, what the
// sequencer needs to follow it (ledger.HeadReader); the batch's writes,
// its COMMIT and the BEGIN of an empty transaction then go out as a
// second pipeline, and the lock ends with that round trip. database/sql
// ends the empty transaction afterwards, outside the lock.
//
// Round trips per batch without effects: BEGIN; lock and read ahead;
// writes and COMMIT; the empty transaction's COMMIT. Effects (a payment's
// rows) add their own between the two pipelines.

// pgLedgerTx is the ledger's transaction on PostgreSQL.
type pgLedgerTx struct{ *ledgerTx }

var _ ledger.HeadReader = pgLedgerTx{}

// withConn runs f on the pgx connection under the transaction.
func (t *ledgerTx) withConn(f func(*pgx.Conn) error) error {
	if t.tx.conn == nil {
		return errors.New("sqlstore: ledger transaction without its connection")
	}
	return t.tx.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("sqlstore: driver connection %T is not pgx's", dc)
		}
		return f(c.Conn())
	})
}

// The statements of HeadSince. Each read after the lock is empty unless
// the head's size differs from the one the sequencer knows ($moved).
const (
	pgHeadIdleLimit  = `SET LOCAL idle_in_transaction_session_timeout = '10s'`
	pgHeadLock       = `SELECT size, ts, writer FROM ledger_head WHERE id = 1 FOR UPDATE`
	pgHeadMoved      = `EXISTS (SELECT 1 FROM ledger_head WHERE id = 1 AND size <> $1)`
	pgHeadCheckpoint = `SELECT c.size, c.hash, c.note FROM ledger_checkpoints c JOIN ledger_head h ON h.id = 1 AND c.size = h.size WHERE h.size <> $1`
	pgHeadTiles      = `SELECT n, data FROM ledger_tiles WHERE level = 0 AND n >= $2 AND n < $3 AND ` + pgHeadMoved + ` ORDER BY n`
	pgHeadNextExpiry = `SELECT MIN(expires_at) FROM ledger_pending WHERE state = 1 AND expires_at > 0 AND ` + pgHeadMoved
	// The keys' rows are looked up one by one (LATERAL ... LIMIT 1 keeps
	// the planner from joining them to a scan of the whole table).
	pgHeadPendingOf = `CROSS JOIN LATERAL (SELECT ` + ledgerPendingCols + ` FROM ledger_pending WHERE owner = k.owner AND id = k.id LIMIT 1) AS p`
	pgHeadPendings  = `SELECT p.* FROM unnest($2::text[], $3::text[]) AS k(owner, id) ` + pgHeadPendingOf + ` WHERE ` + pgHeadMoved
	pgHeadAccounts  = `SELECT a.* FROM (
	SELECT * FROM unnest($2::text[], $3::text[]) AS k(owner, id)
	UNION SELECT p.owner, p.debit_account_id FROM unnest($4::text[], $5::text[]) AS k(owner, id) ` + pgHeadPendingOf + `
	UNION SELECT p.owner, p.credit_account_id FROM unnest($4::text[], $5::text[]) AS k(owner, id) ` + pgHeadPendingOf + `) AS k
	CROSS JOIN LATERAL (SELECT ` + ledgerAccountCols + ` FROM ledger_accounts WHERE owner = k.owner AND id = k.id LIMIT 1) AS a
	WHERE ` + pgHeadMoved
)

// HeadSince implements ledger.HeadReader: one pipeline locks the head and
// reads what r asks for.
func (t pgLedgerTx) HeadSince(ctx context.Context, r *ledger.HeadRead) (ledger.Head, error) {
	var h ledger.Head
	since := r.Since.Size
	first := since / (1 << ledger.TileHeight)
	aOwners, aIDs := ledgerKeyArrays(r.Accounts)
	pOwners, pIDs := ledgerKeyArrays(r.Pendings)
	err := t.withConn(func(c *pgx.Conn) error {
		var b pgx.Batch
		// A node that vanishes while it holds the head (no FIN, no RST)
		// would block every other node's ledger until the server noticed;
		// between its two pipelines the session is idle in transaction.
		b.Queue(pgHeadIdleLimit)
		b.Queue(pgHeadLock)
		b.Queue(pgHeadCheckpoint, since)
		b.Queue(pgHeadTiles, since, first, first+ledger.HeadReadTilesMax)
		b.Queue(pgHeadNextExpiry, since)
		if len(pOwners) > 0 {
			b.Queue(pgHeadPendings, since, pOwners, pIDs)
		}
		if len(aOwners)+len(pOwners) > 0 {
			b.Queue(pgHeadAccounts, since, aOwners, aIDs, pOwners, pIDs)
		}
		br := c.SendBatch(ctx, &b)
		err := t.readHead(br, r, &h, len(pOwners) > 0, len(aOwners)+len(pOwners) > 0)
		return errors.Join(err, br.Close())
	})
	t.tx.db.ledgerTrace(ledgerLocked)
	return h, err
}

func (t pgLedgerTx) readHead(br pgx.BatchResults, r *ledger.HeadRead, h *ledger.Head, pendings, accounts bool) error {
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("idle limit: %w", err)
	}
	if err := br.QueryRow().Scan(&h.Size, &h.Timestamp, &h.Writer); err != nil {
		return fmt.Errorf("lock head: %w", err)
	}
	r.Moved = h.Size != r.Since.Size
	var hash []byte
	err := br.QueryRow().Scan(&r.Checkpoint.Size, &hash, &r.Checkpoint.Note)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read checkpoint: %w", err)
	case len(hash) != tlog.HashSize:
		return fmt.Errorf("checkpoint %d: hash of %d bytes", r.Checkpoint.Size, len(hash))
	default:
		copy(r.Checkpoint.Hash[:], hash)
	}
	rows, _ := br.Query()
	for rows.Next() {
		var n int64
		var data []byte
		if err := rows.Scan(&n, &data); err != nil {
			rows.Close()
			return fmt.Errorf("read tiles: %w", err)
		}
		r.Tiles = append(r.Tiles, ledger.TileData{Tile: tlog.Tile{H: ledger.TileHeight, N: n, W: len(data) / tlog.HashSize}, Data: data})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read tiles: %w", err)
	}
	var next *int64
	if err := br.QueryRow().Scan(&next); err != nil {
		return fmt.Errorf("read next expiry: %w", err)
	}
	if next != nil {
		r.NextExpiry = ledgerTime(*next)
	}
	if pendings {
		rows, _ := br.Query()
		for rows.Next() {
			var p ledger.Pending
			if err := scanLedgerPending(rows, &p); err != nil {
				rows.Close()
				return fmt.Errorf("read pending transfers: %w", err)
			}
			r.FoundPendings = append(r.FoundPendings, p)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read pending transfers: %w", err)
		}
	}
	if accounts {
		rows, _ := br.Query()
		for rows.Next() {
			var a ledger.Account
			if err := scanLedgerAccount(rows, &a); err != nil {
				rows.Close()
				return fmt.Errorf("read accounts: %w", err)
			}
			r.FoundAccounts = append(r.FoundAccounts, a)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read accounts: %w", err)
		}
	}
	return nil
}

func ledgerKeyArrays(keys []ledger.Key) (owners, ids []string) {
	if len(keys) == 0 {
		return nil, nil
	}
	owners, ids = make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		owners[i], ids[i] = k.Owner, k.ID
	}
	return owners, ids
}

// The batch's writes, each table's rows as arrays the server unnests, so
// every statement's text is the same for every batch and stays prepared.
const (
	pgInsertAccounts = `INSERT INTO ledger_accounts (` + ledgerAccountCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bytea[],
		$7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[])`
	pgInsertPendings = `INSERT INTO ledger_pending (` + ledgerPendingCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
		$7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])`
	pgUpdatePendings = pgInsertPendings + ` ON CONFLICT (owner, id) DO UPDATE SET state = excluded.state, amount_posted = excluded.amount_posted`
)

// appendPostgres writes b and commits, in one pipeline: the new
// accounts, the pending transfers, balances, transfers, tiles,
// checkpoint and head (ledgerAppendPostgres), COMMIT, and BEGIN of the
// empty transaction database/sql then ends. An error before COMMIT leaves
// the transaction to roll back as usual; when the connection fails
// instead, whether COMMIT happened is unknown (a commitError: never run
// again).
func (t *ledgerTx) appendPostgres(ctx context.Context, b *ledger.Batch) error {
	var q pgx.Batch
	if len(b.NewAccounts) > 0 {
		q.Queue(pgInsertAccounts, pgAccountArrays(b.NewAccounts)...)
	}
	if len(b.NewPendings) > 0 {
		q.Queue(pgInsertPendings, pgPendingArrays(b.NewPendings)...)
	}
	if len(b.UpdatedPendings) > 0 {
		q.Queue(pgUpdatePendings, pgPendingArrays(b.UpdatedPendings)...)
	}
	q.Queue(ledgerAppendPostgres, pgAppendArgs(b)...)
	commitAt := q.Len()
	q.Queue("COMMIT")
	q.Queue("BEGIN")
	err := t.withConn(func(c *pgx.Conn) error {
		br := c.SendBatch(ctx, &q)
		for i := 0; i < q.Len(); i++ {
			if _, err := br.Exec(); err != nil {
				br.Close()
				var pgErr *pgconn.PgError
				if !errors.As(err, &pgErr) && !pgconn.SafeToRetry(err) {
					return &commitError{err}
				}
				if i == commitAt {
					return fmt.Errorf("commit: %w", err)
				}
				return err
			}
			if i == commitAt {
				t.committed = true
			}
		}
		if err := br.Close(); err != nil && !t.committed {
			return err
		}
		return nil
	})
	t.tx.db.ledgerTrace(ledgerCommitted)
	return err
}

func pgAccountArrays(as []ledger.Account) []any {
	n := len(as)
	owner, id, cur := make([]string, n), make([]string, n), make([]string, n)
	code, flags, meta := make([]int64, n), make([]int64, n), make([][]byte, n)
	dp, dpo, cp, cpo, ts, leaf := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i := range as {
		a := &as[i]
		owner[i], id[i], cur[i], code[i], flags[i] = a.Owner, a.ID, string(a.Currency), int64(a.Code), int64(a.Flags)
		if len(a.Metadata) > 0 {
			meta[i] = a.Metadata
		}
		dp[i], dpo[i], cp[i], cpo[i] = int64(a.DebitsPending), int64(a.DebitsPosted), int64(a.CreditsPending), int64(a.CreditsPosted)
		ts[i], leaf[i] = ledgerNanos(a.Timestamp), a.LeafIndex
	}
	return []any{owner, id, cur, code, flags, meta, dp, dpo, cp, cpo, ts, leaf}
}

func pgPendingArrays(ps []ledger.Pending) []any {
	n := len(ps)
	owner, id, leaf, dr, cr, cur := make([]string, n), make([]string, n), make([]int64, n), make([]string, n), make([]string, n), make([]string, n)
	code, amount, posted, state, expires := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i := range ps {
		p := &ps[i]
		owner[i], id[i], leaf[i], dr[i], cr[i], cur[i] = p.Owner, p.ID, p.LeafIndex, p.DebitAccountID, p.CreditAccountID, string(p.Currency)
		code[i], amount[i], posted[i], state[i], expires[i] = int64(p.Code), int64(p.Amount), int64(p.AmountPosted), int64(p.State), ledgerNanos(p.ExpiresAt)
	}
	return []any{owner, id, leaf, dr, cr, cur, code, amount, posted, state, expires}
}

func pgAppendArgs(b *ledger.Batch) []any {
	na, nt, nl := len(b.UpdatedAccounts), len(b.Transfers), len(b.Tiles)
	aLeaf, dp, dpo, cp, cpo := make([]int64, na), make([]int64, na), make([]int64, na), make([]int64, na), make([]int64, na)
	for i := range b.UpdatedAccounts {
		a := &b.UpdatedAccounts[i]
		aLeaf[i], dp[i], dpo[i], cp[i], cpo[i] = a.LeafIndex, int64(a.DebitsPending), int64(a.DebitsPosted), int64(a.CreditsPending), int64(a.CreditsPosted)
	}
	tLeaf, owner, id, dr, cr := make([]int64, nt), make([]string, nt), make([]string, nt), make([]int64, nt), make([]int64, nt)
	for i := range b.Transfers {
		tr := &b.Transfers[i]
		tLeaf[i], owner[i], id[i], dr[i], cr[i] = tr.LeafIndex, tr.Owner, tr.ID, b.TransferAccounts[i][0], b.TransferAccounts[i][1]
	}
	level, n, data := make([]int64, nl), make([]int64, nl), make([][]byte, nl)
	for i, tile := range b.Tiles {
		level[i], n[i], data[i] = int64(tile.Tile.L), tile.Tile.N, tile.Data
	}
	c := b.Checkpoint
	return []any{aLeaf, dp, dpo, cp, cpo, tLeaf, owner, id, dr, cr, b.TransferLeaves,
		level, n, data, c.Size, c.Hash[:], c.Note, b.Head.Timestamp, b.Head.Writer}
}

// Points in a ledger batch on PostgreSQL, for tests that count round
// trips while the head is locked (DB.ledgerTraceFn).
const (
	ledgerLocked = iota + 1
	ledgerCommitted
)

func (db *DB) ledgerTrace(point int) {
	if f := db.ledgerTraceFn; f != nil {
		f(point)
	}
}
