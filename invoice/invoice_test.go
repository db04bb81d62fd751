package invoice_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/lease"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault/vaulttest"
	"github.com/kassa/kassa/webhook"
)

func TestTotalsPerLineHalfUp(t *testing.T) {
	e := newSQLiteEnv(t)
	inv := e.create(params())
	// 3 × 10.00 = 30.00, tax 5.70; 5.55 at 7 % = 0.3885 → 0.39.
	if inv.Subtotal != 3555 || inv.Tax != 570+39 || inv.Total != 3555+609 {
		t.Fatalf("totals = %d + %d = %d", inv.Subtotal, inv.Tax, inv.Total)
	}
	if inv.Lines[0].Amount != 3000 || inv.Lines[0].Tax != 570 || inv.Lines[1].Tax != 39 {
		t.Fatalf("lines = %+v", inv.Lines)
	}
	tests := []struct {
		net  money.Amount
		rate invoice.TaxRate
		want money.Amount
	}{
		{50, 1000, 5}, // 5.0
		{5, 1000, 1},  // 0.5 → 1 (half up)
		{15, 1000, 2}, // 1.5 → 2
		{25, 1000, 3}, // 2.5 → 3 (half up, not half even)
		{24, 1000, 2}, // 2.4
		{1, 4999, 0},  // 0.4999
		{1, 5000, 1},  // 0.5
		{1_000_000_000, 10000, 1_000_000_000},
		{999, 0, 0},
	}
	for _, tt := range tests {
		if got := invoice.LineTax(tt.net, tt.rate); got != tt.want {
			t.Errorf("LineTax(%d, %s%%) = %d, want %d", tt.net, tt.rate, got, tt.want)
		}
	}
}

func TestTaxRateJSON(t *testing.T) {
	for in, want := range map[string]invoice.TaxRate{"19": 1900, "7.5": 750, "7.25": 725, "0": 0, "100": 10000, `"19"`: 1900} {
		var r invoice.TaxRate
		if err := json.Unmarshal([]byte(in), &r); err != nil || r != want {
			t.Errorf("%s → %d, %v; want %d", in, r, err, want)
		}
		if b, _ := json.Marshal(want); in[0] != '"' && string(b) != in {
			t.Errorf("%d marshals to %s, want %s", want, b, in)
		}
	}
	for _, in := range []string{"-1", "100.01", "101", "7.125", "1e2", "", "19.", ".5", "null", "NaN", "0x10", "1000"} {
		var r invoice.TaxRate
		if err := json.Unmarshal([]byte(in), &r); err == nil {
			t.Errorf("%q was taken as %d", in, r)
		}
	}
}

