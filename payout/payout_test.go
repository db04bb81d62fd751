package payout_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
)

func TestValidateIBAN(t *testing.T) {
	tests := []struct {
		iban, want string
	}{
		{"DE89370400440532013000", ""},
		{"de89 3704 0044 0532 0130 00", ""},
		{"GB82WEST12345698765432", ""},
		{"NL91ABNA0417164300", ""},
		{"FR1420041010050500013M02606", ""},
		{"DE89370400440532013001", payout.IBANChecksum},
		{"DE88370400440532013000", payout.IBANChecksum},
		{"DE8937040044053201300", payout.IBANFormat}, // one short
		{"DE89X70400440532013000", payout.IBANChecksum},
		{"D189370400440532013000", payout.IBANFormat},
		{"US89370400440532013000", payout.IBANCountry},
		{"DE89-370400440532013000", payout.IBANFormat},
		{"", payout.IBANFormat},
	}
	for _, tt := range tests {
		if got := payout.ValidateIBAN(payout.NormalizeIBAN(tt.iban)); got != tt.want {
			t.Errorf("ValidateIBAN(%q) = %q, want %q", tt.iban, got, tt.want)
		}
	}
	for _, bban := range []string{"100100100000000000", "370400440532013000"} {
		if iban := payout.IBANCheckDigits("DE", bban); payout.ValidateIBAN(iban) != "" {
			t.Errorf("IBANCheckDigits made an invalid IBAN %s", iban)
		}
	}
}

func TestNamesMatch(t *testing.T) {
	tests := []struct {
		holder, first, last string
		want                bool
	}{
		{"Jane Doe", "Jane", "Doe", true},
		{"DOE, Jane", "Jane", "Doe", true},
		{"José Müller", "Jose", "Muller", true},
		{"Anna-Lena Schmidt", "Anna Lena", "Schmidt", true},
		{"J. Doe", "Jane", "Doe", false},
		{"John Doe", "Jane", "Doe", false},
		{"Jane Doe Smith", "Jane", "Doe", false},
		{"", "Jane", "Doe", false},
		{"Casino Ltd", "Jane", "Doe", false},
	}
	for _, tt := range tests {
		if got := payout.NamesMatch(tt.holder, tt.first, tt.last); got != tt.want {
			t.Errorf("NamesMatch(%q, %q, %q) = %v, want %v", tt.holder, tt.first, tt.last, got, tt.want)
		}
	}
}

// TestBadInput: every refusal has its own code and param, and reserves
// nothing.
func TestBadInput(t *testing.T) {
	e := newSQLiteEnv(t, options{limits: payout.Limits{PayerDay: 50_000}})
	e.fund(100_000)
	ctx := context.Background()
	minor := jane()
	minor.DateOfBirth = e.clk.Now().AddDate(-18, 0, 1).Format(time.DateOnly) // 18 tomorrow
	tests := []struct {
		name  string
		req   func(r *payout.CreateRequest)
		code  string
		param string
	}{
		{"unknown destination", func(r *payout.CreateRequest) { r.Destination.Type = "paypal" }, "destination_type_invalid", "destination.type"},
		{"bad checksum", func(r *payout.CreateRequest) { r.Destination.IBAN = "DE89370400440532013001" }, "iban_checksum_invalid", "destination.iban"},
		{"currency mismatch", func(r *payout.CreateRequest) { r.Currency = "GBP" }, "currency_mismatch", "currency"},
		{"above balance", func(r *payout.CreateRequest) { r.Amount = 100_001 }, "balance_insufficient", "amount"},
		{"above limit", func(r *payout.CreateRequest) { r.Amount = 50_001 }, "limit_exceeded", "amount"},
		{"underage", func(r *payout.CreateRequest) { r.Customer = minor }, "customer_underage", "customer.date_of_birth"},
		{"no birth date", func(r *payout.CreateRequest) { r.Customer.DateOfBirth = "" }, "date_of_birth_required", "customer.date_of_birth"},
		{"someone else's account", func(r *payout.CreateRequest) { r.Destination.AccountHolder = "Casino Ltd" }, "account_holder_mismatch", "destination.account_holder"},
		{"wallet without Kassa account", func(r *payout.CreateRequest) { r.Destination = payout.Destination{Type: payout.DestWallet} }, "wallet_requires_kassa_account", "customer.id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := bankReq(1000, ibanPaid)
			tt.req(&req)
			_, err := e.svc.Create(ctx, e.merchant, req)
			ke := kassa.AsError(err)
			if ke == nil || ke.Code != tt.code || ke.Param != tt.param {
				t.Fatalf("got %v, want code %s param %s", err, tt.code, tt.param)
			}
			if _, ok := ke.Details["checks"]; !ok {
				t.Errorf("the problem carries no checks: %+v", ke.Details)
			}
		})
	}
	if m := e.merchantAccount(); m.DebitsPending != 0 || m.DebitsPosted != 0 {
		t.Errorf("a refused payout reserved money: %+v", m)
	}
	ps, _, err := e.svc.List(ctx, payout.Filter{MerchantID: e.merchant, Limit: 10})
	if err != nil || len(ps) != 0 {
		t.Errorf("refused payouts were stored: %v %v", ps, err)
	}
}

