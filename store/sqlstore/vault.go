package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kassa/kassa/vault"
)

// Vault implements vault.Store. It sees only sealed PANs and CVCs.
//
// Tokenization and detokenization are its hot paths: their statements are
// prepared once per pool (parsing SQL costs more than running it), and
// tokens are inserted in multi-row statements of a few fixed sizes.
type Vault struct {
	db    *DB
	mu    sync.Mutex
	stmts map[stmtKey]*sql.Stmt
}

type stmtKey struct {
	write bool
	query string
}

// NewVault returns the vault store over db.
func NewVault(db *DB) *Vault { return &Vault{db: db, stmts: map[stmtKey]*sql.Stmt{}} }

// stmt returns query prepared on the write or the read pool.
func (s *Vault) stmt(ctx context.Context, write bool, query string) (*sql.Stmt, error) {
	k := stmtKey{write, query}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stmts[k]; ok {
		return st, nil
	}
	pool := s.db.read
	if write {
		pool = s.db.write
	}
	st, err := pool.PrepareContext(ctx, s.db.Rebind(query))
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	s.stmts[k] = st
	return st, nil
}

var _ vault.Store = (*Vault)(nil)

const (
	vaultTokenColumns = `id, merchant_id, brand, bin, last4, exp_month, exp_year, fingerprint, name, kek_version,
	pan_key, pan_ct, cvc_key, cvc_ct, cvc_expires_at, used_at, created_at`
	vaultTokenColumnCount = 17
)

// vaultInsertRows are the row counts of the prepared multi-row INSERTs,
// largest first; the last must be 1. 128 rows × 17 parameters is within
// both backends' limits.
var vaultInsertRows = []int{128, 32, 8, 1}

func (s *Vault) CreateTokens(ctx context.Context, rs []vault.Record) error {
	// Prepare outside the transaction: on SQLite it holds the only write
	// connection, which preparing on the pool would wait for.
	inserts := make(map[int]*sql.Stmt, len(vaultInsertRows))
	for _, size := range vaultInsertRows {
		st, err := s.stmt(ctx, true, vaultInsertQuery(size))
		if err != nil {
			return err
		}
		inserts[size] = st
	}
	return s.db.Transact(ctx, func(tx *Tx) error {
		rest := rs
		for len(rest) > 0 {
			n := 1
			for _, size := range vaultInsertRows {
				if size <= len(rest) {
					n = size
					break
				}
			}
			if err := s.insertTokens(ctx, tx, inserts[n], rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	})
}

func vaultInsertQuery(rows int) string {
	var q strings.Builder
	q.WriteString(`INSERT INTO vault_tokens (` + vaultTokenColumns + `) VALUES `)
	row := "(" + placeholders(vaultTokenColumnCount) + ")"
	for i := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(row)
	}
	return q.String()
}

func (s *Vault) insertTokens(ctx context.Context, tx *Tx, st *sql.Stmt, rs []vault.Record) error {
	args := make([]any, 0, vaultTokenColumnCount*len(rs))
	for _, r := range rs {
		d := r.Details
		args = append(args, r.ID, r.MerchantID, string(d.Brand), d.BIN, d.Last4, d.ExpMonth, d.ExpYear, d.Fingerprint,
			d.Name, r.KEKVersion, r.PAN.WrappedKey, r.PAN.Ciphertext, nullBytes(r.CVC.WrappedKey), nullBytes(r.CVC.Ciphertext),
			micros(r.CVCExpiresAt), microsOrZero(r.UsedAt), micros(r.Created))
	}
	if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("insert tokens: %w", err)
	}
	return nil
}

// nullBytes stores an empty slice as NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func scanVaultToken(row interface{ Scan(...any) error }, extra ...any) (vault.Record, error) {
	var r vault.Record
	var brand string
	var cvcExp, used, created int64
	dest := []any{&r.ID, &r.MerchantID, &brand, &r.Details.BIN, &r.Details.Last4, &r.Details.ExpMonth, &r.Details.ExpYear,
		&r.Details.Fingerprint, &r.Details.Name, &r.KEKVersion, &r.PAN.WrappedKey, &r.PAN.Ciphertext,
		&r.CVC.WrappedKey, &r.CVC.Ciphertext, &cvcExp, &used, &created}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return r, err
	}
	r.Details.Brand = vault.Brand(brand)
	r.CVCExpiresAt, r.UsedAt, r.Created = fromMicros(cvcExp), timeOrZero(used), fromMicros(created)
	return r, nil
}

func (s *Vault) Token(ctx context.Context, id string) (vault.Record, error) {
	st, err := s.stmt(ctx, false, `SELECT `+vaultTokenColumns+` FROM vault_tokens WHERE id = ?`)
	if err != nil {
		return vault.Record{}, err
	}
	r, err := scanVaultToken(st.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, vault.ErrNotFound
	} else if err != nil {
		return r, fmt.Errorf("select token: %w", err)
	}
	return r, nil
}

