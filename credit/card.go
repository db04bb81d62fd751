package credit

// Collection from the payer's own card (docs/pay-later.md, "Funding").
//
// A payer's card for pay later belongs to their Kassa account, not to a
// merchant's customer: it is a stored card of the vault in the namespace
// of the platform merchant CardsMerchant, attached to the payer's
// customer id (SaveCard). Its PAN stays sealed in the vault; the
// collection reads it only for the acquirer call (Detokenize) and sends
// no CVC (a later payment the payer agreed to: the CVC is destroyed when
// the card is saved).
//
// Each plan has a funding source the payer chose (Terms.Funding): the
// wallet (the default) or one of their cards. A due instalment of a
// card-funded plan is collected in three steps, each safe to repeat:
//
//  1. claim: the plan's next version records the attempt's key
//     (<plan>:i<n>:a<attempt>, Instalment.Charging) and amount, with a
//     recheck time; a second node gets a version conflict and stops;
//  2. charge: Authorize (key <key>:authorize) and Capture (<key>:capture)
//     at the acquirer. An answer that does not come leaves the claim in
//     place: the next round, at the recheck time, asks Query for the
//     authorize key and captures under the same key, so the card is
//     charged once whatever happened (docs/security.md item 1);
//  3. book: approved, the ledger transfer <key> card_clearing →
//     receivable commits with the plan's paid version; declined, the
//     failure and its retry are recorded as for a short wallet.
//
// Pay_in_3's first third is taken at purchase from the wallet, also for
// a card-funded plan (the authorization books it in the same ledger
// batch as the purchase); the card collects the later parts.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/vault"
)

// CardsMerchant is the vault namespace of the cards payers keep in their
// Kassa account: the platform merchant of top-ups (payment.TopUpMerchant),
// whose hosted pages already take the payer's own cards.
const CardsMerchant = "mer_kassa_topup"

// Funding sources of a plan.
const (
	FundingWallet = "wallet"
	FundingCard   = "card"
)

// Funding is where a plan's instalments are collected from.
type Funding struct {
	Source string `json:"source"` // FundingWallet or FundingCard
	// Card is the payer's card (FundingCard only).
	Card *Card `json:"card,omitempty"`
}

