package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/console"
)

// Console implements console.Store.
type Console struct{ db *DB }

// NewConsole returns the console's store over db.
func NewConsole(db *DB) *Console { return &Console{db: db} }

var _ console.Store = (*Console)(nil)

func (s *Console) forUpdate() string {
	if s.db.Dialect() == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

const memberColumns = `id, org, email, role, status, password_hash, totp_secret_sealed, totp_pending_sealed,
	totp_last_step, invite_hash, invite_expires_at, failures, fail_window_at, reserved, reserved_until, locked_until,
	created_at, updated_at`

func scanMember(row scanner) (console.Member, error) {
	var m console.Member
	var role, status string
	var invExp, failWin, resUntil, locked, created, updated int64
	err := row.Scan(&m.ID, &m.Org, &m.Email, &role, &status, &m.PasswordHash, &m.TOTPSealed, &m.TOTPPending,
		&m.TOTPLastStep, &m.InviteHash, &invExp, &m.Failures, &failWin, &m.Reserved, &resUntil, &locked, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return m, console.ErrMemberNotFound
	} else if err != nil {
		return m, fmt.Errorf("select member: %w", err)
	}
	m.Role, m.Status = console.Role(role), console.Status(status)
	m.InviteExpires, m.FailWindow, m.ReservedUntil, m.LockedUntil = timeOrZero(invExp), timeOrZero(failWin),
		timeOrZero(resUntil), timeOrZero(locked)
	m.Created, m.Updated = fromMicros(created), fromMicros(updated)
	return m, nil
}

func memberArgs(m console.Member) []any {
	return []any{m.Org, m.Email, string(m.Role), string(m.Status), m.PasswordHash, m.TOTPSealed, m.TOTPPending,
		m.TOTPLastStep, m.InviteHash, microsOrZero(m.InviteExpires), m.Failures, microsOrZero(m.FailWindow), m.Reserved,
		microsOrZero(m.ReservedUntil), microsOrZero(m.LockedUntil), micros(m.Created), micros(m.Updated)}
}

var errMemberExists = kassa.Invalid("email", "member_exists", "a member with this email address exists already")

func init() { errMemberExists.Kind = kassa.EConflict }

func (s *Console) CreateMember(ctx context.Context, m console.Member) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO console_members (`+memberColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, append([]any{m.ID}, memberArgs(m)...)...)
		if s.db.IsUniqueViolation(err) {
			return errMemberExists
		} else if err != nil {
			return fmt.Errorf("insert member: %w", err)
		}
		return nil
	})
}

func (s *Console) Member(ctx context.Context, id string) (console.Member, error) {
	return scanMember(s.db.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM console_members WHERE id = ?`, id))
}

func (s *Console) MemberByEmail(ctx context.Context, email string) (console.Member, error) {
	return scanMember(s.db.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM console_members
		WHERE email = ? AND status <> 'removed'`, email))
}

func (s *Console) MemberByInvite(ctx context.Context, hash []byte) (console.Member, error) {
	return scanMember(s.db.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM console_members WHERE invite_hash = ?`, hash))
}

func (s *Console) UpdateMember(ctx context.Context, id string, fn func(*console.Member) error) (console.Member, error) {
	var m console.Member
	err := s.db.Transact(ctx, func(tx *Tx) error {
		var err error
		m, err = scanMember(tx.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM console_members WHERE id = ?`+s.forUpdate(), id))
		if err != nil {
			return err
		}
		if err := fn(&m); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE console_members SET org = ?, email = ?, role = ?, status = ?, password_hash = ?,
			totp_secret_sealed = ?, totp_pending_sealed = ?, totp_last_step = ?, invite_hash = ?, invite_expires_at = ?,
			failures = ?, fail_window_at = ?, reserved = ?, reserved_until = ?, locked_until = ?, created_at = ?,
			updated_at = ? WHERE id = ?`, append(memberArgs(m), id)...)
		if s.db.IsUniqueViolation(err) {
			return errMemberExists
		} else if err != nil {
			return fmt.Errorf("update member: %w", err)
		}
		return nil
	})
	return m, err
}

func (s *Console) Members(ctx context.Context, org string, limit int) ([]console.Member, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+memberColumns+` FROM console_members WHERE org = ?
		ORDER BY created_at, id LIMIT ?`, org, limit)
	if err != nil {
		return nil, fmt.Errorf("select members: %w", err)
	}
	defer rows.Close()
	var ms []console.Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

const consoleSessionColumns = `id, member_id, token_hash, pending, ip, user_agent, created_at, last_seen_at,
	idle_expires_at, expires_at, revoked_at`

var errConsoleSessionNotFound = kassa.Errorf(kassa.ENotFound, "session_not_found", "no such session")

func scanConsoleSession(row scanner) (console.Session, error) {
	var x console.Session
	var pending int
	var created, seen, idle, exp, revoked int64
	err := row.Scan(&x.ID, &x.MemberID, &x.TokenHash, &pending, &x.IP, &x.UserAgent, &created, &seen, &idle, &exp, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return x, errConsoleSessionNotFound
	} else if err != nil {
		return x, fmt.Errorf("select console session: %w", err)
	}
	x.Pending = pending != 0
	x.Created, x.LastSeen, x.IdleExpiresAt, x.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(idle), fromMicros(exp)
	x.RevokedAt = timeOrZero(revoked)
	return x, nil
}

func (s *Console) CreateSession(ctx context.Context, x console.Session) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO console_sessions (`+consoleSessionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, x.ID, x.MemberID, x.TokenHash, boolInt(x.Pending), x.IP, x.UserAgent,
			micros(x.Created), micros(x.LastSeen), micros(x.IdleExpiresAt), micros(x.ExpiresAt), microsOrZero(x.RevokedAt))
		if err != nil {
			return fmt.Errorf("insert console session: %w", err)
		}
		return nil
	})
}

func (s *Console) SessionByTokenHash(ctx context.Context, hash []byte) (console.Session, error) {
	return scanConsoleSession(s.db.QueryRowContext(ctx, `SELECT `+consoleSessionColumns+` FROM console_sessions
		WHERE token_hash = ?`, hash))
}

func (s *Console) UpdateSession(ctx context.Context, id string, fn func(*console.Session) error) (console.Session, error) {
	var x console.Session
	err := s.db.Transact(ctx, func(tx *Tx) error {
		var err error
		x, err = scanConsoleSession(tx.QueryRowContext(ctx, `SELECT `+consoleSessionColumns+` FROM console_sessions
			WHERE id = ?`+s.forUpdate(), id))
		if err != nil {
			return err
		}
		if err := fn(&x); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE console_sessions SET token_hash = ?, pending = ?, last_seen_at = ?,
			idle_expires_at = ?, expires_at = ?, revoked_at = ? WHERE id = ?`, x.TokenHash, boolInt(x.Pending),
			micros(x.LastSeen), micros(x.IdleExpiresAt), micros(x.ExpiresAt), microsOrZero(x.RevokedAt), id)
		if err != nil {
			return fmt.Errorf("update console session: %w", err)
		}
		return nil
	})
	return x, err
}

func (s *Console) RevokeSessions(ctx context.Context, memberID string, now time.Time) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE console_sessions SET revoked_at = ? WHERE member_id = ? AND revoked_at = 0`,
			micros(now), memberID)
		if err != nil {
			return fmt.Errorf("revoke console sessions: %w", err)
		}
		return nil
	})
}
