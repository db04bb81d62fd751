package payout

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kassa/kassa/money"

	"github.com/kassa/kassa/risk"
)

// Risk scores a payout as its own kind, risk.KindPayout: the model sees
// it as a withdrawal (money out of a payer's balance at an operator,
// whose features include what the payer deposited lately), the policy
// adds payout limits (payees per device and IP, a new device), and
// analysts' rules may name it (kind == "payout"). risk.Engine implements
// it.
type Risk interface {
	Evaluate(ctx context.Context, in risk.Input, wait bool) (risk.Evaluation, error)
}

// DestinationStats is what earlier payouts of a merchant say of a
// payout's destination (bank_account: the IBAN).
type DestinationStats struct {
	// CustomerUsed: the customer was paid to this destination before.
	CustomerUsed bool
	// CustomerOthers counts other destinations the customer was paid to.
	CustomerOthers int
	// OtherCustomers counts other customers paid to this destination.
	OtherCustomers int
}

// Check names of risk.
const (
	CheckRisk        = "risk"
	CheckDestHistory = "destination_history"
)

// SharedDestinationMax is how many other payers of a merchant may have
// been paid to one bank account before a payout to it waits for review:
// one account collecting many people's winnings is a mule's.
const SharedDestinationMax = 2

// checkDestinationHistory holds for review a payout to a changed bank
// account (the payer was paid elsewhere before, never here) and to an
// account shared by several payers.
func (s *Service) checkDestinationHistory(ctx context.Context, c *checker, p Payout) error {
	if p.Destination.Type != DestBankAccount || p.Destination.IBAN == "" {
		return nil
	}
	st, err := s.store.DestinationStats(ctx, p.MerchantID, p.Customer.ID, p.Destination.IBAN)
	if err != nil {
		return err
	}
	switch {
	case st.OtherCustomers >= SharedDestinationMax:
		c.review(CheckDestHistory, "%d other payers were paid to this bank account", st.OtherCustomers)
	case !st.CustomerUsed && st.CustomerOthers > 0:
		c.review(CheckDestHistory, "the payer was paid to another bank account before: a changed destination")
	default:
		c.pass(CheckDestHistory)
	}
	return nil
}

// checkRisk scores the payout. block refuses it; review and challenge
// (nobody is there to answer a challenge) hold it for a second person. A
// risk engine that cannot answer holds it too: money does not leave
// unscored.
func (s *Service) checkRisk(ctx context.Context, c *checker, p Payout, cl Client) {
	if err := s.checkDepositThenWithdraw(ctx, c, p); err != nil {
		s.log.Warn("payout deposits", "payout", p.ID, "err", err)
		c.review(CheckRisk, "the payer's deposits could not be read")
	}
	if s.cfg.Risk == nil {
		return
	}
	method := risk.MethodAccount
	if p.Rail == "card" {
		method = risk.MethodCard
	}
	ev, err := s.cfg.Risk.Evaluate(ctx, risk.Input{Event: risk.Event{ID: p.ID, Time: p.Created, Kind: risk.KindPayout,
		MerchantID: p.MerchantID, Amount: int64(p.Amount), Currency: string(p.Currency), Method: method,
		CustomerID: p.Customer.ID, Email: strings.ToLower(p.Customer.Email), IP: cl.IP, DeviceID: cl.DeviceID,
		UserAgent: cl.UserAgent}, Subject: p.ID}, false)
	if err != nil {
		s.log.Warn("payout risk evaluation failed", "payout", p.ID, "err", err)
		c.review(CheckRisk, "the risk engine did not answer")
		return
	}
	reasons := make([]string, 0, len(ev.Reasons))
	for _, r := range ev.Reasons {
		reasons = append(reasons, r.Code)
	}
	detail := fmt.Sprintf("score %d, decision %s (%s)", ev.Score, ev.Decision, strings.Join(reasons, ", "))
	switch ev.Decision {
	case risk.Block:
		c.fail(CheckRisk, "", "risk_blocked", "%s", detail)
	case risk.Allow:
		c.checks = append(c.checks, Check{Check: CheckRisk, Result: CheckPass, Detail: detail})
	default:
		c.review(CheckRisk, "%s", detail)
	}
}

// Deposit then withdraw: a payout of about what the payer deposited at
// the merchant (a top-up, for a withdrawal from the wallet) within
// DepositWithdrawWindow — from DepositWithdrawShareMin to
// DepositWithdrawShareMax of it: neither spent nor won, little play —
// waits for review.
const (
	DepositWithdrawWindow   = 24 * time.Hour
	DepositWithdrawShareMin = 0.8
	DepositWithdrawShareMax = 1.25
)

// CheckDepositWithdraw is the name of the check.
const CheckDepositWithdraw = "deposit_then_withdraw"

// checkDepositThenWithdraw looks at the payer's recent deposits (needs a
// DepositLister): money deposited and taken out again at once is how
// stolen cards and vouchers are cashed out.
func (s *Service) checkDepositThenWithdraw(ctx context.Context, c *checker, p Payout) error {
	l := s.lister()
	if l == nil {
		return nil
	}
	deps, err := l.PayerDeposits(ctx, p.MerchantID, p.Customer.ID, SplitDepositsMax)
	if err != nil {
		return err
	}
	var recent money.Amount
	since := p.Created.Add(-DepositWithdrawWindow)
	for _, d := range deps {
		if d.Currency == p.Currency && !d.Created.Before(since) {
			recent += d.Net
		}
	}
	if share := float64(p.Amount) / float64(max(recent, 1)); recent > 0 && share >= DepositWithdrawShareMin && share <= DepositWithdrawShareMax {
		c.review(CheckDepositWithdraw, "%d of the %d the payer deposited within %s goes out again", p.Amount, recent, DepositWithdrawWindow)
		return nil
	}
	c.pass(CheckDepositWithdraw)
	return nil
}

func (c *checker) review(name, format string, args ...any) {
	c.checks = append(c.checks, Check{Check: name, Result: CheckReview, Detail: fmt.Sprintf(format, args...)})
}