// TestHostileInput: what a careless or hostile merchant sends is refused
// with a problem naming the field, and nothing is stored.
func TestHostileInput(t *testing.T) {
	e := newSQLiteEnv(t)
	ctx := context.Background()
	long := strings.Repeat("x", invoice.DescriptionMax+1)
	tests := []struct {
		name  string
		edit  func(p *invoice.Params)
		param string
	}{
		{"negative quantity", func(p *invoice.Params) { (*p.Lines)[0].Quantity = -3 }, "lines[0].quantity"},
		{"zero quantity", func(p *invoice.Params) { (*p.Lines)[1].Quantity = 0 }, "lines[1].quantity"},
		{"huge quantity", func(p *invoice.Params) { (*p.Lines)[0].Quantity = invoice.QuantityMax + 1 }, "lines[0].quantity"},
		{"negative unit amount", func(p *invoice.Params) { (*p.Lines)[0].UnitAmount = -1000 }, "lines[0].unit_amount"},
		{"tax rate above 100 %", func(p *invoice.Params) { (*p.Lines)[0].TaxRate = 10001 }, "lines[0].tax_rate"},
		{"negative tax rate", func(p *invoice.Params) { (*p.Lines)[0].TaxRate = -100 }, "lines[0].tax_rate"},
		{"overflowing line", func(p *invoice.Params) {
			(*p.Lines)[0].Quantity, (*p.Lines)[0].UnitAmount = invoice.QuantityMax, invoice.AmountMax
		}, "lines"},
		{"total above the maximum", func(p *invoice.Params) {
			(*p.Lines)[0].Quantity, (*p.Lines)[0].UnitAmount = 1, invoice.AmountMax
		}, "lines"},
		{"too many lines", func(p *invoice.Params) {
			ls := make([]invoice.Line, invoice.LinesMax+1)
			for i := range ls {
				ls[i] = invoice.Line{Description: "x", Quantity: 1, UnitAmount: 1}
			}
			*p.Lines = ls
		}, "lines"},
		{"no lines", func(p *invoice.Params) { *p.Lines = nil }, "lines"},
		{"long description", func(p *invoice.Params) { (*p.Lines)[0].Description = long }, "lines[0].description"},
		{"control characters", func(p *invoice.Params) { (*p.Lines)[0].Description = "a\x1b[2Jb" }, "lines[0].description"},
		{"invalid UTF-8", func(p *invoice.Params) { p.Customer.Name = "\xff\xfe" }, "customer.name"},
		{"no email", func(p *invoice.Params) { p.Customer.Email = "" }, "customer.email"},
		{"header injection", func(p *invoice.Params) { p.Customer.Email = "a@example.com\r\nBcc: x@example.com" }, "customer.email"},
		{"country", func(p *invoice.Params) { p.Customer.Address.Country = "Germany" }, "customer.address.country"},
		{"currency", func(p *invoice.Params) { c := "EURO"; p.Currency = &c }, "currency"},
		{"due days", func(p *invoice.Params) { d := -1; p.DueDays = &d }, "due_days"},
		{"reverse charge without VAT id", func(p *invoice.Params) { r := true; p.ReverseCharge = &r }, "reverse_charge"},
		{"vat id", func(p *invoice.Params) { p.Customer.VATID = "<script>" }, "customer.vat_id"},
		{"free invoice", func(p *invoice.Params) { *p.Lines = []invoice.Line{{Description: "gift", Quantity: 1}} }, "lines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := params()
			tt.edit(&p)
			_, err := e.svc.Create(ctx, e.merchant, p)
			if ke := kassa.AsError(err); ke.Kind != kassa.EInvalid || ke.Param != tt.param {
				t.Fatalf("err = %v (param %q), want invalid %s", err, ke.Param, tt.param)
			}
		})
	}
	if invs, _, err := e.svc.List(ctx, invoice.Filter{MerchantID: e.merchant, Limit: 10}); err != nil || len(invs) != 0 {
		t.Fatalf("stored %d invoices, %v", len(invs), err)
	}
}

// TestOtherMerchant: another merchant's invoice is not found by any
// call, and its page needs the key.
func TestOtherMerchant(t *testing.T) {
	e := newSQLiteEnv(t)
	ctx := context.Background()
	inv := e.finalized()
	// A key one character off (the last one changed, never to itself).
	bad := []byte(inv.PageKey)
	bad[len(bad)-1] = map[bool]byte{true: 'b', false: 'a'}[bad[len(bad)-1] == 'a']
	calls := map[string]func() error{
		"get":           func() error { _, err := e.svc.Get(ctx, e.other, inv.ID); return err },
		"finalize":      func() error { _, err := e.svc.Finalize(ctx, e.other, inv.ID); return err },
		"void":          func() error { _, err := e.svc.Void(ctx, e.other, inv.ID); return err },
		"uncollectible": func() error { _, err := e.svc.MarkUncollectible(ctx, e.other, inv.ID); return err },
		"update":        func() error { _, err := e.svc.Update(ctx, e.other, inv.ID, params()); return err },
		"credit": func() error {
			_, err := e.svc.CreateCreditNote(ctx, e.other, inv.ID, invoice.CreditNoteParams{})
			return err
		},
		"pdf":          func() error { _, err := e.svc.PDF(ctx, e.other, inv.ID, new(strings.Builder)); return err },
		"no merchant":  func() error { _, err := e.svc.Get(ctx, "", inv.ID); return err },
		"page no key":  func() error { _, err := e.svc.Page(ctx, inv.ID, ""); return err },
		"page bad key": func() error { _, err := e.svc.Page(ctx, inv.ID, string(bad)); return err },
	}
	for name, call := range calls {
		if err := call(); kassa.ErrorKind(err) != kassa.ENotFound {
			t.Errorf("%s: err = %v, want not found", name, err)
		}
	}
	if list, _, _ := e.svc.List(ctx, invoice.Filter{MerchantID: e.other, Limit: 10}); len(list) != 0 {
		t.Errorf("the other merchant lists %d invoices", len(list))
	}
	draft := e.create(params())
	if _, err := e.svc.Page(ctx, draft.ID, draft.PageKey); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("a draft's page: %v, want not found", err)
	}
}

