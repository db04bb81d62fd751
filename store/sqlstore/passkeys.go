package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kassa/kassa/identity/passkey"
)

// Passkeys implements passkey.Store.
type Passkeys struct{ db *DB }

// NewPasskeys returns the passkey store over db.
func NewPasskeys(db *DB) *Passkeys { return &Passkeys{db: db} }

var _ passkey.Store = (*Passkeys)(nil)

func (s *Passkeys) CreateCeremony(ctx context.Context, c passkey.Ceremony) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO passkey_ceremonies
			(id, kind, customer_id, purpose, subject, session, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, string(c.Kind), c.CustomerID, string(c.Purpose), c.Subject, c.Session, micros(c.Created), micros(c.Expires))
		if err != nil {
			return fmt.Errorf("insert passkey ceremony: %w", err)
		}
		return nil
	})
}

func (s *Passkeys) TakeCeremony(ctx context.Context, id string) (passkey.Ceremony, error) {
	var c passkey.Ceremony
	err := s.db.Transact(ctx, func(tx *Tx) error {
		var kind, purpose string
		var created, expires int64
		err := tx.QueryRowContext(ctx, `SELECT id, kind, customer_id, purpose, subject, session, created_at, expires_at
			FROM passkey_ceremonies WHERE id = ?`, id).
			Scan(&c.ID, &kind, &c.CustomerID, &purpose, &c.Subject, &c.Session, &created, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return passkey.ErrNotFound
		} else if err != nil {
			return fmt.Errorf("select passkey ceremony: %w", err)
		}
		c.Kind, c.Purpose, c.Created, c.Expires = passkey.Kind(kind), passkey.Purpose(purpose), fromMicros(created), fromMicros(expires)
		// Of concurrent takers (PostgreSQL), the DELETE of the first wins;
		// the others wait for it and then delete nothing.
		res, err := tx.ExecContext(ctx, `DELETE FROM passkey_ceremonies WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete passkey ceremony: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return passkey.ErrNotFound
		}
		return nil
	})
	return c, err
}

func (s *Passkeys) DeleteExpiredCeremonies(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM passkey_ceremonies WHERE expires_at < ?`, micros(before))
		if err != nil {
			return fmt.Errorf("prune passkey ceremonies: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

func (s *Passkeys) CreateCredential(ctx context.Context, c passkey.Credential, max int) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		// Lock the customer's row (creating it if need be): a concurrent
		// registration for the customer waits here until this one
		// commits, and then counts its credential too.
		_, err := tx.ExecContext(ctx, `INSERT INTO passkey_users (customer_id, created_at, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (customer_id) DO UPDATE SET updated_at = excluded.updated_at`,
			c.CustomerID, micros(c.Created), micros(c.Created))
		if err != nil {
			return fmt.Errorf("lock passkey user: %w", err)
		}
		var n int
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM passkey_credentials WHERE customer_id = ?`, c.CustomerID).Scan(&n)
		if err != nil {
			return fmt.Errorf("count passkeys: %w", err)
		}
		if n >= max {
			return passkey.ErrLimit
		}
		var discoverable sql.NullInt64
		if c.Discoverable != nil {
			discoverable = sql.NullInt64{Int64: int64(boolInt(*c.Discoverable)), Valid: true}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO passkey_credentials (`+passkeyColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.CustomerID, c.RPID, c.CredentialID, c.Name, c.PublicKey, c.PublicKeyAlgorithm, nonNil(c.AAGUID),
			int64(c.SignCount), strings.Join(c.Transports, ","), c.Attachment, boolInt(c.UserVerified),
			boolInt(c.BackupEligible), boolInt(c.BackupState), discoverable, c.AttestationFormat, c.AttestationType,
			nonNil(c.AttestationObject), nonNil(c.ClientDataJSON), micros(c.Created), microsOrZero(c.LastUsed),
			microsOrZero(c.CloneSuspected))
		if s.db.IsUniqueViolation(err) {
			return passkey.ErrDuplicate
		} else if err != nil {
			return fmt.Errorf("insert passkey: %w", err)
		}
		return nil
	})
}

// nonNil keeps NOT NULL blob columns from receiving NULL for an empty slice.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

const passkeyColumns = `id, customer_id, rp_id, credential_id, name, public_key, public_key_alg, aaguid,
	sign_count, transports, attachment, user_verified, backup_eligible, backup_state, discoverable,
	attestation_format, attestation_type, attestation_object, client_data_json, created_at, last_used_at,
	clone_suspected_at`

func scanPasskey(row interface{ Scan(...any) error }) (passkey.Credential, error) {
	var c passkey.Credential
	var signCount, created, lastUsed, cloned int64
	var uv, be, bs int
	var transports string
	var discoverable sql.NullInt64
	err := row.Scan(&c.ID, &c.CustomerID, &c.RPID, &c.CredentialID, &c.Name, &c.PublicKey, &c.PublicKeyAlgorithm,
		&c.AAGUID, &signCount, &transports, &c.Attachment, &uv, &be, &bs, &discoverable, &c.AttestationFormat,
		&c.AttestationType, &c.AttestationObject, &c.ClientDataJSON, &created, &lastUsed, &cloned)
	if err != nil {
		return c, err
	}
	c.SignCount = uint32(signCount)
	// Empty blobs read back as nil on both backends.
	for _, b := range []*[]byte{&c.AAGUID, &c.AttestationObject, &c.ClientDataJSON} {
		if len(*b) == 0 {
			*b = nil
		}
	}
	if transports != "" {
		c.Transports = strings.Split(transports, ",")
	}
	c.UserVerified, c.BackupEligible, c.BackupState = uv == 1, be == 1, bs == 1
	if discoverable.Valid {
		d := discoverable.Int64 == 1
		c.Discoverable = &d
	}
	c.Created = fromMicros(created)
	if lastUsed != 0 {
		c.LastUsed = fromMicros(lastUsed)
	}
	if cloned != 0 {
		c.CloneSuspected = fromMicros(cloned)
	}
	return c, nil
}

func (s *Passkeys) passkeyWhere(ctx context.Context, where string, args ...any) (passkey.Credential, error) {
	c, err := scanPasskey(s.db.QueryRowContext(ctx, `SELECT `+passkeyColumns+` FROM passkey_credentials WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return c, passkey.ErrNotFound
	} else if err != nil {
		return c, fmt.Errorf("select passkey: %w", err)
	}
	return c, nil
}

func (s *Passkeys) Credential(ctx context.Context, customerID, id string) (passkey.Credential, error) {
	return s.passkeyWhere(ctx, `id = ? AND customer_id = ?`, id, customerID)
}

func (s *Passkeys) CredentialByCredentialID(ctx context.Context, rpID string, credentialID []byte) (passkey.Credential, error) {
	return s.passkeyWhere(ctx, `rp_id = ? AND credential_id = ?`, rpID, credentialID)
}

func (s *Passkeys) Credentials(ctx context.Context, customerID string, limit int) ([]passkey.Credential, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+passkeyColumns+` FROM passkey_credentials
		WHERE customer_id = ? ORDER BY created_at, id LIMIT ?`, customerID, limit)
	if err != nil {
		return nil, fmt.Errorf("select passkeys: %w", err)
	}
	defer rows.Close()
	var cs []passkey.Credential
	for rows.Next() {
		c, err := scanPasskey(rows)
		if err != nil {
			return nil, fmt.Errorf("scan passkey: %w", err)
		}
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

func (s *Passkeys) RecordUse(ctx context.Context, id string, old, count uint32, backupState bool, now time.Time) (bool, error) {
	var changed bool
	err := s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE passkey_credentials SET sign_count = ?, backup_state = ?, last_used_at = ?
			WHERE id = ? AND sign_count = ? AND clone_suspected_at = 0`,
			int64(count), boolInt(backupState), micros(now), id, int64(old))
		if err != nil {
			return fmt.Errorf("update passkey use: %w", err)
		}
		n, err := res.RowsAffected()
		changed = n == 1
		return err
	})
	return changed, err
}

func (s *Passkeys) FlagCloned(ctx context.Context, id string, now time.Time) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE passkey_credentials SET clone_suspected_at = ?
			WHERE id = ? AND clone_suspected_at = 0`, micros(now), id)
		if err != nil {
			return fmt.Errorf("flag passkey: %w", err)
		}
		return nil
	})
}

// changeOne runs a statement that must change exactly one of a customer's
// credentials.
func (s *Passkeys) changeOne(ctx context.Context, query string, args ...any) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return passkey.ErrNotFound
		}
		return nil
	})
}

func (s *Passkeys) RenameCredential(ctx context.Context, customerID, id, name string) error {
	return s.changeOne(ctx, `UPDATE passkey_credentials SET name = ? WHERE id = ? AND customer_id = ?`, name, id, customerID)
}

func (s *Passkeys) DeleteCredential(ctx context.Context, customerID, id string) error {
	return s.changeOne(ctx, `DELETE FROM passkey_credentials WHERE id = ? AND customer_id = ?`, id, customerID)
}
