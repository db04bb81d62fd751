package business_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
)

// TestFeesAndAvailability: a capture books its fee to platform revenue and
// holds the net until available_on, in the ledger; the charge's balance
// transaction shows amount, fee and net; the ledger itself releases the
// hold at available_on.
func TestFeesAndAvailability(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if err := e.biz.SetPricing(ctx, business.Pricing{MerchantID: e.merchant, Method: "voucher", PercentBps: 290, Fixed: 25}); err != nil {
			t.Fatal(err)
		}
		if err := e.biz.SetDelay(ctx, e.merchant, 48*time.Hour); err != nil {
			t.Fatal(err)
		}
		p := e.charge(e.merchant, 10_000, false)
		// 2.9% of 100.00 = 2.90, plus 0.25.
		const fee = 315
		if b := e.balance(e.merchant); b.Available != 0 || b.Pending != 10_000-fee {
			t.Errorf("after capture: balance %+v, want 0 available, %d pending", b, 10_000-fee)
		}
		rev, err := e.led.Account(ctx, "", payment.RevenueAccount("EUR"))
		if err != nil || rev.CreditsPosted != fee {
			t.Errorf("revenue %+v %v, want %d posted", rev, err, fee)
		}
		xs := e.txns(e.merchant, business.TxnFilter{})
		if len(xs) != 1 {
			t.Fatalf("txns %+v, want one charge", xs)
		}
		x := xs[0]
		if x.Type != business.TypeCharge || x.Amount != 10_000 || x.Fee != fee || x.Net != 10_000-fee || x.Source != p.ID ||
			!x.AvailableOn.Equal(x.Created.Add(48*time.Hour)) || x.TransferID == "" {
			t.Errorf("charge txn %+v", x)
		}
		if got, err := e.biz.Txn(ctx, e.merchant, x.ID); err != nil || got != x {
			t.Errorf("Txn(%s) = %+v, %v", x.ID, got, err)
		}
		if _, err := e.biz.Txn(ctx, e.other, x.ID); code(err) != "balance_transaction_not_found" {
			t.Errorf("another merchant reads the txn: %v", err)
		}
		// A manual capture is priced too; manual capture with another method's pricing unaffected.
		e.charge(e.merchant, 1000, true)
		if b := e.balance(e.merchant); b.Pending != 10_000-fee+1000-54 {
			t.Errorf("after second capture: %+v", b)
		}
		e.check()
		// The other merchant has no pricing: no fee, available at once.
		e.charge(e.other, 500, false)
		if b := e.balance(e.other); b.Available != 500 || b.Pending != 0 {
			t.Errorf("unpriced merchant: %+v", b)
		}
		// Two days later the ledger releases the holds by itself.
		e.clk.Advance(48*time.Hour + time.Second)
		if err := e.led.ExpirePending(ctx); err != nil {
			t.Fatal(err)
		}
		if b := e.balance(e.merchant); b.Pending != 0 || b.Available != 10_000-fee+1000-54 {
			t.Errorf("after available_on: %+v", b)
		}
		e.check()
		assertSum(t, e, e.merchant)
	})
}

// assertSum: the merchant's balance transactions sum to its available
// plus pending balance.
func assertSum(t *testing.T, e *env, m string) {
	t.Helper()
	var sum money.Amount
	for _, x := range e.txns(m, business.TxnFilter{}) {
		if x.Net != x.Amount-x.Fee {
			t.Errorf("txn %s: net %d ≠ amount %d − fee %d", x.ID, x.Net, x.Amount, x.Fee)
		}
		sum += x.Net
	}
	if b := e.balance(m); sum != b.Available+b.Pending {
		t.Errorf("balance transactions sum to %d; available %d + pending %d = %d", sum, b.Available, b.Pending, b.Available+b.Pending)
	}
}

func TestPricingValidation(t *testing.T) {
	e := newSQLiteEnv(t)
	ctx := context.Background()
	for _, tt := range []struct {
		p    business.Pricing
		code string
	}{
		{business.Pricing{Method: "bitcoin"}, "method_invalid"},
		{business.Pricing{Method: "card", PercentBps: -1}, "percent_invalid"},
		{business.Pricing{Method: "card", PercentBps: business.PercentBpsMax + 1}, "percent_invalid"},
		{business.Pricing{Method: "card", Fixed: -5}, "fixed_invalid"},
		{business.Pricing{Method: "card", Currency: "XXY"}, "currency_invalid"},
		{business.Pricing{Method: "default", PercentBps: 100}, ""},
	} {
		tt.p.MerchantID = e.merchant
		if err := e.biz.SetPricing(ctx, tt.p); code(err) != tt.code {
			t.Errorf("SetPricing(%+v) = %v, want %q", tt.p, err, tt.code)
		}
	}
	if err := e.biz.SetDelay(ctx, e.merchant, 91*24*time.Hour); code(err) != "delay_invalid" {
		t.Errorf("delay of 91 days: %v", err)
	}
	// Fee never exceeds the amount; rounding is half up.
	p := business.Pricing{PercentBps: 150, Fixed: 0}
	for _, tt := range []struct{ amount, fee money.Amount }{{100, 2}, {99, 1}, {33, 0}, {34, 1}} {
		if got := p.Fee(tt.amount); got != tt.fee {
			t.Errorf("1.5%% of %d = %d, want %d", tt.amount, got, tt.fee)
		}
	}
	if got := (business.Pricing{Fixed: 500}).Fee(300); got != 300 {
		t.Errorf("fixed fee above the amount: %d", got)
	}
}

