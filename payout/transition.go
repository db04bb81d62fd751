package payout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/ledger"
)

// Limits of the worker.
const (
	attemptsMax = 16 // reads of a payout that changed under a transition
	// RailAttemptsMax bounds Submit calls per payout; past it the payout
	// stays pending for an operator (docs/payouts.md).
	RailAttemptsMax = 8
	// ProcessBatchMax bounds the payouts one Process call looks at.
	ProcessBatchMax = 500
)

// Get returns a merchant's payout.
func (s *Service) Get(ctx context.Context, merchantID, id string) (Payout, error) {
	return s.store.Payout(ctx, merchantID, id)
}

// List returns a page of a merchant's payouts, newest first.
func (s *Service) List(ctx context.Context, f Filter) ([]Payout, bool, error) {
	if f.Limit < 1 || f.Limit > ListLimitMax {
		return nil, false, kassa.Invalid("limit", "limit_invalid", "limit must be from 1 to %d", ListLimitMax)
	}
	return s.store.Payouts(ctx, f)
}

// Cancel cancels a payout that has not left (pending or requires_review)
// and releases its reserve.
func (s *Service) Cancel(ctx context.Context, merchantID, id string) (Payout, error) {
	return s.act(ctx, merchantID, id, func(p Payout) (Payout, error) {
		if p.Status != StatusPending && p.Status != StatusRequiresReview {
			return p, kassa.Errorf(kassa.EConflict, "payout_not_cancelable", "the payout is %s; only a pending payout or one in review can be canceled", p.Status)
		}
		if p.RailAttempts > 0 {
			return p, kassa.Errorf(kassa.EConflict, "payout_not_cancelable", "the payout was already handed to its rail")
		}
		return s.close(ctx, p, StatusCanceled, "canceled", "canceled by the merchant", EventCanceled)
	})
}

// Approve releases a payout held for review to be sent. by is the API key
// (or member) approving; it may not be the one that created the payout
// when the merchant has more than one (multiple).
func (s *Service) Approve(ctx context.Context, merchantID, id, by string, multiple bool) (Payout, error) {
	return s.act(ctx, merchantID, id, func(p Payout) (Payout, error) {
		if err := reviewable(p, by, multiple); err != nil {
			return p, err
		}
		next := s.next(p)
		next.Status, next.ReviewedBy = StatusPending, by
		return next, s.store.UpdatePayout(ctx, next, nil)
	})
}

// Reject cancels a payout held for review and releases its reserve.
func (s *Service) Reject(ctx context.Context, merchantID, id, by string, multiple bool) (Payout, error) {
	return s.act(ctx, merchantID, id, func(p Payout) (Payout, error) {
		if err := reviewable(p, by, multiple); err != nil {
			return p, err
		}
		p.ReviewedBy = by
		return s.close(ctx, p, StatusCanceled, "rejected", "rejected in review", EventCanceled)
	})
}

func reviewable(p Payout, by string, multiple bool) error {
	if p.Status != StatusRequiresReview {
		return kassa.Errorf(kassa.EConflict, "payout_not_in_review", "the payout is %s, not requires_review", p.Status)
	}
	if multiple && by != "" && by == p.CreatedBy {
		return &kassa.Error{Kind: kassa.EForbidden, Code: "reviewer_is_creator", Param: "Authorization",
			Message: "a payout in review is approved or rejected by another key or member than the one that created it"}
	}
	return nil
}

// act runs fn on the payout as read now, again when it changed meanwhile.
func (s *Service) act(ctx context.Context, merchantID, id string, fn func(Payout) (Payout, error)) (Payout, error) {
	for attempt := 1; ; attempt++ {
		p, err := s.store.Payout(ctx, merchantID, id)
		if err != nil {
			return Payout{}, err
		}
		p, err = fn(p)
		if errors.Is(err, ErrConflict) && attempt < attemptsMax {
			continue
		}
		if errors.Is(err, ErrConflict) {
			return Payout{}, kassa.Errorf(kassa.EConflict, "payout_changed", "the payout changed while this request ran; fetch it and retry")
		}
		return p, err
	}
}

// next is p's successor: one version on, updated now.
func (s *Service) next(p Payout) Payout {
	p.Version++
	p.Updated = s.now().UTC()
	return p
}

