package compliance_test

import (
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
)

func wantCode(t *testing.T, what string, err error, code string) *kassa.Error {
	t.Helper()
	e := kassa.AsError(err)
	if e == nil || e.Code != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
	return e
}

// TestJurisdictions: per jurisdiction, what its policy refuses and what
// it lets through, on the real payment flow (vouchers, Kassa accounts,
// the test register).
func TestJurisdictions(t *testing.T) {
	e := newSQLiteEnv(t)
	de := e.merchant(merchant.CategoryGambling, "DE")
	se := e.merchant(merchant.CategoryGambling, "SE")
	mt := e.merchant(merchant.CategoryGambling, "MT")
	gb := e.merchant(merchant.CategoryGambling, "GB")
	dk := e.merchant(merchant.CategoryGambling, "DK")
	shop := e.merchant(merchant.CategoryRetail, "DE")
	deVerified := e.account(true, "Greta", "Bauer", "DE")
	deUnverified := e.account(false, "", "", "")
	seExcluded := e.account(true, "Sven", compliance.TestExcludedName, "SE")
	seUnreachable := e.account(true, "Sara", compliance.TestUnreachableName, "SE")
	sePlayer := e.account(true, "Sofia", "Lind", "SE")
	gbPlayer := e.account(true, "Grace", "Hill", "GB")

	tests := []struct {
		name     string
		merchant string
		amount   money.Amount
		payer    string
		customer string
		country  string
		code     string // "" allowed
	}{
		{"DE anonymous voucher, no account", de, 5000, "", "player-1", "DE", compliance.CodeMethodNotAllowed},
		{"DE voucher from an account without KYC", de, 5000, deUnverified, "", "", compliance.CodeMethodNotAllowed},
		{"DE voucher from a verified account", de, 5000, deVerified, "", "", ""},
		{"MT licensee, German resident by billing country, anonymous voucher", mt, 5000, "", "p-2", "DE", compliance.CodeMethodNotAllowed},
		{"SE player on the test register", se, 5000, seExcluded, "", "", compliance.CodeSelfExcluded},
		{"SE player, register unreachable: fails closed", se, 5000, seUnreachable, "", "", compliance.CodeRegisterUnavailable},
		{"SE player not on the register", se, 5000, sePlayer, "", "", ""},
		{"SE without a Kassa account cannot be checked", se, 5000, "", "p-3", "SE", compliance.CodeKYCRequired},
		{"DK player: ROFUS not configured fails closed", dk, 5000, sePlayer, "", "", compliance.CodeRegisterUnavailable},
		{"GB player, verified, GAMSTOP clear", gb, 5000, gbPlayer, "", "", ""},
		{"GB without identity", gb, 5000, "", "p-4", "GB", compliance.CodeKYCRequired},
		{"MT small anonymous deposit", mt, 5000, "", "p-5", "MT", ""},
		{"MT above 2,000 EUR without identity", mt, 200001, "", "p-6", "MT", compliance.CodeKYCRequired},
		{"a shop is not bound", shop, 5000, "", "", "DE", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := e.deposit(tt.merchant, tt.amount, tt.payer, tt.customer, tt.country)
			if tt.code == "" {
				if err != nil || p.Status != payment.StatusCaptured {
					t.Fatalf("deposit = %s, %v; want captured", p.Status, err)
				}
				return
			}
			ke := wantCode(t, "deposit", err, tt.code)
			if ke.Message == "" || ke.Details["source"] == nil && ke.Details["register"] == nil {
				t.Errorf("refusal without message or source: %+v", ke)
			}
		})
	}
	// The excluded Swede is told until when.
	_, err := e.deposit(se, 100, seExcluded, "", "")
	if ke := wantCode(t, "excluded again", err, compliance.CodeSelfExcluded); !compliance.LiftsAt(ke).Equal(start.Add(compliance.TestExcludedFor)) {
		t.Errorf("lifts_at = %v", ke.Details["lifts_at"])
	}
	// British pay later at a gambling merchant is refused by policy.
	gbm, _ := e.merchants.Get(e.ctx, gb)
	wantCode(t, "GB credit", e.svc.Policies().CreditAllowed(gbm, "GB"), compliance.CodeMethodNotAllowed)
	// Withdrawals need the level the rules ask for.
	wantCode(t, "GB withdrawal to a merchant's own customer", e.svc.CheckWithdrawal(e.ctx, gb, "player-9", "GB"), compliance.CodeKYCRequired)
	if err := e.svc.CheckWithdrawal(e.ctx, gb, gbPlayer, ""); err != nil {
		t.Errorf("GB withdrawal of a verified player: %v", err)
	}
	// An unreachable register is a 503 for the API, not a 422.
	_, err = e.deposit(se, 100, seUnreachable, "", "")
	if kassa.ErrorKind(err) != kassa.EUnavailable {
		t.Errorf("unreachable register: kind %s", kassa.ErrorKind(err))
	}
	// The sign-up and login checks a Swedish licensee asks of Spelpaus.
	wantCode(t, "login check", e.svc.CheckMoment(e.ctx, "login", "SE", seExcluded), compliance.CodeSelfExcluded)
	if err := e.svc.CheckMoment(e.ctx, "login", "SE", sePlayer); err != nil {
		t.Errorf("login check of a player not on the register: %v", err)
	}
	// A Maltese licensee's Swedish player is checked too (the stricter
	// rules); a Maltese player is on no register Malta names.
	wantCode(t, "MT licence, SE player", e.svc.CheckMoment(e.ctx, "login", "MT", seExcluded), compliance.CodeSelfExcluded)
	mtPlayer := e.account(true, "Marco", compliance.TestExcludedName, "MT")
	if err := e.svc.CheckMoment(e.ctx, "login", "MT", mtPlayer); err != nil {
		t.Errorf("Malta names no register: %v", err)
	}
}