func TestFinalizedIsNotEdited(t *testing.T) {
	e := newSQLiteEnv(t)
	ctx := context.Background()
	inv := e.finalized()
	_, err := e.svc.Update(ctx, e.merchant, inv.ID, params())
	if ke := kassa.AsError(err); ke.Kind != kassa.EConflict || ke.Code != "invoice_not_draft" {
		t.Fatalf("update of an open invoice: %v", err)
	}
	if _, err := e.svc.Finalize(ctx, e.merchant, inv.ID); kassa.ErrorKind(err) != kassa.EConflict {
		t.Fatalf("second finalize: %v", err)
	}
	got, _ := e.svc.Get(ctx, e.merchant, inv.ID)
	if got.Number != inv.Number || got.Total != inv.Total || got.Version != inv.Version {
		t.Fatalf("the invoice changed: %+v", got)
	}
	// A draft may be changed.
	d := e.create(params())
	desc := []invoice.Line{{Description: "one thing", Quantity: 2, UnitAmount: 150, TaxRate: 2000}}
	d, err = e.svc.Update(ctx, e.merchant, d.ID, invoice.Params{Lines: &desc})
	if err != nil || d.Total != 360 {
		t.Fatalf("update of a draft: %v, total %d", err, d.Total)
	}
}

// TestGaplessConcurrentFinalize: many finalizations at once, on both
// backends, give numbers 1..n of the merchant's sequence, each once; a
// voided invoice keeps its number and the next one goes on after it.
func TestGaplessConcurrentFinalize(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const n = 40
		ids := make([]string, n)
		for i := range ids {
			ids[i] = e.create(params()).ID
		}
		// A second merchant's invoices race beside them on its own sequence.
		otherIDs := make([]string, 5)
		for i := range otherIDs {
			inv, err := e.svc.Create(ctx, e.other, params())
			if err != nil {
				t.Fatal(err)
			}
			otherIDs[i] = inv.ID
		}
		var wg sync.WaitGroup
		numbers := make([]string, n)
		errs := make([]error, n)
		for i := range ids {
			wg.Go(func() {
				// Each invoice is finalized by two callers at once: one wins.
				var inner sync.WaitGroup
				var got [2]invoice.Invoice
				var gerr [2]error
				for k := range 2 {
					inner.Go(func() { got[k], gerr[k] = e.svc.Finalize(ctx, e.merchant, ids[i]) })
				}
				inner.Wait()
				won := 0
				for k := range 2 {
					if gerr[k] == nil {
						won++
						numbers[i] = got[k].Number
					} else if kassa.ErrorKind(gerr[k]) != kassa.EConflict {
						errs[i] = gerr[k]
					}
				}
				if won != 1 && errs[i] == nil {
					errs[i] = fmt.Errorf("invoice %s finalized %d times", ids[i], won)
				}
			})
		}
		for _, oid := range otherIDs {
			wg.Go(func() {
				if _, err := e.svc.Finalize(ctx, e.other, oid); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("ACME-2026-%06d", i+1)
		}
		slices.Sort(numbers)
		if !slices.Equal(numbers, want) {
			t.Fatalf("numbers = %v", numbers)
		}
		// Stored as answered.
		for i, iid := range ids {
			inv, _ := e.svc.Get(ctx, e.merchant, iid)
			if inv.Status != invoice.StatusOpen || !slices.Contains(want, inv.Number) {
				t.Fatalf("invoice %d: %s %q", i, inv.Status, inv.Number)
			}
		}
		// Void keeps the number; the next goes on.
		v, err := e.svc.Void(ctx, e.merchant, ids[n-1])
		if err != nil || v.Status != invoice.StatusVoid || v.Number == "" {
			t.Fatalf("void: %v %+v", err, v)
		}
		if next := e.finalized(); next.Number != fmt.Sprintf("ACME-2026-%06d", n+1) {
			t.Fatalf("after a void the next number is %s", next.Number)
		}
		// The prefix changes; the sequence goes on.
		prefix := "AB-2"
		if _, err := e.svc.PutSettings(ctx, e.merchant, invoice.SettingsParams{NumberPrefix: &prefix}); err != nil {
			t.Fatal(err)
		}
		if next := e.finalized(); next.Number != fmt.Sprintf("AB-2-2026-%06d", n+2) {
			t.Fatalf("after the prefix changed the next number is %s", next.Number)
		}
		// The other merchant has its own 1..5.
		list, _, _ := e.svc.List(ctx, invoice.Filter{MerchantID: e.other, Limit: 100})
		var others []string
		for _, inv := range list {
			others = append(others, inv.Number)
		}
		slices.Sort(others)
		if !slices.Equal(others, []string{"OTHE-2026-000001", "OTHE-2026-000002", "OTHE-2026-000003", "OTHE-2026-000004", "OTHE-2026-000005"}) {
			t.Fatalf("other merchant's numbers = %v", others)
		}
		// A new year starts at 1.
		e.clk.Set(time.Date(2027, 1, 1, 0, 0, 1, 0, time.UTC))
		if next := e.finalized(); next.Number != "AB-2-2027-000001" {
			t.Fatalf("the first number of 2027 is %s", next.Number)
		}
	})
}

