package identity

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/kassa/kassa"
)

// Client is what the hosted pages know of the browser making a request.
type Client struct {
	IP          string // the client IP as httpapi determined it
	UserAgent   string
	DeviceToken string // the device cookie; "" when none
	Fingerprint string // the page's fingerprint hash; "" when none
}

// Factor names a second factor.
type Factor string

const (
	FactorOTP          Factor = "otp"           // a code sent by email or SMS (SendLoginCode)
	FactorTOTP         Factor = "totp"          // an authenticator app
	FactorRecoveryCode Factor = "recovery_code" // one of the codes shown at TOTP enrolment
	FactorPasskey      Factor = "passkey"       // WebAuthn, added through Config.Factors
)

func (f Factor) valid() bool { return len(f) > 0 && len(f) <= 32 }

// Proof is what a customer presents for a second factor: a code, or for
// factors others add (passkeys) their own data (a WebAuthn assertion).
type Proof struct {
	Factor Factor
	Code   string
	Data   []byte
}

// FactorVerifier is a second factor another package adds (WebAuthn
// passkeys, Factor "passkey"). The package keeps its own credentials and
// challenges; a challenge is bound to the login's session id.
type FactorVerifier interface {
	// Enrolled reports whether the customer can use the factor.
	Enrolled(ctx context.Context, customerID string) (bool, error)
	// Verify checks a proof for the session sessionID of the customer.
	Verify(ctx context.Context, customerID, sessionID string, p Proof) (bool, error)
}

// LoginAttempt is a login whose password was right, for a Policy.
type LoginAttempt struct {
	Customer Customer
	Device   Recognition
	Client   Client
	Time     time.Time
}

// Policy decides whether a login with the right password needs a second
// factor before its session authenticates. The risk engine can implement
// it; an error makes the login need one.
type Policy interface {
	SecondFactor(ctx context.Context, a LoginAttempt) (bool, error)
}

// NewDevicePolicy asks for a second factor on devices that are not known.
type NewDevicePolicy struct{}

func (NewDevicePolicy) SecondFactor(_ context.Context, a LoginAttempt) (bool, error) {
	return !a.Device.Known, nil
}

// LoginRequest is a password login.
type LoginRequest struct {
	Email    string
	Password string
	Client   Client
}

// LoginResult is a session started by Login, SignUpPassword or passed by
// VerifySecondFactor.
type LoginResult struct {
	Session Session
	// Token is the session token for the session cookie. It is known only
	// here: the store keeps its hash.
	Token string
	// Factors lists the second factors the session must pass (any one of
	// them, strongest first) before it authenticates; empty when none.
	Factors []Factor
	// Device is the device as recognized at login.
	Device Recognition
	// DeviceToken, when set, is a new device's token to set as the
	// long-lived device cookie.
	DeviceToken string
	Customer    Customer
}

// Login checks an email and password and starts a session. Whether the
// address has an account is not told: a wrong password and an unknown
// address give the same error after the same work (one password hash)
// and are throttled under the same key, the address (and the client IP).
// The session needs a second factor when Policy says so (by default: on a
// device that is not known); LoginResult.Factors then lists the choices.
// Errors: kassa EUnauthorized login_failed, ERateLimited login_locked (a
// *LockedOutError, after repeated failures: a backoff, then lockouts),
// and, only once the password was right and no second factor is asked
// for, a self-exclusion register's refusal (exclusion.go).
func (s *Service) Login(ctx context.Context, req LoginRequest) (LoginResult, error) {
	now := s.now().UTC()
	email, err := NormalizeEmail(req.Email)
	if err != nil || len(req.Password) > passwordBytesMax {
		return LoginResult{}, errLoginFailed
	}
	// The attempt takes its place under the lockout before the password
	// is checked (see throttle.go): attempts sent together cannot all be
	// checked before their failures count.
	a, err := s.reserve(ctx, keys(ScopeAccount, email, req.Client.IP), "", now)
	if err != nil {
		return LoginResult{}, err
	}
	defer a.end(ctx)
	r, err := s.store.CustomerByEmail(ctx, email)
	found := err == nil && r.PasswordHash != ""
	if err != nil && !errors.Is(err, ErrNotFound) {
		return LoginResult{}, fmt.Errorf("identity: customer by email: %w", err)
	}
	if found {
		a.customerID = r.ID
	}
	ok, rehash, err := s.verifyPassword(ctx, r.PasswordHash, found, req.Password)
	if err != nil {
		return LoginResult{}, err
	}
	if !ok {
		s.emit(ctx, EventLoginFailed, a.customerID, EventData{"reason": "credentials", "email": maskEmail(email), "ip": req.Client.IP})
		a.failed(ctx)
		return LoginResult{}, errLoginFailed
	}
	a.passed(ctx)
	if rehash {
		r = s.rehash(ctx, r, req.Password)
	}
	return s.startSession(ctx, r, req.Client, now)
}

