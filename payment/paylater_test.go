package payment_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/lease"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
)

const day = 24 * time.Hour

// creditEnv is an env with pay later: a credit service over the env's
// database, ledger and clock, the real identity service (payers stored
// as KYC-verified or not), the real merchant service, and identity's
// dev outbox as the notifier.
type creditEnv struct {
	*env
	cs        *credit.Service
	pay       *payment.Service
	ids       *identity.Service
	outbox    *identity.Outbox
	merchants *merchant.Service
}

func newCreditEnv(t *testing.T, e *env) *creditEnv {
	t.Helper()
	ctx := context.Background()
	ce := &creditEnv{env: e}
	store := sqlstore.NewIdentity(e.db)
	ce.outbox = identity.NewOutbox(store, identitytest.Sealer(t), e.clk.Now, id.Generator{})
	var err error
	ce.ids, err = identity.New(identity.Config{Store: store, Sealer: identitytest.Sealer(t), Notifier: ce.outbox,
		Key: identity.GenerateKey(), Clock: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ce.merchants = merchant.NewService(sqlstore.NewMerchants(e.db), e.clk.Now, id.Generator{})
	ce.cs = ce.newCredit(t, e.led)
	ce.pay = payment.New(payment.Config{Store: sqlstore.NewPayments(e.db), Ledger: e.led, Vouchers: e.vouchers,
		Clock: e.clk.Now, Credit: ce.cs})
	if err := ce.cs.SetMerchantEnabled(ctx, e.merchant, true); err != nil {
		t.Fatal(err)
	}
	return ce
}

// newCredit returns a credit service on led (another node's ledger).
func (ce *creditEnv) newCredit(t *testing.T, led *ledger.Ledger) *credit.Service {
	t.Helper()
	cs, err := credit.New(credit.Config{Store: sqlstore.NewCredit(ce.db), Ledger: led, Customers: ce.ids,
		Merchants: ce.merchants, Notifier: ce.outbox, Clock: ce.clk.Now,
		Vault: ce.vault, Acquirer: acquirer.WithTimeout(ce.acq, 5*time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// payer stores a payer at level, signed up age ago, and gives them
// wallet EUR on their wallet.
func (ce *creditEnv) payer(name string, level identity.Level, age time.Duration, wallet money.Amount) string {
	ce.t.Helper()
	cus := "cus_" + name
	now := ce.clk.Now().Add(-age)
	err := sqlstore.NewIdentity(ce.db).CreateCustomer(context.Background(), identity.Record{ID: cus,
		Email: name + "@example.com", EmailVerifiedAt: now, Phone: "+4915100000" + fmt.Sprint(len(name)), PhoneVerifiedAt: now,
		Level: level, Created: now, Updated: now})
	if err != nil {
		ce.t.Fatal(err)
	}
	if wallet > 0 {
		ce.credit(cus, wallet)
	}
	return cus
}

func (ce *creditEnv) buy(amount money.Amount, capture, payer, plan string) (payment.Payment, error) {
	ce.t.Helper()
	return ce.buyWithCard(amount, capture, payer, plan, "")
}

// buyWithCard buys with the plan funded by the payer's card cardID ("":
// the wallet).
func (ce *creditEnv) buyWithCard(amount money.Amount, capture, payer, plan, cardID string) (payment.Payment, error) {
	ce.t.Helper()
	p, err := ce.pay.Create(context.Background(), ce.merchant, payment.CreateRequest{Amount: amount, Currency: "EUR", CaptureMethod: capture})
	if err != nil {
		ce.t.Fatal(err)
	}
	return ce.pay.Confirm(context.Background(), ce.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret,
		Method: payment.MethodPayLater, Plan: plan, AcceptTerms: true, PayerID: payer, ClientIP: "192.0.2.1", CardID: cardID})
}

// saveCard tokenizes pan as the payer's account page does (a token of
// the platform's namespace) and keeps it as a card of payer.
func (ce *creditEnv) saveCard(payer, pan string) string {
	ce.t.Helper()
	tok, err := ce.vault.Tokenize(context.Background(), credit.CardsMerchant, vault.CardInput{Number: pan, ExpMonth: 12, ExpYear: 2031, CVC: "123"})
	if err != nil {
		ce.t.Fatal(err)
	}
	c, err := ce.cs.SaveCard(context.Background(), payer, tok.ID)
	if err != nil {
		ce.t.Fatal(err)
	}
	return c.ID
}

// fund switches the payer's plan to the card cardID ("": the wallet).
func (ce *creditEnv) fund(payer, planID, cardID string) {
	ce.t.Helper()
	if _, err := ce.cs.SetFunding(context.Background(), payer, planID, cardID); err != nil {
		ce.t.Fatal(err)
	}
}

// clearing is what the acquirer owes the platform (posted).
func (ce *creditEnv) clearing() money.Amount {
	ce.t.Helper()
	a, err := ce.led.Account(context.Background(), "", credit.CardClearingAccount("EUR"))
	if errors.Is(err, ledger.ErrNotFound) {
		return 0
	} else if err != nil {
		ce.t.Fatal(err)
	}
	return a.DebitsPosted - a.CreditsPosted
}

func (ce *creditEnv) plan(paymentID string) credit.Plan {
	ce.t.Helper()
	p, err := ce.cs.PlanByPayment(context.Background(), paymentID)
	if err != nil {
		ce.t.Fatal(err)
	}
	return p
}

func (ce *creditEnv) collect() credit.CollectReport {
	ce.t.Helper()
	rep, err := ce.cs.Collect(context.Background())
	if err != nil {
		ce.t.Fatal(err)
	}
	return rep
}

// verify asserts ledger verify, payment and credit reconciliation are
// clean, and that every payer's receivable equals what their plans owe.
func (ce *creditEnv) verify(step string, payers ...string) {
	ce.t.Helper()
	ctx := context.Background()
	if _, err := ledger.Verify(ctx, sqlstore.NewLedger(ce.db), ce.verifier); err != nil {
		ce.t.Errorf("%s: ledger verify: %v", step, err)
	}
	rep, err := ce.pay.Reconcile(ctx, false)
	if err != nil {
		ce.t.Fatal(err)
	}
	if len(rep.Mismatches) > 0 {
		ce.t.Errorf("%s: payment reconcile: %+v", step, rep.Mismatches)
	}
	ms, err := ce.cs.Reconcile(ctx)
	if err != nil {
		ce.t.Fatal(err)
	}
	if len(ms) > 0 {
		ce.t.Errorf("%s: credit reconcile: %+v", step, ms)
	}
	for _, cus := range payers {
		plans, err := ce.cs.CustomerPlans(ctx, cus)
		if err != nil {
			ce.t.Fatal(err)
		}
		var want money.Amount
		for _, p := range plans {
			want += p.Owed()
		}
		// Posted only: an authorization not yet captured is pending on
		// the receivable and has no plan yet.
		var got money.Amount
		a, err := ce.led.Account(ctx, "", credit.ReceivableAccount(cus, "EUR"))
		if err == nil {
			got = a.DebitsPosted - a.CreditsPosted
		} else if !errors.Is(err, ledger.ErrNotFound) {
			ce.t.Fatal(err)
		}
		if got != want {
			ce.t.Errorf("%s: receivable of %s owes %d, the plans %d", step, cus, got, want)
		}
	}
}

func (ce *creditEnv) outboxTo(cus string) int {
	ce.t.Helper()
	ms, err := ce.outbox.Messages(context.Background(), cus[len("cus_"):]+"@example.com", 100)
	if err != nil {
		ce.t.Fatal(err)
	}
	return len(ms)
}

func (ce *creditEnv) eventTypes() map[string]int {
	ce.t.Helper()
	rows, err := ce.db.QueryContext(context.Background(), `SELECT type FROM webhook_events WHERE type LIKE 'credit.%'`)
	if err != nil {
		ce.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var typ string
		if err := rows.Scan(&typ); err != nil {
			ce.t.Fatal(err)
		}
		out[typ]++
	}
	return out
}

func instStatuses(p credit.Plan) string {
	s := ""
	for _, in := range p.Instalments {
		s += fmt.Sprintf("[%d %d %s]", in.Seq, in.Amount, in.Status)
	}
	return string(p.Status) + " " + s
}

// TestPayLaterEndToEnd walks the clock through pay_in_3 funded by the
// payer's card, collected on time from the card, a late instalment (the
// card declined twice, then a retry on another card), a partial refund
// of a plan, and a pay_in_30 (from an empty wallet) that ends written
// off, with ledger verify, both reconciliations and the receivables
// checked at every step.
func TestPayLaterEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ce := newCreditEnv(t, e)
		ctx := context.Background()
		alice := ce.payer("alice", identity.LevelKYCVerified, 60*day, 10000)
		good := ce.saveCard(alice, "4242424242424242")

		// pay_in_3 on alice's card: the merchant is paid 9000 at once, the
		// payer 3000 from the wallet, the rest owed.
		p, err := ce.buyWithCard(9000, payment.CaptureAutomatic, alice, credit.PlanPayIn3, good)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != payment.StatusCaptured || p.MethodType != payment.MethodPayLater {
			t.Fatalf("bought: %s %s", p.Status, p.MethodType)
		}
		pub := payment.Public(p)
		if pub.PaymentMethod == nil || pub.PaymentMethod.Type != "pay_later" || pub.PaymentMethod.Plan != "pay_in_3" {
			t.Fatalf("merchant view %+v", pub.PaymentMethod)
		}
		if b, _ := json.Marshal(pub); json.Valid(b) && containsAny(string(b), "limit", "owed", "credit:") {
			t.Errorf("the merchant's view shows the payer's credit: %s", b)
		}
		if b := ce.merchantBalanceOf(ce.pay); b.Available != 9000 {
			t.Fatalf("merchant balance %+v, want 9000 available", b)
		}
		if avail, _ := ce.wallet(alice); avail != 7000 {
			t.Fatalf("wallet after the first third: %d", avail)
		}
		plan := ce.plan(p.ID)
		if plan.Owed() != 6000 || plan.Status != credit.StatusActive || plan.Terms.AcceptedAt.IsZero() || plan.Terms.Interest != 0 {
			t.Fatalf("plan %s owed %d terms %+v", instStatuses(plan), plan.Owed(), plan.Terms)
		}
		if d := plan.Instalments[1].Due.Sub(p.Updated); d != 30*day {
			t.Fatalf("second instalment due after %s", d)
		}
		ce.verify("bought", alice)

		// Two days before the due date: a reminder, nothing collected.
		ce.clk.Advance(28 * day)
		if rep := ce.collect(); rep.Reminded != 1 || rep.Paid != 0 {
			t.Fatalf("day 28: %+v", rep)
		}
		if n := ce.outboxTo(alice); n != 1 {
			t.Fatalf("reminders in the outbox: %d", n)
		}
		if rep := ce.collect(); rep != (credit.CollectReport{}) {
			t.Fatalf("a second round on day 28 did %+v", rep)
		}
		if f := credit.FundingOf(plan); f.Source != credit.FundingCard || f.Card.Last4 != "4242" {
			t.Fatalf("plan funding %+v", f)
		}
		ce.clk.Advance(2 * day)
		if rep := ce.collect(); rep.Paid != 1 {
			t.Fatalf("day 30: %+v", rep)
		}
		if avail, _ := ce.wallet(alice); avail != 7000 {
			t.Fatalf("wallet after the second third from the card: %d", avail)
		}
		if c := ce.clearing(); c != 3000 {
			t.Fatalf("card clearing after the second third: %d", c)
		}
		if n := ce.acq.calls(p.ID); n != 1 {
			t.Fatalf("acquirer authorizations for the plan: %d", n)
		}
		ce.verify("day 30", alice)

		// Alice's card runs out of money (the test acquirer's
		// insufficient-funds card): the third instalment fails on day 60,
		// the plan is overdue and stops new purchases.
		broke := ce.saveCard(alice, "4000000000009995")
		ce.fund(alice, plan.ID, broke)
		ce.clk.Advance(28 * day)
		if rep := ce.collect(); rep.Reminded != 1 {
			t.Fatalf("day 58: %+v", rep)
		}
		ce.clk.Advance(2 * day)
		if rep := ce.collect(); rep.Failed != 1 {
			t.Fatalf("day 60: %+v", rep)
		}
		plan = ce.plan(p.ID)
		if plan.Status != credit.StatusOverdue || plan.Instalments[2].Status != credit.InstalmentFailed {
			t.Fatalf("after the failure: %s", instStatuses(plan))
		}
		if _, err := ce.buy(1000, payment.CaptureAutomatic, alice, credit.PlanPayIn30); code(err) != credit.CodeUnavailable {
			t.Fatalf("a purchase with an overdue plan: %s", code(err))
		}
		if n := ce.outboxTo(alice); n != 3 { // due reminder for #3 on day 58, the failure
			t.Fatalf("messages after the failure: %d", n)
		}
		ms, err := ce.outbox.Messages(ctx, "alice@example.com", 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if containsAny(m.Body, "4000000000009995", "400000") {
				t.Fatalf("a reminder holds the card number: %q", m.Body)
			}
		}
		if !containsAny(ms[0].Body+ms[len(ms)-1].Body, "ending 9995") {
			t.Errorf("the failure reminder does not name the card: %q", ms[0].Body)
		}
		ce.verify("day 60 failed", alice)
		// Day 67: the first retry fails too; then the payer chooses her
		// good card again and the retry of day 74 collects it.
		ce.clk.Advance(7 * day)
		if rep := ce.collect(); rep.Failed != 1 {
			t.Fatalf("day 67: %+v", rep)
		}
		ce.verify("day 67 failed again", alice)
		ce.fund(alice, plan.ID, good)
		ce.clk.Advance(7 * day)
		if rep := ce.collect(); rep.Paid != 1 {
			t.Fatalf("day 74: %+v", rep)
		}
		if c := ce.clearing(); c != 6000 {
			t.Fatalf("card clearing after the retry: %d", c)
		}
		plan = ce.plan(p.ID)
		if plan.Status != credit.StatusSettled || plan.Owed() != 0 {
			t.Fatalf("after the retry: %s", instStatuses(plan))
		}
		ce.verify("settled", alice)

		// Refund part of a paid plan: nothing is owed, so all of it goes
		// back to the wallet.
		before, _ := ce.wallet(alice)
		part := money.Amount(1500)
		if _, _, err := ce.pay.CreateRefund(ctx, ce.merchant, payment.RefundRequest{Payment: p.ID, Amount: &part}); err != nil {
			t.Fatal(err)
		}
		if after, _ := ce.wallet(alice); after != before+1500 {
			t.Fatalf("wallet after refunding a settled plan: %d, want %d", after, before+1500)
		}
		ce.verify("refund of a settled plan", alice)

		// A new plan refunded in part: what is owed goes first, the rest
		// to the wallet; refunded in full before the first due date, the
		// plan is canceled.
		p2, err := ce.buy(3000, payment.CaptureManual, alice, credit.PlanPayIn3)
		if err != nil {
			t.Fatal(err)
		}
		if p2.Status != payment.StatusAuthorized {
			t.Fatalf("manual capture: %s", p2.Status)
		}
		ce.verify("authorized", alice)
		if p2, err = ce.pay.Capture(ctx, ce.merchant, p2.ID, nil); err != nil {
			t.Fatal(err)
		}
		if plan2 := ce.plan(p2.ID); plan2.Owed() != 2000 {
			t.Fatalf("plan 2: %s", instStatuses(plan2))
		}
		before, _ = ce.wallet(alice)
		part = 2500
		if _, _, err := ce.pay.CreateRefund(ctx, ce.merchant, payment.RefundRequest{Payment: p2.ID, Amount: &part}); err != nil {
			t.Fatal(err)
		}
		plan2 := ce.plan(p2.ID)
		if plan2.Owed() != 0 || plan2.Refunded != 2000 || plan2.Status != credit.StatusCanceled {
			t.Fatalf("plan 2 after a refund of 2500: %s refunded %d", instStatuses(plan2), plan2.Refunded)
		}
		if after, _ := ce.wallet(alice); after != before+500 {
			t.Fatalf("wallet after the refund: %d, want %d", after, before+500)
		}
		ce.verify("refund of an open plan", alice)

		// pay_in_30 never paid: three failures, in collection, written off.
		bob := ce.payer("bob", identity.LevelKYCVerified, 60*day, 0)
		p3, err := ce.buy(5000, payment.CaptureAutomatic, bob, credit.PlanPayIn30)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []time.Duration{30 * day, 7 * day, 7 * day} {
			ce.clk.Advance(step)
			ce.collect()
		}
		plan3 := ce.plan(p3.ID)
		if plan3.Status != credit.StatusInCollection || plan3.Instalments[0].Status != credit.InstalmentOverdue {
			t.Fatalf("bob's plan after three failures: %s", instStatuses(plan3))
		}
		ce.verify("in collection", alice, bob)
		ce.clk.Advance(46 * day)
		if rep := ce.collect(); rep.WrittenOff != 1 {
			t.Fatalf("day 90: %+v", rep)
		}
		plan3 = ce.plan(p3.ID)
		if plan3.Status != credit.StatusWrittenOff || plan3.WrittenOff != 5000 {
			t.Fatalf("bob's plan: %s written off %d", instStatuses(plan3), plan3.WrittenOff)
		}
		if a, err := e.led.Account(ctx, "", credit.LossAccount("EUR")); err != nil || a.DebitsPosted != 5000 {
			t.Fatalf("loss account %+v %v", a, err)
		}
		if _, err := ce.buy(1000, payment.CaptureAutomatic, bob, credit.PlanPayIn30); code(err) != credit.CodeUnavailable {
			t.Fatalf("a purchase after a write-off: %s", code(err))
		}
		ce.verify("written off", alice, bob)
		// The merchant refunds part of bob's written-off purchase: bob
		// never paid it, so the refund repays the platform's loss.
		part = 2000
		if _, _, err := ce.pay.CreateRefund(ctx, ce.merchant, payment.RefundRequest{Payment: p3.ID, Amount: &part}); err != nil {
			t.Fatalf("refund of a written-off plan: %v", err)
		}
		if a, err := e.led.Account(ctx, "", credit.LossAccount("EUR")); err != nil || a.DebitsPosted-a.CreditsPosted != 3000 {
			t.Fatalf("loss account after the refund %+v %v", a, err)
		}
		if avail, _ := ce.wallet(bob); avail != 0 {
			t.Fatalf("bob's wallet after a refund of what he never paid: %d", avail)
		}
		ce.verify("refund of a written-off plan", alice, bob)

		evs := ce.eventTypes()
		for _, typ := range []string{credit.EventPlanCreated, credit.EventInstalmentPaid, credit.EventInstalmentFailed,
			credit.EventPlanOverdue, credit.EventPlanSettled, credit.EventPlanWrittenOff} {
			if evs[typ] == 0 {
				t.Errorf("no %s event; got %v", typ, evs)
			}
		}
	})
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				return true
			}
		}
	}
	return false
}

