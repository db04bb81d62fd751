package business_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/store/sqlstore"
)

// flakyStore is the real store whose report writer fails for one report
// while fails > 0: storage failing for a while, not a bad report.
type flakyStore struct {
	business.Store
	id    string
	fails atomic.Int64
}

func (s *flakyStore) ReportWriter(ctx context.Context, id string) (business.ReportFileWriter, error) {
	if id == s.id && s.fails.Add(-1) >= 0 {
		return nil, errors.New("disk went away")
	}
	return s.Store.ReportWriter(ctx, id)
}

// TestReportRetriedThenFailed: a report whose generation keeps failing is
// tried again later with a growing delay, does not hold up the reports
// after it, and ends failed after ReportAttemptsMax tries; one that fails
// for a while and then works ends succeeded.
func TestReportRetriedThenFailed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		req := business.ReportRequest{Type: business.ReportPayments, IntervalStart: "2026-03-01", IntervalEnd: "2026-03-02"}
		bad, err := e.biz.CreateReport(ctx, e.merchant, req)
		if err != nil {
			t.Fatal(err)
		}
		good, err := e.biz.CreateReport(ctx, e.merchant, req)
		if err != nil {
			t.Fatal(err)
		}
		st := &flakyStore{Store: sqlstore.NewBusiness(e.db), id: bad.ID}
		st.fails.Store(1 << 30)
		biz := business.New(business.Config{Store: st, Ledger: e.led, Payouts: e.payouts, Clock: e.clk.Now})
		get := func(id string) business.Report {
			t.Helper()
			r, err := biz.Report(ctx, e.merchant, id)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}

		n, err := biz.RunReports(ctx)
		if err == nil || !strings.Contains(err.Error(), bad.ID) {
			t.Fatalf("first pass: err = %v, want the bad report's", err)
		}
		if n != 1 || get(good.ID).Status != business.ReportSucceeded {
			t.Fatalf("first pass made %d reports, good one %s: the failing report held it up", n, get(good.ID).Status)
		}
		for try := 1; try < business.ReportAttemptsMax; try++ {
			r := get(bad.ID)
			if r.Status != business.ReportPending || r.Attempts != try {
				t.Fatalf("after try %d: %s with %d attempts", try, r.Status, r.Attempts)
			}
			// Not tried again before its delay.
			before := st.fails.Load()
			e.clk.Advance(business.ReportRetryDelay(try) / 2)
			if _, err := biz.RunReports(ctx); err != nil || st.fails.Load() != before {
				t.Fatalf("try %d: run before the delay: err %v, tried %d times", try, err, before-st.fails.Load())
			}
			e.clk.Advance(business.ReportRetryDelay(try) - business.ReportRetryDelay(try)/2)
			if _, err := biz.RunReports(ctx); err == nil {
				t.Fatalf("try %d: no error", try+1)
			}
		}
		r := get(bad.ID)
		if r.Status != business.ReportFailed || !strings.Contains(r.FailureMessage, "request it again") {
			t.Fatalf("after %d tries: %s %q, want failed", business.ReportAttemptsMax, r.Status, r.FailureMessage)
		}
		if _, err := biz.RunReports(ctx); err != nil {
			t.Fatalf("a failed report is tried again: %v", err)
		}

		// Two failures, then the storage is back: succeeded.
		again, err := biz.CreateReport(ctx, e.merchant, req)
		if err != nil {
			t.Fatal(err)
		}
		st.id = again.ID
		st.fails.Store(2)
		for range 3 {
			biz.RunReports(ctx)
			e.clk.Advance(business.ReportRetryMax)
		}
		if r := get(again.ID); r.Status != business.ReportSucceeded || r.Attempts != 2 {
			t.Fatalf("after the storage came back: %s with %d attempts", r.Status, r.Attempts)
		}
	})
}

func TestReportRetryDelay(t *testing.T) {
	var total int64
	prev := int64(0)
	for n := 1; n < business.ReportAttemptsMax; n++ {
		d := business.ReportRetryDelay(n)
		if int64(d) < prev || d > business.ReportRetryMax {
			t.Errorf("delay %d = %v after %v", n, d, prev)
		}
		prev, total = int64(d), total+int64(d)
	}
	if business.ReportRetryDelay(1) != business.ReportRetryFirst || business.ReportRetryDelay(1000) != business.ReportRetryMax {
		t.Errorf("first %v, far %v", business.ReportRetryDelay(1), business.ReportRetryDelay(1000))
	}
}
