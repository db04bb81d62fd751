package credit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
)

// CollectReport is what one round of the collection job did.
type CollectReport struct {
	Paid, Failed, Reminded, WrittenOff, Conflicts int
	// Unknown counts card attempts whose answer did not come; they are
	// asked again later.
	Unknown int
}

// Collect is one round of the collection job (kassa serve runs it as the
// leased job "credit", on the worker role): for up to collectBatchMax
// plans with work due at the clock's now, it sends reminders, collects
// due instalments from the payer's wallet, records failures with their
// retries, and writes off plans past their last date. Running it on two
// nodes at once collects each instalment attempt once: the collection is
// a ledger transfer whose id names the plan, the instalment and the
// attempt, committed only with the plan's next version.
func (s *Service) Collect(ctx context.Context) (CollectReport, error) {
	var rep CollectReport
	now := s.now().UTC()
	plans, err := s.cfg.Store.DuePlans(ctx, now, collectBatchMax)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, p := range plans {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if err := s.work(ctx, p, now, &rep); errors.Is(err, ErrConflict) {
			rep.Conflicts++
		} else if err != nil {
			// One plan's failure does not hold up the others; it is
			// tried again next round.
			errs = append(errs, fmt.Errorf("plan %s: %w", p.ID, err))
		}
	}
	return rep, errors.Join(errs...)
}

// work does what is due on p at now, one step at a time, each on the plan
// as the last step left it. The steps per plan are bounded: at most one
// write-off, one reminder and one collection per instalment.
func (s *Service) work(ctx context.Context, p Plan, now time.Time, rep *CollectReport) error {
	if p.writeOffDue(now) {
		if err := s.writeOff(ctx, p, now); err != nil {
			return err
		}
		rep.WrittenOff++
		return nil
	}
	for i := range len(p.Instalments) {
		in := p.Instalments[i]
		if !in.Status.unpaid() {
			continue
		}
		if !in.NextAttempt.IsZero() && !now.Before(in.NextAttempt) {
			o, next, err := s.collectDue(ctx, p, in.Seq, now)
			if err != nil {
				return err
			}
			switch o {
			case outcomePaid:
				rep.Paid++
			case outcomeFailed:
				rep.Failed++
			case outcomeUnknown:
				rep.Unknown++
			}
			p = next
			continue
		}
		if in.Status == InstalmentScheduled && !in.Reminded && !now.Before(in.Due.Add(-ReminderLead)) {
			next := clonePlan(p)
			next.Instalments[i].Reminded = true
			next.Version++
			next.Updated = now
			if err := s.cfg.Store.UpdatePlan(ctx, next, nil); err != nil {
				return err
			}
			s.remind(ctx, next, in, false)
			rep.Reminded++
			p = next
		}
	}
	return nil
}

func clonePlan(p Plan) Plan {
	p.Instalments = append([]Instalment(nil), p.Instalments...)
	return p
}

// collectID is the ledger transfer of attempt n of instalment seq.
func collectID(planID string, seq, attempt int) string {
	return fmt.Sprintf("%s:i%d:a%d", planID, seq, attempt)
}

// collectDue collects instalment seq of p from the plan's funding: the
// payer's card (card.go), or the wallet. An attempt claimed on a card
// stays on that card until its outcome is known.
func (s *Service) collectDue(ctx context.Context, p Plan, seq int, now time.Time) (outcome, Plan, error) {
	if FundingOf(p).Source == FundingCard || p.Instalments[seq-1].Charging != "" {
		return s.collectCard(ctx, p, seq, now)
	}
	paid, next, err := s.collect(ctx, p, seq, now)
	if err != nil {
		return 0, next, err
	}
	if paid {
		return outcomePaid, next, nil
	}
	return outcomeFailed, next, nil
}

