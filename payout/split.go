package payout

// Split payouts: destination original_method without a payment pays the
// payer back over all their deposits at the merchant (the closed loop of
// issue 14, item 4). The amount is spread over the payer's captured
// deposits in the payout's currency, newest first, each up to what is
// left of it (its net amount from the ledger's view of the payment, less
// what payouts already paid back to it):
//
//   - a card deposit goes back to its card (the card rail);
//   - a voucher deposit (vouchers cannot be refilled) and a kassa_balance
//     deposit go to the payer's wallet;
//   - what is left beyond the deposits (winnings) goes to the wallet, or
//     to a bank account in the payer's name when destination.iban is set.
//
// Every leg is a payout of its own (its rail, states, events, worker,
// reconciliation), SplitOf naming the first, whose id the request
// answers with all legs under "legs". The legs' reserves are written in
// one ledger call, linked, with every leg's row in its effect: either all
// legs reserve or none. Checks (balance, limits, risk, policy, KYC) look
// at the whole amount once.

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/webhook"
)

// DepositLister lists a payer's deposits at a merchant: the payments
// captured from customerID (the merchant's customer id or the payer's
// Kassa account), newest first, at most limit. A Deposits that
// implements it enables split payouts.
type DepositLister interface {
	PayerDeposits(ctx context.Context, merchantID, customerID string, limit int) ([]Deposit, error)
}

// SplitDepositsMax bounds the deposits one split payout looks at (the
// newest); older deposits are not paid back by it.
const SplitDepositsMax = 20

// MethodKassaBalance is the deposit method of a payment from the payer's
// wallet: it pays back to the wallet.
const MethodKassaBalance = "kassa_balance"

func (s *Service) lister() DepositLister {
	l, _ := s.cfg.Deposits.(DepositLister)
	return l
}

// isSplit reports whether req asks for a split payout.
func (s *Service) isSplit(d Destination) bool {
	return d.Type == DestOriginalMethod && d.Payment == "" && s.lister() != nil
}

// createSplit is Create for a split payout.
func (s *Service) createSplit(ctx context.Context, merchantID string, req CreateRequest) (Payout, error) {
	if req.RequestKey != "" && !req.ValidateOnly {
		// A retry answers what the first request made, though the legs
		// it would compute now differ (the deposits are paid back).
		prev, err := s.store.Payout(ctx, merchantID, s.newID(merchantID, req.RequestKey))
		switch {
		case err == nil:
			return s.replaySplit(ctx, prev, req)
		case kassa.ErrorKind(err) != kassa.ENotFound:
			return Payout{}, err
		}
	}
	now := s.now().UTC()
	c := &checker{}
	cur := s.checkRequest(c, req, now)
	p := Payout{MerchantID: merchantID, Amount: req.Amount, Currency: cur, Destination: req.Destination,
		Customer: req.Customer, MerchantReference: req.MerchantReference, Metadata: req.Metadata,
		CreatedBy: req.CreatedBy, RequestKey: req.RequestKey, Created: now, Updated: now, Version: 1}
	p.Destination.IBAN = NormalizeIBAN(p.Destination.IBAN)
	var legs []Payout
	deps := map[string]Deposit{}
	if c.failed() == nil {
		var err error
		if legs, err = s.splitLegs(ctx, c, p, req, deps); err != nil {
			return Payout{}, err
		}
	}
	for _, l := range legs {
		if l.Rail == RailWallet && id.HasPrefix(p.Customer.ID, "cus") {
			if err := s.checkKYC(ctx, c, p.Customer); err != nil {
				return Payout{}, err
			}
			break
		}
	}
	if p.Amount > 0 && p.Amount <= AmountMax && cur != "" {
		if err := s.checkFunds(ctx, c, p, nil, now); err != nil {
			return Payout{}, err
		}
	}
	s.checkPolicy(c, p)
	if n := len(legs); n > 0 && legs[n-1].Destination.Type == DestBankAccount {
		if err := s.checkDestinationHistory(ctx, c, legs[n-1]); err != nil {
			return Payout{}, err
		}
	}
	p.Checks = c.checks
	if req.ValidateOnly {
		p.Legs = legs
		return p, nil
	}
	if err := CheckError(p.Checks); err != nil {
		return Payout{}, err
	}
	p.ID = s.newID(merchantID, req.RequestKey)
	s.checkRisk(ctx, c, p, req.Client)
	p.Checks = c.checks
	if err := CheckError(p.Checks); err != nil {
		return Payout{}, err
	}
	status := StatusPending
	for _, ch := range p.Checks {
		if ch.Result == CheckReview {
			status = StatusRequiresReview
		}
	}
	for i := range legs {
		l := &legs[i]
		l.ID, l.SplitOf, l.Status, l.Checks = p.ID, p.ID, status, p.Checks
		if i > 0 {
			l.ID = legID(p.ID, i)
		}
		l.ArrivalEstimate = now
		if l.Destination.Type == DestBankAccount {
			l.ArrivalEstimate = now.Add(24 * time.Hour)
		}
	}
	if err := s.reserveSplit(ctx, p, legs, deps, now); err != nil {
		return Payout{}, err
	}
	for i, l := range legs {
		if l.Rail == RailWallet && l.Status == StatusPending {
			if paid, err := s.payWalletNow(ctx, l); err == nil {
				legs[i] = paid
			}
		}
	}
	first := legs[0]
	first.Legs = legs
	return first, nil
}

