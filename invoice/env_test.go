package invoice_test

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/voucher"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is the real stack over one database: ledger, vouchers, payments,
// the development outbox and the invoice service on a test clock.
type env struct {
	t         testing.TB
	db        *sqlstore.DB
	clk       *testclock.Clock
	merchants *merchant.Service
	merchant  string
	other     string // another merchant
	issuer    string
	vouchers  *voucher.Service
	payments  *payment.Service
	outbox    *identity.Outbox
	svc       *invoice.Service
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

func newSQLiteEnv(t testing.TB) *env {
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, db)
}

func newEnv(t testing.TB, db *sqlstore.DB) *env {
	t.Helper()
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	e := &env{t: t, db: db, clk: testclock.New(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))}
	skey, _, err := note.GenerateKey(rand.Reader, "kassa.test/invoices")
	if err != nil {
		t.Fatal(err)
	}
	led, err := ledger.New(ledger.Config{Store: sqlstore.NewLedger(db), SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	e.merchants = merchant.NewService(sqlstore.NewMerchants(db), nil, id.Generator{})
	for _, x := range []struct {
		name string
		id   *string
	}{{"Acme Bets & Games", &e.merchant}, {"Other Shop", &e.other}, {"Voucher Kiosk", &e.issuer}} {
		m, err := e.merchants.Create(ctx, x.name)
		if err != nil {
			t.Fatal(err)
		}
		*x.id = m.ID
	}
	if e.vouchers, err = voucher.New(voucher.Config{Store: sqlstore.NewVouchers(db), Ledger: led, PINKey: voucher.GenerateKey()}); err != nil {
		t.Fatal(err)
	}
	if err := e.vouchers.AllowIssuing(ctx, e.issuer); err != nil {
		t.Fatal(err)
	}
	e.payments = payment.New(payment.Config{Store: sqlstore.NewPayments(db), Ledger: led, Vouchers: e.vouchers, Clock: e.clk.Now})
	e.outbox = identity.NewOutbox(sqlstore.NewIdentity(db), identitytest.Sealer(t), e.clk.Now, id.Generator{})
	e.svc = invoice.New(invoice.Config{Store: sqlstore.NewInvoices(db), Payments: e.payments, Merchants: e.merchants,
		Notifier: e.outbox, PublicURL: "https://pay.example", Clock: e.clk.Now})
	return e
}

// params is a valid invoice of two lines: 3 × 10.00 at 19 % and 1 × 5.55
// at 7 %.
func params() invoice.Params {
	cur := "EUR"
	due := 14
	lines := []invoice.Line{
		{Description: "Consulting, March", Quantity: 3, UnitAmount: 1000, TaxRate: 1900},
		{Description: "Book: Double-entry bookkeeping", Quantity: 1, UnitAmount: 555, TaxRate: 700},
	}
	return invoice.Params{Customer: &invoice.Customer{ID: "c-42", Name: "Erika Mustermann", Email: "erika@example.com",
		Address: invoice.Address{Line1: "Heidestraße 17", PostalCode: "51147", City: "Köln", Country: "de"}},
		Currency: &cur, Lines: &lines, DueDays: &due}
}

func (e *env) create(p invoice.Params) invoice.Invoice {
	e.t.Helper()
	inv, err := e.svc.Create(context.Background(), e.merchant, p)
	if err != nil {
		e.t.Fatal(err)
	}
	return inv
}

func (e *env) finalized() invoice.Invoice {
	e.t.Helper()
	inv, err := e.svc.Finalize(context.Background(), e.merchant, e.create(params()).ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return inv
}

// payByVoucher pays inv through its page's payment with a fresh voucher.
func (e *env) payByVoucher(inv invoice.Invoice) payment.Payment {
	e.t.Helper()
	ctx := context.Background()
	p, _, err := e.svc.Pay(ctx, inv.ID, inv.PageKey, "https://pay.example/i/"+inv.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	vs, err := e.vouchers.Issue(ctx, voucher.IssueRequest{Count: 1, Amount: inv.Total, Currency: inv.Currency, IssuedBy: e.issuer})
	if err != nil {
		e.t.Fatal(err)
	}
	p, err = e.payments.Confirm(ctx, "", p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, PINs: []string{vs[0].PIN}})
	if err != nil {
		e.t.Fatal(err)
	}
	if p.Status != payment.StatusCaptured {
		e.t.Fatalf("payment %s is %s", p.ID, p.Status)
	}
	return p
}

var _ = money.Amount(0)
