package payment_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"github.com/kassa/kassa/internal/testclock"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
	"github.com/kassa/kassa/voucher"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is the real stack over one database: ledger, vouchers, payments.
type env struct {
	t        *testing.T
	db       *sqlstore.DB
	clk      *testclock.Clock
	led      *ledger.Ledger
	verifier string
	signer   string // the ledger's signer key (a second node's ledger uses it too)
	vouchers *voucher.Service
	pay      *payment.Service
	merchant string

	dir   string // the SQLite data directory ("" on PostgreSQL)
	vault *vault.Service
	acq   *countingAcquirer
	logs  *lockedBuffer // the payment service's and the vault's logs
}

func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	forEachBackendWrapped(t, storeWrap{}, fn)
}

func forEachBackendWrapped(t *testing.T, wrap storeWrap, fn func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		db, err := sqlstore.OpenSQLite(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, db, wrap)
		e.dir = dir
		fn(t, e)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := sqlstore.OpenPostgres(context.Background(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		fn(t, newEnv(t, db, wrap))
	})
}

// storeWrap wraps the stores an env runs on (e.g. to inject faults).
type storeWrap struct {
	ledger   func(ledger.Store) ledger.Store
	payments func(payment.Store) payment.Store
}

func newEnv(t *testing.T, db *sqlstore.DB, wrap ...storeWrap) *env {
	t.Helper()
	var lstore ledger.Store = sqlstore.NewLedger(db)
	var pstore payment.Store = sqlstore.NewPayments(db)
	for _, w := range wrap {
		if w.ledger != nil {
			lstore = w.ledger(lstore)
		}
		if w.payments != nil {
			pstore = w.payments(pstore)
		}
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	e := &env{t: t, db: db, clk: testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
	skey, vkey, err := note.GenerateKey(rand.Reader, "kassa.test/payments")
	if err != nil {
		t.Fatal(err)
	}
	e.verifier, e.signer = vkey, skey
	e.led, err = ledger.New(ledger.Config{Store: lstore, SignerKey: skey, Clock: e.clk.Now, ExpiryInterval: -1})
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
	e.logs = &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	keys, err := vault.OpenKeyFile(filepath.Join(t.TempDir(), "vault-kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	fpKey := make([]byte, 32)
	rand.Read(fpKey)
	e.vault, err = vault.New(vault.Config{Store: sqlstore.NewVault(db), Keys: keys, FingerprintKey: fpKey, Clock: e.clk.Now, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.vault.Close)
	test := acquirer.NewTest()
	test.SlowDelay = 300 * time.Millisecond
	e.acq = &countingAcquirer{Test: test, authorizes: map[string]int{}}
	e.pay = payment.New(payment.Config{Store: pstore, Ledger: e.led, Vouchers: e.vouchers, Clock: e.clk.Now,
		Vault: e.vault, Acquirer: acquirer.WithTimeout(e.acq, 5*time.Second), Logger: logger})
	m, err := merchant.NewService(sqlstore.NewMerchants(db), e.clk.Now, id.Generator{}).Create(ctx, "Shop")
	if err != nil {
		t.Fatal(err)
	}
	e.merchant = m.ID
	if err := e.vouchers.AllowIssuing(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	return e
}

// issue makes n vouchers of amount EUR and returns their PINs and serials.
func (e *env) issue(n int, amount money.Amount) (pins, serials []string) {
	e.t.Helper()
	vs, err := e.vouchers.Issue(context.Background(), voucher.IssueRequest{Count: n, Amount: amount, Currency: "EUR", IssuedBy: e.merchant})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, v := range vs {
		pins, serials = append(pins, v.PIN), append(serials, v.Serial)
	}
	return pins, serials
}

func (e *env) balance(serial string) money.Amount {
	e.t.Helper()
	a, err := e.led.Account(context.Background(), "", "voucher:"+serial)
	if err != nil {
		e.t.Fatal(err)
	}
	return a.CreditsPosted - a.DebitsPosted - a.DebitsPending
}

func (e *env) merchantBalance() payment.Balance {
	e.t.Helper()
	bs, err := e.pay.MerchantBalances(context.Background(), e.merchant)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(bs) == 0 {
		return payment.Balance{}
	}
	return bs[0]
}

func (e *env) create(amount money.Amount, method string) payment.Payment {
	e.t.Helper()
	p, err := e.pay.Create(context.Background(), e.merchant, payment.CreateRequest{Amount: amount, Currency: "EUR", CaptureMethod: method})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) confirm(p payment.Payment, pins ...string) (payment.Payment, error) {
	return e.pay.Confirm(context.Background(), e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, PINs: pins, ClientIP: "192.0.2.1"})
}

// check asserts that ledger verify and reconciliation are clean.
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

func TestLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pins, serials := e.issue(3, 1000)
		p := e.create(2500, payment.CaptureManual)
		p, err := e.confirm(p, pins...)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != payment.StatusAuthorized || p.AmountCapturable != 2500 {
			t.Fatalf("after confirm: %s capturable %d", p.Status, p.AmountCapturable)
		}
		if b := []money.Amount{e.balance(serials[0]), e.balance(serials[1]), e.balance(serials[2])}; b[0] != 0 || b[1] != 0 || b[2] != 500 {
			t.Errorf("voucher balances after authorization %v, want [0 0 500]", b)
		}
		if mb := e.merchantBalance(); mb.Pending != 2500 || mb.Available != 0 {
			t.Errorf("merchant balance %+v, want 2500 pending", mb)
		}
		amt := money.Amount(2000)
		p, err = e.pay.Capture(ctx, e.merchant, p.ID, &amt)
		if err != nil {
			t.Fatal(err)
		}
		// The third voucher was not needed for 2000: its 500 is released.
		if b := e.balance(serials[2]); b != 1000 || p.AmountCaptured != 2000 {
			t.Errorf("after partial capture: voucher 3 balance %d, captured %d", b, p.AmountCaptured)
		}
		refundAmt := money.Amount(700)
		r, p, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID, Amount: &refundAmt})
		if err != nil {
			t.Fatal(err)
		}
		// Refunds go back in reverse PIN order: voucher 2 paid last (1000).
		if e.balance(serials[1]) != 700 || e.balance(serials[0]) != 0 || r.Amount != 700 {
			t.Errorf("after refund: voucher balances %d %d", e.balance(serials[0]), e.balance(serials[1]))
		}
		if mb := e.merchantBalance(); mb.Available != 1300 || mb.Pending != 0 {
			t.Errorf("merchant balance %+v, want 1300 available", mb)
		}
		over := money.Amount(1301)
		if _, _, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID, Amount: &over}); code(err) != "amount_too_large" {
			t.Errorf("refund above what is left = %v", err)
		}
		if _, _, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID}); err != nil {
			t.Errorf("refund of the rest: %v", err)
		}
		if mb := e.merchantBalance(); mb.Available != 0 {
			t.Errorf("after full refund merchant has %d", mb.Available)
		}
		// Automatic capture in one step.
		p2 := e.create(300, payment.CaptureAutomatic)
		p2, err = e.confirm(p2, pins[2])
		if err != nil || p2.Status != payment.StatusCaptured || e.balance(serials[2]) != 700 {
			t.Errorf("automatic: %v %s balance %d", err, p2.Status, e.balance(serials[2]))
		}
		e.check()
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pins, serials := e.issue(4, 1000)
		usd, err := e.vouchers.Issue(ctx, voucher.IssueRequest{Count: 1, Amount: 1000, Currency: "USD", IssuedBy: e.merchant})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.vouchers.Lock(ctx, e.merchant, serials[1]); err != nil {
			t.Fatal(err)
		}
		p := e.create(500, payment.CaptureManual)
		eleven := make([]string, 11)
		for i := range eleven {
			eleven[i] = pins[0]
		}
		tests := []struct {
			name string
			pins []string
			want string
		}{
			{"wrong PIN", []string{"1234567890123456"}, "voucher_pin_invalid"},
			{"malformed PIN", []string{"12ab"}, "voucher_pin_invalid"},
			{"locked voucher", []string{pins[1]}, "voucher_locked"},
			{"currency mismatch", []string{usd[0].PIN}, "voucher_currency_mismatch"},
			{"no PINs", nil, "pins_required"},
			{"11 PINs", eleven, "too_many_pins"},
		}
		for _, tt := range tests {
			if _, err := e.confirm(p, tt.pins...); code(err) != tt.want {
				t.Errorf("%s: %v, want %s", tt.name, err, tt.want)
			}
		}
		// Depleted: spend a voucher fully, then try it.
		spend := e.create(1000, payment.CaptureAutomatic)
		if _, err := e.confirm(spend, pins[3]); err != nil {
			t.Fatal(err)
		}
		if _, err := e.confirm(p, pins[3]); code(err) != "voucher_depleted" {
			t.Errorf("depleted voucher: %v", err)
		}
		// Not enough on the vouchers given.
		big := e.create(5000, payment.CaptureManual)
		if _, err := e.confirm(big, pins[0], pins[2]); code(err) != "voucher_balance_insufficient" {
			t.Errorf("insufficient: %v", err)
		}
		if _, err := e.pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: "nope", PINs: pins[:1]}); code(err) != "client_secret_invalid" {
			t.Errorf("bad client secret: %v", err)
		}
		for _, amount := range []money.Amount{0, -5, payment.AmountMax + 1} {
			if _, err := e.pay.Create(ctx, e.merchant, payment.CreateRequest{Amount: amount, Currency: "EUR"}); code(err) != "amount_invalid" {
				t.Errorf("amount %d: %v", amount, err)
			}
		}
		for _, req := range []payment.CreateRequest{{Amount: 1, Currency: "EURO"}, {Amount: 1, Currency: "EUR", CaptureMethod: "later"},
			{Amount: 1, Currency: "EUR", ReturnURL: "javascript:alert(1)"}, {Amount: 1, Currency: "EUR", Metadata: []byte(`[1]`)}} {
			if _, err := e.pay.Create(ctx, e.merchant, req); kassa.ErrorKind(err) != kassa.EInvalid {
				t.Errorf("create %+v: %v, want invalid", req, err)
			}
		}
		// After all that, the payment still waits and no voucher lost money.
		got, err := e.pay.Get(ctx, e.merchant, p.ID)
		if err != nil || got.Status != payment.StatusRequiresAction || got.Version != 1 {
			t.Errorf("payment after bad input: %+v %v", got, err)
		}
		if e.balance(serials[0]) != 1000 || e.balance(serials[1]) != 1000 || e.balance(serials[2]) != 1000 {
			t.Error("a bad request moved voucher money")
		}
		// Capture above what was authorized.
		p, err = e.confirm(p, pins[0])
		if err != nil {
			t.Fatal(err)
		}
		over := money.Amount(501)
		if _, err := e.pay.Capture(ctx, e.merchant, p.ID, &over); code(err) != "amount_too_large" {
			t.Errorf("capture above authorized: %v", err)
		}
		if b := e.balance(serials[0]); b != 500 {
			t.Errorf("voucher balance after refused capture %d, want 500", b)
		}
		e.check()
	})
}