// TestValidateOnly answers every failing check at once and reserves
// nothing.
func TestValidateOnly(t *testing.T) {
	e := newSQLiteEnv(t, options{})
	e.fund(1000)
	ctx := context.Background()
	req := bankReq(5000, "DE89370400440532013001")
	req.Customer.DateOfBirth = "2015-01-01"
	req.ValidateOnly = true
	p, err := e.svc.Create(ctx, e.merchant, req)
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]string{}
	for _, c := range p.Checks {
		if c.Result == payout.CheckFail {
			failed[c.Check] = c.Code
		}
	}
	want := map[string]string{payout.CheckAge: "customer_underage", payout.CheckDestination: "iban_checksum_invalid"}
	for k, v := range want {
		if failed[k] != v {
			t.Errorf("check %s: got %q, want %q (all: %+v)", k, failed[k], v, p.Checks)
		}
	}
	if p.ID != "" || p.Status != "" {
		t.Errorf("validate_only made a payout: %+v", p)
	}
	// A valid request validated only: every check passes, nothing reserved.
	ok := bankReq(500, ibanPaid)
	ok.ValidateOnly = true
	p, err = e.svc.Create(ctx, e.merchant, ok)
	if err != nil || payout.CheckError(p.Checks) != nil {
		t.Fatalf("valid request: %v %+v", err, p.Checks)
	}
	req = bankReq(5000, ibanPaid)
	req.ValidateOnly = true
	if p, _ = e.svc.Create(ctx, e.merchant, req); payout.CheckError(p.Checks) == nil || payout.CheckError(p.Checks).Code != "balance_insufficient" {
		t.Errorf("balance check: %+v", p.Checks)
	}
	if m := e.merchantAccount(); m.DebitsPending != 0 {
		t.Errorf("validate_only reserved %d", m.DebitsPending)
	}
}

func events(t *testing.T, e *env, p payout.Payout) []string {
	t.Helper()
	evs, _, err := sqlstore.NewWebhooks(e.db).Events(context.Background(), e.merchant, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		var d struct{ ID string }
		if err := json.Unmarshal(evs[i].Data, &d); err != nil {
			t.Fatal(err)
		}
		if d.ID == p.ID {
			out = append(out, evs[i].Type)
		}
	}
	return out
}

