package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/merchant"
)

// Merchants implements merchant.Store.
type Merchants struct{ db *DB }

// NewMerchants returns the merchant store over db.
func NewMerchants(db *DB) *Merchants { return &Merchants{db: db} }

var (
	_ merchant.Store            = (*Merchants)(nil)
	_ merchant.KeyMerchantStore = (*Merchants)(nil)
)

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

func (s *Merchants) CreateMerchant(ctx context.Context, m merchant.Merchant, keys []merchant.Key) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO merchants (id, name, category, country, created_at) VALUES (?, ?, ?, ?, ?)`,
			m.ID, m.Name, string(categoryOrGeneral(m.Category)), m.Country, micros(m.CreatedAt))
		if err != nil {
			return fmt.Errorf("insert merchant: %w", err)
		}
		for _, k := range keys {
			if err := insertKey(ctx, tx, k); err != nil {
				return err
			}
		}
		return nil
	})
}

func insertKey(ctx context.Context, tx *Tx, k merchant.Key) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO api_keys
		(id, merchant_id, kind, hash, hint, created_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.MerchantID, string(k.Kind), k.Hash, k.Hint, micros(k.CreatedAt),
		nullMicros(k.ExpiresAt), nullMicros(k.RevokedAt))
	if err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	return nil
}

var errMerchantNotFound = kassa.Errorf(kassa.ENotFound, "merchant_not_found", "no such merchant")

func categoryOrGeneral(c merchant.Category) merchant.Category {
	if c == "" {
		return merchant.CategoryGeneral
	}
	return c
}

func (s *Merchants) SetProfile(ctx context.Context, id string, category merchant.Category, country string) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE merchants SET category = ?, country = ? WHERE id = ?`, string(category), country, id)
		if err != nil {
			return fmt.Errorf("update merchant: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errMerchantNotFound
		}
		return nil
	})
}

