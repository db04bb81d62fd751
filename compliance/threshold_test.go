package compliance_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
)

// TestCumulativeThreshold: Malta's identity threshold is a running
// total of the player's deposits with the licensee (FIAU Implementing
// Procedures Part II: 2,000 euros), not one deposit's size.
func TestCumulativeThreshold(t *testing.T) {
	e := newSQLiteEnv(t)
	m := e.merchant(merchant.CategoryGambling, "MT")
	admit := func(cust, payer string, amount money.Amount) error {
		p := e.create(m, amount, cust, "MT")
		return e.svc.Admit(e.ctx, compliance.Deposit{PaymentID: p.ID, MerchantID: m, Amount: amount, Currency: "EUR",
			CustomerID: cust, PayerID: payer, CustomerCountry: "MT"})
	}
	for i, amount := range []money.Amount{1000_00, 600_00, 400_00} { // 2,000.00 in all: not more than
		if err := admit("steady", "", amount); err != nil {
			t.Fatalf("deposit %d: %v", i, err)
		}
	}
	ke := wantCode(t, "one cent over 2,000 in total", admit("steady", "", 1), compliance.CodeKYCRequired)
	if ke.Details["level"] != "kyc_verified" || ke.Details["source"] == nil {
		t.Errorf("refusal = %+v", ke)
	}
	// Another player at the same merchant has their own total.
	if err := admit("other", "", 1500_00); err != nil {
		t.Fatal(err)
	}
	// A player Kassa knows as verified is not held to it.
	verified := e.account(true, "Marco", "Borg", "MT")
	for range 3 {
		if err := admit("", verified, 1000_00); err != nil {
			t.Fatalf("verified player: %v", err)
		}
	}
	// A deposit of nobody Kassa can count for is judged alone.
	wantCode(t, "anonymous 2,000.01", admit("", "", 2000_01), compliance.CodeKYCRequired)
	if err := admit("", "", 2000_00); err != nil {
		t.Errorf("anonymous 2,000.00: %v", err)
	}
}

// TestCumulativeThresholdRace: deposits racing for the rest of the
// threshold take turns under the subject's lock, on both backends.
func TestCumulativeThresholdRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		m := e.merchant(merchant.CategoryGambling, "MT")
		for round := range 6 {
			cust := fmt.Sprintf("threshold-%d", round)
			first := e.create(m, 1000_00, cust, "MT")
			if err := e.svc.Admit(e.ctx, compliance.Deposit{PaymentID: first.ID, MerchantID: m, Amount: 1000_00,
				Currency: "EUR", CustomerID: cust, CustomerCountry: "MT"}); err != nil {
				t.Fatal(err)
			}
			const n = 4
			ps := make([]payment.Payment, n)
			for i := range ps {
				ps[i] = e.create(m, 600_00, cust, "MT")
			}
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range ps {
				wg.Go(func() {
					errs[i] = e.svc.Admit(e.ctx, compliance.Deposit{PaymentID: ps[i].ID, MerchantID: m, Amount: 600_00,
						Currency: "EUR", CustomerID: cust, CustomerCountry: "MT"})
				})
			}
			wg.Wait()
			passed := 0
			for _, err := range errs {
				switch {
				case err == nil:
					passed++
				case kassa.AsError(err) == nil || kassa.AsError(err).Code != compliance.CodeKYCRequired:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if passed != 1 {
				t.Fatalf("round %d: %d of %d deposits of 600 passed the rest (1,000) of a 2,000 threshold", round, passed, n)
			}
		}
	})
}
