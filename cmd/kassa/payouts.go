package main

import (
	"context"
	"flag"
	"time"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/identity"

	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/store/sqlstore"
)

// payoutFlags configure the payout engine (docs/payouts.md).
type payoutFlags struct {
	payerDay, payerMonth, merchantDay, reviewAbove int64
	bankSettle, bankReturn                         time.Duration
}

func (f *payoutFlags) register(fs *flag.FlagSet) {
	fs.Int64Var(&f.payerDay, "payout-limit-payer-day", int64(payout.PayerDayDefault), "most a payer may be paid out per day, in `minor units` of each currency")
	fs.Int64Var(&f.payerMonth, "payout-limit-payer-month", int64(payout.PayerMonthDefault), "most a payer may be paid out per calendar month, in `minor units`")
	fs.Int64Var(&f.merchantDay, "payout-limit-merchant-day", int64(payout.MerchantDayDefault), "most a merchant may pay out per day, in `minor units`")
	fs.Int64Var(&f.reviewAbove, "payout-review-above", 0, "hold payouts above this `amount` (minor units) for approval by a second key; 0: never")
	fs.DurationVar(&f.bankSettle, "test-bank-settle-delay", 24*time.Hour, "how long the SEPA test bank takes to settle a payout (`duration`)")
	fs.DurationVar(&f.bankReturn, "test-bank-return-delay", 72*time.Hour, "how long after settling the test bank returns a payout to a returning test IBAN (`duration`)")
}

// payoutInterval is how often the worker drives payouts.
const payoutInterval = 2 * time.Second

// openPayouts makes the payout engine with the SEPA test bank as the
// bank_account rail and the test acquirer's original credits as the card
// rail. The test bank keeps its transfers in memory: it is
// for test integrations, like the test acquirer.
func (a *app) openPayouts(f payoutFlags, acq acquirer.Acquirer) {
	bank := payout.NewTestBank(nil)
	bank.SettleDelay, bank.ReturnDelay = f.bankSettle, f.bankReturn
	var scorer payout.Risk
	if a.risk != nil { // nil: kassa bench's baseline without risk
		scorer = a.risk
	}
	a.payouts = payout.New(payout.Config{Store: sqlstore.NewPayouts(a.db), Ledger: a.ledger, Logger: a.log, Risk: scorer,
		Rails:    map[string]payout.Rail{payout.DestBankAccount: bank, payout.DestCard: payout.CardRail{Acquirer: acq}},
		Deposits: deposits{a},
		KYC:      kycSource{a},
		Limits: payout.Limits{PayerDay: money.Amount(f.payerDay), PayerMonth: money.Amount(f.payerMonth),
			MerchantDay: money.Amount(f.merchantDay)},
		ReviewAbove: money.Amount(f.reviewAbove), Jurisdiction: a.compliance, Active: a.merchants.CheckActive})
}

// payoutMovements tells payment reconciliation what payouts booked on
// merchant accounts: paid ones left the posted balance, open ones are
// reserved (pending debits).
func (a *app) payoutMovements(ctx context.Context) (map[string]payment.Movement, error) {
	sums, err := a.payouts.Sums(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]payment.Movement, len(sums))
	for acct, s := range sums {
		out[acct] = payment.Movement{Posted: -s.Paid, Pending: -s.Open}
	}
	return out, nil
}

// runPayouts drives payouts through their rails until ctx ends.
func (a *app) runPayouts(ctx context.Context) {
	every(ctx, payoutInterval, func(time.Time) {
		if _, err := a.payouts.Process(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("payout worker", "err", err)
		}
	})
}

// reconcilePayouts adds payouts that disagree with the ledger to rep.
func (a *app) reconcilePayouts(ctx context.Context, rep *payment.Report) error {
	_, ms, err := a.payouts.Reconcile(ctx)
	for _, m := range ms {
		rep.Mismatches = append(rep.Mismatches, payment.Mismatch{Account: "payout " + m.Payout, Problem: m.Problem})
	}
	return err
}

// deposits finds payments for the closed loop of payouts.
type deposits struct{ a *app }

// Deposit is a merchant's captured payment as a deposit: what is left of
// it after refunds, its method and card authorization.
func (d deposits) Deposit(ctx context.Context, merchantID, paymentID string) (payout.Deposit, error) {
	p, err := d.a.payments.Get(ctx, merchantID, paymentID)
	if err != nil {
		return payout.Deposit{}, err
	}
	dep := payout.Deposit{PaymentID: p.ID, Currency: p.Currency, PayerID: p.PayerID,
		Net: p.AmountCaptured - p.AmountRefunded - p.AmountRefundPending, AuthorizationID: p.Card.AuthorizationID}
	if p.Status == payment.StatusCaptured {
		dep.Method = p.MethodType
	}
	return dep, nil
}

// PayerDeposits lists a payer's captured payments at a merchant, newest
// first, as deposits (split payouts, payout.DepositLister).
func (d deposits) PayerDeposits(ctx context.Context, merchantID, customerID string, limit int) ([]payout.Deposit, error) {
	ps, _, err := d.a.payments.List(ctx, payment.Filter{MerchantID: merchantID, Customer: customerID,
		Status: payment.StatusCaptured, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]payout.Deposit, 0, len(ps))
	for _, p := range ps {
		out = append(out, payout.Deposit{PaymentID: p.ID, Method: p.MethodType, Currency: p.Currency, PayerID: p.PayerID,
			Net: p.AmountCaptured - p.AmountRefunded - p.AmountRefundPending, AuthorizationID: p.Card.AuthorizationID,
			Created: p.Created})
	}
	return out, nil
}

var _ payout.DepositLister = deposits{}

// kycSource gives payouts the verified identity of a payer's Kassa account.
type kycSource struct{ a *app }

// Identity is the account's address and KYC data; Verified once its
// level is kyc_verified.
func (k kycSource) Identity(ctx context.Context, customerID string) (payout.Identity, error) {
	c, err := k.a.identity.Customer(ctx, customerID)
	if err != nil {
		return payout.Identity{}, err
	}
	idn := payout.Identity{Email: c.Email, GivenName: c.GivenName, FamilyName: c.FamilyName,
		Verified: c.Level == identity.LevelKYCVerified}
	if idn.Verified {
		d, err := k.a.identity.Identity(ctx, customerID)
		if err != nil {
			return payout.Identity{}, err
		}
		idn.DateOfBirth = d.BirthDate.Format(time.DateOnly)
	}
	return idn, nil
}
