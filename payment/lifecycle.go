package payment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/webhook"
)

// ConfirmRequest is what the hosted page sends for the payer.
type ConfirmRequest struct {
	ClientSecret string
	PINs         []string
	ClientIP     string
	// Method is the payment_method.type: a registered Method's name
	// ("voucher", also when empty, or "card").
	Method string
	// Token (tok_...) or CardID (card_...) is the card of a card payment.
	// A stored card needs SecretKey, or a payment or payer bound to the
	// card's customer.
	Token  string
	CardID string
	// SecretKey says the merchant's server made the request (its secret
	// key), not a payer's browser.
	SecretKey bool
	// ChallengeID continues a card payment after its 3-D Secure challenge.
	ChallengeID string
	// UserAgent and Signals (the hosted page's measurements) feed risk.
	UserAgent string
	Signals   risk.Signals
	// PayerID is the logged-in payer's Kassa account and DeviceID the
	// device identity recognised it by (identity's device cookie); both
	// optional.
	PayerID  string
	DeviceID string
	// CredentialsChangedAt is when the logged-in payer's password, email
	// or phone last changed (identity.Customer; zero: never), for risk.
	CredentialsChangedAt time.Time
	// CustomerCreatedAt is when the logged-in payer's account was
	// created (zero: unknown), for risk.
	CustomerCreatedAt time.Time
	// Plan is pay_later's payment_method.plan (pay_in_30, pay_in_3) and
	// AcceptTerms the payer's explicit acceptance of its terms.
	Plan        string
	AcceptTerms bool
}

// Confirm authorizes the payment with the payer's instrument (vouchers,
// atomically across all of them; a card; any registered Method), and
// captures it at once when its capture method is automatic.
func (s *Service) Confirm(ctx context.Context, merchantID, id string, req ConfirmRequest) (Payment, error) {
	p, err := s.store.Payment(ctx, merchantID, id)
	if err != nil {
		return Payment{}, err
	}
	if !secretOK(p, req.ClientSecret) {
		return Payment{}, kassa.Invalid("client_secret", "client_secret_invalid", "the client_secret does not belong to this payment")
	}
	if p.Status != StatusRequiresAction {
		if answered(p, req) {
			// The payer's return from the outside party (the issuer's
			// page) went on with it already: the merchant's confirm
			// naming it gets the outcome.
			return p, nil
		}
		return Payment{}, stateError(p, "only a payment that requires action can be confirmed")
	}
	if p.Risk.Challenge == ChallengePending {
		// Confirming again would only be scored again: the payer must pass
		// the challenge.
		return Payment{}, kassa.Errorf(kassa.EConflict, "payment_challenge_required",
			"the payment waits for the payer's %s challenge; it cannot be confirmed again", p.Risk.Factor)
	}
	if o, ok := inFlight(p); ok {
		return o.Continue(ctx, s, p, req)
	}
	m, err := s.method(req.Method)
	if err != nil {
		return Payment{}, err
	}
	if err := topUpGuard(p, req, m); err != nil {
		return Payment{}, err
	}
	now := s.now().UTC()
	if !now.Before(p.ExpiresAt) {
		if _, err := s.expire(ctx, p); err != nil {
			return Payment{}, err
		}
		return Payment{}, kassa.Errorf(kassa.EConflict, "payment_expired", "the payment expired before it was paid")
	}
	in, err := m.Resolve(ctx, s, p, req)
	if err != nil {
		s.failedAttempt(ctx, p, req, in.Risk, err)
		if in.Decline && s.cfg.AttemptsMax > 0 {
			return s.declined(ctx, p, m, err)
		}
		return Payment{}, err
	}
	// A new try: the instrument of an earlier, declined one goes (the
	// payer may switch methods between tries), and so does its failure.
	next := p
	next.MethodType, next.PayerID = m.Name(), cmp.Or(req.PayerID, p.PayerID)
	next.Vouchers, next.Card, next.MethodRef, next.FailureCode = nil, CardUse{}, "", ""
	next.Attempts = p.Attempts + 1
	in.Use(&next)
	if len(next.MethodRef) > MethodRefMax {
		return Payment{}, fmt.Errorf("payment method %s: a method_ref of %d bytes", m.Name(), len(next.MethodRef))
	}
	if err := s.admit(ctx, next, in); err != nil {
		return Payment{}, err
	}
	// Scoring runs beside the rest of the preparation (the ledger
	// accounts), not after it.
	prepared := s.prepare(ctx, p, m)
	ev, scored := s.score(ctx, next, req, in.Risk)
	if err := <-prepared; err != nil {
		return Payment{}, err
	}
	rr := p.Risk
	if scored {
		switch rr = riskResult(ev); ev.Decision {
		case risk.Block:
			failed := p
			if in.KeptOnFailure {
				failed = next
			}
			failed.PayerID, failed.Attempts = next.PayerID, next.Attempts
			return s.block(ctx, p, failed, ev)
		case risk.Challenge:
			return s.challenge(ctx, next, ev)
		}
	}
	return s.authorize(ctx, p, next, m, rr)
}

