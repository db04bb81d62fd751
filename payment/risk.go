package payment

// Risk.
//
// Every confirmation is scored before money moves (risk.Engine.Evaluate):
// the payment's amount and merchant, the payer's voucher or card, the
// customer the merchant named, the IP, user agent and the hosted page's
// client signals. The decision acts on the payment:
//
//   - allow: authorization goes on as without risk.
//   - challenge: the payment stays requires_action with next_action
//     risk_challenge and the factor (otp or passkey) the payer must pass.
//   - review: the payment is authorized but not captured, whatever its
//     capture method, and a review case is opened; approving captures it
//     (automatic capture) or leaves it to the merchant, rejecting cancels
//     it and labels it fraud.
//   - block: the payment fails with failure_code risk_blocked.
//
// Failed attempts (a wrong PIN, a voucher that does not cover the amount,
// a card decline) are scored and reported too, so velocity features and
// automatic locks see them. The decision's summary is stored on the
// payment in the transaction of the transition it caused; the full
// evaluation (features, reasons) is stored by the engine.
//
// Scoring fails open: when the engine errs, the payment goes on and the
// error is logged, so a risk outage does not stop payments.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/webhook"
)

// Risk is what payments need of the risk engine.
type Risk interface {
	Evaluate(ctx context.Context, in risk.Input, wait bool) (risk.Evaluation, error)
	// RecordOutcome tells the engine what became of an evaluated attempt
	// (risk.Engine.RecordOutcome: stored in the background).
	RecordOutcome(ctx context.Context, merchantID, evaluationID, outcome string) error
	OpenReview(ctx context.Context, ev risk.Evaluation, paymentID string) (risk.ReviewCase, error)
	Review(ctx context.Context, merchantID, id string) (risk.ReviewCase, error)
	CloseReview(ctx context.Context, c risk.ReviewCase, status, note string) (risk.ReviewCase, error)
	// Blocked looks at the block lists (locks included) for a voucher
	// serial or card fingerprint without scoring (risk.Engine.Blocked).
	Blocked(ctx context.Context, merchantID, voucherSerial, cardFingerprint string) (risk.Reason, bool, error)
}

// RiskResult is the risk decision stored on a payment.
type RiskResult struct {
	EvaluationID string
	Score        int // -1: not scored
	Level        string
	Decision     string
	Factor       string
	Reasons      []risk.Reason
	Review       string // "" none, or the review case's status
	// Challenge is the step-up a challenge decision asked for: "" none,
	// pending, passed, failed or abandoned; TransStatus and ECI record its
	// outcome the way 3-D Secure does (Y authenticated, N not, U not
	// completed; ECI 05 fully authenticated, 07 not).
	Challenge   string
	TransStatus string
	ECI         string
}

// Challenge states.
const (
	ChallengePending   = "pending"
	ChallengePassed    = "passed"
	ChallengeFailed    = "failed"
	ChallengeAbandoned = "abandoned"
)

// Event types of step-up challenges.
const (
	EventChallengePassed = "payment.challenge_passed"
	EventChallengeFailed = "payment.challenge_failed"
)

func init() {
	webhook.RegisterEventType(EventChallengePassed)
	webhook.RegisterEventType(EventChallengeFailed)
}

// Customer is who pays, as the merchant knows them: optional, and used
// only for risk (velocity and habits per customer and email, billing
// country against the IP's).
type Customer struct {
	ID             string
	Email          string
	BillingCountry string
	// Phone is the payer's mobile number (E.164, "+436601234567"): with
	// Email, where the step-up's one-time code can go when the payer has
	// no Kassa account.
	Phone string
}

// Failure codes of risk decisions.
const (
	FailureRiskBlocked     = "risk_blocked"
	FailureChallengeFailed = "challenge_failed"
)

// Customer field limits.
const (
	customerIDMax  = 255
	emailMax       = 254
	phoneDigitsMin = 8
	phoneDigitsMax = 15
)

