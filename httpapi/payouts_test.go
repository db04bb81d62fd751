package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/store/sqlstore"
)

// newPayoutFixture is a server whose payouts above 5000 wait for review,
// with the merchant's EUR balance funded by amount.
func newPayoutFixture(t *testing.T, amount money.Amount) *fixture {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	led := newLedger(t, db)
	po := payout.New(payout.Config{Store: sqlstore.NewPayouts(db), Ledger: led, ReviewAbove: 5000,
		Limits: payout.Limits{PayerDay: 20_000},
		Rails:  map[string]payout.Rail{payout.DestBankAccount: payout.NewTestBank(nil)}})
	f := newFixtureDB(t, db, httpapi.Config{Ledger: led, Payouts: po}, nil)
	fundMerchant(t, led, f.merchant.ID, "f1", amount)
	return f
}

// fundMerchant credits a merchant's balance as captured payments would.
func fundMerchant(t *testing.T, led *ledger.Ledger, merchantID, tid string, amount money.Amount) {
	t.Helper()
	ctx := context.Background()
	acct := "merchant:" + merchantID + ":EUR"
	if _, err := led.CreateAccounts(ctx, "", []ledger.Account{{ID: "test_funding:EUR", Currency: "EUR", Code: 9},
		{ID: acct, Currency: "EUR", Code: 2}}); err != nil {
		t.Fatal(err)
	}
	res, err := led.CreateTransfers(ctx, "", []ledger.Transfer{{ID: tid, DebitAccountID: "test_funding:EUR",
		CreditAccountID: acct, Amount: amount, Currency: "EUR", Code: 9}})
	if err != nil || res[0].Code != ledger.OK {
		t.Fatalf("fund: %v %v", res, err)
	}
}

var testIBAN = payout.IBANCheckDigits("DE", "100100100000000000")

func payoutBody(amount int64, extra string) string {
	return fmt.Sprintf(`{"amount":%d,"currency":"EUR","customer":{"id":"player-7","email":"jane@example.com",
		"first_name":"Jane","last_name":"Doe","date_of_birth":"1990-05-17"},
		"destination":{"type":"bank_account","iban":%q,"account_holder":"Jane Doe"}%s}`, amount, testIBAN, extra)
}

type problemJSON struct {
	Code   string         `json:"code"`
	Param  string         `json:"param"`
	Status int            `json:"status"`
	Checks []payout.Check `json:"checks"`
}