// TestPaidOnceByPageAndJob: the page's payment captured makes the
// invoice paid exactly once, whoever sees it first, with one
// invoice.paid event.
func TestPaidOnceByPageAndJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		inv := e.finalized()
		p := e.payByVoucher(inv)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if _, err := e.svc.SyncPaid(ctx); err != nil {
					t.Error(err)
				}
			})
			wg.Go(func() {
				if got, err := e.svc.Page(ctx, inv.ID, inv.PageKey); err != nil || got.Status != invoice.StatusPaid {
					t.Errorf("page: %v %s", err, got.Status)
				}
			})
		}
		wg.Wait()
		got, _ := e.svc.Get(ctx, e.merchant, inv.ID)
		if got.Status != invoice.StatusPaid || got.AmountPaid != inv.Total || got.PaymentID != p.ID || got.NextReminderAt != (time.Time{}) {
			t.Fatalf("invoice = %+v", got)
		}
		if n := countEvents(t, e, invoice.EventPaid); n != 1 {
			t.Fatalf("%d invoice.paid events", n)
		}
		if n, err := e.svc.SyncPaid(ctx); err != nil || n != 0 {
			t.Fatalf("SyncPaid again: %d, %v", n, err)
		}
		// Paid: no new payment, no void.
		if _, _, err := e.svc.Pay(ctx, inv.ID, inv.PageKey, "https://pay.example/"); kassa.ErrorKind(err) != kassa.EConflict {
			t.Fatalf("pay a paid invoice: %v", err)
		}
		if _, err := e.svc.Void(ctx, e.merchant, inv.ID); kassa.ErrorKind(err) != kassa.EConflict {
			t.Fatalf("void a paid invoice: %v", err)
		}
	})
}

