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
				s.refreshVouchers(ctx, p.Vouchers)
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
	if p.Status == StatusFailed && p.MethodType == MethodVoucher && p.Risk.Challenge == ChallengePassed {
		// Failed after its challenge passed: before its authorization
		// (which commits with the payment's new state), because a voucher
		// it held was locked, expired or blocked meanwhile (failHeld).
		return nil
	}
	if p.MethodType == MethodCard {
		return s.checkCardPayment(ctx, p, bad)
	}
	var authorized, captured, refunded money.Amount
	for _, u := range p.Vouchers {
		authorized += u.Amount
		captured += u.Captured
		refunded += u.Refunded
		auth := fmt.Sprintf("pay:%s:auth:%d", p.ID, u.Seq)
		t, _, err := s.led.Transfer(ctx, "", auth)
		if errors.Is(err, ledger.ErrNotFound) {
			bad("ledger transfer %s missing", auth)
			continue
		} else if err != nil {
			return err
		}
		if t.Amount != u.Amount || t.DebitAccountID != voucherAccount(u.Serial) || t.Currency != p.Currency {
			bad("ledger transfer %s is %d %s from %s, the payment says %d from voucher %s",
				auth, t.Amount, t.Currency, t.DebitAccountID, u.Amount, u.Serial)
		}
		if t.Flags&ledger.FlagPending == 0 {
			continue
		}
		st, err := s.led.PendingStatus(ctx, "", auth)
		if err != nil {
			return err
		}
		switch p.Status {
		case StatusAuthorized:
			if st.State != ledger.StatePending && st.State != ledger.StateExpired {
				bad("authorization %s is %s in the ledger", auth, st.State)
			}
		case StatusCaptured:
			if (u.Captured > 0 && (st.State != ledger.StatePosted || st.AmountPosted != u.Captured)) ||
				(u.Captured == 0 && st.State == ledger.StatePosted) {
				bad("authorization %s is %s (%d posted), the payment captured %d", auth, st.State, st.AmountPosted, u.Captured)
			}
		default:
			if st.State == ledger.StatePending || st.State == ledger.StatePosted {
				bad("authorization %s is %s, the payment is %s", auth, st.State, p.Status)
			}
		}
	}
	if len(p.Vouchers) > 0 && authorized != p.Amount {
		bad("vouchers were charged %d of the %d", authorized, p.Amount)
	}
	if captured != p.AmountCaptured || refunded != p.AmountRefunded {
		bad("vouchers say %d captured and %d refunded, the payment %d and %d", captured, refunded, p.AmountCaptured, p.AmountRefunded)
	}
	refunds, err := s.store.Refunds(ctx, p.ID)
	if err != nil {
		return err
	}
	var sum money.Amount
	for _, r := range refunds {
		sum += r.Amount
		var moved money.Amount
		for _, u := range p.Vouchers {
			t, _, err := s.led.Transfer(ctx, "", fmt.Sprintf("%s:%d", r.ID, u.Seq))
			if err == nil {
				moved += t.Amount
			} else if !errors.Is(err, ledger.ErrNotFound) {
				return err
			}
		}
		if moved != r.Amount {
			bad("refund %s moved %d in the ledger, it says %d", r.ID, moved, r.Amount)
		}
	}
	if sum != p.AmountRefunded {
		bad("refunds add up to %d, the payment says %d refunded", sum, p.AmountRefunded)
	}
	return nil
}

// reverseDuplicate undoes a duplicate payment — cancels it while not
// captured, refunds it in full once captured — and emits
// payment.duplicate_reversed in the same transaction as the reversal.
func (s *Service) reverseDuplicate(ctx context.Context, p Payment, first string) error {
	var err error
	switch p.Status {
	case StatusRequiresAction, StatusAuthorized:
		if cardUnsettled(p) {
			return nil // once resolved, the next run reverses it
		}
		if p.MethodType == MethodCard && p.Status == StatusAuthorized {
			if err := s.voidCard(ctx, p); err != nil {
				return err
			}
		}
		_, err = s.end(ctx, p, StatusCanceled, EventCanceled, EventDuplicateReversed)
	case StatusCaptured:
		if p.AmountCaptured > p.AmountRefunded+p.AmountRefundPending {
			_, _, err = s.createRefund(ctx, p.MerchantID, RefundRequest{Payment: p.ID, Reason: "duplicate of " + first}, EventDuplicateReversed)
		}
	}
	return err
}

