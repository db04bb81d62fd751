package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
)

// AAL is a session's authenticator assurance level (NIST SP 800-63B).
type AAL int

const (
	AAL1 AAL = 1 // a password (or, at sign-up, email and phone codes and a new password)
	AAL2 AAL = 2 // and a second factor passed
)

func (a AAL) String() string {
	if a == AAL2 {
		return "aal2"
	}
	return "aal1"
}

// Session is a customer's login. The token the browser holds is never
// stored: only its SHA-256. A session whose login still needs a second
// factor is Pending: it authenticates nothing, and only the second-factor
// methods accept its token.
type Session struct {
	ID             string // ses_...
	CustomerID     string
	TokenHash      []byte
	AAL            AAL
	Pending        bool
	DeviceID       string // the known device it runs on; "" until a new device passed
	IP             string
	UserAgent      string
	Created        time.Time
	LastSeen       time.Time
	IdleExpiresAt  time.Time // LastSeen + Limits.SessionIdle, never after ExpiresAt
	ExpiresAt      time.Time // Created + Limits.SessionAbsolute (pendingTTL while Pending)
	SecondFactorAt time.Time // when a second factor was last passed; zero: never
	RotatedAt      time.Time // when the token last changed; zero: never
	RevokedAt      time.Time
}

// Session limits.
const (
	// pendingTTL is how long a login may take to pass its second factor.
	pendingTTL = 15 * time.Minute
	// touchInterval spaces the writes that record a session's use.
	touchInterval = time.Minute
	// sessionsListMax bounds Sessions (SessionsPerCustomer is below it).
	sessionsListMax = 100
)

// Live reports whether the session may be used at now.
func (s Session) Live(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt) && now.Before(s.IdleExpiresAt)
}

