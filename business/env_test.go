package business_test

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/voucher"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is the real stack over one database: ledger, vouchers, payments
// priced by business accounts, payouts with the SEPA test bank.
type env struct {
	t        testing.TB
	db       *sqlstore.DB
	clk      *testclock.Clock
	led      *ledger.Ledger
	verifier string
	vouchers *voucher.Service
	pay      *payment.Service
	payouts  *payout.Service
	bank     *payout.TestBank
	biz      *business.Service
	merchant string
	other    string // a second merchant (another tenant)
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
	e := &env{t: t, db: db, clk: testclock.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))}
	skey, vkey, err := note.GenerateKey(rand.Reader, "kassa.test/business")
	if err != nil {
		t.Fatal(err)
	}
	e.verifier = vkey
	e.led, err = ledger.New(ledger.Config{Store: sqlstore.NewLedger(db), SignerKey: skey, Clock: e.clk.Now, ExpiryInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.led.Close() })
	pinKey := make([]byte, 32)
	rand.Read(pinKey)
	e.vouchers, err = voucher.New(voucher.Config{Store: sqlstore.NewVouchers(db), Ledger: e.led, PINKey: pinKey, Clock: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.bank = payout.NewTestBank(e.clk.Now)
	e.payouts = payout.New(payout.Config{Store: sqlstore.NewPayouts(db), Ledger: e.led, Clock: e.clk.Now,
		Rails: map[string]payout.Rail{payout.DestBankAccount: e.bank}, Limits: payout.Limits{PayerDay: 1 << 40, PayerMonth: 1 << 40, MerchantDay: 1 << 40}})
	e.biz = business.New(business.Config{Store: sqlstore.NewBusiness(db), Ledger: e.led, Payouts: e.payouts, Clock: e.clk.Now})
	e.pay = payment.New(payment.Config{Store: sqlstore.NewPayments(db), Ledger: e.led, Vouchers: e.vouchers, Clock: e.clk.Now,
		Pricing: e.biz, Movements: e.movements})
	ms := merchant.NewService(sqlstore.NewMerchants(db), e.clk.Now, id.Generator{})
	for _, p := range []*string{&e.merchant, &e.other} {
		m, err := ms.Create(ctx, "Shop")
		if err != nil {
			t.Fatal(err)
		}
		*p = m.ID
		if err := e.vouchers.AllowIssuing(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// movements adds payouts' and captures' bookings to payment reconciliation
// (cmd/kassa wires the same).
func (e *env) movements(ctx context.Context) (map[string]payment.Movement, error) {
	out, err := e.biz.Movements(ctx)
	if err != nil {
		return nil, err
	}
	sums, err := e.payouts.Sums(ctx)
	if err != nil {
		return nil, err
	}
	for acct, s := range sums {
		m := out[acct]
		m.Posted -= s.Paid
		m.Pending -= s.Open
		out[acct] = m
	}
	return out, nil
}

// charge takes a voucher payment of amount for merchant m, captured at
// once (automatic) or authorized then captured (manual).
func (e *env) charge(m string, amount money.Amount, manual bool) payment.Payment {
	e.t.Helper()
	ctx := context.Background()
	vs, err := e.vouchers.Issue(ctx, voucher.IssueRequest{Count: 1, Amount: amount, Currency: "EUR", IssuedBy: m})
	if err != nil {
		e.t.Fatal(err)
	}
	cm := payment.CaptureAutomatic
	if manual {
		cm = payment.CaptureManual
	}
	p, err := e.pay.Create(ctx, m, payment.CreateRequest{Amount: amount, Currency: "EUR", CaptureMethod: cm})
	if err != nil {
		e.t.Fatal(err)
	}
	p, err = e.pay.Confirm(ctx, m, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, PINs: []string{vs[0].PIN}, ClientIP: "192.0.2.1"})
	if err != nil {
		e.t.Fatal(err)
	}
	if manual {
		if p, err = e.pay.Capture(ctx, m, p.ID, nil); err != nil {
			e.t.Fatal(err)
		}
	}
	return p
}

// balance is the merchant's EUR balance from the ledger.
func (e *env) balance(m string) business.Balance {
	e.t.Helper()
	bs, err := e.biz.Balances(context.Background(), m, []money.Currency{"EUR"})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(bs) == 0 {
		return business.Balance{Currency: "EUR"}
	}
	return bs[0]
}

// txns lists every balance transaction of m, newest first.
func (e *env) txns(m string, f business.TxnFilter) []business.Txn {
	e.t.Helper()
	f.MerchantID, f.Limit = m, business.ListLimitMax
	var all []business.Txn
	for range 10_000 {
		page, more, err := e.biz.Txns(context.Background(), f)
		if err != nil {
			e.t.Fatal(err)
		}
		all = append(all, page...)
		if !more {
			return all
		}
		f.StartingAfter = page[len(page)-1].ID
	}
	e.t.Fatal("too many pages")
	return nil
}

// process drives payouts and settlements through the test bank until
// nothing changes (bounded).
func (e *env) process() {
	e.t.Helper()
	for range 10 {
		n, err := e.payouts.Process(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	e.t.Fatal("the payout worker kept changing payouts after 10 passes")
}

// check asserts ledger verify and reconciliation are clean.
func (e *env) check() {
	e.t.Helper()
	ctx := context.Background()
	if _, err := ledger.Verify(ctx, sqlstore.NewLedger(e.db), e.verifier); err != nil {
		e.t.Errorf("ledger verify: %v", err)
	}
	rep, err := e.pay.Reconcile(ctx, false)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(rep.Mismatches) > 0 {
		e.t.Errorf("reconcile: %+v", rep.Mismatches)
	}
	if _, ms, err := e.payouts.Reconcile(ctx); err != nil || len(ms) > 0 {
		e.t.Errorf("payout reconcile: %v %+v", err, ms)
	}
}

func code(err error) string {
	if ke := kassa.AsError(err); ke != nil {
		return ke.Code
	}
	if err == nil {
		return ""
	}
	return "internal: " + err.Error()
}

var ibanPaid = payout.IBANCheckDigits("DE", "100100100000000000")
var ibanClosed = payout.IBANCheckDigits("DE", "100100100000000001")
