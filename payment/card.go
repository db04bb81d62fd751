package payment

// Card payments.
//
// A card payment follows the voucher lifecycle (same states, events,
// refunds and webhooks); the money is what the acquirer owes the
// platform, in the ledger account card_clearing:<CUR> (platform
// namespace, no flags):
//
//   - authorization (manual capture): pending transfer pay:<id>:auth:0
//     card_clearing → merchant, with the ledger timeout of vouchers;
//     automatic capture: the same transfer posted.
//   - capture: pay:<id>:capture:0 posts it (partly: the rest is released).
//   - cancel / expiry: pay:<id>:release:0 voids it.
//   - refund re_X: re_X:0 merchant → card_clearing, pending while the
//     acquirer is asked; re_X:post posts it, re_X:void voids it (see
//     refund.go).
//
// Every acquirer call carries an idempotency key (pay_<id>:authorize,
// pay_<id>:capture, pay_<id>:void, pay_<id>:refund:<n>). Capture and void
// run before the ledger is written: when the acquirer refuses, nothing
// changes in Kassa. A refund is recorded pending first (refund.go).
//
// Never a double charge: before Authorize is called, the payment records
// acquirer_state "authorizing" and the idempotency key. An Authorize that
// times out leaves the payment in requires_action with acquirer_state
// "unknown"; neither a retried confirm nor the worker (ResolveUnknown)
// calls Authorize again: they Query the recorded key, and an approval is
// completed in the ledger under the deterministic transfer id
// pay:<id>:auth:0 with the payment's version checked, so exactly once.
//
// The PAN leaves the vault only for the acquirer call (Detokenize) and is
// never stored, logged or returned; payments keep the vault reference and
// brand, last4, expiry and fingerprint.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/vault"
	"github.com/kassa/kassa/webhook"
)

// Vault is what card payments need of the vault.
type Vault interface {
	UseToken(ctx context.Context, merchantID, tokenID string) (vault.Token, error)
	Card(ctx context.Context, merchantID, cardID string) (vault.Card, error)
	Detokenize(ctx context.Context, ref string) (pan, cvc string, err error)
	DestroyCVC(ctx context.Context, ref string) error
}

// Method types of payments.
const (
	MethodCard    = "card"
	MethodVoucher = "voucher"
)

// Failure codes of card payments besides the acquirer's decline codes.
const (
	FailureProcessingError = "processing_error"
)

// authorizingGrace is how long an Authorize recorded as running is left
// alone before it is treated as unknown (a crashed node): well past the
// acquirer timeout.
const authorizingGrace = time.Minute

func clearingAccount(cur money.Currency) string { return "card_clearing:" + string(cur) }

func authTransferID(p Payment) string { return fmt.Sprintf("pay:%s:auth:0", p.ID) }

func (s *Service) cardsEnabled() error {
	if s.cfg.Vault == nil || s.cfg.Acquirer == nil {
		return kassa.Invalid("payment_method.type", "payment_method_unsupported", "card payments are not enabled on this server")
	}
	return nil
}

func init() { RegisterMethod(cardMethod{}) }

// cardMethod is the card method; its steps are the Service's card
// functions below.
type cardMethod struct{}

var (
	_ Method        = cardMethod{}
	_ outsideMethod = cardMethod{}
)

func (cardMethod) Name() string { return MethodCard }

func (cardMethod) Enabled(s *Service) error { return s.cardsEnabled() }

func (cardMethod) Accounts(cur money.Currency) []ledger.Account {
	return []ledger.Account{{ID: clearingAccount(cur), Currency: cur, Code: 3}}
}

// Resolve reads the card token or stored card of a confirmation. A card
// token is single use: a payment that fails keeps the card it tried.
func (cardMethod) Resolve(ctx context.Context, s *Service, p Payment, req ConfirmRequest) (Instrument, error) {
	var ref string
	var d vault.CardDetails
	switch {
	case req.Token != "" && req.CardID != "":
		return Instrument{}, kassa.Invalid("payment_method.card", "card_and_token", "send either a token or a stored card, not both")
	case req.Token != "":
		t, err := s.cfg.Vault.UseToken(ctx, p.MerchantID, req.Token)
		if err != nil {
			return Instrument{}, err
		}
		ref, d = t.ID, t.Card
	case req.CardID != "":
		c, err := s.storedCard(ctx, p, req)
		if err != nil {
			return Instrument{}, err
		}
		ref, d = c.ID, c.Details
	default:
		return Instrument{}, kassa.Invalid("payment_method.token", "card_required", "send a card token (tok_...) or a stored card (card_...)")
	}
	use := CardUse{Ref: ref, Brand: string(d.Brand), Last4: d.Last4, ExpMonth: d.ExpMonth, ExpYear: d.ExpYear,
		Fingerprint: d.Fingerprint}
	return Instrument{Risk: RiskView{Method: risk.MethodCard, CardFingerprint: d.Fingerprint, CardCountry: vault.BINCountry(d.BIN)},
		Use: func(p *Payment) { p.Card = use }, KeptOnFailure: true}, nil
}

