package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/privacy/seal"
)

// Identity implements identity.Store. Every read-modify-write runs in one
// transaction that locks the row first (FOR UPDATE on PostgreSQL; SQLite
// has one writer), so concurrent logins, code checks and rotations of the
// same record serialize.
type Identity struct{ db *DB }

// NewIdentity returns the identity store over db.
func NewIdentity(db *DB) *Identity { return &Identity{db: db} }

var _ identity.Store = (*Identity)(nil)

// forUpdate is the row lock clause of the dialect.
func (s *Identity) forUpdate() string {
	if s.db.Dialect() == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

// ---- customers

const customerColumns = `id, email, email_verified_at, phone, phone_verified_at, password_hash, password_changed_at,
	level, given_name, family_name, address_line1, address_line2, address_city, address_postal_code, address_region,
	address_country, document_type, document_country, birth_date_sealed, document_number_sealed, kyc_submitted_at,
	kyc_verified_at, totp_secret_sealed, totp_pending_sealed, totp_enabled_at, totp_last_step, created_at, updated_at`

// customerUpdateSQL sets every column but id, email and created_at;
// customerUpdateIdx are those columns' places in customerArgs.
var customerUpdateSQL, customerUpdateIdx = func() (string, []int) {
	var sets []string
	var idx []int
	for i, c := range strings.Split(customerColumns, ",") {
		c = strings.TrimSpace(c)
		if c == "id" || c == "email" || c == "created_at" {
			continue
		}
		sets = append(sets, c+" = ?")
		idx = append(idx, i)
	}
	return "UPDATE customers SET " + strings.Join(sets, ", ") + " WHERE id = ?", idx
}()

func customerArgs(r identity.Record) []any {
	k, a, t := r.KYC, r.KYC.Address, r.TOTP
	return []any{r.ID, r.Email, microsOrZero(r.EmailVerifiedAt), r.Phone, microsOrZero(r.PhoneVerifiedAt), r.PasswordHash,
		microsOrZero(r.PasswordChangedAt), string(r.Level), k.GivenName, k.FamilyName, a.Line1, a.Line2, a.City,
		a.PostalCode, a.Region, a.Country, string(k.DocumentType), k.DocumentCountry, nullBytes(k.BirthDate),
		nullBytes(k.DocumentNumber), microsOrZero(k.SubmittedAt), microsOrZero(k.VerifiedAt), nullBytes(t.Secret),
		nullBytes(t.Pending), microsOrZero(t.EnabledAt), t.LastStep, micros(r.Created), micros(r.Updated)}
}

func scanCustomer(row scanner) (identity.Record, error) {
	var r identity.Record
	var emailAt, phoneAt, pwAt, kycSub, kycVer, totpAt, created, updated int64
	var level, docType string
	k := &r.KYC
	err := row.Scan(&r.ID, &r.Email, &emailAt, &r.Phone, &phoneAt, &r.PasswordHash, &pwAt, &level, &k.GivenName,
		&k.FamilyName, &k.Address.Line1, &k.Address.Line2, &k.Address.City, &k.Address.PostalCode, &k.Address.Region,
		&k.Address.Country, &docType, &k.DocumentCountry, &k.BirthDate, &k.DocumentNumber, &kycSub, &kycVer,
		&r.TOTP.Secret, &r.TOTP.Pending, &totpAt, &r.TOTP.LastStep, &created, &updated)
	if err != nil {
		return r, err
	}
	r.EmailVerifiedAt, r.PhoneVerifiedAt, r.PasswordChangedAt = timeOrZero(emailAt), timeOrZero(phoneAt), timeOrZero(pwAt)
	r.Level, k.DocumentType = identity.Level(level), identity.DocumentType(docType)
	k.SubmittedAt, k.VerifiedAt, r.TOTP.EnabledAt = timeOrZero(kycSub), timeOrZero(kycVer), timeOrZero(totpAt)
	r.Created, r.Updated = fromMicros(created), fromMicros(updated)
	return r, nil
}

// customerFields are a payer account's profile fields sealed under its
// own key (docs/privacy.md); the email is found by its blind index
// (email_index).
func customerFields(r *identity.Record) []personalField {
	k, a := &r.KYC, &r.KYC.Address
	return []personalField{{"email", &r.Email}, {"phone", &r.Phone}, {"given_name", &k.GivenName}, {"family_name", &k.FamilyName},
		{"address_line1", &a.Line1}, {"address_line2", &a.Line2}, {"address_city", &a.City},
		{"address_postal_code", &a.PostalCode}, {"address_region", &a.Region}}
}

func (s *Identity) CreateCustomer(ctx context.Context, r identity.Record) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		r := r // sealed in a copy: a retry seals the clear values again
		index := s.db.blindIndex(seal.IndexEmail, r.Email)
		if _, _, err := s.db.sealFields(ctx, tx, r.ID, r.Created, customerFields(&r)...); err != nil {
			return err
		}
		if index != "" {
			// The email's uniqueness is its index's: a sealed email is
			// random text.
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM customers WHERE email_index = ?`, index).Scan(&n); err != nil {
				return err
			} else if n > 0 {
				return fmt.Errorf("insert customer: %w", identity.ErrDuplicate)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO customers (`+customerColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, customerArgs(r)...)
		if err == nil && index != "" {
			_, err = tx.ExecContext(ctx, `UPDATE customers SET email_index = ? WHERE id = ?`, index, r.ID)
		}
		if s.db.IsUniqueViolation(err) {
			return fmt.Errorf("insert customer: %w", identity.ErrDuplicate)
		} else if err != nil {
			return fmt.Errorf("insert customer: %w", err)
		}
		return nil
	})
}

