// Package credit is pay later: "pay in 30 days" and "pay in 3" for Kassa
// account holders (docs/pay-later.md).
//
// A payer who pays with the method pay_later (package payment) gets a
// plan: the merchant is paid in full at capture from the platform's
// credit funding account, and the payer owes a receivable account of
// their own, which instalments collected from their wallet reduce. Plans
// and their instalments are rows in the database; the collection job
// (Service.Collect, a leased job) walks the due ones on the injected
// clock, exactly once per instalment attempt across any number of nodes:
// each collection is a ledger transfer with an id derived from the
// instalment and its attempt, committed with the plan's new version.
//
// # Ledger
//
// Every account is in the platform's namespace (owner ""):
//
//   - credit_funding:<CUR>: the platform's credit funding account;
//   - credit:<cus>:<CUR>: what the payer owes (its debits less credits);
//   - credit_loss:<CUR>: what was written off.
//
// Capture: receivable → funding and funding → merchant, the amount
// captured (linked); pay_in_3 adds wallet → receivable, the first third.
// Instalment: wallet → receivable. Refund: merchant → receivable up to
// what is owed, the rest merchant → wallet. Write-off: loss → receivable.
//
// # States
//
//	plan:       active → overdue → in_collection → settled | written_off
//	            active | overdue → settled; active → canceled (refunded in
//	            full before the first due date)
//	instalment: scheduled → paid; scheduled → failed → (paid | overdue);
//	            overdue → paid; any unpaid → canceled (a refund took it)
package credit

import (
	"fmt"
	"time"

	"github.com/kassa/kassa/money"
)

// Plan names: the payment_method.plan of a pay_later payment.
const (
	PlanPayIn30 = "pay_in_30"
	PlanPayIn3  = "pay_in_3"
)

// ValidPlan reports whether name is a plan Kassa offers.
func ValidPlan(name string) bool { return name == PlanPayIn30 || name == PlanPayIn3 }

// Status of a plan.
type Status string

const (
	StatusActive       Status = "active"
	StatusOverdue      Status = "overdue"       // an instalment failed; retries run
	StatusInCollection Status = "in_collection" // the retries failed too
	StatusSettled      Status = "settled"
	StatusWrittenOff   Status = "written_off"
	StatusCanceled     Status = "canceled"
)

// Open reports whether the plan still expects money from the payer.
func (s Status) Open() bool {
	return s == StatusActive || s == StatusOverdue || s == StatusInCollection
}

// InstalmentStatus is the status of one instalment.
type InstalmentStatus string

const (
	InstalmentScheduled InstalmentStatus = "scheduled"
	InstalmentPaid      InstalmentStatus = "paid"
	InstalmentFailed    InstalmentStatus = "failed"  // a collection failed; a retry is scheduled
	InstalmentOverdue   InstalmentStatus = "overdue" // the retries failed
	InstalmentCanceled  InstalmentStatus = "canceled"
)

func (s InstalmentStatus) unpaid() bool {
	return s == InstalmentScheduled || s == InstalmentFailed || s == InstalmentOverdue
}

// Schedule rules. The retry offsets, the reminder lead and the push-back
// are the contract; the write-off comes after the last retry.
const (
	PayIn30Days      = 30
	ReminderLead     = 2 * 24 * time.Hour
	PushBack         = 14 * 24 * time.Hour
	day              = 24 * time.Hour
	retryFirst       = 7 * day
	retrySecond      = 14 * day
	collectionRetry  = 7 * day  // in collection: one more try a week
	writeOffAfter    = 60 * day // past the original due date
	instalmentsMax   = 3
	AttemptsMax      = 12 // per instalment: bounds the loop of a plan that never pays
	TermsVersion     = "2026-12"
	LateFeeMaxCap    = money.Amount(1500) // Config.LateFee may not exceed this (minor units)
	limitStepDefault = money.Amount(5000)
)

