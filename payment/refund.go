package payment

// Refunds.
//
// A voucher refund moves the money back in Kassa's ledger only
// (re_X:<n> merchant → voucher) and succeeds in one transaction.
//
// A card refund must reach the acquirer, and Kassa records it before it
// calls, so that no refund ever happens at the acquirer that Kassa does
// not know of:
//
//  1. Reserve: the refund is stored pending with its sequence n among the
//     payment's refunds and the acquirer idempotency key
//     <payment id>:refund:<n>; its amount is reserved by the pending
//     ledger transfer re_X:0 (merchant → card_clearing) and on the
//     payment (amount_refund_pending), in one transaction that checks the
//     payment's version. Concurrent refunds therefore never reserve more
//     than was captured.
//  2. The acquirer's Refund under that key.
//  3. Approved: re_X:post posts re_X:0 and the refund succeeds
//     (refund.created, payment.refunded). Refused: re_X:void voids it and
//     the refund fails (refund.failed). No answer: it stays pending.
//
// A pending refund whose request ended without an outcome (a timeout, a
// crash) is settled by the worker (ResolveUnknown): it queries the key,
// and when the acquirer never received the call, sends it again under the
// same key. The key makes the acquirer refund at most once; the outcome
// is written once, because its update checks that the refund is still
// pending and the payment's version. A merchant's retry under the same
// Idempotency-Key finds the refund it created instead of making another.

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/webhook"
)

// RefundRequest asks to return captured money.
type RefundRequest struct {
	Payment string
	Amount  *money.Amount // nil: everything not yet refunded
	Reason  string
	// RequestKey is the merchant's Idempotency-Key ("" none): a request
	// repeated with it returns the refund it created, never a second one.
	RequestKey string
}

// Limits of refunds.
const (
	// refundAttemptsMax bounds how often a refund is tried again after the
	// payment changed under it (a concurrent refund, capture, ...).
	refundAttemptsMax = 32
	// refundGrace is how long a pending card refund is left to the request
	// that made it before the worker settles it.
	refundGrace = authorizingGrace
	// RequestKeyMax bounds a refund's RequestKey (as the API's
	// Idempotency-Key).
	RequestKeyMax = 255
	// RequestKeyTTL is how long a RequestKey finds its refund (as the
	// API remembers an Idempotency-Key); later the key is free again.
	RequestKeyTTL = 24 * time.Hour
)

// CreateRefund returns captured money: to the payer's vouchers in reverse
// PIN order, each up to what it paid and was not refunded yet; to the
// card through the acquirer (see above). A card refund whose acquirer
// outcome is unknown is returned pending; a refused one is recorded
// failed and answered acquirer_refused.
func (s *Service) CreateRefund(ctx context.Context, merchantID string, req RefundRequest) (Refund, Payment, error) {
	return s.createRefund(ctx, merchantID, req)
}

// createRefund refunds and emits refund.created, payment.refunded and any
// extra payment event types (the extra ones when a card refund is
// reserved).
func (s *Service) createRefund(ctx context.Context, merchantID string, req RefundRequest, extra ...string) (Refund, Payment, error) {
	if len(req.Reason) > ReasonMax {
		return Refund{}, Payment{}, kassa.Invalid("reason", "reason_invalid", "reason may be at most %d bytes", ReasonMax)
	}
	if len(req.RequestKey) > RequestKeyMax {
		return Refund{}, Payment{}, kassa.Invalid("Idempotency-Key", "idempotency_key_invalid", "the Idempotency-Key may be at most %d characters", RequestKeyMax)
	}
	for attempt := 1; ; attempt++ {
		r, p, err := s.refundOnce(ctx, merchantID, req, extra)
		if errors.Is(err, ErrConflict) && attempt < refundAttemptsMax {
			continue // the payment changed: read it again
		}
		if err != nil {
			return Refund{}, Payment{}, conflictError(err)
		}
		switch r.Status {
		case RefundPending:
			return s.sendRefund(ctx, r, p)
		case RefundFailed: // a repeated request: the first one's answer
			return r, p, refusedError(r)
		}
		return r, p, nil
	}
}

