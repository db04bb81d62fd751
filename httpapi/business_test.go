package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/payout"
)

// TestBusinessAPI: balance transactions, a settlement and a report over
// the API; another merchant and a stranger see none of them.
func TestBusinessAPI(t *testing.T) {
	f := newPayoutFixture(t, 10_000)
	sk := f.merchant.SecretKey
	ctx := context.Background()
	resp, b := f.do(t, "GET", "/v1/balance_transactions?limit=5", sk, "", "")
	var list struct {
		Data []struct {
			ID, Type, Source string
			Amount, Fee, Net int64
			Settlement       *string
		} `json:"data"`
		HasMore bool `json:"has_more"`
	}
	json.Unmarshal(b, &list)
	if resp.StatusCode != 200 || len(list.Data) != 1 || list.Data[0].Type != "credit" || list.Data[0].Net != 10_000 {
		t.Fatalf("balance transactions: %d %s", resp.StatusCode, b)
	}
	txn := list.Data[0].ID
	if resp, b := f.do(t, "GET", "/v1/balance_transactions/"+txn, sk, "", ""); resp.StatusCode != 200 ||
		!strings.Contains(string(b), `"object":"balance_transaction"`) || !strings.Contains(string(b), `"ledger_transfer":"f1"`) {
		t.Errorf("get: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, "GET", "/v1/balance_transactions?type=bogus", sk, "", ""); resp.StatusCode != 400 || !strings.Contains(string(b), "type_invalid") {
		t.Errorf("bad type: %d %s", resp.StatusCode, b)
	}
	// No bank account yet: refused, nothing reserved.
	if resp, b := f.do(t, "POST", "/v1/settlements", sk, "", ""); resp.StatusCode != 422 || !strings.Contains(string(b), "bank_account_required") {
		t.Errorf("settlement without a bank account: %d %s", resp.StatusCode, b)
	}
	if err := f.cfg.Business.SetBankAccount(ctx, f.merchant.ID, payout.IBANCheckDigits("DE", "100100100000000000"), "Test Shop"); err != nil {
		t.Fatal(err)
	}
	resp, b = f.do(t, "POST", "/v1/settlements", sk, "", "", "Idempotency-Key", "settle-1")
	var st struct {
		ID, Status          string
		Amount              int64
		BalanceTransactions struct {
			Count int
			Net   int64
		} `json:"balance_transactions"`
		BankAccount struct{ Last4 string } `json:"bank_account"`
	}
	json.Unmarshal(b, &st)
	if resp.StatusCode != 201 || st.Amount != 10_000 || st.Status != "pending" || st.BalanceTransactions.Net != 10_000 ||
		st.BalanceTransactions.Count != 1 || st.BankAccount.Last4 != "0000" || strings.Contains(string(b), "DE") && strings.Contains(string(b), "100100100000000000") {
		t.Fatalf("settlement: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, "POST", "/v1/settlements", sk, "", "", "Idempotency-Key", "settle-2"); resp.StatusCode != 422 || !strings.Contains(string(b), "settlement_nothing_due") {
		t.Errorf("second settlement: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, "GET", "/v1/balance_transactions?settlement="+st.ID, sk, "", ""); resp.StatusCode != 200 || strings.Count(string(b), `"settlement":"`+st.ID+`"`) != 2 {
		t.Errorf("the settlement's transactions: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, "GET", "/v1/settlements", sk, "", ""); resp.StatusCode != 200 || !strings.Contains(string(b), st.ID) {
		t.Errorf("list settlements: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, "GET", "/v1/payouts", sk, "", ""); resp.StatusCode != 200 || strings.Contains(string(b), st.ID) {
		t.Errorf("a settlement among the payouts: %d %s", resp.StatusCode, b)
	}
	// A report.
	resp, b = f.do(t, "POST", "/v1/reports", sk, "application/json", fmt.Sprintf(
		`{"type":"balance_summary","interval_start":%q,"interval_end":%q,"timezone":"Europe/Berlin","format":"json"}`,
		time.Now().Add(-time.Hour).Format(time.RFC3339), time.Now().Add(time.Hour).Format(time.RFC3339)))
	var rep struct{ ID, Status string }
	json.Unmarshal(b, &rep)
	if resp.StatusCode != 201 || rep.Status != "pending" {
		t.Fatalf("create report: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, "GET", "/v1/reports/"+rep.ID+"/file", sk, "", ""); resp.StatusCode != 409 || !strings.Contains(string(b), "report_not_ready") {
		t.Errorf("file of a pending report: %d %s", resp.StatusCode, b)
	}
	if _, err := f.cfg.Business.RunReports(ctx); err != nil {
		t.Fatal(err)
	}
	if resp, b := f.do(t, "GET", "/v1/reports/"+rep.ID, sk, "", ""); resp.StatusCode != 200 || !strings.Contains(string(b), `"status":"succeeded"`) ||
		!strings.Contains(string(b), `"tree_size":`) {
		t.Errorf("report: %d %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, "GET", "/v1/reports/"+rep.ID+"/file", sk, "", "")
	if resp.StatusCode != 200 || resp.Header.Get("X-Ledger-Tree-Size") == "" || !json.Valid(b) || !strings.Contains(string(b), `"closing_balance"`) {
		t.Errorf("file: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	for _, tt := range []struct{ body, code string }{
		{`{"type":"all"}`, "report_type_invalid"},
		{`{"type":"payments","interval_start":"2020-01-01","interval_end":"2020-01-02","timezone":"Nowhere/City"}`, "timezone_invalid"},
		{`{"type":"payments","interval_start":"2020-01-01","interval_end":"2020-01-02","format":"pdf"}`, "format_invalid"},
	} {
		if resp, b := f.do(t, "POST", "/v1/reports", sk, "application/json", tt.body); resp.StatusCode != 400 || !strings.Contains(string(b), tt.code) {
			t.Errorf("POST /v1/reports %s: %d %s", tt.body, resp.StatusCode, b)
		}
	}
	// Another merchant and a stranger.
	other, err := f.svc.Create(ctx, "Other Shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/balance_transactions/" + txn, "/v1/settlements/" + st.ID, "/v1/reports/" + rep.ID, "/v1/reports/" + rep.ID + "/file"} {
		if resp, b := f.do(t, "GET", path, other.SecretKey, "", ""); resp.StatusCode != 404 {
			t.Errorf("another merchant GET %s: %d %s", path, resp.StatusCode, b)
		}
		if resp, _ := f.do(t, "GET", path, "", "", ""); resp.StatusCode != 401 {
			t.Errorf("no key GET %s: %d", path, resp.StatusCode)
		}
		if resp, _ := f.do(t, "GET", path, f.merchant.PublishableKey, "", ""); resp.StatusCode != 401 && resp.StatusCode != 403 {
			t.Errorf("publishable key GET %s: %d", path, resp.StatusCode)
		}
	}
	if resp, b := f.do(t, "GET", "/v1/balance_transactions", other.SecretKey, "", ""); resp.StatusCode != 200 || strings.Contains(string(b), txn) {
		t.Errorf("another merchant's list: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, "GET", "/v1/balance_transactions?starting_after="+txn, other.SecretKey, "", ""); resp.StatusCode != 400 {
		t.Errorf("another merchant's cursor: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, "GET", "/v1/balance", sk, "", ""); resp.StatusCode != 200 || !strings.Contains(string(b), `"available":[{"amount":0,"currency":"EUR"}]`) {
		t.Errorf("balance after the settlement: %d %s", resp.StatusCode, b)
	}
}
