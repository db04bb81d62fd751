// Package identity holds Kassa's payer accounts (customers, cus_...) and
// their adaptive authentication: sign-up in steps, passwords, one-time
// codes, sessions, devices, TOTP and recovery codes.
//
// Customers are payers, not merchants: one account per email address
// across the platform. They sign up in steps (SignUp, SignUpConfirm,
// SignUpPassword) and climb levels: unverified → verified (email and phone
// confirmed, password set) → kyc_verified (identity data complete and
// checked, SubmitKYC). The date of birth and the ID document number are
// sealed (envelope encryption through a Sealer) before they reach the
// store.
//
// # What never leaks
//
// Nothing tells a caller whether an email address has an account. A
// sign-up of a taken address answers like any other and sends the
// address a "you already have an account" message instead of a code; a
// login for an unknown address spends one password hash, fails with the
// same error as a wrong password and is throttled under the same key (the
// address). One-time codes, passwords, session and device tokens are never
// logged, never part of an error and stored only as keyed hashes (codes,
// recovery codes), SHA-256 (session tokens) or argon2id (passwords).
//
// # Extending it
//
// Hosted pages call the Service with what the browser sent (Client).
// Second factors other packages add (WebAuthn passkeys) implement
// FactorVerifier and are given in Config.Factors; the risk engine can
// decide when a login needs a second factor by implementing Policy; a
// payment step-up sends and checks codes bound to the payment with
// SendCode and VerifyCode (PurposeStepUp, subject = the payment id), or
// raises a session to aal2 with VerifySecondFactor.
//
// The package knows no SQL and no HTTP: storage is behind Store
// (store/sqlstore implements it); messages go out through a Notifier
// (identity/notify has SMTP and HTTP senders; NewOutbox keeps them in
// the database for development); events through an Emitter.
package identity

import (
	"context"
	"errors"
	"time"

	"github.com/kassa/kassa"
)

// Level is how far a customer got in proving who they are.
type Level string

const (
	LevelUnverified  Level = "unverified"   // signed up, not all of email, phone and password done
	LevelVerified    Level = "verified"     // email and phone confirmed, password set
	LevelKYCVerified Level = "kyc_verified" // identity data complete and checked
)

// rank orders levels.
func (l Level) rank() int {
	switch l {
	case LevelVerified:
		return 1
	case LevelKYCVerified:
		return 2
	}
	return 0
}

// AtLeast reports whether l is min or higher.
func (l Level) AtLeast(min Level) bool { return l.rank() >= min.rank() }

// Customer is a payer's account as callers see it: no password hash, no
// sealed data, no TOTP secret.
type Customer struct {
	ID              string // cus_...
	Email           string // normalized, unique
	EmailVerifiedAt time.Time
	Phone           string // E.164
	PhoneVerifiedAt time.Time
	HasPassword     bool
	Level           Level
	// Name and address as submitted for KYC ("" before); the sealed date
	// of birth and document number come only from Service.Identity.
	GivenName  string
	FamilyName string
	Country    string // of the address, ISO 3166-1 alpha-2
	KYCAt      time.Time
	TOTP       bool // a TOTP authenticator is enrolled and confirmed
	// CredentialsChangedAt is when the password, email or phone last
	// changed after the account was set up (later than setupGrace after
	// Created); zero when never. Risk weighs a payment soon after it: a
	// takeover often changes them first.
	CredentialsChangedAt time.Time
	Created              time.Time
	Updated              time.Time
}

// setupGrace is how long after an account's creation setting its phone
// and password counts as signing up rather than a change.
const setupGrace = time.Hour

// credentialsChangedAt is the latest change of password, email or phone
// after the account's set-up (zero: none).
func (r Record) credentialsChangedAt() time.Time {
	var last time.Time
	for _, t := range []time.Time{r.PasswordChangedAt, r.EmailVerifiedAt, r.PhoneVerifiedAt} {
		if t.After(r.Created.Add(setupGrace)) && t.After(last) {
			last = t
		}
	}
	return last
}

