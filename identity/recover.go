package identity

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
)

// Account recovery: a new password after a forgotten one.
//
//  1. StartRecovery(email): a code goes to the address when it is an
//     account's confirmed email. The answer is the same either way (a
//     token), so it tells nobody whether the address has an account.
//  2. RecoveryEmailCode(token, code): the mailbox is proved. The answer
//     lists the second factors the account has (an authenticator app,
//     its recovery codes, a code by SMS to its confirmed phone).
//  3. RecoveryFactor(token, proof): one of them is proved. An account
//     with no second factor skips this step — never otherwise: email
//     alone never resets an account that has one.
//  4. FinishRecovery(token, password): the new password is set and every
//     session of the account ends.
//
// The token carries the recovery's state, signed with the service's key
// (no table): its id (the codes' owner), the address, the step reached
// and its expiry; from step 3 on also a fingerprint of the password it
// replaces, so a finished recovery's token does nothing more. Guess
// limits are the login's: every wrong code, TOTP or recovery code counts
// against the address's lockout (and the IP's), the codes die after
// Limits.CodeAttempts wrong tries, and a recovery is started at most
// RecoveriesPerIP times an hour from one address.

// Recovery steps a token has reached.
const (
	recoverStarted = "started"
	recoverEmail   = "email"  // the mailbox proved
	recoverFactor  = "factor" // a second factor proved (or none was needed)
)

// RecoveriesPerIP bounds the recoveries started from one client IP (IPv6:
// per /64) an hour.
const RecoveriesPerIP = 10

// recoveryTTL is how long a recovery may take from its start.
const recoveryTTL = 30 * time.Minute

// CodeRecoveryInvalid: an unknown, altered, expired or used recovery
// token, or a step out of order.
const CodeRecoveryInvalid = "recovery_invalid" // EUnauthorized

var errRecoveryInvalid = kassa.Errorf(kassa.EUnauthorized, CodeRecoveryInvalid, "the recovery is unknown or has expired; start again")

// Recovery is where an account recovery stands.
type Recovery struct {
	Token string // the next step's token
	// Factors are the second factors to choose from after the email code
	// (FactorTOTP, FactorRecoveryCode, FactorOTP by SMS); empty when the
	// account has none and the password may be set now.
	Factors []Factor
	Phone   string // masked, when FactorOTP is offered
	Done    bool   // the password may be set (FinishRecovery)
}

type recoveryToken struct {
	ID, Email, Step string
	Expires         time.Time
	PasswordFP      string // from step factor on
}

func (s *Service) sealRecovery(t recoveryToken) string {
	payload := strings.Join([]string{"r1", t.ID, t.Step, strconv.FormatInt(t.Expires.Unix(), 10), t.PasswordFP, t.Email}, "|")
	mac := keyed(s.codeKey, "recovery", payload)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(mac)
}

func (s *Service) openRecovery(token string, now time.Time) (recoveryToken, error) {
	p64, m64, ok := strings.Cut(token, ".")
	if !ok || len(token) > 1024 {
		return recoveryToken{}, errRecoveryInvalid
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	mac, err2 := base64.RawURLEncoding.DecodeString(m64)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, keyed(s.codeKey, "recovery", string(payload))) {
		return recoveryToken{}, errRecoveryInvalid
	}
	f := strings.SplitN(string(payload), "|", 6)
	if len(f) != 6 || f[0] != "r1" {
		return recoveryToken{}, errRecoveryInvalid
	}
	exp, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return recoveryToken{}, errRecoveryInvalid
	}
	return recoveryToken{ID: f[1], Step: f[2], Expires: time.Unix(exp, 0).UTC(), PasswordFP: f[4], Email: f[5]}, nil
}

// passwordFP fingerprints the password a recovery replaces.
func (s *Service) passwordFP(r Record) string {
	return base64.RawURLEncoding.EncodeToString(keyed(s.codeKey, "recovery-password", r.ID, r.PasswordHash,
		strconv.FormatInt(r.PasswordChangedAt.UnixNano(), 10))[:12])
}

// recoveryFactors are the second factors r can recover with.
func recoveryFactors(r Record) []Factor {
	var fs []Factor
	if len(r.TOTP.Secret) > 0 {
		fs = append(fs, FactorTOTP, FactorRecoveryCode)
	}
	if !r.PhoneVerifiedAt.IsZero() && r.Phone != "" {
		fs = append(fs, FactorOTP)
	}
	return fs
}