func (ce *creditEnv) merchantBalanceOf(pay *payment.Service) payment.Balance {
	ce.t.Helper()
	bs, err := pay.MerchantBalances(context.Background(), ce.merchant)
	if err != nil || len(bs) == 0 {
		ce.t.Fatalf("balances %v %v", bs, err)
	}
	return bs[0]
}

// TestPayLaterRefusals: a stranger with no session, a payer without KYC,
// a payer over the limit, no accepted terms, a merchant that has not
// switched pay later on, and a gambling merchant — which can never switch
// it on and never gets a plan even with its row set behind the service's
// back.
func TestPayLaterRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ce := newCreditEnv(t, e)
		ctx := context.Background()
		alice := ce.payer("alice", identity.LevelKYCVerified, 60*day, 10000)
		newbie := ce.payer("nokyc", identity.LevelVerified, 60*day, 10000)
		if _, err := ce.buy(1000, payment.CaptureAutomatic, "", credit.PlanPayIn30); code(err) != payment.CodeWalletLoginRequired {
			t.Errorf("no session: %s", code(err))
		}
		if _, err := ce.buy(1000, payment.CaptureAutomatic, newbie, credit.PlanPayIn30); code(err) != credit.CodeUnavailable {
			t.Errorf("no KYC: %s", code(err))
		}
		if _, err := ce.buy(20001, payment.CaptureAutomatic, alice, credit.PlanPayIn30); code(err) != credit.CodeUnavailable {
			t.Errorf("over the start limit: %s", code(err))
		}
		if _, err := ce.buy(1000, payment.CaptureAutomatic, alice, "pay_in_99"); code(err) != "plan_invalid" {
			t.Errorf("unknown plan: %s", code(err))
		}
		p, _ := ce.pay.Create(ctx, ce.merchant, payment.CreateRequest{Amount: 1000, Currency: "EUR", CaptureMethod: payment.CaptureAutomatic})
		if _, err := ce.pay.Confirm(ctx, ce.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret,
			Method: payment.MethodPayLater, Plan: credit.PlanPayIn30, PayerID: alice}); code(err) != payment.CodeTermsNotAccepted {
			t.Errorf("terms not accepted: %s", code(err))
		}
		if err := ce.cs.SetMerchantEnabled(ctx, ce.merchant, false); err != nil {
			t.Fatal(err)
		}
		if _, err := ce.buy(1000, payment.CaptureAutomatic, alice, credit.PlanPayIn30); code(err) != credit.CodeNotEnabled {
			t.Errorf("switched off: %s", code(err))
		}
		if err := ce.cs.SetMerchantEnabled(ctx, ce.merchant, true); err != nil {
			t.Fatal(err)
		}
		gambling := merchant.CategoryGambling
		if _, err := ce.merchants.SetProfile(ctx, ce.merchant, merchant.Profile{Category: &gambling}); err != nil {
			t.Fatal(err)
		}
		// Switched on before the category changed: never offered all the same.
		if _, err := ce.buy(1000, payment.CaptureAutomatic, alice, credit.PlanPayIn30); code(err) != credit.CodeNotEnabled {
			t.Errorf("gambling merchant: %s", code(err))
		}
		if on, err := ce.cs.Offered(ctx, ce.merchant); on || err != nil {
			t.Errorf("offered to a gambling merchant: %v %v", on, err)
		}
		if err := ce.cs.SetMerchantEnabled(ctx, ce.merchant, true); code(err) != credit.CodeGambling {
			t.Errorf("a gambling merchant switched pay later on: %s", code(err))
		}
		if plans, _ := ce.cs.CustomerPlans(ctx, alice); len(plans) != 0 {
			t.Errorf("plans after refusals: %d", len(plans))
		}
		ce.verify("refusals", alice, newbie)
	})
}