// Record is a customer as stored, with the secrets the service needs.
type Record struct {
	ID                string
	Email             string
	EmailVerifiedAt   time.Time
	Phone             string
	PhoneVerifiedAt   time.Time
	PasswordHash      string // PHC string ("" until set)
	PasswordChangedAt time.Time
	Level             Level
	KYC               KYCRecord
	TOTP              TOTPRecord
	Created           time.Time
	Updated           time.Time
}

// KYCRecord is the identity data as stored: names and address in clear,
// the date of birth and the document number sealed (Sealer), bound to the
// customer id and the field name.
type KYCRecord struct {
	GivenName       string
	FamilyName      string
	Address         Address
	DocumentType    DocumentType
	DocumentCountry string
	BirthDate       []byte // sealed "YYYY-MM-DD"
	DocumentNumber  []byte // sealed
	SubmittedAt     time.Time
	VerifiedAt      time.Time
}

// TOTPRecord is a customer's authenticator as stored. Secrets are sealed.
// LastStep is the last time step (unix time / 30 s) whose code was
// accepted: a code of that step or an earlier one is a replay.
type TOTPRecord struct {
	Secret    []byte // sealed base32 secret of the confirmed authenticator; nil when none
	Pending   []byte // sealed secret of an enrolment not yet confirmed
	EnabledAt time.Time
	LastStep  int64
}

func (r Record) customer() Customer {
	return Customer{
		ID: r.ID, Email: r.Email, EmailVerifiedAt: r.EmailVerifiedAt, Phone: r.Phone, PhoneVerifiedAt: r.PhoneVerifiedAt,
		HasPassword: r.PasswordHash != "", Level: r.Level, GivenName: r.KYC.GivenName, FamilyName: r.KYC.FamilyName,
		Country: r.KYC.Address.Country, KYCAt: r.KYC.VerifiedAt, TOTP: len(r.TOTP.Secret) > 0,
		CredentialsChangedAt: r.credentialsChangedAt(), Created: r.Created, Updated: r.Updated,
	}
}

// level is the level the record's facts earn.
func (r Record) level() Level {
	switch {
	case r.EmailVerifiedAt.IsZero() || r.PhoneVerifiedAt.IsZero() || r.PasswordHash == "":
		return LevelUnverified
	case !r.KYC.VerifiedAt.IsZero():
		return LevelKYCVerified
	}
	return LevelVerified
}

// Errors of stores. Store implementations return them, wrapped or not.
var (
	ErrNotFound  = errors.New("identity: not found")
	ErrDuplicate = errors.New("identity: duplicate")
)

// Error codes callers see.
const (
	CodeLoginFailed          = "login_failed"           // EUnauthorized: email or password wrong (not told apart)
	CodeLoginLocked          = "login_locked"           // ERateLimited, a *LockedOutError
	CodeCodeInvalid          = "code_invalid"           // EInvalid param "code": wrong, expired, used or dead (not told apart)
	CodeResendLimited        = "code_resend_limited"    // ERateLimited, a *LockedOutError
	CodeSessionInvalid       = "session_invalid"        // EUnauthorized: unknown, expired or revoked
	CodeSecondFactorRequired = "second_factor_required" // EForbidden: the session must pass a second factor first
	CodeFactorUnavailable    = "factor_unavailable"     // EInvalid param "factor": not enrolled or unknown
	CodeSignUpInvalid        = "signup_invalid"         // EUnauthorized: unknown or expired sign-up token
	CodeSignUpStep           = "signup_step"            // EConflict: that step is not the current one
	CodeEmailTaken           = "email_taken"            // EConflict: only after the email was confirmed by its owner
	CodeLevelTooLow          = "level_too_low"          // EForbidden: the customer's level does not allow it
	CodeNotFound             = "customer_not_found"     // ENotFound
	CodeDeviceNotFound       = "device_not_found"       // ENotFound
	CodeSessionNotFound      = "session_not_found"      // ENotFound
	CodeTOTPNotEnrolled      = "totp_not_enrolled"      // EConflict
	CodeTOTPEnrolled         = "totp_already_enrolled"  // EConflict
	CodeKYCRejected          = "kyc_rejected"           // EUnprocessable: the KYC checker refused the data
	CodeUnderage             = "underage"               // EInvalid param "birth_date": younger than 18
	CodeNotifyFailed         = "notification_failed"    // EUnavailable: the message could not be sent
)