// collect tries instalment seq of p from the payer's wallet at now and
// returns whether it was paid and the plan as it then stands. A wallet
// that does not cover it is a failed attempt (recorded with its retry);
// ErrConflict when another node got there first.
func (s *Service) collect(ctx context.Context, p Plan, seq int, now time.Time) (bool, Plan, error) {
	in := p.Instalments[seq-1]
	wallet := payout.WalletAccount(p.CustomerID, p.Currency)
	t := ledger.Transfer{ID: collectID(p.ID, seq, in.Attempts+1), DebitAccountID: wallet,
		CreditAccountID: ReceivableAccount(p.CustomerID, p.Currency), Amount: in.Amount, Currency: p.Currency,
		Code: CodeTransferCollect}
	next := clonePlan(p)
	before := next.Status
	next.paid(seq, now)
	next.Version++
	types := []string{EventInstalmentPaid}
	if next.Status == StatusSettled && before != StatusSettled {
		types = append(types, EventPlanSettled)
	}
	evs, err := s.events(next, now, types...)
	if err != nil {
		return false, p, err
	}
	var short bool
	_, err = s.cfg.Ledger.CreateTransfersWith(ctx, "", []ledger.Transfer{t}, func(ctx context.Context, tx ledger.Tx, res []ledger.Result) error {
		switch res[0].Code {
		case ledger.OK:
		case ledger.ExceedsCredits, ledger.DebitAccountNotFound:
			short = true
			return errWalletShortPN
		case ledger.Exists:
			return ErrConflict
		default:
			return fmt.Errorf("credit: ledger refused %s: %s", t.ID, res[0].Code)
		}
		return s.cfg.Store.UpdatePlanTx(ctx, tx, next, evs)
	})
	switch {
	case err == nil:
		return true, next, nil
	case !short:
		return false, p, err
	}
	failed, err := s.fail(ctx, p, seq, now)
	return false, failed, err
}

// fail records a failed collection of instalment seq: the retry, the
// plan's new state and its events, the late fee when it goes overdue, and
// a reminder to the payer.
func (s *Service) fail(ctx context.Context, p Plan, seq int, now time.Time) (Plan, error) {
	next := clonePlan(p)
	changed := next.failed(seq, now, s.cfg.LateFee)
	next.Version++
	types := []string{EventInstalmentFailed}
	if changed && next.Status == StatusOverdue {
		types = append(types, EventPlanOverdue)
	}
	evs, err := s.events(next, now, types...)
	if err != nil {
		return p, err
	}
	fee := next.Instalments[seq-1].LateFee - p.Instalments[seq-1].LateFee
	if fee > 0 {
		t := ledger.Transfer{ID: fmt.Sprintf("%s:i%d:fee", p.ID, seq), DebitAccountID: ReceivableAccount(p.CustomerID, p.Currency),
			CreditAccountID: FeesAccount(p.Currency), Amount: fee, Currency: p.Currency, Code: CodeTransferFee}
		_, err = s.cfg.Ledger.CreateTransfersWith(ctx, "", []ledger.Transfer{t}, func(ctx context.Context, tx ledger.Tx, res []ledger.Result) error {
			if res[0].Code != ledger.OK {
				return ErrConflict
			}
			return s.cfg.Store.UpdatePlanTx(ctx, tx, next, evs)
		})
	} else {
		err = s.cfg.Store.UpdatePlan(ctx, next, evs)
	}
	if err != nil {
		return p, err
	}
	s.remind(ctx, next, next.Instalments[seq-1], true)
	return next, nil
}

// writeOff books what p still owes as the platform's loss.
func (s *Service) writeOff(ctx context.Context, p Plan, now time.Time) error {
	next := clonePlan(p)
	owed := next.writeOff(now)
	next.Version++
	evs, err := s.events(next, now, EventPlanWrittenOff)
	if err != nil {
		return err
	}
	if owed == 0 {
		return s.cfg.Store.UpdatePlan(ctx, next, evs)
	}
	t := ledger.Transfer{ID: p.ID + ":writeoff", DebitAccountID: LossAccount(p.Currency),
		CreditAccountID: ReceivableAccount(p.CustomerID, p.Currency), Amount: owed, Currency: p.Currency, Code: CodeTransferWriteOff}
	_, err = s.cfg.Ledger.CreateTransfersWith(ctx, "", []ledger.Transfer{t}, func(ctx context.Context, tx ledger.Tx, res []ledger.Result) error {
		if res[0].Code != ledger.OK {
			return ErrConflict
		}
		return s.cfg.Store.UpdatePlanTx(ctx, tx, next, evs)
	})
	return err
}

