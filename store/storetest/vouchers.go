package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/kassa/kassa/internal/testclock"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/voucher"
)

func init() {
	Register("Vouchers", func(t *testing.T, open Opener) {
		t.Run("Issue", func(t *testing.T) { testVoucherIssue(t, open) })
		t.Run("NeverNegative", func(t *testing.T) { testVoucherNeverNegative(t, open) })
		t.Run("Status", func(t *testing.T) { testVoucherStatus(t, open) })
		t.Run("Resolve", func(t *testing.T) { testVoucherResolve(t, open) })
		t.Run("GuessLimits", func(t *testing.T) { testVoucherGuessLimits(t, open) })
		t.Run("ConcurrentLockout", func(t *testing.T) { testVoucherConcurrentLockout(t, open) })
		t.Run("PINRace", func(t *testing.T) { testVoucherPINRace(t, open) })
		t.Run("Expiry", func(t *testing.T) { testVoucherExpiry(t, open) })
	})
}

// voucherEnv is a voucher service and a ledger over one database, with a
// distributor and another merchant.
type voucherEnv struct {
	db     *sqlstore.DB
	svc    *voucher.Service
	led    *ledger.Ledger
	hooks  *sqlstore.Webhooks
	clock  *testclock.Clock
	dist   merchant.Created
	other  merchant.Created
	pinKey []byte
}