func TestPayoutsAPI(t *testing.T) {
	f := newPayoutFixture(t, 10_000)
	sk := f.merchant.SecretKey
	post := func(body string, header ...string) (int, []byte) {
		resp, b := f.do(t, "POST", "/v1/payouts", sk, "application/json", body, header...)
		return resp.StatusCode, b
	}
	code, b := post(payoutBody(1_500, `,"merchant_reference":"win-1","metadata":{"game":"poker"}`), "Idempotency-Key", "k1")
	if code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	var p payout.PublicPayout
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.ID, "po_") || p.Object != "payout" || p.Status != payout.StatusPending || p.Amount != 1_500 ||
		p.ArrivalEstimate == nil || len(p.Checks) == 0 || strings.Contains(string(b), "1990-05-17") {
		t.Errorf("payout: %s", b)
	}
	// The same request under the key answers the same payout.
	if code, b2 := post(payoutBody(1_500, `,"merchant_reference":"win-1","metadata":{"game":"poker"}`), "Idempotency-Key", "k1"); code != 201 || !strings.Contains(string(b2), p.ID) {
		t.Errorf("replay: %d %s", code, b2)
	}
	resp, b := f.do(t, "GET", "/v1/payouts/"+p.ID, sk, "", "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"status":"pending"`) {
		t.Errorf("get: %d %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, "GET", "/v1/payouts?customer=player-7&status=pending&limit=10", sk, "", "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), p.ID) {
		t.Errorf("list: %d %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, "GET", "/v1/payouts/limits?customer=player-7&currency=EUR", sk, "", "")
	var lim payout.LimitsView
	json.Unmarshal(b, &lim)
	if resp.StatusCode != 200 || lim.PayerDay.Used != 1_500 || lim.PayerDay.Remaining != 18_500 {
		t.Errorf("limits: %d %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, "POST", "/v1/payouts/"+p.ID+"/cancel", sk, "", "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"status":"canceled"`) {
		t.Errorf("cancel: %d %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, "POST", "/v1/payouts/"+p.ID+"/cancel", sk, "", "")
	if resp.StatusCode != 409 || !strings.Contains(string(b), "payout_not_cancelable") {
		t.Errorf("second cancel: %d %s", resp.StatusCode, b)
	}
	// A stranger and another merchant see nothing.
	if resp, _ := f.do(t, "GET", "/v1/payouts/"+p.ID, "", "", ""); resp.StatusCode != 401 {
		t.Errorf("no key: %d", resp.StatusCode)
	}
	other, err := f.svc.Create(context.Background(), "Other Casino")
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := f.do(t, "GET", "/v1/payouts/"+p.ID, other.SecretKey, "", ""); resp.StatusCode != 404 {
		t.Errorf("another merchant's get: %d", resp.StatusCode)
	}
	if resp, _ := f.do(t, "POST", "/v1/payouts/"+p.ID+"/cancel", other.SecretKey, "", ""); resp.StatusCode != 404 {
		t.Errorf("another merchant's cancel: %d", resp.StatusCode)
	}
	if resp, _ := f.do(t, "POST", "/v1/payouts", f.merchant.PublishableKey, "application/json", payoutBody(100, "")); resp.StatusCode != 401 && resp.StatusCode != 403 {
		t.Errorf("publishable key created a payout: %d", resp.StatusCode)
	}
}

// TestPayoutsAPIBadInput: each refusal is a problem with its code and
// param, and nothing is reserved.
func TestPayoutsAPIBadInput(t *testing.T) {
	f := newPayoutFixture(t, 10_000)
	sk := f.merchant.SecretKey
	tests := []struct {
		name, body, code, param string
		status                  int
	}{
		{"unknown destination", strings.Replace(payoutBody(100, ""), `"bank_account"`, `"paypal"`, 1), "destination_type_invalid", "destination.type", 400},
		{"bad checksum", strings.Replace(payoutBody(100, ""), testIBAN, "DE89370400440532013001", 1), "iban_checksum_invalid", "destination.iban", 400},
		{"currency mismatch", strings.Replace(payoutBody(100, ""), `"EUR"`, `"GBP"`, 1), "currency_mismatch", "currency", 400},
		{"above balance", payoutBody(10_001, ""), "balance_insufficient", "amount", 422},
		{"above limit", payoutBody(5_000, "") + "", "", "", 0}, // placeholder, replaced below
		{"underage", strings.Replace(payoutBody(100, ""), "1990-05-17", time.Now().AddDate(-17, 0, 0).Format(time.DateOnly), 1), "customer_underage", "customer.date_of_birth", 400},
		{"unknown field", payoutBody(100, `,"fee":1`), "unknown_field", "", 400},
	}
	tests[4] = struct {
		name, body, code, param string
		status                  int
	}{"above limit", payoutBody(20_001, ""), "balance_insufficient", "amount", 422}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := f.do(t, "POST", "/v1/payouts", sk, "application/json", tt.body)
			var pj problemJSON
			json.Unmarshal(b, &pj)
			if resp.StatusCode != tt.status || (tt.code != "unknown_field" && (pj.Code != tt.code || pj.Param != tt.param)) ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
				t.Errorf("got %d %s, want %d %s %s", resp.StatusCode, b, tt.status, tt.code, tt.param)
			}
		})
	}
	// The daily limit (20,000) with enough balance: fund more first.
	fundMerchant(t, f.cfg.Ledger, f.merchant.ID, "f2", 100_000)
	resp, b := f.do(t, "POST", "/v1/payouts", sk, "application/json", payoutBody(20_001, ""))
	var pj problemJSON
	json.Unmarshal(b, &pj)
	if resp.StatusCode != 422 || pj.Code != "limit_exceeded" || pj.Param != "amount" {
		t.Errorf("above limit: %d %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, "GET", "/v1/payouts?limit=10", sk, "", "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"data":[]`) {
		t.Errorf("refused payouts were stored: %s", b)
	}
	a, err := f.cfg.Ledger.Account(context.Background(), "", "merchant:"+f.merchant.ID+":EUR")
	if err != nil || a.DebitsPending != 0 {
		t.Errorf("refused payouts reserved %d (%v)", a.DebitsPending, err)
	}
	// validate_only: every failing check at once, 200, nothing stored.
	body := strings.Replace(strings.Replace(payoutBody(500_000, `,"validate_only":true`), testIBAN, "DE89370400440532013001", 1),
		"1990-05-17", "2015-01-01", 1)
	resp, b = f.do(t, "POST", "/v1/payouts", sk, "application/json", body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "customer_underage") || !strings.Contains(string(b), "iban_checksum_invalid") ||
		!strings.Contains(string(b), "balance_insufficient") || strings.Contains(string(b), `"id":"po_`) {
		t.Errorf("validate_only: %d %s", resp.StatusCode, b)
	}
}

// TestPayoutsAPIReview: a payout in review is approved by another key
// than the one that created it while the merchant has two.
func TestPayoutsAPIReview(t *testing.T) {
	f := newPayoutFixture(t, 100_000)
	sk := f.merchant.SecretKey
	resp, b := f.do(t, "POST", "/v1/payouts", sk, "application/json", payoutBody(6_000, ""))
	var p payout.PublicPayout
	json.Unmarshal(b, &p)
	if resp.StatusCode != 201 || p.Status != payout.StatusRequiresReview {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	_, sk2, err := f.svc.RotateKey(context.Background(), f.merchant.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp, b = f.do(t, "POST", "/v1/payouts/"+p.ID+"/approve", sk, "", "")
	var pj problemJSON
	json.Unmarshal(b, &pj)
	if resp.StatusCode != 403 || pj.Code != "reviewer_is_creator" {
		t.Errorf("approve by the creator: %d %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, "POST", "/v1/payouts/"+p.ID+"/approve", sk2, "", "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"status":"pending"`) {
		t.Errorf("approve by the other key: %d %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, "POST", "/v1/payouts/"+p.ID+"/reject", sk2, "", "")
	if resp.StatusCode != 409 || !strings.Contains(string(b), "payout_not_in_review") {
		t.Errorf("reject after approval: %d %s", resp.StatusCode, b)
	}
}
