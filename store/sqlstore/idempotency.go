package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa/idempotency"
)

// Idempotency implements idempotency.Store.
type Idempotency struct{ db *DB }

// NewIdempotency returns the idempotency-key store over db.
func NewIdempotency(db *DB) *Idempotency { return &Idempotency{db: db} }

var _ idempotency.Store = (*Idempotency)(nil)

func (s *Idempotency) LookupIdempotent(ctx context.Context, merchantID, key string, now time.Time) (idempotency.Record, bool, error) {
	got := idempotency.Record{MerchantID: merchantID, Key: key}
	var done int
	var locked, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT request_hash, done, status, content_type, body, locked_until, expires_at
		FROM idempotency_keys WHERE merchant_id = ? AND key = ?`, merchantID, key).
		Scan(&got.RequestHash, &done, &got.Status, &got.ContentType, &got.Body, &locked, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return got, false, nil
	}
	if err != nil {
		return got, false, fmt.Errorf("idempotency key: %w", err)
	}
	got.Done, got.LockedUntil, got.ExpiresAt = done == 1, fromMicros(locked), fromMicros(expires)
	return got, got.Live(now), nil
}

func (s *Idempotency) InsertIdempotent(ctx context.Context, rec idempotency.Record, now time.Time) error {
	err := s.db.Transact(ctx, func(tx *Tx) error { return insertIdempotent(ctx, tx, rec, now) })
	if err != nil && !errors.Is(err, idempotency.ErrKeyTaken) {
		return fmt.Errorf("idempotency key: %w", err)
	}
	return err
}

// insertIdempotent stores rec in tx: a new key, or one whose record is no
// longer live (expired, or an older Kassa's abandoned in-flight row). A
// live record is not touched and the answer is idempotency.ErrKeyTaken,
// an error of Go, not of SQL: the transaction goes on, and only the call
// that wrote rec fails.
func insertIdempotent(ctx context.Context, tx *Tx, rec idempotency.Record, now time.Time) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys
		(merchant_id, key, request_hash, done, status, content_type, body, locked_until, expires_at)
		VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)
		ON CONFLICT (merchant_id, key) DO UPDATE SET request_hash = excluded.request_hash, done = 1,
			status = excluded.status, content_type = excluded.content_type, body = excluded.body,
			locked_until = excluded.locked_until, expires_at = excluded.expires_at
		WHERE idempotency_keys.expires_at <= ? OR (idempotency_keys.done = 0 AND idempotency_keys.locked_until <= ?)`,
		rec.MerchantID, rec.Key, rec.RequestHash, rec.Status, rec.ContentType, rec.Body,
		micros(rec.LockedUntil), micros(rec.ExpiresAt), micros(now), micros(now))
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return idempotency.ErrKeyTaken
	}
	return nil
}

// storePending writes the answer of the request ctx serves (if its
// handler renders result) in tx, the request's domain transaction.
func storePending(ctx context.Context, tx *Tx, result any) error {
	pend := idempotency.PendingFrom(ctx)
	if pend == nil {
		return nil
	}
	rec, now, ok, err := pend.Answer(result)
	if err != nil || !ok {
		return err
	}
	if err := insertIdempotent(ctx, tx, rec, now); err != nil {
		return err
	}
	tx.AfterCommit(pend.Stored())
	return nil
}

func (s *Idempotency) ReplaceIdempotent(ctx context.Context, rec idempotency.Record) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET done = 1, status = ?, content_type = ?, body = ?
			WHERE merchant_id = ? AND key = ? AND request_hash = ?`,
			rec.Status, rec.ContentType, rec.Body, rec.MerchantID, rec.Key, rec.RequestHash)
		return err
	})
}

// DeleteExpiredIdempotency forgets keys past their expiry.
func (s *Idempotency) DeleteExpiredIdempotency(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE expires_at < ?`, micros(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
