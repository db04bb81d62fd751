package payment

import (
	"context"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/risk"
)

// A step-up challenge proves the payer of record, not whoever holds the
// payment's page: CompleteChallenge takes a pass only from the account
// that was the payment's payer when the challenge began (the caller,
// the challenge page, checked that the factor was that account's). A
// payment made without an account has no payer a Kassa account could
// prove; only a caller that verified the payer another way passes it
// with no PayerID.
//
// Minutes can go by between the confirmation and the pass. Meanwhile
// the vouchers' distributor may have locked one, a voucher or the card
// may have expired, and the merchant or a risk lock may have put one on
// a block list. So a passed challenge looks at what the payment held
// again before anything is authorized, and fails the payment instead.

// CodeChallengePayerMismatch refuses a challenge passed by an account
// that is not the payment's payer of record (kassa EForbidden).
const CodeChallengePayerMismatch = "challenge_payer_mismatch"

// payerOfRecord checks that payerID may pass p's challenge.
func payerOfRecord(p Payment, payerID string) error {
	if payerID != p.PayerID {
		return kassa.Errorf(kassa.EForbidden, CodeChallengePayerMismatch,
			"only the payment's payer can pass its challenge")
	}
	return nil
}

// recheckHeld looks again at the instrument p held while its payer was
// challenged (its method's Recheck, then the block lists). It returns
// the failure code that stops the payment, or "" when it may still pay.
func (s *Service) recheckHeld(ctx context.Context, p Payment) (string, error) {
	failure, view, err := methodOf(p).Recheck(ctx, s, p)
	if err != nil || failure != "" {
		return failure, err
	}
	if s.cfg.Risk == nil {
		return "", nil
	}
	// One look per voucher; a payment with none (a card) is looked at
	// once, by its fingerprint.
	for _, serial := range append([]string{view.VoucherSerial}, view.ExtraVoucherSerials...) {
		_, blocked, err := s.cfg.Risk.Blocked(ctx, p.MerchantID, serial, view.CardFingerprint)
		if err != nil {
			return "", err
		}
		if blocked {
			return FailureRiskBlocked, nil
		}
	}
	return "", nil
}

// failHeld fails p, whose challenge passed (rr), because what it held
// can no longer pay (failure).
func (s *Service) failHeld(ctx context.Context, p Payment, rr RiskResult, failure string) (Payment, error) {
	now := s.now().UTC()
	next := p
	next.Version++
	next.Status, next.FailureCode, next.ExpiresAt, next.Updated, next.Risk = StatusFailed, failure, time.Time{}, now, rr
	evs, err := s.events(next, now, EventChallengePassed, EventFailed)
	if err != nil {
		return Payment{}, err
	}
	if err := s.store.UpdatePayment(ctx, next, evs); err != nil {
		return Payment{}, conflictError(err)
	}
	outcome := risk.OutcomeFailed
	if failure == FailureRiskBlocked {
		outcome = risk.OutcomeBlocked
	}
	s.outcome(ctx, p.MerchantID, p.Risk.EvaluationID, outcome)
	s.log.InfoContext(ctx, "payment: held instrument refused after the challenge", "payment", p.ID, "failure", failure)
	return next, nil
}
