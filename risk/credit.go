package risk

// The credit check of pay later (package credit, docs/pay-later.md) as
// its own kind of attempt: KindCredit. Package credit gathers what it
// knows of the payer (CreditFacts: account age, KYC level, repayment
// history, open and overdue plans, missed payments); the engine adds what
// it knows (the payer's failed attempts of the last 24 hours, the block
// list, analysts' rules that name kind == "credit", the model's score of
// the purchase) and decides with the credit rule set (CreditReasons).
// The evaluation is stored like any other, with its reasons, so an
// analyst can see why credit was refused; the payer is told only that
// pay later is not available. A credit check is not an attempt to pay:
// it is never counted in the features (State.Observe skips it), so it
// does not shift a payer's payment history.

import "fmt"

// KindCredit is a pay later credit check.
const KindCredit = "credit"

// CreditFacts is what package credit knows of a payer for one check.
type CreditFacts struct {
	AccountAgeDays    int  `json:"account_age_days"`
	KYCVerified       bool `json:"kyc_verified"`
	RepaidOnTime      int  `json:"repaid_on_time"`      // plans settled with no missed payment
	OpenPlans         int  `json:"open_plans"`          // plans still owing
	OverduePlans      int  `json:"overdue_plans"`       // overdue or in collection
	WrittenOffPlans   int  `json:"written_off_plans"`   // ever
	MissedPayments90d int  `json:"missed_payments_90d"` // failed collections due in the last 90 days
}

// Reasons of the credit rule set (codes "credit:<reason>" in an
// evaluation).
const (
	CreditKYC            = "kyc_not_verified"
	CreditOverdue        = "plan_overdue"     // an overdue plan stops new purchases
	CreditWrittenOff     = "plan_written_off" // a written-off plan stops them for good
	CreditOpenPlans      = "open_plans_max"
	CreditRecentDeclines = "recent_declines" // the payer's failed attempts in 24 hours
	CreditRiskScore      = "risk_score"      // the model's score of the purchase
	CreditListed         = "block_listed"
)

// Credit rule set limits.
const (
	CreditOpenPlansMax      = 5
	CreditRecentDeclinesMax = 3 // failed attempts in 24 hours that refuse credit
)

// CreditReasons is the credit rule set over what package credit knows:
// the reasons no purchase on credit is allowed (none: allowed).
func CreditReasons(f CreditFacts) []string {
	var rs []string
	if !f.KYCVerified {
		rs = append(rs, CreditKYC)
	}
	if f.OverduePlans > 0 {
		rs = append(rs, CreditOverdue)
	}
	if f.WrittenOffPlans > 0 {
		rs = append(rs, CreditWrittenOff)
	}
	if f.OpenPlans >= CreditOpenPlansMax {
		rs = append(rs, CreditOpenPlans)
	}
	return rs
}

// decideCredit decides a credit check: the block list, the credit rule
// set, the payer's recent failed attempts, analysts' rules naming the
// kind, then the model's score. Anything that is not a clear allow
// refuses credit or (review, challenge: nobody reviews a purchase on
// credit while the payer waits) keeps the payer at the starting limit —
// package credit reads Decision.
func (e *Engine) decideCredit(out *Evaluation, ev *Event, f CreditFacts, rs *ruleSet, ls *listSet) {
	block := func(code, msg string) {
		out.Decision = Block
		out.Reasons = append(out.Reasons, Reason{Code: "credit:" + code, Message: msg})
	}
	if typ, _, ok := ls.match(ListBlock, ev, ev.Time); ok {
		block(CreditListed, fmt.Sprintf("the %s is on the block list", typ))
	}
	for _, r := range CreditReasons(f) {
		block(r, creditMessages[r])
	}
	if n := out.Features[FCustomerFailures24h]; n >= CreditRecentDeclinesMax {
		out.Reasons = append(out.Reasons, Reason{Code: "credit:" + CreditRecentDeclines, Feature: FeatureNames[FCustomerFailures24h],
			Value: float64(n), Message: fmt.Sprintf("%.0f failed attempts of the payer in 24 hours (the limit is %d)", n, CreditRecentDeclinesMax)})
		out.Decision = Block
	}
	if out.Decision == Block {
		return
	}
	if r, ok := rs.evaluate(e, out, ev, ls); ok {
		out.Decision, out.RuleID = r.Action, r.ID
		out.Reasons = append(out.Reasons, Reason{Code: "rule:" + r.ID, Message: fmt.Sprintf("rule %q matched: %s", r.Name, r.Expression)})
		return
	}
	switch p := e.policy; {
	case out.Score >= p.BlockScore:
		block(CreditRiskScore, fmt.Sprintf("the model scored the purchase %d (block at %d)", out.Score, p.BlockScore))
	case out.Score >= p.ChallengeScore:
		out.Decision = Review
		out.Reasons = append(out.Reasons, Reason{Code: "credit:" + CreditRiskScore,
			Message: fmt.Sprintf("the model scored the purchase %d (review at %d): no growth of the limit", out.Score, p.ChallengeScore)})
	default:
		out.Decision = Allow
	}
}

var creditMessages = map[string]string{
	CreditKYC:        "the payer's identity is not verified",
	CreditOverdue:    "the payer has an overdue plan",
	CreditWrittenOff: "a plan of the payer was written off",
	CreditOpenPlans:  fmt.Sprintf("the payer has %d open plans", CreditOpenPlansMax),
}
