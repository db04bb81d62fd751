package payment

// The method pay_later: a logged-in, KYC-verified payer buys now and pays
// in 30 days (pay_in_30) or in three parts (pay_in_3: a third at purchase
// from their wallet, then +30 and +60 days). Package credit owns the
// plans, the credit check and the collections; this file books the
// purchase (docs/pay-later.md):
//
//   - authorization, linked: pay:<id>:auth:0 receivable → credit funding
//     and pay:<id>:auth:1 credit funding → merchant, the amount; for
//     pay_in_3 pay:<id>:auth:2 wallet → receivable, the first third.
//     Pending when held, posted with automatic capture. The transaction
//     refuses a receivable above the payer's limit (credit.CheckLimitTx),
//     so two purchases cannot race past it;
//   - capture: posts them (the captured amount, its first third), and
//     opens the plan in the same transaction;
//   - cancel / expiry: voids them;
//   - refund re_X: re_X:0 merchant → receivable, up to what the plan still
//     owes (merchant → credit loss, up to what was written off, for a
//     written-off plan); re_X:1 merchant → wallet, the rest (what the
//     payer paid).
//
// The payer is always the hosted page's session (ConfirmRequest.PayerID),
// as for kassa_balance: the merchant's API cannot buy on credit for
// anyone. MethodRef is "<cus>:<plan>:<unix time the terms were
// accepted>", and ":<card_...>" when the payer chose one of their own
// cards (ConfirmRequest.CardID, credit.PayerCard) to fund the plan. The
// merchant sees the method and the plan's name, never the payer's credit
// or card.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/risk"
)

// MethodPayLater is the pay later method's name.
const MethodPayLater = "pay_later"

// CodeTermsNotAccepted: a pay_later confirmation without the payer's
// explicit acceptance of the terms.
const CodeTermsNotAccepted = "terms_not_accepted"

// Credit is what pay_later needs of package credit (credit.Service).
type Credit interface {
	Offered(ctx context.Context, merchantID string) (bool, error)
	Offer(ctx context.Context, q credit.OfferRequest) (credit.Offer, error)
	EnsureAccounts(ctx context.Context, customerID string, cur money.Currency) error
	OpenTx(ctx context.Context, tx ledger.Tx, o credit.OpenRequest, t time.Time) error
	PrepareRefund(ctx context.Context, paymentID string, amount money.Amount) (credit.Refund, error)
	CommitRefundTx(ctx context.Context, tx ledger.Tx, r credit.Refund) error
	PlanByPayment(ctx context.Context, paymentID string) (credit.Plan, error)
	PayerCard(ctx context.Context, customerID, cardID string) (credit.Card, error)
}

func init() { RegisterMethod(payLaterMethod{}) }

type payLaterMethod struct{}

var (
	_ Method           = payLaterMethod{}
	_ refusalExplainer = payLaterMethod{}
	_ captureBooker    = payLaterMethod{}
	_ refundBooker     = payLaterMethod{}
)

func (payLaterMethod) Name() string { return MethodPayLater }

func (payLaterMethod) Enabled(s *Service) error {
	if s.cfg.Credit == nil {
		return kassa.Invalid("payment_method.type", "payment_method_unsupported", "pay later is not available on this server")
	}
	return nil
}

// Accounts: credit.EnsureAccounts creates the funding and the payer's
// accounts at authorization.
func (payLaterMethod) Accounts(money.Currency) []ledger.Account { return nil }

// payLaterRef is what MethodRef keeps.
type payLaterRef struct {
	payer, plan string
	accepted    time.Time
	card        string // the payer's card funding the plan; "": the wallet
}

func parsePayLaterRef(ref string) (payLaterRef, bool) {
	parts := strings.Split(ref, ":")
	if (len(parts) != 3 && len(parts) != 4) || !credit.ValidPlan(parts[1]) {
		return payLaterRef{}, false
	}
	sec, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return payLaterRef{}, false
	}
	r := payLaterRef{payer: parts[0], plan: parts[1], accepted: time.Unix(sec, 0).UTC()}
	if len(parts) == 4 {
		r.card = parts[3]
	}
	return r, true
}

// PayLaterPlan is the plan name of a pay_later payment ("" for another).
func PayLaterPlan(p Payment) string {
	if p.MethodType != MethodPayLater {
		return ""
	}
	r, _ := parsePayLaterRef(p.MethodRef)
	return r.plan
}

func payLaterAuthID(p Payment, n int) string { return fmt.Sprintf("pay:%s:auth:%d", p.ID, n) }