var (
	errLoginFailed    = kassa.Errorf(kassa.EUnauthorized, CodeLoginFailed, "the email or password is wrong")
	errCodeInvalid    = kassa.Invalid("code", CodeCodeInvalid, "the code is wrong or expired; ask for a new one")
	errSessionInvalid = kassa.Errorf(kassa.EUnauthorized, CodeSessionInvalid, "the session is unknown or has expired; log in again")
	errSignUpInvalid  = kassa.Errorf(kassa.EUnauthorized, CodeSignUpInvalid, "the sign-up is unknown or has expired; start again")
	errNotFound       = kassa.Errorf(kassa.ENotFound, CodeNotFound, "no such customer")
	errNotifyFailed   = kassa.Errorf(kassa.EUnavailable, CodeNotifyFailed, "the message could not be sent; try again later")
)

// LockedOutError is returned while a login source is locked out or must
// wait (backoff), and when codes are sent too often (kassa.LockedOutError).
type LockedOutError = kassa.LockedOutError

func lockedOut(code, msg string, until, now time.Time) error {
	return &LockedOutError{Err: kassa.Errorf(kassa.ERateLimited, code, "%s", msg), Until: until, RetryAfter: until.Sub(now)}
}

// Store is what the identity service needs from storage. Methods taking a
// function run it inside the store's transaction, possibly more than once
// (a retried transaction), so it must have no effects outside what it
// returns. When it returns an error, nothing is written and the error is
// returned as it is.
type Store interface {
	// CreateCustomer stores a new customer; ErrDuplicate when the id or
	// the email is taken.
	CreateCustomer(ctx context.Context, r Record) error
	// Customer and CustomerByEmail return ErrNotFound when absent.
	Customer(ctx context.Context, id string) (Record, error)
	CustomerByEmail(ctx context.Context, email string) (Record, error)
	// UpdateCustomer reads the customer, lets fn change it and writes
	// every field back (not ID, Email, Created), in one transaction.
	UpdateCustomer(ctx context.Context, id string, fn func(*Record) error) (Record, error)

	// CreateSignUp stores a sign-up; SignUpByToken finds one by the
	// SHA-256 of its token (ErrNotFound); UpdateSignUp changes one as
	// UpdateCustomer does.
	CreateSignUp(ctx context.Context, s SignUpRecord) error
	SignUpByToken(ctx context.Context, tokenHash []byte) (SignUpRecord, error)
	UpdateSignUp(ctx context.Context, id string, fn func(*SignUpRecord) error) (SignUpRecord, error)

	// CreateCode stores a one-time code and, in the same transaction,
	// ends every live code of the same owner and purpose (used at
	// c.Created): a new code invalidates the previous one.
	CreateCode(ctx context.Context, c Code) error
	// CheckCode finds the live code (not used, not dead) of owner and
	// purpose and calls check with it, in one transaction. If check
	// returns CodeAccepted, the code is marked used at now; if
	// CodeRejected, its attempts grow by one and at attemptsMax it is
	// dead. It returns ErrNotFound when there is no live code.
	CheckCode(ctx context.Context, owner string, purpose Purpose, now time.Time, attemptsMax int,
		check func(Code) CodeCheck) (CodeCheck, error)

	// TakeRate records one event of key at now if AllowRate allows it
	// with the times the store keeps for key, in one transaction that
	// serializes concurrent calls for a key. Otherwise it records nothing
	// and returns AllowRate's retry time.
	TakeRate(ctx context.Context, key string, now time.Time, limits []Rate) (ok bool, retryAt time.Time, err error)

	// Throttles returns the failure counters of keys (zero Throttles, with
	// their Key set, for keys never seen), in the order of keys.
	Throttles(ctx context.Context, keys []ThrottleKey) ([]Throttle, error)
	// UpdateThrottles reads the counters of keys, lets fn change each and
	// writes them back, in one transaction, and returns them changed.
	UpdateThrottles(ctx context.Context, keys []ThrottleKey, fn func(Throttle) Throttle) ([]Throttle, error)
	// ReserveThrottles reads the counters of keys (zero ones for keys never
	// seen) and lets take decide on all of them at once: when it returns
	// true, the counters it returns are written back, else nothing is. One
	// transaction, which serializes concurrent calls for any of the keys
	// (keys come in the same scope order everywhere: subject, then IP).
	ReserveThrottles(ctx context.Context, keys []ThrottleKey, take func([]Throttle) ([]Throttle, bool)) ([]Throttle, bool, error)

	// CreateSession stores a session; if the customer then has more than
	// perCustomerMax sessions that are neither revoked nor expired at
	// s.Created, the oldest are revoked at s.Created, in one transaction.
	CreateSession(ctx context.Context, s Session, perCustomerMax int) error
	// SessionByTokenHash returns ErrNotFound when no session has the hash.
	SessionByTokenHash(ctx context.Context, tokenHash []byte) (Session, error)
	// UpdateSession changes a session as UpdateCustomer does (every field
	// but ID, CustomerID and Created); ErrDuplicate when the new token
	// hash is taken.
	UpdateSession(ctx context.Context, id string, fn func(*Session) error) (Session, error)
	// Sessions lists up to limit sessions of a customer that are not
	// revoked and not expired at now, newest first.
	Sessions(ctx context.Context, customerID string, now time.Time, limit int) ([]Session, error)
	// RevokeSessions revokes, at now, every live session of the customer
	// but except, and says how many.
	RevokeSessions(ctx context.Context, customerID, except string, now time.Time) (int, error)

	// CreateDevice stores a device; beyond perCustomerMax live devices of
	// the customer, the least recently seen are revoked at d.Created.
	CreateDevice(ctx context.Context, d Device, perCustomerMax int) error
	// Device returns ErrNotFound when absent.
	Device(ctx context.Context, id string) (Device, error)
	// UpdateDevice changes a device as UpdateCustomer does.
	UpdateDevice(ctx context.Context, id string, fn func(*Device) error) (Device, error)
	// Devices lists up to limit devices of a customer that are not
	// revoked, most recently seen first.
	Devices(ctx context.Context, customerID string, limit int) ([]Device, error)

	// ReplaceRecoveryCodes deletes the customer's recovery codes and
	// stores the keyed hashes given (none: just delete).
	ReplaceRecoveryCodes(ctx context.Context, customerID string, hashes [][]byte, now time.Time) error
	// UseRecoveryCode marks the customer's unused code of that hash used
	// at now and reports whether there was one.
	UseRecoveryCode(ctx context.Context, customerID string, hash []byte, now time.Time) (bool, error)
	// RecoveryCodesLeft counts the customer's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, customerID string) (int, error)

	// AppendOutbox stores a message of the development outbox.
	AppendOutbox(ctx context.Context, m OutboxMessage) error
	// OutboxMessages lists up to limit messages, newest first; to, when
	// set, keeps those to that address.
	OutboxMessages(ctx context.Context, to string, limit int) ([]OutboxMessage, error)

	// Prune deletes what ended before before: sign-ups and codes past
	// their expiry, sessions past their expiry or revoked, rate events,
	// throttles neither failing nor locked since, outbox messages; and
	// says how many rows it deleted.
	Prune(ctx context.Context, before time.Time) (int, error)
}
