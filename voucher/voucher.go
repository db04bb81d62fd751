// Package voucher holds Kassa's prepaid vouchers (paysafecard style): a
// 16-digit PIN printed on a card, a public 12-digit serial, a face value and
// an expiry. A voucher's balance is a ledger account that can never go
// negative.
//
// # Ledger mapping
//
// Every account lives in the platform's ledger namespace (owner ""):
//
//   - voucher:<serial> holds the voucher's balance, in its currency, with
//     ledger.DebitsMustNotExceedCredits: it can never be overdrawn.
//   - voucher_float:<CUR> is the issuer's float, created on demand without
//     flags. It goes negative by design: its debit balance is the liability
//     of all vouchers sold in that currency.
//
// Issuing funds a voucher with the transfer issue:<serial> (float →
// voucher); invalidating returns what is left with invalidate:<serial>
// (voucher → float). The ids are deterministic, so a retried call is
// answered "exists" by the ledger instead of moving money twice. The
// available balance is credits_posted − debits_posted − debits_pending.
//
// # PINs
//
// PINs come from crypto/rand (uniform, no modulo bias), are shown once in the
// answer to Issue and are stored only as HMAC-SHA256 under Config.PINKey.
// They are never logged and never part of an error. Resolve and Balance look
// them up by that hash. Failed attempts are counted per payment, per client
// IP and per serial over sliding windows; a source that fails too often is
// locked out (see the Limits constants) and the event
// voucher.pin_attempts_exceeded is published once per lockout.
//
// The package knows no SQL and no HTTP: storage is behind Store
// (store/sqlstore implements it) and the ledger behind Ledger.
package voucher

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// Status is the state of a voucher.
type Status string

const (
	StatusActive      Status = "active"      // usable for payments
	StatusLocked      Status = "locked"      // blocked by its distributor; may be unlocked
	StatusDepleted    Status = "depleted"    // nothing left; a refund makes it active again
	StatusExpired     Status = "expired"     // past its expiry; final
	StatusInvalidated Status = "invalidated" // withdrawn by its distributor, balance returned to the float; final
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusLocked, StatusDepleted, StatusExpired, StatusInvalidated:
		return true
	}
	return false
}

// Voucher is a stored voucher. The PIN is not part of it: only its keyed
// hash is stored, beside the voucher, by Store.CreateVouchers.
type Voucher struct {
	ID        string // vch_...
	Serial    string // 12 digits, unique, printed on the card
	IssuedBy  string // the distributor merchant (mer_...)
	Amount    money.Amount
	Currency  money.Currency
	Status    Status
	Created   time.Time
	ExpiresAt time.Time
	Updated   time.Time

	// Balance is what is available to spend (credits posted − debits
	// posted − debits pending), read from the ledger. Store methods leave
	// it zero; Service methods fill it where they say so.
	Balance money.Amount
}

// statusAt is the status the voucher has at now: an active or locked
// voucher past its expiry is expired even before ExpireDue records it.
func (v Voucher) statusAt(now time.Time) Status {
	if (v.Status == StatusActive || v.Status == StatusLocked) && !now.Before(v.ExpiresAt) {
		return StatusExpired
	}
	return v.Status
}

// Issued is a voucher as Issue returns it: the only time its PIN is known.
type Issued struct {
	Voucher
	PIN string // 16 digits
}

// NewVoucher is a voucher to store with the keyed hash of its PIN.
type NewVoucher struct {
	Voucher
	PINHash []byte
}

// Scope is what failed PIN attempts are counted against.
type Scope string

const (
	ScopePayment Scope = "payment" // one payment (AttemptContext.PaymentID)
	ScopeIP      Scope = "ip"      // one client IP (an IPv6 /64)
	ScopeSerial  Scope = "serial"  // one voucher, for status errors of its valid PIN
)

// AttemptKey names one counter of failed attempts.
type AttemptKey struct {
	Scope   Scope
	Subject string // the payment id, IP or serial
}

// Limit bounds failed attempts of one scope: Failures within Window lock the
// source out for Lockout.
type Limit struct {
	Failures int
	Window   time.Duration
	Lockout  time.Duration
}

// Failure is one failed attempt to record against Key under Limit.
type Failure struct {
	Key   AttemptKey
	Limit Limit
}

