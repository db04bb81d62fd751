package identity

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"image/png"
	"io"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/kassa/kassa"
)

// TOTP parameters: RFC 6238 defaults, which every authenticator app and
// oathtool accept: HMAC-SHA1, 6 digits, 30-second steps, a 160-bit secret.
const (
	TOTPPeriod     = 30 * time.Second
	totpSkewSteps  = 1 // codes of the previous and next step are accepted too
	totpSecretSize = 20
	qrSize         = 256 // pixels
	// RecoveryCodeCount codes are made at once, each 10 base32 characters
	// (50 bits), shown as xxxxx-xxxxx.
	RecoveryCodeCount  = 10
	recoveryCodeLength = 10
)

var totpOpts = totp.ValidateOpts{Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// TOTPEnrolment is what the enrolment page shows once: the secret (for
// typing), the otpauth:// URI and the same as a QR code (PNG).
type TOTPEnrolment struct {
	Secret string // base32
	URI    string
	QRPNG  []byte
}

var (
	errTOTPRejected  = errors.New("identity: totp code rejected")
	errTOTPEnrolled  = kassa.Errorf(kassa.EConflict, CodeTOTPEnrolled, "an authenticator is enrolled already; disable it first")
	errTOTPNotEnroll = kassa.Errorf(kassa.EConflict, CodeTOTPNotEnrolled, "no authenticator enrolment to confirm")
)

// EnrolTOTP starts enrolling an authenticator app for a verified
// customer: a new secret, stored sealed as pending until ConfirmTOTP
// (a second EnrolTOTP replaces it). Errors: kassa ENotFound
// customer_not_found, EForbidden level_too_low, EConflict
// totp_already_enrolled.
func (s *Service) EnrolTOTP(ctx context.Context, customerID string) (TOTPEnrolment, error) {
	r, err := s.record(ctx, customerID)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	if !r.Level.AtLeast(LevelVerified) {
		return TOTPEnrolment{}, kassa.Errorf(kassa.EForbidden, CodeLevelTooLow, "finish signing up first")
	}
	if len(r.TOTP.Secret) > 0 {
		return TOTPEnrolment{}, errTOTPEnrolled
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer, AccountName: r.Email, SecretSize: totpSecretSize,
		Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm, Period: totpOpts.Period, Rand: s.rand})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("identity: generate totp key: %w", err)
	}
	sealed, err := s.seal(r.ID, "totp_pending", []byte(key.Secret()))
	if err != nil {
		return TOTPEnrolment{}, err
	}
	if _, err := s.update(ctx, r.ID, func(x *Record) error {
		if len(x.TOTP.Secret) > 0 {
			return errTOTPEnrolled
		}
		x.TOTP.Pending = sealed
		return nil
	}); err != nil {
		return TOTPEnrolment{}, err
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("identity: qr code: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return TOTPEnrolment{}, fmt.Errorf("identity: qr code png: %w", err)
	}
	return TOTPEnrolment{Secret: key.Secret(), URI: key.URL(), QRPNG: b.Bytes()}, nil
}

// totpStep returns the time step a code matches within the skew around
// now, or false. Every candidate is compared, in constant time.
func totpStep(secret, code string, now time.Time) (int64, bool) {
	code, ok := normalizeCode(code)
	if !ok {
		return 0, false
	}
	period := int64(TOTPPeriod / time.Second)
	cur := now.Unix() / period
	var found int64
	match := 0
	for step := cur - totpSkewSteps; step <= cur+totpSkewSteps; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*period, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && match == 0 {
			found, match = step, 1
		}
	}
	return found, match == 1
}

// ConfirmTOTP finishes an enrolment with a first code from the app and
// returns RecoveryCodeCount recovery codes, shown once. Errors: kassa
// EConflict totp_not_enrolled or totp_already_enrolled, EInvalid
// code_invalid.
func (s *Service) ConfirmTOTP(ctx context.Context, customerID, code string) ([]string, error) {
	now := s.now().UTC()
	if _, err := s.record(ctx, customerID); err != nil {
		return nil, err
	}
	_, err := s.update(ctx, customerID, func(x *Record) error {
		if len(x.TOTP.Secret) > 0 {
			return errTOTPEnrolled
		}
		if len(x.TOTP.Pending) == 0 {
			return errTOTPNotEnroll
		}
		secret, err := s.open(x.ID, "totp_pending", x.TOTP.Pending)
		if err != nil {
			return err
		}
		step, ok := totpStep(string(secret), code, now)
		if !ok {
			return errTOTPRejected
		}
		if x.TOTP.Secret, err = s.seal(x.ID, "totp", secret); err != nil {
			return err
		}
		x.TOTP.Pending, x.TOTP.EnabledAt, x.TOTP.LastStep, x.Updated = nil, now, step, now
		return nil
	})
	if errors.Is(err, errTOTPRejected) {
		return nil, errCodeInvalid
	} else if err != nil {
		return nil, err
	}
	codes, err := s.newRecoveryCodes(ctx, customerID, now)
	if err != nil {
		return nil, err
	}
	s.emit(ctx, EventTOTPEnabled, customerID, nil)
	return codes, nil
}

// checkTOTP checks a code of the customer's authenticator and records its
// step, in one store transaction: a code of a step already used (or an
// earlier one) is refused as a replay.
func (s *Service) checkTOTP(ctx context.Context, customerID, code string) (bool, error) {
	now := s.now().UTC()
	_, err := s.update(ctx, customerID, func(x *Record) error {
		if len(x.TOTP.Secret) == 0 {
			return errTOTPRejected
		}
		secret, err := s.open(x.ID, "totp", x.TOTP.Secret)
		if err != nil {
			return err
		}
		step, ok := totpStep(string(secret), code, now)
		if !ok || step <= x.TOTP.LastStep {
			return errTOTPRejected
		}
		x.TOTP.LastStep = step
		return nil
	})
	if errors.Is(err, errTOTPRejected) {
		return false, nil
	}
	return err == nil, err
}

