package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/kassa/kassa"
)

// VerifySecondFactor checks a second factor for the session of token: a
// pending login, or a live aal1 session stepping up. On success the
// session reaches aal2 and authenticates, and gets a new token (the old
// one stops working): the result carries it. A login from a new device
// adds the device; DeviceToken then holds its cookie. Wrong proofs count
// against the customer's second-factor lockout (and the client IP's).
// Errors: kassa EUnauthorized session_invalid, EInvalid code_invalid (the
// proof is wrong, not told apart from expired or used codes) or
// factor_unavailable (not enrolled), ERateLimited login_locked, and for a
// login a self-exclusion register's refusal, which ends it (exclusion.go).
func (s *Service) VerifySecondFactor(ctx context.Context, token string, p Proof, c Client) (LoginResult, error) {
	sess, r, err := s.factorSession(ctx, token)
	if err != nil {
		return LoginResult{}, err
	}
	a, err := s.reserveFactor(ctx, r.ID, c.IP)
	if err != nil {
		return LoginResult{}, err
	}
	defer a.end(ctx)
	ok, err := s.checkFactor(ctx, r, sess, p)
	if err != nil {
		return LoginResult{}, err
	}
	if !ok {
		a.factorFailed(ctx, c.IP, string(p.Factor))
		return LoginResult{}, errCodeInvalid
	}
	a.passed(ctx)
	return s.passSecondFactor(ctx, r, sess, p.Factor, c, s.now().UTC())
}

// SecondFactorFreshMax is how long a passed second factor stays fresh:
// changing the factors themselves (adding or removing a passkey, turning
// the authenticator app off) needs one passed this recently, not merely a
// session that once did (a session left open, or one of a known device
// that logged in with a password alone, is not enough).
const SecondFactorFreshMax = 10 * time.Minute

// FreshSecondFactor reports whether the session passed a second factor
// within SecondFactorFreshMax before now.
func (s Session) FreshSecondFactor(now time.Time) bool {
	return s.AAL >= AAL2 && !s.SecondFactorAt.IsZero() && !now.Before(s.SecondFactorAt) &&
		now.Sub(s.SecondFactorAt) < SecondFactorFreshMax
}

// checkFactor dispatches a proof to its factor.
func (s *Service) checkFactor(ctx context.Context, r Record, sess Session, p Proof) (bool, error) {
	unavailable := kassa.Invalid("factor", CodeFactorUnavailable, "that second factor is not available for this account")
	switch p.Factor {
	case FactorOTP:
		err := s.checkCode(ctx, r.ID, PurposeLogin, sess.ID, p.Code)
		if kassa.AsError(err) == errCodeInvalid {
			return false, nil
		}
		return err == nil, err
	case FactorTOTP:
		if len(r.TOTP.Secret) == 0 {
			return false, unavailable
		}
		return s.checkTOTP(ctx, r.ID, p.Code)
	case FactorRecoveryCode:
		if len(r.TOTP.Secret) == 0 {
			return false, unavailable
		}
		return s.useRecoveryCode(ctx, r.ID, p.Code)
	}
	v, ok := s.factors[p.Factor]
	if !ok {
		return false, unavailable
	}
	on, err := v.Enrolled(ctx, r.ID)
	if err != nil {
		return false, fmt.Errorf("identity: %s enrolled: %w", p.Factor, err)
	}
	if !on {
		return false, unavailable
	}
	ok, err = v.Verify(ctx, r.ID, sess.ID, p)
	if err != nil {
		return false, fmt.Errorf("identity: verify %s: %w", p.Factor, err)
	}
	return ok, nil
}