// verifyPassword checks a password against a stored hash, or against the
// dummy hash when there is none, so that both take one hash's time.
func (s *Service) verifyPassword(ctx context.Context, hash string, found bool, password string) (ok, rehash bool, err error) {
	if !found {
		hash = s.dummyHash
	}
	var verr error
	if err := s.hash(ctx, func() { ok, rehash, verr = s.hasher.Verify(hash, password) }); err != nil {
		return false, false, err
	}
	if verr != nil {
		// A broken stored hash: the password cannot be checked. Say so in
		// the log, and to the customer only what any failure says.
		s.log.ErrorContext(ctx, "verify password hash", "err", verr)
		return false, false, nil
	}
	return ok && found, rehash, nil
}

// rehash stores a hash with the current parameters after a login proved
// the password; a failure is logged (the old hash still works).
func (s *Service) rehash(ctx context.Context, r Record, password string) Record {
	var h string
	var herr error
	if err := s.hash(ctx, func() { h, herr = s.hasher.Hash(password) }); err != nil || herr != nil {
		s.log.ErrorContext(ctx, "rehash password", "customer", r.ID, "err", errors.Join(err, herr))
		return r
	}
	old := r.PasswordHash
	nr, err := s.update(ctx, r.ID, func(x *Record) error {
		if x.PasswordHash == old { // not changed meanwhile
			x.PasswordHash = h
		}
		return nil
	})
	if err != nil {
		s.log.ErrorContext(ctx, "store rehashed password", "customer", r.ID, "err", err)
		return r
	}
	return nr
}

// startSession starts the session of a login whose password was right.
func (s *Service) startSession(ctx context.Context, r Record, c Client, now time.Time) (LoginResult, error) {
	rec, err := s.RecognizeDevice(ctx, r.ID, c.DeviceToken, c.Fingerprint)
	if err != nil {
		return LoginResult{}, err
	}
	cus := r.customer()
	need, err := s.policy.SecondFactor(ctx, LoginAttempt{Customer: cus, Device: rec, Client: c, Time: now})
	if err != nil {
		s.log.ErrorContext(ctx, "login policy", "customer", r.ID, "err", err)
		need = true
	}
	if !need {
		// The login authenticates now: the registers are asked now (after
		// the second factor otherwise, see passSecondFactor).
		if err := s.loginExclusion(ctx, r); err != nil {
			s.refusedLogin(ctx, r, c, err)
			return LoginResult{}, err
		}
	}
	var factors []Factor
	if need {
		if factors, err = s.availableFactors(ctx, r); err != nil {
			return LoginResult{}, err
		}
	}
	sess, token := s.newSession(r, c, AAL1, need, rec.DeviceID, now)
	if err := s.createSession(ctx, sess); err != nil {
		return LoginResult{}, err
	}
	if !need {
		if rec.Known {
			s.seeDevice(ctx, rec.DeviceID, c, now)
		}
		s.emit(ctx, EventLoginSucceeded, r.ID, EventData{"session": sess.ID, "aal": AAL1.String(), "ip": c.IP, "device": rec.DeviceID})
	}
	return LoginResult{Session: sess, Token: token, Factors: factors, Device: rec, Customer: cus}, nil
}