// Recheck: the card may have expired while its payer was challenged.
func (cardMethod) Recheck(ctx context.Context, s *Service, p Payment) (string, RiskView, error) {
	if cardExpired(p.Card, s.now().UTC()) {
		return acquirer.ExpiredCard, RiskView{}, nil
	}
	return "", RiskView{Method: risk.MethodCard, CardFingerprint: p.Card.Fingerprint}, nil
}

// Authorize records acquirer_state authorizing with the attempt's
// idempotency key before the acquirer is called: a retry or the worker
// then queries this key instead of authorizing again.
func (cardMethod) Authorize(ctx context.Context, s *Service, p Payment, next *Payment, hold bool) (Authorization, error) {
	// Each try has its own key: the acquirer must see a new card as a
	// new authorization, not as a replay of the declined one.
	key := p.ID + ":authorize"
	if next.Attempts > 1 {
		key += ":" + strconv.Itoa(next.Attempts)
	}
	next.Card.AcquirerState, next.Card.AttemptKey = AcquirerAuthorizing, key
	return Authorization{Call: func(ctx context.Context, recorded Payment) (Payment, error) {
		return s.authorizeCard(ctx, recorded, "")
	}}, nil
}

func (cardMethod) Capture(ctx context.Context, s *Service, p Payment, amount money.Amount, next *Payment) ([]ledger.Transfer, error) {
	return s.captureCard(ctx, p, amount)
}

func (cardMethod) Void(ctx context.Context, s *Service, p Payment) ([]ledger.Transfer, error) {
	if err := s.voidCard(ctx, p); err != nil {
		return nil, err
	}
	return []ledger.Transfer{{ID: fmt.Sprintf("pay:%s:release:0", p.ID), PendingID: authTransferID(p), Flags: ledger.FlagVoidPending}}, nil
}

// Refund reserves a card refund: pending (merchant → card_clearing)
// until the acquirer's outcome is recorded (refund.go).
func (cardMethod) Refund(ctx context.Context, s *Service, r *Refund, p Payment, next *Payment) ([]ledger.Transfer, error) {
	if err := s.cardsEnabled(); err != nil {
		return nil, err
	}
	if err := s.ensureClearing(ctx, p.Currency); err != nil {
		return nil, err
	}
	r.Status, r.AcquirerKey = RefundPending, fmt.Sprintf("%s:refund:%d", p.ID, r.Seq)
	return []ledger.Transfer{{ID: refundTransferID(*r), DebitAccountID: creditAccount(p),
		CreditAccountID: clearingAccount(p.Currency), Amount: r.Amount, Currency: p.Currency, Code: 11, Flags: ledger.FlagPending}}, nil
}

// Payout to the card (refund-to-card, original credit) comes with the
// payouts engine.
func (cardMethod) Payout(context.Context, *Service, Payment, money.Amount) error {
	return ErrPayoutUnsupported
}

func (cardMethod) Check(ctx context.Context, s *Service, p Payment, bad func(string, ...any)) error {
	return s.checkCardPayment(ctx, p, bad)
}

func (cardMethod) Describe(p Payment) (*MethodJSON, *NextAction) {
	m := &MethodJSON{Type: MethodCard, Card: &CardJSON{Brand: p.Card.Brand, Last4: p.Card.Last4, ExpMonth: p.Card.ExpMonth,
		ExpYear: p.Card.ExpYear, Fingerprint: p.Card.Fingerprint}}
	if p.Card.TransStatus != "" {
		m.Card.ThreeDSecure = &ThreeDSecureJSON{TransStatus: p.Card.TransStatus, ECI: p.Card.ECI}
	}
	var na *NextAction
	if p.Status == StatusRequiresAction && p.Card.AcquirerState == AcquirerChallenge {
		na = &NextAction{Type: "three_d_secure", ChallengeID: p.Card.ChallengeID}
	}
	return m, na
}

