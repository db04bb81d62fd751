package credit

import (
	"context"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/risk"
)

// Reasons of a credit decision: the rule set of the risk kind "credit"
// (risk.CreditReasons), plus the limit. They are for the log and the
// operator (and the risk evaluation); the payer is told only that pay
// later is not available (errUnavailable).
const (
	ReasonKYC        = risk.CreditKYC
	ReasonOverdue    = risk.CreditOverdue    // an overdue plan stops new purchases
	ReasonWrittenOff = risk.CreditWrittenOff // a written-off plan stops them for good
	ReasonOpenPlans  = risk.CreditOpenPlans  // risk.CreditOpenPlansMax plans at once
	ReasonOverLimit  = "limit_exceeded"      // owed + amount > limit
	ReasonRisk       = "risk_refused"        // the risk engine refused the check
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
	// Facts are what the decision was made of (risk kind "credit").
	Facts risk.CreditFacts
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

// Facts are what the payer's plans and account say, for the risk kind
// "credit".
func Facts(c identity.Customer, plans []Plan, now time.Time) risk.CreditFacts {
	f := risk.CreditFacts{AccountAgeDays: int(now.Sub(c.Created) / day), KYCVerified: c.Level == identity.LevelKYCVerified}
	for _, p := range plans {
		switch p.Status {
		case StatusOverdue, StatusInCollection:
			f.OverduePlans++
		case StatusWrittenOff:
			f.WrittenOffPlans++
		}
		if p.Status.Open() {
			f.OpenPlans++
		}
		late := false
		for _, in := range p.Instalments {
			missed := in.Attempts > 1 || in.Status == InstalmentFailed || in.Status == InstalmentOverdue
			late = late || missed
			if missed && now.Sub(in.Due) < 90*day {
				f.MissedPayments90d++
			}
		}
		if p.Status == StatusSettled && !late && p.Paid() > 0 {
			f.RepaidOnTime++
		}
	}
	return f
}

func assess(cfg Config, c identity.Customer, plans []Plan, owed money.Amount, now time.Time) Decision {
	f := Facts(c, plans, now)
	d := Decision{Owed: owed, Facts: f, Reasons: risk.CreditReasons(f)}
	// Growth needs an account older than accountAgeGrowth and no missed
	// payment in the last 90 days; a missed one keeps the start limit.
	d.Limit = cfg.LimitStart
	if f.MissedPayments90d == 0 && now.Sub(c.Created) >= accountAgeGrowth {
		d.Limit = min(cfg.LimitMax, cfg.LimitStart+money.Amount(f.RepaidOnTime)*cfg.LimitStep)
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

// RiskEngine scores credit checks (risk.Engine): kind "credit".
type RiskEngine interface {
	Evaluate(ctx context.Context, in risk.Input, wait bool) (risk.Evaluation, error)
}

// CheckRequest is one purchase's credit check by the risk engine.
type CheckRequest struct {
	PaymentID, MerchantID, CustomerID string
	Amount                            money.Amount
	Currency                          money.Currency
	IP, DeviceID, UserAgent           string
}

// checkRisk sends the credit check of a purchase to the risk engine as
// kind "credit", with what d knows of the payer, and applies its
// decision to d: block refuses (ReasonRisk; the evaluation keeps the
// engine's reasons), review or challenge keeps the payer at the starting
// limit, allow leaves d as it is. An engine that does not answer refuses:
// credit is not given unscored.
func (s *Service) checkRisk(ctx context.Context, q CheckRequest, d *Decision) {
	if s.cfg.Risk == nil {
		return
	}
	// In the platform's namespace (merchant ""): the merchant of the
	// purchase can neither read the payer's credit evaluation nor shape
	// it with rules or lists of its own.
	ev, err := s.cfg.Risk.Evaluate(ctx, risk.Input{Event: risk.Event{Time: s.now().UTC(), Kind: risk.KindCredit,
		Amount: int64(q.Amount), Currency: string(q.Currency), Method: risk.MethodAccount,
		CustomerID: q.CustomerID, IP: q.IP, DeviceID: q.DeviceID, UserAgent: q.UserAgent},
		Subject: q.PaymentID, Credit: &d.Facts}, false)
	if err != nil {
		s.log.WarnContext(ctx, "pay later: the risk engine did not answer", "customer", q.CustomerID, "err", err)
		d.Reasons = append(d.Reasons, ReasonRisk)
		return
	}
	switch ev.Decision {
	case risk.Allow:
	case risk.Block:
		s.log.InfoContext(ctx, "pay later refused by risk", "customer", q.CustomerID, "evaluation", ev.ID)
		d.Reasons = append(d.Reasons, ReasonRisk)
	default:
		d.Limit = min(d.Limit, s.cfg.LimitStart)
		d.Available = max(0, d.Limit-d.Owed)
	}
}
