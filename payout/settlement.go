package payout

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/webhook"
)

// SettlementPrefix starts the id of a payout that settles a merchant's
// balance to its own bank account (package business): stl_…. Such a
// payout runs through the same states, ledger transfers and bank rail as
// any other, emits settlement.* instead of payout.* events, and is not
// among /v1/payouts nor counted against payer and merchant payout limits.
const SettlementPrefix = "stl_"

// IsSettlement reports whether p settles the merchant's own balance.
func (p Payout) IsSettlement() bool { return strings.HasPrefix(p.ID, SettlementPrefix) }

// Settlement event types (as payouts').
const (
	EventSettlementCreated   = "settlement.created"
	EventSettlementInTransit = "settlement.in_transit"
	EventSettlementPaid      = "settlement.paid"
	EventSettlementFailed    = "settlement.failed"
	EventSettlementCanceled  = "settlement.canceled"
	EventSettlementReturned  = "settlement.returned"
)

func init() {
	for _, t := range []string{EventSettlementCreated, EventSettlementInTransit, EventSettlementPaid,
		EventSettlementFailed, EventSettlementCanceled, EventSettlementReturned} {
		webhook.RegisterEventType(t)
	}
}

// SettlementRequest is a settlement of Amount to the merchant's bank
// account. Effect runs inside the reserve's ledger transaction (the
// business module marks the balance transactions it pays out there);
// its error undoes the reserve.
type SettlementRequest struct {
	ID            string // stl_…
	MerchantID    string
	MerchantName  string
	Amount        money.Amount
	Currency      money.Currency
	IBAN          string
	AccountHolder string
	Effect        func(ctx context.Context, tx ledger.Tx) error
}

// CreateSettlement reserves a settlement's amount from the merchant's
// available balance and stores it pending, for the worker to send
// through the bank rail. The balance is checked inside the ledger's
// transaction, so a settlement never overdraws it.
func (s *Service) CreateSettlement(ctx context.Context, req SettlementRequest) (Payout, error) {
	if !strings.HasPrefix(req.ID, SettlementPrefix) || req.Amount <= 0 || req.Amount > AmountMax {
		return Payout{}, kassa.Invalid("amount", "amount_invalid", "a settlement is of 1 to %d minor units", AmountMax)
	}
	rail := s.cfg.Rails[DestBankAccount]
	if rail == nil {
		return Payout{}, kassa.Invalid("destination", "destination_unsupported", "bank account payouts are not enabled on this server")
	}
	if s.cfg.Active != nil {
		if err := s.cfg.Active(ctx, req.MerchantID); err != nil {
			return Payout{}, err
		}
	}
	iban := NormalizeIBAN(req.IBAN)
	if code := ValidateIBAN(iban); code != "" {
		return Payout{}, kassa.Invalid("iban", code, "the settlement bank account's IBAN is not valid")
	}
	if req.Currency != "EUR" {
		return Payout{}, kassa.Invalid("currency", "currency_mismatch", "a SEPA bank account is paid in EUR, not %s", req.Currency)
	}
	now := s.now().UTC()
	p := Payout{ID: req.ID, MerchantID: req.MerchantID, Amount: req.Amount, Currency: req.Currency,
		Status: StatusPending, Destination: Destination{Type: DestBankAccount, IBAN: iban, AccountHolder: req.AccountHolder},
		Customer: Customer{ID: req.MerchantID, LastName: req.MerchantName}, Rail: rail.Name(),
		Checks:  []Check{{Check: CheckDestination, Result: CheckPass}, {Check: CheckBalance, Result: CheckPass}},
		Created: now, Updated: now, ArrivalEstimate: now.Add(24 * time.Hour), Version: 1}
	if err := s.ensureAccount(ctx, merchantAccount(p.MerchantID, p.Currency), p.Currency, 2, 0); err != nil {
		return Payout{}, err
	}
	if err := s.ensureAccount(ctx, clearingAccount(p.Currency), p.Currency, 4, 0); err != nil {
		return Payout{}, err
	}
	evs, err := s.events(p, now, EventCreated)
	if err != nil {
		return Payout{}, err
	}
	ts := []ledger.Transfer{{ID: reserveID(p), DebitAccountID: merchantAccount(p.MerchantID, p.Currency),
		CreditAccountID: clearingAccount(p.Currency), Amount: p.Amount, Currency: p.Currency, Code: 43, Flags: ledger.FlagPending}}
	var refused error
	_, err = s.led.CreateTransfersWith(ctx, "", ts, func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
		refused = nil
		if err := checkResults(ts, results); err != nil {
			return err
		}
		if a, ok := ledger.EffectAccount(ctx, "", merchantAccount(p.MerchantID, p.Currency)); !ok {
			return fmt.Errorf("settlement %s: the ledger batch does not hold the merchant's account", p.ID)
		} else if avail := available(a); avail < 0 {
			refused = kassa.Errorf(kassa.EUnprocessable, "balance_insufficient",
				"the settlement of %d is more than the %d available in %s", p.Amount, avail+p.Amount, p.Currency)
			return refused
		}
		if req.Effect != nil {
			if err := req.Effect(ctx, tx); err != nil {
				refused = err
				return err
			}
		}
		return s.store.CreatePayoutTx(ctx, tx, p, evs)
	})
	if refused != nil {
		return Payout{}, refused
	}
	if err != nil {
		return Payout{}, err
	}
	return p, nil
}

// eventType is the type of a payout event for p: settlement.* for a
// settlement.
func eventType(p Payout, t string) string {
	if p.IsSettlement() {
		return "settlement." + strings.TrimPrefix(t, "payout.")
	}
	return t
}

// PublicSettlement is a settlement as the API and its events show it.
type PublicSettlement struct {
	ID              string         `json:"id"`
	Object          string         `json:"object"`
	Status          Status         `json:"status"`
	Amount          money.Amount   `json:"amount"`
	Currency        money.Currency `json:"currency"`
	BankAccount     PublicBank     `json:"bank_account"`
	FailureCode     *string        `json:"failure_code"`
	FailureMessage  *string        `json:"failure_message"`
	Created         time.Time      `json:"created"`
	ArrivalEstimate *time.Time     `json:"arrival_estimate"`
	PaidAt          *time.Time     `json:"paid_at"`
}

// PublicBank names the settlement's bank account without its full IBAN.
type PublicBank struct {
	Country       string `json:"country"`
	Last4         string `json:"last4"`
	AccountHolder string `json:"account_holder"`
}

// Settlement returns the API view of a settlement payout.
func Settlement(p Payout) PublicSettlement {
	out := PublicSettlement{ID: p.ID, Object: "settlement", Status: p.Status, Amount: p.Amount, Currency: p.Currency,
		BankAccount: BankOf(p.Destination.IBAN, p.Destination.AccountHolder), Created: p.Created.UTC()}
	if p.FailureCode != "" {
		out.FailureCode, out.FailureMessage = &p.FailureCode, &p.FailureMessage
	}
	if !p.ArrivalEstimate.IsZero() {
		t := p.ArrivalEstimate.UTC()
		out.ArrivalEstimate = &t
	}
	if !p.PaidAt.IsZero() {
		t := p.PaidAt.UTC()
		out.PaidAt = &t
	}
	return out
}

// BankOf shows a bank account by its country and last four characters.
func BankOf(iban, holder string) PublicBank {
	b := PublicBank{AccountHolder: holder}
	if len(iban) >= 6 {
		b.Country, b.Last4 = iban[:2], iban[len(iban)-4:]
	}
	return b
}
