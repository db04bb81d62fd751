// Package payout is Kassa's one engine for money out: a merchant paying a
// player's winnings to a bank account or to the payer's wallet (and, in
// later steps, back to a card and the payer's own withdrawals).
//
// A payout (po_...) moves through these states, each transition one
// database transaction that writes its ledger effect and its event to the
// webhook outbox together (ledger.CreateTransfersWith and an effect):
//
//		created ──► pending ──────► in_transit ──► paid ──► returned
//		   │          │  │               │
//		   │          │  └► canceled     └► failed
//		   └► requires_review ─► pending (approved) / canceled (rejected)
//
//	  - reserve (pending, requires_review): the pending ledger transfer
//	    po_X:reserve from the merchant's balance to payout_clearing:<CUR>;
//	    the effect refuses it when it would leave the merchant's available
//	    balance (posted credits − posted debits − pending debits) below zero
//	    or pass a limit, so two payouts racing for one balance never
//	    overdraw it (effects run one at a time in the ledger's sequencer).
//	  - paid: po_X:post posts the reserve; a wallet payout also credits the
//	    payer's wallet (po_X:wallet, payout_clearing → wallet) in the same
//	    linked chain.
//	  - failed, canceled: po_X:void voids the reserve.
//	  - returned: po_X:return, payout_clearing → merchant, reverses it.
//
// "Reserved" in the ledger is always the sum of the open payouts
// (pending, requires_review, in_transit): the reserve is written with the
// payout and released or posted with the transition that closes it.
//
// The worker (Service.Process) drives payouts through their Rail: it sends
// pending payouts under their id as the rail's idempotency key, asks the
// rail about those in transit and about paid ones that may still be
// returned. An answer lost to a timeout is resolved by Query: the rail
// reports the payout under its key, or that it never received it (then it
// is sent again under the same key), so the rail pays at most once and
// Kassa records each outcome once (every update checks the version).
package payout

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/webhook"
)

// Status is a payout's state.
type Status string

// Payout states.
const (
	StatusPending        Status = "pending"         // reserved, waiting to be sent
	StatusRequiresReview Status = "requires_review" // reserved, held for a second person
	StatusInTransit      Status = "in_transit"      // the rail accepted it
	StatusPaid           Status = "paid"            // the rail paid it; the reserve is posted
	StatusFailed         Status = "failed"          // the rail refused it; the reserve is voided
	StatusCanceled       Status = "canceled"        // canceled or rejected before in_transit
	StatusReturned       Status = "returned"        // paid, then bounced: a reversing transfer
)

// Open reports whether a payout in status st holds a reserve.
func (st Status) Open() bool {
	return st == StatusPending || st == StatusRequiresReview || st == StatusInTransit
}

// Counts reports whether a payout in status st counts towards limits:
// money that left or is about to leave.
func (st Status) Counts() bool { return st.Open() || st == StatusPaid }

// Event types payouts emit.
const (
	EventCreated        = "payout.created"
	EventRequiresReview = "payout.requires_review"
	EventInTransit      = "payout.in_transit"
	EventPaid           = "payout.paid"
	EventFailed         = "payout.failed"
	EventCanceled       = "payout.canceled"
	EventReturned       = "payout.returned"
)

func init() {
	for _, t := range []string{EventCreated, EventRequiresReview, EventInTransit, EventPaid, EventFailed,
		EventCanceled, EventReturned} {
		webhook.RegisterEventType(t)
	}
}

// Destination types.
const (
	DestOriginalMethod = "original_method"
	DestWallet         = "wallet"
	DestCard           = "card"
	DestBankAccount    = "bank_account"
)

// Destination is where a payout goes.
type Destination struct {
	Type          string `json:"type"`
	Payment       string `json:"payment,omitempty"`
	Card          string `json:"card,omitempty"`
	IBAN          string `json:"iban,omitempty"`
	AccountHolder string `json:"account_holder,omitempty"`
}

// Customer is the payer a payout is for, as the merchant knows them.
type Customer struct {
	ID          string `json:"id"` // the payer's Kassa account (cus_...) or the merchant's own id
	Email       string `json:"email,omitempty"`
	FirstName   string `json:"first_name,omitempty"`
	LastName    string `json:"last_name,omitempty"`
	DateOfBirth string `json:"date_of_birth,omitempty"` // YYYY-MM-DD
}