// StartRecovery begins a recovery for an email address. Errors: kassa
// EInvalid email_invalid, ERateLimited code_resend_limited (too many
// recoveries from this IP). Whether the address has an account, or a
// code went to it a moment ago, changes nothing in the answer.
func (s *Service) StartRecovery(ctx context.Context, email string, c Client) (Recovery, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Recovery{}, err
	}
	now := s.now().UTC()
	if sub := ipSubject(c.IP); sub != "" {
		ok, retry, err := s.store.TakeRate(ctx, "recover-ip:"+sub, now, []Rate{{RecoveriesPerIP, time.Hour}})
		if err != nil {
			return Recovery{}, fmt.Errorf("identity: recovery rate: %w", err)
		}
		if !ok {
			return Recovery{}, lockedOut(CodeResendLimited, "too many recoveries from this address; try again later", retry, now)
		}
	}
	t := recoveryToken{ID: s.ids.New("rcv"), Email: email, Step: recoverStarted, Expires: now.Add(recoveryTTL)}
	r, err := s.store.CustomerByEmail(ctx, email)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return Recovery{}, fmt.Errorf("identity: customer by email: %w", err)
	case !r.EmailVerifiedAt.IsZero():
		err := s.sendRecoveryCode(ctx, t.ID, t.ID, ChannelEmail, r.Email)
		if e := kassa.AsError(err); err != nil && (e == nil || e.Kind != kassa.ERateLimited) {
			return Recovery{}, err
		}
	}
	return Recovery{Token: s.sealRecovery(t)}, nil
}

// recoveryAttempt opens a token at step, finds its account and reserves
// the attempt under the login lockout of its address and the client IP.
func (s *Service) recoveryAttempt(ctx context.Context, token, step string, c Client) (recoveryToken, Record, bool, *attempt, error) {
	now := s.now().UTC()
	t, err := s.openRecovery(token, now)
	if err != nil || t.Step != step {
		return t, Record{}, false, nil, errRecoveryInvalid
	}
	a, err := s.reserve(ctx, keys(ScopeAccount, t.Email, c.IP), "", now)
	if err != nil {
		return t, Record{}, false, nil, err
	}
	r, err := s.store.CustomerByEmail(ctx, t.Email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		a.end(ctx)
		return t, r, false, nil, fmt.Errorf("identity: customer by email: %w", err)
	}
	found := err == nil && !r.EmailVerifiedAt.IsZero()
	if found {
		a.customerID = r.ID
	}
	return t, r, found, a, nil
}

// RecoveryEmailCode checks the code StartRecovery sent. Errors: kassa
// EUnauthorized recovery_invalid, EInvalid code_invalid (also for an
// address without an account), ERateLimited login_locked.
func (s *Service) RecoveryEmailCode(ctx context.Context, token, code string, c Client) (Recovery, error) {
	t, r, found, a, err := s.recoveryAttempt(ctx, token, recoverStarted, c)
	if err != nil {
		return Recovery{}, err
	}
	defer a.end(ctx)
	err = s.checkCode(ctx, t.ID, PurposeLogin, t.ID, code)
	if err == nil && !found {
		err = errCodeInvalid // not reached: no code goes to an address without an account
	}
	if kassa.AsError(err) == errCodeInvalid {
		s.emit(ctx, EventLoginFailed, a.customerID, EventData{"reason": "recovery_code", "email": maskEmail(t.Email), "ip": c.IP})
		a.failed(ctx)
		return Recovery{}, err
	} else if err != nil {
		return Recovery{}, err
	}
	a.passed(ctx)
	t.Step = recoverEmail
	res := Recovery{Factors: recoveryFactors(r)}
	if len(res.Factors) == 0 {
		t.Step, t.PasswordFP, res.Done = recoverFactor, s.passwordFP(r), true
	}
	if slices.Contains(res.Factors, FactorOTP) {
		res.Phone = maskPhone(r.Phone)
	}
	res.Token = s.sealRecovery(t)
	return res, nil
}

// SendRecoverySMS sends the code of the FactorOTP second factor to the
// account's confirmed phone. Errors: kassa EUnauthorized
// recovery_invalid, EInvalid factor_unavailable, ERateLimited
// code_resend_limited, EUnavailable notification_failed.
func (s *Service) SendRecoverySMS(ctx context.Context, token string) error {
	t, err := s.openRecovery(token, s.now().UTC())
	if err != nil || t.Step != recoverEmail {
		return errRecoveryInvalid
	}
	r, err := s.store.CustomerByEmail(ctx, t.Email)
	if err != nil {
		return errRecoveryInvalid
	}
	if !slices.Contains(recoveryFactors(r), FactorOTP) {
		return kassa.Invalid("factor", CodeFactorUnavailable, "this account has no confirmed phone")
	}
	// Subject "sms": a code of its own, not the email's.
	return s.sendRecoveryCode(ctx, t.ID, t.ID+":sms", ChannelSMS, r.Phone)
}