// TestBankPayouts drives a payout to each outcome of the test bank.
func TestBankPayouts(t *testing.T) {
	forEachBackend(t, options{}, func(t *testing.T, e *env) {
		e.fund(100_000)
		ctx := context.Background()
		// One payer per account: a payer paid to several accounts is held
		// for review (TestDestinationHistory).
		paid, err := e.svc.Create(ctx, e.merchant, bankReqFor("p-paid", 10_000, ibanPaid))
		if err != nil {
			t.Fatal(err)
		}
		closed, err := e.svc.Create(ctx, e.merchant, bankReqFor("p-closed", 20_000, ibanClosed))
		if err != nil {
			t.Fatal(err)
		}
		returned, err := e.svc.Create(ctx, e.merchant, bankReqFor("p-returned", 30_000, ibanReturned))
		if err != nil {
			t.Fatal(err)
		}
		if m := e.merchantAccount(); m.DebitsPending != 60_000 {
			t.Errorf("reserved %d, want 60000", m.DebitsPending)
		}
		e.check()
		e.process()
		for _, p := range []payout.Payout{paid, closed, returned} {
			if got := e.get(p).Status; got != payout.StatusInTransit {
				t.Errorf("%s is %s after sending, want in_transit", p.ID, got)
			}
		}
		e.check()
		e.clk.Advance(25 * time.Hour)
		e.process()
		want := map[string]payout.Status{paid.ID: payout.StatusPaid, closed.ID: payout.StatusFailed, returned.ID: payout.StatusPaid}
		for id, st := range want {
			if got := e.get(payout.Payout{ID: id}); got.Status != st {
				t.Errorf("%s is %s, want %s", id, got.Status, st)
			}
		}
		if got := e.get(closed); got.FailureCode != "AC04" {
			t.Errorf("failure_code %q, want AC04", got.FailureCode)
		}
		e.check()
		e.clk.Advance(72 * time.Hour)
		e.process()
		if got := e.get(returned); got.Status != payout.StatusReturned || got.FailureCode != "MD07" {
			t.Errorf("returned payout: %s %s", got.Status, got.FailureCode)
		}
		e.check()
		m := e.merchantAccount()
		if got := m.CreditsPosted - m.DebitsPosted; got != 100_000-10_000 {
			t.Errorf("merchant balance %d, want 90000 (only the paid payout left)", got)
		}
		tests := map[string][]string{
			paid.ID:     {payout.EventCreated, payout.EventInTransit, payout.EventPaid},
			closed.ID:   {payout.EventCreated, payout.EventInTransit, payout.EventFailed},
			returned.ID: {payout.EventCreated, payout.EventInTransit, payout.EventPaid, payout.EventReturned},
		}
		for id, want := range tests {
			// Events of one instant list in any order.
			got := events(t, e, payout.Payout{ID: id})
			slices.Sort(got)
			slices.Sort(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s events %v, want %v", id, got, want)
			}
		}
		// Nothing more happens: each outcome was recorded once.
		e.clk.Advance(24 * time.Hour)
		if n, err := e.svc.Process(ctx); err != nil || n != 0 {
			t.Errorf("a later pass changed %d payouts (%v)", n, err)
		}
	})
}

