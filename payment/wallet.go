package payment

// The wallet method kassa_balance: a logged-in payer pays from the
// balance of their Kassa account (cus_...) in the payment's currency.
//
// The wallet is the ledger account wallet:<cus>:<CUR> the payout engine
// keeps (payout.WalletAccount), flagged so that its debits never exceed
// its credits: the ledger, not this file, refuses an overdraft, also
// when two payments race for one balance.
//
//   - authorization: pay:<id>:auth:0 wallet → merchant, pending with the
//     ledger timeout of the capture window when held, posted with
//     automatic capture;
//   - capture: pay:<id>:capture:0 posts the captured part, the rest goes
//     back to the wallet;
//   - cancel / expiry: pay:<id>:release:0 voids it;
//   - refund re_X: re_X:0 merchant → wallet.
//
// The wallet debited is always the one of the payer who confirms: the
// hosted page's session (ConfirmRequest.PayerID), which must be the
// payment's payer of record when it has one. Nobody names a wallet, so
// nobody can name another payer's. The merchant's API never carries a
// payer session, so it cannot pay with a wallet either. MethodRef keeps
// the payer's cus_ id.

import (
	"context"
	"errors"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/risk"
)

// MethodKassaBalance is the wallet method's name.
const MethodKassaBalance = "kassa_balance"

// Error codes of the wallet method.
const (
	// CodeWalletLoginRequired: the payer is not logged in to Kassa.
	CodeWalletLoginRequired = "kassa_account_required"
	// CodeWalletPayerMismatch: the payment's payer of record is another
	// Kassa account than the one logged in.
	CodeWalletPayerMismatch = "payer_mismatch"
	// CodeWalletShort: the balance does not cover the amount (a declined
	// try).
	CodeWalletShort = "wallet_balance_insufficient"
)

func init() { RegisterMethod(walletMethod{}) }

type walletMethod struct{}

var (
	_ Method           = walletMethod{}
	_ refusalExplainer = walletMethod{}
)

func (walletMethod) Name() string { return MethodKassaBalance }

func (walletMethod) Enabled(*Service) error { return nil }

// Accounts: a wallet account exists from its first credit; one that
// does not exist holds nothing and is refused before authorization.
func (walletMethod) Accounts(money.Currency) []ledger.Account { return nil }

func walletAccount(p Payment) string { return payout.WalletAccount(p.MethodRef, p.Currency) }

func walletAuthID(p Payment) string { return "pay:" + p.ID + ":auth:0" }

