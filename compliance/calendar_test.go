package compliance_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/merchant"
)

// TestLocalCalendar: a German payer's "day" and "month" are Berlin's
// (policy time_zone), not UTC's: a limit reached late on 31 March (CEST,
// UTC+2) is fresh at Berlin's midnight, which is 22:00 UTC, and not a
// moment before.
func TestLocalCalendar(t *testing.T) {
	e := newSQLiteEnv(t)
	de := e.merchant(merchant.CategoryGambling, "DE")
	player := e.account(true, "Lena", "Koch", "DE")
	if _, err := e.svc.SetLimits(e.ctx, compliance.Subject{CustomerID: player}, compliance.SetRequest{
		Deposit: map[compliance.Period]*compliance.Limit{compliance.Day: {Amount: 50_00, Currency: "EUR"}}}); err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	e.clk.Set(time.Date(2026, 3, 31, 21, 0, 0, 0, time.UTC)) // 23:00 in Berlin
	if _, err := e.deposit(de, 50_00, player, "", ""); err != nil {
		t.Fatal(err)
	}
	_, err := e.deposit(de, 1, player, "", "")
	ke := wantCode(t, "over the day's limit", err, compliance.CodeDepositLimitReached)
	midnight := time.Date(2026, 4, 1, 0, 0, 0, 0, berlin)
	if got := compliance.LiftsAt(ke); !got.Equal(midnight) {
		t.Errorf("lifts_at %v, want Berlin's midnight %v", got, midnight.UTC())
	}
	e.clk.Set(midnight.Add(-time.Second)) // 21:59:59 UTC: still Berlin's 31 March
	wantCode(t, "a second before Berlin's midnight", func() error { _, err := e.deposit(de, 1, player, "", ""); return err }(),
		compliance.CodeDepositLimitReached)
	e.clk.Set(midnight) // 22:00 UTC: UTC's day is not over, Berlin's is
	if _, err := e.deposit(de, 50_00, player, "", ""); err != nil {
		t.Fatalf("at Berlin's midnight: %v", err)
	}
	// The used amount the account page shows follows the same calendar.
	l, err := e.svc.Limits(e.ctx, compliance.Subject{CustomerID: player})
	if err != nil {
		t.Fatal(err)
	}
	used, err := e.svc.Used(e.ctx, l)
	if err != nil || used[compliance.Day] != 50_00 {
		t.Errorf("used %v, %v; want 50.00 today (1 April in Berlin)", used, err)
	}
}

// TestYoungAdultLimit: in the Netherlands, players under 24 (by their
// KYC date of birth) may deposit 300 euros a month, older ones 700
// (Ksa, Beleidsregel verantwoord spelen, from 1 October 2024).
func TestYoungAdultLimit(t *testing.T) {
	e := newSQLiteEnv(t)
	nl := e.merchant(merchant.CategoryGambling, "NL")
	e.registers["cruks"] = compliance.TestRegister{RegisterName: "cruks", Clock: e.clk.Now}
	born := func(years int, days int) string {
		n := accounts.Add(1)
		res := signUp(t, e, e.ids)
		d := identityData("Daan", fmt.Sprintf("Jansen%d", n), "NL")
		d.BirthDate = time.Date(start.Year()-years, start.Month(), start.Day()+days, 0, 0, 0, 0, time.UTC)
		if _, err := e.ids.SubmitKYC(e.ctx, res.id, d); err != nil {
			t.Fatal(err)
		}
		return res.id
	}
	young := born(24, 1)  // turns 24 tomorrow
	turned := born(24, 0) // 24 today
	older := born(40, 0)
	for _, tt := range []struct {
		name  string
		payer string
		limit int64
	}{{"23, a day short of 24", young, 300_00}, {"24 today", turned, 700_00}, {"40", older, 700_00}} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.deposit(nl, 300_00, tt.payer, "", ""); err != nil {
				t.Fatal(err)
			}
			_, err := e.deposit(nl, 1, tt.payer, "", "")
			if tt.limit == 300_00 {
				ke := wantCode(t, "one cent over 300", err, compliance.CodeDepositLimitReached)
				if lim, _ := ke.Details["limit"].(map[string]any); lim == nil || fmt.Sprint(lim["amount"]) != "30000" {
					t.Errorf("limit %v", ke.Details["limit"])
				}
				return
			}
			if err != nil {
				t.Fatalf("over 300, under 700: %v", err)
			}
		})
	}
}