// Check is the outcome of one check before money leaves.
type Check struct {
	Check  string `json:"check"`
	Result string `json:"result"` // pass, fail, review
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code,omitempty"`  // the problem code when it fails
	Param  string `json:"param,omitempty"` // the request field at fault
}

// Check results.
const (
	CheckPass   = "pass"
	CheckFail   = "fail"
	CheckReview = "review"
)

// Payout is one money-out.
type Payout struct {
	ID                string
	MerchantID        string
	Amount            money.Amount
	Currency          money.Currency
	Status            Status
	Destination       Destination
	Customer          Customer
	Checks            []Check
	FailureCode       string
	FailureMessage    string
	MerchantReference string
	Metadata          json.RawMessage
	CreatedBy         string // the API key (key_...) that created it
	ReviewedBy        string // the key that approved or rejected it
	RequestKey        string // the merchant's Idempotency-Key, "" none
	Rail              string // the rail that carries it ("sepa_test", "wallet")
	RailAttempts      int    // Submit calls made (bounded)
	Created           time.Time
	Updated           time.Time
	ArrivalEstimate   time.Time
	PaidAt            time.Time
	Version           int64
	// SplitOf is the first leg of the split payout this one is a leg of
	// (split.go); "" for a payout of its own.
	SplitOf string
	// Legs are the legs of a split payout, on the answer of the request
	// that made it (not stored).
	Legs []Payout
}

// Filter selects a page of a merchant's payouts, newest first.
type Filter struct {
	MerchantID    string
	Status        Status
	Customer      string
	StartingAfter string
	Limit         int
}

// Totals are the sums limits are checked against.
type Totals struct {
	PayerDay, PayerMonth, MerchantDay money.Amount
	// Payment is what payouts paid back to TotalsQuery.Payment, ever.
	Payment money.Amount
}

// TotalsQuery names the payer, merchant, currency and the starts of the
// day and month (UTC) whose payouts count.
type TotalsQuery struct {
	MerchantID, CustomerID string
	Currency               money.Currency
	DayStart, MonthStart   time.Time
	Payment                string // "" none
}

// Sums are a merchant account's open and paid payouts.
type Sums struct {
	Open, Paid money.Amount
}

// ErrConflict is returned by the store when a payout changed since it was
// read.
var ErrConflict = errors.New("payout: changed concurrently")

// Store is what payouts need of storage. The *Tx methods write inside the
// ledger's transaction (an effect) so the payout, its event and its ledger
// transfers commit together. Updates check Version-1 and return
// ErrConflict when the payout changed.
type Store interface {
	CreatePayoutTx(ctx context.Context, tx ledger.Tx, p Payout, evs []webhook.Event) error
	UpdatePayoutTx(ctx context.Context, tx ledger.Tx, p Payout, evs []webhook.Event) error
	// UpdatePayout updates a payout without a ledger effect.
	UpdatePayout(ctx context.Context, p Payout, evs []webhook.Event) error
	// Payout returns a payout of merchantID ("" any), kassa ENotFound if none.
	Payout(ctx context.Context, merchantID, id string) (Payout, error)
	Payouts(ctx context.Context, f Filter) ([]Payout, bool, error)
	// DuePayouts returns up to limit payouts the worker has a step for:
	// pending and in_transit ones (oldest update first), then those paid
	// through a rail (not the wallet) at or after paidSince.
	DuePayouts(ctx context.Context, paidSince time.Time, limit int) ([]Payout, error)
	// PayoutTotalsTx sums the amounts of payouts whose status Counts,
	// inside the ledger's transaction (so concurrent payouts see each
	// other: effects run one at a time).
	PayoutTotalsTx(ctx context.Context, tx ledger.Tx, q TotalsQuery) (Totals, error)
	PayoutTotals(ctx context.Context, q TotalsQuery) (Totals, error)
	// PayoutSums returns, per merchant ledger account
	// (merchant:<id>:<CUR>), the sums of open and of paid payouts (for
	// reconciliation: reserved = sum of open payouts).
	PayoutSums(ctx context.Context) (map[string]Sums, error)
	// DestinationStats looks at a merchant's earlier payouts to iban.
	DestinationStats(ctx context.Context, merchantID, customerID, iban string) (DestinationStats, error)
	// AllPayouts returns up to limit payouts of every merchant by id,
	// after the id after ("" from the first).
	AllPayouts(ctx context.Context, after string, limit int) ([]Payout, error)
}

