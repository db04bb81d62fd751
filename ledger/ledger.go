// Package ledger is Kassa's system of record: a double-entry ledger modeled
// on TigerBeetle, with every committed event appended to a verifiable
// RFC 6962 Merkle log.
//
// Accounts hold four balances (debits and credits, each pending and
// posted). Transfers are immutable and idempotent by their client-chosen id;
// they may be pending and later posted (fully or partly) or voided, may time
// out, and may be linked so that a chain commits all or nothing. Mistakes
// are fixed with correcting transfers, never with edits.
//
// Writes go through one sequencer goroutine per process ([Ledger]) that packs
// many callers' submissions into one batch, applies it to an in-memory
// account cache and writes it in one durable store transaction (group
// commit). Several processes may share one database: the store transaction
// locks a log head row and a process whose view is stale reloads before it
// applies anything.
//
// The package is pure domain: it knows no SQL and no HTTP. Storage is behind
// the [Store] interface, implemented by ledger/memstore (tests) and
// store/sqlstore (SQLite and PostgreSQL).
package ledger

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/kassa/kassa/money"
)

// Limits.
const (
	// IDLengthMax is the longest client-chosen id of an account or transfer.
	IDLengthMax = 64
	// MetadataLengthMax is the largest metadata object, in bytes.
	MetadataLengthMax = 4096
	// TransfersPerCallMax bounds one CreateTransfers or CreateAccounts call.
	TransfersPerCallMax = 8000
	// BatchEventsMaxDefault is the default cap on events in one commit.
	BatchEventsMaxDefault = 8190
	// PageLimitMax bounds one page of a list query.
	PageLimitMax = 100
)

// Errors returned by the ledger and by stores.
var (
	// ErrNotFound: the queried account, transfer, pending transfer or
	// checkpoint does not exist.
	ErrNotFound = errors.New("ledger: not found")
	// ErrDuplicate is returned by Tx.Append when a transfer's (owner, id) is
	// already stored; the ledger then retries the batch with a full lookup.
	ErrDuplicate = errors.New("ledger: duplicate transfer id")
	// ErrClosed: the ledger was closed.
	ErrClosed = errors.New("ledger: closed")
	// ErrInvalid wraps caller errors that are not per-event results
	// (bad owner, too many events, bad page limit).
	ErrInvalid = errors.New("ledger: invalid argument")
)

// AccountFlags constrain an account's balances.
type AccountFlags uint16

const (
	// DebitsMustNotExceedCredits: debits_pending + debits_posted may never
	// exceed credits_posted (an asset the holder may not overdraw, e.g. a
	// voucher or a customer balance).
	DebitsMustNotExceedCredits AccountFlags = 1 << iota
	// CreditsMustNotExceedDebits: credits_pending + credits_posted may never
	// exceed debits_posted.
	CreditsMustNotExceedDebits

	accountFlagsKnown = DebitsMustNotExceedCredits | CreditsMustNotExceedDebits
)

// TransferFlags select a transfer's kind and chaining.
type TransferFlags uint16

const (
	// FlagLinked: this transfer commits only if the next one in the same call
	// commits too (the chain ends at the first transfer without the flag).
	FlagLinked TransferFlags = 1 << iota
	// FlagPending: reserve the amount (debits_pending/credits_pending) until a
	// later post or void, or until Timeout passes.
	FlagPending
	// FlagPostPending: post the pending transfer PendingID (fully or partly).
	FlagPostPending
	// FlagVoidPending: release the pending transfer PendingID.
	FlagVoidPending

	transferFlagsKnown = FlagLinked | FlagPending | FlagPostPending | FlagVoidPending
)

// Account is a ledger account. Owner is the merchant id ("" = the platform);
// (Owner, ID) is unique. The balances, Timestamp and LeafIndex are set by
// the ledger and must be zero when creating an account.
type Account struct {
	Owner    string
	ID       string
	Currency money.Currency
	Code     uint16
	Flags    AccountFlags
	Metadata json.RawMessage // a JSON object, at most MetadataLengthMax bytes, or empty

	DebitsPending  money.Amount
	DebitsPosted   money.Amount
	CreditsPending money.Amount
	CreditsPosted  money.Amount

	Timestamp time.Time // when it was created (unique, strictly increasing with LeafIndex)
	LeafIndex int64     // its creation's position in the Merkle log
}

// Transfer is an immutable movement of Amount from DebitAccountID to
// CreditAccountID (both of Owner, both in Currency).
//
// For FlagPostPending and FlagVoidPending the accounts, Currency and Code may be
// left empty (they are copied from the pending transfer) and Amount may be 0
// (post: the full pending amount; void: the pending amount). A committed
// transfer always carries the effective values.
type Transfer struct {
	Owner           string
	ID              string
	DebitAccountID  string
	CreditAccountID string
	Amount          money.Amount
	Currency        money.Currency
	Code            uint16
	Flags           TransferFlags
	PendingID       string        // the pending transfer a post or void refers to
	Timeout         time.Duration // pending only: void automatically this long after Timestamp; 0 = never
	Metadata        json.RawMessage

	Timestamp time.Time // set by the ledger
	LeafIndex int64     // set by the ledger
}

// Key identifies an account or transfer.
type Key struct {
	Owner string
	ID    string
}

// PendingState is the state of a pending transfer.
type PendingState uint8

const (
	StatePending PendingState = iota + 1 // still reserving its amount
	StatePosted                          // posted (AmountPosted may be less than Amount)
	StateVoided                          // voided by a client
	StateExpired                         // voided by the ledger after its timeout
)

func (s PendingState) String() string {
	switch s {
	case StatePending:
		return "pending"
	case StatePosted:
		return "posted"
	case StateVoided:
		return "voided"
	case StateExpired:
		return "expired"
	}
	return "unknown"
}

// Pending is the current state of a pending transfer, kept beside the
// immutable transfer so a post, void or expiry can find it fast.
type Pending struct {
	Owner           string
	ID              string
	LeafIndex       int64 // of the pending transfer
	DebitAccountID  string
	CreditAccountID string
	Currency        money.Currency
	Code            uint16
	Amount          money.Amount
	AmountPosted    money.Amount
	State           PendingState
	ExpiresAt       time.Time // zero: never
}

// ExpiryIDPrefix starts the id of the void transfer the ledger writes when a
// pending transfer times out: "~expired:" + the pending transfer's id. '~' is
// outside the client id alphabet, so it never collides with a client's id.
const ExpiryIDPrefix = "~expired:"

// ValidID reports whether s is a valid client-chosen id:
// 1–64 characters from [A-Za-z0-9_.:-].
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > IDLengthMax {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idChar[s[i]] {
			return false
		}
	}
	return true
}

// ValidOwner reports whether s is a valid owner: "" (the platform) or a
// valid id.
func ValidOwner(s string) bool { return s == "" || ValidID(s) }

var idChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_.:-" {
		t[c] = true
	}
	return t
}()

// validMetadata reports whether m is empty or a JSON object within limits.
func validMetadata(m []byte) (ok, tooLong bool) {
	if len(m) == 0 {
		return true, false
	}
	if len(m) > MetadataLengthMax {
		return false, true
	}
	i := 0
	for i < len(m) && (m[i] == ' ' || m[i] == '\t' || m[i] == '\n' || m[i] == '\r') {
		i++
	}
	if i == len(m) || m[i] != '{' {
		return false, false
	}
	return json.Valid(m), false
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
