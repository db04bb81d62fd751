package payout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/money"
)

// Deposit is what a payment put into a merchant's balance, as the closed
// loop needs it: the method that paid, what is left of it after refunds,
// and for a card the authorization an original credit goes to.
type Deposit struct {
	PaymentID       string
	Method          string // "card" or "voucher"
	Currency        money.Currency
	Net             money.Amount // captured less refunded and refunds pending
	AuthorizationID string       // card: the acquirer's authorization
	PayerID         string       // the payer's Kassa account (cus_...), "" none
	Created         time.Time    // when the payment was made
}

// Deposits finds a merchant's payment for the closed loop. It returns an
// error of kind ENotFound for a payment of another merchant or none.
type Deposits interface {
	Deposit(ctx context.Context, merchantID, paymentID string) (Deposit, error)
}

// Deposit methods.
const (
	MethodCard    = "card"
	MethodVoucher = "voucher"
)

// CardRail pays out to cards through the acquirer: an original credit to
// the card of the deposit's authorization, under the payout's id as the
// acquirer's idempotency key. An approved credit is paid at once.
type CardRail struct {
	Acquirer acquirer.Acquirer
}

var _ Rail = CardRail{}

// Name is the rail's name on payouts.
func (CardRail) Name() string { return "card" }

// Submit asks the acquirer for the credit.
func (r CardRail) Submit(ctx context.Context, in Instruction) (RailStatus, error) {
	res, err := r.Acquirer.Payout(ctx, acquirer.PayoutRequest{IdempotencyKey: in.Key, AuthorizationID: in.AuthorizationID,
		Amount: in.Amount, Currency: in.Currency})
	return cardStatus(res, err)
}

// Query asks the acquirer what became of the credit under key.
func (r CardRail) Query(ctx context.Context, key string) (RailStatus, error) {
	res, err := r.Acquirer.Query(ctx, key)
	if errors.Is(err, acquirer.ErrNotFound) {
		return RailStatus{}, ErrNotReceived
	}
	return cardStatus(res, err)
}

func cardStatus(res acquirer.Result, err error) (RailStatus, error) {
	switch {
	case errors.Is(err, acquirer.ErrInvalid), errors.Is(err, acquirer.ErrNotFound), errors.Is(err, acquirer.ErrIdempotencyMismatch):
		return RailStatus{}, &RailError{Code: "card_payout_refused", Message: "the acquirer refused the card payout"}
	case err != nil:
		return RailStatus{}, err // unknown outcome: query later
	case res.Status == acquirer.Approved:
		return RailStatus{State: RailPaid, ArrivalEstimate: res.Created}, nil
	default:
		return RailStatus{State: RailFailed, Reason: res.DeclineCode, Message: fmt.Sprintf("the card payout was %s", res.Status)}, nil
	}
}