func (s *Identity) customerWhere(ctx context.Context, q rowQuerier, where string, arg any, lock string) (identity.Record, error) {
	r, err := scanCustomer(q.QueryRowContext(ctx, `SELECT `+customerColumns+` FROM customers WHERE `+where+lock, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return r, identity.ErrNotFound
	} else if err != nil {
		return r, fmt.Errorf("select customer: %w", err)
	}
	return r, s.db.openFields(ctx, r.ID, customerFields(&r)...)
}

func (s *Identity) Customer(ctx context.Context, id string) (identity.Record, error) {
	return s.customerWhere(ctx, s.db, `id = ?`, id, "")
}

func (s *Identity) CustomerByEmail(ctx context.Context, email string) (identity.Record, error) {
	// By the blind index; an account from before sealing (not yet
	// sealed by the privacy job) by its clear address.
	if index := s.db.blindIndex(seal.IndexEmail, email); index != "" {
		r, err := s.customerWhere(ctx, s.db, `email_index = ?`, index, "")
		if !errors.Is(err, identity.ErrNotFound) {
			return r, err
		}
	}
	return s.customerWhere(ctx, s.db, `email = ?`, email, "")
}

func (s *Identity) UpdateCustomer(ctx context.Context, id string, fn func(*identity.Record) error) (identity.Record, error) {
	var r identity.Record
	err := s.db.Transact(ctx, func(tx *Tx) error {
		var err error
		if r, err = s.customerWhere(ctx, tx, `id = ?`, id, s.forUpdate()); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
		w := r
		if _, _, err := s.db.sealFields(ctx, tx, w.ID, w.Updated, customerFields(&w)...); err != nil {
			return err
		}
		args := customerArgs(w)
		vals := make([]any, 0, len(args))
		for _, i := range customerUpdateIdx {
			vals = append(vals, args[i])
		}
		if _, err := tx.ExecContext(ctx, customerUpdateSQL, append(vals, id)...); err != nil {
			return fmt.Errorf("update customer: %w", err)
		}
		return nil
	})
	return r, err
}

// ---- sign-ups

const signUpColumns = `id, token_hash, email, phone, existing, customer_id, email_confirmed_at, phone_confirmed_at,
	created_at, expires_at, completed_at`

func scanSignUp(row scanner) (identity.SignUpRecord, error) {
	var r identity.SignUpRecord
	var existing int
	var emailAt, phoneAt, created, expires, completed int64
	err := row.Scan(&r.ID, &r.TokenHash, &r.Email, &r.Phone, &existing, &r.CustomerID, &emailAt, &phoneAt, &created, &expires, &completed)
	r.Existing = existing != 0
	r.EmailConfirmedAt, r.PhoneConfirmedAt = timeOrZero(emailAt), timeOrZero(phoneAt)
	r.Created, r.ExpiresAt, r.CompletedAt = fromMicros(created), fromMicros(expires), timeOrZero(completed)
	return r, err
}

func (s *Identity) CreateSignUp(ctx context.Context, r identity.SignUpRecord) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO identity_signups (`+signUpColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.TokenHash, r.Email, r.Phone, boolInt(r.Existing), r.CustomerID, microsOrZero(r.EmailConfirmedAt),
			microsOrZero(r.PhoneConfirmedAt), micros(r.Created), micros(r.ExpiresAt), microsOrZero(r.CompletedAt))
		if s.db.IsUniqueViolation(err) {
			return fmt.Errorf("insert sign-up: %w", identity.ErrDuplicate)
		} else if err != nil {
			return fmt.Errorf("insert sign-up: %w", err)
		}
		return nil
	})
}

func (s *Identity) signUpWhere(ctx context.Context, q rowQuerier, where string, arg any, lock string) (identity.SignUpRecord, error) {
	r, err := scanSignUp(q.QueryRowContext(ctx, `SELECT `+signUpColumns+` FROM identity_signups WHERE `+where+lock, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return r, identity.ErrNotFound
	} else if err != nil {
		return r, fmt.Errorf("select sign-up: %w", err)
	}
	return r, nil
}

func (s *Identity) SignUpByToken(ctx context.Context, tokenHash []byte) (identity.SignUpRecord, error) {
	return s.signUpWhere(ctx, s.db, `token_hash = ?`, tokenHash, "")
}

func (s *Identity) UpdateSignUp(ctx context.Context, id string, fn func(*identity.SignUpRecord) error) (identity.SignUpRecord, error) {
	var r identity.SignUpRecord
	err := s.db.Transact(ctx, func(tx *Tx) error {
		var err error
		if r, err = s.signUpWhere(ctx, tx, `id = ?`, id, s.forUpdate()); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE identity_signups SET token_hash = ?, email = ?, phone = ?, existing = ?,
			customer_id = ?, email_confirmed_at = ?, phone_confirmed_at = ?, expires_at = ?, completed_at = ? WHERE id = ?`,
			r.TokenHash, r.Email, r.Phone, boolInt(r.Existing), r.CustomerID, microsOrZero(r.EmailConfirmedAt),
			microsOrZero(r.PhoneConfirmedAt), micros(r.ExpiresAt), microsOrZero(r.CompletedAt), id)
		if err != nil {
			return fmt.Errorf("update sign-up: %w", err)
		}
		return nil
	})
	return r, err
}