// TestPayLaterLimitRace: purchases racing for one limit never owe more
// than it, whatever order the ledger takes them in.
func TestPayLaterLimitRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ce := newCreditEnv(t, e)
		alice := ce.payer("alice", identity.LevelKYCVerified, 60*day, 0)
		const n = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := ce.buy(6000, payment.CaptureAutomatic, alice, credit.PlanPayIn30)
				if err == nil && p.Status == payment.StatusCaptured {
					mu.Lock()
					ok++
					mu.Unlock()
				} else if err != nil && code(err) != credit.CodeUnavailable && !errors.Is(err, payment.ErrConflict) {
					t.Errorf("purchase: %v", err)
				}
			}()
		}
		wg.Wait()
		owed, err := ce.cs.Owed(context.Background(), alice, "EUR")
		if err != nil {
			t.Fatal(err)
		}
		if owed > 20000 || ok != 3 || owed != money.Amount(ok)*6000 {
			t.Fatalf("%d purchases of 6000 on a limit of 20000: owed %d", ok, owed)
		}
		ce.verify("race", alice)
	})
}

// TestPayLaterTwoWorkers: two nodes (each its own ledger and credit
// service over one database) run the collection job at the same time,
// round after round: every instalment is collected exactly once.
func TestPayLaterTwoWorkers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ce := newCreditEnv(t, e)
		ctx := context.Background()
		led2, err := ledger.New(ledger.Config{Store: sqlstore.NewLedger(e.db), SignerKey: e.signer, Clock: e.clk.Now, ExpiryInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { led2.Close() })
		nodes := []*credit.Service{ce.cs, ce.newCredit(t, led2)}
		const payers = 12
		var cus []string
		for i := range payers {
			c := ce.payer(fmt.Sprintf("p%02d", i), identity.LevelKYCVerified, 60*day, 9000)
			cus = append(cus, c)
			if _, err := ce.buy(3000, payment.CaptureAutomatic, c, credit.PlanPayIn3); err != nil {
				t.Fatal(err)
			}
		}
		for _, step := range []time.Duration{30 * day, 30 * day} {
			ce.clk.Advance(step)
			for range 3 {
				var wg sync.WaitGroup
				for _, n := range nodes {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := n.Collect(ctx); err != nil {
							t.Errorf("collect: %v", err)
						}
					}()
				}
				wg.Wait()
			}
		}
		for _, c := range cus {
			if avail, _ := ce.wallet(c); avail != 6000 {
				t.Errorf("%s paid %d of 3000 in all", c, 9000-avail)
			}
			plans, _ := ce.cs.CustomerPlans(ctx, c)
			if len(plans) != 1 || plans[0].Status != credit.StatusSettled {
				t.Errorf("%s: %v", c, plans)
			}
		}
		ce.verify("two workers", cus...)
	})
}