// refundOnce makes the refund on the payment as read now: a voucher
// refund completely, a card refund reserved (pending). A refund made
// earlier under req.RequestKey is returned instead.
func (s *Service) refundOnce(ctx context.Context, merchantID string, req RefundRequest, extra []string) (Refund, Payment, error) {
	if req.RequestKey != "" {
		r, err := s.store.RefundByRequestKey(ctx, merchantID, req.RequestKey)
		switch {
		case err == nil && s.now().Sub(r.Created) < RequestKeyTTL:
			return s.replayRefund(ctx, r, req)
		case err != nil && kassa.ErrorKind(err) != kassa.ENotFound:
			return Refund{}, Payment{}, err
		}
	}
	// Under an Idempotency-Key the refund's id is derived from the key
	// and the request (newID): a retry whose first attempt committed but
	// answered an error finds that refund, even where the key was not
	// stored on it.
	rid, keyed := s.newID(ctx, "re")
	if keyed {
		r, err := s.store.Refund(ctx, merchantID, rid)
		switch {
		case err == nil:
			return s.replayRefund(ctx, r, req)
		case kassa.ErrorKind(err) != kassa.ENotFound:
			return Refund{}, Payment{}, err
		}
	}
	p, err := s.store.Payment(ctx, merchantID, req.Payment)
	if kassa.ErrorKind(err) == kassa.ENotFound {
		return Refund{}, Payment{}, kassa.Invalid("payment", "payment_not_found", "no such payment")
	} else if err != nil {
		return Refund{}, Payment{}, err
	}
	if p.Status != StatusCaptured {
		return Refund{}, Payment{}, stateError(p, "only a captured payment can be refunded")
	}
	refundable := p.AmountCaptured - p.AmountRefunded - p.AmountRefundPending
	amt := refundable
	if req.Amount != nil {
		if *req.Amount <= 0 || *req.Amount > refundable {
			return Refund{}, Payment{}, kassa.Invalid("amount", "amount_too_large",
				"amount must be from 1 to the %d captured and not yet refunded", refundable)
		}
		amt = *req.Amount
	}
	if amt <= 0 {
		return Refund{}, Payment{}, kassa.Errorf(kassa.EConflict, "payment_fully_refunded", "nothing is left to refund")
	}
	now := s.now().UTC()
	r := Refund{ID: rid, PaymentID: p.ID, MerchantID: p.MerchantID, Amount: amt, Currency: p.Currency,
		Reason: req.Reason, Status: RefundSucceeded, Created: now, Seq: p.RefundSeq + 1, RequestKey: req.RequestKey}
	next := p
	next.Version++
	next.RefundSeq = r.Seq
	next.Updated = now
	return s.bookRefund(ctx, r, p, next, extra)
}

// replayRefund answers a request repeated under the Idempotency-Key of
// refund r: the same refund, never a second one.
func (s *Service) replayRefund(ctx context.Context, r Refund, req RefundRequest) (Refund, Payment, error) {
	if r.PaymentID != req.Payment || (req.Amount != nil && *req.Amount != r.Amount) {
		return Refund{}, Payment{}, kassa.Errorf(kassa.EUnprocessable, "idempotency_key_reused",
			"this Idempotency-Key made refund %s of another payment or amount; use a new key for a new request", r.ID)
	}
	p, err := s.store.Payment(ctx, r.MerchantID, r.PaymentID)
	return r, p, err
}

// bookRefund makes refund r of p with p's method: a refund its method
// books at once succeeds with refund.created and payment.refunded; one
// its method sends to an outside party is stored pending, its amount
// reserved in the ledger and on the payment, before that party hears of
// it (createRefund then sends it).
func (s *Service) bookRefund(ctx context.Context, r Refund, p, next Payment, extra []string) (Refund, Payment, error) {
	ts, effect, err := refundOf(ctx, s, &r, p, &next)
	if err != nil {
		return Refund{}, Payment{}, err
	}
	var evs []webhook.Event
	if r.Status == RefundPending {
		next.AmountRefundPending += r.Amount
		evs, err = s.refundEvents(r, next, "", extra)
	} else {
		next.AmountRefunded += r.Amount
		evs, err = s.refundEvents(r, next, EventRefundCreated, append([]string{EventRefunded}, extra...))
	}
	if err != nil {
		return Refund{}, Payment{}, err
	}
	_, err = s.led.CreateTransfersWith(ctx, "", ts, func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
		if err := checkResults(ts, results); err != nil {
			return err
		}
		if err := s.store.CreateRefundTx(ctx, tx, r, next, evs); err != nil {
			return err
		}
		return runEffect(ctx, tx, effect, next)
	})
	if err != nil {
		return Refund{}, Payment{}, topUpRefusal(err, p)
	}
	if r.Status != RefundPending {
		s.moved(ctx, next)
	}
	return r, next, nil
}