func (payLaterMethod) Resolve(ctx context.Context, s *Service, p Payment, req ConfirmRequest) (Instrument, error) {
	// The merchant's switch first: a merchant that does not offer pay
	// later (never one in gambling) learns only that, whoever asks.
	if on, err := s.cfg.Credit.Offered(ctx, p.MerchantID); err != nil {
		return Instrument{}, err
	} else if !on {
		return Instrument{}, kassa.Invalid("payment_method.type", credit.CodeNotEnabled, "this merchant does not offer pay later")
	}
	if req.PayerID == "" {
		return Instrument{}, kassa.Invalid("payment_method.type", CodeWalletLoginRequired,
			"log in to your Kassa account to pay later")
	}
	if p.PayerID != "" && p.PayerID != req.PayerID {
		return Instrument{}, kassa.Errorf(kassa.EForbidden, CodeWalletPayerMismatch,
			"this payment belongs to another Kassa account")
	}
	if !credit.ValidPlan(req.Plan) {
		return Instrument{}, kassa.Invalid("payment_method.plan", "plan_invalid", "payment_method.plan must be pay_in_30 or pay_in_3")
	}
	if !req.AcceptTerms {
		return Instrument{}, kassa.Invalid("payment_method.accept_terms", CodeTermsNotAccepted,
			"read and accept the pay later terms to pay later")
	}
	view := RiskView{Method: risk.MethodAccount}
	if _, err := s.cfg.Credit.Offer(ctx, credit.OfferRequest{PaymentID: p.ID, MerchantID: p.MerchantID, CustomerID: req.PayerID,
		Currency: p.Currency, Amount: p.Amount, Plan: req.Plan, IP: req.ClientIP, DeviceID: req.DeviceID,
		UserAgent: req.UserAgent}); err != nil {
		return Instrument{Risk: view}, err
	}
	if first := credit.FirstAtPurchase(req.Plan, p.Amount); first > 0 {
		avail, err := s.WalletAvailable(ctx, req.PayerID, p.Currency)
		if err != nil {
			return Instrument{}, err
		}
		if avail < first {
			return Instrument{Risk: view, Decline: true}, kassa.Invalid("payment_method.type", CodeWalletShort,
				"your Kassa balance in %s does not cover the first part", p.Currency)
		}
	}
	ref := fmt.Sprintf("%s:%s:%d", req.PayerID, req.Plan, s.now().Unix())
	if req.Token != "" {
		return Instrument{}, kassa.Invalid("payment_method.card", "card_required", "pay later is funded by a card of your Kassa account (card_...)")
	}
	if req.CardID != "" {
		// One of the payer's own cards, never a merchant's.
		if _, err := s.cfg.Credit.PayerCard(ctx, req.PayerID, req.CardID); err != nil {
			return Instrument{Risk: view}, err
		}
		ref += ":" + req.CardID
	}
	return Instrument{Risk: view, Use: func(p *Payment) { p.MethodRef = ref }}, nil
}

// Recheck: Authorize asks for the offer again.
func (payLaterMethod) Recheck(context.Context, *Service, Payment) (string, RiskView, error) {
	return "", RiskView{Method: risk.MethodAccount}, nil
}

func (payLaterMethod) Authorize(ctx context.Context, s *Service, p Payment, next *Payment, hold bool) (Authorization, error) {
	ref, ok := parsePayLaterRef(next.MethodRef)
	if !ok || ref.payer != next.PayerID {
		return Authorization{}, kassa.Errorf(kassa.EForbidden, CodeWalletPayerMismatch,
			"this payment belongs to another Kassa account")
	}
	// Asked again: the payer may have bought elsewhere while challenged.
	offer, err := s.cfg.Credit.Offer(ctx, credit.OfferRequest{PaymentID: p.ID, MerchantID: p.MerchantID, CustomerID: ref.payer,
		Currency: p.Currency, Amount: next.Amount, Plan: ref.plan})
	if err != nil {
		return Authorization{}, err
	}
	if err := s.cfg.Credit.EnsureAccounts(ctx, ref.payer, p.Currency); err != nil {
		return Authorization{}, err
	}
	recv, fund := credit.ReceivableAccount(ref.payer, p.Currency), credit.FundingAccount(p.Currency)
	ts := []ledger.Transfer{
		{ID: payLaterAuthID(p, 0), DebitAccountID: recv, CreditAccountID: fund, Amount: next.Amount, Currency: p.Currency,
			Code: credit.CodeTransferFunding, Flags: ledger.FlagLinked},
		{ID: payLaterAuthID(p, 1), DebitAccountID: fund, CreditAccountID: merchantAccount(p.MerchantID, p.Currency),
			Amount: next.Amount, Currency: p.Currency, Code: credit.CodeTransferFunding},
	}
	if first := credit.FirstAtPurchase(ref.plan, next.Amount); first > 0 {
		ts[1].Flags = ledger.FlagLinked
		ts = append(ts, ledger.Transfer{ID: payLaterAuthID(p, 2), DebitAccountID: payout.WalletAccount(ref.payer, p.Currency),
			CreditAccountID: recv, Amount: first, Currency: p.Currency, Code: credit.CodeTransferCollect})
	}
	limit := offer.Limit
	card := s.fundingCard(ctx, p, ref)
	effect := func(ctx context.Context, tx ledger.Tx, next Payment) error {
		if err := credit.CheckLimitTx(ctx, ref.payer, p.Currency, limit); err != nil {
			return err
		}
		if next.Status == StatusCaptured {
			return s.cfg.Credit.OpenTx(ctx, tx, openRequest(next, ref, card), next.Updated)
		}
		return nil
	}
	return Authorization{Transfers: ts, Effect: effect}, nil
}

