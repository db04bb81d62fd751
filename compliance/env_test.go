package compliance_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/voucher"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// start is a Tuesday in the middle of a month.
var start = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// env is the real stack over one database: ledger, vouchers, payments
// with the compliance gate, identity for Kassa accounts, merchants.
type env struct {
	t         testing.TB
	ctx       context.Context
	db        *sqlstore.DB
	clk       *testclock.Clock
	merchants *merchant.Service
	vouchers  *voucher.Service
	pay       *payment.Service
	ids       *identity.Service
	outbox    *identity.Outbox
	svc       *compliance.Service
	store     *sqlstore.Compliance
	registers map[string]compliance.SelfExclusionRegister
}

func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		fn(t, newEnv(t, db))
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := sqlstore.OpenPostgres(context.Background(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		fn(t, newEnv(t, db))
	})
}

func newBenchEnv(b *testing.B) *env {
	db, err := sqlstore.OpenSQLite(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return newEnv(b, db)
}

func newSQLiteEnv(t *testing.T) *env {
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, db)
}

var fastArgon = identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLength: 16, KeyLength: 32}

func newEnv(t testing.TB, db *sqlstore.DB) *env {
	t.Helper()
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, ctx: context.Background(), db: db, clk: testclock.New(start)}
	skey, _, err := note.GenerateKey(rand.Reader, "kassa.test/compliance")
	if err != nil {
		t.Fatal(err)
	}
	led, err := ledger.New(ledger.Config{Store: sqlstore.NewLedger(db), SignerKey: skey, Clock: e.clk.Now, ExpiryInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	pinKey := make([]byte, 32)
	rand.Read(pinKey)
	if e.vouchers, err = voucher.New(voucher.Config{Store: sqlstore.NewVouchers(db), Ledger: led, PINKey: pinKey, Clock: e.clk.Now}); err != nil {
		t.Fatal(err)
	}
	e.merchants = merchant.NewService(sqlstore.NewMerchants(db), e.clk.Now, id.Generator{})
	istore := sqlstore.NewIdentity(db)
	e.outbox = identity.NewOutbox(istore, identitytest.Sealer(t), e.clk.Now, id.Generator{})
	if e.ids, err = identity.New(identity.Config{Store: istore, Sealer: identitytest.Sealer(t), Notifier: e.outbox,
		Key: identity.GenerateKey(), Hasher: &identity.Argon2id{Params: fastArgon}, Clock: e.clk.Now}); err != nil {
		t.Fatal(err)
	}
	e.store = sqlstore.NewCompliance(db)
	e.registers = map[string]compliance.SelfExclusionRegister{
		"spelpaus": compliance.TestRegister{RegisterName: "spelpaus", Clock: e.clk.Now},
		"oasis":    compliance.TestRegister{RegisterName: "oasis", Clock: e.clk.Now},
		"gamstop":  compliance.TestRegister{RegisterName: "gamstop", Clock: e.clk.Now},
	}
	e.svc = compliance.New(compliance.Config{Store: e.store, Merchants: e.merchants,
		Accounts: compliance.IdentityAccounts{Identity: e.ids}, Registers: e.registers, Clock: e.clk.Now})
	e.pay = payment.New(payment.Config{Store: sqlstore.NewPayments(db), Ledger: led, Vouchers: e.vouchers, Clock: e.clk.Now,
		Gate: compliance.PaymentGate{Service: e.svc}})
	return e
}

// merchant makes a merchant of the category licensed in country, that
// may issue vouchers.
func (e *env) merchant(cat merchant.Category, country string) string {
	e.t.Helper()
	m, err := e.merchants.Create(e.ctx, "Shop "+country)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.merchants.SetProfile(e.ctx, m.ID, merchant.Profile{Category: &cat, Country: &country}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.vouchers.AllowIssuing(e.ctx, m.ID); err != nil {
		e.t.Fatal(err)
	}
	return m.ID
}

var accounts atomic.Int64

// account signs up a Kassa account; with kyc, it also submits identity
// data (the family name chooses the test register's answer) with an
// address in country.
func (e *env) account(kyc bool, given, family, country string) string {
	e.t.Helper()
	n := accounts.Add(1)
	email := fmt.Sprintf("p%d@example.com", n)
	phone := fmt.Sprintf("+4915112%06d", n)
	client := identity.Client{IP: "192.0.2.1", UserAgent: "test"}
	su, err := e.ids.SignUp(e.ctx, identity.SignUpRequest{Email: email, Phone: phone, Client: client})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.ids.SignUpConfirm(e.ctx, su.Token, identitytest.LastCode(e.t, e.outbox, email)); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.ids.SignUpConfirm(e.ctx, su.Token, identitytest.LastCode(e.t, e.outbox, phone)); err != nil {
		e.t.Fatal(err)
	}
	res, err := e.ids.SignUpPassword(e.ctx, su.Token, "correct horse battery staple 7", client)
	if err != nil {
		e.t.Fatal(err)
	}
	if kyc {
		_, err = e.ids.SubmitKYC(e.ctx, res.Customer.ID, identity.IdentityData{GivenName: given, FamilyName: family,
			BirthDate:    time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC),
			Address:      identity.Address{Line1: "Hauptstr. 1", City: "Berlin", PostalCode: "10115", Country: country},
			DocumentType: identity.DocumentIDCard, DocumentCountry: country, DocumentNumber: fmt.Sprintf("T%08d", n)})
		if err != nil {
			e.t.Fatal(err)
		}
	}
	return res.Customer.ID
}

// deposit creates a payment of amount at the merchant and pays it with
// a fresh voucher, as payer (a Kassa account, "" none) and the
// merchant's customer cust ("" none).
func (e *env) deposit(merchantID string, amount money.Amount, payer, cust, country string) (payment.Payment, error) {
	e.t.Helper()
	vs, err := e.vouchers.Issue(e.ctx, voucher.IssueRequest{Count: 1, Amount: amount, Currency: "EUR", IssuedBy: merchantID})
	if err != nil {
		e.t.Fatal(err)
	}
	p := e.create(merchantID, amount, cust, country)
	return e.pay.Confirm(e.ctx, merchantID, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret,
		PINs: []string{vs[0].PIN}, PayerID: payer, ClientIP: "192.0.2.1"})
}

func (e *env) create(merchantID string, amount money.Amount, cust, country string) payment.Payment {
	e.t.Helper()
	p, err := e.pay.Create(e.ctx, merchantID, payment.CreateRequest{Amount: amount, Currency: "EUR",
		Customer: payment.Customer{ID: cust, BillingCountry: country}})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}
