package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa/httpapi"
)

// Idempotency implements httpapi.IdempotencyStore.
type Idempotency struct{ db *DB }

// NewIdempotency returns the idempotency-key store over db.
func NewIdempotency(db *DB) *Idempotency { return &Idempotency{db: db} }

var _ httpapi.IdempotencyStore = (*Idempotency)(nil)

func (s *Idempotency) BeginIdempotent(ctx context.Context, rec httpapi.IdempotencyRecord, now time.Time) (httpapi.IdempotencyRecord, bool, error) {
	var got httpapi.IdempotencyRecord
	var fresh bool
	err := s.db.Transact(ctx, func(tx *Tx) error {
		var err error
		got, fresh, err = s.begin(ctx, tx, rec, now)
		return err
	})
	if s.db.IsUniqueViolation(err) {
		// A concurrent request inserted the key first: it is in flight.
		err = s.db.Transact(ctx, func(tx *Tx) error {
			var err error
			got, fresh, err = s.begin(ctx, tx, rec, now)
			return err
		})
	}
	if err != nil {
		return got, false, fmt.Errorf("idempotency key: %w", err)
	}
	return got, fresh, nil
}

func (s *Idempotency) begin(ctx context.Context, tx *Tx, rec httpapi.IdempotencyRecord, now time.Time) (httpapi.IdempotencyRecord, bool, error) {
	const insert = `INSERT INTO idempotency_keys
		(merchant_id, key, request_hash, done, status, content_type, body, locked_until, expires_at)
		VALUES (?, ?, ?, 0, 0, '', ?, ?, ?)`
	args := []any{rec.MerchantID, rec.Key, rec.RequestHash, []byte{}, micros(rec.LockedUntil), micros(rec.ExpiresAt)}
	// A new key (the usual case) costs one statement.
	res, err := tx.ExecContext(ctx, insert+` ON CONFLICT (merchant_id, key) DO NOTHING`, args...)
	if err != nil {
		return rec, false, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return rec, false, err
	} else if n == 1 {
		return rec, true, nil
	}
	got := httpapi.IdempotencyRecord{MerchantID: rec.MerchantID, Key: rec.Key}
	var done int
	var locked, expires int64
	q := `SELECT request_hash, done, status, content_type, body, locked_until, expires_at
		FROM idempotency_keys WHERE merchant_id = ? AND key = ?`
	if s.db.Dialect() == Postgres {
		q += ` FOR UPDATE`
	}
	err = tx.QueryRowContext(ctx, q, rec.MerchantID, rec.Key).
		Scan(&got.RequestHash, &done, &got.Status, &got.ContentType, &got.Body, &locked, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Deleted between the two statements (PostgreSQL: by a
		// concurrent transaction): the key is free again.
	case err != nil:
		return got, false, err
	default:
		got.Done, got.LockedUntil, got.ExpiresAt = done == 1, fromMicros(locked), fromMicros(expires)
		if live := now.Before(got.ExpiresAt) && (got.Done || now.Before(got.LockedUntil)); live {
			return got, false, nil
		}
		// Expired, or abandoned in flight: the key starts over.
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE merchant_id = ? AND key = ?`, rec.MerchantID, rec.Key); err != nil {
			return got, false, err
		}
	}
	_, err = tx.ExecContext(ctx, insert, args...)
	return rec, err == nil, err
}

func (s *Idempotency) FinishIdempotent(ctx context.Context, rec httpapi.IdempotencyRecord) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET done = 1, status = ?, content_type = ?, body = ?
			WHERE merchant_id = ? AND key = ? AND request_hash = ?`,
			rec.Status, rec.ContentType, rec.Body, rec.MerchantID, rec.Key, rec.RequestHash)
		return err
	})
}

func (s *Idempotency) ReleaseIdempotent(ctx context.Context, merchantID, key string) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE merchant_id = ? AND key = ? AND done = 0`, merchantID, key)
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
