package console_test

import (
	"context"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/internal/shoptest"
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/store/sqlstore"
	webconsole "github.com/kassa/kassa/web/console"
)

// reviewAbove is the fixture's payout review threshold: larger payouts
// wait for a second person.
const reviewAbove = 1000

// finance makes the finance pages' services over the fixture's store:
// payouts with the SEPA test bank (held for review above reviewAbove),
// business accounts over them, invoices and compliance (f.payments and
// f.origin are set before the console is made).
func (f *fixture) finance(t *testing.T, shop *shoptest.Shop) webconsole.Finance {
	t.Helper()
	db := shop.DB
	bank := payout.NewTestBank(nil)
	pays := payout.New(payout.Config{Store: sqlstore.NewPayouts(db), Ledger: shop.Ledger,
		Rails: map[string]payout.Rail{payout.DestBankAccount: bank}, KYC: verifiedPayers,
		Limits: payout.Limits{PayerDay: 1 << 40, PayerMonth: 1 << 40, MerchantDay: 1 << 40}, ReviewAbove: reviewAbove})
	f.fin = webconsole.Finance{
		Payouts:    pays,
		Business:   business.New(business.Config{Store: sqlstore.NewBusiness(db), Ledger: shop.Ledger, Payouts: pays, IDs: id.Generator{}}),
		Compliance: compliance.New(compliance.Config{Store: sqlstore.NewCompliance(db), Merchants: shop.Merchants, IDs: id.Generator{}}),
		Invoices: invoice.New(invoice.Config{Store: sqlstore.NewInvoices(db), Payments: f.payments, Merchants: shop.Merchants,
			PublicURL: f.origin, IDs: id.Generator{}}),
	}
	return f.fin
}

var ibanPaid = payout.IBANCheckDigits("DE", "100100100000000000")

// payout pays amount out of merchantID's balance to a bank account;
// above reviewAbove it waits for review.
func (f *fixture) payout(t *testing.T, merchantID string, amount money.Amount) payout.Payout {
	t.Helper()
	p, err := f.fin.Payouts.Create(context.Background(), merchantID, payout.CreateRequest{Amount: amount, Currency: "EUR",
		Customer:  payout.Customer{ID: "player-1", Email: "jane@example.com", FirstName: "Jane", LastName: "Doe", DateOfBirth: "1990-05-17"},
		CreatedBy: "key_api", Destination: payout.Destination{Type: payout.DestBankAccount, IBAN: ibanPaid, AccountHolder: "DOE, Jane"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// verifiedPayers is identity's answer for the fixture's one Kassa
// account (as payout's own tests have it; cmd/kassa's e2e test verifies a
// payer with the real identity service).
type kycTable map[string]payout.Identity

func (k kycTable) Identity(_ context.Context, customerID string) (payout.Identity, error) {
	idn, ok := k[customerID]
	if !ok {
		return payout.Identity{}, kassa.Errorf(kassa.ENotFound, "customer_not_found", "no such customer")
	}
	return idn, nil
}

var verifiedPayers = kycTable{"cus_jane": {Email: "jane@example.com", GivenName: "Jane", FamilyName: "Doe",
	DateOfBirth: "1990-05-17", Verified: true}}

// withdrawal fills cus_jane's wallet from merchantID's balance (a wallet
// payout, as winnings would) and withdraws amount of it to her bank
// account: above reviewAbove it waits for the operator.
func (f *fixture) withdrawal(t *testing.T, merchantID string, amount money.Amount) payout.Payout {
	t.Helper()
	ctx := context.Background()
	for left := amount; left > 0; left -= reviewAbove { // in payouts that need no review
		p, err := f.fin.Payouts.Create(ctx, merchantID, payout.CreateRequest{Amount: min(left, reviewAbove), Currency: "EUR",
			Customer:  payout.Customer{ID: "cus_jane", Email: "jane@example.com", FirstName: "Jane", LastName: "Doe", DateOfBirth: "1990-05-17"},
			CreatedBy: "key_api", Destination: payout.Destination{Type: payout.DestWallet}})
		if err != nil || p.Status != payout.StatusPaid {
			t.Fatalf("fill the wallet: %s %v", p.Status, err)
		}
	}
	p, err := f.fin.Payouts.Withdraw(ctx, payout.WithdrawRequest{CustomerID: "cus_jane", Amount: amount, Currency: "EUR",
		Destination: payout.Destination{Type: payout.DestBankAccount, IBAN: ibanPaid}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