// TestPayLaterPayNowAndPushBack: the payer pays an instalment early and
// pushes another back once; a stranger's account can do neither on the
// plan, and the collection job leaves the paid instalment alone.
func TestPayLaterPayNowAndPushBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ce := newCreditEnv(t, e)
		ctx := context.Background()
		alice := ce.payer("alice", identity.LevelKYCVerified, 60*day, 9000)
		mallory := ce.payer("mallory", identity.LevelKYCVerified, 60*day, 9000)
		p, err := ce.buy(9000, payment.CaptureAutomatic, alice, credit.PlanPayIn3)
		if err != nil {
			t.Fatal(err)
		}
		plan := ce.plan(p.ID)
		if _, err := ce.cs.PayNow(ctx, mallory, plan.ID, 2); code(err) != credit.CodePlanNotFound {
			t.Fatalf("a stranger paid: %s", code(err))
		}
		if _, err := ce.cs.PushBack(ctx, mallory, plan.ID, 3); code(err) != credit.CodePlanNotFound {
			t.Fatalf("a stranger pushed back: %s", code(err))
		}
		ce.clk.Advance(3 * day)
		if plan, err = ce.cs.PayNow(ctx, alice, plan.ID, 2); err != nil || plan.Instalments[1].Status != credit.InstalmentPaid {
			t.Fatalf("pay now: %v %s", err, instStatuses(plan))
		}
		if _, err := ce.cs.PayNow(ctx, alice, plan.ID, 2); code(err) != credit.CodeNothingDue {
			t.Fatalf("paid twice: %s", code(err))
		}
		due := plan.Instalments[2].Due
		if plan, err = ce.cs.PushBack(ctx, alice, plan.ID, 3); err != nil || !plan.Instalments[2].Due.Equal(due.Add(credit.PushBack)) {
			t.Fatalf("push back: %v %s", err, plan.Instalments[2].Due)
		}
		if _, err := ce.cs.PushBack(ctx, alice, plan.ID, 3); code(err) != credit.CodePushedBack {
			t.Fatalf("pushed back twice: %s", code(err))
		}
		ce.verify("paid early", alice, mallory)
		// Day 60: nothing due (the third was pushed back to day 74).
		ce.clk.Advance(57 * day)
		if rep := ce.collect(); rep.Paid != 0 {
			t.Fatalf("day 60: %+v", rep)
		}
		ce.clk.Advance(14 * day)
		if rep := ce.collect(); rep.Paid != 1 {
			t.Fatalf("day 74: %+v", rep)
		}
		if avail, _ := ce.wallet(alice); avail != 0 {
			t.Fatalf("alice's wallet: %d, want all 9000 paid once", avail)
		}
		if plan = ce.plan(p.ID); plan.Status != credit.StatusSettled {
			t.Fatalf("plan: %s", instStatuses(plan))
		}
		ce.verify("settled", alice, mallory)
	})
}