func (e *env) get(p payout.Payout) payout.Payout {
	e.t.Helper()
	got, err := e.svc.Get(context.Background(), e.merchant, p.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// TestLostAnswersResolvedByQuery: a Submit whose answer is lost, or that
// never reached the bank, ends with exactly one transfer at the bank.
func TestLostAnswersResolvedByQuery(t *testing.T) {
	e := newSQLiteEnv(t, options{})
	e.fund(10_000)
	ctx := context.Background()
	a, err := e.svc.Create(ctx, e.merchant, bankReqFor("p-a", 1_000, ibanLostAns))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.Create(ctx, e.merchant, bankReqFor("p-b", 2_000, ibanLostReq))
	if err != nil {
		t.Fatal(err)
	}
	e.process()
	e.clk.Advance(25 * time.Hour)
	e.process()
	for _, p := range []payout.Payout{a, b} {
		if got := e.get(p).Status; got != payout.StatusPaid {
			t.Errorf("%s is %s, want paid", p.ID, got)
		}
	}
	if got := e.bank.Submits(a.ID); got != 1 {
		t.Errorf("the lost answer was submitted %d times, want 1 (then queried)", got)
	}
	if got := e.bank.Submits(b.ID); got != 2 {
		t.Errorf("the lost request was submitted %d times, want 2", got)
	}
	if n, total := e.bank.Received(); n != 2 || total != 3_000 {
		t.Errorf("the bank holds %d transfers of %d, want 2 of 3000", n, total)
	}
	e.check()
}

// TestConcurrentPayoutsNeverOverdraw: payouts racing for one balance.
func TestConcurrentPayoutsNeverOverdraw(t *testing.T) {
	forEachBackend(t, options{}, func(t *testing.T, e *env) {
		e.fund(1_000)
		const n = 12
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, refused := 0, 0
		for i := range n {
			wg.Go(func() {
				req := bankReq(300, ibanPaid)
				req.Customer.ID = "player-" + string(rune('a'+i))
				_, err := e.svc.Create(context.Background(), e.merchant, req)
				mu.Lock()
				defer mu.Unlock()
				switch ke := kassa.AsError(err); {
				case err == nil:
					ok++
				case ke != nil && ke.Code == "balance_insufficient":
					refused++
				default:
					t.Errorf("payout: %v", err)
				}
			})
		}
		wg.Wait()
		if ok != 3 || refused != n-3 {
			t.Errorf("%d payouts of 300 from 1000 succeeded, %d refused; want 3 and %d", ok, refused, n-3)
		}
		e.check()
	})
}

// TestConcurrentLimit: payouts racing for one payer's daily limit.
func TestConcurrentLimit(t *testing.T) {
	forEachBackend(t, options{limits: payout.Limits{PayerDay: 1_000}}, func(t *testing.T, e *env) {
		e.fund(100_000)
		const n = 10
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range n {
			wg.Go(func() {
				_, err := e.svc.Create(context.Background(), e.merchant, bankReq(400, ibanPaid))
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					ok++
				} else if ke := kassa.AsError(err); ke == nil || ke.Code != "limit_exceeded" {
					t.Errorf("payout: %v", err)
				}
			})
		}
		wg.Wait()
		if ok != 2 {
			t.Errorf("%d payouts of 400 within a daily limit of 1000, want 2", ok)
		}
		e.check()
	})
}

// TestReview: a payout above the review threshold waits for a second key;
// approve racing cancel ends in exactly one of them.
func TestReview(t *testing.T) {
	forEachBackend(t, options{reviewAbove: 5_000}, func(t *testing.T, e *env) {
		e.fund(100_000)
		ctx := context.Background()
		p, err := e.svc.Create(ctx, e.merchant, bankReq(6_000, ibanPaid))
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != payout.StatusRequiresReview {
			t.Fatalf("status %s, want requires_review", p.Status)
		}
		e.process()
		if got := e.get(p).Status; got != payout.StatusRequiresReview {
			t.Fatalf("the worker sent a payout in review: %s", got)
		}
		_, err = e.svc.Approve(ctx, e.merchant, p.ID, "key_a", true)
		if ke := kassa.AsError(err); ke == nil || ke.Code != "reviewer_is_creator" || ke.Kind != kassa.EForbidden {
			t.Fatalf("approve by the creator: %v", err)
		}
		if _, err := e.svc.Approve(ctx, e.merchant, p.ID, "key_b", true); err != nil {
			t.Fatal(err)
		}
		e.process()
		if got := e.get(p).Status; got != payout.StatusInTransit {
			t.Errorf("approved payout is %s, want in_transit", got)
		}
		// Reject releases the reserve.
		r, err := e.svc.Create(ctx, e.merchant, bankReq(7_000, ibanPaid))
		if err != nil {
			t.Fatal(err)
		}
		if r, err = e.svc.Reject(ctx, e.merchant, r.ID, "key_b", true); err != nil || r.Status != payout.StatusCanceled {
			t.Fatalf("reject: %v %s", err, r.Status)
		}
		e.check()
		for range 8 {
			q, err := e.svc.Create(ctx, e.merchant, bankReq(5_001, ibanPaid))
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var aerr, cerr error
			wg.Go(func() { _, aerr = e.svc.Approve(ctx, e.merchant, q.ID, "key_b", true) })
			wg.Go(func() { _, cerr = e.svc.Cancel(ctx, e.merchant, q.ID) })
			wg.Wait()
			got := e.get(q)
			switch {
			case aerr == nil && cerr == nil:
				// Approved first, then canceled before it was sent.
				if got.Status != payout.StatusCanceled {
					t.Errorf("both succeeded, status %s", got.Status)
				}
			case aerr == nil:
				if got.Status != payout.StatusPending {
					t.Errorf("approve won, status %s (cancel: %v)", got.Status, cerr)
				}
			case cerr == nil:
				if got.Status != payout.StatusCanceled {
					t.Errorf("cancel won, status %s (approve: %v)", got.Status, aerr)
				}
			default:
				t.Errorf("neither: approve %v, cancel %v", aerr, cerr)
			}
			e.check()
			e.clk.Advance(24 * time.Hour) // a fresh daily limit
		}
	})
}

// TestWalletPayout credits the payer's wallet in one step.
func TestWalletPayout(t *testing.T) {
	forEachBackend(t, options{}, func(t *testing.T, e *env) {
		e.fund(10_000)
		ctx := context.Background()
		req := bankReq(2_500, "")
		req.Customer.ID = "cus_jane"
		req.Destination = payout.Destination{Type: payout.DestWallet}
		p, err := e.svc.Create(ctx, e.merchant, req)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != payout.StatusPaid {
			t.Errorf("wallet payout is %s, want paid", p.Status)
		}
		w, err := e.svc.Wallet(ctx, "cus_jane", "EUR")
		if err != nil || w.Available != 2_500 {
			t.Errorf("wallet %+v %v, want 2500 available", w, err)
		}
		h, _, err := e.svc.WalletHistory(ctx, "cus_jane", "EUR", "", 10)
		if err != nil || len(h) != 1 || h[0].Amount != 2_500 {
			t.Errorf("wallet history %+v %v", h, err)
		}
		if got := e.account(payout.WalletAccount("cus_jane", "EUR")); got.Flags == 0 {
			t.Errorf("the wallet account may go negative: flags %v", got.Flags)
		}
		if got := events(t, e, p); len(got) != 2 || !slices.Contains(got, payout.EventCreated) || !slices.Contains(got, payout.EventPaid) {
			t.Errorf("events %v", got)
		}
		e.check()
	})
}

// TestIdempotencyKey: a repeated request finds the payout it made.
func TestIdempotencyKey(t *testing.T) {
	e := newSQLiteEnv(t, options{})
	e.fund(10_000)
	ctx := context.Background()
	req := bankReq(1_000, ibanPaid)
	req.RequestKey = "k-1"
	a, err := e.svc.Create(ctx, e.merchant, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.Create(ctx, e.merchant, req)
	if err != nil || b.ID != a.ID {
		t.Fatalf("retry made %s (%v), want %s", b.ID, err, a.ID)
	}
	req.Amount = 2_000
	if _, err := e.svc.Create(ctx, e.merchant, req); kassa.AsError(err) == nil || kassa.AsError(err).Code != "idempotency_key_reused" {
		t.Errorf("other body under the key: %v", err)
	}
	if m := e.merchantAccount(); m.DebitsPending != 1_000 {
		t.Errorf("reserved %d, want 1000", m.DebitsPending)
	}
}

func TestCancel(t *testing.T) {
	e := newSQLiteEnv(t, options{})
	e.fund(10_000)
	ctx := context.Background()
	p, err := e.svc.Create(ctx, e.merchant, bankReq(1_000, ibanPaid))
	if err != nil {
		t.Fatal(err)
	}
	if p, err = e.svc.Cancel(ctx, e.merchant, p.ID); err != nil || p.Status != payout.StatusCanceled {
		t.Fatalf("cancel: %v %s", err, p.Status)
	}
	if _, err = e.svc.Cancel(ctx, e.merchant, p.ID); kassa.AsError(err) == nil || kassa.AsError(err).Code != "payout_not_cancelable" {
		t.Errorf("second cancel: %v", err)
	}
	q, _ := e.svc.Create(ctx, e.merchant, bankReq(1_000, ibanPaid))
	e.process()
	if _, err = e.svc.Cancel(ctx, e.merchant, q.ID); kassa.AsError(err) == nil {
		t.Errorf("canceled a payout in transit")
	}
	// Another merchant cannot see or cancel it.
	if _, err := e.svc.Cancel(ctx, "mer_other", q.ID); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("another merchant's cancel: %v", err)
	}
	e.check()
	if n, _ := e.bank.Received(); n != 1 {
		t.Errorf("the bank received %d transfers, want 1", n)
	}
}

// TestWalletKYC: a wallet payout goes only to a verified Kassa account
// whose identity is the customer the merchant names.
func TestWalletKYC(t *testing.T) {
	e := newSQLiteEnv(t, options{})
	e.fund(10_000)
	ctx := context.Background()
	tests := []struct {
		name        string
		change      func(c *payout.Customer)
		code, param string
	}{
		{"unknown account", func(c *payout.Customer) { c.ID = "cus_nobody" }, "customer_not_found", "customer.id"},
		{"not verified", func(c *payout.Customer) { c.ID = "cus_new"; c.Email = "new@example.com" }, "kyc_required", "customer.id"},
		{"another name", func(c *payout.Customer) { c.FirstName = "John" }, "kyc_mismatch", "customer.first_name"},
		{"another birth date", func(c *payout.Customer) { c.DateOfBirth = "1990-05-18" }, "kyc_mismatch", "customer.date_of_birth"},
		{"another email", func(c *payout.Customer) { c.Email = "mallory@example.com" }, "kyc_mismatch", "customer.email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := bankReq(100, "")
			req.Customer.ID = "cus_jane"
			req.Destination = payout.Destination{Type: payout.DestWallet}
			tt.change(&req.Customer)
			_, err := e.svc.Create(ctx, e.merchant, req)
			if ke := kassa.AsError(err); ke == nil || ke.Code != tt.code || ke.Param != tt.param {
				t.Errorf("got %v, want %s (%s)", err, tt.code, tt.param)
			}
		})
	}
	req := bankReq(100, "")
	req.Customer.ID, req.Customer.FirstName, req.Customer.LastName = "cus_jane", "JANE", "doe"
	req.Destination = payout.Destination{Type: payout.DestWallet}
	if p, err := e.svc.Create(ctx, e.merchant, req); err != nil || p.Status != payout.StatusPaid {
		t.Errorf("matching identity: %v %+v", err, p)
	}
	if m := e.merchantAccount(); m.DebitsPosted != 100 || m.DebitsPending != 0 {
		t.Errorf("refused wallet payouts moved money: %+v", m)
	}
}

