// Package payment is the payment lifecycle: a merchant creates a payment,
// the payer confirms it with a payment method (up to ten prepaid voucher
// PINs, a card, any Method registered by name: method.go) on Kassa's
// hosted page, the merchant captures (fully or partly), cancels or
// refunds, and every step is an event. A declined try leaves the payment
// open for another, up to Config.AttemptsMax.
//
// # States
//
//	requires_action → authorized → captured
//	requires_action → captured            (capture_method automatic)
//	requires_action → canceled | expired  (unpaid after UnpaidTTL)
//	authorized      → canceled | expired  (not captured within the capture window)
//
// Refunds hang off captured payments (amount_refunded ≤ amount_captured).
//
// # Ledger mapping (vouchers; cards in card.go)
//
// Every account is in the platform's ledger namespace (owner ""):
// voucher:<serial> (the payer's voucher, never negative) and
// merchant:<merchant id>:<CUR> (what the merchant is owed).
//
//   - Authorization (manual capture): one pending transfer per voucher used,
//     pay:<id>:auth:<n>, voucher → merchant, linked (all or nothing), with a
//     ledger timeout a little past the capture window, so the funds come
//     back even when no Kassa worker runs.
//   - Automatic capture: the same transfers without the pending flag.
//   - Capture: post the pending transfers in PIN order up to the captured
//     amount (pay:<id>:capture:<n>, the last one partly); void the rest
//     (pay:<id>:release:<n>).
//   - Cancel or expiry of an authorization: void them all.
//   - Refund re_X: merchant → vouchers, in reverse PIN order (the last
//     voucher charged is refunded first), each up to what it paid and
//     was not yet refunded: re_X:<n>.
//
// Every transition writes its ledger transfers, the payment row and its
// event in one database transaction (a ledger.Effect): either all of it
// commits or none.
package payment

import (
	"context"
	"encoding/json"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/webhook"
)

// Status of a payment.
type Status string

const (
	StatusRequiresAction Status = "requires_action"
	StatusAuthorized     Status = "authorized"
	StatusCaptured       Status = "captured"
	StatusCanceled       Status = "canceled"
	StatusFailed         Status = "failed"
	StatusExpired        Status = "expired"
)

// Live reports whether a payment in this status still counts for
// duplicate detection (a merchant reference may not be reused).
func (s Status) Live() bool {
	return s == StatusRequiresAction || s == StatusAuthorized || s == StatusCaptured
}

// Capture methods.
const (
	CaptureAutomatic = "automatic"
	CaptureManual    = "manual"
)

// Limits and defaults.
const (
	// UnpaidTTL is how long a payment waits for the payer.
	UnpaidTTL = 30 * time.Minute
	// CaptureWindowDefault is how long an authorization may wait for a
	// capture when the merchant set no window of its own.
	CaptureWindowDefault = 7 * 24 * time.Hour
	// CaptureWindowMax bounds a merchant's capture window.
	CaptureWindowMax = 30 * 24 * time.Hour
	// ledgerTimeoutMargin is added to the capture window for the ledger's
	// own expiry of authorizations, so Kassa's worker normally expires the
	// payment first and the ledger is the backstop.
	ledgerTimeoutMargin = time.Hour
	PINsMax             = 10
	AmountMax           = money.Amount(1_000_000_000) // per payment, in minor units
	DescriptionMax      = 1000
	ReferenceMax        = 255
	ReturnURLMax        = 2048
	LocaleMax           = 35 // a BCP 47 tag such as de-AT
	MetadataMax         = 4096
	ReasonMax           = 500
	ListLimitMax        = 100
	MethodRefMax        = 255
	// AttemptsMaxDefault is the attempts a payment takes in kassa serve
	// (Config.AttemptsMax): the third decline fails it.
	AttemptsMaxDefault = 3
)

