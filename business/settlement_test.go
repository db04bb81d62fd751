package business_test

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/store/sqlstore"
)

func TestDueDay(t *testing.T) {
	d := func(s string) time.Time {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	now := time.Date(2026, 3, 4, 15, 0, 0, 0, time.UTC) // a Wednesday
	for _, tt := range []struct {
		schedule string
		anchor   int
		want     time.Time
	}{
		{business.ScheduleManual, 0, time.Time{}},
		{business.ScheduleDaily, 0, d("2026-03-04")},
		{business.ScheduleWeekly, 3, d("2026-03-04")},
		{business.ScheduleWeekly, 5, d("2026-02-27")},
		{business.ScheduleWeekly, 7, d("2026-03-01")},
		{business.ScheduleMonthly, 4, d("2026-03-04")},
		{business.ScheduleMonthly, 5, d("2026-02-05")},
		{business.ScheduleMonthly, 31, d("2026-02-28")},
	} {
		if got := business.DueDay(tt.schedule, tt.anchor, now); !got.Equal(tt.want) {
			t.Errorf("DueDay(%s, %d) = %s, want %s", tt.schedule, tt.anchor, got, tt.want)
		}
	}
}

// TestScheduledSettlements: the settlements job, driven by the injected
// clock, settles a merchant on its weekday once, pays it through the
// test bank (settlement.* states), and not again until the next week;
// a merchant with no bank account or a manual schedule is left alone.
func TestScheduledSettlements(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		must(t, e.biz.SetBankAccount(ctx, e.merchant, ibanPaid, "Shop GmbH"))
		must(t, e.biz.SetSchedule(ctx, e.merchant, business.ScheduleWeekly, 5)) // Fridays
		must(t, e.biz.SetSchedule(ctx, e.other, business.ScheduleDaily, 0))     // no bank account
		if err := e.biz.SetSchedule(ctx, e.merchant, "hourly", 0); code(err) != "schedule_invalid" {
			t.Errorf("hourly: %v", err)
		}
		if err := e.biz.SetBankAccount(ctx, e.merchant, "DE00100100100000000000", "Shop GmbH"); code(err) != payout.IBANChecksum {
			t.Errorf("bad IBAN: %v", err)
		}
		// The clock starts Monday 2026-03-02; the last Friday (02-27) is
		// due at once, with nothing to settle yet.
		if n, err := e.biz.RunSchedules(ctx); err != nil || n != 0 {
			t.Fatalf("first run: %d %v", n, err)
		}
		e.charge(e.merchant, 5000, false)
		e.charge(e.other, 5000, false)
		for day := 0; day < 4; day++ { // Tuesday … Friday
			e.clk.Advance(24 * time.Hour)
			n, err := e.biz.RunSchedules(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if e.clk.Now().Weekday() == time.Friday {
				want = 1
			}
			if n != want {
				t.Errorf("%s: %d settlements, want %d", e.clk.Now().Weekday(), n, want)
			}
			if n, err := e.biz.RunSchedules(ctx); err != nil || n != 0 {
				t.Errorf("run again on %s: %d %v", e.clk.Now().Weekday(), n, err)
			}
		}
		ss, _, err := e.biz.Settlements(ctx, e.merchant, "", 10)
		if err != nil || len(ss) != 1 || ss[0].Amount != 5000 || ss[0].Status != payout.StatusPending {
			t.Fatalf("settlements %+v %v", ss, err)
		}
		e.process()
		e.clk.Advance(25 * time.Hour)
		e.process()
		if s, err := e.biz.Settlement(ctx, e.merchant, ss[0].ID); err != nil || s.Status != payout.StatusPaid {
			t.Errorf("settlement after the bank: %+v %v", s, err)
		}
		if others, _, _ := e.biz.Settlements(ctx, e.other, "", 10); len(others) != 0 {
			t.Errorf("a merchant without a bank account was settled: %+v", others)
		}
		if _, err := e.biz.Settlement(ctx, e.other, ss[0].ID); code(err) != "settlement_not_found" {
			t.Errorf("another merchant reads the settlement: %v", err)
		}
		if b := e.balance(e.merchant); b.Available != 0 {
			t.Errorf("balance after the settlement: %+v", b)
		}
		var types []string
		rows, err := e.db.QueryContext(ctx, `SELECT type FROM webhook_events WHERE merchant_id = ? ORDER BY created_at, id`, e.merchant)
		if err == nil {
			for rows.Next() {
				var typ string
				rows.Scan(&typ)
				types = append(types, typ)
			}
			rows.Close()
		}
		var settled []string
		for _, typ := range types {
			if len(typ) > 11 && typ[:11] == "settlement." {
				settled = append(settled, typ)
			}
			if len(typ) > 7 && typ[:7] == "payout." {
				t.Errorf("a settlement emitted %s", typ)
			}
		}
		sort.Strings(settled) // created and in_transit share a time: order by name
		if strings.Join(settled, " ") != "settlement.created settlement.in_transit settlement.paid" {
			t.Errorf("settlement events %v (all: %v, %v)", settled, types, err)
		}
		assertSum(t, e, e.merchant)
		e.check()
	})
}