func openRequest(p Payment, ref payLaterRef, card *credit.Card) credit.OpenRequest {
	return credit.OpenRequest{PaymentID: p.ID, MerchantID: p.MerchantID, CustomerID: ref.payer, Plan: ref.plan,
		Amount: p.AmountCaptured, Currency: p.Currency, AcceptedAt: ref.accepted, Card: card}
}

// fundingCard reads the card the payer chose for the plan, before the
// transaction that opens it. A card gone or expired since the payer
// chose it does not stop the merchant's capture: the plan is funded by
// the wallet, and the payer can choose another card on their account
// page.
func (s *Service) fundingCard(ctx context.Context, p Payment, ref payLaterRef) *credit.Card {
	if ref.card == "" {
		return nil
	}
	c, err := s.cfg.Credit.PayerCard(ctx, ref.payer, ref.card)
	if err != nil {
		s.log.WarnContext(ctx, "pay later: the payer's card is not usable; the plan is funded by the wallet",
			"payment", p.ID, "err", err)
		return nil
	}
	return &c
}

// explainRefusal: the wallet no longer covers the first part.
func (payLaterMethod) explainRefusal(err error, next Payment) error {
	var lr *ledgerRefusal
	if errors.As(err, &lr) && lr.code == ledger.ExceedsCredits {
		return kassa.Invalid("payment_method.type", CodeWalletShort,
			"your Kassa balance changed; it no longer covers the first part")
	}
	return err
}

func (payLaterMethod) Capture(ctx context.Context, s *Service, p Payment, amount money.Amount, next *Payment) ([]ledger.Transfer, error) {
	ref, _ := parsePayLaterRef(p.MethodRef)
	ts := []ledger.Transfer{
		{ID: "pay:" + p.ID + ":capture:0", PendingID: payLaterAuthID(p, 0), Amount: amount, Flags: ledger.FlagPostPending | ledger.FlagLinked},
		{ID: "pay:" + p.ID + ":capture:1", PendingID: payLaterAuthID(p, 1), Amount: amount, Flags: ledger.FlagPostPending},
	}
	if first := credit.FirstAtPurchase(ref.plan, amount); first > 0 {
		ts[1].Flags |= ledger.FlagLinked
		ts = append(ts, ledger.Transfer{ID: "pay:" + p.ID + ":capture:2", PendingID: payLaterAuthID(p, 2), Amount: first,
			Flags: ledger.FlagPostPending})
	}
	return ts, nil
}

// captureEffect opens the plan with the capture.
func (payLaterMethod) captureEffect(ctx context.Context, s *Service, next Payment) Effect {
	ref, _ := parsePayLaterRef(next.MethodRef)
	card := s.fundingCard(ctx, next, ref)
	return func(ctx context.Context, tx ledger.Tx, next Payment) error {
		return s.cfg.Credit.OpenTx(ctx, tx, openRequest(next, ref, card), next.Updated)
	}
}

func (payLaterMethod) Void(ctx context.Context, s *Service, p Payment) ([]ledger.Transfer, error) {
	ref, _ := parsePayLaterRef(p.MethodRef)
	n := 2
	if credit.FirstAtPurchase(ref.plan, p.Amount) > 0 {
		n = 3
	}
	var ts []ledger.Transfer
	for i := range n {
		ts = append(ts, ledger.Transfer{ID: fmt.Sprintf("pay:%s:release:%d", p.ID, i), PendingID: payLaterAuthID(p, i),
			Flags: ledger.FlagVoidPending})
	}
	return ts, nil
}

// Refund: see refundWithEffect, which the lifecycle calls instead.
func (m payLaterMethod) Refund(ctx context.Context, s *Service, r *Refund, p Payment, next *Payment) ([]ledger.Transfer, error) {
	return nil, errors.New("payment: pay_later refunds go through refundWithEffect")
}