func (cardMethod) InFlight(p Payment) bool {
	return p.MethodType == MethodCard && p.Card.AcquirerState != ""
}

func (cardMethod) Unsettled(p Payment) bool { return cardUnsettled(p) }

// Answered: the merchant's confirm naming the challenge the payer's
// return from the issuer's page went on with.
func (cardMethod) Answered(p Payment, req ConfirmRequest) bool {
	return req.ChallengeID != "" && req.ChallengeID == p.Card.ChallengeID && p.Card.TransStatus != ""
}

// Abandon: the payer never answered the issuer.
func (cardMethod) Abandon(p *Payment) {
	if p.Status == StatusRequiresAction && p.Card.AcquirerState == AcquirerChallenge {
		p.Card.TransStatus = "U"
	}
}

// Continue goes on with a card authorization under way: an outcome not
// recorded yet is resolved by querying (never authorizing again); a 3-D
// Secure challenge goes on once the payer completed it.
func (cardMethod) Continue(ctx context.Context, s *Service, p Payment, req ConfirmRequest) (Payment, error) {
	if err := s.cardsEnabled(); err != nil {
		return Payment{}, err
	}
	switch p.Card.AcquirerState {
	case AcquirerAuthorizing, AcquirerUnknown:
		return s.resolve(ctx, p, true)
	case AcquirerChallenge:
		if req.ChallengeID == "" || req.ChallengeID != p.Card.ChallengeID {
			return Payment{}, kassa.Invalid("challenge_id", "challenge_id_invalid",
				"send the challenge_id of the payment's next_action once the payer completed it")
		}
		next := p
		next.Version++
		next.Updated = s.now().UTC()
		// The acquirer wants a new key for the authorization after the
		// challenge; the version makes it unique per attempt.
		next.Card.AcquirerState, next.Card.AttemptKey = AcquirerAuthorizing, p.ID+":authorize:3ds-"+strconv.FormatInt(next.Version, 10)
		if err := s.store.UpdatePayment(ctx, next, nil); err != nil {
			return Payment{}, conflictError(err)
		}
		return s.authorizeCard(ctx, next, req.ChallengeID)
	}
	return Payment{}, fmt.Errorf("payment %s: card acquirer state %q", p.ID, p.Card.AcquirerState)
}

// errStoredCardNotFound is the vault's answer for an unknown card: a
// caller that may not charge a stored card learns no more than that.
var errStoredCardNotFound = kassa.Errorf(kassa.ENotFound, "card_not_found", "no such card")

// storedCard returns the stored card req names if the caller may charge
// it: the merchant's server (secret key), or the payer of a payment bound
// to the card's customer — the customer the merchant named when it
// created the payment (with its secret key), or the Kassa account paying.
// A card id alone (learned from a receipt, a log, another payer) is not
// enough with the publishable key and a payment's client secret.
func (s *Service) storedCard(ctx context.Context, p Payment, req ConfirmRequest) (vault.Card, error) {
	c, err := s.cfg.Vault.Card(ctx, p.MerchantID, req.CardID)
	if err != nil {
		return vault.Card{}, err
	}
	if req.SecretKey || (c.CustomerID != "" && (c.CustomerID == p.Customer.ID || c.CustomerID == req.PayerID)) {
		return c, nil
	}
	s.log.Warn("card payment: stored card of another customer refused", "payment", p.ID, "card", c.ID)
	return vault.Card{}, errStoredCardNotFound
}

// authorizeCard calls the acquirer for p (acquirer_state authorizing, stored)
// under p.Card.AttemptKey and records the outcome.
func (s *Service) authorizeCard(ctx context.Context, p Payment, challengeID string) (Payment, error) {
	pan, cvc, err := s.cfg.Vault.Detokenize(ctx, p.Card.Ref)
	if err != nil {
		s.log.Error("card payment: detokenize", "payment", p.ID, "err", err)
		return s.failCard(ctx, p, FailureProcessingError)
	}
	res, aerr := s.cfg.Acquirer.Authorize(ctx, acquirer.AuthorizeRequest{IdempotencyKey: p.Card.AttemptKey, PAN: pan,
		ExpMonth: p.Card.ExpMonth, ExpYear: p.Card.ExpYear, CVC: cvc, Amount: p.Amount, Currency: p.Currency,
		Reference: p.ID, ChallengeID: challengeID})
	// The CVC is gone after the first attempt, whatever its outcome.
	if err := s.cfg.Vault.DestroyCVC(context.WithoutCancel(ctx), p.Card.Ref); err != nil {
		s.log.Warn("card payment: destroy CVC", "payment", p.ID, "err", err)
	}
	return s.settle(context.WithoutCancel(ctx), p, res, aerr)
}