// Card is a payer's card as a plan and the payer's pages show it.
type Card struct {
	ID       string `json:"id"` // card_... in CardsMerchant's namespace
	Brand    string `json:"brand"`
	Last4    string `json:"last4"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
}

// FundingOf is where p's instalments are collected from.
func FundingOf(p Plan) Funding {
	if p.Terms.Funding == nil || p.Terms.Funding.Source != FundingCard || p.Terms.Funding.Card == nil {
		return Funding{Source: FundingWallet}
	}
	return *p.Terms.Funding
}

// Vault is what card collection needs of the vault (vault.Service).
type Vault interface {
	Tokenize(ctx context.Context, merchantID string, in vault.CardInput) (vault.Token, error)
	Attach(ctx context.Context, merchantID, tokenID, customerID string) (vault.Card, error)
	Card(ctx context.Context, merchantID, cardID string) (vault.Card, error)
	Detokenize(ctx context.Context, ref string) (pan, cvc string, err error)
	DestroyCVC(ctx context.Context, ref string) error
}

var _ Vault = (*vault.Service)(nil)

const (
	// chargeRecheck is when a claimed card attempt whose outcome is not
	// recorded is looked at again: well past the acquirer's timeout.
	chargeRecheck = 2 * time.Minute
	// CodeCardsUnavailable: the server has no vault or acquirer.
	CodeCardsUnavailable = "pay_later_cards_unavailable"
)

var (
	errCardNotFound = kassa.Errorf(kassa.ENotFound, "card_not_found", "no such card")
	errCardsOff     = kassa.Errorf(kassa.EUnprocessable, CodeCardsUnavailable, "cards are not available for pay later on this server")
)

func (s *Service) cardsOn() error {
	if s.cfg.Vault == nil || s.cfg.Acquirer == nil {
		return errCardsOff
	}
	return nil
}

func fundingCardOf(c vault.Card) *Card {
	return &Card{ID: c.ID, Brand: string(c.Details.Brand), Last4: c.Details.Last4,
		ExpMonth: c.Details.ExpMonth, ExpYear: c.Details.ExpYear}
}

// SaveCard keeps the card of tokenID (a token of CardsMerchant, made
// from what the payer typed on their account page or the pay later
// checkout, with their consent) as a card of payer customerID, and
// destroys its CVC: later collections send none.
func (s *Service) SaveCard(ctx context.Context, customerID, tokenID string) (Card, error) {
	if err := s.cardsOn(); err != nil {
		return Card{}, err
	}
	if customerID == "" {
		return Card{}, errCardNotFound
	}
	c, err := s.cfg.Vault.Attach(ctx, CardsMerchant, tokenID, customerID)
	if err != nil {
		return Card{}, err
	}
	if err := s.cfg.Vault.DestroyCVC(ctx, c.ID); err != nil {
		return Card{}, err
	}
	return *fundingCardOf(c), nil
}

// UseNewCard tokenizes the card the payer typed on their account page
// (with their consent to have the plan collected from it), keeps it as
// their card and funds their open plan planID with it. The card is
// never kept for a plan that is not the payer's.
func (s *Service) UseNewCard(ctx context.Context, customerID, planID string, in vault.CardInput) (Plan, error) {
	if err := s.cardsOn(); err != nil {
		return Plan{}, err
	}
	if p, err := s.customerPlan(ctx, customerID, planID); err != nil {
		return Plan{}, err
	} else if !p.Status.Open() {
		return Plan{}, kassa.Errorf(kassa.EConflict, "plan_closed", "the plan is closed")
	}
	tok, err := s.cfg.Vault.Tokenize(ctx, CardsMerchant, in)
	if err != nil {
		return Plan{}, err
	}
	c, err := s.SaveCard(ctx, customerID, tok.ID)
	if err != nil {
		return Plan{}, err
	}
	return s.SetFunding(ctx, customerID, planID, c.ID)
}

// PayerCard returns payer customerID's card cardID; another payer's card,
// or a merchant's, is card_not_found.
func (s *Service) PayerCard(ctx context.Context, customerID, cardID string) (Card, error) {
	if err := s.cardsOn(); err != nil {
		return Card{}, err
	}
	c, err := s.cfg.Vault.Card(ctx, CardsMerchant, cardID)
	if kassa.ErrorKind(err) == kassa.ENotFound || (err == nil && (customerID == "" || c.CustomerID != customerID)) {
		return Card{}, errCardNotFound
	} else if err != nil {
		return Card{}, err
	}
	if cardExpired(c.Details.ExpMonth, c.Details.ExpYear, s.now()) {
		return Card{}, kassa.Invalid("card", "card_expired", "the card has expired")
	}
	return *fundingCardOf(c), nil
}

func cardExpired(month, year int, now time.Time) bool {
	now = now.UTC()
	return year < now.Year() || (year == now.Year() && month < int(now.Month()))
}

// SetFunding sets where the payer's open plan is collected from: their
// wallet (cardID "") or one of their cards. An instalment being charged
// keeps its card until its outcome is recorded.
func (s *Service) SetFunding(ctx context.Context, customerID, planID, cardID string) (Plan, error) {
	p, err := s.customerPlan(ctx, customerID, planID)
	if err != nil {
		return Plan{}, err
	}
	if !p.Status.Open() {
		return Plan{}, kassa.Errorf(kassa.EConflict, "plan_closed", "the plan is closed")
	}
	f := Funding{Source: FundingWallet}
	if cardID != "" {
		c, err := s.PayerCard(ctx, customerID, cardID)
		if err != nil {
			return Plan{}, err
		}
		f = Funding{Source: FundingCard, Card: &c}
	}
	for _, in := range p.Instalments {
		if in.Charging != "" {
			return Plan{}, kassa.Errorf(kassa.EConflict, "plan_changed", "an instalment is being collected; please try again in a few minutes")
		}
	}
	next := clonePlan(p)
	next.Terms.Funding = &f
	next.Version++
	next.Updated = s.now().UTC()
	if err := s.cfg.Store.UpdatePlan(ctx, next, nil); errors.Is(err, ErrConflict) {
		return Plan{}, kassa.Errorf(kassa.EConflict, "plan_changed", "the plan changed meanwhile; please try again")
	} else if err != nil {
		return Plan{}, err
	}
	return next, nil
}

// CardClearingAccount is what the acquirer owes the platform in cur (the
// card method's account, payment.clearingAccount).
func CardClearingAccount(cur money.Currency) string { return "card_clearing:" + string(cur) }

// outcome of one collection attempt.
type outcome int

const (
	outcomePaid outcome = iota + 1
	outcomeFailed
	outcomeUnknown // a card attempt whose answer did not come; rechecked later
)

// collectCard runs (or resumes) attempt in.Attempts+1 of instalment seq
// of a card-funded plan: claim, charge, book (see the file comment).
func (s *Service) collectCard(ctx context.Context, p Plan, seq int, now time.Time) (outcome, Plan, error) {
	if err := s.cardsOn(); err != nil {
		return 0, p, err
	}
	cur := p
	resume := p.Instalments[seq-1].Charging != ""
	if !resume {
		next := clonePlan(p)
		in := &next.Instalments[seq-1]
		in.Charging, in.ChargeAmount = collectID(p.ID, seq, in.Attempts+1), in.Amount
		// The reminder before the due date has no point once the
		// collection started.
		in.NextAttempt, in.Reminded = now.Add(chargeRecheck), true
		next.Version++
		next.Updated = now
		if err := s.cfg.Store.UpdatePlan(ctx, next, nil); err != nil {
			return 0, p, err
		}
		cur = next
	}
	in := cur.Instalments[seq-1]
	res, err := s.charge(ctx, cur, in, resume)
	if err != nil {
		// The outcome is unknown (or the card could not be read): the
		// claim stays; the round at in.NextAttempt asks again.
		s.log.WarnContext(ctx, "pay later card collection: no outcome yet", "plan", p.ID, "instalment", seq, "err", err)
		if resume {
			// Look again after another recheck period, not at once.
			next := clonePlan(cur)
			next.Instalments[seq-1].NextAttempt = now.Add(chargeRecheck)
			next.Version++
			next.Updated = now
			if err := s.cfg.Store.UpdatePlan(ctx, next, nil); err != nil {
				return 0, cur, err
			}
			cur = next
		}
		return outcomeUnknown, cur, nil
	}
	if res.Status != acquirer.Approved {
		s.log.InfoContext(ctx, "pay later card collection declined", "plan", p.ID, "instalment", seq, "code", res.DeclineCode)
		failed, err := s.fail(ctx, cur, seq, now)
		return outcomeFailed, failed, err
	}
	next := clonePlan(cur)
	before := next.Status
	next.paid(seq, now)
	next.Version++
	types := []string{EventInstalmentPaid}
	if next.Status == StatusSettled && before != StatusSettled {
		types = append(types, EventPlanSettled)
	}
	evs, err := s.events(next, now, types...)
	if err != nil {
		return 0, cur, err
	}
	t := ledger.Transfer{ID: in.Charging, DebitAccountID: CardClearingAccount(p.Currency),
		CreditAccountID: ReceivableAccount(p.CustomerID, p.Currency), Amount: in.ChargeAmount, Currency: p.Currency,
		Code: CodeTransferCollect}
	_, err = s.cfg.Ledger.CreateTransfersWith(ctx, "", []ledger.Transfer{t}, func(ctx context.Context, tx ledger.Tx, res []ledger.Result) error {
		switch res[0].Code {
		case ledger.OK:
		case ledger.Exists:
			return ErrConflict
		default:
			return fmt.Errorf("credit: ledger refused %s: %s", t.ID, res[0].Code)
		}
		return s.cfg.Store.UpdatePlanTx(ctx, tx, next, evs)
	})
	if err != nil {
		return 0, cur, err
	}
	return outcomePaid, next, nil
}

// charge authorizes and captures in.ChargeAmount on the plan's card under
// the attempt's keys. resume: the attempt was claimed before and may have
// reached the acquirer, so its authorize key is queried first. An error
// is an unknown outcome.
func (s *Service) charge(ctx context.Context, p Plan, in Instalment, resume bool) (acquirer.Result, error) {
	authKey, capKey := in.Charging+":authorize", in.Charging+":capture"
	var res acquirer.Result
	err := acquirer.ErrNotFound
	if resume {
		res, err = s.cfg.Acquirer.Query(ctx, authKey)
	}
	if errors.Is(err, acquirer.ErrNotFound) {
		f := FundingOf(p)
		if f.Card == nil {
			return acquirer.Result{Status: acquirer.Declined, DeclineCode: acquirer.GenericDecline}, nil
		}
		c, cerr := s.cfg.Vault.Card(ctx, CardsMerchant, f.Card.ID)
		if kassa.ErrorKind(cerr) == kassa.ENotFound || (cerr == nil && c.CustomerID != p.CustomerID) {
			return acquirer.Result{Status: acquirer.Declined, DeclineCode: acquirer.GenericDecline}, nil
		} else if cerr != nil {
			return res, cerr
		}
		pan, _, derr := s.cfg.Vault.Detokenize(ctx, c.ID)
		if derr != nil {
			return res, derr
		}
		res, err = s.cfg.Acquirer.Authorize(ctx, acquirer.AuthorizeRequest{IdempotencyKey: authKey, PAN: pan,
			ExpMonth: c.Details.ExpMonth, ExpYear: c.Details.ExpYear, Amount: in.ChargeAmount, Currency: p.Currency,
			Reference: p.PaymentID})
		pan = ""
	}
	if err != nil {
		return res, err
	}
	if res.Operation == acquirer.OpAuthorize && res.Status != acquirer.Approved {
		// Declined, or a challenge the payer is not here to answer.
		if res.Status == acquirer.RequiresAction {
			res.Status, res.DeclineCode = acquirer.Declined, acquirer.AuthenticationFailed
		}
		return res, nil
	}
	capRes, err := s.cfg.Acquirer.Capture(ctx, acquirer.CaptureRequest{IdempotencyKey: capKey,
		AuthorizationID: res.AuthorizationID, Amount: in.ChargeAmount})
	if err != nil {
		return capRes, err
	}
	if capRes.Status != acquirer.Approved {
		return capRes, fmt.Errorf("credit: capture of %s: %s", in.Charging, capRes.Status)
	}
	return capRes, nil
}