// checkCardPayment compares a card payment with its ledger transfers.
func (s *Service) checkCardPayment(ctx context.Context, p Payment, bad func(string, ...any)) error {
	auth := authTransferID(p)
	t, _, err := s.led.Transfer(ctx, "", auth)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		if p.Card.AuthorizationID != "" {
			bad("ledger transfer %s missing", auth)
		}
	case err != nil:
		return err
	case p.Card.AuthorizationID == "":
		bad("ledger transfer %s exists, the payment has no authorization", auth)
	default:
		if t.Amount != p.Amount || t.DebitAccountID != clearingAccount(p.Currency) || t.Currency != p.Currency ||
			t.CreditAccountID != merchantAccount(p.MerchantID, p.Currency) {
			bad("ledger transfer %s is %d %s from %s, the payment says %d by card", auth, t.Amount, t.Currency, t.DebitAccountID, p.Amount)
		}
		if t.Flags&ledger.FlagPending != 0 {
			st, err := s.led.PendingStatus(ctx, "", auth)
			if err != nil {
				return err
			}
			switch p.Status {
			case StatusAuthorized:
				if st.State != ledger.StatePending && st.State != ledger.StateExpired {
					bad("authorization %s is %s in the ledger", auth, st.State)
				}
			case StatusCaptured:
				if st.State != ledger.StatePosted || st.AmountPosted != p.AmountCaptured {
					bad("authorization %s is %s (%d posted), the payment captured %d", auth, st.State, st.AmountPosted, p.AmountCaptured)
				}
			default:
				if st.State == ledger.StatePending || st.State == ledger.StatePosted {
					bad("authorization %s is %s, the payment is %s", auth, st.State, p.Status)
				}
			}
		} else if p.Status != StatusCaptured || p.AmountCaptured != p.Amount {
			bad("authorization %s is posted, the payment is %s with %d captured", auth, p.Status, p.AmountCaptured)
		}
	}
	refunds, err := s.store.Refunds(ctx, p.ID)
	if err != nil {
		return err
	}
	var sum, pending money.Amount
	for _, r := range refunds {
		if err := s.checkCardRefund(ctx, p, r, bad); err != nil {
			return err
		}
		switch r.Status {
		case RefundSucceeded:
			sum += r.Amount
		case RefundPending:
			pending += r.Amount
		}
	}
	if sum != p.AmountRefunded || pending != p.AmountRefundPending {
		bad("refunds add up to %d succeeded and %d pending, the payment says %d and %d", sum, pending, p.AmountRefunded, p.AmountRefundPending)
	}
	return nil
}

// checkCardRefund compares a card refund with its ledger transfer re_X:0:
// posted for a refund that succeeded, pending while it is pending, voided
// for one that failed. (Refunds made before refunds were reserved have
// re_X:0 posted at once.)
func (s *Service) checkCardRefund(ctx context.Context, p Payment, r Refund, bad func(string, ...any)) error {
	t, _, err := s.led.Transfer(ctx, "", r.ID+":0")
	if errors.Is(err, ledger.ErrNotFound) {
		bad("refund %s missing in the ledger", r.ID)
		return nil
	} else if err != nil {
		return err
	}
	if t.Amount != r.Amount || t.CreditAccountID != clearingAccount(p.Currency) {
		bad("refund %s moved %d to %s in the ledger, it says %d", r.ID, t.Amount, t.CreditAccountID, r.Amount)
	}
	if t.Flags&ledger.FlagPending == 0 {
		if r.Status != RefundSucceeded {
			bad("refund %s is posted in the ledger, it is %s", r.ID, r.Status)
		}
		return nil
	}
	st, err := s.led.PendingStatus(ctx, "", r.ID+":0")
	if err != nil {
		return err
	}
	want := map[string]ledger.PendingState{RefundPending: ledger.StatePending, RefundSucceeded: ledger.StatePosted,
		RefundFailed: ledger.StateVoided}[r.Status]
	if st.State != want || (want == ledger.StatePosted && st.AmountPosted != r.Amount) {
		bad("refund %s is %s, its ledger reservation is %s (%d posted)", r.ID, r.Status, st.State, st.AmountPosted)
	}
	return nil
}