func newVoucherEnv(t *testing.T, open Opener) *voucherEnv {
	t.Helper()
	ctx := context.Background()
	e := &voucherEnv{db: open(t), clock: NewFakeClock()}
	e.clock.Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	ms := merchant.NewService(sqlstore.NewMerchants(e.db), nil, id.Generator{})
	var err error
	if e.dist, err = ms.Create(ctx, "Card Seller"); err != nil {
		t.Fatal(err)
	}
	if e.other, err = ms.Create(ctx, "Casino"); err != nil {
		t.Fatal(err)
	}
	skey, _, err := note.GenerateKey(rand.Reader, "kassa.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	// The ledger runs on the same database: the real SQL ledger store.
	if e.led, err = ledger.New(ledger.Config{Store: sqlstore.NewLedger(e.db), SignerKey: skey}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.led.Close() })
	e.hooks = sqlstore.NewWebhooks(e.db)
	e.pinKey = voucher.GenerateKey()
	e.svc, err = voucher.New(voucher.Config{
		Store: sqlstore.NewVouchers(e.db), Ledger: e.led, PINKey: e.pinKey, Clock: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.AllowIssuing(ctx, e.dist.ID); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *voucherEnv) issue(t *testing.T, n int, amount money.Amount) []voucher.Issued {
	t.Helper()
	vs, err := e.svc.Issue(context.Background(), voucher.IssueRequest{Count: n, Amount: amount, Currency: "EUR", IssuedBy: e.dist.ID})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// events returns the data of the merchant's events of a type, oldest first.
func (e *voucherEnv) events(t *testing.T, merchantID, typ string) []string {
	t.Helper()
	evs, _, err := e.hooks.Events(context.Background(), merchantID, typ, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[len(evs)-1-i] = string(ev.Data)
	}
	return out
}

func (e *voucherEnv) account(t *testing.T, accountID string) ledger.Account {
	t.Helper()
	a, err := e.led.Account(context.Background(), "", accountID)
	if err != nil {
		t.Fatalf("ledger account %s: %v", accountID, err)
	}
	return a
}

func wantCode(t *testing.T, what string, err error, kind, code, param string) {
	t.Helper()
	ke := kassa.AsError(err)
	if ke == nil || ke.Kind != kind || ke.Code != code || ke.Param != param {
		t.Errorf("%s = %v, want %s %s (param %q)", what, err, kind, code, param)
	}
}

func testVoucherIssue(t *testing.T, open Opener) {
	e := newVoucherEnv(t, open)
	ctx := context.Background()

	_, err := e.svc.Issue(ctx, voucher.IssueRequest{Count: 1, Amount: 100, Currency: "EUR", IssuedBy: e.other.ID})
	wantCode(t, "Issue by a non-distributor", err, kassa.EForbidden, voucher.CodeIssuingNotAllowed, "")
	if err := e.svc.AllowIssuing(ctx, "mer_nope"); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("AllowIssuing(unknown) = %v, want not found", err)
	}
	if err := e.svc.AllowIssuing(ctx, e.dist.ID); err != nil {
		t.Errorf("AllowIssuing twice: %v", err)
	}
	now := e.clock.Now()
	for _, tt := range []struct {
		req   voucher.IssueRequest
		param string
	}{
		{voucher.IssueRequest{Count: 0, Amount: 100, Currency: "EUR"}, "count"},
		{voucher.IssueRequest{Count: voucher.IssueCountMax + 1, Amount: 100, Currency: "EUR"}, "count"},
		{voucher.IssueRequest{Count: 1, Amount: 0, Currency: "EUR"}, "amount"},
		{voucher.IssueRequest{Count: 1, Amount: voucher.AmountMaxDefault + 1, Currency: "EUR"}, "amount"},
		{voucher.IssueRequest{Count: 1, Amount: 100, Currency: "eur"}, "currency"},
		{voucher.IssueRequest{Count: 1, Amount: 100, Currency: "QQQ"}, "currency"},
		{voucher.IssueRequest{Count: 1, Amount: 100, Currency: "EUR", ExpiresAt: now}, "expires"},
		{voucher.IssueRequest{Count: 1, Amount: 100, Currency: "EUR", ExpiresAt: now.Add(voucher.ValidityMax + time.Hour)}, "expires"},
	} {
		tt.req.IssuedBy = e.dist.ID
		_, err := e.svc.Issue(ctx, tt.req)
		if ke := kassa.AsError(err); ke == nil || ke.Kind != kassa.EInvalid || ke.Param != tt.param {
			t.Errorf("Issue(%+v) = %v, want invalid %s", tt.req, err, tt.param)
		}
	}

	vs := e.issue(t, 3, 5000)
	serials := map[string]bool{}
	for _, v := range vs {
		if !voucher.ValidSerial(v.Serial) || serials[v.Serial] || !id.HasPrefix(v.ID, "vch") {
			t.Errorf("voucher %s serial %q: bad or repeated", v.ID, v.Serial)
		}
		serials[v.Serial] = true
		if p, ok := voucher.NormalizePIN(v.PIN); !ok || p != v.PIN {
			t.Errorf("PIN of %s is not 16 digits", v.Serial)
		}
		if v.Status != voucher.StatusActive || v.Amount != 5000 || v.Balance != 5000 ||
			!v.ExpiresAt.Equal(now.Add(voucher.ValidityDefault)) {
			t.Errorf("issued %+v, want active 5000 EUR expiring in 3 years", v.Voucher)
		}
		a := e.account(t, voucher.AccountID(v.Serial))
		if a.CreditsPosted != 5000 || a.Flags != ledger.DebitsMustNotExceedCredits || a.Currency != "EUR" {
			t.Errorf("account of %s = %+v", v.Serial, a)
		}
		got, err := e.svc.Get(ctx, e.dist.ID, v.Serial)
		if err != nil || got.Balance != 5000 || got.ID != v.ID || got.IssuedBy != e.dist.ID {
			t.Errorf("Get(%s) = %+v, %v", v.Serial, got, err)
		}
		_, err = e.svc.Get(ctx, e.other.ID, v.Serial)
		wantCode(t, "Get by another merchant", err, kassa.ENotFound, voucher.CodeNotFound, "")
	}
	float := e.account(t, voucher.FloatAccountID("EUR"))
	if float.DebitsPosted != 15000 || float.CreditsPosted != 0 || float.Flags != 0 {
		t.Errorf("float = %+v, want 15000 debited", float)
	}
	// The ledger ids are deterministic: funding again is answered "exists".
	v := vs[0]
	rs, err := e.led.CreateTransfers(ctx, "", []ledger.Transfer{{ID: voucher.IssueTransferID(v.Serial),
		DebitAccountID: voucher.FloatAccountID("EUR"), CreditAccountID: voucher.AccountID(v.Serial), Amount: 5000, Currency: "EUR"}})
	if err != nil || rs[0].Code != ledger.Exists {
		t.Errorf("repeated issue transfer = %v, %v; want exists", rs, err)
	}
	// Only keyed hashes are stored: no PIN in any column of any voucher
	// table, and no PIN in the outbox.
	assertNoPINs(t, e.db, vs)
}

// assertNoPINs fails if any PIN appears in any row of the voucher and
// event tables.
func assertNoPINs(t *testing.T, db *sqlstore.DB, vs []voucher.Issued) {
	t.Helper()
	ctx := context.Background()
	var dump strings.Builder
	for _, table := range []string{"vouchers", "voucher_pin_failures", "voucher_lockouts", "webhook_events"} {
		rows, err := db.QueryContext(ctx, `SELECT * FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				fmt.Fprintf(&dump, "%s|%v|", v, v)
			}
		}
		rows.Close()
	}
	for _, v := range vs {
		if strings.Contains(dump.String(), v.PIN) {
			t.Errorf("the PIN of %s is stored in clear", v.Serial)
		}
	}
}

func testVoucherNeverNegative(t *testing.T, open Opener) {
	e := newVoucherEnv(t, open)
	ctx := context.Background()
	v := e.issue(t, 1, 1000)[0]
	acct := voucher.AccountID(v.Serial)
	rs, err := e.led.CreateAccounts(ctx, "", []ledger.Account{{ID: "merchant_sink:EUR", Currency: "EUR"}})
	if err != nil || rs[0].Code != ledger.OK {
		t.Fatalf("create sink: %v %v", rs, err)
	}
	pay := func(tid string, amount money.Amount, flags ledger.TransferFlags) ledger.ResultCode {
		t.Helper()
		rs, err := e.led.CreateTransfers(ctx, "", []ledger.Transfer{{ID: tid, DebitAccountID: acct,
			CreditAccountID: "merchant_sink:EUR", Amount: amount, Currency: "EUR", Flags: flags}})
		if err != nil {
			t.Fatal(err)
		}
		return rs[0].Code
	}
	if c := pay("t1", 1001, 0); c != ledger.ExceedsCredits {
		t.Errorf("overspend by 1 = %s, want exceeds_credits", c)
	}
	if c := pay("t2", 600, ledger.FlagPending); c != ledger.OK {
		t.Fatalf("reserve 600 = %s", c)
	}
	if c := pay("t3", 401, 0); c != ledger.ExceedsCredits {
		t.Errorf("spend past a reservation = %s, want exceeds_credits", c)
	}
	got, err := e.svc.Get(ctx, e.dist.ID, v.Serial)
	if err != nil || got.Balance != 400 {
		t.Errorf("balance with 600 reserved = %v, %v; want 400", got.Balance, err)
	}
	if c := pay("t4", 400, 0); c != ledger.OK {
		t.Fatalf("spend the rest = %s", c)
	}
	// Nothing available but 600 reserved: still active.
	if r, err := e.svc.Refresh(ctx, v.Serial); err != nil || r.Status != voucher.StatusActive || r.Balance != 0 {
		t.Errorf("Refresh with a reservation = %+v, %v; want active, 0", r, err)
	}
	rs, err = e.led.CreateTransfers(ctx, "", []ledger.Transfer{{ID: "t5", PendingID: "t2", Flags: ledger.FlagPostPending}})
	if err != nil || rs[0].Code != ledger.OK {
		t.Fatalf("capture: %v %v", rs, err)
	}
	if c := pay("t6", 1, 0); c != ledger.ExceedsCredits {
		t.Errorf("spend from an empty voucher = %s, want exceeds_credits", c)
	}
	a := e.account(t, acct)
	if a.DebitsPosted != a.CreditsPosted || a.DebitsPending != 0 {
		t.Errorf("account = %+v, want exactly spent", a)
	}
	r, err := e.svc.Refresh(ctx, v.Serial)
	if err != nil || r.Status != voucher.StatusDepleted {
		t.Errorf("Refresh when spent = %+v, %v; want depleted", r, err)
	}
	if _, err := e.svc.Refresh(ctx, v.Serial); err != nil {
		t.Fatal(err)
	}
	if evs := e.events(t, e.dist.ID, voucher.EventDepleted); len(evs) != 1 {
		t.Errorf("depleted events = %v, want one", evs)
	}
	// A refund brings it back.
	rs, err = e.led.CreateTransfers(ctx, "", []ledger.Transfer{{ID: "refund1", DebitAccountID: "merchant_sink:EUR",
		CreditAccountID: acct, Amount: 250, Currency: "EUR"}})
	if err != nil || rs[0].Code != ledger.OK {
		t.Fatalf("refund: %v %v", rs, err)
	}
	if r, err := e.svc.Refresh(ctx, v.Serial); err != nil || r.Status != voucher.StatusActive || r.Balance != 250 {
		t.Errorf("Refresh after refund = %+v, %v; want active, 250", r, err)
	}
	if evs := e.events(t, e.dist.ID, voucher.EventReactivated); len(evs) != 1 {
		t.Errorf("reactivated events = %v, want one", evs)
	}
}

func testVoucherStatus(t *testing.T, open Opener) {
	e := newVoucherEnv(t, open)
	ctx := context.Background()
	vs := e.issue(t, 2, 700)
	v := vs[0]
	attempt := voucher.AttemptContext{MerchantID: e.other.ID, PaymentID: "pay_1", ClientIP: "192.0.2.1"}

	_, err := e.svc.Lock(ctx, e.other.ID, v.Serial)
	wantCode(t, "Lock by another merchant", err, kassa.ENotFound, voucher.CodeNotFound, "")
	for range 2 { // locking twice changes nothing the second time
		got, err := e.svc.Lock(ctx, e.dist.ID, v.Serial)
		if err != nil || got.Status != voucher.StatusLocked || got.Balance != 700 {
			t.Errorf("Lock = %+v, %v", got, err)
		}
	}
	if evs := e.events(t, e.dist.ID, voucher.EventLocked); len(evs) != 1 || !strings.Contains(evs[0], `"status":"locked"`) {
		t.Errorf("locked events = %v, want one", evs)
	}
	_, err = e.svc.Resolve(ctx, []string{v.PIN}, attempt)
	wantCode(t, "Resolve(locked)", err, kassa.EUnprocessable, voucher.CodeLocked, "pins[0]")
	if got, err := e.svc.Unlock(ctx, e.dist.ID, v.Serial); err != nil || got.Status != voucher.StatusActive {
		t.Errorf("Unlock = %+v, %v", got, err)
	}
	if got, err := e.svc.Resolve(ctx, []string{v.PIN}, attempt); err != nil || len(got) != 1 || got[0].Balance != 700 {
		t.Errorf("Resolve(unlocked) = %+v, %v", got, err)
	}
	got, err := e.svc.Invalidate(ctx, e.dist.ID, v.Serial)
	if err != nil || got.Status != voucher.StatusInvalidated || got.Balance != 0 {
		t.Errorf("Invalidate = %+v, %v", got, err)
	}
	// The balance went back to the float: only the other voucher is owed.
	if f := e.account(t, voucher.FloatAccountID("EUR")); f.DebitsPosted-f.CreditsPosted != 700 {
		t.Errorf("float = %+v, want 700 owed", f)
	}
	if _, err := e.svc.Invalidate(ctx, e.dist.ID, v.Serial); err != nil {
		t.Errorf("Invalidate twice: %v", err)
	}
	for name, f := range map[string]func(context.Context, string, string) (voucher.Voucher, error){
		"Lock": e.svc.Lock, "Unlock": e.svc.Unlock,
	} {
		_, err := f(ctx, e.dist.ID, v.Serial)
		wantCode(t, name+"(invalidated)", err, kassa.EConflict, voucher.CodeStatusConflict, "")
	}
	if evs := e.events(t, e.dist.ID, voucher.EventInvalidated); len(evs) != 1 {
		t.Errorf("invalidated events = %v, want one", evs)
	}
	_, err = e.svc.Resolve(ctx, []string{v.PIN}, attempt)
	wantCode(t, "Resolve(invalidated)", err, kassa.EUnprocessable, voucher.CodeInvalidated, "pins[0]")
	for _, v := range vs {
		if _, err := e.svc.Get(ctx, e.dist.ID, v.Serial); err != nil {
			t.Errorf("Get(%s): %v", v.Serial, err)
		}
	}
	assertNoPINs(t, e.db, vs)
}

func testVoucherResolve(t *testing.T, open Opener) {
	e := newVoucherEnv(t, open)
	ctx := context.Background()
	vs := e.issue(t, 6, 1000)
	active, locked, depleted, invalidated := vs[0], vs[1], vs[2], vs[3]
	if _, err := e.svc.Lock(ctx, e.dist.ID, locked.Serial); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Invalidate(ctx, e.dist.ID, invalidated.Serial); err != nil {
		t.Fatal(err)
	}
	rs, err := e.led.CreateTransfers(ctx, "", []ledger.Transfer{{ID: "spend", DebitAccountID: voucher.AccountID(depleted.Serial),
		CreditAccountID: voucher.FloatAccountID("EUR"), Amount: 1000, Currency: "EUR"}})
	if err != nil || rs[0].Code != ledger.OK {
		t.Fatalf("spend: %v %v", rs, err)
	}
	unknown := "0000000000000000"
	for _, v := range vs {
		if v.PIN == unknown {
			t.Skip("a PIN happens to be all zeros")
		}
	}
	// Each failing call gets a fresh payment and IP, so no limit is hit.
	n := 0
	resolve := func(pins ...string) ([]voucher.Voucher, error) {
		n++
		return e.svc.Resolve(ctx, pins, voucher.AttemptContext{MerchantID: e.other.ID,
			PaymentID: fmt.Sprintf("pay_%d", n), ClientIP: fmt.Sprintf("198.51.100.%d", n)})
	}
	dashed := active.PIN[:4] + "-" + active.PIN[4:8] + " " + active.PIN[8:12] + " - " + active.PIN[12:]
	got, err := resolve(dashed, " "+vs[4].PIN+" ")
	if err != nil || len(got) != 2 || got[0].Serial != active.Serial || got[1].Serial != vs[4].Serial || got[0].Balance != 1000 {
		t.Errorf("Resolve(normalized) = %+v, %v", got, err)
	}
	for _, tt := range []struct {
		pins       []string
		kind, code string
		param      string
	}{
		{[]string{active.PIN, "1234"}, kassa.EInvalid, voucher.CodePINInvalid, "pins[1]"},
		{[]string{active.PIN + "0"}, kassa.EInvalid, voucher.CodePINInvalid, "pins[0]"},
		{[]string{"abcd" + active.PIN[4:]}, kassa.EInvalid, voucher.CodePINInvalid, "pins[0]"},
		{[]string{active.PIN, vs[4].PIN, unknown}, kassa.EInvalid, voucher.CodePINInvalid, "pins[2]"},
		{[]string{active.PIN, dashed}, kassa.EInvalid, voucher.CodePINDuplicate, "pins[1]"},
		{[]string{locked.PIN}, kassa.EUnprocessable, voucher.CodeLocked, "pins[0]"},
		{[]string{active.PIN, depleted.PIN}, kassa.EUnprocessable, voucher.CodeDepleted, "pins[1]"},
		{[]string{invalidated.PIN}, kassa.EUnprocessable, voucher.CodeInvalidated, "pins[0]"},
		{nil, kassa.EInvalid, "pins_invalid", "pins"},
		{make([]string, voucher.PINsPerCallMax+1), kassa.EInvalid, "pins_invalid", "pins"},
	} {
		_, err := resolve(tt.pins...)
		wantCode(t, fmt.Sprintf("Resolve(case %v)", tt.param), err, tt.kind, tt.code, tt.param)
		if err != nil && strings.Contains(err.Error(), active.PIN) {
			t.Errorf("error %q contains a PIN", err)
		}
	}
	// Expiry is read from the clock, before any sweep.
	e.clock.Advance(voucher.ValidityDefault)
	_, err = resolve(vs[5].PIN)
	wantCode(t, "Resolve(expired)", err, kassa.EUnprocessable, voucher.CodeExpired, "pins[0]")
	if _, err := e.svc.Resolve(ctx, []string{active.PIN}, voucher.AttemptContext{}); err == nil {
		t.Error("Resolve without a merchant succeeded")
	}
}

func testVoucherGuessLimits(t *testing.T, open Opener) {
	e := newVoucherEnv(t, open)
	ctx := context.Background()
	v := e.issue(t, 1, 1000)[0]
	wrong := func(i int) string { return fmt.Sprintf("%016d", 1000+i) }
	if v.PIN[:12] == "000000000000" {
		t.Skip("the PIN is near the wrong ones")
	}
	lockedOut := func(what string, err error, seconds int) {
		t.Helper()
		wantCode(t, what, err, kassa.ERateLimited, voucher.CodePINAttemptsExceeded, "")
		var le *voucher.LockedOutError
		if !errors.As(err, &le) || le.Seconds() != seconds {
			t.Errorf("%s: %v, want a lockout of %d s", what, err, seconds)
		}
	}

	// Per payment: 5 failures (from several IPs), then even the right PIN
	// is refused for the payment's lifetime.
	pay := voucher.AttemptContext{MerchantID: e.other.ID, PaymentID: "pay_guess"}
	for i := range voucher.PaymentFailuresMax {
		pay.ClientIP = fmt.Sprintf("203.0.113.%d", i)
		_, err := e.svc.Resolve(ctx, []string{wrong(i)}, pay)
		wantCode(t, "wrong PIN", err, kassa.EInvalid, voucher.CodePINInvalid, "pins[0]")
	}
	pay.ClientIP = "203.0.113.99"
	_, err := e.svc.Resolve(ctx, []string{v.PIN}, pay)
	lockedOut("right PIN after 5 failures", err, int(voucher.PaymentLockout/time.Second))
	e.clock.Advance(time.Hour)
	_, err = e.svc.Resolve(ctx, []string{v.PIN}, pay)
	lockedOut("an hour later", err, int((voucher.PaymentLockout-time.Hour)/time.Second))
	if got, err := e.svc.Resolve(ctx, []string{v.PIN}, voucher.AttemptContext{MerchantID: e.other.ID,
		PaymentID: "pay_new", ClientIP: "203.0.113.99"}); err != nil || len(got) != 1 {
		t.Errorf("a new payment = %v, %v", got, err)
	}
	evs := e.events(t, e.other.ID, voucher.EventPINAttemptsExceeded)
	if len(evs) != 1 || !strings.Contains(evs[0], `"scope":"payment"`) || !strings.Contains(evs[0], `"payment":"pay_guess"`) ||
		!strings.Contains(evs[0], `"locked_until":"`+e.clock.Now().Add(voucher.PaymentLockout-time.Hour).Format(time.RFC3339)) {
		t.Errorf("lockout events = %v, want one for pay_guess", evs)
	}

	// Per IP: 10 failures in 15 minutes across payments and the balance
	// check; the 11th attempt is refused for 15 minutes.
	ip := "2001:db8:1:2::7"
	for i := range voucher.IPFailuresMax {
		a := voucher.AttemptContext{MerchantID: e.other.ID, PaymentID: fmt.Sprintf("pay_ip%d", i), ClientIP: ip}
		if i%2 == 0 {
			_, err = e.svc.Balance(ctx, wrong(i), a)
			wantCode(t, "Balance(wrong)", err, kassa.EInvalid, voucher.CodePINInvalid, "pin")
		} else {
			_, err = e.svc.Resolve(ctx, []string{wrong(i)}, a)
			wantCode(t, "Resolve(wrong)", err, kassa.EInvalid, voucher.CodePINInvalid, "pins[0]")
		}
		e.clock.Advance(time.Minute)
	}
	// Another address of the same /64 is the same subscriber.
	_, err = e.svc.Balance(ctx, v.PIN, voucher.AttemptContext{MerchantID: e.other.ID, ClientIP: "2001:db8:1:2::8"})
	lockedOut("Balance from the locked /64", err, int((voucher.IPLockout-time.Minute)/time.Second))
	_, err = e.svc.Resolve(ctx, []string{v.PIN}, voucher.AttemptContext{MerchantID: e.other.ID, PaymentID: "pay_x", ClientIP: ip})
	lockedOut("Resolve from the locked IP", err, int((voucher.IPLockout-time.Minute)/time.Second))
	if b, err := e.svc.Balance(ctx, v.PIN, voucher.AttemptContext{MerchantID: e.other.ID, ClientIP: "2001:db8:1:3::1"}); err != nil || b.Balance != 1000 {
		t.Errorf("Balance from another /64 = %+v, %v", b, err)
	}
	e.clock.Advance(voucher.IPLockout)
	if b, err := e.svc.Balance(ctx, v.PIN, voucher.AttemptContext{MerchantID: e.other.ID, ClientIP: ip}); err != nil || b.Serial != v.Serial {
		t.Errorf("Balance after the lockout = %+v, %v", b, err)
	}
	// The failures before the lockout do not count again: one more wrong
	// PIN does not lock the IP out again.
	_, err = e.svc.Balance(ctx, wrong(0), voucher.AttemptContext{MerchantID: e.other.ID, ClientIP: ip})
	wantCode(t, "Balance(wrong) after the lockout", err, kassa.EInvalid, voucher.CodePINInvalid, "pin")
	if _, err = e.svc.Balance(ctx, v.PIN, voucher.AttemptContext{MerchantID: e.other.ID, ClientIP: ip}); err != nil {
		t.Errorf("Balance after one more failure: %v", err)
	}
	evs = e.events(t, e.other.ID, voucher.EventPINAttemptsExceeded)
	if len(evs) != 2 || !strings.Contains(evs[1], `"scope":"ip"`) || !strings.Contains(evs[1], `"ip":"2001:db8:1:2::/64"`) {
		t.Errorf("lockout events = %v, want a second one for the /64", evs)
	}

	// Per serial: a valid PIN failing on its status 5 times an hour (from
	// anywhere) locks the voucher out of payments for an hour.
	if _, err := e.svc.Lock(ctx, e.dist.ID, v.Serial); err != nil {
		t.Fatal(err)
	}
	for i := range voucher.SerialFailuresMax {
		_, err := e.svc.Resolve(ctx, []string{v.PIN}, voucher.AttemptContext{MerchantID: e.other.ID,
			PaymentID: fmt.Sprintf("pay_s%d", i), ClientIP: fmt.Sprintf("192.0.2.%d", i)})
		wantCode(t, "Resolve(locked)", err, kassa.EUnprocessable, voucher.CodeLocked, "pins[0]")
	}
	if _, err := e.svc.Unlock(ctx, e.dist.ID, v.Serial); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Resolve(ctx, []string{v.PIN}, voucher.AttemptContext{MerchantID: e.other.ID, PaymentID: "pay_s9", ClientIP: "192.0.2.99"})
	lockedOut("Resolve of a locked-out voucher", err, int(voucher.SerialLockout/time.Second))
	evs = e.events(t, e.other.ID, voucher.EventPINAttemptsExceeded)
	if len(evs) != 3 || !strings.Contains(evs[2], `"serial":"`+v.Serial+`"`) {
		t.Errorf("lockout events = %v, want a third one for the serial", evs)
	}
	// Pruning forgets failures past every window; lockouts in force stay.
	if n, err := e.svc.PruneAttempts(ctx); err != nil || n != 0 {
		t.Errorf("PruneAttempts now = %d, %v; want nothing old enough", n, err)
	}
	e.clock.Advance(48 * time.Hour)
	if n, err := e.svc.PruneAttempts(ctx); err != nil || n == 0 {
		t.Errorf("PruneAttempts 2 days later = %d, %v; want rows deleted", n, err)
	}
	assertNoPINs(t, e.db, []voucher.Issued{v})
}

// testVoucherConcurrentLockout: failures racing past the limit lock the
// source out once and publish one event.
func testVoucherConcurrentLockout(t *testing.T, open Opener) {
	e := newVoucherEnv(t, open)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 3 * voucher.IPFailuresMax {
		wg.Go(func() {
			_, err := e.svc.Balance(ctx, fmt.Sprintf("%016d", i), voucher.AttemptContext{MerchantID: e.other.ID, ClientIP: "192.0.2.50"})
			if k := kassa.ErrorKind(err); k != kassa.EInvalid && k != kassa.ERateLimited {
				t.Errorf("Balance = %v", err)
			}
		})
	}
	wg.Wait()
	if evs := e.events(t, e.other.ID, voucher.EventPINAttemptsExceeded); len(evs) != 1 {
		t.Errorf("lockout events = %d (%v), want 1", len(evs), evs)
	}
}

// countingVouchers counts the PIN lookups of the store it wraps.
type countingVouchers struct {
	*sqlstore.Vouchers
	lookups atomic.Int64
}

func (c *countingVouchers) VoucherByPINHash(ctx context.Context, hash []byte) (voucher.Voucher, error) {
	c.lookups.Add(1)
	return c.Vouchers.VoucherByPINHash(ctx, hash)
}

// testVoucherPINRace attacks the PIN limits with guesses sent all at
// once: 500 wrong PINs for one payment (each from its own IP) are looked
// up at most PaymentFailuresMax times, 500 balance checks from one IP at
// most IPFailuresMax times; were the lockout read before the lookups and
// the failures recorded after them, all 500 would be. The places come
// back: the payment is locked out afterwards, and another one is not.
func testVoucherPINRace(t *testing.T, open Opener) {
	e := newVoucherEnv(t, open)
	ctx := context.Background()
	store := &countingVouchers{Vouchers: sqlstore.NewVouchers(e.db)}
	svc, err := voucher.New(voucher.Config{Store: store, Ledger: e.led, PINKey: e.pinKey, Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	v := e.issue(t, 1, 1000)[0]
	const attackers = 500
	wrong := func(i int) string {
		pin := fmt.Sprintf("%016d", 7000000+i)
		if pin == v.PIN {
			pin = fmt.Sprintf("%016d", 8000000+i)
		}
		return pin
	}
	allAtOnce := func(what string, try func(i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range attackers {
			wg.Go(func() {
				<-start
				err := try(i)
				if k := kassa.ErrorKind(err); k != kassa.EInvalid && k != kassa.ERateLimited {
					t.Errorf("%s %d: %v", what, i, err)
				}
			})
		}
		close(start)
		wg.Wait()
	}

	allAtOnce("Resolve", func(i int) error {
		_, err := svc.Resolve(ctx, []string{wrong(i)}, voucher.AttemptContext{MerchantID: e.other.ID, PaymentID: "pay_race",
			ClientIP: fmt.Sprintf("198.51.%d.%d", i/250, 1+i%250)})
		return err
	})
	if n := store.lookups.Load(); n == 0 || n > voucher.PaymentFailuresMax {
		t.Errorf("%d concurrent wrong PINs for one payment were looked up %d times, want 1 to %d", attackers, n,
			voucher.PaymentFailuresMax)
	}
	_, err = svc.Resolve(ctx, []string{v.PIN}, voucher.AttemptContext{MerchantID: e.other.ID, PaymentID: "pay_race", ClientIP: "192.0.2.1"})
	var le *voucher.LockedOutError
	if !errors.As(err, &le) || le.RetryAfter < voucher.PaymentLockout/2 {
		t.Errorf("the right PIN after the attack = %v, want the payment's lockout", err)
	}

	store.lookups.Store(0)
	allAtOnce("Balance", func(i int) error {
		_, err := svc.Balance(ctx, wrong(i), voucher.AttemptContext{MerchantID: e.other.ID, ClientIP: "203.0.113.77"})
		return err
	})
	if n := store.lookups.Load(); n == 0 || n > voucher.IPFailuresMax {
		t.Errorf("%d concurrent wrong balance checks from one IP were looked up %d times, want 1 to %d", attackers, n,
			voucher.IPFailuresMax)
	}
	if got, err := svc.Resolve(ctx, []string{v.PIN}, voucher.AttemptContext{MerchantID: e.other.ID, PaymentID: "pay_ok",
		ClientIP: "192.0.2.2"}); err != nil || len(got) != 1 {
		t.Errorf("the right PIN for another payment = %v, %v", got, err)
	}
	// Giving places back does not wait for its commit on SQLite
	// (Vouchers.EndAttempt): it is queued before every later write, so
	// once a write made now committed, so did every give-back.
	if err := e.db.Transact(ctx, func(tx *sqlstore.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM voucher_pin_attempts`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d attempts left under way (%v), want none", n, err)
	}
}

func testVoucherExpiry(t *testing.T, open Opener) {
	e := newVoucherEnv(t, open)
	ctx := context.Background()
	now := e.clock.Now()
	short, err := e.svc.Issue(ctx, voucher.IssueRequest{Count: 2, Amount: 300, Currency: "EUR",
		ExpiresAt: now.Add(24 * time.Hour), IssuedBy: e.dist.ID})
	if err != nil {
		t.Fatal(err)
	}
	long := e.issue(t, 1, 300)[0]
	if _, err := e.svc.Lock(ctx, e.dist.ID, short[1].Serial); err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.ExpireDue(ctx); err != nil || n != 0 {
		t.Errorf("ExpireDue before = %d, %v", n, err)
	}
	e.clock.Advance(24 * time.Hour)
	// Read before the sweep: already expired.
	if got, err := e.svc.Get(ctx, e.dist.ID, short[0].Serial); err != nil || got.Status != voucher.StatusExpired {
		t.Errorf("Get past expiry = %+v, %v", got, err)
	}
	if n, err := e.svc.ExpireDue(ctx); err != nil || n != 2 {
		t.Errorf("ExpireDue = %d, %v; want 2", n, err)
	}
	if n, err := e.svc.ExpireDue(ctx); err != nil || n != 0 {
		t.Errorf("ExpireDue again = %d, %v; want 0", n, err)
	}
	if evs := e.events(t, e.dist.ID, voucher.EventExpired); len(evs) != 2 {
		t.Errorf("expired events = %v, want 2", evs)
	}
	if got, err := e.svc.Get(ctx, e.dist.ID, long.Serial); err != nil || got.Status != voucher.StatusActive {
		t.Errorf("long voucher = %+v, %v", got, err)
	}
	_, err = e.svc.Unlock(ctx, e.dist.ID, short[1].Serial)
	wantCode(t, "Unlock(expired)", err, kassa.EConflict, voucher.CodeStatusConflict, "")
	// The balance stays until the voucher is invalidated.
	if got, err := e.svc.Invalidate(ctx, e.dist.ID, short[0].Serial); err != nil || got.Balance != 0 {
		t.Errorf("Invalidate(expired) = %+v, %v", got, err)
	}
}