// declined records a declined try of p with m whose error is cause (a
// kassa.Error; its code becomes the failure code): the payment stays
// requires_action for another try, and cause is returned, until the try
// that reaches Config.AttemptsMax, which fails it (payment.failed) and
// returns the failed payment. The update checks the payment's version,
// so concurrent tries never count less than they were.
func (s *Service) declined(ctx context.Context, p Payment, m Method, cause error) (Payment, error) {
	now := s.now().UTC()
	next := p
	next.Version++
	next.Updated, next.MethodType, next.Attempts = now, m.Name(), p.Attempts+1
	next.Vouchers, next.Card, next.MethodRef = nil, CardUse{}, ""
	next.FailureCode = kassa.AsError(cause).Code
	if next.Attempts < s.cfg.AttemptsMax {
		if err := s.store.UpdatePayment(ctx, next, nil); err != nil {
			return Payment{}, conflictError(err)
		}
		return Payment{}, cause
	}
	next.Status, next.ExpiresAt = StatusFailed, time.Time{}
	ev, err := s.event(next, EventFailed, now)
	if err != nil {
		return Payment{}, err
	}
	if err := s.store.UpdatePayment(ctx, next, []webhook.Event{ev}); err != nil {
		return Payment{}, conflictError(err)
	}
	return next, nil
}

// authorize authorizes p (as stored) with the instrument on next through
// its method m: an approval the method books synchronously commits with
// the payment's new state and event (captured at once with automatic
// capture unless the risk decision holds it for review); one at an
// outside party is recorded first and completed by the method. extra are
// event types emitted with the transition.
func (s *Service) authorize(ctx context.Context, p, next Payment, m Method, rr RiskResult, extra ...string) (Payment, error) {
	now := s.now().UTC()
	next.Version = p.Version + 1
	next.Updated, next.Risk = now, rr
	review := rr.Decision == risk.Review
	if review {
		next.Risk.Review = risk.ReviewOpen
	}
	hold := p.CaptureMethod == CaptureManual || review
	a, err := m.Authorize(ctx, s, p, &next, hold)
	if err != nil {
		return Payment{}, err
	}
	if a.Call != nil {
		evs, err := s.events(next, now, extra...)
		if err != nil {
			return Payment{}, err
		}
		if err := s.store.UpdatePayment(ctx, next, evs); err != nil {
			return Payment{}, conflictError(err)
		}
		return a.Call(ctx, next)
	}
	return s.book(ctx, p, next, m, a, hold, extra)
}

// book commits a synchronous authorization: its transfers (pending when
// hold), the payment, its events and the method's Effect in one
// transaction.
func (s *Service) book(ctx context.Context, p, next Payment, m Method, a Authorization, hold bool, extra []string) (Payment, error) {
	ts := a.Transfers
	now := next.Updated
	if err := s.ensureCredit(ctx, p); err != nil {
		return Payment{}, err
	}
	typ := EventCaptured
	if hold {
		window, err := s.captureWindow(ctx, p.MerchantID)
		if err != nil {
			return Payment{}, err
		}
		for i := range ts {
			ts[i].Flags |= ledger.FlagPending
			ts[i].Timeout = window + ledgerTimeoutMargin
		}
		typ = EventAuthorized
		next.Status, next.AmountCapturable, next.ExpiresAt = StatusAuthorized, p.Amount, now.Add(window)
	} else {
		next.Status, next.AmountCaptured, next.ExpiresAt = StatusCaptured, p.Amount, time.Time{}
	}
	var charge *Charge
	if next.Status == StatusCaptured {
		extra, c, err := s.charge(ctx, next, next.AmountCaptured, now)
		if err != nil {
			return Payment{}, err
		}
		ts, charge = append(ts, extra...), c
	}
	evs, err := s.events(next, now, append(extra, typ)...)
	if err != nil {
		return Payment{}, err
	}
	_, err = s.led.CreateTransfersWith(ctx, "", ts, func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
		if err := checkResults(ts, results); err != nil {
			return confirmRefusal(err, m, next)
		}
		if err := s.recordCharge(ctx, tx, charge); err != nil {
			return err
		}
		if err := s.store.UpdatePaymentTx(ctx, tx, next, evs); err != nil {
			return err
		}
		return runEffect(ctx, tx, a.Effect, next)
	})
	if err != nil {
		if kassa.ErrorKind(err) == kassa.EInvalid {
			s.outcome(ctx, p.MerchantID, next.Risk.EvaluationID, risk.OutcomeFailed)
		}
		return Payment{}, conflictError(err)
	}
	s.outcome(ctx, p.MerchantID, next.Risk.EvaluationID, risk.OutcomeApproved)
	if next.Risk.Review == risk.ReviewOpen {
		s.openReview(ctx, next)
	}
	if next.Status == StatusCaptured {
		s.moved(ctx, next)
	}
	return next, nil
}