// Ledger is what payouts need of the ledger.
type Ledger interface {
	CreateAccounts(ctx context.Context, owner string, accounts []ledger.Account) ([]ledger.Result, error)
	CreateTransfersWith(ctx context.Context, owner string, transfers []ledger.Transfer, effect ledger.Effect) ([]ledger.Result, error)
	Account(ctx context.Context, owner, id string) (ledger.Account, error)
	AccountTransfers(ctx context.Context, owner, accountID, startingAfter string, limit int) ([]ledger.Transfer, bool, error)
	Transfer(ctx context.Context, owner, id string) (ledger.Transfer, []byte, error)
	PendingStatus(ctx context.Context, owner, id string) (ledger.Pending, error)
}

// Limits is the amount (minor units of each currency) that may be paid out
// per payer per day and per month and per merchant per day. Zero fields
// take the defaults.
type Limits struct {
	PayerDay, PayerMonth, MerchantDay money.Amount
}

// Default limits.
const (
	PayerDayDefault    money.Amount = 200_000    // 2,000.00
	PayerMonthDefault  money.Amount = 1_000_000  // 10,000.00
	MerchantDayDefault money.Amount = 50_000_000 // 500,000.00
)

// Config wires a Service.
type Config struct {
	Store  Store
	Ledger Ledger
	// Rails carry payouts by destination type (DestBankAccount: a SEPA
	// rail). Wallet payouts need none: they stay in Kassa's ledger.
	Rails map[string]Rail
	// Deposits finds the payments a card or original_method payout pays
	// back to; nil: those destinations are not enabled.
	Deposits Deposits
	// KYC gives the identity a payer's Kassa account was verified with;
	// wallet payouts must match it. nil: wallet payouts are refused.
	KYC KYC
	// Jurisdiction checks a gambling merchant's payout against the rules
	// of its licence and the payer's residence (package compliance: the
	// identity level a withdrawal needs); nil: none.
	Jurisdiction Jurisdiction
	// Risk scores every payout; nil: none.
	Risk   Risk
	Limits Limits
	// ReviewAbove holds payouts of more than this for review (0: never).
	ReviewAbove money.Amount
	Clock       func() time.Time // nil: time.Now
	IDs         id.Generator
	Logger      *slog.Logger
	// Active refuses the payouts and settlements of a merchant the
	// operator suspended (merchant.Service.CheckActive); nil: none.
	Active func(ctx context.Context, merchantID string) error
}

// Service runs payouts.
type Service struct {
	cfg   Config
	store Store
	led   Ledger
	now   func() time.Time
	ids   id.Generator
	log   *slog.Logger

	rails map[string]Rail // by Rail.Name

	mu       sync.Mutex
	accounts map[string]bool // ledger accounts known to exist
}

// RailWallet is the name on payouts paid inside Kassa, to a wallet.
const RailWallet = "wallet"

// New returns a payout service.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Limits.PayerDay <= 0 {
		cfg.Limits.PayerDay = PayerDayDefault
	}
	if cfg.Limits.PayerMonth <= 0 {
		cfg.Limits.PayerMonth = PayerMonthDefault
	}
	if cfg.Limits.MerchantDay <= 0 {
		cfg.Limits.MerchantDay = MerchantDayDefault
	}
	rails := map[string]Rail{}
	for _, r := range cfg.Rails {
		rails[r.Name()] = r
	}
	return &Service{cfg: cfg, store: cfg.Store, led: cfg.Ledger, now: cfg.Clock, ids: cfg.IDs,
		log: cfg.Logger, accounts: map[string]bool{}, rails: rails}
}

// Ledger account ids (platform namespace). merchantAccount is the one the
// payment service credits.
func merchantAccount(merchantID string, cur money.Currency) string {
	return "merchant:" + merchantID + ":" + string(cur)
}

func clearingAccount(cur money.Currency) string { return "payout_clearing:" + string(cur) }

// WalletAccount is the ledger account of a payer's wallet in cur.
func WalletAccount(customerID string, cur money.Currency) string {
	return "wallet:" + customerID + ":" + string(cur)
}

func reserveID(p Payout) string { return p.ID + ":reserve" }
