package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/identity"
)

// Client is where a request comes from.
type Client struct {
	IP        string
	UserAgent string
}

// WithMember returns ctx with m as the actor of audit entries.
func WithMember(ctx context.Context, m Member, c Client) context.Context {
	return audit.WithActor(ctx, audit.Actor{Kind: audit.ActorMember, ID: m.ID, Name: m.Email, Role: string(m.Role),
		IP: c.IP, UserAgent: c.UserAgent})
}

// reserve takes the place of one password or code attempt of the member
// before it is checked, so that attempts sent at once cannot all pass the
// lockout's check before the first failure counts.
func (s *Service) reserve(ctx context.Context, memberID string) error {
	now := s.now()
	_, err := s.cfg.Store.UpdateMember(ctx, memberID, func(x *Member) error {
		if now.Before(x.LockedUntil) {
			return errLocked
		}
		if x.FailWindow.IsZero() || now.Sub(x.FailWindow) >= failWindow {
			x.Failures, x.FailWindow = 0, now
		}
		inFlight := 0
		if now.Before(x.ReservedUntil) {
			inFlight = x.Reserved
		}
		if x.Failures+inFlight >= failuresMax {
			return errLocked
		}
		x.Reserved, x.ReservedUntil = inFlight+1, now.Add(attemptLease)
		return nil
	})
	return err
}

// endAttempt gives the place back, counting a failure.
func (s *Service) endAttempt(ctx context.Context, memberID string, failed bool) {
	now := s.now()
	_, _ = s.cfg.Store.UpdateMember(ctx, memberID, func(x *Member) error {
		x.Reserved = max(x.Reserved-1, 0)
		if !failed {
			x.Failures = 0
			return nil
		}
		x.Failures++
		if x.Failures >= failuresMax {
			x.LockedUntil, x.Failures, x.FailWindow = now.Add(lockout), 0, now
		}
		return nil
	})
}

// dummyHash is checked for unknown addresses, so that they take as long
// as known ones.
var dummyHash = identity.EncodePHC(identity.DefaultArgon2, make([]byte, 16), make([]byte, 32))

// Login checks a member's password and returns the token of a pending
// session: the authenticator code must follow (PassCode). An unknown
// address, a wrong password and a removed member get the same
// login_failed. Errors: login_failed, login_locked.
func (s *Service) Login(ctx context.Context, email, password string, c Client) (string, error) {
	email, err := identity.NormalizeEmail(email)
	if err != nil || len(password) > 4*identity.PasswordLengthMax {
		return "", ErrLoginFailed
	}
	m, err := s.cfg.Store.MemberByEmail(ctx, email)
	if kassa.ErrorKind(err) == kassa.ENotFound || (err == nil && m.Status != Active) {
		_, _, _ = s.cfg.Hasher.Verify(dummyHash, password)
		return "", ErrLoginFailed
	} else if err != nil {
		return "", fmt.Errorf("console: member: %w", err)
	}
	if err := s.reserve(ctx, m.ID); err != nil {
		return "", err
	}
	ok, _, err := s.cfg.Hasher.Verify(m.PasswordHash, password)
	if err != nil {
		s.endAttempt(ctx, m.ID, false)
		return "", fmt.Errorf("console: verify password: %w", err)
	}
	s.endAttempt(ctx, m.ID, !ok)
	if !ok {
		return "", ErrLoginFailed
	}
	return s.newSession(ctx, m, true, c)
}

// PassCode checks the authenticator code of a pending login. The pending
// session ends and a new one (a new token) begins: a token planted in the
// browser before the login never becomes a logged-in one. Errors:
// session_invalid, code_invalid, login_locked.
func (s *Service) PassCode(ctx context.Context, pendingToken, code string, c Client) (string, Member, error) {
	now := s.now()
	sess, err := s.session(ctx, pendingToken)
	if err != nil {
		return "", Member{}, err
	}
	if !sess.Pending {
		return "", Member{}, ErrSessionInvalid
	}
	m, err := s.cfg.Store.Member(ctx, sess.MemberID)
	if err != nil || m.Status != Active {
		return "", Member{}, ErrSessionInvalid
	}
	if m, err = s.checkCode(ctx, m.ID, code); err != nil {
		return "", Member{}, err
	}
	if err := s.revoke(ctx, sess, now); err != nil {
		return "", Member{}, err
	}
	tok, err := s.newSession(ctx, m, false, c)
	if err != nil {
		return "", Member{}, err
	}
	if err := s.cfg.Audit.Record(WithMember(ctx, m, c), m.Org, "member.login", m.ID, nil, nil); err != nil {
		return "", Member{}, err
	}
	return tok, m, nil
}