// refundEvents builds the refund's event (refType, "" none) and the
// payment's events.
func (s *Service) refundEvents(r Refund, p Payment, refType string, payTypes []string) ([]webhook.Event, error) {
	now := s.now().UTC()
	evs, err := s.events(p, now, payTypes...)
	if err != nil || refType == "" {
		return evs, err
	}
	rev, err := s.refundEvent(r, refType, now)
	if err != nil {
		return nil, err
	}
	return append([]webhook.Event{rev}, evs...), nil
}

func refundTransferID(r Refund) string { return r.ID + ":0" }

// sendRefund calls the acquirer for the pending card refund r of p and
// records the outcome; an unknown outcome leaves it pending for the
// worker.
func (s *Service) sendRefund(ctx context.Context, r Refund, p Payment) (Refund, Payment, error) {
	res, aerr := s.cfg.Acquirer.Refund(ctx, acquirer.RefundRequest{IdempotencyKey: r.AcquirerKey,
		AuthorizationID: p.Card.AuthorizationID, Amount: r.Amount})
	return s.finishRefund(context.WithoutCancel(ctx), r, p, res, aerr)
}

// finishRefund records the acquirer's answer to refund r. It returns the
// refund as it now stands; a refusal is also an acquirer_refused error.
func (s *Service) finishRefund(ctx context.Context, r Refund, p Payment, res acquirer.Result, aerr error) (Refund, Payment, error) {
	var status, failure string
	switch {
	case errors.Is(aerr, acquirer.ErrTimeout):
		s.log.Warn("card refund: outcome unknown; the worker settles it", "refund", r.ID, "key", r.AcquirerKey)
		return r, p, nil
	case errors.Is(aerr, acquirer.ErrIdempotencyMismatch):
		// The key names another request at the acquirer: never guess.
		s.log.Error("card refund: the acquirer knows its key for another request", "refund", r.ID, "key", r.AcquirerKey)
		return r, p, nil
	case errors.Is(aerr, acquirer.ErrInvalid) || errors.Is(aerr, acquirer.ErrNotFound):
		s.log.Warn("card refund: refused", "refund", r.ID, "err", aerr)
		status, failure = RefundFailed, "acquirer_refused"
	case aerr != nil:
		// Any other error (a canceled call, a broken connection) leaves
		// the outcome unknown: the acquirer may have refunded.
		s.log.Warn("card refund: outcome unknown; the worker settles it", "refund", r.ID, "key", r.AcquirerKey, "err", aerr)
		return r, p, nil
	case res.Status == acquirer.Approved && res.Operation == acquirer.OpRefund && res.Amount == r.Amount:
		status = RefundSucceeded
	case res.Status == acquirer.Declined:
		status, failure = RefundFailed, cmp.Or(res.DeclineCode, "acquirer_refused")
	default:
		// Not an answer to this refund: leave it pending, loudly.
		s.log.Error("card refund: the acquirer's answer does not match", "refund", r.ID, "key", r.AcquirerKey,
			"operation", res.Operation, "status", res.Status, "amount", res.Amount)
		return r, p, nil
	}
	for attempt := 1; ; attempt++ {
		done, q, err := s.recordRefund(ctx, r, status, failure)
		if errors.Is(err, ErrConflict) && attempt < refundAttemptsMax {
			continue
		}
		if err != nil {
			// The acquirer's outcome is known but not recorded: the
			// refund stays pending and the worker records it.
			s.log.Error("card refund: record outcome", "refund", r.ID, "status", status, "err", err)
			return r, p, nil
		}
		if done.Status == RefundFailed {
			return done, q, refusedError(done)
		}
		return done, q, nil
	}
}

func refusedError(r Refund) error {
	return kassa.Errorf(kassa.EConflict, "acquirer_refused", "the card acquirer refused refund %s; nothing was refunded", r.ID)
}