// confirmRefusal explains a ledger refusal of an authorization: in the
// payer's words when the method can (a voucher a concurrent payment
// spent), a conflict when the transfers exist already.
func confirmRefusal(err error, m Method, next Payment) error {
	if e, ok := m.(refusalExplainer); ok {
		err = e.explainRefusal(err, next)
	}
	var lr *ledgerRefusal
	if errors.As(err, &lr) && (lr.code == ledger.Exists || len(lr.code) > 7 && lr.code[:7] == "exists_") {
		return ErrConflict
	}
	return err
}

// Capture captures an authorized payment, fully (amount nil) or partly;
// what is not captured is released to the vouchers.
func (s *Service) Capture(ctx context.Context, merchantID, id string, amount *money.Amount) (Payment, error) {
	p, err := s.store.Payment(ctx, merchantID, id)
	if err != nil {
		return Payment{}, err
	}
	if err := inReview(p); err != nil {
		return Payment{}, err
	}
	return s.capture(ctx, p, amount, "")
}

// capture captures p (as stored); review, when set, is the payment's new
// review status.
func (s *Service) capture(ctx context.Context, p Payment, amount *money.Amount, review string) (Payment, error) {
	if p.Status != StatusAuthorized {
		return Payment{}, stateError(p, "only an authorized payment can be captured")
	}
	now := s.now().UTC()
	if !now.Before(p.ExpiresAt) {
		if _, err := s.expire(ctx, p); err != nil {
			return Payment{}, err
		}
		return Payment{}, kassa.Errorf(kassa.EConflict, "payment_expired", "the authorization expired before it was captured")
	}
	amt := p.AmountCapturable
	if amount != nil {
		if *amount <= 0 || *amount > p.AmountCapturable {
			return Payment{}, kassa.Invalid("amount", "amount_too_large",
				"amount must be from 1 to the %d authorized", p.AmountCapturable)
		}
		amt = *amount
	}
	next := p
	next.Version++
	next.Status, next.AmountCaptured, next.AmountCapturable, next.ExpiresAt, next.Updated = StatusCaptured, amt, 0, time.Time{}, now
	if review != "" {
		next.Risk.Review = review
	}
	ts, err := methodOf(p).Capture(ctx, s, p, amt, &next)
	if err != nil {
		return Payment{}, err
	}
	extra, charge, err := s.charge(ctx, next, amt, now)
	if err != nil {
		return Payment{}, err
	}
	ts = append(ts, extra...)
	effect := captureEffect(ctx, s, next)
	ev, err := s.event(next, EventCaptured, now)
	if err != nil {
		return Payment{}, err
	}
	_, err = s.led.CreateTransfersWith(ctx, "", ts, func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
		if err := checkResults(ts, results); err != nil {
			var lr *ledgerRefusal
			if errors.As(err, &lr) && lr.code == ledger.PendingTransferExpired {
				return kassa.Errorf(kassa.EConflict, "payment_expired", "the authorization expired before it was captured")
			}
			if errors.As(err, &lr) && (lr.code == ledger.PendingTransferAlreadyPosted || lr.code == ledger.PendingTransferAlreadyVoided) {
				return ErrConflict
			}
			return err
		}
		if err := s.recordCharge(ctx, tx, charge); err != nil {
			return err
		}
		if err := s.store.UpdatePaymentTx(ctx, tx, next, []webhook.Event{ev}); err != nil {
			return err
		}
		return runEffect(ctx, tx, effect, next)
	})
	if err != nil {
		return Payment{}, conflictError(err)
	}
	s.moved(ctx, next)
	return next, nil
}

// Cancel ends a payment that was not captured; an authorization's funds go
// back to the vouchers.
func (s *Service) Cancel(ctx context.Context, merchantID, id string) (Payment, error) {
	p, err := s.store.Payment(ctx, merchantID, id)
	if err != nil {
		return Payment{}, err
	}
	if err := inReview(p); err != nil {
		return Payment{}, err
	}
	return s.cancel(ctx, p, "")
}