// TestDestinationHistory holds for review a payout to a changed bank
// account and to one that several payers were paid to.
func TestDestinationHistory(t *testing.T) {
	e := newSQLiteEnv(t, options{})
	e.fund(100_000)
	ctx := context.Background()
	status := func(customer, iban string) payout.Status {
		t.Helper()
		p, err := e.svc.Create(ctx, e.merchant, bankReqFor(customer, 100, iban))
		if err != nil {
			t.Fatal(err)
		}
		return p.Status
	}
	other := payout.IBANCheckDigits("DE", "100100100000000006")
	if st := status("p1", ibanPaid); st != payout.StatusPending {
		t.Errorf("first payout: %s", st)
	}
	if st := status("p1", ibanPaid); st != payout.StatusPending {
		t.Errorf("same account again: %s", st)
	}
	if st := status("p1", other); st != payout.StatusRequiresReview {
		t.Errorf("changed account: %s, want requires_review", st)
	}
	// Two other payers to p1's account: the third is held.
	if st := status("p2", ibanPaid); st != payout.StatusPending {
		t.Errorf("second payer: %s", st)
	}
	if st := status("p3", ibanPaid); st != payout.StatusRequiresReview {
		t.Errorf("third payer to one account: %s, want requires_review", st)
	}
	e.check()
}

