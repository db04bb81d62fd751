package payment

import (
	"context"

	"github.com/kassa/kassa/money"
)

// Gate admits a payer's deposit before it is authorized: the rules of
// the merchant's jurisdiction and the payer's limits (package
// compliance implements it; cmd/kassa wires it). It sees the payment
// and what the method said of its instrument, never which method it
// is, so a new method is bound by it without a line here.
type Gate interface {
	// Admit returns nil to let the confirmation go on, or the error the
	// confirmation answers (a kassa error worded for the payer). It is
	// asked again on every try of a payment; it counts the deposit
	// against the payer's limits under the payment's id.
	Admit(ctx context.Context, d GateRequest) error
}

// GateRequest is a confirmation as the Gate sees it.
type GateRequest struct {
	PaymentID  string
	MerchantID string
	Amount     money.Amount
	Currency   money.Currency
	// Anonymous: the instrument names nobody (Instrument.Anonymous).
	Anonymous bool
	// PayerID is the payer's Kassa account, logged in on the page.
	PayerID  string
	Customer Customer
}

// admit asks the Gate about next, the payment with the instrument of
// this try.
func (s *Service) admit(ctx context.Context, next Payment, in Instrument) error {
	if s.cfg.Gate == nil {
		return nil
	}
	return s.cfg.Gate.Admit(ctx, GateRequest{PaymentID: next.ID, MerchantID: next.MerchantID, Amount: next.Amount,
		Currency: next.Currency, Anonymous: in.Anonymous, PayerID: next.PayerID, Customer: next.Customer})
}
