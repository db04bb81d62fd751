package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/voucher"
	"github.com/kassa/kassa/webhook"
)

// Vouchers implements voucher.Store. Status changes and lockouts write their
// events to the webhook outbox in the same transaction.
type Vouchers struct {
	db    *DB
	hooks *Webhooks
}

// NewVouchers returns the voucher store over db.
func NewVouchers(db *DB) *Vouchers { return &Vouchers{db: db, hooks: NewWebhooks(db)} }

var _ voucher.Store = (*Vouchers)(nil)

// The voucher events go through the webhook outbox, which accepts only
// registered types.
func init() {
	for _, t := range voucher.EventTypes {
		webhook.RegisterEventType(t)
	}
}

// voucherInsertRowsMax bounds the rows of one multi-row INSERT (10
// parameters each, well within both backends' limits).
const voucherInsertRowsMax = 100

func (s *Vouchers) AllowIssuing(ctx context.Context, merchantID string, now time.Time) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM merchants WHERE id = ?`, merchantID).Scan(&n); err != nil {
			return fmt.Errorf("select merchant: %w", err)
		}
		if n == 0 {
			return errMerchantNotFound
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO voucher_distributors (merchant_id, created_at) VALUES (?, ?)
			ON CONFLICT (merchant_id) DO NOTHING`, merchantID, micros(now))
		if err != nil {
			return fmt.Errorf("insert distributor: %w", err)
		}
		return nil
	})
}

func (s *Vouchers) DisallowIssuing(ctx context.Context, merchantID string) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM voucher_distributors WHERE merchant_id = ?`, merchantID)
		return err
	})
}

func (s *Vouchers) IssuingAllowed(ctx context.Context, merchantID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM voucher_distributors WHERE merchant_id = ?`, merchantID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("select distributor: %w", err)
	}
	return n > 0, nil
}

func (s *Vouchers) CreateVouchers(ctx context.Context, vs []voucher.NewVoucher) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		for len(vs) > 0 {
			n := min(len(vs), voucherInsertRowsMax)
			if err := s.insertVouchers(ctx, tx, vs[:n]); err != nil {
				return err
			}
			vs = vs[n:]
		}
		return nil
	})
}

func (s *Vouchers) insertVouchers(ctx context.Context, tx *Tx, vs []voucher.NewVoucher) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO vouchers
		(id, serial, pin_hash, issued_by, amount, currency, status, created_at, expires_at, updated_at) VALUES `)
	args := make([]any, 0, 10*len(vs))
	for i, v := range vs {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, v.ID, v.Serial, v.PINHash, v.IssuedBy, int64(v.Amount), string(v.Currency),
			string(v.Status), micros(v.Created), micros(v.ExpiresAt), micros(v.Updated))
	}
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		if s.db.IsUniqueViolation(err) {
			return fmt.Errorf("insert vouchers: %w", voucher.ErrDuplicate)
		}
		return fmt.Errorf("insert vouchers: %w", err)
	}
	return nil
}

const voucherColumns = `id, serial, issued_by, amount, currency, status, created_at, expires_at, updated_at`

func scanVoucher(row interface{ Scan(...any) error }) (voucher.Voucher, error) {
	var v voucher.Voucher
	var amount, created, expires, updated int64
	var cur, status string
	if err := row.Scan(&v.ID, &v.Serial, &v.IssuedBy, &amount, &cur, &status, &created, &expires, &updated); err != nil {
		return v, err
	}
	v.Amount, v.Currency, v.Status = money.Amount(amount), money.Currency(cur), voucher.Status(status)
	v.Created, v.ExpiresAt, v.Updated = fromMicros(created), fromMicros(expires), fromMicros(updated)
	return v, nil
}

func (s *Vouchers) voucherWhere(ctx context.Context, q rowQuerier, where string, arg any) (voucher.Voucher, error) {
	v, err := scanVoucher(q.QueryRowContext(ctx, `SELECT `+voucherColumns+` FROM vouchers WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return v, voucher.ErrNotFound
	} else if err != nil {
		return v, fmt.Errorf("select voucher: %w", err)
	}
	return v, nil
}

// rowQuerier is a DB or a Tx.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Vouchers) VoucherBySerial(ctx context.Context, serial string) (voucher.Voucher, error) {
	return s.voucherWhere(ctx, s.db, `serial = ?`, serial)
}

func (s *Vouchers) VoucherByPINHash(ctx context.Context, hash []byte) (voucher.Voucher, error) {
	return s.voucherWhere(ctx, s.db, `pin_hash = ?`, hash)
}