// An Attempt is one Resolve or Balance call under way. Before any PIN
// is looked at it holds Places places on each of Keys (one per PIN),
// under the key's Limit, until it ends or Until passes (a crash).
type Attempt struct {
	ID     string
	Keys   []Failure
	Places int
	Until  time.Time
}

// Lockout is a source locked out until Until after Failures failures.
type Lockout struct {
	Key      AttemptKey
	Failures int
	Created  time.Time
	Until    time.Time
}

// Store is what the voucher service needs from storage.
type Store interface {
	// AllowIssuing makes a merchant a distributor (idempotent);
	// DisallowIssuing takes that back. IssuingAllowed reports it.
	AllowIssuing(ctx context.Context, merchantID string, now time.Time) error
	DisallowIssuing(ctx context.Context, merchantID string) error
	IssuingAllowed(ctx context.Context, merchantID string) (bool, error)

	// CreateVouchers stores vouchers with their PIN hashes, all or
	// nothing. It returns an error wrapping ErrDuplicate when an id, serial
	// or PIN hash is taken.
	CreateVouchers(ctx context.Context, vs []NewVoucher) error
	// VoucherBySerial and VoucherByPINHash return ErrNotFound when absent.
	VoucherBySerial(ctx context.Context, serial string) (Voucher, error)
	VoucherByPINHash(ctx context.Context, hash []byte) (Voucher, error)
	// SetStatus moves the voucher serial from one of the statuses from to
	// to, at now, and stores the event ev makes of the updated voucher, in
	// one transaction. It returns the updated voucher and true, or the
	// voucher as it is and false when its status is not among from.
	SetStatus(ctx context.Context, serial string, from []Status, to Status, now time.Time,
		ev func(Voucher) (Event, error)) (Voucher, bool, error)
	// ExpiringVouchers returns up to limit active or locked vouchers with
	// ExpiresAt <= now, earliest first.
	ExpiringVouchers(ctx context.Context, now time.Time, limit int) ([]Voucher, error)

	// LockedOut returns the lockout among keys that ends last, if any is
	// still in force at now.
	LockedOut(ctx context.Context, keys []AttemptKey, now time.Time) (Lockout, bool, error)
	// RecordFailures stores one failure per element of fs at now. For each
	// key that has then at least Limit.Failures failures within
	// Limit.Window and is not locked out at now, it stores a lockout until
	// now + Limit.Lockout and the event ev makes of it — all in one
	// transaction, so that concurrent callers create one lockout and one
	// event. It returns the lockouts it created.
	RecordFailures(ctx context.Context, now time.Time, fs []Failure,
		ev func(Lockout) (Event, error)) ([]Lockout, error)
	// ReserveAttempt takes a.Places places on every key of a at now, all
	// or none, in one transaction that serializes concurrent calls for a
	// key. It refuses (false) when a key is locked out at now (returning
	// the lockout that ends last) or when the key's failures within its
	// window (since its last lockout ended) and the places of the attempts
	// under way (Until after now) reach its Limit.Failures (returning a
	// Lockout of that key with a zero Until).
	ReserveAttempt(ctx context.Context, a Attempt, now time.Time) (Lockout, bool, error)
	// FailuresOf returns f's key's failures within its window (since its
	// last lockout ended) at now, or the lockout in force (Until after now).
	FailuresOf(ctx context.Context, f Failure, now time.Time) (Lockout, error)
	// EndAttempt gives the places of the attempt id back.
	EndAttempt(ctx context.Context, id string) error
	// PruneAttempts deletes failures recorded before before, lockouts
	// that ended before it and attempts that lapsed before it, and returns
	// how many rows it deleted.
	PruneAttempts(ctx context.Context, before time.Time) (int, error)
}

// Ledger is the part of *ledger.Ledger the service uses.
type Ledger interface {
	CreateAccounts(ctx context.Context, owner string, accounts []ledger.Account) ([]ledger.Result, error)
	CreateTransfers(ctx context.Context, owner string, transfers []ledger.Transfer) ([]ledger.Result, error)
	Account(ctx context.Context, owner, id string) (ledger.Account, error)
}

var _ Ledger = (*ledger.Ledger)(nil)

// Ledger ids (owner "", the platform).
const (
	// LedgerOwner is the ledger namespace of every voucher account.
	LedgerOwner    = ""
	accountPrefix  = "voucher:"
	floatPrefix    = "voucher_float:"
	issuePrefix    = "issue:"
	invalidatePref = "invalidate:"
)

