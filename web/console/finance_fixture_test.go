package console_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/internal/shoptest"
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
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
	ids, err := identity.New(identity.Config{Store: sqlstore.NewIdentity(db), Sealer: identitytest.Sealer(t), Notifier: f.outbox,
		Key: identity.GenerateKey()})
	if err != nil {
		t.Fatal(err)
	}
	if f.fin.Credit, err = credit.New(credit.Config{Store: sqlstore.NewCredit(db), Ledger: shop.Ledger, Customers: ids,
		Merchants: shop.Merchants, Notifier: f.outbox}); err != nil {
		t.Fatal(err)
	}
	return f.fin
}

// payLater buys amount at merchantID with pay in 30 days as a Kassa
// account cus_<name> (KYC-verified, signed up 60 days ago), through a
// payments service with pay later (the fixture's has none).
func (f *fixture) payLater(t *testing.T, merchantID, name string, amount money.Amount) (payment.Payment, string) {
	t.Helper()
	ctx := context.Background()
	cus := "cus_" + name
	then := time.Now().UTC().Add(-60 * 24 * time.Hour)
	if err := sqlstore.NewIdentity(f.db).CreateCustomer(ctx, identity.Record{ID: cus, Email: name + "@example.com",
		EmailVerifiedAt: then, Phone: "+491510000000" + strconv.Itoa(len(name)%10), PhoneVerifiedAt: then, Level: identity.LevelKYCVerified,
		Created: then, Updated: then}); err != nil {
		t.Fatal(err)
	}
	if err := f.fin.Credit.SetMerchantEnabled(ctx, merchantID, true); err != nil {
		t.Fatal(err)
	}
	pays := payment.New(payment.Config{Store: sqlstore.NewPayments(f.db), Ledger: f.led, Vouchers: f.vouchers, Credit: f.fin.Credit})
	p, err := pays.Create(ctx, merchantID, payment.CreateRequest{Amount: amount, Currency: "EUR", CaptureMethod: payment.CaptureAutomatic})
	if err != nil {
		t.Fatal(err)
	}
	if p, err = pays.Confirm(ctx, merchantID, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, Method: payment.MethodPayLater,
		Plan: credit.PlanPayIn30, AcceptTerms: true, PayerID: cus, ClientIP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	return p, cus
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