// VerifyTOTP checks a code of the customer's authenticator (for a step-up
// outside a login). Errors: kassa EInvalid code_invalid (wrong, replayed
// or no authenticator), ERateLimited login_locked; wrong codes count
// against the customer's second-factor lockout.
func (s *Service) VerifyTOTP(ctx context.Context, customerID, code string) error {
	a, err := s.reserveFactor(ctx, customerID, "")
	if err != nil {
		return err
	}
	defer a.end(ctx)
	ok, err := s.checkTOTP(ctx, customerID, code)
	if kassa.ErrorKind(err) == kassa.ENotFound {
		return errCodeInvalid
	} else if err != nil {
		return err
	}
	if !ok {
		a.factorFailed(ctx, "", string(FactorTOTP))
		return errCodeInvalid
	}
	return nil
}

// DisableTOTP removes the customer's authenticator (and a pending
// enrolment) and their recovery codes. The page must have the customer
// pass a second factor first (a session at aal2). Errors: kassa ENotFound
// customer_not_found, EConflict totp_not_enrolled.
func (s *Service) DisableTOTP(ctx context.Context, customerID string) error {
	now := s.now().UTC()
	if _, err := s.record(ctx, customerID); err != nil {
		return err
	}
	_, err := s.update(ctx, customerID, func(x *Record) error {
		if len(x.TOTP.Secret) == 0 && len(x.TOTP.Pending) == 0 {
			return errTOTPNotEnroll
		}
		x.TOTP = TOTPRecord{}
		x.Updated = now
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.store.ReplaceRecoveryCodes(ctx, customerID, nil, now); err != nil {
		return fmt.Errorf("identity: delete recovery codes: %w", err)
	}
	s.emit(ctx, EventTOTPDisabled, customerID, nil)
	return nil
}

const recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// normalizeRecoveryCode lower-cases a code as typed and strips spaces and
// dashes.
func normalizeRecoveryCode(s string) (string, bool) {
	if len(s) > 64 {
		return "", false
	}
	s = strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(s))
	if len(s) != recoveryCodeLength {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(recoveryAlphabet, s[i]) < 0 {
			return "", false
		}
	}
	return s, true
}

func (s *Service) recoveryHash(customerID, code string) []byte {
	return keyed(s.recoveryKey, customerID, code)
}

// newRecoveryCodes makes and stores a fresh set of recovery codes,
// replacing the customer's old ones.
func (s *Service) newRecoveryCodes(ctx context.Context, customerID string, now time.Time) ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	hashes := make([][]byte, RecoveryCodeCount)
	buf := make([]byte, recoveryCodeLength)
	for i := range codes {
		if _, err := io.ReadFull(s.rand, buf); err != nil {
			panic("identity: reading randomness: " + err.Error())
		}
		for j, b := range buf {
			buf[j] = recoveryAlphabet[b&31] // 256 is a multiple of 32: no bias
		}
		c := string(buf)
		codes[i] = c[:5] + "-" + c[5:]
		hashes[i] = s.recoveryHash(customerID, c)
	}
	if err := s.store.ReplaceRecoveryCodes(ctx, customerID, hashes, now); err != nil {
		return nil, fmt.Errorf("identity: store recovery codes: %w", err)
	}
	return codes, nil
}

// RegenerateRecoveryCodes replaces the customer's recovery codes with a
// fresh set, shown once. The page must have the customer at aal2.
// Errors: kassa ENotFound customer_not_found, EConflict totp_not_enrolled.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, customerID string) ([]string, error) {
	r, err := s.record(ctx, customerID)
	if err != nil {
		return nil, err
	}
	if len(r.TOTP.Secret) == 0 {
		return nil, errTOTPNotEnroll
	}
	return s.newRecoveryCodes(ctx, customerID, s.now().UTC())
}

// RecoveryCodesLeft counts the customer's unused recovery codes.
func (s *Service) RecoveryCodesLeft(ctx context.Context, customerID string) (int, error) {
	return s.store.RecoveryCodesLeft(ctx, customerID)
}

// useRecoveryCode spends one recovery code of the customer.
func (s *Service) useRecoveryCode(ctx context.Context, customerID, input string) (bool, error) {
	code, ok := normalizeRecoveryCode(input)
	if !ok {
		return false, nil
	}
	used, err := s.store.UseRecoveryCode(ctx, customerID, s.recoveryHash(customerID, code), s.now().UTC())
	if err != nil {
		return false, fmt.Errorf("identity: use recovery code: %w", err)
	}
	if used {
		s.emit(ctx, EventRecoveryCodeUsed, customerID, nil)
	}
	return used, nil
}

// TOTPStep returns the time step a code of the base32 secret matches
// around now, with the parameters and skew of customers' authenticators.
// For other second factors built on the same code (the console's
// members): the caller must refuse a step at or below the last one used.
func TOTPStep(secret, code string, now time.Time) (int64, bool) { return totpStep(secret, code, now) }

// NewTOTP makes a fresh authenticator secret for account (an email
// address) under issuer, with its otpauth:// URI and QR code, as
// EnrolTOTP shows them.
func NewTOTP(issuer, account string, r io.Reader) (TOTPEnrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, SecretSize: totpSecretSize,
		Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm, Period: totpOpts.Period, Rand: r})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("identity: generate totp key: %w", err)
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("identity: qr code: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return TOTPEnrolment{}, fmt.Errorf("identity: qr code png: %w", err)
	}
	return TOTPEnrolment{Secret: key.Secret(), URI: key.URL(), QRPNG: b.Bytes()}, nil
}
