package payout

// Withdrawals: a payer moves money out of their own Kassa wallet, to a
// bank account in their own name or back to the card a top-up came
// from. A withdrawal is a payout like any other — the same checks
// (age, IBAN, name, limits, destination history, risk, policy), the same
// rails, states, events and worker — of the platform's merchant
// WalletMerchant, whose money comes from the payer's wallet
// (wallet:<cus>:<CUR>) instead of a merchant's balance:
//
//   - reserve: po_X:reserve, wallet → payout_clearing, pending; the
//     wallet's ledger flag refuses a reserve it does not cover, so two
//     withdrawals (or a withdrawal and a wallet payment) racing for one
//     balance never take it below zero;
//   - paid: the reserve is posted; failed or canceled: voided;
//   - returned: po_X:return, payout_clearing → the wallet.
//
// The payer is named by their Kassa account's verified identity (KYC),
// never by what a form says: the account holder of a bank account must
// be that name. The hosted account page asks for a fresh second factor
// (passkey or one-time code) before it calls Withdraw.

import (
	"context"
	"fmt"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/money"
)

// WalletMerchant is the platform merchant payers' top-ups and
// withdrawals belong to (payment.TopUpMerchant; migration 0100).
const WalletMerchant = "mer_kassa_topup"

// IsWithdrawal reports whether p moves money out of its payer's wallet.
func IsWithdrawal(p Payout) bool { return p.MerchantID == WalletMerchant }

// sourceAccount is the ledger account a payout's reserve debits: the
// merchant's balance, or for a withdrawal the payer's wallet.
func sourceAccount(p Payout) string {
	if IsWithdrawal(p) {
		return WalletAccount(p.Customer.ID, p.Currency)
	}
	return merchantAccount(p.MerchantID, p.Currency)
}

// WithdrawRequest is a payer's withdrawal from the account page.
type WithdrawRequest struct {
	CustomerID string // the logged-in payer (cus_...)
	Amount     money.Amount
	Currency   string
	// Destination: DestBankAccount with IBAN (the holder is the payer's
	// verified name), or DestCard with Payment, a card top-up of theirs.
	Destination Destination
	RequestKey  string // an idempotency key of the form, "" none
	Client      Client // the payer's browser, for risk
}

// Codes of withdrawals.
const (
	CodeWithdrawKYC         = "kyc_required"
	CodeWithdrawDestination = "destination_unsupported"
)

// Withdraw pays req.Amount out of the payer's wallet. Its errors are the
// payouts' check problems (kassa.Error with code and param).
func (s *Service) Withdraw(ctx context.Context, req WithdrawRequest) (Payout, error) {
	if !id.HasPrefix(req.CustomerID, "cus") {
		return Payout{}, kassa.Invalid("customer.id", "customer_required", "log in to your Kassa account to withdraw")
	}
	if s.cfg.KYC == nil {
		return Payout{}, kassa.Invalid("destination.type", CodeWithdrawDestination, "withdrawals are not enabled on this server")
	}
	idn, err := s.cfg.KYC.Identity(ctx, req.CustomerID)
	if err != nil {
		return Payout{}, err
	}
	if !idn.Verified {
		return Payout{}, kassa.Invalid("customer.id", CodeWithdrawKYC, "verify your identity before you withdraw")
	}
	d := req.Destination
	switch d.Type {
	case DestBankAccount:
		d = Destination{Type: DestBankAccount, IBAN: d.IBAN, AccountHolder: idn.GivenName + " " + idn.FamilyName}
	case DestCard:
		d = Destination{Type: DestCard, Payment: d.Payment}
	default:
		return Payout{}, kassa.Invalid("destination.type", CodeWithdrawDestination,
			"a withdrawal goes to a bank account in your name or back to the card you topped up with")
	}
	key := ""
	if req.RequestKey != "" {
		key = req.CustomerID + "\x00" + req.RequestKey
	}
	return s.Create(ctx, WalletMerchant, CreateRequest{Amount: req.Amount, Currency: req.Currency,
		Customer: Customer{ID: req.CustomerID, Email: idn.Email, FirstName: idn.GivenName, LastName: idn.FamilyName,
			DateOfBirth: idn.DateOfBirth},
		Destination: d, CreatedBy: req.CustomerID, RequestKey: key, Client: req.Client, withdrawal: true,
		MerchantReference: fmt.Sprintf("withdrawal by %s", req.CustomerID)})
}

// Withdrawals lists a payer's latest withdrawals, newest first.
func (s *Service) Withdrawals(ctx context.Context, customerID string, limit int) ([]Payout, error) {
	ps, _, err := s.List(ctx, Filter{MerchantID: WalletMerchant, Customer: customerID, Limit: limit})
	return ps, err
}