func TestDuplicateReference(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		first, err := e.pay.Create(ctx, e.merchant, payment.CreateRequest{Amount: 100, Currency: "EUR", MerchantReference: "order-7"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.pay.Create(ctx, e.merchant, payment.CreateRequest{Amount: 100, Currency: "EUR", MerchantReference: "order-7"})
		if ke := kassa.AsError(err); ke == nil || ke.Code != "payment_duplicate" || !contains(ke.Message, first.ID) {
			t.Fatalf("second live payment: %v, want payment_duplicate naming %s", err, first.ID)
		}
		if _, err := e.pay.Cancel(ctx, e.merchant, first.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.pay.Create(ctx, e.merchant, payment.CreateRequest{Amount: 100, Currency: "EUR", MerchantReference: "order-7"}); err != nil {
			t.Errorf("reference after cancel: %v", err)
		}
	})
}

func contains(s, sub string) bool {
	return len(sub) > 0 && len(s) >= len(sub) && (s == sub || index(s, sub) >= 0)
}

func index(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestRaces runs the dangerous pairs at once: money never doubles or
// disappears.
func TestRaces(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pins, serials := e.issue(2, 1000)

		// Two concurrent confirms of one payment: one wins.
		p := e.create(600, payment.CaptureAutomatic)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, errs[i] = e.confirm(p, pins[0]) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("concurrent confirms: %v / %v, want exactly one success", errs[0], errs[1])
		}
		if b := e.balance(serials[0]); b != 400 {
			t.Errorf("voucher balance %d after concurrent confirms, want 400", b)
		}

		// Two payments racing for one voucher that covers only one.
		a, b := e.create(300, payment.CaptureAutomatic), e.create(300, payment.CaptureAutomatic)
		for i, q := range []payment.Payment{a, b} {
			wg.Go(func() { _, errs[i] = e.confirm(q, pins[0]) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Errorf("racing payments on one voucher: %v / %v", errs[0], errs[1])
		}
		if b := e.balance(serials[0]); b != 100 {
			t.Errorf("voucher balance %d, want 100", b)
		}

		// Two concurrent captures.
		m := e.create(500, payment.CaptureManual)
		if _, err := e.confirm(m, pins[1]); err != nil {
			t.Fatal(err)
		}
		for i := range errs {
			wg.Go(func() { _, errs[i] = e.pay.Capture(ctx, e.merchant, m.ID, nil) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Errorf("concurrent captures: %v / %v", errs[0], errs[1])
		}

		// Capture racing expiry, driven by the clock.
		pins2, serials2 := e.issue(1, 1000)
		x := e.create(400, payment.CaptureManual)
		if _, err := e.confirm(x, pins2[0]); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(payment.CaptureWindowDefault - time.Millisecond)
		var capErr, expErr error
		wg.Go(func() { _, capErr = e.pay.Capture(ctx, e.merchant, x.ID, nil) })
		wg.Go(func() {
			e.clk.Advance(2 * time.Millisecond)
			_, expErr = e.pay.ExpireDue(ctx)
		})
		wg.Wait()
		got, err := e.pay.Get(ctx, e.merchant, x.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch got.Status {
		case payment.StatusCaptured:
			if e.balance(serials2[0]) != 600 {
				t.Errorf("captured, yet voucher has %d", e.balance(serials2[0]))
			}
		case payment.StatusExpired:
			if e.balance(serials2[0]) != 1000 {
				t.Errorf("expired, yet voucher has %d", e.balance(serials2[0]))
			}
		default:
			t.Errorf("after capture vs expiry: %s (capture %v, expiry %v)", got.Status, capErr, expErr)
		}
		e.check()
	})
}

func TestExpiryByClock(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pins, serials := e.issue(1, 1000)
		unpaid := e.create(100, payment.CaptureAutomatic)
		auth := e.create(700, payment.CaptureManual)
		if _, err := e.confirm(auth, pins[0]); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(payment.UnpaidTTL + time.Second)
		if n, err := e.pay.ExpireDue(ctx); err != nil || n != 1 {
			t.Errorf("ExpireDue after 30m = %d, %v; want the unpaid one", n, err)
		}
		if p, _ := e.pay.Get(ctx, e.merchant, unpaid.ID); p.Status != payment.StatusExpired {
			t.Errorf("unpaid payment is %s", p.Status)
		}
		if _, err := e.confirm(unpaid, pins[0]); code(err) != "payment_unexpected_state" {
			t.Errorf("confirm after expiry: %v", err)
		}
		if e.balance(serials[0]) != 300 {
			t.Errorf("authorization released early: balance %d", e.balance(serials[0]))
		}
		e.clk.Advance(payment.CaptureWindowDefault)
		if n, err := e.pay.ExpireDue(ctx); err != nil || n != 1 {
			t.Errorf("ExpireDue after the capture window = %d, %v", n, err)
		}
		if p, _ := e.pay.Get(ctx, e.merchant, auth.ID); p.Status != payment.StatusExpired || e.balance(serials[0]) != 1000 {
			t.Errorf("authorization after window: %s, voucher balance %d", p.Status, e.balance(serials[0]))
		}
		if _, err := e.pay.Capture(ctx, e.merchant, auth.ID, nil); code(err) != "payment_unexpected_state" {
			t.Errorf("capture after expiry: %v", err)
		}
		e.check()
	})
}

func TestReconcileReversesDuplicates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		// Simulate a database without the unique index (a bad restore):
		// two live payments with one reference can then exist.
		if _, err := e.db.Writer().ExecContext(ctx, `DROP INDEX payments_reference_live`); err != nil {
			t.Fatal(err)
		}
		pins, _ := e.issue(1, 1000)
		var ps []payment.Payment
		for range 2 {
			p, err := e.pay.Create(ctx, e.merchant, payment.CreateRequest{Amount: 200, Currency: "EUR", MerchantReference: "dup"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.confirm(p, pins[0]); err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		rep, err := e.pay.Reconcile(ctx, false)
		if err != nil || rep.Unfixed() != 1 {
			t.Fatalf("reconcile without fix: %+v %v, want one mismatch", rep, err)
		}
		rep, err = e.pay.Reconcile(ctx, true)
		if err != nil || rep.Unfixed() != 0 || len(rep.Mismatches) != 1 || !rep.Mismatches[0].Fixed {
			t.Fatalf("reconcile --fix: %+v %v", rep, err)
		}
		later := ps[0]
		if ps[1].ID > ps[0].ID {
			later = ps[1]
		}
		got, _ := e.pay.Get(ctx, e.merchant, later.ID)
		if got.AmountRefunded != 200 {
			t.Errorf("the later duplicate %s was not reversed: %+v", later.ID, got)
		}
		var n int
		if err := e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_events WHERE type = 'payment.duplicate_reversed'`).Scan(&n); err != nil || n != 1 {
			t.Errorf("%d payment.duplicate_reversed events (%v), want 1", n, err)
		}
		if rep, _ := e.pay.Reconcile(ctx, false); len(rep.Mismatches) != 0 {
			t.Errorf("after the fix: %+v", rep.Mismatches)
		}
		if mb := e.merchantBalance(); mb.Available != 200 {
			t.Errorf("merchant keeps %d, want 200 (one payment)", mb.Available)
		}
		e.check()
	})
}

var _ = fmt.Sprint