// RecoveryFactor checks the second factor after the email code: a TOTP
// code, a recovery code, or the SMS code of SendRecoverySMS. Errors:
// kassa EUnauthorized recovery_invalid, EInvalid code_invalid or
// factor_unavailable, ERateLimited login_locked.
func (s *Service) RecoveryFactor(ctx context.Context, token string, p Proof, c Client) (Recovery, error) {
	t, r, found, a, err := s.recoveryAttempt(ctx, token, recoverEmail, c)
	if err != nil {
		return Recovery{}, err
	}
	defer a.end(ctx)
	if !found || !slices.Contains(recoveryFactors(r), p.Factor) {
		return Recovery{}, kassa.Invalid("factor", CodeFactorUnavailable, "that second factor is not available for this account")
	}
	var ok bool
	switch p.Factor {
	case FactorOTP:
		err = s.checkCode(ctx, t.ID, PurposeLogin, t.ID+":sms", p.Code)
		ok = err == nil
		if kassa.AsError(err) == errCodeInvalid {
			err = nil
		}
	case FactorTOTP:
		ok, err = s.checkTOTP(ctx, r.ID, p.Code)
	case FactorRecoveryCode:
		ok, err = s.useRecoveryCode(ctx, r.ID, p.Code)
	}
	if err != nil {
		return Recovery{}, err
	}
	if !ok {
		a.factorFailed(ctx, c.IP, string(p.Factor))
		return Recovery{}, errCodeInvalid
	}
	a.passed(ctx)
	t.Step, t.PasswordFP = recoverFactor, s.passwordFP(r)
	return Recovery{Token: s.sealRecovery(t), Done: true}, nil
}

// FinishRecovery sets the new password and ends every session of the
// account: whoever was logged in with the old one is out. Errors: kassa
// EUnauthorized recovery_invalid (also for a token used already), EInvalid
// password_* (CheckPassword).
func (s *Service) FinishRecovery(ctx context.Context, token, password string, c Client) error {
	now := s.now().UTC()
	t, err := s.openRecovery(token, now)
	if err != nil || t.Step != recoverFactor {
		return errRecoveryInvalid
	}
	r, err := s.store.CustomerByEmail(ctx, t.Email)
	if err != nil || t.PasswordFP == "" || !hmac.Equal([]byte(t.PasswordFP), []byte(s.passwordFP(r))) {
		return errRecoveryInvalid
	}
	if r, err = s.setPassword(ctx, r, password, now); err != nil {
		return err
	}
	if _, err := s.store.RevokeSessions(ctx, r.ID, "", now); err != nil {
		return fmt.Errorf("identity: revoke sessions: %w", err)
	}
	s.emit(ctx, EventPasswordChanged, r.ID, EventData{"recovery": t.ID, "ip": c.IP})
	return nil
}

// sendRecoveryCode sends a recovery's code. It is stored as a login code
// (the codes table's purposes) whose owner is the recovery (rcv_...), so
// it is nobody's login code; a new one ends the recovery's previous one.
func (s *Service) sendRecoveryCode(ctx context.Context, recoveryID, subject string, ch Channel, to string) error {
	now := s.now().UTC()
	if err := s.takeSend(ctx, PurposeLogin, to, now); err != nil {
		return err
	}
	code := id.Digits(s.rand, CodeDigits)
	c := Code{
		ID: s.ids.New("otp"), Owner: recoveryID, Purpose: PurposeLogin, Subject: subject, Channel: ch, To: to,
		Hash: s.codeHash(recoveryID, PurposeLogin, subject, code), Created: now, ExpiresAt: now.Add(s.lim.CodeTTL),
	}
	if err := s.store.CreateCode(ctx, c); err != nil {
		return fmt.Errorf("identity: store code: %w", err)
	}
	args := []any{s.issuer, code, s.codeMinutes()}
	m := Message{Channel: ch, To: to}
	if ch == ChannelSMS {
		m.Body = text(ctx, "recovery.sms", args...)
	} else {
		m.Subject, m.Body = text(ctx, "recovery.subject", args[:1]...), text(ctx, "recovery.body", args...)
	}
	return s.send(ctx, m, "recovery")
}