// remind tells the payer about instalment in of p: before its due date,
// or after a failed collection. A reminder that cannot be sent is logged
// (without the address) and not retried: the next failure or the page
// tells the payer again.
func (s *Service) remind(ctx context.Context, p Plan, in Instalment, failed bool) {
	if s.cfg.Notifier == nil {
		return
	}
	c, err := s.cfg.Customers.Customer(ctx, p.CustomerID)
	if err != nil || c.Email == "" {
		s.log.WarnContext(ctx, "pay later reminder: no address", "plan", p.ID, "err", err)
		return
	}
	amount := formatAmount(in.Amount, p.Currency)
	source, fix := "your Kassa balance", "Please top up your balance"
	if f := FundingOf(p); f.Card != nil {
		// The card's brand and last four digits only.
		source, fix = fmt.Sprintf("your %s card ending %s", f.Card.Brand, f.Card.Last4), "Please choose another card"
	}
	body := fmt.Sprintf("Your pay later instalment %d of %s is due on %s. We will take it from %s; "+
		"you can pay it now on your account page.", in.Seq, amount, in.Due.Format("2 January 2006"), source)
	if failed {
		body = fmt.Sprintf("We could not take your pay later instalment %d of %s from %s. "+
			"%s or pay it on your account page; we will try again on %s.",
			in.Seq, amount, source, fix, in.NextAttempt.Format("2 January 2006"))
	}
	m := identity.Message{Channel: identity.ChannelEmail, To: c.Email, Subject: reminderSubjectOf, Body: body}
	if err := s.cfg.Notifier.Send(ctx, m); err != nil {
		s.log.WarnContext(ctx, "pay later reminder not sent", "plan", p.ID, "instalment", in.Seq, "err", err)
	}
}

// PayNow collects instalment seq of the payer's plan now, from their
// wallet (the account page's pay-now button): early, or after a failure.
func (s *Service) PayNow(ctx context.Context, customerID, planID string, seq int) (Plan, error) {
	p, err := s.customerPlan(ctx, customerID, planID)
	if err != nil {
		return Plan{}, err
	}
	if seq < 1 || seq > len(p.Instalments) {
		return Plan{}, errNoInstalment
	}
	if !p.Status.Open() || !p.Instalments[seq-1].Status.unpaid() || p.Instalments[seq-1].Charging != "" {
		return Plan{}, errNothingDue
	}
	now := s.now().UTC()
	in := p.Instalments[seq-1]
	avail, err := s.walletAvailable(ctx, p.CustomerID, p.Currency)
	if err != nil {
		return Plan{}, err
	}
	if avail < in.Amount {
		// The payer's own try does not count as a failed collection.
		return Plan{}, errWalletShortPN
	}
	paid, next, err := s.collect(ctx, p, seq, now)
	if errors.Is(err, ErrConflict) {
		return Plan{}, kassa.Errorf(kassa.EConflict, "plan_changed", "the plan changed meanwhile; please try again")
	} else if err != nil {
		return Plan{}, err
	}
	if !paid {
		return next, errWalletShortPN
	}
	return next, nil
}

