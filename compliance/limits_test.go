package compliance_test

import (
	"testing"
	"time"

	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
)

func lim(a money.Amount) *compliance.Limit { return &compliance.Limit{Amount: a, Currency: "EUR"} }

// TestLimitsOverTime: a lowering takes effect at once, a raise after 7
// days (pending until then), and a self-exclusion or cool-off can be
// lengthened but never shortened or lifted before it ends.
func TestLimitsOverTime(t *testing.T) {
	e := newSQLiteEnv(t)
	m := e.merchant(merchant.CategoryGambling, "MT")
	player := e.account(true, "Mia", "Borg", "MT")
	sub := compliance.Subject{CustomerID: player}
	set := func(req compliance.SetRequest) compliance.Limits {
		t.Helper()
		l, err := e.svc.SetLimits(e.ctx, sub, req)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := set(compliance.SetRequest{Deposit: map[compliance.Period]*compliance.Limit{compliance.Day: lim(100_00)}})
	if l.Deposit[compliance.Day].Amount != 100_00 {
		t.Fatalf("first limit: %+v", l.Deposit)
	}
	// Lowering: at once.
	l = set(compliance.SetRequest{Deposit: map[compliance.Period]*compliance.Limit{compliance.Day: lim(50_00)}})
	if l.Deposit[compliance.Day].Amount != 50_00 || len(l.Pending) != 0 {
		t.Fatalf("lowered: %+v pending %+v", l.Deposit, l.Pending)
	}
	if _, err := e.deposit(m, 50_01, player, "", ""); err == nil {
		t.Fatal("a deposit over the lowered limit passed")
	}
	// Raising: pending for 7 days.
	l = set(compliance.SetRequest{Deposit: map[compliance.Period]*compliance.Limit{compliance.Day: lim(200_00)}})
	pend, ok := l.Pending[compliance.Day]
	if l.Deposit[compliance.Day].Amount != 50_00 || !ok || pend.Amount != 200_00 || !pend.EffectiveAt.Equal(start.Add(7*24*time.Hour)) {
		t.Fatalf("raised: in force %+v, pending %+v", l.Deposit, l.Pending)
	}
	e.clk.Advance(7*24*time.Hour - time.Second)
	if _, err := e.deposit(m, 60_00, player, "", ""); err == nil {
		t.Fatal("the raise took effect early")
	}
	e.clk.Advance(time.Second)
	if l, _ = e.svc.Limits(e.ctx, sub); l.Deposit[compliance.Day].Amount != 200_00 || len(l.Pending) != 0 {
		t.Fatalf("after 7 days: %+v pending %+v", l.Deposit, l.Pending)
	}
	if _, err := e.deposit(m, 60_00, player, "", ""); err != nil {
		t.Fatalf("deposit within the raised limit: %v", err)
	}
	// Removing a limit is a raise too.
	l = set(compliance.SetRequest{Deposit: map[compliance.Period]*compliance.Limit{compliance.Day: nil}})
	if _, ok := l.Deposit[compliance.Day]; !ok || !l.Pending[compliance.Day].Remove {
		t.Fatalf("removal: %+v pending %+v", l.Deposit, l.Pending)
	}
	// Lowering again cancels the pending removal.
	l = set(compliance.SetRequest{Deposit: map[compliance.Period]*compliance.Limit{compliance.Day: lim(150_00)}})
	if len(l.Pending) != 0 || l.Deposit[compliance.Day].Amount != 150_00 {
		t.Fatalf("lowered after removal: %+v pending %+v", l.Deposit, l.Pending)
	}

	// Self-exclusion for 6 months: cannot be shortened.
	excludedAt := e.clk.Now()
	set(compliance.SetRequest{SelfExclusion: compliance.Exclude1Year})
	if _, err := e.svc.SetLimits(e.ctx, sub, compliance.SetRequest{SelfExclusion: compliance.Exclude6Months}); err == nil {
		t.Fatal("a 1-year self-exclusion was shortened to 6 months")
	}
	_, err := e.deposit(m, 1_00, player, "", "")
	ke := wantCode(t, "excluded", err, compliance.CodeSelfExcluded)
	if until := excludedAt.AddDate(1, 0, 0); !compliance.LiftsAt(ke).Equal(until) {
		t.Errorf("lifts_at %v, want %v", ke.Details["lifts_at"], until)
	}
	e.clk.Set(excludedAt.AddDate(1, 0, 0).Add(-time.Second))
	wantCode(t, "a second before the end", func() error { _, err := e.deposit(m, 1_00, player, "", ""); return err }(), compliance.CodeSelfExcluded)
	e.clk.Set(excludedAt.AddDate(1, 0, 0))
	if _, err := e.deposit(m, 1_00, player, "", ""); err != nil {
		t.Fatalf("after the self-exclusion: %v", err)
	}
	// Indefinite: never lifts, nothing shortens it.
	set(compliance.SetRequest{SelfExclusion: compliance.ExcludeIndefinite})
	if _, err := e.svc.SetLimits(e.ctx, sub, compliance.SetRequest{SelfExclusion: compliance.Exclude5Years}); err == nil {
		t.Fatal("an indefinite self-exclusion was shortened")
	}
	if _, err := e.svc.SetLimits(e.ctx, sub, compliance.SetRequest{SelfExclusion: compliance.ExcludeIndefinite}); err != nil {
		t.Fatalf("indefinite asked again: %v", err)
	}
	e.clk.Advance(10 * 365 * 24 * time.Hour)
	_, err = e.deposit(m, 1_00, player, "", "")
	if ke := wantCode(t, "indefinite", err, compliance.CodeSelfExcluded); !compliance.LiftsAt(ke).IsZero() {
		t.Errorf("indefinite exclusion lifts at %v", ke.Details["lifts_at"])
	}
}

func TestCoolOff(t *testing.T) {
	e := newSQLiteEnv(t)
	m := e.merchant(merchant.CategoryGambling, "MT")
	sub := compliance.Subject{MerchantID: m, CustomerID: "player-7"}
	for _, bad := range []time.Duration{23 * time.Hour, 6*7*24*time.Hour + time.Hour} {
		if _, err := e.svc.SetLimits(e.ctx, sub, compliance.SetRequest{CoolOff: bad}); err == nil {
			t.Errorf("cool-off of %v accepted", bad)
		}
	}
	if _, err := e.svc.SetLimits(e.ctx, sub, compliance.SetRequest{CoolOff: 72 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetLimits(e.ctx, sub, compliance.SetRequest{CoolOff: 24 * time.Hour}); err == nil {
		t.Error("a 72h cool-off was shortened to 24h")
	}
	_, err := e.deposit(m, 1_00, "", "player-7", "MT")
	ke := wantCode(t, "cooling off", err, compliance.CodeSelfExcluded)
	if ke.Details["cool_off"] != true || !compliance.LiftsAt(ke).Equal(start.Add(72*time.Hour)) {
		t.Errorf("cool-off refusal %+v", ke.Details)
	}
	// The merchant's customer's cool-off binds at that merchant only.
	other := e.merchant(merchant.CategoryGambling, "MT")
	if _, err := e.deposit(other, 1_00, "", "player-7", "MT"); err != nil {
		t.Errorf("another merchant's player-7: %v", err)
	}
	e.clk.Advance(72 * time.Hour)
	if _, err := e.deposit(m, 1_00, "", "player-7", "MT"); err != nil {
		t.Errorf("after the cool-off: %v", err)
	}
	for _, s := range []string{"24h", "3d", "6w", "1008h"} {
		if _, err := compliance.ParseCoolOff(s); err != nil {
			t.Errorf("ParseCoolOff(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "1h", "7w", "-24h", "24", "2x", "+3d", "23h"} {
		if _, err := compliance.ParseCoolOff(s); err == nil {
			t.Errorf("ParseCoolOff(%q) accepted", s)
		}
	}
}