// settle records an authorization outcome on p (as stored).
func (s *Service) settle(ctx context.Context, p Payment, res acquirer.Result, aerr error) (Payment, error) {
	var next Payment
	var err error
	if aerr == nil && res.TransStatus != "" {
		// Recorded with the outcome's own transition below.
		p.Card.TransStatus, p.Card.ECI = res.TransStatus, res.ECI
	}
	switch {
	case errors.Is(aerr, acquirer.ErrTimeout):
		if p.Card.AcquirerState == AcquirerUnknown {
			return p, nil
		}
		s.log.Warn("card payment: authorization outcome unknown", "payment", p.ID, "key", p.Card.AttemptKey)
		next = p
		next.Version++
		next.Updated, next.Card.AcquirerState = s.now().UTC(), AcquirerUnknown
		err = s.store.UpdatePayment(ctx, next, nil)
	case aerr != nil:
		s.log.Warn("card payment: authorization failed", "payment", p.ID, "err", aerr)
		next, err = s.cardDeclined(ctx, p, FailureProcessingError)
	case res.Status == acquirer.Declined:
		next, err = s.cardDeclined(ctx, p, res.DeclineCode)
		if err == nil {
			s.outcome(ctx, p.MerchantID, p.Risk.EvaluationID, risk.OutcomeDeclined)
		}
	case res.Status == acquirer.RequiresAction:
		next = p
		next.Version++
		next.Updated = s.now().UTC()
		next.Card.AcquirerState, next.Card.ChallengeID = AcquirerChallenge, res.ChallengeID
		err = s.store.UpdatePayment(ctx, next, nil)
	case res.Status == acquirer.Approved:
		next, err = s.approveCard(ctx, p, res.AuthorizationID)
		if err == nil {
			s.outcome(ctx, p.MerchantID, p.Risk.EvaluationID, risk.OutcomeApproved)
			if next.Risk.Review == risk.ReviewOpen {
				s.openReview(ctx, next)
			}
		}
	default:
		err = fmt.Errorf("acquirer answered %q", res.Status)
	}
	if errors.Is(err, ErrConflict) {
		// Settled meanwhile by another confirm or the worker.
		if cur, gerr := s.store.Payment(ctx, "", p.ID); gerr == nil && cur.Card.AcquirerState != AcquirerAuthorizing {
			return cur, nil
		}
	}
	if err != nil {
		return Payment{}, conflictError(err)
	}
	return next, nil
}

// cardDeclined records a declined try: the payment stays requires_action
// with the decline as its failure code, for the payer to try another
// card or method, until its try reaches Config.AttemptsMax (counted when
// the try was recorded), which fails it. A failed 3-D Secure
// authentication fails it at once: the issuer could not tell the
// cardholder from someone else.
func (s *Service) cardDeclined(ctx context.Context, p Payment, code string) (Payment, error) {
	if s.cfg.AttemptsMax == 0 || p.Attempts >= s.cfg.AttemptsMax || code == acquirer.AuthenticationFailed {
		return s.failCard(ctx, p, code)
	}
	next := p
	next.Version++
	next.Updated, next.FailureCode = s.now().UTC(), code
	next.Card.AcquirerState = ""
	if err := s.store.UpdatePayment(ctx, next, nil); err != nil {
		return Payment{}, err
	}
	return next, nil
}

// failCard ends p failed with the code and payment.failed.
func (s *Service) failCard(ctx context.Context, p Payment, failureCode string) (Payment, error) {
	now := s.now().UTC()
	next := p
	next.Version++
	next.Status, next.FailureCode, next.ExpiresAt, next.Updated = StatusFailed, failureCode, time.Time{}, now
	next.Card.AcquirerState = ""
	ev, err := s.event(next, EventFailed, now)
	if err != nil {
		return Payment{}, err
	}
	if err := s.store.UpdatePayment(ctx, next, []webhook.Event{ev}); err != nil {
		return Payment{}, err
	}
	return next, nil
}

// ensureClearing creates the card clearing account of the currency.
func (s *Service) ensureClearing(ctx context.Context, cur money.Currency) error {
	return s.ensurePlatformAccount(ctx, cardMethod{}.Accounts(cur)[0])
}