// recordRefund writes a pending card refund's outcome: posts or voids
// its reservation, with the refund, the payment and their events in one
// transaction. A refund settled meanwhile is returned as it stands.
func (s *Service) recordRefund(ctx context.Context, r Refund, status, failure string) (Refund, Payment, error) {
	// The payment is read before the refund: a settlement committed
	// between the two reads then shows in the refund (returned as it
	// stands), never only in the payment (whose pending amount would
	// no longer hold this refund's). A settlement after both reads makes
	// the write below a version conflict, and the caller reads again.
	p, err := s.store.Payment(ctx, r.MerchantID, r.PaymentID)
	if err != nil {
		return Refund{}, Payment{}, err
	}
	cur, err := s.store.Refund(ctx, r.MerchantID, r.ID)
	if err != nil {
		return Refund{}, Payment{}, err
	}
	if cur.Status != RefundPending {
		return cur, p, nil
	}
	done := cur
	done.Status, done.FailureCode = status, failure
	next := p
	next.Version++
	next.Updated = s.now().UTC()
	next.AmountRefundPending -= r.Amount
	var t ledger.Transfer
	var evs []webhook.Event
	if status == RefundSucceeded {
		next.AmountRefunded += r.Amount
		t = ledger.Transfer{ID: r.ID + ":post", PendingID: refundTransferID(r), Amount: r.Amount, Flags: ledger.FlagPostPending}
		evs, err = s.refundEvents(done, next, EventRefundCreated, []string{EventRefunded})
	} else {
		t = ledger.Transfer{ID: r.ID + ":void", PendingID: refundTransferID(r), Flags: ledger.FlagVoidPending}
		evs, err = s.refundEvents(done, next, EventRefundFailed, nil)
	}
	if err != nil {
		return Refund{}, Payment{}, err
	}
	if next.AmountRefundPending < 0 {
		// Reads that do not agree (the invariant holds in every stored
		// version): read again.
		s.log.Error("card refund: settles more than the payment holds pending; reading again", "payment", p.ID,
			"refund", r.ID, "amount", r.Amount, "pending", p.AmountRefundPending)
		return Refund{}, Payment{}, ErrConflict
	}
	ts := []ledger.Transfer{t}
	_, err = s.led.CreateTransfersWith(ctx, "", ts, func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
		if err := checkResults(ts, results); err != nil {
			var lr *ledgerRefusal
			if errors.As(err, &lr) && (lr.code == ledger.PendingTransferAlreadyPosted || lr.code == ledger.PendingTransferAlreadyVoided ||
				strings.HasPrefix(string(lr.code), string(ledger.Exists))) {
				return ErrConflict
			}
			return err
		}
		return s.store.UpdateRefundTx(ctx, tx, done, next, evs)
	})
	if err != nil {
		return Refund{}, Payment{}, err
	}
	return done, next, nil
}

// ResolveRefunds settles pending card refunds older than refundGrace by
// the acquirer's record of their idempotency key: an outcome is recorded
// exactly once; a call the acquirer never received is sent again under
// the same key. It returns how many it settled.
func (s *Service) ResolveRefunds(ctx context.Context) (int, error) {
	if s.cfg.Acquirer == nil {
		return 0, nil
	}
	rs, err := s.store.PendingRefunds(ctx, dueBatchMax)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rs {
		if s.now().Sub(r.Created) < refundGrace {
			continue
		}
		done, err := s.resolveRefund(ctx, r)
		if err != nil && kassa.ErrorKind(err) != kassa.EConflict {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			s.log.Warn("resolve card refund", "refund", r.ID, "err", err)
			continue
		}
		if done.Status != RefundPending {
			n++
		}
	}
	return n, nil
}

// resolveRefund settles one pending card refund.
func (s *Service) resolveRefund(ctx context.Context, r Refund) (Refund, error) {
	p, err := s.store.Payment(ctx, r.MerchantID, r.PaymentID)
	if err != nil {
		return r, err
	}
	res, err := s.cfg.Acquirer.Query(ctx, r.AcquirerKey)
	if errors.Is(err, acquirer.ErrNotFound) {
		// Never received (or refused without a record): the same key
		// again, which the acquirer carries out at most once.
		done, _, err := s.sendRefund(ctx, r, p)
		return done, err
	}
	done, _, err := s.finishRefund(ctx, r, p, res, err)
	return done, err
}

// GetRefund returns a merchant's refund.
func (s *Service) GetRefund(ctx context.Context, merchantID, id string) (Refund, error) {
	return s.store.Refund(ctx, merchantID, id)
}