// Instalment is one part of a plan.
type Instalment struct {
	Seq    int              `json:"seq"` // 1, 2, 3
	Amount money.Amount     `json:"amount"`
	Due    time.Time        `json:"due"`
	Status InstalmentStatus `json:"status"`
	// Attempts counts collections tried (the one at purchase included).
	Attempts int `json:"attempts"`
	// NextAttempt is when the job next collects it (Due, then the
	// retries); zero when paid or canceled.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Reminded: the reminder before Due went out.
	Reminded   bool      `json:"reminded,omitempty"`
	PushedBack bool      `json:"pushed_back,omitempty"`
	PaidAt     time.Time `json:"paid_at,omitzero"`
	// LateFee is added to Amount when it went overdue (Config.LateFee).
	LateFee money.Amount `json:"late_fee,omitempty"`
	// Charging is the key of a card attempt claimed and not yet
	// recorded (card.go), ChargeAmount what it charges; a refund leaves
	// such an instalment alone until its outcome is known.
	Charging     string       `json:"charging,omitempty"`
	ChargeAmount money.Amount `json:"charge_amount,omitempty"`
}

// Terms are what the payer accepted: the schedule shown, no interest, the
// late fee, when and which version.
type Terms struct {
	Version    string         `json:"version"`
	Plan       string         `json:"plan"`
	Amount     money.Amount   `json:"amount"`
	Currency   money.Currency `json:"currency"`
	Schedule   []TermsPart    `json:"schedule"`
	Interest   money.Amount   `json:"interest"` // always 0
	LateFee    money.Amount   `json:"late_fee"` // per overdue instalment, 0 when off
	AcceptedAt time.Time      `json:"accepted_at,omitzero"`
	// Funding is where the instalments are collected from: chosen at
	// checkout, changeable by the payer (SetFunding); nil: the wallet.
	Funding *Funding `json:"funding,omitempty"`
}

// TermsPart is one instalment as the terms show it.
type TermsPart struct {
	Seq    int          `json:"seq"`
	Amount money.Amount `json:"amount"`
	Due    time.Time    `json:"due"`
	// AtPurchase: paid with the purchase (pay_in_3's first third).
	AtPurchase bool `json:"at_purchase,omitempty"`
}

// Plan is one purchase paid later.
type Plan struct {
	ID         string // cpl_...
	PaymentID  string
	MerchantID string
	CustomerID string
	Plan       string
	Amount     money.Amount // what the merchant was paid
	Currency   money.Currency
	Status     Status
	Terms      Terms
	// Instalments in Seq order.
	Instalments []Instalment
	// Refunded is what refunds took off what was owed.
	Refunded money.Amount
	// WrittenOff is what the write-off booked as a loss.
	WrittenOff money.Amount
	Created    time.Time
	Updated    time.Time
	Version    int64
}

// Owed is what the payer still owes on the plan.
func (p Plan) Owed() money.Amount {
	if p.Status == StatusWrittenOff {
		return 0
	}
	var sum money.Amount
	for _, in := range p.Instalments {
		if in.Status.unpaid() {
			sum += in.Amount
		}
	}
	return sum
}

// unpaid is what the plan's unpaid instalments add up to: what is owed,
// or of a written-off plan what the write-off still loses (refunds take
// it down).
func (p Plan) unpaid() money.Amount {
	var sum money.Amount
	for _, in := range p.Instalments {
		if in.Status.unpaid() {
			sum += in.Amount
		}
	}
	return sum
}

// Paid is what the payer paid on the plan.
func (p Plan) Paid() money.Amount {
	var sum money.Amount
	for _, in := range p.Instalments {
		if in.Status == InstalmentPaid {
			sum += in.Amount
		}
	}
	return sum
}

// Fees is what late fees added to the plan.
func (p Plan) Fees() money.Amount {
	var sum money.Amount
	for _, in := range p.Instalments {
		sum += in.LateFee
	}
	return sum
}

// NextWork is when the collection job has something to do on the plan:
// the earliest of its unpaid instalments' next attempt, reminder and (in
// collection) write-off; zero when nothing is left.
func (p Plan) NextWork() time.Time {
	if !p.Status.Open() {
		return time.Time{}
	}
	var next time.Time
	take := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, in := range p.Instalments {
		if !in.Status.unpaid() {
			continue
		}
		take(in.NextAttempt)
		if !in.Reminded && in.Status == InstalmentScheduled {
			take(in.Due.Add(-ReminderLead))
		}
		if p.Status == StatusInCollection {
			take(in.Due.Add(writeOffAfter))
		}
	}
	return next
}