// TestPayLaterTwoLeaseHolders: the collection job as kassa serve runs it,
// a leased job, on two nodes (two lease holders, each its own ledger and
// credit service, one database). Both compete for the lease round after
// round; the holder stops halfway and the other takes over; every
// instalment is collected exactly once.
func TestPayLaterTwoLeaseHolders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ce := newCreditEnv(t, e)
		ctx := context.Background()
		led2, err := ledger.New(ledger.Config{Store: sqlstore.NewLedger(e.db), SignerKey: e.signer, Clock: e.clk.Now, ExpiryInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { led2.Close() })
		nodes := map[string]*credit.Service{"node-a": ce.cs, "node-b": ce.newCredit(t, led2)}
		const payers = 6
		var cus []string
		for i := range payers {
			c := ce.payer(fmt.Sprintf("l%02d", i), identity.LevelKYCVerified, 60*day, 9000)
			cus = append(cus, c)
			if _, err := ce.buy(3000, payment.CaptureAutomatic, c, credit.PlanPayIn3); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		ran := map[string]int{}
		start := func(holder string) (stop func()) {
			r, err := lease.NewRunner(lease.Config{Store: sqlstore.NewLeases(e.db), Holder: holder, TTL: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			r.Add(lease.Job{Name: "credit", Interval: 5 * time.Millisecond, Run: func(ctx context.Context) error {
				mu.Lock()
				ran[holder]++
				mu.Unlock()
				_, err := nodes[holder].Collect(ctx)
				return err
			}})
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); r.Run(rctx) }()
			return func() { cancel(); <-done }
		}
		paid := func(want money.Amount) func() bool {
			return func() bool {
				for _, c := range cus {
					if avail, _ := ce.wallet(c); avail != 9000-want {
						return false
					}
				}
				return true
			}
		}
		stopA, stopB := start("node-a"), start("node-b")
		ce.clk.Advance(30 * day)
		waitUntil(t, "the second thirds collected", paid(2000))
		stopA()
		stopB()
		mu.Lock()
		first := map[string]int{"node-a": ran["node-a"], "node-b": ran["node-b"]}
		mu.Unlock()
		// One holder now; the other comes in after it stops.
		stopA = start("node-a")
		ce.clk.Advance(30 * day)
		waitUntil(t, "node-a to run", func() bool { mu.Lock(); defer mu.Unlock(); return ran["node-a"] > first["node-a"] })
		stopA()
		stopB = start("node-b")
		waitUntil(t, "the last thirds collected", paid(3000))
		stopB()
		for _, c := range cus {
			if avail, _ := ce.wallet(c); avail != 6000 {
				t.Errorf("%s paid %d of 3000", c, 9000-avail)
			}
		}
		ce.verify("two lease holders", cus...)
	})
}