// ---- one-time codes

const codeColumns = `id, owner, purpose, subject, channel, destination, code_hash, attempts, created_at, expires_at, used_at`

func (s *Identity) CreateCode(ctx context.Context, c identity.Code) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE identity_codes SET used_at = ? WHERE owner = ? AND purpose = ? AND used_at = 0`,
			micros(c.Created), c.Owner, string(c.Purpose))
		if err != nil {
			return fmt.Errorf("end previous codes: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO identity_codes (`+codeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Owner, string(c.Purpose), c.Subject, string(c.Channel), c.To, c.Hash, c.Attempts,
			micros(c.Created), micros(c.ExpiresAt), microsOrZero(c.UsedAt))
		if s.db.IsUniqueViolation(err) {
			return fmt.Errorf("insert code: %w", identity.ErrDuplicate)
		} else if err != nil {
			return fmt.Errorf("insert code: %w", err)
		}
		return nil
	})
}

func (s *Identity) CheckCode(ctx context.Context, owner string, purpose identity.Purpose, now time.Time, attemptsMax int,
	check func(identity.Code) identity.CodeCheck) (identity.CodeCheck, error) {
	var verdict identity.CodeCheck
	err := s.db.Transact(ctx, func(tx *Tx) error {
		var c identity.Code
		var purp, ch string
		var created, expires, used int64
		err := tx.QueryRowContext(ctx, `SELECT `+codeColumns+` FROM identity_codes
			WHERE owner = ? AND purpose = ? AND used_at = 0 AND attempts < ?
			ORDER BY created_at DESC, id DESC LIMIT 1`+s.forUpdate(), owner, string(purpose), attemptsMax).
			Scan(&c.ID, &c.Owner, &purp, &c.Subject, &ch, &c.To, &c.Hash, &c.Attempts, &created, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return identity.ErrNotFound
		} else if err != nil {
			return fmt.Errorf("select code: %w", err)
		}
		c.Purpose, c.Channel = identity.Purpose(purp), identity.Channel(ch)
		c.Created, c.ExpiresAt, c.UsedAt = fromMicros(created), fromMicros(expires), timeOrZero(used)
		switch verdict = check(c); verdict {
		case identity.CodeAccepted:
			_, err = tx.ExecContext(ctx, `UPDATE identity_codes SET used_at = ? WHERE id = ?`, micros(now), c.ID)
		case identity.CodeRejected:
			_, err = tx.ExecContext(ctx, `UPDATE identity_codes SET attempts = attempts + 1 WHERE id = ?`, c.ID)
		}
		if err != nil {
			return fmt.Errorf("update code: %w", err)
		}
		return nil
	})
	return verdict, err
}