// replaySplit answers a split request repeated under the key that made
// prev: prev with its legs when they add up to the same request.
func (s *Service) replaySplit(ctx context.Context, prev Payout, req CreateRequest) (Payout, error) {
	p, err := s.withLegs(ctx, prev)
	if err != nil {
		return Payout{}, err
	}
	var sum money.Amount
	for _, l := range p.Legs {
		sum += l.Amount
	}
	if prev.SplitOf != prev.ID || sum != req.Amount || string(prev.Currency) != req.Currency || prev.Customer.ID != req.Customer.ID {
		return Payout{}, kassa.Errorf(kassa.EUnprocessable, "idempotency_key_reused",
			"this Idempotency-Key made payout %s of another amount, customer or destination; use a new key for a new request", prev.ID)
	}
	return p, nil
}

// legID is the id of a split payout's leg i (> 0): derived from the
// first's, so a retry finds the same legs.
func legID(first string, i int) string { return id.Derived("po", first+"\x00leg"+strconv.Itoa(i)) }

// WithLegs returns a merchant's payout with its legs when it is the
// first leg of a split payout (the console's payout page).
func (s *Service) WithLegs(ctx context.Context, merchantID, id string) (Payout, error) {
	p, err := s.store.Payout(ctx, merchantID, id)
	if err != nil || p.SplitOf != p.ID {
		return p, err
	}
	return s.withLegs(ctx, p)
}

// withLegs loads the legs of the split payout whose first leg is first.
func (s *Service) withLegs(ctx context.Context, first Payout) (Payout, error) {
	first.Legs = []Payout{first}
	for i := 1; i <= SplitDepositsMax; i++ {
		l, err := s.store.Payout(ctx, first.MerchantID, legID(first.ID, i))
		if kassa.ErrorKind(err) == kassa.ENotFound {
			break
		} else if err != nil {
			return Payout{}, err
		}
		first.Legs = append(first.Legs, l)
	}
	return first, nil
}

