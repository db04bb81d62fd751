package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa/lease"
)

// Leases implements lease.Store: one row per job in job_leases, times on
// the database's clock.
type Leases struct{ db *DB }

// NewLeases returns the lease store over db.
func NewLeases(db *DB) *Leases { return &Leases{db: db} }

var _ lease.Store = (*Leases)(nil)

// clockNow reads the database's clock in unix microseconds: every node's
// lease is measured on the same clock, whatever the nodes' own say.
func (db *DB) clockNow(ctx context.Context, tx *Tx) (int64, error) {
	q := `SELECT CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)`
	if db.dialect == Postgres {
		q = `SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT`
	}
	var now int64
	if err := tx.QueryRowContext(ctx, q).Scan(&now); err != nil {
		return 0, fmt.Errorf("read database clock: %w", err)
	}
	return now, nil
}

func (s *Leases) Acquire(ctx context.Context, job, holder string, held int64, ttl time.Duration) (int64, bool, error) {
	var epoch int64
	var ok bool
	err := s.db.Transact(ctx, func(tx *Tx) error {
		epoch, ok = 0, false
		now, err := s.db.clockNow(ctx, tx)
		if err != nil {
			return err
		}
		until := now + ttl.Microseconds()
		res, err := tx.ExecContext(ctx, `INSERT INTO job_leases (name, holder, epoch, expires_at, acquired_at)
			VALUES (?, ?, 1, ?, ?) ON CONFLICT (name) DO NOTHING`, job, holder, until, now)
		if err != nil {
			return fmt.Errorf("insert lease: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			epoch, ok = 1, true
			return nil
		}
		// A renewal keeps the epoch; a takeover of an expired lease
		// increments it, which fences the previous holder's writes. On
		// PostgreSQL two takeovers racing for one row serialize on its
		// row lock and the second re-checks the expiry, so one wins.
		err = tx.QueryRowContext(ctx, `UPDATE job_leases SET
				epoch = CASE WHEN holder = ? AND epoch = ? THEN epoch ELSE epoch + 1 END,
				acquired_at = CASE WHEN holder = ? AND epoch = ? THEN acquired_at ELSE ? END,
				holder = ?, expires_at = ?
			WHERE name = ? AND ((holder = ? AND epoch = ?) OR expires_at < ?)
			RETURNING epoch`,
			holder, held, holder, held, now, holder, until, job, holder, held, now).Scan(&epoch)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("update lease: %w", err)
		}
		ok = true
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("acquire lease %s: %w", job, err)
	}
	return epoch, ok, nil
}

func (s *Leases) Release(ctx context.Context, job, holder string, epoch int64) error {
	err := s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE job_leases SET expires_at = 0 WHERE name = ? AND holder = ? AND epoch = ?`,
			job, holder, epoch)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", job, err)
	}
	return nil
}

func (s *Leases) Leases(ctx context.Context) ([]lease.Lease, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, holder, epoch, expires_at FROM job_leases ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	defer rows.Close()
	var out []lease.Lease
	for rows.Next() {
		var l lease.Lease
		var exp int64
		if err := rows.Scan(&l.Job, &l.Holder, &l.Epoch, &exp); err != nil {
			return nil, err
		}
		l.Expires = fromMicros(exp)
		out = append(out, l)
	}
	return out, rows.Err()
}

// checkFence fails with lease.ErrLost unless the lease of f.Job is still
// f.Holder's at f.Epoch. It runs inside the write transaction it guards.
// On PostgreSQL the row is read FOR SHARE: a takeover (an UPDATE of the
// row) waits until this transaction ends, so the guarded writes commit
// before the new holder's epoch exists or not at all. On SQLite the
// single writer orders them anyway.
func (db *DB) checkFence(ctx context.Context, tx *Tx, f lease.Fence) error {
	q := `SELECT holder, epoch FROM job_leases WHERE name = ?`
	if db.dialect == Postgres {
		q += ` FOR SHARE`
	}
	var holder string
	var epoch int64
	err := tx.QueryRowContext(ctx, q, f.Job).Scan(&holder, &epoch)
	if errors.Is(err, sql.ErrNoRows) || err == nil && (holder != f.Holder || epoch != f.Epoch) {
		return fmt.Errorf("job %s at epoch %d: %w", f.Job, f.Epoch, lease.ErrLost)
	}
	if err != nil {
		return fmt.Errorf("check lease of job %s: %w", f.Job, err)
	}
	return nil
}

// fenced wraps fn with the fence check when ctx carries a lease fence.
func (db *DB) fenced(ctx context.Context, fn func(tx *Tx) error) func(tx *Tx) error {
	f, ok := lease.FenceFrom(ctx)
	if !ok {
		return fn
	}
	return func(tx *Tx) error {
		if err := db.checkFence(ctx, tx, f); err != nil {
			return err
		}
		return fn(tx)
	}
}
