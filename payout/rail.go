package payout

import (
	"context"
	"errors"
	"time"

	"github.com/kassa/kassa/money"
)

// Rail carries payouts out of Kassa: a bank transfer scheme or a card
// network's payout. Every call names the payout by Key (its id), the
// rail's idempotency key: a Submit repeated under a key the rail has
// already seen returns that transfer and moves no money again.
type Rail interface {
	// Name identifies the rail on payouts ("sepa_test").
	Name() string
	// Submit hands an instruction to the rail. An error that is not a
	// *RailError (a timeout, a dropped connection) leaves the outcome
	// unknown: the rail may or may not have received it.
	Submit(ctx context.Context, in Instruction) (RailStatus, error)
	// Query returns the transfer under key, or ErrNotReceived when the
	// rail never received it.
	Query(ctx context.Context, key string) (RailStatus, error)
}

// Instruction is what a rail needs to move money.
type Instruction struct {
	Key           string
	Amount        money.Amount
	Currency      money.Currency
	IBAN          string
	AccountHolder string
	// AuthorizationID is the card authorization a card payout credits.
	AuthorizationID string
}

// RailState is where a transfer is on its rail.
type RailState string

// Rail states.
const (
	RailAccepted RailState = "accepted" // received, not yet settled
	RailPaid     RailState = "paid"     // settled in the payee's account
	RailFailed   RailState = "failed"   // refused; Reason says why
	RailReturned RailState = "returned" // paid, then sent back; Reason says why
)

// RailStatus is a transfer's state on its rail.
type RailStatus struct {
	State           RailState
	Reason          string // a scheme reason code (SEPA: AC04 ...) when failed or returned
	Message         string
	ArrivalEstimate time.Time
}

// ErrNotReceived is Query's answer for a key the rail never received.
var ErrNotReceived = errors.New("payout: the rail never received this transfer")

// RailError is a refusal the rail answered (not an unknown outcome).
type RailError struct {
	Code, Message string
}

func (e *RailError) Error() string { return "rail refused: " + e.Code + ": " + e.Message }