// availableFactors lists the second factors a customer can pass,
// strongest first. One-time codes by email are always possible for a
// customer who has a password (sign-up confirmed the address).
func (s *Service) availableFactors(ctx context.Context, r Record) ([]Factor, error) {
	var fs []Factor
	if v, ok := s.factors[FactorPasskey]; ok {
		if on, err := v.Enrolled(ctx, r.ID); err != nil {
			return nil, fmt.Errorf("identity: passkey enrolled: %w", err)
		} else if on {
			fs = append(fs, FactorPasskey)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(s.factors)) {
		if f == FactorPasskey {
			continue
		}
		if on, err := s.factors[f].Enrolled(ctx, r.ID); err != nil {
			return nil, fmt.Errorf("identity: %s enrolled: %w", f, err)
		} else if on {
			fs = append(fs, f)
		}
	}
	if len(r.TOTP.Secret) > 0 {
		fs = append(fs, FactorTOTP, FactorRecoveryCode)
	}
	if !r.EmailVerifiedAt.IsZero() || !r.PhoneVerifiedAt.IsZero() {
		fs = append(fs, FactorOTP)
	}
	if len(fs) == 0 {
		return nil, fmt.Errorf("identity: customer %s has no second factor", r.ID)
	}
	return fs, nil
}

// Challenge is what the second-factor page of a login shows.
type Challenge struct {
	SessionID string
	Factors   []Factor
	Channels  []Channel // where FactorOTP codes can go
	Email     string    // masked
	Phone     string    // masked, "" when not confirmed
	// KnownDevice: the session runs on a device the account knows, so a
	// factor was asked for another reason than a new device (Policy).
	KnownDevice bool
}

// LoginChallenge tells the second-factor page of a session (pending, or
// live at aal1 for a step-up to aal2) which factors it can offer. Errors:
// kassa EUnauthorized session_invalid.
func (s *Service) LoginChallenge(ctx context.Context, token string) (Challenge, error) {
	sess, r, err := s.factorSession(ctx, token)
	if err != nil {
		return Challenge{}, err
	}
	fs, err := s.availableFactors(ctx, r)
	if err != nil {
		return Challenge{}, err
	}
	c := Challenge{SessionID: sess.ID, Factors: fs, Email: maskEmail(r.Email), KnownDevice: sess.DeviceID != ""}
	if !r.EmailVerifiedAt.IsZero() {
		c.Channels = append(c.Channels, ChannelEmail)
	}
	if !r.PhoneVerifiedAt.IsZero() {
		c.Channels = append(c.Channels, ChannelSMS)
		c.Phone = maskPhone(r.Phone)
	}
	return c, nil
}

// factorSession finds the live session of a token (pending or not) and
// its customer.
func (s *Service) factorSession(ctx context.Context, token string) (Session, Record, error) {
	sess, err := s.session(ctx, token, s.now().UTC())
	if err != nil {
		return sess, Record{}, err
	}
	r, err := s.record(ctx, sess.CustomerID)
	if kassa.ErrorKind(err) == kassa.ENotFound {
		return sess, r, errSessionInvalid
	}
	return sess, r, err
}

// SendLoginCode sends the customer of a session a login code (FactorOTP)
// by email or SMS, bound to the session. Errors: kassa EUnauthorized
// session_invalid, EInvalid factor_unavailable (channel not confirmed),
// ERateLimited code_resend_limited, EUnavailable notification_failed.
func (s *Service) SendLoginCode(ctx context.Context, token string, ch Channel) error {
	sess, r, err := s.factorSession(ctx, token)
	if err != nil {
		return err
	}
	to, err := destination(r, ch)
	if err != nil {
		return err
	}
	return s.sendCode(ctx, r.ID, PurposeLogin, sess.ID, ch, to)
}