// Split divides amount into the plan's instalments: pay_in_30 one,
// pay_in_3 three equal parts with the remainder on the first, so the
// payer never pays more later than at purchase.
func Split(plan string, amount money.Amount) []money.Amount {
	if plan != PlanPayIn3 {
		return []money.Amount{amount}
	}
	third := amount / 3
	return []money.Amount{amount - 2*third, third, third}
}

// FirstAtPurchase is what pay_in_3 takes at purchase (0 for pay_in_30).
func FirstAtPurchase(plan string, amount money.Amount) money.Amount {
	if plan != PlanPayIn3 {
		return 0
	}
	return Split(plan, amount)[0]
}

// Schedule is the plan's terms for amount bought at t.
func Schedule(plan string, amount money.Amount, cur money.Currency, t time.Time, lateFee money.Amount) Terms {
	t = t.UTC()
	terms := Terms{Version: TermsVersion, Plan: plan, Amount: amount, Currency: cur, LateFee: lateFee}
	parts := Split(plan, amount)
	for i, a := range parts {
		tp := TermsPart{Seq: i + 1, Amount: a}
		switch {
		case plan == PlanPayIn30:
			tp.Due = t.Add(PayIn30Days * day)
		case i == 0:
			tp.Due, tp.AtPurchase = t, true
		default:
			tp.Due = t.Add(time.Duration(30*i) * day)
		}
		terms.Schedule = append(terms.Schedule, tp)
	}
	return terms
}

// newPlan builds the plan of a capture at t from its terms: pay_in_3's
// first instalment is paid already (with the purchase).
func newPlan(id string, o OpenRequest, terms Terms, t time.Time) Plan {
	p := Plan{ID: id, PaymentID: o.PaymentID, MerchantID: o.MerchantID, CustomerID: o.CustomerID, Plan: o.Plan,
		Amount: o.Amount, Currency: o.Currency, Status: StatusActive, Terms: terms, Created: t, Updated: t, Version: 1}
	for _, tp := range terms.Schedule {
		in := Instalment{Seq: tp.Seq, Amount: tp.Amount, Due: tp.Due, Status: InstalmentScheduled, NextAttempt: tp.Due}
		switch {
		case tp.AtPurchase:
			in.Status, in.NextAttempt, in.PaidAt, in.Attempts, in.Reminded = InstalmentPaid, time.Time{}, t, 1, true
		case tp.Amount == 0:
			// A part of nothing (pay_in_3 of less than three minor
			// units) is paid as it is made: there is nothing to collect.
			in.Status, in.NextAttempt, in.PaidAt, in.Reminded = InstalmentPaid, time.Time{}, t, true
		}
		p.Instalments = append(p.Instalments, in)
	}
	if p.Owed() == 0 {
		p.Status = StatusSettled
	}
	return p
}

// paid records a collection of instalment seq at t.
func (p *Plan) paid(seq int, t time.Time) {
	in := &p.Instalments[seq-1]
	in.Status, in.PaidAt, in.NextAttempt = InstalmentPaid, t, time.Time{}
	in.Charging, in.ChargeAmount = "", 0
	in.Attempts++
	p.settle(t)
}

// settle moves the plan to its state after money came in: settled when
// nothing is owed, back to active when no instalment is behind.
func (p *Plan) settle(t time.Time) {
	p.Updated = t
	if p.Owed() == 0 {
		if p.Status.Open() {
			p.Status = StatusSettled
		}
		return
	}
	behind := false
	for _, in := range p.Instalments {
		behind = behind || in.Status == InstalmentFailed || in.Status == InstalmentOverdue
	}
	if !behind {
		p.Status = StatusActive
	}
}