func countEvents(t *testing.T, e *env, typ string) int {
	t.Helper()
	wh := webhook.New(webhook.Config{Store: sqlstore.NewWebhooks(e.db), Sealer: vaulttest.Envelope(webhook.SealDomain)})
	evs, _, err := wh.Events(context.Background(), e.merchant, typ, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestPayReusesLivePayment: the page hands out one payment per invoice
// while it can be paid; concurrent tabs get the same one.
func TestPayReusesLivePayment(t *testing.T) {
	e := newSQLiteEnv(t)
	ctx := context.Background()
	inv := e.finalized()
	var wg sync.WaitGroup
	ids := make([]string, 6)
	for i := range ids {
		wg.Go(func() {
			p, _, err := e.svc.Pay(ctx, inv.ID, inv.PageKey, "https://pay.example/i/x")
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = p.ID
		})
	}
	wg.Wait()
	got, _ := e.svc.Get(ctx, e.merchant, inv.ID)
	for _, pid := range ids {
		if pid != got.PaymentID {
			t.Fatalf("payments handed out: %v; the invoice names %s", ids, got.PaymentID)
		}
	}
	p, _ := e.payments.Get(ctx, e.merchant, got.PaymentID)
	if p.Amount != inv.Total || p.Currency != "EUR" || p.MerchantReference != inv.Number {
		t.Fatalf("payment = %+v", p)
	}
	// After the payment expired a new one is made.
	e.clk.Advance(payment.UnpaidTTL + time.Minute)
	p2, _, err := e.svc.Pay(ctx, inv.ID, inv.PageKey, "https://pay.example/i/x")
	if err != nil || p2.ID == p.ID {
		t.Fatalf("after expiry: %v, same payment %v", err, p2.ID == p.ID)
	}
	// Void cancels the payment that waits for the payer.
	if _, err := e.svc.Void(ctx, e.merchant, inv.ID); err != nil {
		t.Fatal(err)
	}
	if p2, _ = e.payments.Get(ctx, e.merchant, p2.ID); p2.Status != payment.StatusCanceled {
		t.Fatalf("the payment of a voided invoice is %s", p2.Status)
	}
}

// TestReminders: the leased job's rounds on the injected clock send one
// reminder before the due date and three after, each once, through the
// development outbox, and none once paid.
func TestReminders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		inv := e.finalized() // due in 14 days
		paid := e.finalized()
		round := func() int {
			t.Helper()
			n, err := e.svc.SendReminders(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := round(); n != 0 {
			t.Fatalf("%d reminders at once", n)
		}
		e.clk.Advance(11*24*time.Hour - time.Minute)
		if n := round(); n != 0 {
			t.Fatalf("%d reminders before 3 days before due", n)
		}
		e.clk.Advance(2 * time.Minute)
		e.payByVoucher(paid)
		if n := round(); n != 1 {
			t.Fatalf("%d reminders 3 days before due (one invoice paid)", n)
		}
		if n := round(); n != 0 {
			t.Fatalf("the reminder went twice: %d", n)
		}
		// A week without a worker: the overdue reminders of day 1 and 7
		// come as one, then day 14.
		e.clk.Advance(3*24*time.Hour + 8*24*time.Hour)
		if n := round(); n != 1 {
			t.Fatalf("%d reminders after a week overdue", n)
		}
		e.clk.Advance(7 * 24 * time.Hour)
		if n := round(); n != 1 {
			t.Fatalf("%d reminders two weeks overdue", n)
		}
		e.clk.Advance(30 * 24 * time.Hour)
		if n := round(); n != 0 {
			t.Fatalf("%d reminders after the last", n)
		}
		got, _ := e.svc.Get(ctx, e.merchant, inv.ID)
		if got.RemindersSent != 3 || !got.NextReminderAt.IsZero() {
			t.Fatalf("reminders_sent %d, next %v", got.RemindersSent, got.NextReminderAt)
		}
		ms, err := e.outbox.Messages(ctx, "erika@example.com", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 3 {
			t.Fatalf("%d messages in the outbox", len(ms))
		}
		for _, m := range ms {
			if !strings.Contains(m.Subject, inv.Number) || !strings.Contains(m.Body, "41.64 EUR") ||
				!strings.Contains(m.Body, "https://pay.example/i/"+inv.ID+"?key=") {
				t.Fatalf("message = %q\n%s", m.Subject, m.Body)
			}
		}
		if !strings.HasPrefix(ms[0].Subject, "Overdue") || !strings.HasPrefix(ms[2].Subject, "Reminder") {
			t.Fatalf("subjects: %q, %q", ms[0].Subject, ms[2].Subject)
		}
		if n := countEvents(t, e, invoice.EventReminderSent); n != 3 {
			t.Fatalf("%d invoice.reminder_sent events", n)
		}
	})
}

// TestCreditNotes: a paid invoice is credited in parts with numbers of
// their own sequence, never beyond its total (also when two race), and a
// refund goes back to the payer's voucher.
func TestCreditNotes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		inv := e.finalized()
		if _, err := e.svc.CreateCreditNote(ctx, e.merchant, inv.ID, invoice.CreditNoteParams{}); kassa.ErrorKind(err) != kassa.EConflict {
			t.Fatalf("credit of an unpaid invoice: %v", err)
		}
		p := e.payByVoucher(inv)
		if inv, _ = e.svc.Page(ctx, inv.ID, inv.PageKey); inv.Status != invoice.StatusPaid {
			t.Fatalf("invoice is %s", inv.Status)
		}
		part := []invoice.Line{{Description: "Consulting, one hour not given", Quantity: 1, UnitAmount: 1000, TaxRate: 1900}}
		// Two race for the same part, and a third for the rest: together
		// more than the total, so one of the first two must fail.
		var wg sync.WaitGroup
		results := make([]error, 3)
		notes := make([]invoice.CreditNote, 3)
		rest := []invoice.Line{{Description: "Everything else", Quantity: 1, UnitAmount: inv.Total - 1190 - 100}}
		for i, ls := range [][]invoice.Line{part, part, rest} {
			wg.Go(func() {
				notes[i], results[i] = e.svc.CreateCreditNote(ctx, e.merchant, inv.ID,
					invoice.CreditNoteParams{Lines: &ls, Reason: "partial", Refund: i == 0})
			})
		}
		wg.Wait()
		ok := 0
		var total money.Amount
		for i, err := range results {
			if err == nil {
				ok++
				total += notes[i].Total
			}
		}
		got, _ := e.svc.Get(ctx, e.merchant, inv.ID)
		if got.AmountCredited != total || total > inv.Total {
			t.Fatalf("credited %d, notes %d, total %d (results %v)", got.AmountCredited, total, inv.Total, results)
		}
		cns, _ := e.svc.CreditNotes(ctx, e.merchant, inv.ID)
		var numbers []string
		for _, cn := range cns {
			numbers = append(numbers, cn.Number)
		}
		slices.Sort(numbers)
		want := []string{}
		for i := range ok {
			want = append(want, fmt.Sprintf("ACME-CN-2026-%06d", i+1))
		}
		if !slices.Equal(numbers, want) {
			t.Fatalf("credit note numbers %v, want %v", numbers, want)
		}
		if results[0] == nil {
			if notes[0].RefundStatus != invoice.RefundSucceeded || notes[0].RefundID == "" {
				t.Fatalf("refund: %+v", notes[0])
			}
			pay, _ := e.payments.Get(ctx, e.merchant, p.ID)
			if pay.AmountRefunded != 1190 {
				t.Fatalf("refunded %d", pay.AmountRefunded)
			}
		}
		// What is left cannot be overshot; a full credit of a partly
		// credited invoice needs lines.
		if _, err := e.svc.CreateCreditNote(ctx, e.merchant, inv.ID, invoice.CreditNoteParams{}); kassa.ErrorKind(err) != kassa.EInvalid {
			t.Fatalf("full credit after a part: %v", err)
		}
		big := []invoice.Line{{Description: "too much", Quantity: 1, UnitAmount: inv.Total}}
		if _, err := e.svc.CreateCreditNote(ctx, e.merchant, inv.ID, invoice.CreditNoteParams{Lines: &big}); kassa.ErrorKind(err) != kassa.EInvalid {
			t.Fatalf("credit beyond the total: %v", err)
		}
	})
}