// ensurePlatformAccount creates a platform ledger account a method books
// against, once per process (creation is idempotent).
func (s *Service) ensurePlatformAccount(ctx context.Context, a ledger.Account) error {
	s.mu.Lock()
	known := s.accounts[a.ID]
	s.mu.Unlock()
	if known {
		return nil
	}
	res, err := s.led.CreateAccounts(ctx, "", []ledger.Account{a})
	if err != nil {
		return fmt.Errorf("ledger account %s: %w", a.ID, err)
	}
	if c := res[0].Code; c != ledger.OK && c != ledger.Exists {
		return fmt.Errorf("ledger account %s: %s", a.ID, c)
	}
	s.mu.Lock()
	s.accounts[a.ID] = true
	s.mu.Unlock()
	return nil
}

// approveCard records an approved authorization: the ledger transfer,
// the payment and its event in one transaction. With automatic capture it
// captures at the acquirer first; should that fail, the payment stays
// authorized for the merchant to capture.
func (s *Service) approveCard(ctx context.Context, p Payment, authID string) (Payment, error) {
	if err := s.ensureCredit(ctx, p); err != nil {
		return Payment{}, err
	}
	if err := s.ensureClearing(ctx, p.Currency); err != nil {
		return Payment{}, err
	}
	now := s.now().UTC()
	next := p
	next.Version++
	next.Updated = now
	next.Card.AcquirerState, next.Card.AuthorizationID = "", authID
	captured := false
	if p.CaptureMethod == CaptureAutomatic && p.Risk.Review != risk.ReviewOpen {
		_, err := s.cfg.Acquirer.Capture(ctx, acquirer.CaptureRequest{IdempotencyKey: p.ID + ":capture", AuthorizationID: authID, Amount: p.Amount})
		if err != nil {
			s.log.Warn("card payment: automatic capture failed; the payment stays authorized", "payment", p.ID, "err", err)
		}
		captured = err == nil
	}
	var flags ledger.TransferFlags
	var timeout time.Duration
	typ := EventCaptured
	if captured {
		next.Status, next.AmountCaptured, next.ExpiresAt = StatusCaptured, p.Amount, time.Time{}
	} else {
		window, err := s.captureWindow(ctx, p.MerchantID)
		if err != nil {
			return Payment{}, err
		}
		flags, timeout, typ = ledger.FlagPending, window+ledgerTimeoutMargin, EventAuthorized
		next.Status, next.AmountCapturable, next.ExpiresAt = StatusAuthorized, p.Amount, now.Add(window)
	}
	ts := []ledger.Transfer{{ID: authTransferID(p), DebitAccountID: clearingAccount(p.Currency),
		CreditAccountID: creditAccount(p), Amount: p.Amount, Currency: p.Currency,
		Code: 10, Flags: flags, Timeout: timeout}}
	var charge *Charge
	if captured {
		extra, c, err := s.charge(ctx, next, p.Amount, now)
		if err != nil {
			return Payment{}, err
		}
		ts, charge = append(ts, extra...), c
	}
	ev, err := s.event(next, typ, now)
	if err != nil {
		return Payment{}, err
	}
	_, err = s.led.CreateTransfersWith(ctx, "", ts, func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
		if err := checkResults(ts, results); err != nil {
			var lr *ledgerRefusal
			if errors.As(err, &lr) && (lr.code == ledger.Exists || len(lr.code) > 7 && lr.code[:7] == "exists_") {
				return ErrConflict
			}
			return err
		}
		if err := s.recordCharge(ctx, tx, charge); err != nil {
			return err
		}
		return s.store.UpdatePaymentTx(ctx, tx, next, []webhook.Event{ev})
	})
	if err != nil {
		return Payment{}, err
	}
	return next, nil
}

// resolve settles a payment whose authorization outcome is not recorded
// by querying its idempotency key; it never authorizes again.
func (s *Service) resolve(ctx context.Context, p Payment, fromConfirm bool) (Payment, error) {
	if p.Card.AcquirerState == AcquirerAuthorizing && s.now().Sub(p.Updated) < authorizingGrace {
		if fromConfirm {
			return Payment{}, kassa.Errorf(kassa.EConflict, "payment_processing", "the card authorization is still running; retry shortly")
		}
		return p, nil
	}
	res, err := s.cfg.Acquirer.Query(ctx, p.Card.AttemptKey)
	if errors.Is(err, acquirer.ErrNotFound) {
		// The acquirer never received the call: nothing was charged.
		return s.settle(ctx, p, acquirer.Result{Status: acquirer.Declined, DeclineCode: FailureProcessingError}, nil)
	}
	return s.settle(ctx, p, res, err)
}