// close ends an open payout that did not pay (failed, canceled): the void
// of its reserve, the payout and its event in one transaction.
func (s *Service) close(ctx context.Context, p Payout, st Status, code, msg, event string) (Payout, error) {
	next := s.next(p)
	next.Status, next.FailureCode, next.FailureMessage = st, code, msg
	ts := []ledger.Transfer{{ID: p.ID + ":void", PendingID: reserveID(p), Flags: ledger.FlagVoidPending}}
	return next, s.transition(ctx, next, ts, event)
}

// transition writes next with its transfers and events in one transaction.
func (s *Service) transition(ctx context.Context, next Payout, ts []ledger.Transfer, types ...string) error {
	evs, err := s.events(next, next.Updated, types...)
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		return s.store.UpdatePayout(ctx, next, evs)
	}
	_, err = s.led.CreateTransfersWith(ctx, "", linkChain(ts), func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
		if err := checkResults(ts, results); err != nil {
			return err
		}
		return s.store.UpdatePayoutTx(ctx, tx, next, evs)
	})
	return err
}

// linkChain marks every transfer but the last as linked.
func linkChain(ts []ledger.Transfer) []ledger.Transfer {
	for i := 0; i < len(ts)-1; i++ {
		ts[i].Flags |= ledger.FlagLinked
	}
	return ts
}

// Process drives due payouts one step each: it sends pending ones, asks
// the rail about those in transit or paid within ReturnWindow, and pays
// wallet payouts in the ledger. It returns how many payouts changed. The
// first error ends the pass; the payouts after it wait for the next one.
func (s *Service) Process(ctx context.Context) (int, error) {
	ps, err := s.store.DuePayouts(ctx, s.now().Add(-ReturnWindow), ProcessBatchMax)
	if err != nil {
		return 0, err
	}
	changed := 0
	for _, p := range ps {
		if err := ctx.Err(); err != nil {
			return changed, err
		}
		ok, err := s.step(ctx, p)
		if errors.Is(err, ErrConflict) {
			continue // another worker moved it; the next pass sees it
		}
		if err != nil {
			return changed, fmt.Errorf("payout %s: %w", p.ID, err)
		}
		if ok {
			changed++
		}
	}
	return changed, nil
}

// ReturnWindow is how long after it was paid a bank payout is still asked
// about (a SEPA credit transfer may come back for days).
const ReturnWindow = 14 * 24 * time.Hour

// step moves one payout along; ok reports whether it changed.
func (s *Service) step(ctx context.Context, p Payout) (bool, error) {
	if p.Rail == RailWallet {
		if p.Status != StatusPending {
			return false, nil
		}
		return true, s.payWallet(ctx, p)
	}
	rail := s.rails[p.Rail]
	if rail == nil {
		return false, nil
	}
	switch p.Status {
	case StatusPending:
		return s.send(ctx, rail, p)
	case StatusInTransit:
		st, err := rail.Query(ctx, p.ID)
		if err != nil {
			return false, s.unknown(p, "query", err)
		}
		return s.apply(ctx, p, st)
	case StatusPaid:
		if s.now().Sub(p.PaidAt) > ReturnWindow {
			return false, nil
		}
		st, err := rail.Query(ctx, p.ID)
		if errors.Is(err, ErrNotReceived) {
			return false, nil // a test rail forgot a settled transfer: nothing new
		}
		if err != nil {
			return false, s.unknown(p, "query", err)
		}
		return s.apply(ctx, p, st)
	}
	return false, nil
}

// unknown logs an answer the rail did not give; the next pass asks again.
func (s *Service) unknown(p Payout, op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	s.log.Warn("payout rail gave no answer", "payout", p.ID, "op", op, "err", err)
	return nil
}