// waitUntil polls cond until it holds, failing after a generous bound (a
// hang, not a speed check).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPayLaterPartialCaptureAndCancel: a held pay_in_3 captured in part
// takes the first third of what was captured (the rest of the reserved
// third goes back to the wallet) and opens a plan of the captured amount;
// a held one canceled leaves nothing owed and no plan.
func TestPayLaterPartialCaptureAndCancel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ce := newCreditEnv(t, e)
		ctx := context.Background()
		alice := ce.payer("alice", identity.LevelKYCVerified, 60*day, 9000)
		p, err := ce.buy(9000, payment.CaptureManual, alice, credit.PlanPayIn3)
		if err != nil {
			t.Fatal(err)
		}
		if avail, pending := ce.wallet(alice); avail != 6000 || pending != 3000 {
			t.Fatalf("wallet while held: %d available, %d pending", avail, pending)
		}
		part := money.Amount(6000)
		if p, err = ce.pay.Capture(ctx, ce.merchant, p.ID, &part); err != nil || p.AmountCaptured != 6000 {
			t.Fatalf("capture 6000: %v", err)
		}
		if avail, pending := ce.wallet(alice); avail != 7000 || pending != 0 {
			t.Fatalf("wallet after a capture of 6000: %d available, %d pending; want 7000, 0", avail, pending)
		}
		plan := ce.plan(p.ID)
		if plan.Amount != 6000 || plan.Owed() != 4000 || plan.Instalments[0].Amount != 2000 {
			t.Fatalf("plan of a partial capture: %s", instStatuses(plan))
		}
		if b := ce.merchantBalanceOf(ce.pay); b.Available != 6000 || b.Pending != 0 {
			t.Fatalf("merchant balance %+v", b)
		}
		ce.verify("partial capture", alice)

		held, err := ce.buy(3000, payment.CaptureManual, alice, credit.PlanPayIn30)
		if err != nil {
			t.Fatal(err)
		}
		if owed, _ := ce.cs.Owed(ctx, alice, "EUR"); owed != 7000 {
			t.Fatalf("owed with a held purchase: %d", owed)
		}
		if held, err = ce.pay.Cancel(ctx, ce.merchant, held.ID); err != nil || held.Status != payment.StatusCanceled {
			t.Fatalf("cancel: %v", err)
		}
		if owed, _ := ce.cs.Owed(ctx, alice, "EUR"); owed != 4000 {
			t.Fatalf("owed after the cancel: %d", owed)
		}
		if _, err := ce.cs.PlanByPayment(ctx, held.ID); code(err) != credit.CodePlanNotFound {
			t.Fatalf("a canceled purchase has a plan: %s", code(err))
		}
		ce.verify("canceled", alice)
	})
}

// TestPayLaterLateFee: with a late fee configured, an instalment that
// goes overdue owes the fee too (booked to credit_fees), the terms name
// it, and the write-off takes fee and all; the ledger and both
// reconciliations agree throughout.
func TestPayLaterLateFee(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ce := newCreditEnv(t, e)
		ctx := context.Background()
		cs, err := credit.New(credit.Config{Store: sqlstore.NewCredit(e.db), Ledger: e.led, Customers: ce.ids,
			Merchants: ce.merchants, Notifier: ce.outbox, Clock: e.clk.Now, LateFee: 500})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := credit.New(credit.Config{Store: sqlstore.NewCredit(e.db), Ledger: e.led, Customers: ce.ids,
			Merchants: ce.merchants, LateFee: credit.LateFeeMaxCap + 1}); err == nil {
			t.Fatal("a late fee above the cap was accepted")
		}
		ce.cs = cs
		ce.pay = payment.New(payment.Config{Store: sqlstore.NewPayments(e.db), Ledger: e.led, Vouchers: e.vouchers,
			Clock: e.clk.Now, Credit: cs})
		bob := ce.payer("bob", identity.LevelKYCVerified, 60*day, 0)
		p, err := ce.buy(5000, payment.CaptureAutomatic, bob, credit.PlanPayIn30)
		if err != nil {
			t.Fatal(err)
		}
		if plan := ce.plan(p.ID); plan.Terms.LateFee != 500 {
			t.Fatalf("terms %+v", plan.Terms)
		}
		for _, step := range []time.Duration{30 * day, 7 * day, 7 * day} {
			ce.clk.Advance(step)
			ce.collect()
		}
		plan := ce.plan(p.ID)
		if plan.Status != credit.StatusInCollection || plan.Owed() != 5500 || plan.Instalments[0].LateFee != 500 {
			t.Fatalf("in collection: %s owed %d", instStatuses(plan), plan.Owed())
		}
		if a, err := e.led.Account(ctx, "", credit.FeesAccount("EUR")); err != nil || a.CreditsPosted != 500 {
			t.Fatalf("fees account %+v %v", a, err)
		}
		ce.verify("fee", bob)
		// Another week of failures adds no second fee.
		ce.clk.Advance(7 * day)
		ce.collect()
		if plan = ce.plan(p.ID); plan.Owed() != 5500 {
			t.Fatalf("owed after another failure: %d", plan.Owed())
		}
		ce.clk.Advance(40 * day)
		ce.collect()
		if plan = ce.plan(p.ID); plan.Status != credit.StatusWrittenOff || plan.WrittenOff != 5500 {
			t.Fatalf("written off: %s %d", plan.Status, plan.WrittenOff)
		}
		ce.verify("written off with a fee", bob)
	})
}

// TestPayLaterCardUnknownOutcome: a card collection whose answer is lost
// (the test acquirer's timeout card authorizes but never answers) is
// claimed, left alone until its recheck, then settled by querying its
// key: the card is authorized once and the instalment paid once, even
// with two nodes resolving it at once.
func TestPayLaterCardUnknownOutcome(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ce := newCreditEnv(t, e)
		alice := ce.payer("alice", identity.LevelKYCVerified, 60*day, 0)
		lost := ce.saveCard(alice, acquirer.CardTimeout)
		p, err := ce.buyWithCard(4000, payment.CaptureAutomatic, alice, credit.PlanPayIn30, lost)
		if err != nil {
			t.Fatal(err)
		}
		ce.clk.Advance(30 * day)
		if rep := ce.collect(); rep.Unknown != 1 || rep.Paid != 0 || rep.Failed != 0 {
			t.Fatalf("day 30: %+v", rep)
		}
		plan := ce.plan(p.ID)
		if plan.Instalments[0].Charging == "" || plan.Instalments[0].Status != credit.InstalmentScheduled {
			t.Fatalf("after the lost answer: %s charging %q", instStatuses(plan), plan.Instalments[0].Charging)
		}
		// Nothing is booked while the outcome is unknown; a refund leaves
		// the instalment being charged alone (the payer would else be
		// refunded what the card may have paid).
		ce.verify("unknown", alice)
		part := money.Amount(1000)
		if _, _, err := ce.pay.CreateRefund(context.Background(), ce.merchant, payment.RefundRequest{Payment: p.ID, Amount: &part}); err != nil {
			t.Fatal(err)
		}
		if plan := ce.plan(p.ID); plan.Refunded != 0 || plan.Instalments[0].Amount != 4000 {
			t.Fatalf("a refund took from the instalment being charged: %s refunded %d", instStatuses(plan), plan.Refunded)
		}
		if avail, _ := ce.wallet(alice); avail != 1000 {
			t.Fatalf("the refund went %d to the wallet, want 1000", avail)
		}
		ce.verify("refund while charging", alice)
		if rep := ce.collect(); rep != (credit.CollectReport{}) {
			t.Fatalf("a round before the recheck did %+v", rep)
		}
		if _, err := ce.cs.SetFunding(context.Background(), alice, plan.ID, ""); code(err) != "plan_changed" {
			t.Fatalf("changing the funding while charging: %v", err)
		}
		ce.clk.Advance(3 * time.Minute)
		other := ce.newCredit(t, ce.led)
		var wg sync.WaitGroup
		reps := make([]credit.CollectReport, 2)
		for i, cs := range []*credit.Service{ce.cs, other} {
			wg.Go(func() {
				rep, err := cs.Collect(context.Background())
				if err != nil {
					t.Error(err)
				}
				reps[i] = rep
			})
		}
		wg.Wait()
		if reps[0].Paid+reps[1].Paid != 1 {
			t.Fatalf("two nodes resolving: %+v", reps)
		}
		if n := ce.acq.calls(p.ID); n != 1 {
			t.Fatalf("the card was authorized %d times", n)
		}
		plan = ce.plan(p.ID)
		if plan.Status != credit.StatusSettled || plan.Instalments[0].Charging != "" {
			t.Fatalf("after the query: %s", instStatuses(plan))
		}
		if c := ce.clearing(); c != 4000 {
			t.Fatalf("card clearing %d", c)
		}
		ce.verify("resolved", alice)
	})
}

