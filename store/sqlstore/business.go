package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/webhook"
)

// Business implements business.Store (migration 0140).
type Business struct {
	db     *DB
	events *Webhooks
}

// NewBusiness returns the business accounts store over db.
func NewBusiness(db *DB) *Business { return &Business{db: db, events: NewWebhooks(db)} }

var _ business.Store = (*Business)(nil)

// forUpdate locks a row read in a transaction on PostgreSQL; SQLite's
// BEGIN IMMEDIATE already excludes other writers.
func (s *Business) forUpdate() string {
	if s.db.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// lockMerchant serializes a merchant's limited inserts (check-then-act).
func (s *Business) lockMerchant(ctx context.Context, tx *Tx, merchantID string) error {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM merchants WHERE id = ?`+s.forUpdate(), merchantID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return kassa.Errorf(kassa.ENotFound, "merchant_not_found", "no such merchant")
	}
	return err
}

func (s *Business) SetPricing(ctx context.Context, p business.Pricing, max int) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		if err := s.lockMerchant(ctx, tx, p.MerchantID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM merchant_pricing WHERE merchant_id = ?
			AND NOT (method = ? AND currency = ?)`, p.MerchantID, p.Method, string(p.Currency)).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return kassa.Errorf(kassa.EUnprocessable, "pricing_limit", "a merchant has at most %d pricing rows", max)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO merchant_pricing (merchant_id, method, currency, percent_bps, fixed, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (merchant_id, method, currency)
			DO UPDATE SET percent_bps = excluded.percent_bps, fixed = excluded.fixed, updated_at = excluded.updated_at`,
			p.MerchantID, p.Method, string(p.Currency), p.PercentBps, int64(p.Fixed), micros(p.Updated))
		return err
	})
}

func (s *Business) DeletePricing(ctx context.Context, merchantID, method string, cur money.Currency) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM merchant_pricing WHERE merchant_id = ? AND method = ? AND currency = ?`,
			merchantID, method, string(cur))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return kassa.Errorf(kassa.ENotFound, "pricing_not_found", "no such pricing row")
		}
		return nil
	})
}

