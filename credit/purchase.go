package credit

import (
	"context"
	"time"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// OfferRequest asks whether a payer may buy with a plan.
type OfferRequest struct {
	PaymentID  string
	MerchantID string
	CustomerID string
	Currency   money.Currency
	Amount     money.Amount
	Plan       string
	// Where the payer buys from (for the risk engine).
	IP, DeviceID, UserAgent string
}

// Offer is a plan a payer may take: its terms (dates from now) and the
// limit the purchase must stay within when it is booked.
type Offer struct {
	Terms Terms
	Limit money.Amount
}

// Offer checks a purchase with pay later: the merchant offers it (never
// gambling), the payer passes the credit check and the amount fits their
// limit. Refusals name no reason to the payer (errUnavailable); the
// reasons go to the log.
func (s *Service) Offer(ctx context.Context, q OfferRequest) (Offer, error) {
	if !ValidPlan(q.Plan) {
		return Offer{}, errPlanUnknown
	}
	on, err := s.Offered(ctx, q.MerchantID)
	if err != nil {
		return Offer{}, err
	}
	if !on {
		return Offer{}, errNotEnabled
	}
	d, err := s.Assess(ctx, q.CustomerID, q.Currency)
	if err != nil {
		return Offer{}, err
	}
	if len(d.Reasons) == 0 {
		s.checkRisk(ctx, CheckRequest{PaymentID: q.PaymentID, MerchantID: q.MerchantID, CustomerID: q.CustomerID,
			Amount: q.Amount, Currency: q.Currency, IP: q.IP, DeviceID: q.DeviceID, UserAgent: q.UserAgent}, &d)
	}
	if !d.Allowed(q.Amount) {
		s.log.InfoContext(ctx, "pay later refused", "customer", q.CustomerID, "merchant", q.MerchantID,
			"reasons", d.Reasons, "over_limit", q.Amount > d.Available)
		return Offer{}, errUnavailable
	}
	return Offer{Terms: Schedule(q.Plan, q.Amount, q.Currency, s.now(), s.cfg.LateFee), Limit: d.Limit}, nil
}

// Terms are the terms of plan for amount bought now, for the page that
// asks the payer to accept them.
func (s *Service) Terms(plan string, amount money.Amount, cur money.Currency) Terms {
	return Schedule(plan, amount, cur, s.now(), s.cfg.LateFee)
}

// OpenRequest opens the plan of a captured pay_later payment.
type OpenRequest struct {
	PaymentID  string
	MerchantID string
	CustomerID string
	Plan       string
	Amount     money.Amount // captured
	Currency   money.Currency
	// AcceptedAt is when the payer accepted the terms.
	AcceptedAt time.Time
	// Card is the payer's card that funds the plan (PayerCard); nil:
	// the wallet.
	Card *Card
}

// PlanID is the id of the plan of payment paymentID.
func PlanID(paymentID string) string { return id.Derived("cpl", paymentID) }

// OpenTx writes the plan of a capture at t in the ledger transaction
// that books it (a ledger.Effect), with credit.plan_created (and
// credit.instalment_paid for pay_in_3's first third).
func (s *Service) OpenTx(ctx context.Context, tx ledger.Tx, o OpenRequest, t time.Time) error {
	terms := Schedule(o.Plan, o.Amount, o.Currency, t, s.cfg.LateFee)
	terms.AcceptedAt = o.AcceptedAt.UTC()
	if o.Card != nil {
		terms.Funding = &Funding{Source: FundingCard, Card: o.Card}
	}
	p := newPlan(PlanID(o.PaymentID), o, terms, t.UTC())
	p.check()
	types := []string{EventPlanCreated}
	if o.Plan == PlanPayIn3 {
		types = append(types, EventInstalmentPaid)
	}
	if p.Status == StatusSettled {
		types = append(types, EventPlanSettled)
	}
	evs, err := s.events(p, t, types...)
	if err != nil {
		return err
	}
	return s.cfg.Store.CreatePlanTx(ctx, tx, p, evs)
}

// PlanByPayment returns the plan of a payment.
func (s *Service) PlanByPayment(ctx context.Context, paymentID string) (Plan, error) {
	return s.cfg.Store.PlanByPayment(ctx, paymentID)
}

// Refund is a refund applied to a plan: Applied reduces what is owed, the
// Excess goes back to the payer's wallet. Of a written-off plan, Applied
// is what the write-off lost, and goes back to the loss account
// (ToLoss): the payer never paid it.
type Refund struct {
	Next    Plan
	Applied money.Amount
	Excess  money.Amount
	ToLoss  bool
	events  []string
}

// PrepareRefund applies amount refunded of paymentID to its plan as read
// now; CommitRefundTx writes it in the refund's ledger transaction, which
// fails with ErrConflict if the plan changed meanwhile (a collection).
func (s *Service) PrepareRefund(ctx context.Context, paymentID string, amount money.Amount) (Refund, error) {
	p, err := s.cfg.Store.PlanByPayment(ctx, paymentID)
	if err != nil {
		return Refund{}, err
	}
	// A written-off plan: what the payer never paid was booked as the
	// platform's loss, so the refund repays the loss first (the parts
	// written off, from the last back, as for an open plan); only what
	// the payer did pay beyond it goes back to them.
	next := p
	next.Instalments = append([]Instalment(nil), p.Instalments...)
	before := next.Status
	applied := next.refund(amount, s.now().UTC())
	next.Version++
	next.check()
	r := Refund{Next: next, Applied: applied, Excess: amount - applied, ToLoss: p.Status == StatusWrittenOff}
	if next.Status == StatusSettled && before != StatusSettled {
		r.events = append(r.events, EventPlanSettled)
	}
	return r, nil
}

// CommitRefundTx writes a prepared refund (see PrepareRefund).
func (s *Service) CommitRefundTx(ctx context.Context, tx ledger.Tx, r Refund) error {
	evs, err := s.events(r.Next, r.Next.Updated, r.events...)
	if err != nil {
		return err
	}
	return s.cfg.Store.UpdatePlanTx(ctx, tx, r.Next, evs)
}

// CustomerPlans returns a payer's plans, newest first (the account page).
func (s *Service) CustomerPlans(ctx context.Context, customerID string) ([]Plan, error) {
	return s.cfg.Store.CustomerPlans(ctx, customerID, plansPerPayerMax)
}

// customerPlan returns customerID's plan id; another payer's is not found.
func (s *Service) customerPlan(ctx context.Context, customerID, planID string) (Plan, error) {
	p, err := s.cfg.Store.Plan(ctx, planID)
	if err != nil {
		return Plan{}, err
	}
	if p.CustomerID != customerID {
		return Plan{}, errPlanNotFound
	}
	return p, nil
}