// TestPayLaterCardHostile: a payer cannot fund a plan with another
// payer's card, a merchant's stored card, a single-use token or a made-up
// id; a card of the platform's namespace saved for one payer is not
// another's; the PAN never appears in a plan's JSON.
func TestPayLaterCardHostile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ce := newCreditEnv(t, e)
		ctx := context.Background()
		alice := ce.payer("alice", identity.LevelKYCVerified, 60*day, 10000)
		mallory := ce.payer("mallory", identity.LevelKYCVerified, 60*day, 10000)
		alicesCard := ce.saveCard(alice, "4242424242424242")
		tok, err := ce.vault.Tokenize(ctx, ce.merchant, vault.CardInput{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2031, CVC: "123"})
		if err != nil {
			t.Fatal(err)
		}
		shopCard, err := ce.vault.Attach(ctx, ce.merchant, tok.ID, mallory)
		if err != nil {
			t.Fatal(err)
		}
		for _, cardID := range []string{alicesCard, shopCard.ID, "card_nope", "tok_nope"} {
			if _, err := ce.buyWithCard(1000, payment.CaptureAutomatic, mallory, credit.PlanPayIn30, cardID); code(err) != "card_not_found" {
				t.Errorf("mallory funding with %s: %v", cardID, err)
			}
		}
		p, err := ce.buyWithCard(1000, payment.CaptureAutomatic, alice, credit.PlanPayIn30, alicesCard)
		if err != nil {
			t.Fatal(err)
		}
		plan := ce.plan(p.ID)
		if _, err := ce.cs.SetFunding(ctx, mallory, plan.ID, ""); code(err) != credit.CodePlanNotFound {
			t.Errorf("mallory changing alice's funding: %v", err)
		}
		mp, err := ce.buy(1000, payment.CaptureAutomatic, mallory, credit.PlanPayIn30)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ce.cs.SetFunding(ctx, mallory, ce.plan(mp.ID).ID, alicesCard); code(err) != "card_not_found" {
			t.Errorf("mallory funding her plan with alice's card: %v", err)
		}
		b, _ := json.Marshal(plan)
		if containsAny(string(b), "4242424242424242", "424242") {
			t.Errorf("the plan holds the card number: %s", b)
		}
		if f := credit.FundingOf(plan); f.Card == nil || f.Card.Last4 != "4242" {
			t.Errorf("alice's funding %+v", f)
		}
		ce.verify("hostile", alice, mallory)
	})
}

// TestPayLaterRiskCredit: the credit check goes through the risk engine
// as kind "credit". A payer whose last attempts were declined is refused
// pay later, the evaluation keeps why (the credit rule set's reason, the
// payer's facts), and the payer's error names no score or reason; a
// payer in good standing is allowed, and neither check is counted as an
// attempt to pay in the engine's features.
func TestPayLaterRiskCredit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ce := newCreditEnv(t, e)
		eng, err := risk.NewEngine(risk.Config{Store: sqlstore.NewRisk(e.db), Node: "test", DefaultModel: risk.DefaultModel,
			IDs: id.Generator{}, Clock: e.clk.Now, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		if err := eng.Start(rctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); eng.Close() })
		ce.cs, err = credit.New(credit.Config{Store: sqlstore.NewCredit(ce.db), Ledger: ce.led, Customers: ce.ids,
			Merchants: ce.merchants, Notifier: ce.outbox, Clock: ce.clk.Now, Risk: eng})
		if err != nil {
			t.Fatal(err)
		}
		ce.pay = payment.New(payment.Config{Store: sqlstore.NewPayments(e.db), Ledger: e.led, Vouchers: e.vouchers,
			Clock: e.clk.Now, Credit: ce.cs})

		alice := ce.payer("alice", identity.LevelKYCVerified, 60*day, 10000)
		bob := ce.payer("bob", identity.LevelKYCVerified, 60*day, 10000)
		// Bob's last three card payments were declined.
		for range 3 {
			ev, err := eng.Evaluate(ctx, risk.Input{Event: risk.Event{Kind: risk.KindPayment, MerchantID: ce.merchant,
				Amount: 2000, Currency: "EUR", Method: risk.MethodCard, CardFingerprint: "fp_bob", CustomerID: bob}}, true)
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.Outcome(ctx, ce.merchant, ev.ID, risk.OutcomeDeclined); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ce.buy(1000, payment.CaptureAutomatic, alice, credit.PlanPayIn30); err != nil {
			t.Fatalf("alice: %v", err)
		}
		p, err := ce.buy(1000, payment.CaptureAutomatic, bob, credit.PlanPayIn30)
		if code(err) != credit.CodeUnavailable {
			t.Fatalf("bob after three declines: %v", err)
		}
		if msg := err.Error(); containsAny(msg, "score", "declin", "risk", "rule") {
			t.Errorf("the payer is told the reason: %q", msg)
		}
		eng.Evaluation(ctx, ce.merchant, "rev_flush") // writes what is queued
		rows, err := e.db.QueryContext(ctx, `SELECT id, merchant_id, decision, reasons, event FROM risk_evaluations WHERE event LIKE ? ORDER BY created_at`,
			`%"kind":"credit"%`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		decisions := map[string][]string{}
		var bobReasons, bobEvent, bobEval string
		for rows.Next() {
			var evID, mer, d, rs, ev string
			if err := rows.Scan(&evID, &mer, &d, &rs, &ev); err != nil {
				t.Fatal(err)
			}
			if mer != "" {
				t.Errorf("a credit evaluation in merchant %q's namespace", mer)
			}
			who := alice
			if containsAny(ev, bob) {
				who, bobReasons, bobEvent, bobEval = bob, rs, ev, evID
			}
			decisions[who] = append(decisions[who], d)
		}
		if len(decisions[alice]) == 0 || containsAny(fmt.Sprint(decisions[alice]), risk.Block) {
			t.Fatalf("alice's credit evaluations %v", decisions[alice])
		}
		if fmt.Sprint(decisions[bob]) != "[block]" || !containsAny(bobReasons, "credit:recent_declines") {
			t.Fatalf("bob's evaluation: %v %s", decisions[bob], bobReasons)
		}
		// The merchant cannot read it (GET /v1/risk/evaluations/{id}
		// asks with the merchant's id).
		rows.Close()
		if _, err := eng.Evaluation(ctx, ce.merchant, bobEval); kassa.ErrorKind(err) != kassa.ENotFound {
			t.Errorf("the merchant reads bob's credit evaluation: %v", err)
		}
		if !containsAny(bobEvent, `"kind":"credit"`) || (p.ID != "" && !containsAny(bobEvent, p.ID)) {
			t.Errorf("bob's evaluation event: %s", bobEvent)
		}
		// The checks are not attempts: alice's history in the engine is
		// empty, so her next evaluation sees no earlier attempt of hers.
		ev, err := eng.Evaluate(ctx, risk.Input{Event: risk.Event{Kind: risk.KindPayment, MerchantID: ce.merchant,
			Amount: 2000, Currency: "EUR", Method: risk.MethodAccount, CustomerID: alice}}, true)
		if err != nil {
			t.Fatal(err)
		}
		if n := ev.Features[risk.FCustomerAttempts24h]; n != 0 {
			t.Errorf("credit checks counted as %v attempts of alice", n)
		}
		ce.verify("risk", alice, bob)
	})
}