func (s *Merchants) Merchant(ctx context.Context, id string) (merchant.Merchant, error) {
	var m merchant.Merchant
	var created int64
	var category string
	var suspended sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT id, name, category, country, created_at, suspended_at, suspended_reason FROM merchants WHERE id = ?`, id).
		Scan(&m.ID, &m.Name, &category, &m.Country, &created, &suspended, &m.SuspendedReason)
	m.Category, m.SuspendedAt = merchant.Category(category), fromNullMicros(suspended)
	if errors.Is(err, sql.ErrNoRows) {
		return m, errMerchantNotFound
	} else if err != nil {
		return m, fmt.Errorf("select merchant: %w", err)
	}
	m.CreatedAt = fromMicros(created)
	return m, nil
}

func (s *Merchants) Merchants(ctx context.Context, after string, limit int) ([]merchant.Merchant, error) {
	q := `SELECT id, name, category, country, created_at, suspended_at, suspended_reason FROM merchants ORDER BY created_at, id LIMIT ?`
	args := []any{limit}
	if after != "" {
		q = `SELECT m.id, m.name, m.category, m.country, m.created_at, m.suspended_at, m.suspended_reason FROM merchants m, merchants a
			WHERE a.id = ? AND (m.created_at > a.created_at OR (m.created_at = a.created_at AND m.id > a.id))
			ORDER BY m.created_at, m.id LIMIT ?`
		args = []any{after, limit}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("select merchants: %w", err)
	}
	defer rows.Close()
	var ms []merchant.Merchant
	for rows.Next() {
		var m merchant.Merchant
		var created int64
		var category string
		var suspended sql.NullInt64
		if err := rows.Scan(&m.ID, &m.Name, &category, &m.Country, &created, &suspended, &m.SuspendedReason); err != nil {
			return nil, err
		}
		m.Category, m.SuspendedAt = merchant.Category(category), fromNullMicros(suspended)
		m.CreatedAt = fromMicros(created)
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

const keyColumns = `id, merchant_id, kind, hash, hint, created_at, expires_at, revoked_at`

func scanKey(row interface{ Scan(...any) error }) (merchant.Key, error) {
	var k merchant.Key
	var kind string
	var created int64
	var expires, revoked sql.NullInt64
	if err := row.Scan(&k.ID, &k.MerchantID, &kind, &k.Hash, &k.Hint, &created, &expires, &revoked); err != nil {
		return k, err
	}
	k.Kind = merchant.Kind(kind)
	k.CreatedAt = fromMicros(created)
	k.ExpiresAt = fromNullMicros(expires)
	k.RevokedAt = fromNullMicros(revoked)
	return k, nil
}

var errKeyNotFound = kassa.Errorf(kassa.ENotFound, "api_key_not_found", "no such API key")

func (s *Merchants) Key(ctx context.Context, id string) (merchant.Key, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return k, errKeyNotFound
	} else if err != nil {
		return k, fmt.Errorf("select key: %w", err)
	}
	return k, nil
}

// KeyWithMerchant returns the key with the lookup id and its merchant in
// one query (ENotFound when the key is absent): Authenticate runs on every
// request.
func (s *Merchants) KeyWithMerchant(ctx context.Context, id string) (merchant.Key, merchant.Merchant, error) {
	var k merchant.Key
	var m merchant.Merchant
	var kind, category string
	var created, mCreated int64
	var expires, revoked, suspended sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT k.id, k.merchant_id, k.kind, k.hash, k.hint, k.created_at, k.expires_at, k.revoked_at,
		m.name, m.category, m.country, m.created_at, m.suspended_at, m.suspended_reason FROM api_keys k JOIN merchants m ON m.id = k.merchant_id WHERE k.id = ?`, id).
		Scan(&k.ID, &k.MerchantID, &kind, &k.Hash, &k.Hint, &created, &expires, &revoked, &m.Name, &category, &m.Country, &mCreated,
			&suspended, &m.SuspendedReason)
	if errors.Is(err, sql.ErrNoRows) {
		return k, m, errKeyNotFound
	} else if err != nil {
		return k, m, fmt.Errorf("select key: %w", err)
	}
	k.Kind, k.CreatedAt, k.ExpiresAt, k.RevokedAt = merchant.Kind(kind), fromMicros(created), fromNullMicros(expires), fromNullMicros(revoked)
	m.ID, m.CreatedAt, m.Category = k.MerchantID, fromMicros(mCreated), merchant.Category(category)
	m.SuspendedAt = fromNullMicros(suspended)
	return k, m, nil
}

func (s *Merchants) Keys(ctx context.Context, merchantID string) ([]merchant.Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys
		WHERE merchant_id = ? ORDER BY created_at, id`, merchantID)
	if err != nil {
		return nil, fmt.Errorf("select keys: %w", err)
	}
	defer rows.Close()
	var ks []merchant.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
	}
	return ks, rows.Err()
}

func (s *Merchants) RotateSecretKey(ctx context.Context, key merchant.Key, expiresAt time.Time) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE api_keys SET expires_at = ?
			WHERE merchant_id = ? AND kind = 'secret' AND revoked_at IS NULL
			AND (expires_at IS NULL OR expires_at > ?)`,
			micros(expiresAt), key.MerchantID, micros(expiresAt))
		if err != nil {
			return fmt.Errorf("expire old keys: %w", err)
		}
		return insertKey(ctx, tx, key)
	})
}

func (s *Merchants) RevokeKey(ctx context.Context, id string, at time.Time) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		var revoked sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT revoked_at FROM api_keys WHERE id = ?`, id).Scan(&revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return errKeyNotFound
		} else if err != nil {
			return fmt.Errorf("select key: %w", err)
		}
		if revoked.Valid {
			return kassa.Errorf(kassa.EConflict, "api_key_revoked", "the key was already revoked")
		}
		_, err = tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ?`, micros(at), id)
		return err
	})
}