// AccountID is the ledger account holding the voucher's balance.
func AccountID(serial string) string { return accountPrefix + serial }

// FloatAccountID is the issuer's float account of a currency.
func FloatAccountID(c money.Currency) string { return floatPrefix + string(c) }

// IssueTransferID funds the voucher at issue.
func IssueTransferID(serial string) string { return issuePrefix + serial }

// InvalidateTransferID returns the voucher's balance to the float.
func InvalidateTransferID(serial string) string { return invalidatePref + serial }

// Errors of stores.
var (
	ErrNotFound  = errors.New("voucher: not found")
	ErrDuplicate = errors.New("voucher: duplicate id, serial or PIN hash")
)

// Error codes callers see. Every error of Resolve carries Param "pins[i]",
// Balance's "pin".
const (
	CodePINInvalid          = "voucher_pin_invalid"           // EInvalid: unknown or malformed PIN (not told apart)
	CodePINDuplicate        = "voucher_pin_duplicate"         // EInvalid: the same PIN twice in one call
	CodeLocked              = "voucher_locked"                // EUnprocessable
	CodeDepleted            = "voucher_depleted"              // EUnprocessable: nothing available
	CodeExpired             = "voucher_expired"               // EUnprocessable
	CodeInvalidated         = "voucher_invalidated"           // EUnprocessable
	CodePINAttemptsExceeded = "voucher_pin_attempts_exceeded" // ERateLimited, a *LockedOutError
	CodeNotFound            = "voucher_not_found"             // ENotFound: no such serial of this distributor
	CodeIssuingNotAllowed   = "voucher_issuing_not_allowed"   // EForbidden
	CodeStatusConflict      = "voucher_status_conflict"       // EConflict: the change does not apply in this status
)

var errNotFound = kassa.Errorf(kassa.ENotFound, CodeNotFound, "no such voucher")

func pinInvalid(param string) error {
	return kassa.Invalid(param, CodePINInvalid, "the PIN is not valid")
}

// statusError is the error for using a voucher in status st.
func statusError(param string, st Status) error {
	e := &kassa.Error{Kind: kassa.EUnprocessable, Param: param}
	switch st {
	case StatusLocked:
		e.Code, e.Message = CodeLocked, "the voucher is locked"
	case StatusDepleted:
		e.Code, e.Message = CodeDepleted, "the voucher has no balance left"
	case StatusExpired:
		e.Code, e.Message = CodeExpired, "the voucher has expired"
	case StatusInvalidated:
		e.Code, e.Message = CodeInvalidated, "the voucher was invalidated"
	default:
		return nil
	}
	return e
}

// LockedOutError is returned while a payment, client IP or voucher is
// locked out after too many failed PIN attempts (kassa.LockedOutError).
type LockedOutError = kassa.LockedOutError

func lockedOut(l Lockout, now time.Time) error {
	return &LockedOutError{
		Err: kassa.Errorf(kassa.ERateLimited, CodePINAttemptsExceeded,
			"too many failed voucher PIN attempts; retry after the time in Retry-After"),
		Until:      l.Until,
		RetryAfter: l.Until.Sub(now),
	}
}

// Event types.
const (
	EventLocked              = "voucher.locked"
	EventUnlocked            = "voucher.unlocked"
	EventInvalidated         = "voucher.invalidated"
	EventDepleted            = "voucher.depleted"
	EventReactivated         = "voucher.reactivated" // a depleted voucher got balance back (refund)
	EventExpired             = "voucher.expired"
	EventPINAttemptsExceeded = "voucher.pin_attempts_exceeded"
)

// EventTypes lists the event types above. The store that writes them
// registers them with the webhook outbox (store/sqlstore does, in an init
// function), which keeps this package free of the webhook machinery.
var EventTypes = []string{EventLocked, EventUnlocked, EventInvalidated, EventDepleted,
	EventReactivated, EventExpired, EventPINAttemptsExceeded}

// Event is an event for the merchant's outbox, written by the store in the
// transaction of the change it reports. Its fields are those of
// webhook.Event, to which a store converts it.
type Event struct {
	ID         string // evt_...
	MerchantID string
	Type       string
	Created    time.Time // UTC
	Data       json.RawMessage
}