// Payment is a merchant's request for money and its progress.
type Payment struct {
	ID               string
	MerchantID       string
	Amount           money.Amount
	Currency         money.Currency
	CaptureMethod    string
	Status           Status
	AmountCapturable money.Amount // authorized, not yet captured
	AmountCaptured   money.Amount
	AmountRefunded   money.Amount // by refunds that succeeded
	// AmountRefundPending is reserved by card refunds whose acquirer
	// outcome is not recorded yet: it cannot be refunded again.
	AmountRefundPending money.Amount
	// RefundSeq is the sequence of the payment's last refund (1, 2, ...):
	// a card refund's acquirer idempotency key is derived from it.
	RefundSeq         int
	MerchantReference string // "" = none
	Description       string
	ReturnURL         string
	Metadata          json.RawMessage
	ClientSecret      string
	MethodType        string // "voucher" or "card" once confirmed
	FailureCode       string
	ExpiresAt         time.Time // requires_action: unpaid expiry; authorized: capture deadline
	Created           time.Time
	Updated           time.Time
	Version           int64
	Locale            string // the payer's language as the merchant named it (BCP 47, "de-AT"); "" for none

	Vouchers []VoucherUse // in PIN order
	Card     CardUse      // MethodType "card"
	// Attempts counts the payer's tries of an instrument on the payment
	// (each scored): declines, vouchers that did not cover the amount, and
	// the try that paid. See Config.AttemptsMax.
	Attempts int
	// MethodRef is the instrument another method keeps on the payment,
	// in its own format (a wallet account, an instalment plan), at most
	// MethodRefMax bytes.
	MethodRef string

	Customer Customer   // as the merchant named the payer, for risk
	Risk     RiskResult // the last risk decision on a confirmation
	// PayerID is the payer's Kassa account (cus_...), when they were
	// logged in on the hosted page or passed the step-up with it.
	PayerID string
}

// CardUse is the card a payment is paid with, as Kassa may keep it: the
// vault reference and the card's public details, never the PAN.
type CardUse struct {
	Ref         string // the vault's tok_... or card_... the PAN is behind
	Brand       string
	Last4       string
	ExpMonth    int
	ExpYear     int
	Fingerprint string
	// AuthorizationID is the acquirer's id of the approved authorization.
	AuthorizationID string
	// AcquirerState is "" (nothing in flight), "authorizing" (an
	// Authorize call under AttemptKey may be running), "unknown" (it timed
	// out: only Query tells) or "challenge" (3-D Secure ChallengeID).
	AcquirerState string
	AttemptKey    string // idempotency key of the last Authorize call
	// ChallengeID is the 3-D Secure challenge of the authorization; it is
	// kept after the outcome, so that a merchant's confirm naming it
	// answers with the payment as it stands.
	ChallengeID string
	// TransStatus and ECI are the challenge's outcome, recorded as for
	// the risk step-up (RiskResult): Y and 05 authenticated, N and 07
	// not, U not completed; "" when the issuer asked for no challenge.
	TransStatus string
	ECI         string
}

// Acquirer states of a card payment.
const (
	AcquirerAuthorizing = "authorizing"
	AcquirerUnknown     = "unknown"
	AcquirerChallenge   = "challenge"
)

// VoucherUse is what one voucher paid.
type VoucherUse struct {
	Seq      int
	Serial   string
	Amount   money.Amount // authorized on it
	Captured money.Amount
	Refunded money.Amount
}

// Refund returns captured money to the payer.
type Refund struct {
	ID         string
	PaymentID  string
	MerchantID string
	Amount     money.Amount
	Currency   money.Currency
	Reason     string
	Status     string // RefundPending, RefundSucceeded or RefundFailed
	Created    time.Time
	// Seq is the refund's place among its payment's refunds (1, 2, ...).
	Seq int
	// AcquirerKey is the idempotency key of a card refund's acquirer call:
	// <payment id>:refund:<seq>, recorded before the call.
	AcquirerKey string
	// FailureCode says why a failed refund failed.
	FailureCode string
	// RequestKey is the merchant's Idempotency-Key of the request that
	// created the refund ("" none): a retry with it finds this refund.
	RequestKey string
}