// checkCode checks a code of the member's authenticator and records its
// time step, after reserving the attempt's place.
func (s *Service) checkCode(ctx context.Context, memberID, code string) (Member, error) {
	if err := s.reserve(ctx, memberID); err != nil {
		return Member{}, err
	}
	now := s.now()
	m, err := s.cfg.Store.UpdateMember(ctx, memberID, func(x *Member) error {
		secret, err := s.open(x.ID, "totp", x.TOTPSealed)
		if err != nil {
			return err
		}
		step, ok := identity.TOTPStep(string(secret), code, now)
		if !ok || step <= x.TOTPLastStep {
			return ErrCodeInvalid
		}
		x.TOTPLastStep = step
		x.Reserved, x.Failures = max(x.Reserved-1, 0), 0
		return nil
	})
	if err != nil {
		s.endAttempt(ctx, memberID, errors.Is(err, ErrCodeInvalid))
		return Member{}, err
	}
	return m, nil
}

// StepUp checks a fresh authenticator code of a logged-in member, for an
// action that asks for one (a large refund). The code's time step is
// spent: it passes once. Errors: code_invalid, login_locked.
func (s *Service) StepUp(ctx context.Context, memberID, code string) error {
	_, err := s.checkCode(ctx, memberID, code)
	return err
}

func (s *Service) newSession(ctx context.Context, m Member, pending bool, c Client) (string, error) {
	now := s.now()
	tok := s.token()
	exp := now.Add(SessionAbsolute)
	if pending {
		exp = now.Add(pendingTTL)
	}
	sess := Session{ID: s.cfg.IDs.New("cses"), MemberID: m.ID, TokenHash: hashToken(tok), Pending: pending,
		IP: trim(c.IP, 64), UserAgent: trim(c.UserAgent, 200), Created: now, LastSeen: now, ExpiresAt: exp,
		IdleExpiresAt: earliest(now.Add(SessionIdle), exp)}
	if err := s.cfg.Store.CreateSession(ctx, sess); err != nil {
		return "", fmt.Errorf("console: create session: %w", err)
	}
	return tok, nil
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *Service) session(ctx context.Context, token string) (Session, error) {
	if !validToken(token) {
		return Session{}, ErrSessionInvalid
	}
	sess, err := s.cfg.Store.SessionByTokenHash(ctx, hashToken(token))
	if kassa.ErrorKind(err) == kassa.ENotFound {
		return Session{}, ErrSessionInvalid
	} else if err != nil {
		return Session{}, fmt.Errorf("console: session: %w", err)
	}
	if !sess.Live(s.now()) {
		return Session{}, ErrSessionInvalid
	}
	return sess, nil
}

// PendingLogin reports whether token is a live login waiting for its code.
func (s *Service) PendingLogin(ctx context.Context, token string) bool {
	sess, err := s.session(ctx, token)
	return err == nil && sess.Pending
}

// Authenticate returns the member of a logged-in session's token, and
// pushes its idle expiry back. A removed member's sessions are over.
// Errors: session_invalid.
func (s *Service) Authenticate(ctx context.Context, token string) (Member, Session, error) {
	sess, err := s.session(ctx, token)
	if err != nil {
		return Member{}, Session{}, err
	}
	if sess.Pending {
		return Member{}, Session{}, ErrSessionInvalid
	}
	m, err := s.cfg.Store.Member(ctx, sess.MemberID)
	if err != nil || m.Status != Active {
		return Member{}, Session{}, ErrSessionInvalid
	}
	now := s.now()
	if now.Sub(sess.LastSeen) >= touchInterval {
		hash := sess.TokenHash
		sess, err = s.cfg.Store.UpdateSession(ctx, sess.ID, func(x *Session) error {
			if !bytes.Equal(x.TokenHash, hash) || !x.Live(now) {
				return ErrSessionInvalid
			}
			x.LastSeen = now
			x.IdleExpiresAt = earliest(now.Add(SessionIdle), x.ExpiresAt)
			return nil
		})
		if err != nil {
			return Member{}, Session{}, ErrSessionInvalid
		}
	}
	return m, sess, nil
}

// Logout ends the session of a token; an unknown one is no error.
func (s *Service) Logout(ctx context.Context, token string) error {
	sess, err := s.session(ctx, token)
	if err != nil {
		return nil
	}
	return s.revoke(ctx, sess, s.now())
}

func (s *Service) revoke(ctx context.Context, sess Session, at time.Time) error {
	_, err := s.cfg.Store.UpdateSession(ctx, sess.ID, func(x *Session) error {
		if x.RevokedAt.IsZero() {
			x.RevokedAt = at
		}
		return nil
	})
	if err != nil && kassa.ErrorKind(err) != kassa.ENotFound {
		return fmt.Errorf("console: revoke session: %w", err)
	}
	return nil
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
