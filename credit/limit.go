package credit

import (
	"context"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// Reasons of a credit decision (risk kind "credit"). They are for the
// log and the operator; the payer is told only that pay later is not
// available (errUnavailable).
const (
	ReasonKYC        = "kyc_not_verified"
	ReasonOverdue    = "plan_overdue"     // an overdue plan stops new purchases
	ReasonWrittenOff = "plan_written_off" // a written-off plan stops them for good
	ReasonOpenPlans  = "open_plans_max"   // openPlansMax plans at once
	ReasonOverLimit  = "limit_exceeded"   // owed + amount > limit
)

// Decision is the outcome of the affordability and risk check of one
// payer in one currency.
type Decision struct {
	// Limit is the payer's credit limit; Owed what they owe now;
	// Available the rest (never below 0).
	Limit     money.Amount
	Owed      money.Amount
	Available money.Amount
	// Reasons, when not empty, say why no purchase is allowed at all.
	Reasons []string
}

// Assess decides a payer's credit in cur: account age, KYC level,
// repayment history, open plans and recent missed payments. The limit
// starts at Config.LimitStart, grows by LimitStep per plan repaid on time
// (accounts older than 30 days), and never exceeds LimitMax; a missed
// payment in the last 90 days takes the growth away.
func (s *Service) Assess(ctx context.Context, customerID string, cur money.Currency) (Decision, error) {
	c, err := s.cfg.Customers.Customer(ctx, customerID)
	if err != nil {
		return Decision{}, err
	}
	plans, err := s.cfg.Store.CustomerPlans(ctx, customerID, plansPerPayerMax)
	if err != nil {
		return Decision{}, err
	}
	owed, err := s.Owed(ctx, customerID, cur)
	if err != nil {
		return Decision{}, err
	}
	return assess(s.cfg, c, plans, owed, s.now().UTC()), nil
}

func assess(cfg Config, c identity.Customer, plans []Plan, owed money.Amount, now time.Time) Decision {
	d := Decision{Owed: owed}
	if c.Level != identity.LevelKYCVerified {
		d.Reasons = append(d.Reasons, ReasonKYC)
	}
	var onTime, open int
	missed := false
	for _, p := range plans {
		switch p.Status {
		case StatusOverdue, StatusInCollection:
			d.Reasons = append(d.Reasons, ReasonOverdue)
		case StatusWrittenOff:
			d.Reasons = append(d.Reasons, ReasonWrittenOff)
		}
		if p.Status.Open() {
			open++
		}
		late := false
		for _, in := range p.Instalments {
			late = late || in.Attempts > 1 || in.Status == InstalmentFailed || in.Status == InstalmentOverdue
			if late && now.Sub(in.Due) < 90*day {
				missed = true
			}
		}
		if p.Status == StatusSettled && !late && p.Paid() > 0 {
			onTime++
		}
	}
	if open >= openPlansMax {
		d.Reasons = append(d.Reasons, ReasonOpenPlans)
	}
	// Growth needs an account older than accountAgeGrowth and no missed
	// payment in the last 90 days; a missed one keeps the start limit.
	d.Limit = cfg.LimitStart
	if !missed && now.Sub(c.Created) >= accountAgeGrowth {
		d.Limit = min(cfg.LimitMax, cfg.LimitStart+money.Amount(onTime)*cfg.LimitStep)
	}
	d.Available = max(0, d.Limit-owed)
	return d
}

// Allowed reports whether d allows a purchase of amount.
func (d Decision) Allowed(amount money.Amount) bool {
	return len(d.Reasons) == 0 && amount <= d.Available
}

// CheckLimitTx refuses, inside the ledger transaction that books a
// purchase (a ledger.Effect), a receivable that now owes more than limit:
// effects run one at a time, so two purchases racing for one limit
// cannot both pass.
func CheckLimitTx(ctx context.Context, customerID string, cur money.Currency, limit money.Amount) error {
	a, ok := ledger.EffectAccount(ctx, "", ReceivableAccount(customerID, cur))
	if !ok {
		return kassa.Errorf(kassa.EInternal, "credit_account_missing", "the receivable of the purchase is not in the batch")
	}
	if owedOf(a) > limit {
		return errUnavailable
	}
	return nil
}