// TestSettlementFails: a settlement the bank refuses gives its amount back
// to the balance as a new transaction, which the next settlement (to a
// corrected account) pays out; its own lines stay with it.
func TestSettlementFails(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		must(t, e.biz.SetBankAccount(ctx, e.merchant, ibanClosed, "Shop GmbH"))
		e.charge(e.merchant, 3000, false)
		first, err := e.biz.Settle(ctx, e.merchant, "Shop GmbH", "")
		if err != nil {
			t.Fatal(err)
		}
		e.process()
		e.clk.Advance(25 * time.Hour)
		e.process()
		if s, _ := e.biz.Settlement(ctx, e.merchant, first.ID); s.Status != payout.StatusFailed || s.FailureCode != "AC04" {
			t.Fatalf("settlement to a closed account: %+v", s)
		}
		if b := e.balance(e.merchant); b.Available != 3000 {
			t.Errorf("after the failure: %+v", b)
		}
		must(t, e.biz.SetBankAccount(ctx, e.merchant, ibanPaid, "Shop GmbH"))
		second, err := e.biz.Settle(ctx, e.merchant, "Shop GmbH", "")
		if err != nil || second.Amount != 3000 {
			t.Fatalf("second settlement %+v %v", second, err)
		}
		lines := e.txns(e.merchant, business.TxnFilter{Settlement: second.ID})
		kinds := map[string]int{}
		for _, x := range lines {
			kinds[x.Type]++
		}
		if len(lines) != 2 || kinds[business.TypeSettlement] != 2 {
			t.Errorf("the second settlement pays the failed one's return: %+v", lines)
		}
		assertSettlements(t, e, map[string]bool{first.ID: true, second.ID: true})
		assertSum(t, e, e.merchant)
		e.check()
	})
}

// TestSyncTwoNodes: two nodes deriving balance transactions from one
// ledger at once write each row once, with its fee.
func TestSyncTwoNodes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		must(t, e.biz.SetPricing(ctx, business.Pricing{MerchantID: e.merchant, Method: business.MethodDefault, Fixed: 7}))
		for i := range 30 {
			e.charge(e.merchant, money.Amount(100+i), i%2 == 0)
		}
		nodes := []*business.Service{e.biz, business.New(business.Config{Store: sqlstore.NewBusiness(e.db), Ledger: e.led, Clock: e.clk.Now})}
		var wg sync.WaitGroup
		for _, n := range nodes {
			for range 3 {
				wg.Go(func() {
					if err := n.Sync(ctx); err != nil {
						t.Error(err)
					}
				})
			}
		}
		wg.Wait()
		xs := e.txns(e.merchant, business.TxnFilter{})
		if len(xs) != 30 {
			t.Errorf("%d balance transactions, want 30", len(xs))
		}
		for _, x := range xs {
			if x.Type != business.TypeCharge || x.Fee != 7 {
				t.Errorf("txn %+v", x)
			}
		}
		assertSum(t, e, e.merchant)
	})
}