// TestBalanceProperty: random charges (with fees and holds), refunds,
// payouts, settlements, bank failures and time passing; after every step
// the balance transactions sum to available + pending, every settlement's
// lines sum to its amount, and no transaction is settled twice.
func TestBalanceProperty(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(19, 3))
		must(t, e.biz.SetPricing(ctx, business.Pricing{MerchantID: e.merchant, Method: business.MethodDefault, PercentBps: 250, Fixed: 10}))
		must(t, e.biz.SetDelay(ctx, e.merchant, 24*time.Hour))
		must(t, e.biz.SetBankAccount(ctx, e.merchant, ibanPaid, "Shop GmbH"))
		var captured []payment.Payment
		settlements := map[string]bool{}
		for step := range 120 {
			switch k := r.IntN(10); {
			case k < 4:
				captured = append(captured, e.charge(e.merchant, money.Amount(100+r.IntN(20_000)), r.IntN(2) == 0))
			case k < 5 && len(captured) > 0:
				p := captured[r.IntN(len(captured))]
				amt := money.Amount(1 + r.IntN(int(p.Amount)))
				_, _, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID, Amount: &amt})
				if err != nil && code(err) != "amount_too_large" && code(err) != "payment_refunded" {
					t.Fatalf("step %d refund: %v", step, err)
				}
			case k < 6:
				iban := ibanPaid
				if r.IntN(3) == 0 {
					iban = ibanClosed // fails at settlement: the reserve comes back
				}
				req := payout.CreateRequest{Amount: money.Amount(50 + r.IntN(3000)), Currency: "EUR", CreatedBy: "key_a",
					Customer:    payout.Customer{ID: "player-1", FirstName: "Jane", LastName: "Doe", DateOfBirth: "1990-05-17"},
					Destination: payout.Destination{Type: payout.DestBankAccount, IBAN: iban, AccountHolder: "Jane Doe"}}
				if _, err := e.payouts.Create(ctx, e.merchant, req); err != nil && code(err) != "balance_insufficient" {
					t.Fatalf("step %d payout: %v", step, err)
				}
			case k < 8:
				p, err := e.biz.Settle(ctx, e.merchant, "Shop GmbH", "")
				if err != nil && code(err) != "settlement_nothing_due" && code(err) != "balance_insufficient" {
					t.Fatalf("step %d settle: %v", step, err)
				}
				if err == nil {
					settlements[p.ID] = true
				}
			default:
				e.clk.Advance(time.Duration(1+r.IntN(30)) * time.Hour)
				must(t, e.led.ExpirePending(ctx))
				e.process()
			}
			assertSum(t, e, e.merchant)
			if t.Failed() {
				t.Fatalf("after step %d", step)
			}
		}
		assertSettlements(t, e, settlements)
		e.check()
		types := map[string]int{}
		for _, x := range e.txns(e.merchant, business.TxnFilter{}) {
			types[x.Type]++
		}
		t.Logf("balance transactions by type: %v; %d settlements", types, len(settlements))
		if types[business.TypeCharge] == 0 || types[business.TypeRefund] == 0 || types[business.TypePayout] == 0 {
			t.Errorf("the random steps missed a kind of movement: %v", types)
		}
		if len(settlements) == 0 {
			t.Error("no settlement was made: the test did not test them")
		}
	})
}

// assertSettlements: every settlement's lines sum to its amount, every
// line was available when settled, and no transaction is in two.
func assertSettlements(t *testing.T, e *env, settlements map[string]bool) {
	t.Helper()
	ctx := context.Background()
	seen := map[string]string{}
	for sid := range settlements {
		p, err := e.biz.Settlement(ctx, e.merchant, sid)
		if err != nil {
			t.Fatal(err)
		}
		var sum money.Amount
		for _, x := range e.txns(e.merchant, business.TxnFilter{Settlement: sid}) {
			if prev, dup := seen[x.ID]; dup {
				t.Errorf("txn %s settled by %s and %s", x.ID, prev, sid)
			}
			seen[x.ID] = sid
			if x.Source == sid {
				continue // the settlement's own reserve
			}
			if x.AvailableOn.After(p.Created) {
				t.Errorf("txn %s settled by %s before it was available (%s > %s)", x.ID, sid, x.AvailableOn, p.Created)
			}
			sum += x.Net
		}
		n, lines, err := e.biz.Lines(ctx, e.merchant, sid)
		if err != nil || sum != p.Amount || lines != p.Amount || n == 0 {
			t.Errorf("settlement %s of %d: lines sum to %d (Lines %d in %d, %v)", sid, p.Amount, sum, lines, n, err)
		}
	}
}

// TestSettlementRace: settlements racing for one balance never settle a
// transaction twice nor overdraw it.
func TestSettlementRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		must(t, e.biz.SetBankAccount(ctx, e.merchant, ibanPaid, "Shop GmbH"))
		for range 5 {
			e.charge(e.merchant, 1000, false)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		made := map[string]bool{}
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := e.biz.Settle(ctx, e.merchant, "Shop GmbH", "")
				switch code(err) {
				case "":
					mu.Lock()
					made[p.ID] = true
					mu.Unlock()
				case "settlement_nothing_due", "settlement_changed", "balance_insufficient":
				default:
					t.Errorf("settle: %v", err)
				}
			}()
		}
		wg.Wait()
		if len(made) != 1 {
			t.Errorf("%d settlements of one balance, want 1", len(made))
		}
		assertSettlements(t, e, made)
		if b := e.balance(e.merchant); b.Available != 0 {
			t.Errorf("after the settlement %+v", b)
		}
		assertSum(t, e, e.merchant)
		e.check()
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