// WalletAvailable is what a payer's wallet in cur may spend: posted
// credits less posted and pending debits (0 for a wallet never credited).
func (s *Service) WalletAvailable(ctx context.Context, customerID string, cur money.Currency) (money.Amount, error) {
	a, err := s.led.Account(ctx, "", payout.WalletAccount(customerID, cur))
	if errors.Is(err, ledger.ErrNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	return a.CreditsPosted - a.DebitsPosted - a.DebitsPending, nil
}

func (walletMethod) Resolve(ctx context.Context, s *Service, p Payment, req ConfirmRequest) (Instrument, error) {
	if req.PayerID == "" {
		return Instrument{}, kassa.Invalid("payment_method.type", CodeWalletLoginRequired,
			"log in to your Kassa account to pay with its balance")
	}
	if p.PayerID != "" && p.PayerID != req.PayerID {
		return Instrument{}, kassa.Errorf(kassa.EForbidden, CodeWalletPayerMismatch,
			"this payment belongs to another Kassa account")
	}
	view := RiskView{Method: risk.MethodAccount}
	avail, err := s.WalletAvailable(ctx, req.PayerID, p.Currency)
	if err != nil {
		return Instrument{}, err
	}
	if avail < p.Amount {
		return Instrument{Risk: view, Decline: true}, kassa.Invalid("payment_method.type", CodeWalletShort,
			"your Kassa balance in %s does not cover the amount", p.Currency)
	}
	payer := req.PayerID
	return Instrument{Risk: view, Use: func(p *Payment) { p.MethodRef = payer }}, nil
}

// Recheck: the ledger refuses the authorization if the balance went
// below the amount while the payer was challenged.
func (walletMethod) Recheck(context.Context, *Service, Payment) (string, RiskView, error) {
	return "", RiskView{Method: risk.MethodAccount}, nil
}

func (walletMethod) Authorize(ctx context.Context, s *Service, p Payment, next *Payment, hold bool) (Authorization, error) {
	if next.MethodRef == "" || next.MethodRef != next.PayerID {
		return Authorization{}, kassa.Errorf(kassa.EForbidden, CodeWalletPayerMismatch,
			"this payment belongs to another Kassa account")
	}
	return Authorization{Transfers: []ledger.Transfer{{ID: walletAuthID(p), DebitAccountID: walletAccount(*next),
		CreditAccountID: creditAccount(p), Amount: next.Amount, Currency: p.Currency, Code: 10}}}, nil
}

// explainRefusal: a concurrent payment spent the balance first.
func (walletMethod) explainRefusal(err error, next Payment) error {
	var lr *ledgerRefusal
	if errors.As(err, &lr) && lr.code == ledger.ExceedsCredits {
		return kassa.Invalid("payment_method.type", CodeWalletShort,
			"your Kassa balance changed; it no longer covers the amount")
	}
	return err
}

func (walletMethod) Capture(ctx context.Context, s *Service, p Payment, amount money.Amount, next *Payment) ([]ledger.Transfer, error) {
	return []ledger.Transfer{{ID: "pay:" + p.ID + ":capture:0", PendingID: walletAuthID(p), Amount: amount,
		Flags: ledger.FlagPostPending}}, nil
}

func (walletMethod) Void(ctx context.Context, s *Service, p Payment) ([]ledger.Transfer, error) {
	return []ledger.Transfer{{ID: "pay:" + p.ID + ":release:0", PendingID: walletAuthID(p), Flags: ledger.FlagVoidPending}}, nil
}

func (walletMethod) Refund(ctx context.Context, s *Service, r *Refund, p Payment, next *Payment) ([]ledger.Transfer, error) {
	return []ledger.Transfer{{ID: r.ID + ":0", DebitAccountID: creditAccount(p),
		CreditAccountID: walletAccount(p), Amount: r.Amount, Currency: p.Currency, Code: 11}}, nil
}

// Payout: money paid from a wallet goes back to it by a refund, or by a
// payout with destination wallet (package payout).
func (walletMethod) Payout(context.Context, *Service, Payment, money.Amount) error {
	return ErrPayoutUnsupported
}

func (walletMethod) Describe(p Payment) (*MethodJSON, *NextAction) {
	return &MethodJSON{Type: MethodKassaBalance}, nil
}

// Check compares a wallet payment with its ledger transfers.
func (walletMethod) Check(ctx context.Context, s *Service, p Payment, bad func(string, ...any)) error {
	auth := walletAuthID(p)
	if p.MethodRef != p.PayerID {
		bad("the wallet of %s paid, the payer is %s", p.MethodRef, p.PayerID)
	}
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
	if t.Amount != p.Amount || t.DebitAccountID != walletAccount(p) || t.Currency != p.Currency ||
		t.CreditAccountID != creditAccount(p) {
		bad("ledger transfer %s is %d %s from %s to %s, the payment says %d from %s",
			auth, t.Amount, t.Currency, t.DebitAccountID, t.CreditAccountID, p.Amount, walletAccount(p))
	}
	if t.Flags&ledger.FlagPending != 0 {
		if err := s.checkHold(ctx, p, auth, bad); err != nil {
			return err
		}
	} else if p.AmountCaptured != t.Amount {
		bad("ledger transfer %s posted %d, the payment captured %d", auth, t.Amount, p.AmountCaptured)
	}
	refunds, err := s.store.Refunds(ctx, p.ID)
	if err != nil {
		return err
	}
	var sum money.Amount
	for _, r := range refunds {
		sum += r.Amount
		rt, _, err := s.led.Transfer(ctx, "", r.ID+":0")
		if errors.Is(err, ledger.ErrNotFound) {
			bad("refund %s has no ledger transfer", r.ID)
			continue
		} else if err != nil {
			return err
		}
		if rt.Amount != r.Amount || rt.CreditAccountID != walletAccount(p) {
			bad("refund %s moved %d to %s, it says %d to %s", r.ID, rt.Amount, rt.CreditAccountID, r.Amount, walletAccount(p))
		}
	}
	if sum != p.AmountRefunded {
		bad("refunds add up to %d, the payment says %d refunded", sum, p.AmountRefunded)
	}
	return nil
}