// splitLegs spreads p over the payer's deposits, the rest to the wallet
// or the bank account of req.Destination.
func (s *Service) splitLegs(ctx context.Context, c *checker, p Payout, req CreateRequest, used map[string]Deposit) ([]Payout, error) {
	deps, err := s.lister().PayerDeposits(ctx, p.MerchantID, p.Customer.ID, SplitDepositsMax)
	if err != nil {
		return nil, err
	}
	kassaAccount := id.HasPrefix(p.Customer.ID, "cus")
	left := p.Amount
	var legs []Payout
	leg := func(amount money.Amount, d Destination, rail string) {
		l := p
		l.Amount, l.Destination, l.Rail = amount, d, rail
		legs = append(legs, l)
		left -= amount
	}
	for _, dep := range deps {
		if left == 0 {
			break
		}
		if dep.Currency != p.Currency || (dep.PayerID != "" && kassaAccount && dep.PayerID != p.Customer.ID) {
			continue
		}
		rail := ""
		switch dep.Method {
		case MethodCard:
			rail = s.railName(DestCard)
		case MethodVoucher, MethodKassaBalance:
			if kassaAccount && (dep.PayerID == "" || dep.PayerID == p.Customer.ID) {
				rail = RailWallet
			}
		}
		if rail == "" {
			continue // its share goes with the rest
		}
		q := s.totalsQuery(p, p.Created)
		q.Payment = dep.PaymentID
		t, err := s.store.PayoutTotals(ctx, q)
		if err != nil {
			return nil, err
		}
		if avail := dep.Net - t.Payment; avail > 0 {
			leg(min(left, avail), Destination{Type: DestOriginalMethod, Payment: dep.PaymentID}, rail)
			used[dep.PaymentID] = dep
		}
	}
	if left > 0 {
		// Winnings beyond the deposits: the wallet or the payer's bank.
		rest := req
		rest.Destination = Destination{Type: DestWallet}
		if req.Destination.IBAN != "" {
			rest.Destination = Destination{Type: DestBankAccount, IBAN: req.Destination.IBAN, AccountHolder: req.Destination.AccountHolder}
		}
		before := len(c.checks)
		s.checkDestination(c, rest, p.Currency)
		if c.failed() != nil {
			for i := before; i < len(c.checks); i++ {
				if c.checks[i].Result == CheckFail {
					c.checks[i].Detail = fmt.Sprintf("%d is more than the payer's deposits: %s", left, c.checks[i].Detail)
				}
			}
			return nil, nil
		}
		rest.Destination.IBAN = NormalizeIBAN(rest.Destination.IBAN)
		leg(left, rest.Destination, s.railName(rest.Destination.Type))
	}
	if len(legs) > SplitDepositsMax+1 {
		return nil, fmt.Errorf("payout: a split of %d legs", len(legs))
	}
	c.pass(CheckClosedLoop)
	return legs, nil
}

// reserveSplit writes every leg with its reserve in one ledger call:
// linked, so that all reserve or none; the effect checks the merchant's
// balance, the limits on the whole amount and each deposit's remainder
// inside the transaction.
func (s *Service) reserveSplit(ctx context.Context, p Payout, legs []Payout, deps map[string]Deposit, now time.Time) error {
	if err := s.ensureAccount(ctx, merchantAccount(p.MerchantID, p.Currency), p.Currency, 2, 0); err != nil {
		return err
	}
	if err := s.ensureAccount(ctx, clearingAccount(p.Currency), p.Currency, 4, 0); err != nil {
		return err
	}
	ts := make([]ledger.Transfer, len(legs))
	evs := make([][][]webhook.Event, len(legs))
	for i, l := range legs {
		ts[i] = ledger.Transfer{ID: reserveID(l), DebitAccountID: merchantAccount(p.MerchantID, p.Currency),
			CreditAccountID: clearingAccount(p.Currency), Amount: l.Amount, Currency: p.Currency, Code: 40, Flags: ledger.FlagPending}
		types := []string{EventCreated}
		if l.Status == StatusRequiresReview {
			types = append(types, EventRequiresReview)
		}
		e, err := s.events(l, now, types...)
		if err != nil {
			return err
		}
		evs[i] = [][]webhook.Event{e}
	}
	var refused *kassa.Error
	_, err := s.led.CreateTransfersWith(ctx, "", linkChain(ts), func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
		refused = nil
		if err := checkResults(ts, results); err != nil {
			return err
		}
		c := &checker{}
		if a, ok := ledger.EffectAccount(ctx, "", merchantAccount(p.MerchantID, p.Currency)); !ok {
			return fmt.Errorf("payout %s: the ledger batch does not hold the merchant's account", p.ID)
		} else if avail := available(a); avail < 0 {
			c.fail(CheckBalance, "amount", "balance_insufficient", "amount is more than the %d available in %s", avail+p.Amount, p.Currency)
		}
		t, err := s.store.PayoutTotalsTx(ctx, tx, s.totalsQuery(Payout{MerchantID: p.MerchantID, Customer: p.Customer, Currency: p.Currency}, now))
		if err != nil {
			return err
		}
		s.checkLimits(c, p, t)
		for _, l := range legs {
			if l.Destination.Payment == "" {
				continue
			}
			lt, err := s.store.PayoutTotalsTx(ctx, tx, s.totalsQuery(l, now))
			if err != nil {
				return err
			}
			checkDeposit(c, l, deps[l.Destination.Payment], lt.Payment)
		}
		if refused = CheckError(c.checks); refused != nil {
			return refused
		}
		for i, l := range legs {
			if err := s.store.CreatePayoutTx(ctx, tx, l, evs[i][0]); err != nil {
				return err
			}
		}
		return nil
	})
	if refused != nil {
		return refused
	}
	return err
}