// TestPayLaterOperatorWriteOff: the operator lists plans by payer and
// status and writes one off by hand, with a reason; two write-offs at
// once book the loss once; a closed plan or no reason is refused; a
// refund of the written-off plan repays the loss first and gives the
// payer back only what they paid.
func TestPayLaterOperatorWriteOff(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ce := newCreditEnv(t, e)
		alice := ce.payer("alice", identity.LevelKYCVerified, 60*day, 10000)
		bob := ce.payer("bob", identity.LevelKYCVerified, 60*day, 0)
		p, err := ce.buy(9000, payment.CaptureAutomatic, alice, credit.PlanPayIn3)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := ce.buy(1000, payment.CaptureAutomatic, bob, credit.PlanPayIn30)
		if err != nil {
			t.Fatal(err)
		}
		ce.clk.Advance(30 * day)
		ce.collect() // alice's second third from the wallet; bob's fails
		plan := ce.plan(p.ID)
		if plan.Owed() != 3000 {
			t.Fatalf("alice's plan %s", instStatuses(plan))
		}
		for _, c := range []struct {
			f    credit.PlanFilter
			want int
		}{{credit.PlanFilter{}, 2}, {credit.PlanFilter{CustomerID: alice}, 1}, {credit.PlanFilter{Status: credit.StatusOverdue}, 1},
			{credit.PlanFilter{CustomerID: alice, Status: credit.StatusOverdue}, 0}, {credit.PlanFilter{Limit: 1}, 1}} {
			ps, err := ce.cs.ListPlans(ctx, c.f)
			if err != nil || len(ps) != c.want {
				t.Errorf("ListPlans(%+v) = %d plans %v, want %d", c.f, len(ps), err, c.want)
			}
		}
		first, _ := ce.cs.ListPlans(ctx, credit.PlanFilter{Limit: 1})
		if rest, err := ce.cs.ListPlans(ctx, credit.PlanFilter{Before: first[0].ID}); err != nil || len(rest) != 1 || rest[0].ID == first[0].ID {
			t.Errorf("the page after %s: %v %v", first[0].ID, rest, err)
		}
		for _, f := range []credit.PlanFilter{{Status: "bogus"}, {Limit: credit.ListPlansMax + 1}} {
			if _, err := ce.cs.ListPlans(ctx, f); kassa.ErrorKind(err) != kassa.EInvalid {
				t.Errorf("ListPlans(%+v): %v", f, err)
			}
		}
		if _, err := ce.cs.WriteOff(ctx, plan.ID, ""); kassa.ErrorKind(err) != kassa.EInvalid {
			t.Errorf("a write-off without a reason: %v", err)
		}
		// Two operators at once: one write-off.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() { _, errs[i] = ce.cs.WriteOff(ctx, plan.ID, "payer deceased; estate has no funds") })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("two write-offs at once: %v, %v", errs[0], errs[1])
		}
		plan = ce.plan(p.ID)
		if plan.Status != credit.StatusWrittenOff || plan.WrittenOff != 3000 {
			t.Fatalf("after the write-off: %s written off %d", instStatuses(plan), plan.WrittenOff)
		}
		if _, err := ce.cs.WriteOff(ctx, plan.ID, "again"); code(err) != "plan_closed" {
			t.Errorf("writing off a written-off plan: %v", err)
		}
		ce.verify("written off by hand", alice, bob)
		// The merchant refunds all of it: 3000 repay the loss, the 6000
		// alice paid go back to her wallet.
		before, _ := ce.wallet(alice)
		if _, _, err := ce.pay.CreateRefund(ctx, ce.merchant, payment.RefundRequest{Payment: p.ID}); err != nil {
			t.Fatal(err)
		}
		if after, _ := ce.wallet(alice); after != before+6000 {
			t.Fatalf("alice's wallet after the refund: %d, want %d", after, before+6000)
		}
		if a, err := e.led.Account(ctx, "", credit.LossAccount("EUR")); err != nil || a.DebitsPosted-a.CreditsPosted != 0 {
			t.Fatalf("loss account after the refund %+v %v", a, err)
		}
		ce.verify("refund of a plan written off by hand", alice, bob)
		_ = pb
	})
}
