package payment

// Top-ups: a logged-in payer fills their Kassa wallet with vouchers or a
// card. A top-up is an ordinary payment — the same methods, the same
// risk scoring and step-up, the same hosted page — whose beneficiary is
// the payer's own wallet account (wallet:<cus>:<CUR>) instead of a
// merchant's balance. It belongs to the platform's merchant TopUpMerchant
// (a row the migrations create, with no API keys: no merchant can act on
// top-ups), and its payer of record is fixed when it is created.
//
//   - authorization and capture credit the wallet (creditAccount);
//   - a refund debits the wallet, and the wallet's ledger flag
//     (debits_must_not_exceed_credits) refuses one the balance no longer
//     covers: a top-up spent at a merchant cannot be refunded below zero;
//   - only the payer of record confirms it (payer_mismatch), and never
//     with the wallet it fills (topup_method_unsupported).

import (
	"context"
	"errors"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
)

// TopUpMerchant is the platform merchant top-ups (and the payer's own
// withdrawals) belong to. Migration 0100 creates it.
const TopUpMerchant = "mer_kassa_topup"

// Limits of a top-up, in minor units of its currency.
const (
	TopUpMin money.Amount = 100       // 1.00
	TopUpMax money.Amount = 1_000_000 // 10,000.00
)

// Error codes of top-ups.
const (
	CodeTopUpMethod = "topup_method_unsupported"
)

// IsTopUp reports whether p fills its payer's wallet.
func IsTopUp(p Payment) bool { return p.MerchantID == TopUpMerchant }

// creditAccount is the ledger account p's authorization credits and its
// refunds debit: the merchant's balance, or for a top-up the payer's
// wallet.
func creditAccount(p Payment) string {
	if IsTopUp(p) {
		return payout.WalletAccount(p.PayerID, p.Currency)
	}
	return merchantAccount(p.MerchantID, p.Currency)
}

// ensureCredit creates the account p credits, once per process.
func (s *Service) ensureCredit(ctx context.Context, p Payment) error {
	if !IsTopUp(p) {
		return s.ensureAccount(ctx, p.MerchantID, p.Currency)
	}
	// The payout engine creates wallets with the same code and flags.
	return s.ensurePlatformAccount(ctx, ledger.Account{ID: creditAccount(p), Currency: p.Currency, Code: 5,
		Flags: ledger.DebitsMustNotExceedCredits})
}

// TopUpRequest is a payer's request to fill their wallet.
type TopUpRequest struct {
	PayerID   string // the logged-in payer (cus_...)
	Amount    money.Amount
	Currency  string
	ReturnURL string // where the hosted page sends the payer afterwards
	Locale    string
}

// CreateTopUp creates a top-up of the payer's wallet: a payment that
// requires action, to be paid on the hosted page like any other.
func (s *Service) CreateTopUp(ctx context.Context, req TopUpRequest) (Payment, error) {
	if !id.HasPrefix(req.PayerID, "cus") {
		return Payment{}, kassa.Invalid("payer", CodeWalletLoginRequired, "log in to your Kassa account to top up its balance")
	}
	if req.Amount < TopUpMin || req.Amount > TopUpMax {
		return Payment{}, kassa.Invalid("amount", "amount_invalid", "a top-up is from %d to %d minor units", TopUpMin, TopUpMax)
	}
	cur, err := validateCreate(CreateRequest{Amount: req.Amount, Currency: req.Currency, CaptureMethod: CaptureAutomatic,
		ReturnURL: req.ReturnURL, Locale: req.Locale})
	if err != nil {
		return Payment{}, err
	}
	now := s.now().UTC()
	p := Payment{ID: s.ids.New("pay"), MerchantID: TopUpMerchant, Amount: req.Amount, Currency: cur,
		CaptureMethod: CaptureAutomatic, Status: StatusRequiresAction, Description: "Kassa balance top-up",
		ReturnURL: req.ReturnURL, Locale: req.Locale, ExpiresAt: now.Add(topUpTTL), Created: now, Updated: now,
		Version: 1, Customer: Customer{ID: req.PayerID}, Risk: RiskResult{Score: -1}, PayerID: req.PayerID}
	p.ClientSecret = p.ID + "_secret_" + s.ids.Random(20)
	ev, err := s.event(p, EventCreated, now)
	if err != nil {
		return Payment{}, err
	}
	if err := s.store.CreatePayment(ctx, p, ev); err != nil {
		return Payment{}, err
	}
	return p, nil
}

// ReturnURLValid reports whether u may be a payment's return_url.
func ReturnURLValid(u string) bool {
	_, err := validateCreate(CreateRequest{Amount: 1, Currency: "EUR", CaptureMethod: CaptureAutomatic, ReturnURL: u})
	return err == nil
}

// errPlatformMerchant refuses a payment the platform merchant's API key
// would create: its payments are top-ups, made only by CreateTopUp.
var errPlatformMerchant = kassa.Errorf(kassa.EForbidden, "platform_merchant",
	"this merchant's payments are payers' top-ups, made on the account page")

// topUpTTL is how long an unpaid top-up waits for its payer.
const topUpTTL = 30 * time.Minute

// topUpGuard refuses a confirmation of a top-up by anyone but its payer
// of record, and with the wallet it fills.
func topUpGuard(p Payment, req ConfirmRequest, m Method) error {
	if !IsTopUp(p) {
		return nil
	}
	if p.PayerID == "" || req.PayerID != p.PayerID {
		return kassa.Errorf(kassa.EForbidden, CodeWalletPayerMismatch, "this top-up belongs to another Kassa account; log in to it")
	}
	if m.Name() == MethodKassaBalance {
		return kassa.Invalid("payment_method.type", CodeTopUpMethod, "a top-up is paid with vouchers or a card, not with the balance it fills")
	}
	return nil
}

// CodeTopUpSpent: a refund of a top-up the wallet no longer covers.
const CodeTopUpSpent = "wallet_balance_insufficient"

// topUpRefusal explains the ledger's refusal of a top-up's refund: the
// wallet, which never goes below zero, no longer holds the amount.
func topUpRefusal(err error, p Payment) error {
	var lr *ledgerRefusal
	if IsTopUp(p) && errors.As(err, &lr) && lr.code == ledger.ExceedsCredits {
		return kassa.Errorf(kassa.EUnprocessable, CodeTopUpSpent,
			"the payer's Kassa balance no longer covers this refund of a top-up (it was spent)")
	}
	return err
}