// ResolveUnknown settles card payments whose authorization outcome is
// unknown (a timeout, a crash during the call) by querying the acquirer:
// an approval is completed in the ledger exactly once, a decline or a
// call the acquirer never received fails the payment. Pending card refunds
// are settled first (ResolveRefunds). It returns how many payments and
// refunds it settled.
func (s *Service) ResolveUnknown(ctx context.Context) (int, error) {
	if s.cfg.Acquirer == nil {
		return 0, nil
	}
	n, err := s.ResolveRefunds(ctx)
	if err != nil {
		return n, err
	}
	ps, err := s.store.AcquirerPending(ctx, dueBatchMax)
	if err != nil {
		return n, err
	}
	for _, p := range ps {
		q, err := s.resolve(ctx, p, false)
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			s.log.Warn("resolve card authorization", "payment", p.ID, "err", err)
			continue
		}
		if q.Card.AcquirerState != AcquirerUnknown && q.Card.AcquirerState != AcquirerAuthorizing {
			n++
		}
	}
	return n, nil
}

// acquirerError explains an acquirer's refusal of a follow-up call;
// nothing changed in Kassa.
func acquirerError(err error, op string) error {
	if errors.Is(err, acquirer.ErrTimeout) {
		return kassa.Errorf(kassa.EUnavailable, "acquirer_unavailable",
			"the card acquirer did not answer the %s in time; nothing changed, retry", op)
	}
	return kassa.Errorf(kassa.EConflict, "acquirer_refused", "the card acquirer refused the %s; nothing changed", op)
}

// captureCard captures at the acquirer; the caller posts in the ledger.
func (s *Service) captureCard(ctx context.Context, p Payment, amt money.Amount) ([]ledger.Transfer, error) {
	if err := s.cardsEnabled(); err != nil {
		return nil, err
	}
	if _, err := s.cfg.Acquirer.Capture(ctx, acquirer.CaptureRequest{IdempotencyKey: p.ID + ":capture",
		AuthorizationID: p.Card.AuthorizationID, Amount: amt}); err != nil {
		s.log.Warn("card payment: capture refused", "payment", p.ID, "err", err)
		return nil, acquirerError(err, "capture")
	}
	return []ledger.Transfer{{ID: fmt.Sprintf("pay:%s:capture:0", p.ID), PendingID: authTransferID(p),
		Amount: amt, Flags: ledger.FlagPostPending}}, nil
}

// voidCard releases a card authorization at the acquirer.
func (s *Service) voidCard(ctx context.Context, p Payment) error {
	if err := s.cardsEnabled(); err != nil {
		return err
	}
	if _, err := s.cfg.Acquirer.Void(ctx, acquirer.VoidRequest{IdempotencyKey: p.ID + ":void",
		AuthorizationID: p.Card.AuthorizationID}); err != nil {
		s.log.Warn("card payment: void refused", "payment", p.ID, "err", err)
		return acquirerError(err, "void")
	}
	return nil
}

// cardUnsettled reports whether a card payment's authorization outcome is
// not recorded yet (it must be resolved before it can end).
func cardUnsettled(p Payment) bool {
	return p.MethodType == MethodCard && (p.Card.AcquirerState == AcquirerAuthorizing || p.Card.AcquirerState == AcquirerUnknown)
}

// checkCardPayment compares a card payment with its ledger transfers.
// checkHold compares the pending authorization transfer auth with p's
// status: held while authorized, posted for what was captured, neither
// otherwise. Card and wallet payments share it.
func (s *Service) checkHold(ctx context.Context, p Payment, auth string, bad func(string, ...any)) error {
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
	return nil
}

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
			t.CreditAccountID != creditAccount(p) {
			bad("ledger transfer %s is %d %s from %s, the payment says %d by card", auth, t.Amount, t.Currency, t.DebitAccountID, p.Amount)
		}
		if t.Flags&ledger.FlagPending != 0 {
			if err := s.checkHold(ctx, p, auth, bad); err != nil {
				return err
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

// cardExpired reports whether a card is past its expiry at now: it is
// valid through the last day of its expiry month (UTC).
func cardExpired(c CardUse, now time.Time) bool {
	if c.ExpYear == 0 || c.ExpMonth < 1 || c.ExpMonth > 12 {
		return false // not known here; the acquirer decides
	}
	return !now.Before(time.Date(c.ExpYear, time.Month(c.ExpMonth)+1, 1, 0, 0, 0, 0, time.UTC))
}
