package payment

import (
	"context"
	"fmt"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// Pricing is what a capture asks of business accounts (package business):
// the merchant's fee and availability delay for the payment's method,
// and where what the capture booked for them is recorded. nil in Config:
// no fees, money is available at once.
type Pricing interface {
	// Terms are the fee on amount (at most amount) and how long the
	// captured money stays pending before it is available. It is asked on
	// every capture: implementations answer from memory.
	Terms(ctx context.Context, merchantID, method string, cur money.Currency, amount money.Amount) (Terms, error)
	// RecordChargeTx stores c inside the capture's transaction.
	RecordChargeTx(ctx context.Context, tx ledger.Tx, c Charge) error
}

// Terms of one capture.
type Terms struct {
	Fee   money.Amount
	Delay time.Duration // 0: available at once
}

// Charge is what a capture booked beside the method's own transfers.
type Charge struct {
	PaymentID   string
	MerchantID  string
	Currency    money.Currency
	Amount      money.Amount // captured
	Fee         money.Amount // pay:<id>:fee, merchant → revenue:<CUR>
	Held        money.Amount // pay:<id>:hold, merchant → merchant_hold (pending until AvailableOn)
	AvailableOn time.Time
	Created     time.Time
}

// Ledger accounts of business accounts (platform namespace).

// RevenueAccount is the platform's revenue in cur: fees land there.
func RevenueAccount(cur money.Currency) string { return "revenue:" + string(cur) }

// HoldAccount holds a merchant's captured money until it is available:
// every hold is a pending transfer merchant → hold that the ledger voids
// at its timeout, so the money comes back to the available balance even
// when no worker runs.
func HoldAccount(merchantID string, cur money.Currency) string {
	return "merchant_hold:" + merchantID + ":" + string(cur)
}

// FeeTransferID and HoldTransferID name a capture's extra transfers.
func FeeTransferID(paymentID string) string  { return "pay:" + paymentID + ":fee" }
func HoldTransferID(paymentID string) string { return "pay:" + paymentID + ":hold" }

// holdDelayMax bounds the availability delay (a ledger timeout).
const holdDelayMax = 90 * 24 * time.Hour

// charge returns the transfers a capture of amount books beside the
// method's (appended to the same ledger call: one batch, one commit) and
// the record of them; nil when the merchant has no pricing.
func (s *Service) charge(ctx context.Context, p Payment, amount money.Amount, now time.Time) ([]ledger.Transfer, *Charge, error) {
	if s.cfg.Pricing == nil || amount <= 0 {
		return nil, nil, nil
	}
	t, err := s.cfg.Pricing.Terms(ctx, p.MerchantID, p.MethodType, p.Currency, amount)
	if err != nil {
		return nil, nil, fmt.Errorf("pricing of %s: %w", p.ID, err)
	}
	if t.Fee < 0 || t.Fee > amount || t.Delay < 0 || t.Delay > holdDelayMax {
		return nil, nil, fmt.Errorf("pricing of %s: fee %d or delay %s out of range", p.ID, t.Fee, t.Delay)
	}
	if t.Fee == 0 && t.Delay == 0 {
		return nil, nil, nil
	}
	c := &Charge{PaymentID: p.ID, MerchantID: p.MerchantID, Currency: p.Currency, Amount: amount, Fee: t.Fee,
		AvailableOn: now, Created: now}
	var ts []ledger.Transfer
	if t.Fee > 0 {
		if err := s.ensurePlatformAccount(ctx, ledger.Account{ID: RevenueAccount(p.Currency), Currency: p.Currency, Code: 6}); err != nil {
			return nil, nil, err
		}
		ts = append(ts, ledger.Transfer{ID: FeeTransferID(p.ID), DebitAccountID: merchantAccount(p.MerchantID, p.Currency),
			CreditAccountID: RevenueAccount(p.Currency), Amount: t.Fee, Currency: p.Currency, Code: 60})
	}
	if net := amount - t.Fee; t.Delay > 0 && net > 0 {
		if err := s.ensurePlatformAccount(ctx, ledger.Account{ID: HoldAccount(p.MerchantID, p.Currency), Currency: p.Currency, Code: 7}); err != nil {
			return nil, nil, err
		}
		ts = append(ts, ledger.Transfer{ID: HoldTransferID(p.ID), DebitAccountID: merchantAccount(p.MerchantID, p.Currency),
			CreditAccountID: HoldAccount(p.MerchantID, p.Currency), Amount: net, Currency: p.Currency, Code: 61,
			Flags: ledger.FlagPending, Timeout: t.Delay})
		c.Held, c.AvailableOn = net, now.Add(t.Delay)
	}
	return ts, c, nil
}

// recordCharge stores c (if any) in the capture's transaction.
func (s *Service) recordCharge(ctx context.Context, tx ledger.Tx, c *Charge) error {
	if c == nil {
		return nil
	}
	return s.cfg.Pricing.RecordChargeTx(ctx, tx, *c)
}