func (s *Service) walletAvailable(ctx context.Context, customerID string, cur money.Currency) (money.Amount, error) {
	a, err := s.cfg.Ledger.Account(ctx, "", payout.WalletAccount(customerID, cur))
	if errors.Is(err, ledger.ErrNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	return a.CreditsPosted - a.DebitsPosted - a.DebitsPending, nil
}

// PushBack moves the due date of instalment seq of the payer's plan back
// by 14 days, once per plan.
func (s *Service) PushBack(ctx context.Context, customerID, planID string, seq int) (Plan, error) {
	p, err := s.customerPlan(ctx, customerID, planID)
	if err != nil {
		return Plan{}, err
	}
	if !p.Status.Open() {
		return Plan{}, errNotPushable
	}
	next := clonePlan(p)
	if err := next.pushBack(seq, s.now().UTC()); err != nil {
		return Plan{}, err
	}
	next.Version++
	if err := s.cfg.Store.UpdatePlan(ctx, next, nil); errors.Is(err, ErrConflict) {
		return Plan{}, kassa.Errorf(kassa.EConflict, "plan_changed", "the plan changed meanwhile; please try again")
	} else if err != nil {
		return Plan{}, err
	}
	return next, nil
}

// Mismatch is one disagreement reconciliation found.
type Mismatch struct {
	Plan    string `json:"plan,omitempty"`
	Account string `json:"account,omitempty"`
	Problem string `json:"problem"`
}

// Reconcile proves plans and the ledger agree: every plan's parts add up
// to what was bought, its collections are in the ledger, and each payer's
// receivable owes exactly what their open plans say.
func (s *Service) Reconcile(ctx context.Context) ([]Mismatch, error) {
	var bad []Mismatch
	owed := map[string]money.Amount{}         // receivable account → owed by plans
	lost := map[money.Currency]money.Amount{} // what written-off plans lose, after refunds repaid some
	after := ""
	for range 1_000_000 / collectBatchMax {
		plans, err := s.cfg.Store.AllPlans(ctx, after, collectBatchMax)
		if err != nil {
			return nil, err
		}
		for _, p := range plans {
			acct := ReceivableAccount(p.CustomerID, p.Currency)
			owed[acct] += p.Owed()
			if p.Status == StatusWrittenOff {
				lost[p.Currency] += p.unpaid()
			}
			ms, err := s.checkPlan(ctx, p)
			if err != nil {
				return nil, err
			}
			bad = append(bad, ms...)
			after = p.ID
		}
		if len(plans) < collectBatchMax {
			for cur, want := range lost {
				a, err := s.cfg.Ledger.Account(ctx, "", LossAccount(cur))
				if errors.Is(err, ledger.ErrNotFound) && want == 0 {
					continue
				} else if err != nil {
					return nil, fmt.Errorf("loss account %s: %w", cur, err)
				}
				if got := a.DebitsPosted - a.CreditsPosted; got != want {
					bad = append(bad, Mismatch{Account: LossAccount(cur), Problem: fmt.Sprintf(
						"the loss account holds %d, the written-off plans say %d", got, want)})
				}
			}
			for acct, want := range owed {
				a, err := s.cfg.Ledger.Account(ctx, "", acct)
				if err != nil {
					return nil, fmt.Errorf("receivable %s: %w", acct, err)
				}
				// Pending amounts belong to authorizations not yet
				// captured (payment reconciliation checks those).
				if got := a.DebitsPosted - a.CreditsPosted; got != want {
					bad = append(bad, Mismatch{Account: acct, Problem: fmt.Sprintf(
						"the receivable owes %d posted, the plans say %d", got, want)})
				}
			}
			return bad, nil
		}
	}
	return bad, errors.New("credit: reconcile: too many plans")
}

// checkPlan compares one plan with its ledger transfers.
func (s *Service) checkPlan(ctx context.Context, p Plan) ([]Mismatch, error) {
	var bad []Mismatch
	badf := func(format string, args ...any) {
		bad = append(bad, Mismatch{Plan: p.ID, Problem: fmt.Sprintf(format, args...)})
	}
	var sum money.Amount
	for _, in := range p.Instalments {
		sum += in.Amount
	}
	if sum+p.Refunded != p.Amount+p.Fees() {
		badf("instalments %d + refunded %d != amount %d + fees %d", sum, p.Refunded, p.Amount, p.Fees())
	}
	for _, in := range p.Instalments {
		if in.Status != InstalmentPaid || in.Amount == 0 || (in.Seq == 1 && p.Plan == PlanPayIn3) {
			continue // the first third is booked with the payment (payment.Check)
		}
		t, _, err := s.cfg.Ledger.Transfer(ctx, "", collectID(p.ID, in.Seq, in.Attempts))
		if errors.Is(err, ledger.ErrNotFound) {
			badf("instalment %d is paid, its collection %s is not in the ledger", in.Seq, collectID(p.ID, in.Seq, in.Attempts))
			continue
		} else if err != nil {
			return nil, err
		}
		if t.Amount != in.Amount || t.CreditAccountID != ReceivableAccount(p.CustomerID, p.Currency) {
			badf("instalment %d paid %d, its collection moved %d to %s", in.Seq, in.Amount, t.Amount, t.CreditAccountID)
		}
	}
	if p.Status == StatusWrittenOff && p.WrittenOff > 0 {
		t, _, err := s.cfg.Ledger.Transfer(ctx, "", p.ID+":writeoff")
		if err != nil || t.Amount != p.WrittenOff {
			badf("written off %d, the ledger's write-off is %d (%v)", p.WrittenOff, t.Amount, err)
		}
	}
	return bad, nil
}

// formatAmount writes a in the currency's major unit ("12.50 EUR").
func formatAmount(a money.Amount, cur money.Currency) string {
	exp, ok := cur.Exponent()
	if !ok || exp == 0 {
		return fmt.Sprintf("%d %s", a, cur)
	}
	div := int64(1)
	for range exp {
		div *= 10
	}
	return fmt.Sprintf("%d.%0*d %s", int64(a)/div, exp, int64(a)%div, cur)
}
