package payout_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/store/sqlstore"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is the real stack over one database: ledger, payouts, the test bank.
type env struct {
	t        *testing.T
	db       *sqlstore.DB
	clk      *testclock.Clock
	led      *ledger.Ledger
	verifier string
	store    payout.Store
	svc      *payout.Service
	bank     *payout.TestBank
	merchant string
	funded   money.Amount
}

// options change an env before its service is made.
type options struct {
	limits      payout.Limits
	reviewAbove money.Amount
	wrap        func(payout.Store) payout.Store
}

func forEachBackend(t *testing.T, o options, fn func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		fn(t, newEnv(t, db, o))
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := sqlstore.OpenPostgres(context.Background(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		fn(t, newEnv(t, db, o))
	})
}

func newSQLiteEnv(t *testing.T, o options) *env {
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, db, o)
}

func newEnv(t *testing.T, db *sqlstore.DB, o options) *env {
	t.Helper()
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	e := &env{t: t, db: db, clk: testclock.New(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))}
	skey, vkey, err := note.GenerateKey(rand.Reader, "kassa.test/payouts")
	if err != nil {
		t.Fatal(err)
	}
	e.verifier = vkey
	e.led, err = ledger.New(ledger.Config{Store: sqlstore.NewLedger(db), SignerKey: skey, Clock: e.clk.Now, ExpiryInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.led.Close() })
	e.store = sqlstore.NewPayouts(db)
	if o.wrap != nil {
		e.store = o.wrap(e.store)
	}
	e.bank = payout.NewTestBank(e.clk.Now)
	e.svc = payout.New(payout.Config{Store: e.store, Ledger: e.led, Clock: e.clk.Now, KYC: testKYC,
		Rails: map[string]payout.Rail{payout.DestBankAccount: e.bank}, Limits: o.limits, ReviewAbove: o.reviewAbove})
	m, err := merchant.NewService(sqlstore.NewMerchants(db), e.clk.Now, id.Generator{}).Create(ctx, "Casino")
	if err != nil {
		t.Fatal(err)
	}
	e.merchant = m.ID
	return e
}

var fundSeq atomic.Int64

// fund credits the merchant's balance with amount EUR, as captured
// payments would.
func (e *env) fund(amount money.Amount) {
	e.t.Helper()
	ctx := context.Background()
	acct := "merchant:" + e.merchant + ":EUR"
	_, err := e.led.CreateAccounts(ctx, "", []ledger.Account{{ID: "test_funding:EUR", Currency: "EUR", Code: 9},
		{ID: acct, Currency: "EUR", Code: 2}})
	if err != nil {
		e.t.Fatal(err)
	}
	ts := []ledger.Transfer{{ID: fmt.Sprintf("fund:%d", fundSeq.Add(1)), DebitAccountID: "test_funding:EUR",
		CreditAccountID: acct, Amount: amount, Currency: "EUR", Code: 9}}
	res, err := e.led.CreateTransfers(ctx, "", ts)
	if err != nil || res[0].Code != ledger.OK {
		e.t.Fatalf("fund: %v %v", res, err)
	}
	e.funded += amount
}

// account returns a platform ledger account (zero when missing).
func (e *env) account(id string) ledger.Account {
	e.t.Helper()
	a, err := e.led.Account(context.Background(), "", id)
	if err != nil && err != ledger.ErrNotFound {
		e.t.Fatal(err)
	}
	return a
}

// merchantAccount is the merchant's EUR balance account.
func (e *env) merchantAccount() ledger.Account { return e.account("merchant:" + e.merchant + ":EUR") }

// Test IBANs of the test bank (docs/payouts.md), account number's last
// digit choosing the outcome.
var (
	ibanPaid     = payout.IBANCheckDigits("DE", "100100100000000000")
	ibanClosed   = payout.IBANCheckDigits("DE", "100100100000000001")
	ibanReturned = payout.IBANCheckDigits("DE", "100100100000000003")
	ibanLostAns  = payout.IBANCheckDigits("DE", "100100100000000004")
	ibanLostReq  = payout.IBANCheckDigits("DE", "100100100000000005")
)

func jane() payout.Customer {
	return payout.Customer{ID: "player-1", Email: "jane@example.com", FirstName: "Jane", LastName: "Doe", DateOfBirth: "1990-05-17"}
}

func bankReq(amount money.Amount, iban string) payout.CreateRequest {
	return payout.CreateRequest{Amount: amount, Currency: "EUR", Customer: jane(), CreatedBy: "key_a",
		Destination: payout.Destination{Type: payout.DestBankAccount, IBAN: iban, AccountHolder: "DOE, Jane"}}
}

// process runs the worker until nothing changes (bounded).
func (e *env) process() {
	e.t.Helper()
	for range 10 {
		n, err := e.svc.Process(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	e.t.Fatal("the worker kept changing payouts after 10 passes")
}

// check asserts the ledger verifies and the invariants hold: the merchant
// account's pending debits are the open payouts; what the merchant has
// paid out is what left the clearing account and the bank holds.
func (e *env) check() {
	e.t.Helper()
	ctx := context.Background()
	if _, err := ledger.Verify(ctx, sqlstore.NewLedger(e.db), e.verifier); err != nil {
		e.t.Errorf("ledger verify: %v", err)
	}
	if _, ms, err := e.svc.Reconcile(ctx); err != nil || len(ms) > 0 {
		e.t.Errorf("payout reconcile: %v %+v", err, ms)
	}
	sums, err := e.store.PayoutSums(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	m := e.merchantAccount()
	if got, want := m.DebitsPending, sums["merchant:"+e.merchant+":EUR"].Open; got != want {
		e.t.Errorf("merchant pending debits %d, open payouts %d", got, want)
	}
	if avail := m.CreditsPosted - m.DebitsPosted - m.DebitsPending; avail < 0 {
		e.t.Errorf("merchant balance overdrawn: %d available", avail)
	}
	c := e.account("payout_clearing:EUR")
	// Withdrawals reserve payers' wallets, not the merchant's balance.
	if w := sums["merchant:"+payout.WalletMerchant+":EUR"].Open; c.CreditsPending != m.DebitsPending+w {
		e.t.Errorf("clearing pending credits %d, merchant pending debits %d, open withdrawals %d", c.CreditsPending, m.DebitsPending, w)
	}
}

func moneyAmount(n int64) money.Amount { return money.Amount(n) }

// kycTable is identity's answers for Kassa accounts: the e2e test
// (cmd/kassa) signs a payer up and verifies them with the real service.
type kycTable map[string]payout.Identity

func (k kycTable) Identity(_ context.Context, customerID string) (payout.Identity, error) {
	idn, ok := k[customerID]
	if !ok {
		return payout.Identity{}, kassa.Errorf(kassa.ENotFound, "customer_not_found", "no such customer")
	}
	return idn, nil
}

var jane1990 = payout.Identity{Email: "jane@example.com", GivenName: "Jane", FamilyName: "Doe", DateOfBirth: "1990-05-17", Verified: true}

var testKYC = kycTable{"cus_jane": jane1990, "cus_w": jane1990,
	"cus_new": {Email: "new@example.com", GivenName: "Jane", FamilyName: "Doe", DateOfBirth: "1990-05-17"}}