func validateCustomer(c Customer) (Customer, error) {
	c.Email = strings.ToLower(strings.TrimSpace(c.Email))
	c.BillingCountry = strings.ToUpper(c.BillingCountry)
	if len(c.ID) > customerIDMax {
		return c, kassa.Invalid("customer.id", "customer_invalid", "customer.id may be at most %d bytes", customerIDMax)
	}
	if c.Email != "" && (len(c.Email) > emailMax || !strings.Contains(c.Email, "@")) {
		return c, kassa.Invalid("customer.email", "customer_invalid", "customer.email must be an email address of at most %d bytes", emailMax)
	}
	if c.Phone = strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(c.Phone)); c.Phone != "" && !e164(c.Phone) {
		return c, kassa.Invalid("customer.phone", "customer_invalid", "customer.phone must be a mobile number in E.164 form such as +436601234567")
	}
	if b := c.BillingCountry; b != "" && (len(b) != 2 || b[0] < 'A' || b[0] > 'Z' || b[1] < 'A' || b[1] > 'Z') {
		return c, kassa.Invalid("customer.billing_country", "customer_invalid", "customer.billing_country must be an ISO 3166-1 alpha-2 code")
	}
	return c, nil
}

// e164 reports whether s is "+" and 8 to 15 digits, the first not 0.
func e164(s string) bool {
	d, ok := strings.CutPrefix(s, "+")
	if !ok || len(d) < phoneDigitsMin || len(d) > phoneDigitsMax || d[0] == '0' {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// deviceID names the payer's device from the hosted page's fingerprint
// (until identity sets a device cookie): a hash, so the raw fingerprint
// is not kept.
func deviceID(sig risk.Signals) string {
	if sig.Fingerprint == "" {
		return ""
	}
	h := sha256.Sum256([]byte(sig.Fingerprint))
	return "dev_" + hex.EncodeToString(h[:12])
}

// riskEvent describes a confirmation attempt for the engine. The payer is
// their Kassa account when they are logged in; otherwise the merchant's
// customer id, scoped to the merchant (two shops' "42" are two people).
// serial is the first voucher the payer gave, extra the others: every
// one is checked against lists, locks and velocity.
func (s *Service) riskEvent(p Payment, req ConfirmRequest, view RiskView) risk.Event {
	customer := cmp.Or(req.PayerID, p.PayerID)
	if customer == "" && p.Customer.ID != "" {
		customer = p.MerchantID + "/" + p.Customer.ID
	}
	return risk.Event{ID: p.ID, Time: s.now().UTC(), Kind: risk.KindPayment, MerchantID: p.MerchantID,
		Amount: int64(p.Amount), Currency: string(p.Currency), Method: view.Method, CardFingerprint: view.CardFingerprint,
		VoucherSerial: view.VoucherSerial, ExtraVoucherSerials: view.ExtraVoucherSerials, CustomerID: customer, Email: p.Customer.Email, IP: req.ClientIP,
		UserAgent: req.UserAgent, BillingCountry: p.Customer.BillingCountry, CardCountry: view.CardCountry,
		DeviceID: cmp.Or(req.DeviceID, deviceID(req.Signals)), Signals: req.Signals, CredentialsChangedAt: req.CredentialsChangedAt.UTC(),
		CustomerCreatedAt: req.CustomerCreatedAt.UTC()}
}

// score evaluates an attempt; ok is false when there is no engine or it
// failed (then the payment goes on unscored).
func (s *Service) score(ctx context.Context, p Payment, req ConfirmRequest, view RiskView) (risk.Evaluation, bool) {
	if s.cfg.Risk == nil {
		return risk.Evaluation{}, false
	}
	ev, err := s.cfg.Risk.Evaluate(ctx, risk.Input{Event: s.riskEvent(p, req, view), Subject: p.ID}, false)
	if err != nil {
		s.log.Error("payment: risk evaluation failed; going on unscored", "payment", p.ID, "err", err)
		return risk.Evaluation{}, false
	}
	return ev, true
}

// prepare makes sure the ledger accounts an authorization of p with m
// needs exist (the merchant's; the method's, such as the card clearing
// account), in the background: the caller scores meanwhile and then
// waits for the result.
func (s *Service) prepare(ctx context.Context, p Payment, m Method) <-chan error {
	done := make(chan error, 1)
	go func() {
		err := s.ensureCredit(ctx, p)
		for _, a := range m.Accounts(p.Currency) {
			if err == nil {
				err = s.ensurePlatformAccount(ctx, a)
			}
		}
		done <- err
	}()
	return done
}

// outcome tells the engine what became of an evaluated attempt.
func (s *Service) outcome(ctx context.Context, merchantID, evaluationID, outcome string) {
	if s.cfg.Risk == nil || evaluationID == "" {
		return
	}
	if err := s.cfg.Risk.RecordOutcome(context.WithoutCancel(ctx), merchantID, evaluationID, outcome); err != nil {
		s.log.Warn("payment: risk outcome", "evaluation", evaluationID, "err", err)
	}
}

// failedAttempt scores and reports an attempt that failed before a
// decision mattered (wrong PIN, not enough on the voucher), so velocity
// counts and locks see it; view is what the attempt got to (nothing
// worth scoring when its Method is "").
func (s *Service) failedAttempt(ctx context.Context, p Payment, req ConfirmRequest, view RiskView, cause error) {
	if s.cfg.Risk == nil || view.Method == "" || kassa.ErrorKind(cause) != kassa.EInvalid {
		return
	}
	if ev, ok := s.score(ctx, p, req, view); ok {
		s.outcome(ctx, p.MerchantID, ev.ID, risk.OutcomeFailed)
	}
}

// riskResult is the decision as the payment keeps it, and its merchant
// sees it: reasons from the platform's counts (which hold other
// merchants' payers) without their values (risk.MerchantReasons); the
// evaluation keeps them whole for the operator.
func riskResult(ev risk.Evaluation) RiskResult {
	return RiskResult{EvaluationID: ev.ID, Score: ev.Score, Level: ev.Level, Decision: ev.Decision,
		Factor: ev.Factor, Reasons: risk.MerchantReasons(ev)}
}

// block fails p (as stored; next carries what the attempt learned, such
// as the card) because of the decision.
func (s *Service) block(ctx context.Context, p, next Payment, ev risk.Evaluation) (Payment, error) {
	now := s.now().UTC()
	next.Version = p.Version + 1
	next.Status, next.FailureCode, next.ExpiresAt, next.Updated = StatusFailed, FailureRiskBlocked, time.Time{}, now
	next.Risk = riskResult(ev)
	e, err := s.event(next, EventFailed, now)
	if err != nil {
		return Payment{}, err
	}
	if err := s.store.UpdatePayment(ctx, next, []webhook.Event{e}); err != nil {
		return Payment{}, conflictError(err)
	}
	s.outcome(ctx, p.MerchantID, ev.ID, risk.OutcomeBlocked)
	return next, nil
}

// challenge keeps p waiting for the payer's second factor, with what the
// attempt resolved (the vouchers allocated, the card) so that passing the
// challenge can go on without asking again.
func (s *Service) challenge(ctx context.Context, p Payment, ev risk.Evaluation) (Payment, error) {
	next := p
	next.Version++
	next.Updated = s.now().UTC()
	next.Risk = riskResult(ev)
	next.Risk.Challenge = ChallengePending
	if err := s.store.UpdatePayment(ctx, next, nil); err != nil {
		return Payment{}, conflictError(err)
	}
	return next, nil
}

// ChallengeResult is what the step-up page reports.
type ChallengeResult struct {
	Passed bool
	// PayerID is the Kassa account that passed (or failed) the challenge.
	// A pass counts only from the payment's payer of record (see
	// payerOfRecord).
	PayerID string
}

// CompleteChallenge records the outcome of a payment's step-up challenge,
// which the identity module verified (a passkey assertion with user
// verification, a one-time code). Passed by the payer of record (else
// kassa EForbidden challenge_payer_mismatch, nothing changes),
// authorization goes on with the vouchers or card of the confirmation
// once they were looked at again (recheckHeld: a locked, expired or
// blocked one fails the payment); its outcome reaches the risk engine as
// usual. Failed, the payment fails with challenge_failed. It is called
// once; a second call is a conflict.
func (s *Service) CompleteChallenge(ctx context.Context, id string, r ChallengeResult) (Payment, error) {
	passed := r.Passed
	p, err := s.store.Payment(ctx, "", id)
	if err != nil {
		return Payment{}, err
	}
	if p.Status != StatusRequiresAction || p.Risk.Challenge != ChallengePending {
		return Payment{}, kassa.Errorf(kassa.EConflict, "challenge_not_pending", "the payment has no challenge waiting")
	}
	now := s.now().UTC()
	if !now.Before(p.ExpiresAt) {
		if _, err := s.expire(ctx, p); err != nil {
			return Payment{}, err
		}
		return Payment{}, kassa.Errorf(kassa.EConflict, "payment_expired", "the payment expired before the challenge was completed")
	}
	if passed {
		if err := payerOfRecord(p, r.PayerID); err != nil {
			return Payment{}, err
		}
	}
	p.PayerID = cmp.Or(r.PayerID, p.PayerID)
	if !passed {
		next := p
		next.Version++
		next.Status, next.FailureCode, next.ExpiresAt, next.Updated = StatusFailed, FailureChallengeFailed, time.Time{}, now
		next.Risk.Challenge, next.Risk.TransStatus, next.Risk.ECI = ChallengeFailed, "N", "07"
		evs, err := s.events(next, now, EventChallengeFailed, EventFailed)
		if err != nil {
			return Payment{}, err
		}
		if err := s.store.UpdatePayment(ctx, next, evs); err != nil {
			return Payment{}, conflictError(err)
		}
		s.outcome(ctx, p.MerchantID, p.Risk.EvaluationID, risk.OutcomeFailed)
		return next, nil
	}
	rr := p.Risk
	rr.Challenge, rr.TransStatus, rr.ECI = ChallengePassed, "Y", "05"
	if failure, err := s.recheckHeld(ctx, p); err != nil {
		return Payment{}, err
	} else if failure != "" {
		return s.failHeld(ctx, p, rr, failure)
	}
	return s.authorize(ctx, p, p, methodOf(p), rr, EventChallengePassed)
}

// openReview puts an authorized payment in the review queue.
func (s *Service) openReview(ctx context.Context, p Payment) {
	if s.cfg.Risk == nil {
		return
	}
	ev := risk.Evaluation{ID: p.Risk.EvaluationID, MerchantID: p.MerchantID, Score: p.Risk.Score, Reasons: p.Risk.Reasons}
	if _, err := s.cfg.Risk.OpenReview(context.WithoutCancel(ctx), ev, p.ID); err != nil {
		s.log.Error("payment: open review case", "payment", p.ID, "err", err)
	}
}

// ResolveReview approves or rejects a payment held for review. Approving
// captures it when its capture method is automatic (else the merchant
// captures it as usual); rejecting cancels it and labels it fraud.
func (s *Service) ResolveReview(ctx context.Context, merchantID, reviewID string, approve bool, note string) (risk.ReviewCase, Payment, error) {
	if s.cfg.Risk == nil {
		return risk.ReviewCase{}, Payment{}, kassa.Errorf(kassa.ENotFound, "review_not_found", "no such review")
	}
	c, err := s.cfg.Risk.Review(ctx, merchantID, reviewID)
	if err != nil {
		return risk.ReviewCase{}, Payment{}, err
	}
	if c.Status != risk.ReviewOpen {
		return risk.ReviewCase{}, Payment{}, kassa.Errorf(kassa.EConflict, "review_closed", "the review is %s already", c.Status)
	}
	p, err := s.store.Payment(ctx, merchantID, c.PaymentID)
	if err != nil {
		return risk.ReviewCase{}, Payment{}, err
	}
	status := risk.ReviewApproved
	if !approve {
		status = risk.ReviewRejected
	}
	// A payment already acted on (a retry after the case failed to close)
	// is left as it is.
	if p.Risk.Review == risk.ReviewOpen {
		switch {
		case p.Status != StatusAuthorized:
			p.Risk.Review = status
			p.Version++
			p.Updated = s.now().UTC()
			err = s.store.UpdatePayment(ctx, p, nil)
		case approve && p.CaptureMethod == CaptureAutomatic:
			p, err = s.capture(ctx, p, nil, status)
		case approve:
			p.Risk.Review = status
			p.Version++
			p.Updated = s.now().UTC()
			err = s.store.UpdatePayment(ctx, p, nil)
		default:
			p, err = s.cancel(ctx, p, status)
		}
		if err != nil {
			return risk.ReviewCase{}, Payment{}, conflictError(err)
		}
	}
	c, err = s.cfg.Risk.CloseReview(ctx, c, status, note)
	if err != nil {
		return risk.ReviewCase{}, Payment{}, err
	}
	return c, p, nil
}

// inReview refuses merchant actions on a payment an analyst must decide.
func inReview(p Payment) error {
	if p.Risk.Review == risk.ReviewOpen {
		return kassa.Errorf(kassa.EConflict, "payment_in_review", "the payment is held for review; approve or reject the review first")
	}
	return nil
}