func bankReqFor(customer string, amount int64, iban string) payout.CreateRequest {
	r := bankReq(moneyAmount(amount), iban)
	r.Customer.ID = customer
	return r
}

// decider answers every evaluation with one decision: the engine's
// answers, which the e2e test (cmd/kassa) gets from the real engine.
type decider struct {
	decision string
	err      error
}

func (d decider) Evaluate(_ context.Context, in risk.Input, _ bool) (risk.Evaluation, error) {
	if in.Event.Kind != risk.KindPayout || in.Event.CustomerID == "" || in.Event.Amount <= 0 {
		return risk.Evaluation{}, errors.New("not a payout to a payer")
	}
	return risk.Evaluation{Score: 50, Decision: d.decision, Reasons: []risk.Reason{{Code: "feature:withdrawal_to_deposits_ratio"}}}, d.err
}

// TestRiskDecisions: block refuses a payout, review and challenge and an
// engine that fails hold it, allow lets it go.
func TestRiskDecisions(t *testing.T) {
	tests := []struct {
		d    decider
		want payout.Status
		code string
	}{
		{decider{decision: risk.Allow}, payout.StatusPending, ""},
		{decider{decision: risk.Review}, payout.StatusRequiresReview, ""},
		{decider{decision: risk.Challenge}, payout.StatusRequiresReview, ""},
		{decider{err: errors.New("engine down")}, payout.StatusRequiresReview, ""},
		{decider{decision: risk.Block}, "", "risk_blocked"},
	}
	for _, tt := range tests {
		e := newSQLiteEnv(t, options{})
		e.fund(10_000)
		e.svc = payout.New(payout.Config{Store: e.store, Ledger: e.led, Clock: e.clk.Now, Risk: tt.d,
			Rails: map[string]payout.Rail{payout.DestBankAccount: e.bank}})
		p, err := e.svc.Create(context.Background(), e.merchant, bankReq(100, ibanPaid))
		if tt.code != "" {
			if ke := kassa.AsError(err); ke == nil || ke.Code != tt.code || ke.Kind != kassa.EUnprocessable {
				t.Errorf("%+v: %v, want %s", tt.d, err, tt.code)
			}
			if m := e.merchantAccount(); m.DebitsPending != 0 {
				t.Errorf("a blocked payout reserved %d", m.DebitsPending)
			}
			continue
		}
		if err != nil || p.Status != tt.want {
			t.Errorf("%+v: %v %s, want %s", tt.d, err, p.Status, tt.want)
		}
	}
}