// Refund statuses. Voucher refunds succeed at once; a card refund is
// pending (its amount reserved in the ledger) until the acquirer's
// outcome is recorded.
const (
	RefundPending   = "pending"
	RefundSucceeded = "succeeded"
	RefundFailed    = "failed"
)

// Filter selects payments to list.
type Filter struct {
	MerchantID        string
	Status            Status
	MerchantReference string
	// Customer selects the payments of a payer: the merchant's customer
	// id or the payer's Kassa account (cus_...).
	Customer      string
	CreatedGTE    time.Time
	CreatedLT     time.Time
	StartingAfter string // a payment id
	Limit         int
}

// Store keeps payments. Methods taking a ledger.Tx write inside a ledger
// batch's transaction (see ledger.Effect); the others run their own.
type Store interface {
	// CreatePayment stores a new payment and its event. A live payment
	// of the merchant with the same reference makes it fail with
	// *DuplicateError.
	CreatePayment(ctx context.Context, p Payment, ev webhook.Event) error
	// Payment returns a merchant's payment ("" merchant: any), with its
	// vouchers; kassa ENotFound when absent.
	Payment(ctx context.Context, merchantID, id string) (Payment, error)
	// Payments lists newest first.
	Payments(ctx context.Context, f Filter) ([]Payment, bool, error)
	// PaymentsByPayer lists up to limit payments of any merchant whose
	// PayerID is payerID, newest first.
	PaymentsByPayer(ctx context.Context, payerID string, limit int) ([]Payment, error)
	// UpdatePayment writes p (and its vouchers) if the stored version is
	// still p.Version-1, with the events; otherwise ErrConflict.
	UpdatePayment(ctx context.Context, p Payment, evs []webhook.Event) error
	// UpdatePaymentTx is UpdatePayment inside a ledger batch.
	UpdatePaymentTx(ctx context.Context, tx ledger.Tx, p Payment, evs []webhook.Event) error
	// CreateRefundTx stores a refund and the payment's new state inside a
	// ledger batch (version checked as for UpdatePayment).
	CreateRefundTx(ctx context.Context, tx ledger.Tx, r Refund, p Payment, evs []webhook.Event) error
	// UpdateRefundTx records a pending refund's outcome (r with its new
	// status) and the payment's new state inside a ledger batch; ErrConflict
	// when the refund is no longer pending or the payment's version moved.
	UpdateRefundTx(ctx context.Context, tx ledger.Tx, r Refund, p Payment, evs []webhook.Event) error
	// Refund returns a merchant's refund.
	Refund(ctx context.Context, merchantID, id string) (Refund, error)
	// RefundByRequestKey returns the merchant's refund created under the
	// Idempotency-Key; kassa ENotFound when none.
	RefundByRequestKey(ctx context.Context, merchantID, key string) (Refund, error)
	// PendingRefunds returns up to limit pending refunds, oldest first.
	PendingRefunds(ctx context.Context, limit int) ([]Refund, error)
	// Refunds of a payment, oldest first.
	Refunds(ctx context.Context, paymentID string) ([]Refund, error)
	// DuePayments returns up to limit payments in requires_action or
	// authorized whose ExpiresAt is before now.
	DuePayments(ctx context.Context, now time.Time, limit int) ([]Payment, error)
	// CaptureWindow returns the merchant's capture window, or 0 for the default.
	CaptureWindow(ctx context.Context, merchantID string) (time.Duration, error)
	// SetCaptureWindow sets it (0 = back to the default).
	SetCaptureWindow(ctx context.Context, merchantID string, d time.Duration) error
	// Currencies lists the currencies the merchant has payments in.
	Currencies(ctx context.Context, merchantID string) ([]money.Currency, error)
	// AllPayments yields every payment with its vouchers and refunds, for
	// reconciliation.
	AllPayments(ctx context.Context, after string, limit int) ([]Payment, error)
	// AcquirerPending returns up to limit card payments whose acquirer
	// outcome is not recorded yet (AcquirerState authorizing or unknown).
	AcquirerPending(ctx context.Context, limit int) ([]Payment, error)
}