// newSession returns a session and its token.
func (s *Service) newSession(r Record, c Client, aal AAL, pending bool, deviceID string, now time.Time) (Session, string) {
	token := s.newToken()
	exp := now.Add(s.lim.SessionAbsolute)
	if pending {
		exp = now.Add(min(pendingTTL, s.lim.SessionAbsolute))
	}
	sess := Session{
		ID: s.ids.New("ses"), CustomerID: r.ID, TokenHash: hashToken(token), AAL: aal, Pending: pending,
		DeviceID: deviceID, IP: truncate(c.IP, 64), UserAgent: truncate(c.UserAgent, userAgentMax),
		Created: now, LastSeen: now, ExpiresAt: exp,
	}
	sess.IdleExpiresAt = minTime(now.Add(s.lim.SessionIdle), exp)
	return sess, token
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (s *Service) createSession(ctx context.Context, sess Session) error {
	if err := s.store.CreateSession(ctx, sess, s.lim.SessionsPerCustomer); err != nil {
		return fmt.Errorf("identity: create session: %w", err)
	}
	return nil
}

// session finds the live session of a token, pending or not.
func (s *Service) session(ctx context.Context, token string, now time.Time) (Session, error) {
	if !validToken(token) {
		return Session{}, errSessionInvalid
	}
	sess, err := s.store.SessionByTokenHash(ctx, hashToken(token))
	if errors.Is(err, ErrNotFound) {
		return sess, errSessionInvalid
	} else if err != nil {
		return sess, fmt.Errorf("identity: session: %w", err)
	}
	if !sess.Live(now) {
		return sess, errSessionInvalid
	}
	return sess, nil
}

// Authenticate returns the session of a token and records its use (which
// pushes its idle expiry back). Errors: kassa EUnauthorized
// session_invalid (unknown, expired, revoked or replaced by a rotation),
// EForbidden second_factor_required while the login must still pass a
// second factor (LoginChallenge tells which).
func (s *Service) Authenticate(ctx context.Context, token string) (Session, error) {
	now := s.now().UTC()
	sess, err := s.session(ctx, token, now)
	if err != nil {
		return Session{}, err
	}
	if sess.Pending {
		return Session{}, kassa.Errorf(kassa.EForbidden, CodeSecondFactorRequired, "this login must pass a second factor first")
	}
	if now.Sub(sess.LastSeen) < touchInterval {
		return sess, nil
	}
	hash := sess.TokenHash
	sess, err = s.store.UpdateSession(ctx, sess.ID, func(x *Session) error {
		if !bytes.Equal(x.TokenHash, hash) || !x.Live(now) {
			return errSessionInvalid
		}
		x.LastSeen = now
		x.IdleExpiresAt = minTime(now.Add(s.lim.SessionIdle), x.ExpiresAt)
		return nil
	})
	if err != nil {
		return Session{}, sessionErr(err)
	}
	return sess, nil
}

func sessionErr(err error) error {
	if errors.Is(err, ErrNotFound) {
		return errSessionInvalid
	}
	if kassa.AsError(err) != nil {
		return err
	}
	return fmt.Errorf("identity: update session: %w", err)
}

// rotate gives a live session a new token, applying change too, in one
// store transaction; the old token stops working at once. A concurrent
// rotation of the same token makes this one fail with session_invalid.
func (s *Service) rotate(ctx context.Context, sess Session, now time.Time, change func(*Session)) (Session, string, error) {
	token := s.newToken()
	old := sess.TokenHash
	sess, err := s.store.UpdateSession(ctx, sess.ID, func(x *Session) error {
		if !bytes.Equal(x.TokenHash, old) || !x.Live(now) {
			return errSessionInvalid
		}
		x.TokenHash = hashToken(token)
		x.RotatedAt, x.LastSeen = now, now
		if change != nil {
			change(x)
		}
		x.IdleExpiresAt = minTime(now.Add(s.lim.SessionIdle), x.ExpiresAt)
		return nil
	})
	if err != nil {
		return Session{}, "", sessionErr(err)
	}
	return sess, token, nil
}

// Sessions lists a customer's live sessions, newest first.
func (s *Service) Sessions(ctx context.Context, customerID string) ([]Session, error) {
	ss, err := s.store.Sessions(ctx, customerID, s.now().UTC(), sessionsListMax)
	if err != nil {
		return nil, fmt.Errorf("identity: sessions: %w", err)
	}
	return ss, nil
}

// Logout revokes the session of a token; an unknown or ended one is no
// error.
func (s *Service) Logout(ctx context.Context, token string) error {
	now := s.now().UTC()
	sess, err := s.session(ctx, token, now)
	if err != nil {
		if kassa.AsError(err) == errSessionInvalid {
			return nil
		}
		return err
	}
	return s.revoke(ctx, sess.ID, now)
}

func (s *Service) revoke(ctx context.Context, sessionID string, now time.Time) error {
	_, err := s.store.UpdateSession(ctx, sessionID, func(x *Session) error {
		if x.RevokedAt.IsZero() {
			x.RevokedAt = now
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("identity: revoke session: %w", err)
	}
	return nil
}

// RevokeSession ends one session of a customer (from their list of
// sessions). Errors: kassa ENotFound session_not_found, also for another
// customer's session.
func (s *Service) RevokeSession(ctx context.Context, customerID, sessionID string) error {
	now := s.now().UTC()
	notFound := kassa.Errorf(kassa.ENotFound, CodeSessionNotFound, "no such session")
	if !id.HasPrefix(sessionID, "ses") {
		return notFound
	}
	_, err := s.store.UpdateSession(ctx, sessionID, func(x *Session) error {
		if x.CustomerID != customerID {
			return notFound
		}
		if x.RevokedAt.IsZero() {
			x.RevokedAt = now
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return notFound
	} else if err != nil {
		return sessionErr(err)
	}
	s.emit(ctx, EventSessionRevoked, customerID, EventData{"session": sessionID})
	return nil
}

// RevokeOtherSessions ends every session of the customer but the one of
// token ("log out everywhere else") and says how many it ended.
func (s *Service) RevokeOtherSessions(ctx context.Context, token string) (int, error) {
	now := s.now().UTC()
	sess, err := s.session(ctx, token, now)
	if err != nil {
		return 0, err
	}
	if sess.Pending {
		return 0, kassa.Errorf(kassa.EForbidden, CodeSecondFactorRequired, "this login must pass a second factor first")
	}
	n, err := s.store.RevokeSessions(ctx, sess.CustomerID, sess.ID, now)
	if err != nil {
		return 0, fmt.Errorf("identity: revoke sessions: %w", err)
	}
	if n > 0 {
		s.emit(ctx, EventSessionRevoked, sess.CustomerID, EventData{"count": fmt.Sprint(n), "except": sess.ID})
	}
	return n, nil
}