// cancel cancels p (as stored); review, when set, is the payment's new
// review status.
func (s *Service) cancel(ctx context.Context, p Payment, review string) (Payment, error) {
	if review != "" {
		p.Risk.Review = review
	}
	if p.Status != StatusRequiresAction && p.Status != StatusAuthorized {
		return Payment{}, stateError(p, "only a payment that requires action or is authorized can be canceled")
	}
	if unsettled(p) {
		return Payment{}, kassa.Errorf(kassa.EConflict, "card_authorization_unknown",
			"the card authorization's outcome is not known yet; retry once it is resolved")
	}
	next, err := s.end(ctx, p, StatusCanceled, EventCanceled)
	return next, conflictError(err)
}

// expire ends a payment whose time ran out; a card authorization is
// voided at the acquirer first.
func (s *Service) expire(ctx context.Context, p Payment) (Payment, error) {
	if p.Risk.Challenge == ChallengePending {
		p.Risk.Challenge, p.Risk.TransStatus = ChallengeAbandoned, "U"
		defer s.outcome(ctx, p.MerchantID, p.Risk.EvaluationID, risk.OutcomeFailed)
	}
	if o, ok := inFlight(p); ok {
		o.Abandon(&p)
	}
	return s.end(ctx, p, StatusExpired, EventExpired)
}

// end moves a requires_action or authorized payment to a final state,
// voiding its authorization (at its method's outside party first, then
// in the ledger in the same transaction as the payment).
func (s *Service) end(ctx context.Context, p Payment, status Status, typs ...string) (Payment, error) {
	now := s.now().UTC()
	next := p
	next.Version++
	next.Status, next.AmountCapturable, next.ExpiresAt, next.Updated = status, 0, time.Time{}, now
	evs, err := s.events(next, now, typs...)
	if err != nil {
		return Payment{}, err
	}
	if p.Status != StatusAuthorized {
		return next, s.store.UpdatePayment(ctx, next, evs)
	}
	ts, err := methodOf(p).Void(ctx, s, p)
	if err != nil {
		return Payment{}, err
	}
	// Not linked: a pending transfer the ledger already expired is
	// released all the same.
	_, err = s.led.CreateTransfersWith(ctx, "", ts, func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
		if err := checkResults(ts, results, ledger.PendingTransferExpired); err != nil {
			var lr *ledgerRefusal
			if errors.As(err, &lr) && (lr.code == ledger.PendingTransferAlreadyPosted || lr.code == ledger.PendingTransferAlreadyVoided) {
				return ErrConflict
			}
			return err
		}
		return s.store.UpdatePaymentTx(ctx, tx, next, evs)
	})
	if err != nil {
		return Payment{}, err
	}
	s.moved(ctx, p)
	return next, nil
}

// events builds one event of the payment per type.
func (s *Service) events(p Payment, now time.Time, typs ...string) ([]webhook.Event, error) {
	evs := make([]webhook.Event, len(typs))
	for i, typ := range typs {
		ev, err := s.event(p, typ, now)
		if err != nil {
			return nil, err
		}
		evs[i] = ev
	}
	return evs, nil
}

// dueBatchMax bounds one ExpireDue pass.
const dueBatchMax = 500

// ExpireDue expires payments whose time ran out: unpaid ones after
// UnpaidTTL, authorizations after their capture window. It returns how
// many it expired.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	due, err := s.store.DuePayments(ctx, s.now().UTC(), dueBatchMax)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range due {
		if unsettled(p) {
			continue // ResolveUnknown settles it first
		}
		if _, err := s.expire(ctx, p); err != nil {
			if errors.Is(err, ErrConflict) {
				continue // captured or canceled meanwhile
			}
			if ke := kassa.AsError(err); ke != nil && (ke.Code == "acquirer_refused" || ke.Code == "acquirer_unavailable") {
				s.log.Warn("expire card payment", "payment", p.ID, "err", err)
				continue
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// Run expires due payments every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.ExpireDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("expire payments", "err", err)
		}
		if _, err := s.ResolveUnknown(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("resolve card authorizations", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Balance of a merchant in one currency, from the ledger.
type Balance struct {
	Currency  money.Currency
	Available money.Amount // captured minus refunded and refunds in flight (and minus payouts, later)
	Pending   money.Amount // authorized, not yet captured
}

// MerchantBalances returns the merchant's balance in every currency it
// has payments in.
func (s *Service) MerchantBalances(ctx context.Context, merchantID string) ([]Balance, error) {
	currencies, err := s.store.Currencies(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	var out []Balance
	for _, cur := range currencies {
		a, err := s.led.Account(ctx, "", merchantAccount(merchantID, cur))
		if errors.Is(err, ledger.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		// Pending debits are card refunds in flight: reserved, so not
		// available.
		out = append(out, Balance{Currency: cur, Available: a.CreditsPosted - a.DebitsPosted - a.DebitsPending,
			Pending: a.CreditsPending})
	}
	return out, nil
}
