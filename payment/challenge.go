package payment

import (
	"context"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/voucher"
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

// recheckHeld looks again at the vouchers or card p held while its payer
// was challenged. It returns the failure code that stops the payment, or
// "" when everything may still pay.
func (s *Service) recheckHeld(ctx context.Context, p Payment) (string, error) {
	now := s.now().UTC()
	var serials []string
	fingerprint := ""
	if p.MethodType == MethodCard {
		if cardExpired(p.Card, now) {
			return acquirer.ExpiredCard, nil
		}
		fingerprint = p.Card.Fingerprint
	} else {
		for _, u := range p.Vouchers {
			v, err := s.cfg.Vouchers.Refresh(ctx, u.Serial)
			if err != nil {
				return "", err
			}
			if code, bad := voucherFailures[v.Status]; bad {
				return code, nil
			}
			serials = append(serials, u.Serial)
		}
	}
	if s.cfg.Risk == nil {
		return "", nil
	}
	// One look per voucher; a card payment has none, and its fingerprint
	// is looked at once.
	if len(serials) == 0 {
		serials = []string{""}
	}
	for _, serial := range serials {
		_, blocked, err := s.cfg.Risk.Blocked(ctx, p.MerchantID, serial, fingerprint)
		if err != nil {
			return "", err
		}
		if blocked {
			return FailureRiskBlocked, nil
		}
	}
	return "", nil
}

// voucherFailures are the failure codes of vouchers that can no longer pay.
var voucherFailures = map[voucher.Status]string{
	voucher.StatusLocked:      voucher.CodeLocked,
	voucher.StatusExpired:     voucher.CodeExpired,
	voucher.StatusInvalidated: voucher.CodeInvalidated,
	voucher.StatusDepleted:    voucher.CodeDepleted,
}

// cardExpired reports whether a card is past its expiry at now: it is
// valid through the last day of its expiry month (UTC).
func cardExpired(c CardUse, now time.Time) bool {
	if c.ExpYear == 0 || c.ExpMonth < 1 || c.ExpMonth > 12 {
		return false // not known here; the acquirer decides
	}
	return !now.Before(time.Date(c.ExpYear, time.Month(c.ExpMonth)+1, 1, 0, 0, 0, 0, time.UTC))
}

// failHeld fails p, whose challenge passed (rr), because what it held
// can no longer pay (failure).
func (s *Service) failHeld(ctx context.Context, p Payment, rr RiskResult, failure string) (Payment, error) {
	now := s.now().UTC()
	next := p
	next.Version++
	next.Status, next.FailureCode, next.ExpiresAt, next.Updated, next.Risk = StatusFailed, failure, time.Time{}, now, rr
	next.Card.AcquirerState, next.Card.AttemptKey = "", ""
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