// passSecondFactor raises a session to aal2 with a new token, adding the
// device when it was new.
func (s *Service) passSecondFactor(ctx context.Context, r Record, sess Session, f Factor, c Client, now time.Time) (LoginResult, error) {
	res := LoginResult{Customer: r.customer()}
	wasPending := sess.Pending
	if wasPending {
		// The login authenticates now: the registers are asked now, and a
		// refusal ends the login.
		if err := s.loginExclusion(ctx, r); err != nil {
			s.refusedLogin(ctx, r, c, err)
			if rerr := s.revoke(ctx, sess.ID, now); rerr != nil {
				s.log.ErrorContext(ctx, "revoke refused login", "session", sess.ID, "err", rerr)
			}
			return res, err
		}
	}
	deviceID, newDevice := sess.DeviceID, sess.DeviceID == ""
	if newDevice {
		deviceID = s.ids.New("dev")
	}
	// The token changes first: if another request rotated the session
	// meanwhile, this one fails before it adds a device.
	sess, token, err := s.rotate(ctx, sess, now, func(x *Session) {
		if x.Pending {
			x.Pending = false
			x.ExpiresAt = x.Created.Add(s.lim.SessionAbsolute)
		}
		x.AAL, x.SecondFactorAt, x.DeviceID = AAL2, now, deviceID
	})
	if err != nil {
		return res, err
	}
	if newDevice {
		if res.DeviceToken, err = s.addDevice(ctx, deviceID, r.ID, c, now); err != nil {
			return res, err
		}
	} else {
		s.seeDevice(ctx, deviceID, c, now)
	}
	res.Session, res.Token = sess, token
	res.Device = Recognition{Known: true, DeviceID: deviceID}
	s.emit(ctx, EventSecondFactorPassed, r.ID, EventData{"session": sess.ID, "factor": string(f), "ip": c.IP})
	if wasPending {
		s.emit(ctx, EventLoginSucceeded, r.ID, EventData{"session": sess.ID, "aal": AAL2.String(), "ip": c.IP, "device": deviceID})
	}
	return res, nil
}

// ChangePassword replaces the password of the session's customer after
// checking the current one. The session gets a new token (in the
// result) and every other session of the customer ends. Errors: kassa
// EUnauthorized session_invalid or login_failed (the current password is
// wrong; counts against the account's lockout), EForbidden
// second_factor_required, EInvalid password_* (CheckPassword),
// ERateLimited login_locked.
func (s *Service) ChangePassword(ctx context.Context, token, current, next string, c Client) (LoginResult, error) {
	now := s.now().UTC()
	sess, err := s.session(ctx, token, now)
	if err != nil {
		return LoginResult{}, err
	}
	if sess.Pending {
		return LoginResult{}, kassa.Errorf(kassa.EForbidden, CodeSecondFactorRequired, "this login must pass a second factor first")
	}
	r, err := s.record(ctx, sess.CustomerID)
	if err != nil {
		return LoginResult{}, err
	}
	a, err := s.reserve(ctx, keys(ScopeAccount, r.Email, c.IP), r.ID, now)
	if err != nil {
		return LoginResult{}, err
	}
	defer a.end(ctx)
	ok, _, err := s.verifyPassword(ctx, r.PasswordHash, r.PasswordHash != "", truncate(current, passwordBytesMax))
	if err != nil {
		return LoginResult{}, err
	}
	if !ok {
		s.emit(ctx, EventLoginFailed, r.ID, EventData{"reason": "password_change", "ip": c.IP})
		a.failed(ctx)
		return LoginResult{}, errLoginFailed
	}
	if r, err = s.setPassword(ctx, r, next, now); err != nil {
		return LoginResult{}, err
	}
	sess, tok, err := s.rotate(ctx, sess, now, nil)
	if err != nil {
		return LoginResult{}, err
	}
	if _, err := s.store.RevokeSessions(ctx, r.ID, sess.ID, now); err != nil {
		return LoginResult{}, fmt.Errorf("identity: revoke other sessions: %w", err)
	}
	s.emit(ctx, EventPasswordChanged, r.ID, EventData{"session": sess.ID, "ip": c.IP})
	return LoginResult{Session: sess, Token: tok, Customer: r.customer(), Device: Recognition{Known: sess.DeviceID != "", DeviceID: sess.DeviceID}}, nil
}

// setPassword checks a new password against the rules, hashes it and
// stores it, updating the customer's level.
func (s *Service) setPassword(ctx context.Context, r Record, password string, now time.Time) (Record, error) {
	if err := CheckPassword(password, r.Email); err != nil {
		return r, err
	}
	var h string
	var herr error
	if err := s.hash(ctx, func() { h, herr = s.hasher.Hash(password) }); err != nil {
		return r, err
	}
	if herr != nil {
		return r, fmt.Errorf("identity: hash password: %w", herr)
	}
	return s.update(ctx, r.ID, func(x *Record) error {
		x.PasswordHash, x.PasswordChangedAt, x.Updated = h, now, now
		x.Level = x.level()
		return nil
	})
}