// ---- rate limits

func encodeTimes(ts []time.Time) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = strconv.FormatInt(micros(t), 10)
	}
	return strings.Join(parts, ",")
}

func decodeTimes(s string) []time.Time {
	var ts []time.Time
	for p := range strings.SplitSeq(s, ",") {
		if us, err := strconv.ParseInt(p, 10, 64); err == nil {
			ts = append(ts, fromMicros(us))
		}
	}
	return ts
}

func (s *Identity) TakeRate(ctx context.Context, key string, now time.Time, limits []identity.Rate) (bool, time.Time, error) {
	var ok bool
	var retry time.Time
	err := s.db.Transact(ctx, func(tx *Tx) error {
		// The row exists before it is locked, so that concurrent first
		// events of a key serialize on it too.
		_, err := tx.ExecContext(ctx, `INSERT INTO identity_rates (rate_key, times, updated_at) VALUES (?, '', ?)
			ON CONFLICT (rate_key) DO NOTHING`, key, micros(now))
		if err != nil {
			return fmt.Errorf("insert rate: %w", err)
		}
		var times string
		if err := tx.QueryRowContext(ctx, `SELECT times FROM identity_rates WHERE rate_key = ?`+s.forUpdate(), key).Scan(&times); err != nil {
			return fmt.Errorf("select rate: %w", err)
		}
		var keep []time.Time
		keep, ok, retry = identity.AllowRate(decodeTimes(times), now, limits)
		if !ok {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE identity_rates SET times = ?, updated_at = ? WHERE rate_key = ?`,
			encodeTimes(keep), micros(now), key)
		if err != nil {
			return fmt.Errorf("update rate: %w", err)
		}
		return nil
	})
	return ok, retry, err
}

// ---- throttles

const throttleColumns = `scope, subject, failures, window_start, blocked_until, lockouts, locked_at, locked_until, reserved,
	reserved_until, updated_at`

func scanThrottle(row scanner) (identity.Throttle, error) {
	var t identity.Throttle
	var scope string
	var win, blocked, lockedAt, lockedUntil, reservedUntil, updated int64
	err := row.Scan(&scope, &t.Key.Subject, &t.Failures, &win, &blocked, &t.Lockouts, &lockedAt, &lockedUntil, &t.Reserved,
		&reservedUntil, &updated)
	t.Key.Scope = identity.ThrottleScope(scope)
	t.WindowStart, t.BlockedUntil, t.ReservedUntil = timeOrZero(win), timeOrZero(blocked), timeOrZero(reservedUntil)
	t.LockedAt, t.LockedUntil, t.Updated = timeOrZero(lockedAt), timeOrZero(lockedUntil), timeOrZero(updated)
	return t, err
}

func (s *Identity) throttle(ctx context.Context, q rowQuerier, k identity.ThrottleKey, lock string) (identity.Throttle, error) {
	t, err := scanThrottle(q.QueryRowContext(ctx, `SELECT `+throttleColumns+` FROM identity_throttles
		WHERE scope = ? AND subject = ?`+lock, string(k.Scope), k.Subject))
	if errors.Is(err, sql.ErrNoRows) {
		return identity.Throttle{Key: k}, nil
	} else if err != nil {
		return t, fmt.Errorf("select throttle: %w", err)
	}
	return t, nil
}

func (s *Identity) Throttles(ctx context.Context, keys []identity.ThrottleKey) ([]identity.Throttle, error) {
	out := make([]identity.Throttle, len(keys))
	for i, k := range keys {
		t, err := s.throttle(ctx, s.db, k, "")
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

func (s *Identity) UpdateThrottles(ctx context.Context, keys []identity.ThrottleKey, fn func(identity.Throttle) identity.Throttle) ([]identity.Throttle, error) {
	var out []identity.Throttle
	err := s.db.Transact(ctx, func(tx *Tx) error {
		ts, err := s.lockThrottles(ctx, tx, keys)
		if err != nil {
			return err
		}
		for i := range ts {
			ts[i] = fn(ts[i])
		}
		out, err = s.writeThrottles(ctx, tx, keys, ts)
		return err
	})
	return out, err
}

func (s *Identity) ReserveThrottles(ctx context.Context, keys []identity.ThrottleKey,
	take func([]identity.Throttle) ([]identity.Throttle, bool)) ([]identity.Throttle, bool, error) {
	var out []identity.Throttle
	var ok bool
	err := s.db.Transact(ctx, func(tx *Tx) error {
		ts, err := s.lockThrottles(ctx, tx, keys)
		if err != nil {
			return err
		}
		if ts, ok = take(ts); !ok {
			out = ts
			return nil
		}
		if len(ts) != len(keys) {
			panic("sqlstore: ReserveThrottles: take returned another number of throttles")
		}
		out, err = s.writeThrottles(ctx, tx, keys, ts)
		return err
	})
	return out, ok, err
}

// lockThrottles reads the throttles of keys in tx, creating the rows of
// keys never seen, locked until tx ends (PostgreSQL: FOR UPDATE; SQLite
// has one writer).
func (s *Identity) lockThrottles(ctx context.Context, tx *Tx, keys []identity.ThrottleKey) ([]identity.Throttle, error) {
	ts := make([]identity.Throttle, len(keys))
	for i, k := range keys {
		_, err := tx.ExecContext(ctx, `INSERT INTO identity_throttles (`+throttleColumns+`)
			VALUES (?, ?, 0, 0, 0, 0, 0, 0, 0, 0, 0) ON CONFLICT (scope, subject) DO NOTHING`, string(k.Scope), k.Subject)
		if err != nil {
			return nil, fmt.Errorf("insert throttle: %w", err)
		}
		if ts[i], err = s.throttle(ctx, tx, k, s.forUpdate()); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// writeThrottles writes ts back as the throttles of keys.
func (s *Identity) writeThrottles(ctx context.Context, tx *Tx, keys []identity.ThrottleKey, ts []identity.Throttle) ([]identity.Throttle, error) {
	out := make([]identity.Throttle, len(keys))
	for i, k := range keys {
		t := ts[i]
		t.Key = k
		_, err := tx.ExecContext(ctx, `UPDATE identity_throttles SET failures = ?, window_start = ?, blocked_until = ?,
			lockouts = ?, locked_at = ?, locked_until = ?, reserved = ?, reserved_until = ?, updated_at = ?
			WHERE scope = ? AND subject = ?`,
			t.Failures, microsOrZero(t.WindowStart), microsOrZero(t.BlockedUntil), t.Lockouts, microsOrZero(t.LockedAt),
			microsOrZero(t.LockedUntil), t.Reserved, microsOrZero(t.ReservedUntil), microsOrZero(t.Updated), string(k.Scope), k.Subject)
		if err != nil {
			return nil, fmt.Errorf("update throttle: %w", err)
		}
		out[i] = t
	}
	return out, nil
}

// ---- sessions

const sessionColumns = `id, customer_id, token_hash, aal, pending, device_id, ip, user_agent, created_at, last_seen_at,
	idle_expires_at, expires_at, second_factor_at, rotated_at, revoked_at`

func scanSession(row scanner) (identity.Session, error) {
	var x identity.Session
	var aal, pending int
	var created, seen, idle, expires, factorAt, rotated, revoked int64
	err := row.Scan(&x.ID, &x.CustomerID, &x.TokenHash, &aal, &pending, &x.DeviceID, &x.IP, &x.UserAgent, &created, &seen,
		&idle, &expires, &factorAt, &rotated, &revoked)
	x.AAL, x.Pending = identity.AAL(aal), pending != 0
	x.Created, x.LastSeen, x.IdleExpiresAt, x.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(idle), fromMicros(expires)
	x.SecondFactorAt, x.RotatedAt, x.RevokedAt = timeOrZero(factorAt), timeOrZero(rotated), timeOrZero(revoked)
	return x, err
}

// lockCustomer locks a customer's row so that changes of its sessions or
// devices serialize per customer.
func (s *Identity) lockCustomer(ctx context.Context, tx *Tx, customerID string) error {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM customers WHERE id = ?`+s.forUpdate(), customerID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return identity.ErrNotFound
	} else if err != nil {
		return fmt.Errorf("lock customer: %w", err)
	}
	return nil
}

func (s *Identity) CreateSession(ctx context.Context, x identity.Session, perCustomerMax int) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		if err := s.lockCustomer(ctx, tx, x.CustomerID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO identity_sessions (`+sessionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			x.ID, x.CustomerID, x.TokenHash, int(x.AAL), boolInt(x.Pending), x.DeviceID, x.IP, x.UserAgent, micros(x.Created),
			micros(x.LastSeen), micros(x.IdleExpiresAt), micros(x.ExpiresAt), microsOrZero(x.SecondFactorAt),
			microsOrZero(x.RotatedAt), microsOrZero(x.RevokedAt))
		if s.db.IsUniqueViolation(err) {
			return fmt.Errorf("insert session: %w", identity.ErrDuplicate)
		} else if err != nil {
			return fmt.Errorf("insert session: %w", err)
		}
		now := micros(x.Created)
		rows, err := tx.QueryContext(ctx, `SELECT id FROM identity_sessions WHERE customer_id = ? AND revoked_at = 0
			AND expires_at > ? AND idle_expires_at > ? ORDER BY created_at DESC, id DESC`, x.CustomerID, now, now)
		if err != nil {
			return fmt.Errorf("select sessions: %w", err)
		}
		ids, err := scanColumn[string](rows)
		if err != nil {
			return fmt.Errorf("select sessions: %w", err)
		}
		for _, id := range ids[min(len(ids), perCustomerMax):] {
			if _, err := tx.ExecContext(ctx, `UPDATE identity_sessions SET revoked_at = ? WHERE id = ?`, now, id); err != nil {
				return fmt.Errorf("revoke old session: %w", err)
			}
		}
		return nil
	})
}

func (s *Identity) sessionWhere(ctx context.Context, q rowQuerier, where string, arg any, lock string) (identity.Session, error) {
	x, err := scanSession(q.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM identity_sessions WHERE `+where+lock, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return x, identity.ErrNotFound
	} else if err != nil {
		return x, fmt.Errorf("select session: %w", err)
	}
	return x, nil
}

func (s *Identity) SessionByTokenHash(ctx context.Context, tokenHash []byte) (identity.Session, error) {
	return s.sessionWhere(ctx, s.db, `token_hash = ?`, tokenHash, "")
}

func (s *Identity) UpdateSession(ctx context.Context, id string, fn func(*identity.Session) error) (identity.Session, error) {
	var x identity.Session
	err := s.db.Transact(ctx, func(tx *Tx) error {
		var err error
		if x, err = s.sessionWhere(ctx, tx, `id = ?`, id, s.forUpdate()); err != nil {
			return err
		}
		if err := fn(&x); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE identity_sessions SET token_hash = ?, aal = ?, pending = ?, device_id = ?, ip = ?,
			user_agent = ?, last_seen_at = ?, idle_expires_at = ?, expires_at = ?, second_factor_at = ?, rotated_at = ?,
			revoked_at = ? WHERE id = ?`,
			x.TokenHash, int(x.AAL), boolInt(x.Pending), x.DeviceID, x.IP, x.UserAgent, micros(x.LastSeen),
			micros(x.IdleExpiresAt), micros(x.ExpiresAt), microsOrZero(x.SecondFactorAt), microsOrZero(x.RotatedAt),
			microsOrZero(x.RevokedAt), id)
		if s.db.IsUniqueViolation(err) {
			return fmt.Errorf("update session: %w", identity.ErrDuplicate)
		} else if err != nil {
			return fmt.Errorf("update session: %w", err)
		}
		return nil
	})
	return x, err
}

func (s *Identity) Sessions(ctx context.Context, customerID string, now time.Time, limit int) ([]identity.Session, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+sessionColumns+` FROM identity_sessions WHERE customer_id = ?
		AND revoked_at = 0 AND expires_at > ? AND idle_expires_at > ? ORDER BY created_at DESC, id DESC LIMIT ?`,
		customerID, micros(now), micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("select sessions: %w", err)
	}
	defer rows.Close()
	var out []identity.Session
	for rows.Next() {
		x, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

func (s *Identity) RevokeSessions(ctx context.Context, customerID, except string, now time.Time) (int, error) {
	var n int64
	err := s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE identity_sessions SET revoked_at = ? WHERE customer_id = ? AND id <> ?
			AND revoked_at = 0 AND expires_at > ? AND idle_expires_at > ?`, micros(now), customerID, except, micros(now), micros(now))
		if err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// ---- devices

const deviceColumns = `id, customer_id, fingerprint_hash, user_agent, ip, created_at, last_seen_at, revoked_at, name`

func scanDevice(row scanner) (identity.Device, error) {
	var d identity.Device
	var created, seen, revoked int64
	err := row.Scan(&d.ID, &d.CustomerID, &d.FingerprintHash, &d.UserAgent, &d.IP, &created, &seen, &revoked, &d.Name)
	d.Created, d.LastSeen, d.RevokedAt = fromMicros(created), fromMicros(seen), timeOrZero(revoked)
	return d, err
}

func (s *Identity) CreateDevice(ctx context.Context, d identity.Device, perCustomerMax int) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		if err := s.lockCustomer(ctx, tx, d.CustomerID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO identity_devices (`+deviceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.ID, d.CustomerID, nullBytes(d.FingerprintHash), d.UserAgent, d.IP, micros(d.Created), micros(d.LastSeen),
			microsOrZero(d.RevokedAt), d.Name)
		if s.db.IsUniqueViolation(err) {
			return fmt.Errorf("insert device: %w", identity.ErrDuplicate)
		} else if err != nil {
			return fmt.Errorf("insert device: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM identity_devices WHERE customer_id = ? AND revoked_at = 0
			ORDER BY last_seen_at DESC, id DESC`, d.CustomerID)
		if err != nil {
			return fmt.Errorf("select devices: %w", err)
		}
		ids, err := scanColumn[string](rows)
		if err != nil {
			return fmt.Errorf("select devices: %w", err)
		}
		for _, id := range ids[min(len(ids), perCustomerMax):] {
			if id == d.ID {
				continue // the new device stays, whatever its order among ties
			}
			_, err := tx.ExecContext(ctx, `UPDATE identity_devices SET revoked_at = ? WHERE id = ?`, micros(d.Created), id)
			if err != nil {
				return fmt.Errorf("revoke old device: %w", err)
			}
		}
		return nil
	})
}

func (s *Identity) deviceWhere(ctx context.Context, q rowQuerier, id, lock string) (identity.Device, error) {
	d, err := scanDevice(q.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM identity_devices WHERE id = ?`+lock, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, identity.ErrNotFound
	} else if err != nil {
		return d, fmt.Errorf("select device: %w", err)
	}
	return d, nil
}

func (s *Identity) Device(ctx context.Context, id string) (identity.Device, error) {
	return s.deviceWhere(ctx, s.db, id, "")
}

func (s *Identity) UpdateDevice(ctx context.Context, id string, fn func(*identity.Device) error) (identity.Device, error) {
	var d identity.Device
	err := s.db.Transact(ctx, func(tx *Tx) error {
		var err error
		if d, err = s.deviceWhere(ctx, tx, id, s.forUpdate()); err != nil {
			return err
		}
		if err := fn(&d); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE identity_devices SET fingerprint_hash = ?, user_agent = ?, ip = ?,
			last_seen_at = ?, revoked_at = ?, name = ? WHERE id = ?`,
			nullBytes(d.FingerprintHash), d.UserAgent, d.IP, micros(d.LastSeen), microsOrZero(d.RevokedAt), d.Name, id)
		if err != nil {
			return fmt.Errorf("update device: %w", err)
		}
		return nil
	})
	return d, err
}