func (s *Vault) token(ctx context.Context, q rowQuerier, id string) (vault.Record, error) {
	r, err := scanVaultToken(q.QueryRowContext(ctx, `SELECT `+vaultTokenColumns+` FROM vault_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, vault.ErrNotFound
	} else if err != nil {
		return r, fmt.Errorf("select token: %w", err)
	}
	return r, nil
}

func (s *Vault) Card(ctx context.Context, id string) (vault.CardRecord, vault.Record, error) {
	var c vault.CardRecord
	var created int64
	cols := strings.ReplaceAll("t."+vaultTokenColumns, ", ", ", t.")
	cols = strings.ReplaceAll(cols, ",\n\t", ", t.")
	r, err := scanVaultToken(s.db.QueryRowContext(ctx, `SELECT `+cols+`, c.id, c.merchant_id, c.customer_id, c.token_id, c.created_at
		FROM vault_cards c JOIN vault_tokens t ON t.id = c.token_id WHERE c.id = ?`, id),
		&c.ID, &c.MerchantID, &c.CustomerID, &c.TokenID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return c, r, vault.ErrNotFound
	} else if err != nil {
		return c, r, fmt.Errorf("select card: %w", err)
	}
	c.Created = fromMicros(created)
	return c, r, nil
}

func (s *Vault) UseToken(ctx context.Context, merchantID, tokenID string, now time.Time, card *vault.CardRecord) (vault.Record, error) {
	var r vault.Record
	err := s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE vault_tokens SET used_at = ? WHERE id = ? AND merchant_id = ? AND used_at = 0`,
			micros(now), tokenID, merchantID)
		if err != nil {
			return fmt.Errorf("mark token used: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if r, err = s.token(ctx, tx, tokenID); err != nil {
			return err
		}
		switch {
		case r.MerchantID != merchantID:
			return vault.ErrNotFound
		case n == 0:
			return vault.ErrUsed
		}
		r.UsedAt = time.Time{} // as it was before
		if card == nil {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO vault_cards (id, merchant_id, customer_id, token_id, created_at)
			VALUES (?, ?, ?, ?, ?)`, card.ID, card.MerchantID, card.CustomerID, card.TokenID, micros(card.Created))
		if err != nil {
			return fmt.Errorf("insert card: %w", err)
		}
		return nil
	})
	return r, err
}

// destroyCVC erases the sealed CVC of the rows matching where. On
// SQLite the bytes are first overwritten with zeros of the same length,
// so that the freed cell space of the page holds no trace of them.
func (s *Vault) destroyCVC(ctx context.Context, tx *Tx, where string, args ...any) (int64, error) {
	if s.db.Dialect() == SQLite {
		_, err := tx.ExecContext(ctx, `UPDATE vault_tokens SET cvc_key = zeroblob(length(cvc_key)),
			cvc_ct = zeroblob(length(cvc_ct)) WHERE cvc_ct IS NOT NULL AND `+where, args...)
		if err != nil {
			return 0, fmt.Errorf("overwrite CVC: %w", err)
		}
	}
	res, err := tx.ExecContext(ctx, `UPDATE vault_tokens SET cvc_key = NULL, cvc_ct = NULL
		WHERE cvc_ct IS NOT NULL AND `+where, args...)
	if err != nil {
		return 0, fmt.Errorf("destroy CVC: %w", err)
	}
	return res.RowsAffected()
}

func (s *Vault) DestroyCVC(ctx context.Context, tokenID string) (bool, error) {
	var n int64
	err := s.db.Transact(ctx, func(tx *Tx) error {
		var err error
		n, err = s.destroyCVC(ctx, tx, `id = ?`, tokenID)
		return err
	})
	return n > 0, err
}

func (s *Vault) DestroyExpiredCVCs(ctx context.Context, now time.Time, limit int) (int, error) {
	var n int64
	err := s.db.Transact(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM vault_tokens WHERE cvc_ct IS NOT NULL AND cvc_expires_at <= ?
			ORDER BY cvc_expires_at LIMIT ?`, micros(now), limit)
		if err != nil {
			return fmt.Errorf("select expired CVCs: %w", err)
		}
		found, err := scanColumn[string](rows)
		if err != nil || len(found) == 0 {
			return err
		}
		ids := make([]any, len(found))
		for i, id := range found {
			ids[i] = id
		}
		n, err = s.destroyCVC(ctx, tx, `id IN (`+placeholders(len(ids))+`)`, ids...)
		return err
	})
	return int(n), err
}

func (s *Vault) StaleKeys(ctx context.Context, version int, after string, limit int) ([]vault.Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+vaultTokenColumns+` FROM vault_tokens
		WHERE kek_version <> ? AND id > ? ORDER BY id LIMIT ?`, version, after, limit)
	if err != nil {
		return nil, fmt.Errorf("select stale keys: %w", err)
	}
	defer rows.Close()
	var rs []vault.Record
	for rows.Next() {
		r, err := scanVaultToken(rows)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}

func (s *Vault) Rewrap(ctx context.Context, rs []vault.Rewrapped) (int, error) {
	var total int64
	err := s.db.Transact(ctx, func(tx *Tx) error {
		total = 0
		stmt, err := tx.PrepareContext(ctx, `UPDATE vault_tokens SET kek_version = ?, pan_key = ?,
			cvc_key = CASE WHEN cvc_ct IS NULL THEN cvc_key ELSE ? END WHERE id = ? AND kek_version = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rs {
			res, err := stmt.ExecContext(ctx, r.To, r.PANKey, nullBytes(r.CVCKey), r.ID, r.From)
			if err != nil {
				return fmt.Errorf("rewrap %s: %w", r.ID, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	return int(total), err
}

func (s *Vault) KeyUsage(ctx context.Context) (map[int]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kek_version, COUNT(*) FROM vault_tokens GROUP BY kek_version`)
	if err != nil {
		return nil, fmt.Errorf("count key usage: %w", err)
	}
	defer rows.Close()
	usage := map[int]int64{}
	for rows.Next() {
		var v int
		var n int64
		if err := rows.Scan(&v, &n); err != nil {
			return nil, err
		}
		usage[v] = n
	}
	return usage, rows.Err()
}
