package payment

import (
	"context"
	"errors"
	"fmt"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// Mismatch is one disagreement reconciliation found.
type Mismatch struct {
	PaymentID string `json:"payment,omitempty"`
	Account   string `json:"account,omitempty"`
	Problem   string `json:"problem"`
	Fixed     bool   `json:"fixed"`
}

// Report is what Reconcile found.
type Report struct {
	Payments   int        `json:"payments"`
	Mismatches []Mismatch `json:"mismatches"`
}

// Unfixed counts the mismatches left.
func (r Report) Unfixed() int {
	n := 0
	for _, m := range r.Mismatches {
		if !m.Fixed {
			n++
		}
	}
	return n
}

// Movement is what another module (payouts) books on a merchant account:
// its net effect on the account's posted and pending balances (credits
// less debits).
type Movement struct {
	Posted, Pending money.Amount
}

// Movements reports, per merchant ledger account, what modules other than
// payments booked on it, so that reconciliation can prove the account
// holds exactly what payments and those modules say.
type Movements func(ctx context.Context) (map[string]Movement, error)

// reconcilePage is how many payments one store call returns.
const reconcilePage = 500

// totals accumulate what the payments say each merchant account holds.
type totals struct {
	posted, pending money.Amount
}

// Reconcile proves that payments, refunds and the ledger agree: every
// payment's ledger transfers are there with its amounts and states, and
// every merchant account holds exactly what its payments say. With fix,
// it repairs what it safely can: a second live payment with the same
// merchant reference (possible only without the database's unique index,
// e.g. after a bad restore) is reversed — canceled or fully refunded —
// with the event payment.duplicate_reversed; vouchers' statuses are
// brought in line with their balances.
func (s *Service) Reconcile(ctx context.Context, fix bool) (Report, error) {
	var rep Report
	sums := map[string]*totals{}
	live := map[string]string{} // merchant + reference → first live payment
	after := ""
	for {
		ps, err := s.store.AllPayments(ctx, after, reconcilePage)
		if err != nil {
			return rep, err
		}
		for _, p := range ps {
			rep.Payments++
			if err := s.checkPayment(ctx, p, &rep); err != nil {
				return rep, err
			}
			reversed := p.Status == StatusCaptured && p.AmountRefunded+p.AmountRefundPending == p.AmountCaptured
			if p.MerchantReference != "" && p.Status.Live() && !reversed {
				k := p.MerchantID + "\x00" + p.MerchantReference
				if first, dup := live[k]; dup {
					m := Mismatch{PaymentID: p.ID, Problem: "duplicate of live payment " + first + " (same merchant_reference)"}
					if fix {
						if err := s.reverseDuplicate(ctx, p, first); err != nil {
							return rep, fmt.Errorf("reverse duplicate %s: %w", p.ID, err)
						}
						if p, err = s.store.Payment(ctx, "", p.ID); err != nil {
							return rep, err
						}
						m.Fixed = true
					}
					rep.Mismatches = append(rep.Mismatches, m)
				} else {
					live[k] = p.ID
				}
			}
			if fix {
				s.moved(ctx, p)
			}
			if IsTopUp(p) {
				// Its wallet moves with payouts and wallet payments too:
				// Method.Check proves each of its transfers instead.
				continue
			}
			acct := merchantAccount(p.MerchantID, p.Currency)
			t := sums[acct]
			if t == nil {
				t = &totals{}
				sums[acct] = t
			}
			t.posted += p.AmountCaptured - p.AmountRefunded
			t.pending += p.AmountCapturable - p.AmountRefundPending
		}
		if len(ps) < reconcilePage {
			break
		}
		after = ps[len(ps)-1].ID
	}
	if s.cfg.Movements != nil {
		mv, err := s.cfg.Movements(ctx)
		if err != nil {
			return rep, err
		}
		for acct, m := range mv {
			t := sums[acct]
			if t == nil {
				t = &totals{}
				sums[acct] = t
			}
			t.posted += m.Posted
			t.pending += m.Pending
		}
	}
	for acct, t := range sums {
		a, err := s.led.Account(ctx, "", acct)
		if errors.Is(err, ledger.ErrNotFound) {
			if t.posted != 0 || t.pending != 0 {
				rep.Mismatches = append(rep.Mismatches, Mismatch{Account: acct, Problem: "ledger account missing"})
			}
			continue
		} else if err != nil {
			return rep, err
		}
		if got := a.CreditsPosted - a.DebitsPosted; got != t.posted {
			rep.Mismatches = append(rep.Mismatches, Mismatch{Account: acct,
				Problem: fmt.Sprintf("ledger holds %d posted, payments say %d", got, t.posted)})
		}
		if got := a.CreditsPending - a.DebitsPending; got != t.pending {
			rep.Mismatches = append(rep.Mismatches, Mismatch{Account: acct,
				Problem: fmt.Sprintf("ledger holds %d pending, payments say %d", got, t.pending)})
		}
	}
	return rep, nil
}

// checkPayment compares one payment with its ledger transfers.
func (s *Service) checkPayment(ctx context.Context, p Payment, rep *Report) error {
	bad := func(format string, args ...any) {
		rep.Mismatches = append(rep.Mismatches, Mismatch{PaymentID: p.ID, Problem: fmt.Sprintf(format, args...)})
	}
	if p.Risk.Challenge != "" && p.Risk.Challenge != ChallengePassed {
		// Held for a challenge that was never passed: nothing was
		// authorized, whatever the payment resolved.
		return nil
	}
	if p.Status == StatusFailed && p.Risk.Challenge == ChallengePassed && p.AmountCaptured == 0 && p.AmountRefunded == 0 {
		// Failed after its challenge passed: before its authorization
		// (which commits with the payment's new state), because what it
		// held was locked, expired or blocked meanwhile (failHeld).
		return nil
	}
	if p.MethodType == "" {
		return nil // never confirmed: nothing booked
	}
	return methodOf(p).Check(ctx, s, p, bad)
}

// reverseDuplicate undoes a duplicate payment — cancels it while not
// captured, refunds it in full once captured — and emits
// payment.duplicate_reversed in the same transaction as the reversal.
func (s *Service) reverseDuplicate(ctx context.Context, p Payment, first string) error {
	var err error
	switch p.Status {
	case StatusRequiresAction, StatusAuthorized:
		if unsettled(p) {
			return nil // once resolved, the next run reverses it
		}
		_, err = s.end(ctx, p, StatusCanceled, EventCanceled, EventDuplicateReversed)
	case StatusCaptured:
		if p.AmountCaptured > p.AmountRefunded+p.AmountRefundPending {
			_, _, err = s.createRefund(ctx, p.MerchantID, RefundRequest{Payment: p.ID, Reason: "duplicate of " + first}, EventDuplicateReversed)
		}
	}
	return err
}