func (s *Identity) Devices(ctx context.Context, customerID string, limit int) ([]identity.Device, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deviceColumns+` FROM identity_devices WHERE customer_id = ?
		AND revoked_at = 0 ORDER BY last_seen_at DESC, id DESC LIMIT ?`, customerID, limit)
	if err != nil {
		return nil, fmt.Errorf("select devices: %w", err)
	}
	defer rows.Close()
	var out []identity.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ---- recovery codes

func (s *Identity) ReplaceRecoveryCodes(ctx context.Context, customerID string, hashes [][]byte, now time.Time) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM identity_recovery_codes WHERE customer_id = ?`, customerID); err != nil {
			return fmt.Errorf("delete recovery codes: %w", err)
		}
		for _, h := range hashes {
			_, err := tx.ExecContext(ctx, `INSERT INTO identity_recovery_codes (customer_id, code_hash, created_at, used_at)
				VALUES (?, ?, ?, 0)`, customerID, h, micros(now))
			if err != nil {
				return fmt.Errorf("insert recovery code: %w", err)
			}
		}
		return nil
	})
}

func (s *Identity) UseRecoveryCode(ctx context.Context, customerID string, hash []byte, now time.Time) (bool, error) {
	var used bool
	err := s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE identity_recovery_codes SET used_at = ?
			WHERE customer_id = ? AND code_hash = ? AND used_at = 0`, micros(now), customerID, hash)
		if err != nil {
			return fmt.Errorf("use recovery code: %w", err)
		}
		n, err := res.RowsAffected()
		used = n == 1
		return err
	})
	return used, err
}