// TestReverseCharge: no tax on any line, the note in the PDF.
func TestReverseCharge(t *testing.T) {
	e := newSQLiteEnv(t)
	p := params()
	rc := true
	p.ReverseCharge = &rc
	p.Customer.VATID = "ATU12345678"
	inv := e.create(p)
	if inv.Tax != 0 || inv.Total != inv.Subtotal || inv.Lines[0].Tax != 0 {
		t.Fatalf("reverse charge booked tax: %+v", inv)
	}
}

// TestRetryUnderIdempotencyKey: a create or a credit note retried under
// the request's Idempotency-Key (after an answer that was lost) finds what
// the first attempt committed instead of making a second.
func TestRetryUnderIdempotencyKey(t *testing.T) {
	e := newSQLiteEnv(t)
	ctx := kassa.WithIdempotencyKey(context.Background(), "mer_x:sk:create-1")
	a, err := e.svc.Create(ctx, e.merchant, params())
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.Create(ctx, e.merchant, params())
	if err != nil || b.ID != a.ID {
		t.Fatalf("retry made %s (%v), first %s", b.ID, err, a.ID)
	}
	inv, err := e.svc.Finalize(context.Background(), e.merchant, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.payByVoucher(inv)
	if _, err := e.svc.Page(context.Background(), inv.ID, inv.PageKey); err != nil {
		t.Fatal(err)
	}
	cctx := kassa.WithIdempotencyKey(context.Background(), "mer_x:sk:credit-1")
	part := []invoice.Line{{Description: "part", Quantity: 1, UnitAmount: 100}}
	first, err := e.svc.CreateCreditNote(cctx, e.merchant, inv.ID, invoice.CreditNoteParams{Lines: &part})
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.CreateCreditNote(cctx, e.merchant, inv.ID, invoice.CreditNoteParams{Lines: &part})
	if err != nil || again.ID != first.ID || again.Number != first.Number {
		t.Fatalf("retry: %v %+v, first %+v", err, again, first)
	}
	if got, _ := e.svc.Get(context.Background(), e.merchant, inv.ID); got.AmountCredited != 100 {
		t.Fatalf("credited %d", got.AmountCredited)
	}
}

// TestRemindersFencedByLease: the invoices job's round on a node that lost
// its lease (another node took it over) records and sends nothing; the
// holder's round sends the reminder once.
func TestRemindersFencedByLease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		inv := e.finalized()
		e.clk.Advance(15 * 24 * time.Hour) // overdue
		leases := sqlstore.NewLeases(e.db)
		old, ok, err := leases.Acquire(ctx, "invoices", "node-a", 0, time.Minute)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if err := leases.Release(ctx, "invoices", "node-a", old); err != nil {
			t.Fatal(err)
		}
		cur, ok, err := leases.Acquire(ctx, "invoices", "node-b", 0, time.Minute)
		if err != nil || !ok || cur == old {
			t.Fatal(cur, ok, err)
		}
		stale := lease.WithFence(ctx, lease.Fence{Job: "invoices", Holder: "node-a", Epoch: old})
		if n, err := e.svc.SendReminders(stale); !errors.Is(err, lease.ErrLost) || n != 0 {
			t.Fatalf("the deposed node's round: %d, %v", n, err)
		}
		held := lease.WithFence(ctx, lease.Fence{Job: "invoices", Holder: "node-b", Epoch: cur})
		if n, err := e.svc.SendReminders(held); err != nil || n != 1 {
			t.Fatalf("the holder's round: %d, %v", n, err)
		}
		if ms, _ := e.outbox.Messages(ctx, "erika@example.com", 10); len(ms) != 1 {
			t.Fatalf("%d messages", len(ms))
		}
		if got, _ := e.svc.Get(ctx, e.merchant, inv.ID); got.RemindersSent != 1 {
			t.Fatalf("reminders_sent %d", got.RemindersSent)
		}
	})
}