func (s *Business) Pricing(ctx context.Context, merchantID string) ([]business.Pricing, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT method, currency, percent_bps, fixed, updated_at FROM merchant_pricing
		WHERE merchant_id = ? ORDER BY method, currency`, merchantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []business.Pricing
	for rows.Next() {
		p := business.Pricing{MerchantID: merchantID}
		var cur string
		var upd int64
		if err := rows.Scan(&p.Method, &cur, &p.PercentBps, &p.Fixed, &upd); err != nil {
			return nil, err
		}
		p.Currency, p.Updated = money.Currency(cur), fromMicros(upd)
		out = append(out, p)
	}
	return out, rows.Err()
}

const businessColumns = `merchant_id, delay_seconds, iban, account_holder, bank_verified_at, schedule, schedule_anchor,
	settled_through, updated_at`

func scanSettings(r interface{ Scan(...any) error }) (business.Settings, error) {
	var st business.Settings
	var delay, verified, through, upd int64
	err := r.Scan(&st.MerchantID, &delay, &st.IBAN, &st.AccountHolder, &verified, &st.Schedule, &st.Anchor, &through, &upd)
	st.Delay = time.Duration(delay) * time.Second
	st.BankVerified, st.SettledThrough, st.Updated = timeOrZero(verified), timeOrZero(through), fromMicros(upd)
	return st, err
}

func (s *Business) Settings(ctx context.Context, merchantID string) (business.Settings, error) {
	st, err := scanSettings(s.db.QueryRowContext(ctx, `SELECT `+businessColumns+` FROM merchant_business WHERE merchant_id = ?`, merchantID))
	if errors.Is(err, sql.ErrNoRows) {
		return business.Settings{}, nil
	}
	return st, err
}

func (s *Business) SetSettings(ctx context.Context, st business.Settings) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO merchant_business (`+businessColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (merchant_id) DO UPDATE SET delay_seconds = excluded.delay_seconds, iban = excluded.iban,
			account_holder = excluded.account_holder, bank_verified_at = excluded.bank_verified_at,
			schedule = excluded.schedule, schedule_anchor = excluded.schedule_anchor, updated_at = excluded.updated_at`,
			st.MerchantID, int64(st.Delay/time.Second), st.IBAN, st.AccountHolder, microsOrZero(st.BankVerified),
			st.Schedule, st.Anchor, microsOrZero(st.SettledThrough), micros(st.Updated))
		return err
	})
}

func (s *Business) Scheduled(ctx context.Context) ([]business.Settings, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+businessColumns+` FROM merchant_business
		WHERE schedule <> 'manual' AND bank_verified_at > 0 ORDER BY merchant_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []business.Settings
	for rows.Next() {
		st, err := scanSettings(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

func (s *Business) MarkSettled(ctx context.Context, merchantID string, through time.Time) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE merchant_business SET settled_through = ? WHERE merchant_id = ? AND settled_through < ?`,
			micros(through), merchantID, micros(through))
		return err
	})
}

func (s *Business) RecordChargeTx(ctx context.Context, ltx ledger.Tx, c payment.Charge) error {
	tx, err := ledgerTxOf(ltx)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO payment_fees (payment_id, merchant_id, currency, amount, fee, held, available_on, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.PaymentID, c.MerchantID, string(c.Currency), int64(c.Amount), int64(c.Fee),
		int64(c.Held), micros(c.AvailableOn), micros(c.Created))
	if err != nil {
		return fmt.Errorf("insert payment fee: %w", err)
	}
	return nil
}

// ChargeMovements: a hold counts as pending while its available_on is
// ahead (whatever the ledger says: an early release is a mismatch), and
// after it while the ledger has not released it yet.
func (s *Business) ChargeMovements(ctx context.Context, now time.Time) (map[string]payment.Movement, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT f.merchant_id, f.currency, CAST(COALESCE(SUM(f.fee), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN f.held > 0 AND (f.available_on > ? OR lp.state = 1) THEN f.held ELSE 0 END), 0) AS BIGINT)
		FROM payment_fees f LEFT JOIN ledger_pending lp ON lp.owner = '' AND lp.id = 'pay:' || f.payment_id || ':hold'
		GROUP BY f.merchant_id, f.currency`, micros(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]payment.Movement{}
	for rows.Next() {
		var m, cur string
		var fee, held int64
		if err := rows.Scan(&m, &cur, &fee, &held); err != nil {
			return nil, err
		}
		out[payment.MerchantAccount(m, money.Currency(cur))] = payment.Movement{Posted: money.Amount(-fee), Pending: money.Amount(-held)}
	}
	return out, rows.Err()
}

func (s *Business) SyncState(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT next_leaf FROM balance_sync WHERE id = 1`).Scan(&n)
	return n, err
}

// ledgerExtendMax bounds the leaves read past limit to finish a capture.
const ledgerExtendMax = 64

func (s *Business) LedgerTransfers(ctx context.Context, from int64, limit int) ([]ledger.Transfer, int64, error) {
	var head int64
	if err := s.db.QueryRowContext(ctx, `SELECT size FROM ledger_head WHERE id = 1`).Scan(&head); err != nil {
		return nil, 0, err
	}
	if head <= from {
		return nil, from, nil
	}
	ts, err := s.platformTransfers(ctx, from, head, limit)
	if err != nil {
		return nil, 0, err
	}
	if len(ts) < limit {
		return ts, head, nil
	}
	// Never end a step inside a capture: its fee and hold follow the
	// payment's own transfers, in one ledger call (consecutive leaves).
	last := ts[len(ts)-1]
	if prefix, ok := capturePrefix(last.ID); ok {
		more, err := s.platformTransfers(ctx, last.LeafIndex+1, head, ledgerExtendMax)
		if err != nil {
			return nil, 0, err
		}
		for _, t := range more {
			if !strings.HasPrefix(t.ID, prefix) {
				break
			}
			ts = append(ts, t)
		}
	}
	return ts, ts[len(ts)-1].LeafIndex + 1, nil
}

func capturePrefix(id string) (string, bool) {
	rest, ok := strings.CutPrefix(id, "pay:")
	if !ok {
		return "", false
	}
	pid, _, ok := strings.Cut(rest, ":")
	return "pay:" + pid + ":", ok
}

func (s *Business) platformTransfers(ctx context.Context, from, below int64, limit int) ([]ledger.Transfer, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT leaf, owner, id, data FROM ledger_transfers
		WHERE leaf >= ? AND leaf < ? AND owner = '' ORDER BY leaf LIMIT ?`, from, below, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.Transfer
	for rows.Next() {
		var t ledger.Transfer
		if err := scanLedgerTransfer(rows, &t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *Business) PendingAmount(ctx context.Context, id string) (money.Amount, error) {
	var a int64
	err := s.db.QueryRowContext(ctx, `SELECT amount FROM ledger_pending WHERE owner = '' AND id = ?`, id).Scan(&a)
	return money.Amount(a), err
}

const txnColumns = `id, merchant_id, type, amount, fee, net, currency, source, available_on, created_at, transfer_id,
	ledger_leaf, settlement`

func scanTxn(r interface{ Scan(...any) error }) (business.Txn, error) {
	var x business.Txn
	var cur string
	var avail, created int64
	err := r.Scan(&x.ID, &x.MerchantID, &x.Type, &x.Amount, &x.Fee, &x.Net, &cur, &x.Source, &avail, &created,
		&x.TransferID, &x.LedgerLeaf, &x.Settlement)
	x.Currency, x.AvailableOn, x.Created = money.Currency(cur), fromMicros(avail), fromMicros(created)
	return x, err
}

func (s *Business) insertTxn(ctx context.Context, tx *Tx, x business.Txn) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO balance_transactions (`+txnColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		x.ID, x.MerchantID, x.Type, int64(x.Amount), int64(x.Fee), int64(x.Net), string(x.Currency), x.Source,
		micros(x.AvailableOn), micros(x.Created), x.TransferID, x.LedgerLeaf, x.Settlement)
	return err
}

func (s *Business) ApplySync(ctx context.Context, b business.SyncBatch) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE balance_sync SET next_leaf = ? WHERE id = 1 AND next_leaf = ?`, b.To, b.From)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // another node did this step
		}
		for _, x := range b.Txns {
			if err := s.insertTxn(ctx, tx, x); err != nil {
				return fmt.Errorf("insert balance transaction: %w", err)
			}
		}
		for _, u := range b.Updates {
			if err := s.applyUpdate(ctx, tx, u); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Business) applyUpdate(ctx context.Context, tx *Tx, u business.FeeUpdate) error {
	if !u.AvailableOn.IsZero() {
		_, err := tx.ExecContext(ctx, `UPDATE balance_transactions SET available_on = ?
			WHERE source = ? AND type = 'charge' AND ledger_leaf <= ?`, micros(u.AvailableOn), u.Source, u.Leaf)
		if err != nil {
			return err
		}
	}
	if u.Fee < 0 {
		return nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE balance_transactions SET fee = ?, net = amount - ?
		WHERE id = (SELECT id FROM balance_transactions WHERE source = ? AND type = 'charge' AND ledger_leaf <= ?
			ORDER BY ledger_leaf DESC LIMIT 1)`, int64(u.Fee), int64(u.Fee), u.Source, u.Leaf)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 || u.Orphan == nil {
		return err
	}
	return s.insertTxn(ctx, tx, *u.Orphan)
}

func (s *Business) Txns(ctx context.Context, f business.TxnFilter) ([]business.Txn, bool, error) {
	where := []string{"merchant_id = ?"}
	args := []any{f.MerchantID}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, f.Type)
	}
	if f.Settlement != "" {
		where, args = append(where, "settlement = ?"), append(args, f.Settlement)
	}
	if !f.CreatedGTE.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, micros(f.CreatedGTE))
	}
	if !f.CreatedLT.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, micros(f.CreatedLT))
	}
	if f.StartingAfter != "" {
		var leaf int64
		err := s.db.QueryRowContext(ctx, `SELECT ledger_leaf FROM balance_transactions WHERE id = ? AND merchant_id = ?`,
			f.StartingAfter, f.MerchantID).Scan(&leaf)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, kassa.Invalid("starting_after", "cursor_invalid", "starting_after names no balance transaction of yours")
		} else if err != nil {
			return nil, false, err
		}
		where, args = append(where, "(ledger_leaf < ? OR (ledger_leaf = ? AND id < ?))"), append(args, leaf, leaf, f.StartingAfter)
	}
	args = append(args, f.Limit+1)
	rows, err := s.db.QueryContext(ctx, `SELECT `+txnColumns+` FROM balance_transactions WHERE `+strings.Join(where, " AND ")+
		` ORDER BY ledger_leaf DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []business.Txn
	for rows.Next() {
		x, err := scanTxn(rows)
		if err != nil {
			return nil, false, err
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(out) > f.Limit {
		return out[:f.Limit], true, nil
	}
	return out, false, nil
}

func (s *Business) Txn(ctx context.Context, merchantID, id string) (business.Txn, error) {
	x, err := scanTxn(s.db.QueryRowContext(ctx, `SELECT `+txnColumns+` FROM balance_transactions WHERE id = ? AND merchant_id = ?`,
		id, merchantID))
	if errors.Is(err, sql.ErrNoRows) {
		return x, kassa.Errorf(kassa.ENotFound, "balance_transaction_not_found", "no such balance transaction")
	}
	return x, err
}

func (s *Business) Currencies(ctx context.Context, merchantID string) ([]money.Currency, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT currency FROM balance_transactions WHERE merchant_id = ? ORDER BY currency`, merchantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []money.Currency
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, money.Currency(c))
	}
	return out, rows.Err()
}

const unsettledWhere = `merchant_id = ? AND currency = ? AND settlement = '' AND available_on <= ? AND ledger_leaf < ?`

func unsettledArgs(q business.SettleQuery) []any {
	return []any{q.MerchantID, string(q.Currency), micros(q.AvailableBy), q.BelowLeaf}
}

func (s *Business) Unsettled(ctx context.Context, q business.SettleQuery) (money.Amount, int, error) {
	var sum int64
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT CAST(COALESCE(SUM(net), 0) AS BIGINT), COUNT(*) FROM balance_transactions
		WHERE `+unsettledWhere, unsettledArgs(q)...).Scan(&sum, &n)
	return money.Amount(sum), n, err
}

func (s *Business) SettleTx(ctx context.Context, ltx ledger.Tx, q business.SettleQuery, settlement string) (money.Amount, int, error) {
	tx, err := ledgerTxOf(ltx)
	if err != nil {
		return 0, 0, err
	}
	var sum int64
	if err := tx.QueryRowContext(ctx, `SELECT CAST(COALESCE(SUM(net), 0) AS BIGINT) FROM balance_transactions
		WHERE `+unsettledWhere, unsettledArgs(q)...).Scan(&sum); err != nil {
		return 0, 0, err
	}
	res, err := tx.ExecContext(ctx, `UPDATE balance_transactions SET settlement = ? WHERE `+unsettledWhere,
		append([]any{settlement}, unsettledArgs(q)...)...)
	if err != nil {
		return 0, 0, err
	}
	n, err := res.RowsAffected()
	return money.Amount(sum), int(n), err
}

func (s *Business) SettlementLines(ctx context.Context, merchantID, settlement string) (int, money.Amount, error) {
	var n int
	var sum int64
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), CAST(COALESCE(SUM(net), 0) AS BIGINT) FROM balance_transactions
		WHERE merchant_id = ? AND settlement = ? AND source <> ?`, merchantID, settlement, settlement).Scan(&n, &sum)
	return n, money.Amount(sum), err
}

func (s *Business) Settlements(ctx context.Context, merchantID, startingAfter string, limit int) ([]payout.Payout, bool, error) {
	where := []string{"merchant_id = ?", "substr(id, 1, 4) = 'stl_'"}
	args := []any{merchantID}
	if startingAfter != "" {
		var created int64
		err := s.db.QueryRowContext(ctx, `SELECT created_at FROM payouts WHERE id = ? AND merchant_id = ? AND substr(id, 1, 4) = 'stl_'`,
			startingAfter, merchantID).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, kassa.Invalid("starting_after", "cursor_invalid", "starting_after names no settlement of yours")
		} else if err != nil {
			return nil, false, err
		}
		where, args = append(where, "(created_at < ? OR (created_at = ? AND id < ?))"), append(args, created, created, startingAfter)
	}
	args = append(args, limit+1)
	ps, err := NewPayouts(s.db).query(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, false, err
	}
	if len(ps) > limit {
		return ps[:limit], true, nil
	}
	return ps, false, nil
}

// Reports.

const reportColumns = `id, merchant_id, type, format, timezone, interval_start, interval_end, status, failure_message,
	tree_size, root_hash, rows_count, size_bytes, sha256, created_at, completed_at, attempts, next_attempt_at`

func scanReport(r interface{ Scan(...any) error }) (business.Report, error) {
	var x business.Report
	var start, end, created, completed, next int64
	err := r.Scan(&x.ID, &x.MerchantID, &x.Type, &x.Format, &x.Timezone, &start, &end, &x.Status, &x.FailureMessage,
		&x.TreeSize, &x.RootHash, &x.Rows, &x.Size, &x.SHA256, &created, &completed, &x.Attempts, &next)
	x.Start, x.End, x.Created, x.Completed = fromMicros(start), fromMicros(end), fromMicros(created), timeOrZero(completed)
	x.NextAttempt = timeOrZero(next)
	return x, err
}

var errReportNotFound = kassa.Errorf(kassa.ENotFound, "report_not_found", "no such report")

func (s *Business) CreateReport(ctx context.Context, r business.Report, max int) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		if err := s.lockMerchant(ctx, tx, r.MerchantID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM reports WHERE merchant_id = ? AND status = 'pending'`,
			r.MerchantID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return kassa.Errorf(kassa.ERateLimited, "reports_pending_limit",
				"%d reports are pending already; wait for them before asking for more", n)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO reports (`+reportColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.MerchantID, r.Type, r.Format, r.Timezone, micros(r.Start), micros(r.End), r.Status, r.FailureMessage,
			r.TreeSize, r.RootHash, r.Rows, r.Size, r.SHA256, micros(r.Created), microsOrZero(r.Completed),
			r.Attempts, microsOrZero(r.NextAttempt))
		return err
	})
}

func (s *Business) Report(ctx context.Context, merchantID, id string) (business.Report, error) {
	r, err := scanReport(s.db.QueryRowContext(ctx, `SELECT `+reportColumns+` FROM reports WHERE id = ? AND merchant_id = ?`, id, merchantID))
	if errors.Is(err, sql.ErrNoRows) {
		return r, errReportNotFound
	}
	return r, err
}

func (s *Business) reports(ctx context.Context, q string, args ...any) ([]business.Report, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []business.Report
	for rows.Next() {
		r, err := scanReport(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *Business) Reports(ctx context.Context, merchantID, startingAfter string, limit int) ([]business.Report, bool, error) {
	where := []string{"merchant_id = ?"}
	args := []any{merchantID}
	if startingAfter != "" {
		var created int64
		err := s.db.QueryRowContext(ctx, `SELECT created_at FROM reports WHERE id = ? AND merchant_id = ?`,
			startingAfter, merchantID).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, kassa.Invalid("starting_after", "cursor_invalid", "starting_after names no report of yours")
		} else if err != nil {
			return nil, false, err
		}
		where, args = append(where, "(created_at < ? OR (created_at = ? AND id < ?))"), append(args, created, created, startingAfter)
	}
	args = append(args, limit+1)
	rs, err := s.reports(ctx, `SELECT `+reportColumns+` FROM reports WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, false, err
	}
	if len(rs) > limit {
		return rs[:limit], true, nil
	}
	return rs, false, nil
}

func (s *Business) PendingReports(ctx context.Context, now time.Time, limit int) ([]business.Report, error) {
	return s.reports(ctx, `SELECT `+reportColumns+` FROM reports WHERE status = 'pending' AND next_attempt_at <= ?
		ORDER BY created_at, id LIMIT ?`, micros(now), limit)
}

func (s *Business) RetryReport(ctx context.Context, id string, attempts int, next time.Time) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE reports SET attempts = ?, next_attempt_at = ? WHERE id = ? AND status = 'pending'`,
			attempts, micros(next), id)
		return err
	})
}

func (s *Business) FinishReport(ctx context.Context, r business.Report, ev webhook.Event) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE reports SET status = ?, failure_message = ?, tree_size = ?, root_hash = ?,
			rows_count = ?, size_bytes = ?, sha256 = ?, completed_at = ? WHERE id = ? AND status = 'pending'`,
			r.Status, r.FailureMessage, r.TreeSize, r.RootHash, r.Rows, r.Size, r.SHA256, microsOrZero(r.Completed), r.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // another node finished it
		}
		if r.Status != business.ReportSucceeded {
			if _, err := tx.ExecContext(ctx, `DELETE FROM report_chunks WHERE report_id = ?`, r.ID); err != nil {
				return err
			}
		}
		return s.events.AppendEvent(ctx, tx, ev)
	})
}