func (s *Identity) RecoveryCodesLeft(ctx context.Context, customerID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_recovery_codes WHERE customer_id = ? AND used_at = 0`,
		customerID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return n, nil
}

// ---- outbox

func (s *Identity) AppendOutbox(ctx context.Context, m identity.OutboxMessage) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		if m.Body != "" || len(m.BodySealed) == 0 {
			return errors.New("an outbox message is stored with its body sealed, never in clear")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO identity_outbox (id, channel, recipient, subject, body, body_sealed, created_at)
			VALUES (?, ?, ?, ?, '', ?, ?)`, m.ID, string(m.Channel), m.To, m.Subject, m.BodySealed, micros(m.Created))
		if err != nil {
			return fmt.Errorf("insert outbox message: %w", err)
		}
		return nil
	})
}

func (s *Identity) OutboxMessages(ctx context.Context, to string, limit int) ([]identity.OutboxMessage, error) {
	q := `SELECT id, channel, recipient, subject, body_sealed, created_at FROM identity_outbox`
	args := []any{}
	if to != "" {
		q += ` WHERE recipient = ?`
		args = append(args, to)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("select outbox: %w", err)
	}
	defer rows.Close()
	var out []identity.OutboxMessage
	for rows.Next() {
		var m identity.OutboxMessage
		var ch string
		var created int64
		if err := rows.Scan(&m.ID, &ch, &m.To, &m.Subject, &m.BodySealed, &created); err != nil {
			return nil, err
		}
		m.Channel, m.Created = identity.Channel(ch), fromMicros(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

// ---- pruning

func (s *Identity) Prune(ctx context.Context, before time.Time) (int, error) {
	b := micros(before)
	return s.db.prune(ctx, []sqlStatement{
		{`DELETE FROM identity_signups WHERE expires_at < ?`, []any{b}},
		{`DELETE FROM identity_codes WHERE expires_at < ?`, []any{b}},
		{`DELETE FROM identity_sessions WHERE expires_at < ? OR idle_expires_at < ? OR (revoked_at > 0 AND revoked_at < ?)`, []any{b, b, b}},
		{`DELETE FROM identity_devices WHERE revoked_at > 0 AND revoked_at < ?`, []any{b}},
		{`DELETE FROM identity_rates WHERE updated_at < ?`, []any{b}},
		{`DELETE FROM identity_throttles WHERE updated_at < ? AND blocked_until < ?`, []any{b, b}},
		{`DELETE FROM identity_outbox WHERE created_at < ?`, []any{b}},
	})
}
