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
	"github.com/kassa/kassa/voucher"
	"github.com/kassa/kassa/webhook"
)

// ConfirmRequest is what the hosted page sends for the payer.
type ConfirmRequest struct {
	ClientSecret string
	PINs         []string
	ClientIP     string
	// Method is "voucher" (also when empty) or "card".
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
}

// Confirm authorizes the payment on the payer's vouchers, atomically across
// all of them, and captures it at once when its capture method is
// automatic.
func (s *Service) Confirm(ctx context.Context, merchantID, id string, req ConfirmRequest) (Payment, error) {
	p, err := s.store.Payment(ctx, merchantID, id)
	if err != nil {
		return Payment{}, err
	}
	if !secretOK(p, req.ClientSecret) {
		return Payment{}, kassa.Invalid("client_secret", "client_secret_invalid", "the client_secret does not belong to this payment")
	}
	if p.Status != StatusRequiresAction {
		if req.ChallengeID != "" && req.ChallengeID == p.Card.ChallengeID && p.Card.TransStatus != "" {
			// The payer's return from the issuer's page went on with this
			// challenge already: the merchant's confirm gets its outcome.
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
	if req.Method == MethodCard || p.MethodType == MethodCard {
		return s.confirmCard(ctx, p, req)
	}
	if req.Method != "" && req.Method != "voucher" {
		return Payment{}, kassa.Invalid("payment_method.type", "payment_method_unsupported", "payment_method.type must be voucher or card")
	}
	now := s.now().UTC()
	if !now.Before(p.ExpiresAt) {
		if _, err := s.expire(ctx, p); err != nil {
			return Payment{}, err
		}
		return Payment{}, kassa.Errorf(kassa.EConflict, "payment_expired", "the payment expired before it was paid")
	}
	switch n := len(req.PINs); {
	case n == 0:
		return Payment{}, kassa.Invalid("pins", "pins_required", "send the PIN of at least one voucher")
	case n > PINsMax:
		return Payment{}, kassa.Invalid("pins", "too_many_pins", "at most %d PINs per payment, got %d", PINsMax, n)
	}
	vs, err := s.cfg.Vouchers.Resolve(ctx, req.PINs, voucher.AttemptContext{MerchantID: p.MerchantID, PaymentID: p.ID, ClientIP: req.ClientIP})
	if err != nil {
		s.failedAttempt(ctx, p, req, risk.MethodVoucher, "", err)
		return Payment{}, err
	}
	p.PayerID = cmp.Or(req.PayerID, p.PayerID)
	uses, err := allocate(p, vs)
	if err != nil {
		s.failedAttempt(ctx, p, req, risk.MethodVoucher, vs[0].Serial, err, voucherSerials(vs[1:])...)
		return Payment{}, err
	}
	// Scoring runs beside the rest of the preparation (the merchant's
	// ledger account), not after it.
	prepared := s.prepare(ctx, p, false)
	ev, scored := s.score(ctx, p, req, risk.MethodVoucher, vs[0].Serial, "", voucherSerials(vs[1:])...)
	if err := <-prepared; err != nil {
		return Payment{}, err
	}
	var rr RiskResult
	if scored {
		switch rr = riskResult(ev); ev.Decision {
		case risk.Block:
			return s.block(ctx, p, p, ev)
		case risk.Challenge:
			held := p
			held.MethodType, held.Vouchers = MethodVoucher, uses
			return s.challenge(ctx, held, ev)
		}
	}
	return s.authorizeVouchers(ctx, p, uses, rr)
}

// authorizeVouchers authorizes p (as stored) on the allocated vouchers,
// capturing at once with automatic capture unless the risk decision holds
// it for review.
func (s *Service) authorizeVouchers(ctx context.Context, p Payment, uses []VoucherUse, rr RiskResult, extra ...string) (Payment, error) {
	now := s.now().UTC()
	if err := s.ensureAccount(ctx, p.MerchantID, p.Currency); err != nil {
		return Payment{}, err
	}
	next := p
	next.Version++
	next.Updated, next.MethodType, next.Vouchers, next.Risk = now, MethodVoucher, uses, rr
	review := rr.Decision == risk.Review
	if review {
		next.Risk.Review = risk.ReviewOpen
	}
	var flags ledger.TransferFlags
	var timeout time.Duration
	typ := EventCaptured
	if p.CaptureMethod == CaptureManual || review {
		window, err := s.captureWindow(ctx, p.MerchantID)
		if err != nil {
			return Payment{}, err
		}
		flags, timeout, typ = ledger.FlagPending, window+ledgerTimeoutMargin, EventAuthorized
		next.Status, next.AmountCapturable, next.ExpiresAt = StatusAuthorized, p.Amount, now.Add(window)
	} else {
		next.Status, next.AmountCaptured, next.ExpiresAt = StatusCaptured, p.Amount, time.Time{}
		for i := range next.Vouchers {
			next.Vouchers[i].Captured = next.Vouchers[i].Amount
		}
	}
	ts := make([]ledger.Transfer, len(uses))
	for i, u := range uses {
		ts[i] = ledger.Transfer{ID: fmt.Sprintf("pay:%s:auth:%d", p.ID, u.Seq), DebitAccountID: voucherAccount(u.Serial),
			CreditAccountID: merchantAccount(p.MerchantID, p.Currency), Amount: u.Amount, Currency: p.Currency,
			Code: 10, Flags: flags, Timeout: timeout}
	}
	evs, err := s.events(next, now, append(extra, typ)...)
	if err != nil {
		return Payment{}, err
	}
	_, err = s.led.CreateTransfersWith(ctx, "", linkChain(ts), func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
		if err := checkResults(ts, results); err != nil {
			return confirmRefusal(err, uses)
		}
		return s.store.UpdatePaymentTx(ctx, tx, next, evs)
	})
	if err != nil {
		if kassa.ErrorKind(err) == kassa.EInvalid {
			s.outcome(ctx, p.MerchantID, next.Risk.EvaluationID, risk.OutcomeFailed)
		}
		return Payment{}, conflictError(err)
	}
	s.outcome(ctx, p.MerchantID, next.Risk.EvaluationID, risk.OutcomeApproved)
	if review {
		s.openReview(ctx, next)
	}
	if next.Status == StatusCaptured {
		s.refreshVouchers(ctx, next.Vouchers)
	}
	return next, nil
}

// confirmRefusal explains a ledger refusal to the payer: a voucher whose
// balance went below what it was charged (a concurrent payment spent it).
func confirmRefusal(err error, uses []VoucherUse) error {
	var lr *ledgerRefusal
	if errors.As(err, &lr) && lr.code == ledger.ExceedsCredits && lr.index < len(uses) {
		return kassa.Invalid(fmt.Sprintf("pins[%d]", uses[lr.index].Seq), "voucher_balance_insufficient",
			"the voucher's balance changed; it no longer covers its share")
	}
	if errors.As(err, &lr) && (lr.code == ledger.Exists || len(lr.code) > 7 && lr.code[:7] == "exists_") {
		return ErrConflict
	}
	return err
}

// allocate takes the payment's amount from the vouchers in PIN order, each
// up to its balance; vouchers not needed are not charged.
func allocate(p Payment, vs []voucher.Voucher) ([]VoucherUse, error) {
	remaining := p.Amount
	var uses []VoucherUse
	var total money.Amount
	for i, v := range vs {
		if v.Currency != p.Currency {
			return nil, kassa.Invalid(fmt.Sprintf("pins[%d]", i), "voucher_currency_mismatch",
				"the voucher is in %s, the payment in %s", v.Currency, p.Currency)
		}
		total, _ = total.Add(v.Balance)
		take := min(v.Balance, remaining)
		if take > 0 {
			uses = append(uses, VoucherUse{Seq: i, Serial: v.Serial, Amount: take})
			remaining -= take
		}
	}
	if remaining > 0 {
		return nil, kassa.Invalid("pins", "voucher_balance_insufficient",
			"the vouchers hold %d of the %d needed; add another voucher", total, p.Amount)
	}
	return uses, nil
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
	next.Vouchers = append([]VoucherUse(nil), p.Vouchers...)
	if review != "" {
		next.Risk.Review = review
	}
	var ts []ledger.Transfer
	var err error
	if p.MethodType == MethodCard {
		if ts, err = s.captureCard(ctx, p, amt); err != nil {
			return Payment{}, err
		}
	}
	remaining := amt
	for i, u := range next.Vouchers {
		auth := fmt.Sprintf("pay:%s:auth:%d", p.ID, u.Seq)
		if remaining > 0 {
			take := min(remaining, u.Amount)
			remaining -= take
			next.Vouchers[i].Captured = take
			ts = append(ts, ledger.Transfer{ID: fmt.Sprintf("pay:%s:capture:%d", p.ID, u.Seq), PendingID: auth,
				Amount: take, Flags: ledger.FlagPostPending})
		} else {
			ts = append(ts, ledger.Transfer{ID: fmt.Sprintf("pay:%s:release:%d", p.ID, u.Seq), PendingID: auth,
				Flags: ledger.FlagVoidPending})
		}
	}
	ev, err := s.event(next, EventCaptured, now)
	if err != nil {
		return Payment{}, err
	}
	_, err = s.led.CreateTransfersWith(ctx, "", linkChain(ts), func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
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
		return s.store.UpdatePaymentTx(ctx, tx, next, []webhook.Event{ev})
	})
	if err != nil {
		return Payment{}, conflictError(err)
	}
	s.refreshVouchers(ctx, next.Vouchers)
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
	if cardUnsettled(p) {
		return Payment{}, kassa.Errorf(kassa.EConflict, "card_authorization_unknown",
			"the card authorization's outcome is not known yet; retry once it is resolved")
	}
	if p.MethodType == MethodCard && p.Status == StatusAuthorized {
		if err := s.voidCard(ctx, p); err != nil {
			return Payment{}, err
		}
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
	if p.Status == StatusRequiresAction && p.Card.AcquirerState == AcquirerChallenge {
		p.Card.TransStatus = "U" // the payer never answered the issuer
	}
	if p.MethodType == MethodCard && p.Status == StatusAuthorized {
		if err := s.voidCard(ctx, p); err != nil {
			return Payment{}, err
		}
	}
	return s.end(ctx, p, StatusExpired, EventExpired)
}

// end moves a requires_action or authorized payment to a final state,
// voiding its authorization in the same transaction.
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
	ts := make([]ledger.Transfer, len(p.Vouchers))
	for i, u := range p.Vouchers {
		ts[i] = ledger.Transfer{ID: fmt.Sprintf("pay:%s:release:%d", p.ID, u.Seq),
			PendingID: fmt.Sprintf("pay:%s:auth:%d", p.ID, u.Seq), Flags: ledger.FlagVoidPending}
	}
	if p.MethodType == MethodCard {
		ts = []ledger.Transfer{{ID: fmt.Sprintf("pay:%s:release:0", p.ID), PendingID: authTransferID(p), Flags: ledger.FlagVoidPending}}
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
	s.refreshVouchers(ctx, p.Vouchers)
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
		if cardUnsettled(p) {
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