// send hands a pending payout to its rail. The attempt is counted before
// the call, so a payout whose earlier attempt ended without an answer (a
// timeout, a crash) is first looked up by its key: the rail then reports
// it, or that it never arrived and it is sent again under the same key.
func (s *Service) send(ctx context.Context, rail Rail, p Payout) (bool, error) {
	if p.RailAttempts > 0 {
		st, err := rail.Query(ctx, p.ID)
		switch {
		case err == nil:
			return s.apply(ctx, p, st)
		case !errors.Is(err, ErrNotReceived):
			return false, s.unknown(p, "query", err)
		}
	}
	if p.RailAttempts >= RailAttemptsMax {
		return false, nil
	}
	in := Instruction{Key: p.ID, Amount: p.Amount, Currency: p.Currency,
		IBAN: p.Destination.IBAN, AccountHolder: p.Destination.AccountHolder}
	if p.Destination.Payment != "" && s.cfg.Deposits != nil {
		d, err := s.cfg.Deposits.Deposit(ctx, p.MerchantID, p.Destination.Payment)
		if err != nil {
			return false, err
		}
		in.AuthorizationID = d.AuthorizationID
	}
	next := s.next(p)
	next.RailAttempts++
	if err := s.store.UpdatePayout(ctx, next, nil); err != nil {
		return false, err
	}
	st, err := rail.Submit(ctx, in)
	var refused *RailError
	switch {
	case errors.As(err, &refused):
		_, err := s.close(ctx, next, StatusFailed, refused.Code, refused.Message, EventFailed)
		return true, err
	case err != nil:
		return true, s.unknown(next, "submit", err)
	}
	return s.apply(ctx, next, st)
}

// apply records what the rail says of p.
func (s *Service) apply(ctx context.Context, p Payout, st RailStatus) (bool, error) {
	open := p.Status == StatusPending || p.Status == StatusInTransit
	var events []string
	next := s.next(p)
	if !st.ArrivalEstimate.IsZero() {
		next.ArrivalEstimate = st.ArrivalEstimate
	}
	if p.Status == StatusPending && st.State != RailFailed {
		events = append(events, EventInTransit)
	}
	var ts []ledger.Transfer
	switch {
	case st.State == RailAccepted && p.Status == StatusPending:
		next.Status = StatusInTransit
	case st.State == RailPaid && open:
		next.Status, next.PaidAt = StatusPaid, next.Updated
		ts = append(ts, s.post(p))
		events = append(events, EventPaid)
	case st.State == RailFailed && open:
		_, err := s.close(ctx, p, StatusFailed, st.Reason, st.Message, EventFailed)
		return true, err
	case st.State == RailReturned && (open || p.Status == StatusPaid):
		if open {
			next.PaidAt = next.Updated
			ts = append(ts, s.post(p))
			events = append(events, EventPaid)
		}
		next.Status, next.FailureCode, next.FailureMessage = StatusReturned, st.Reason, st.Message
		ts = append(ts, ledger.Transfer{ID: p.ID + ":return", DebitAccountID: clearingAccount(p.Currency),
			CreditAccountID: sourceAccount(p), Amount: p.Amount, Currency: p.Currency, Code: 42})
		events = append(events, EventReturned)
	default:
		return false, nil // nothing new
	}
	return true, s.transition(ctx, next, ts, events...)
}

func (s *Service) post(p Payout) ledger.Transfer {
	return ledger.Transfer{ID: p.ID + ":post", PendingID: reserveID(p), Flags: ledger.FlagPostPending}
}

// payWallet pays a wallet payout inside Kassa: the reserve is posted and
// the clearing account credits the payer's wallet, in one linked chain.
func (s *Service) payWallet(ctx context.Context, p Payout) error {
	_, err := s.payWalletNow(ctx, p)
	return err
}

func (s *Service) payWalletNow(ctx context.Context, p Payout) (Payout, error) {
	acct := WalletAccount(p.Customer.ID, p.Currency)
	if err := s.ensureAccount(ctx, acct, p.Currency, 5, ledger.DebitsMustNotExceedCredits); err != nil {
		return Payout{}, err
	}
	next := s.next(p)
	next.Status, next.PaidAt, next.ArrivalEstimate = StatusPaid, next.Updated, next.Updated
	ts := []ledger.Transfer{s.post(p), {ID: p.ID + ":wallet", DebitAccountID: clearingAccount(p.Currency),
		CreditAccountID: acct, Amount: p.Amount, Currency: p.Currency, Code: 41}}
	return next, s.transition(ctx, next, ts, EventPaid)
}