// failed records a failed collection of instalment seq at t and returns
// whether the plan changed status. The retries come at Due+7 and Due+14
// days; after them the instalment is overdue and the plan in collection,
// tried once a week until the write-off.
func (p *Plan) failed(seq int, t time.Time, lateFee money.Amount) (statusChanged bool) {
	in := &p.Instalments[seq-1]
	in.Attempts++
	in.Charging, in.ChargeAmount = "", 0
	before := p.Status
	due := in.Due
	switch {
	case in.Status == InstalmentScheduled:
		in.Status, in.NextAttempt = InstalmentFailed, later(due.Add(retryFirst), t)
		if p.Status == StatusActive {
			p.Status = StatusOverdue
		}
	case in.Status == InstalmentFailed && t.Before(due.Add(retrySecond)):
		in.NextAttempt = later(due.Add(retrySecond), t)
	case in.Status == InstalmentFailed:
		in.Status, in.NextAttempt = InstalmentOverdue, t.Add(collectionRetry)
		in.LateFee = lateFee
		in.Amount += lateFee
		p.Status = StatusInCollection
	default:
		in.NextAttempt = t.Add(collectionRetry)
		p.Status = StatusInCollection
	}
	if in.Attempts >= AttemptsMax {
		in.NextAttempt = time.Time{}
	}
	p.Updated = t
	return p.Status != before
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b.Add(time.Second)
}

// writeOffDue reports whether the plan, in collection, has an instalment
// whose write-off date passed at t.
func (p Plan) writeOffDue(t time.Time) bool {
	if p.Status != StatusInCollection {
		return false
	}
	for _, in := range p.Instalments {
		if in.Charging != "" {
			return false // its outcome first
		}
	}
	for _, in := range p.Instalments {
		if in.Status.unpaid() && !t.Before(in.Due.Add(writeOffAfter)) {
			return true
		}
	}
	return false
}

// writeOff ends the plan: what is owed is a loss.
func (p *Plan) writeOff(t time.Time) money.Amount {
	owed := p.Owed()
	p.WrittenOff = owed
	for i := range p.Instalments {
		p.Instalments[i].NextAttempt = time.Time{}
	}
	p.Status, p.Updated = StatusWrittenOff, t
	return owed
}

// refund takes amount off what the plan owes, from the last instalment
// back (the payer's next payments stay as small as the refund allows),
// and returns what it took; the rest of a refund goes back to the
// payer's wallet. Owed refunded in full before the first due date after
// the purchase cancels the plan.
func (p *Plan) refund(amount money.Amount, t time.Time) money.Amount {
	var took money.Amount
	for i := len(p.Instalments) - 1; i >= 0 && took < amount; i-- {
		in := &p.Instalments[i]
		if !in.Status.unpaid() || in.Charging != "" {
			continue
		}
		part := min(in.Amount, amount-took)
		in.Amount -= part
		took += part
		if in.Amount == 0 {
			in.Status, in.NextAttempt = InstalmentCanceled, time.Time{}
		}
	}
	p.Refunded += took
	p.Updated = t
	if p.Owed() == 0 && p.Status.Open() {
		p.Status = StatusSettled
		if t.Before(p.firstLaterDue()) {
			p.Status = StatusCanceled
		}
	}
	return took
}

// firstLaterDue is the first due date after the purchase.
func (p Plan) firstLaterDue() time.Time {
	for _, tp := range p.Terms.Schedule {
		if !tp.AtPurchase {
			return tp.Due
		}
	}
	return time.Time{}
}

// pushBack moves instalment seq's due date back by PushBack, once per
// plan.
func (p *Plan) pushBack(seq int, t time.Time) error {
	for _, in := range p.Instalments {
		if in.PushedBack {
			return errPushedBack
		}
	}
	if seq < 1 || seq > len(p.Instalments) {
		return errNoInstalment
	}
	in := &p.Instalments[seq-1]
	if in.Status != InstalmentScheduled || !t.Before(in.Due) {
		return errNotPushable
	}
	in.Due = in.Due.Add(PushBack)
	in.NextAttempt, in.PushedBack, in.Reminded = in.Due, true, false
	p.Updated = t
	return nil
}

// check asserts the plan's invariants (a programmer error if broken).
func (p Plan) check() {
	var sum money.Amount
	for _, in := range p.Instalments {
		sum += in.Amount
	}
	if sum+p.Refunded != p.Amount+p.Fees() {
		panic(fmt.Sprintf("credit: plan %s instalments %d + refunded %d != amount %d + fees %d",
			p.ID, sum, p.Refunded, p.Amount, p.Fees()))
	}
}