// reportWriter stores a report file in chunks of business.ReportChunkBytes,
// each in its own short transaction, so neither memory nor a transaction
// grows with the report.
type reportWriter struct {
	s   *Business
	ctx context.Context
	id  string
	buf []byte
	seq int64
}

func (s *Business) ReportWriter(ctx context.Context, id string) (business.ReportFileWriter, error) {
	// A report a stopped node began is written again from the start.
	err := s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM report_chunks WHERE report_id = ?`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &reportWriter{s: s, ctx: ctx, id: id, buf: make([]byte, 0, business.ReportChunkBytes)}, nil
}

func (w *reportWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(cap(w.buf)-len(w.buf), len(p))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

func (w *reportWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.s.db.Transact(w.ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(w.ctx, `INSERT INTO report_chunks (report_id, seq, data) VALUES (?, ?, ?)`, w.id, w.seq, w.buf)
		return err
	})
	if err != nil {
		return fmt.Errorf("report chunk: %w", err)
	}
	w.seq++
	w.buf = w.buf[:0]
	return nil
}

func (w *reportWriter) Close() error { return w.flush() }

func (w *reportWriter) Abort() {
	_ = w.s.db.Transact(context.WithoutCancel(w.ctx), func(tx *Tx) error {
		_, err := tx.ExecContext(w.ctx, `DELETE FROM report_chunks WHERE report_id = ?`, w.id)
		return err
	})
}

func (s *Business) ReportFile(ctx context.Context, merchantID, id string, w io.Writer) error {
	r, err := s.Report(ctx, merchantID, id)
	if err != nil {
		return err
	}
	if r.Status != business.ReportSucceeded {
		return kassa.Errorf(kassa.EConflict, "report_not_ready", "the report is %s; its file exists once it succeeded", r.Status)
	}
	for seq := int64(0); ; seq++ {
		var data []byte
		err := s.db.QueryRowContext(ctx, `SELECT data FROM report_chunks WHERE report_id = ? AND seq = ?`, id, seq).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
}

func (s *Business) NetBefore(ctx context.Context, merchantID string, belowLeaf int64, t time.Time) (map[money.Currency]money.Amount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT currency, CAST(COALESCE(SUM(net), 0) AS BIGINT) FROM balance_transactions
		WHERE merchant_id = ? AND ledger_leaf < ? AND created_at < ? GROUP BY currency`, merchantID, belowLeaf, micros(t))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[money.Currency]money.Amount{}
	for rows.Next() {
		var cur string
		var sum int64
		if err := rows.Scan(&cur, &sum); err != nil {
			return nil, err
		}
		out[money.Currency(cur)] = money.Amount(sum)
	}
	return out, rows.Err()
}

func (s *Business) Activity(ctx context.Context, merchantID string, belowLeaf int64, start, end time.Time) ([]business.SummaryLine, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT currency, type, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT),
		CAST(COALESCE(SUM(fee), 0) AS BIGINT), CAST(COALESCE(SUM(net), 0) AS BIGINT) FROM balance_transactions
		WHERE merchant_id = ? AND ledger_leaf < ? AND created_at >= ? AND created_at < ?
		GROUP BY currency, type ORDER BY currency, type`, merchantID, belowLeaf, micros(start), micros(end))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []business.SummaryLine
	for rows.Next() {
		var l business.SummaryLine
		var cur string
		if err := rows.Scan(&cur, &l.Type, &l.Count, &l.Amount, &l.Fee, &l.Net); err != nil {
			return nil, err
		}
		l.Currency = money.Currency(cur)
		out = append(out, l)
	}
	return out, rows.Err()
}