// TestCrossMerchantMonthlyTotal: Germany's 1,000 euros a month across
// operators counts a Kassa account's deposits at two merchants; money
// that did not move (a canceled authorization) does not count; the
// next month starts afresh.
func TestCrossMerchantMonthlyTotal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		a := e.merchant(merchant.CategoryGambling, "DE")
		b := e.merchant(merchant.CategoryGambling, "DE")
		player := e.account(true, "Lena", "Koch", "DE")
		if _, err := e.deposit(a, 60000, player, "", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.deposit(b, 40000, player, "x-1", ""); err != nil {
			t.Fatal(err)
		}
		_, err := e.deposit(b, 1, player, "", "")
		ke := wantCode(t, "one cent over at the second merchant", err, compliance.CodeDepositLimitReached)
		// April starts at midnight in Berlin (CEST), 22:00 UTC.
		if got, want := compliance.LiftsAt(ke), time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC); !got.Equal(want) {
			t.Errorf("lifts_at %v, want %v", got, want)
		}
		// Another player is not affected.
		other := e.account(true, "Jonas", "Wolf", "DE")
		if _, err := e.deposit(a, 100000, other, "", ""); err != nil {
			t.Errorf("another player: %v", err)
		}
		// April: the limit is fresh.
		e.clk.Set(time.Date(2026, 4, 1, 0, 0, 1, 0, time.UTC))
		if _, err := e.deposit(b, 100000, player, "", ""); err != nil {
			t.Errorf("in April: %v", err)
		}
	})
}

// TestDepositLimitRace: two deposits racing for the rest of a limit
// never both pass (the check and the count are one transaction under
// the subject's lock).
func TestDepositLimitRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		m := e.merchant(merchant.CategoryGambling, "MT")
		ten := money.Amount(100_00)
		for round := range 8 {
			cust := "racer-" + string(rune('a'+round))
			sub := compliance.Subject{MerchantID: m, CustomerID: cust}
			if _, err := e.svc.SetLimits(e.ctx, sub, compliance.SetRequest{Deposit: map[compliance.Period]*compliance.Limit{
				compliance.Day: {Amount: ten, Currency: "EUR"}}}); err != nil {
				t.Fatal(err)
			}
			const n = 4
			ps := make([]payment.Payment, n)
			for i := range ps {
				ps[i] = e.create(m, 60_00, cust, "MT")
			}
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range ps {
				wg.Go(func() {
					errs[i] = e.svc.Admit(e.ctx, compliance.Deposit{PaymentID: ps[i].ID, MerchantID: m, Amount: 60_00,
						Currency: "EUR", CustomerID: cust, CustomerCountry: "MT"})
				})
			}
			wg.Wait()
			passed := 0
			for _, err := range errs {
				switch {
				case err == nil:
					passed++
				case kassa.AsError(err) == nil || kassa.AsError(err).Code != compliance.CodeDepositLimitReached:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if passed != 1 {
				t.Fatalf("round %d: %d of %d deposits of 60 passed a limit of 100", round, passed, n)
			}
		}
	})
}
