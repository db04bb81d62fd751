// Package acquirer is the connector interface between Kassa's card
// payments and an acquiring bank or processor, and a built-in test
// acquirer (NewTest) that behaves like a real one for development and
// tests.
//
// Every call carries an idempotency key: repeating a call with the same
// key never charges, captures or refunds twice; it returns the first
// outcome. Every call has a timeout (WithTimeout). A call that times out
// or loses its answer has an unknown outcome — the acquirer may well have
// acted — and returns ErrTimeout; Query with the same idempotency key
// then tells what happened.
package acquirer

import (
	"context"
	"errors"
	"time"

	"github.com/kassa/kassa/money"
)

// Acquirer authorizes card payments and moves the money afterwards.
type Acquirer interface {
	// Authorize asks the issuer to hold Amount on the card. The result is
	// approved, declined (with a DeclineCode) or requires_action (a 3-D
	// Secure challenge: the payer completes ChallengeID, then Authorize is
	// called again with a new idempotency key and the ChallengeID).
	Authorize(ctx context.Context, req AuthorizeRequest) (Result, error)
	// Capture takes up to the authorized amount.
	Capture(ctx context.Context, req CaptureRequest) (Result, error)
	// Void releases an authorization that was not captured.
	Void(ctx context.Context, req VoidRequest) (Result, error)
	// Refund returns captured money.
	Refund(ctx context.Context, req RefundRequest) (Result, error)
	// Payout credits money to the card of an earlier authorization (an
	// original credit, as card schemes call a refund-to-card that is not
	// tied to a capture): a merchant paying winnings back to the card
	// that deposited. The amount may exceed what was captured.
	Payout(ctx context.Context, req PayoutRequest) (Result, error)
	// Query returns the outcome of an earlier call by its idempotency
	// key, or ErrNotFound when the acquirer never received it.
	Query(ctx context.Context, idempotencyKey string) (Result, error)
}

// Errors of a connector.
var (
	// ErrTimeout: no answer in time. The outcome is unknown; Query it.
	ErrTimeout = errors.New("acquirer: no answer in time (outcome unknown; query the idempotency key)")
	// ErrNotFound: Query found no call with that idempotency key, or a
	// capture/void/refund names an unknown authorization.
	ErrNotFound = errors.New("acquirer: not found")
	// ErrIdempotencyMismatch: an idempotency key was reused for another request.
	ErrIdempotencyMismatch = errors.New("acquirer: idempotency key reused for a different request")
	// ErrInvalid: the request is malformed or not allowed in the
	// authorization's state (over-capture, refund before capture, ...).
	ErrInvalid = errors.New("acquirer: invalid request")
)

// Status is a result's outcome.
type Status string

const (
	Approved       Status = "approved"        // authorized; or the capture, void or refund succeeded
	Declined       Status = "declined"        // see DeclineCode
	RequiresAction Status = "requires_action" // a 3-D Secure challenge must be completed
)

// Decline codes.
const (
	GenericDecline       = "generic_decline"
	InsufficientFunds    = "insufficient_funds"
	StolenCard           = "stolen_card"
	ExpiredCard          = "expired_card"
	IncorrectCVC         = "incorrect_cvc"
	AuthenticationFailed = "authentication_failed" // the 3-D Secure challenge failed
)

// Operation names what a call did.
type Operation string

const (
	OpAuthorize Operation = "authorize"
	OpCapture   Operation = "capture"
	OpVoid      Operation = "void"
	OpRefund    Operation = "refund"
	OpPayout    Operation = "payout"
)

// AuthorizeRequest asks for an authorization. It carries the PAN and CVC,
// so it must never be logged or stored.
type AuthorizeRequest struct {
	IdempotencyKey string
	PAN            string
	ExpMonth       int
	ExpYear        int
	CVC            string // empty when no longer available (stored card, later payment)
	Amount         money.Amount
	Currency       money.Currency
	// Reference is the merchant-visible payment id, for the acquirer's reports.
	Reference string
	// ChallengeID is a completed 3-D Secure challenge of an earlier
	// requires_action result.
	ChallengeID string
}

// CaptureRequest captures (part of) an authorization.
type CaptureRequest struct {
	IdempotencyKey  string
	AuthorizationID string
	Amount          money.Amount
}

// VoidRequest releases an authorization.
type VoidRequest struct {
	IdempotencyKey  string
	AuthorizationID string
}

// RefundRequest refunds (part of) what was captured.
type RefundRequest struct {
	IdempotencyKey  string
	AuthorizationID string
	Amount          money.Amount
}

// PayoutRequest credits the card of an authorization.
type PayoutRequest struct {
	IdempotencyKey  string
	AuthorizationID string
	Amount          money.Amount
	Currency        money.Currency
}

// Result is an acquirer's answer.
type Result struct {
	Operation       Operation
	Status          Status
	AuthorizationID string // the acquirer's id of the authorization
	DeclineCode     string
	ChallengeID     string // with RequiresAction
	// TransStatus and ECI are the 3-D Secure outcome of an authorization
	// that followed a challenge: Y and 05 (authenticated), N and 07 (not);
	// empty when no challenge was involved.
	TransStatus string
	ECI         string
	Amount      money.Amount
	Currency    money.Currency
	Created     time.Time
}

// ChallengeInfo is what an issuer's challenge page shows the cardholder:
// the payment (its Reference), the amount and the card's last four digits.
type ChallengeInfo struct {
	ID        string
	Reference string
	Amount    money.Amount
	Currency  money.Currency
	Last4     string
	// Completed says the cardholder already answered it.
	Completed bool
}

// TimeoutDefault is the time WithTimeout gives a call that has no
// earlier deadline.
const TimeoutDefault = 30 * time.Second

// WithTimeout wraps a connector so that every call ends within d
// (TimeoutDefault when d is zero): a call that runs out of time returns
// ErrTimeout.
func WithTimeout(a Acquirer, d time.Duration) Acquirer {
	if d <= 0 {
		d = TimeoutDefault
	}
	return timeoutAcquirer{a: a, d: d}
}

type timeoutAcquirer struct {
	a Acquirer
	d time.Duration
}

func call[R any](t timeoutAcquirer, ctx context.Context, req R, f func(context.Context, R) (Result, error)) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	res, err := f(ctx, req)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrTimeout) {
		err = errors.Join(ErrTimeout, err)
	}
	return res, err
}

func (t timeoutAcquirer) Authorize(ctx context.Context, req AuthorizeRequest) (Result, error) {
	return call(t, ctx, req, t.a.Authorize)
}

func (t timeoutAcquirer) Capture(ctx context.Context, req CaptureRequest) (Result, error) {
	return call(t, ctx, req, t.a.Capture)
}

func (t timeoutAcquirer) Void(ctx context.Context, req VoidRequest) (Result, error) {
	return call(t, ctx, req, t.a.Void)
}

func (t timeoutAcquirer) Refund(ctx context.Context, req RefundRequest) (Result, error) {
	return call(t, ctx, req, t.a.Refund)
}

func (t timeoutAcquirer) Payout(ctx context.Context, req PayoutRequest) (Result, error) {
	return call(t, ctx, req, t.a.Payout)
}

func (t timeoutAcquirer) Query(ctx context.Context, key string) (Result, error) {
	return call(t, ctx, key, t.a.Query)
}