// refundWithEffect takes the refund off what the plan still owes first;
// what the payer paid beyond that goes back to their wallet. The plan is
// written in the refund's transaction, at the version read here.
func (payLaterMethod) refundWithEffect(ctx context.Context, s *Service, r *Refund, p Payment, next *Payment) ([]ledger.Transfer, Effect, error) {
	ref, _ := parsePayLaterRef(p.MethodRef)
	pr, err := s.cfg.Credit.PrepareRefund(ctx, p.ID, r.Amount)
	if err != nil {
		return nil, nil, err
	}
	var ts []ledger.Transfer
	if pr.Applied > 0 {
		to := credit.ReceivableAccount(ref.payer, p.Currency)
		if pr.ToLoss {
			to = credit.LossAccount(p.Currency) // the plan was written off: the loss is repaid
		}
		ts = append(ts, ledger.Transfer{ID: r.ID + ":0", DebitAccountID: merchantAccount(p.MerchantID, p.Currency),
			CreditAccountID: to, Amount: pr.Applied, Currency: p.Currency, Code: credit.CodeTransferRefund})
	}
	if pr.Excess > 0 {
		if len(ts) > 0 {
			ts[0].Flags = ledger.FlagLinked
		}
		ts = append(ts, ledger.Transfer{ID: r.ID + ":1", DebitAccountID: merchantAccount(p.MerchantID, p.Currency),
			CreditAccountID: payout.WalletAccount(ref.payer, p.Currency), Amount: pr.Excess, Currency: p.Currency, Code: 11})
	}
	effect := func(ctx context.Context, tx ledger.Tx, _ Payment) error {
		if err := s.cfg.Credit.CommitRefundTx(ctx, tx, pr); errors.Is(err, credit.ErrConflict) {
			return ErrConflict
		} else if err != nil {
			return err
		}
		return nil
	}
	return ts, effect, nil
}

func (payLaterMethod) Payout(context.Context, *Service, Payment, money.Amount) error {
	return ErrPayoutUnsupported
}

func (payLaterMethod) Describe(p Payment) (*MethodJSON, *NextAction) {
	return &MethodJSON{Type: MethodPayLater, Plan: PayLaterPlan(p)}, nil
}

// Check compares a pay_later payment with its ledger transfers and its
// plan; credit.Service.Reconcile checks the plans against the
// receivables.
func (payLaterMethod) Check(ctx context.Context, s *Service, p Payment, bad func(string, ...any)) error {
	ref, ok := parsePayLaterRef(p.MethodRef)
	if !ok || ref.payer != p.PayerID {
		bad("pay later reference %q does not name the payer %s", p.MethodRef, p.PayerID)
		return nil
	}
	auth := payLaterAuthID(p, 1)
	t, _, err := s.led.Transfer(ctx, "", auth)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		if p.AmountCaptured > 0 || p.AmountCapturable > 0 {
			bad("ledger transfer %s missing", auth)
		}
		return nil
	case err != nil:
		return err
	}
	if t.Amount != p.Amount || t.DebitAccountID != credit.FundingAccount(p.Currency) ||
		t.CreditAccountID != merchantAccount(p.MerchantID, p.Currency) {
		bad("ledger transfer %s is %d from %s to %s, the payment says %d to the merchant", auth, t.Amount,
			t.DebitAccountID, t.CreditAccountID, p.Amount)
	}
	if t.Flags&ledger.FlagPending != 0 {
		if err := s.checkHold(ctx, p, auth, bad); err != nil {
			return err
		}
	} else if p.AmountCaptured != t.Amount {
		bad("ledger transfer %s posted %d, the payment captured %d", auth, t.Amount, p.AmountCaptured)
	}
	if p.Status != StatusCaptured {
		return nil
	}
	plan, err := s.cfg.Credit.PlanByPayment(ctx, p.ID)
	if kassa.ErrorKind(err) == kassa.ENotFound {
		bad("captured with pay later, no plan")
		return nil
	} else if err != nil {
		return err
	}
	if plan.Amount != p.AmountCaptured || plan.CustomerID != ref.payer || plan.Plan != ref.plan {
		bad("plan %s is %d %s for %s, the payment captured %d %s for %s", plan.ID, plan.Amount, plan.Plan,
			plan.CustomerID, p.AmountCaptured, ref.plan, ref.payer)
	}
	refunds, err := s.store.Refunds(ctx, p.ID)
	if err != nil {
		return err
	}
	var sum, toPlan money.Amount
	for _, r := range refunds {
		sum += r.Amount
		for i := range 2 {
			rt, _, err := s.led.Transfer(ctx, "", fmt.Sprintf("%s:%d", r.ID, i))
			if errors.Is(err, ledger.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if i == 0 {
				toPlan += rt.Amount
			}
		}
	}
	if sum != p.AmountRefunded {
		bad("refunds add up to %d, the payment says %d refunded", sum, p.AmountRefunded)
	}
	if toPlan != plan.Refunded {
		bad("refunds took %d off the receivable, the plan says %d", toPlan, plan.Refunded)
	}
	return nil
}