func (s *Vouchers) SetStatus(ctx context.Context, serial string, from []voucher.Status, to voucher.Status, now time.Time,
	ev func(voucher.Voucher) (voucher.Event, error)) (voucher.Voucher, bool, error) {
	var v voucher.Voucher
	var changed bool
	err := s.db.Transact(ctx, func(tx *Tx) error {
		args := []any{string(to), micros(now), serial}
		for _, st := range from {
			args = append(args, string(st))
		}
		res, err := tx.ExecContext(ctx, `UPDATE vouchers SET status = ?, updated_at = ?
			WHERE serial = ? AND status IN (`+placeholders(len(from))+`)`, args...)
		if err != nil {
			return fmt.Errorf("update voucher status: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		changed = n == 1
		if v, err = s.voucherWhere(ctx, tx, `serial = ?`, serial); err != nil {
			return err
		}
		if !changed || ev == nil {
			return nil
		}
		e, err := ev(v)
		if err != nil {
			return err
		}
		return s.hooks.AppendEvent(ctx, tx, webhook.Event(e))
	})
	return v, changed, err
}

// placeholders returns n comma-separated '?' (n >= 1).
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func (s *Vouchers) ExpiringVouchers(ctx context.Context, now time.Time, limit int) ([]voucher.Voucher, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+voucherColumns+` FROM vouchers
		WHERE status IN ('active', 'locked') AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`, micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("select expiring vouchers: %w", err)
	}
	defer rows.Close()
	var vs []voucher.Voucher
	for rows.Next() {
		v, err := scanVoucher(rows)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

func (s *Vouchers) LockedOut(ctx context.Context, keys []voucher.AttemptKey, now time.Time) (voucher.Lockout, bool, error) {
	if len(keys) == 0 {
		return voucher.Lockout{}, false, nil
	}
	conds := make([]string, len(keys))
	args := []any{micros(now)}
	for i, k := range keys {
		conds[i] = `(scope = ? AND subject = ?)`
		args = append(args, string(k.Scope), k.Subject)
	}
	var l voucher.Lockout
	var scope string
	var created, until int64
	err := s.db.QueryRowContext(ctx, `SELECT scope, subject, failures, created_at, locked_until FROM voucher_lockouts
		WHERE locked_until > ? AND (`+strings.Join(conds, " OR ")+`) ORDER BY locked_until DESC LIMIT 1`, args...).
		Scan(&scope, &l.Key.Subject, &l.Failures, &created, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return l, false, nil
	} else if err != nil {
		return l, false, fmt.Errorf("select lockouts: %w", err)
	}
	l.Key.Scope, l.Created, l.Until = voucher.Scope(scope), fromMicros(created), fromMicros(until)
	return l, true, nil
}

func (s *Vouchers) RecordFailures(ctx context.Context, now time.Time, fs []voucher.Failure,
	ev func(voucher.Lockout) (voucher.Event, error)) ([]voucher.Lockout, error) {
	var created []voucher.Lockout
	err := s.db.Transact(ctx, func(tx *Tx) error {
		created = created[:0]
		limits := map[voucher.AttemptKey]voucher.Limit{}
		var order []voucher.AttemptKey
		for _, f := range fs {
			_, err := tx.ExecContext(ctx, `INSERT INTO voucher_pin_failures (scope, subject, created_at) VALUES (?, ?, ?)`,
				string(f.Key.Scope), f.Key.Subject, micros(now))
			if err != nil {
				return fmt.Errorf("insert failure: %w", err)
			}
			if _, ok := limits[f.Key]; !ok {
				order = append(order, f.Key)
			}
			limits[f.Key] = f.Limit
		}
		// Keys are locked in one order (lockOrder), as ReserveAttempt
		// does, so two transactions never wait for each other.
		slices.SortFunc(order, lockOrder)
		for _, k := range order {
			l, ok, err := s.maybeLockOut(ctx, tx, k, limits[k], now)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			e, err := ev(l)
			if err != nil {
				return err
			}
			if err := s.hooks.AppendEvent(ctx, tx, webhook.Event(e)); err != nil {
				return err
			}
			created = append(created, l)
		}
		return nil
	})
	return created, err
}

// maybeLockOut locks k out if it reached its limit and is not locked out.
// Failures before the end of its previous lockout do not count again.
func (s *Vouchers) maybeLockOut(ctx context.Context, tx *Tx, k voucher.AttemptKey, lim voucher.Limit, now time.Time) (voucher.Lockout, bool, error) {
	since := micros(now.Add(-lim.Window)) // exclusive
	// The key's row is locked before its failures are counted: on
	// PostgreSQL, transactions recording failures of one key at once
	// would otherwise each count without the others' (not yet committed)
	// and none would see the limit reached: no lockout, no event.
	// Waiting for the lock, this one counts theirs once they commit.
	_, err := tx.ExecContext(ctx, `INSERT INTO voucher_lockouts (scope, subject, failures, created_at, locked_until)
		VALUES (?, ?, 0, ?, 0) ON CONFLICT (scope, subject) DO NOTHING`, string(k.Scope), k.Subject, micros(now))
	if err != nil {
		return voucher.Lockout{}, false, fmt.Errorf("insert lockout: %w", err)
	}
	var prevUntil int64
	err = tx.QueryRowContext(ctx, `SELECT locked_until FROM voucher_lockouts WHERE scope = ? AND subject = ?`+s.forUpdate(),
		string(k.Scope), k.Subject).Scan(&prevUntil)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return voucher.Lockout{}, false, fmt.Errorf("select lockout: %w", err)
	case prevUntil > micros(now):
		return voucher.Lockout{}, false, nil
	default:
		since = max(since, prevUntil-1)
	}
	var n int
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM voucher_pin_failures
		WHERE scope = ? AND subject = ? AND created_at > ?`, string(k.Scope), k.Subject, since).Scan(&n)
	if err != nil {
		return voucher.Lockout{}, false, fmt.Errorf("count failures: %w", err)
	}
	if n < lim.Failures {
		return voucher.Lockout{}, false, nil
	}
	l := voucher.Lockout{Key: k, Failures: n, Created: now, Until: now.Add(lim.Lockout)}
	// The WHERE makes a concurrent transaction that locked k out first win:
	// this one then changes no row and publishes nothing.
	res, err := tx.ExecContext(ctx, `INSERT INTO voucher_lockouts (scope, subject, failures, created_at, locked_until)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (scope, subject) DO UPDATE SET failures = excluded.failures, created_at = excluded.created_at,
			locked_until = excluded.locked_until
		WHERE voucher_lockouts.locked_until <= ?`,
		string(k.Scope), k.Subject, n, micros(now), micros(l.Until), micros(now))
	if err != nil {
		return l, false, fmt.Errorf("upsert lockout: %w", err)
	}
	changed, err := res.RowsAffected()
	if err != nil {
		return l, false, err
	}
	return l, changed == 1, nil
}

func (s *Vouchers) PruneAttempts(ctx context.Context, before time.Time) (int, error) {
	b := micros(before)
	return s.db.prune(ctx, []sqlStatement{
		{`DELETE FROM voucher_pin_failures WHERE created_at < ?`, []any{b}},
		// An empty row (attemptPlaces) has no locked_until; its created_at
		// is when it was made. A lockout began before it ended.
		{`DELETE FROM voucher_lockouts WHERE locked_until < ? AND created_at < ?`, []any{b, b}},
		{`DELETE FROM voucher_pin_attempts WHERE expires_at < ?`, []any{b}},
	})
}

func (s *Vouchers) ReserveAttempt(ctx context.Context, a voucher.Attempt, now time.Time) (voucher.Lockout, bool, error) {
	var refused voucher.Lockout
	var ok bool
	err := s.db.Transact(ctx, func(tx *Tx) error {
		refused, ok = voucher.Lockout{}, true
		keys := slices.Clone(a.Keys)
		slices.SortFunc(keys, func(a, b voucher.Failure) int { return lockOrder(a.Key, b.Key) })
		for _, f := range keys {
			l, free, err := s.attemptPlaces(ctx, tx, f, now)
			if err != nil {
				return err
			}
			switch {
			case l.Until.After(now):
				if ok || refused.Until.Before(l.Until) {
					refused = l
				}
				ok = false
			case !free && ok:
				refused, ok = l, false
			}
		}
		if !ok {
			return nil
		}
		for _, f := range a.Keys {
			_, err := tx.ExecContext(ctx, `INSERT INTO voucher_pin_attempts (attempt_id, scope, subject, places, expires_at)
				VALUES (?, ?, ?, ?, ?)`, a.ID, string(f.Key.Scope), f.Key.Subject, a.Places, micros(a.Until))
			if err != nil {
				return fmt.Errorf("insert attempt: %w", err)
			}
		}
		return nil
	})
	return refused, ok, err
}

// attemptPlaces locks the lockout row of f's key (creating an empty one:
// no failures, locked_until 0, created_at now)
// until tx ends and reports the lockout in force, or whether the key has
// a place left at now: its failures since the window began (and its last
// lockout ended) and the places of the attempts under way are below
// f.Limit.Failures. Every reservation of a key takes the same row lock,
// so they run one after the other on PostgreSQL too.
func (s *Vouchers) attemptPlaces(ctx context.Context, tx *Tx, f voucher.Failure, now time.Time) (voucher.Lockout, bool, error) {
	k := f.Key
	_, err := tx.ExecContext(ctx, `INSERT INTO voucher_lockouts (scope, subject, failures, created_at, locked_until)
		VALUES (?, ?, 0, ?, 0) ON CONFLICT (scope, subject) DO NOTHING`, string(k.Scope), k.Subject, micros(now))
	if err != nil {
		return voucher.Lockout{}, false, fmt.Errorf("insert lockout: %w", err)
	}
	l := voucher.Lockout{Key: k}
	var created, until int64
	err = tx.QueryRowContext(ctx, `SELECT failures, created_at, locked_until FROM voucher_lockouts
		WHERE scope = ? AND subject = ?`+s.forUpdate(), string(k.Scope), k.Subject).Scan(&l.Failures, &created, &until)
	if err != nil {
		return l, false, fmt.Errorf("select lockout: %w", err)
	}
	if until > micros(now) {
		l.Created, l.Until = fromMicros(created), fromMicros(until)
		return l, false, nil
	}
	since := max(micros(now.Add(-f.Limit.Window)), until-1) // exclusive, as maybeLockOut
	var failures, places int
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM voucher_pin_failures WHERE scope = ? AND subject = ? AND created_at > ?`,
		string(k.Scope), k.Subject, since).Scan(&failures)
	if err != nil {
		return l, false, fmt.Errorf("count failures: %w", err)
	}
	err = tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(places), 0) FROM voucher_pin_attempts
		WHERE scope = ? AND subject = ? AND expires_at > ?`, string(k.Scope), k.Subject, micros(now)).Scan(&places)
	if err != nil {
		return l, false, fmt.Errorf("count attempts: %w", err)
	}
	l = voucher.Lockout{Key: k, Failures: failures}
	return l, failures+places < f.Limit.Failures, nil
}

func (s *Vouchers) FailuresOf(ctx context.Context, f voucher.Failure, now time.Time) (voucher.Lockout, error) {
	var l voucher.Lockout
	err := s.db.Transact(ctx, func(tx *Tx) error {
		var err error
		l, _, err = s.attemptPlaces(ctx, tx, f, now)
		return err
	})
	return l, err
}

// EndAttempt gives an attempt's places back. On SQLite the caller does not
// wait for the commit (issue 15: it was one of the two commits of its
// own a voucher confirmation waited for besides the payment's): the
// delete is queued to the write combiner before EndAttempt returns, so
// every reservation this process makes afterwards runs after it and sees
// the places back, exactly as if it had waited; it commits with the next
// batch, usually the confirmation's own ledger commit. Lost in a crash,
// the places lapse with their lease, as when this fails.
func (s *Vouchers) EndAttempt(ctx context.Context, id string) error {
	end := func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM voucher_pin_attempts WHERE attempt_id = ?`, id); err != nil {
			return fmt.Errorf("delete attempt: %w", err)
		}
		return nil
	}
	var err error
	s.db.TransactNoWait(ctx, end, func(e error) {
		if e == nil {
			return
		}
		if s.db.comb == nil {
			err = e // PostgreSQL: TransactNoWait waited
			return
		}
		if l := s.db.logger.Load(); l != nil {
			l.Error("voucher: end PIN attempt (its places lapse with their lease)", "err", e)
		}
	})
	return err
}

// lockOrder is the order in which a transaction locks keys' lockout rows.
func lockOrder(a, b voucher.AttemptKey) int {
	return cmp.Or(cmp.Compare(a.Scope, b.Scope), cmp.Compare(a.Subject, b.Subject))
}

// forUpdate locks the rows a SELECT reads until the transaction ends on
// PostgreSQL; SQLite has one writer.
func (s *Vouchers) forUpdate() string {
	if s.db.Dialect() == Postgres {
		return " FOR UPDATE"
	}
	return ""
}
