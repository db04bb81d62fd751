package business

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // report timezones do not depend on the host's zoneinfo

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/webhook"
)

// Report types.
const (
	ReportBalanceSummary           = "balance_summary"
	ReportSettlementReconciliation = "settlement_reconciliation"
	ReportPayments                 = "payments"
	ReportPayouts                  = "payouts"
	ReportRiskDecisions            = "risk_decisions"
)

// ReportTypes lists them.
var ReportTypes = []string{ReportBalanceSummary, ReportSettlementReconciliation, ReportPayments, ReportPayouts, ReportRiskDecisions}

// Report states.
const (
	ReportPending   = "pending"
	ReportSucceeded = "succeeded"
	ReportFailed    = "failed"
)

// Limits of reports.
const (
	ReportIntervalMax = 366 * 24 * time.Hour
	ReportPendingMax  = 20 // pending reports per merchant
	ReportsPerPassMax = 8  // reports one job pass generates
	// ReportAttemptsMax is how often a report is tried before it ends
	// failed when its generation keeps failing for a reason that may pass
	// (the database, a lost lease). Tries wait ReportRetryFirst, then twice
	// as long each time up to ReportRetryMax: about 35 minutes in all.
	ReportAttemptsMax  = 10
	ReportRetryFirst   = 2 * time.Second
	ReportRetryMax     = 10 * time.Minute
	TimezoneLengthMax  = 64
	reportCellBytesMax = 1024
)

// Report is a report (rpt_) and, once succeeded, its file's figures.
type Report struct {
	ID             string
	MerchantID     string
	Type           string
	Format         string // csv, json
	Timezone       string // IANA name; times in the file are shown in it
	Start, End     time.Time
	Status         string
	FailureMessage string
	TreeSize       int64  // the ledger checkpoint it was computed at
	RootHash       string // base64, as in the signed checkpoint
	Rows           int64
	Size           int64
	SHA256         string // hex, of the file
	Created        time.Time
	Completed      time.Time
	Attempts       int       // failed tries so far (pending reports)
	NextAttempt    time.Time // not tried again before this
}

// ReportRequest is what a merchant asks for.
type ReportRequest struct {
	Type, Format, Timezone string
	IntervalStart          string // RFC 3339, or a date YYYY-MM-DD (00:00 in Timezone)
	IntervalEnd            string
}

// CreateReport validates req and stores the report pending; the reports
// job generates it.
func (s *Service) CreateReport(ctx context.Context, merchantID string, req ReportRequest) (Report, error) {
	if !contains(ReportTypes, req.Type) {
		return Report{}, kassa.Invalid("type", "report_type_invalid", "type must be one of %s", strings.Join(ReportTypes, ", "))
	}
	if req.Format == "" {
		req.Format = "csv"
	}
	if req.Format != "csv" && req.Format != "json" {
		return Report{}, kassa.Invalid("format", "format_invalid", "format must be csv or json")
	}
	if req.Timezone == "" {
		req.Timezone = "UTC"
	}
	loc, err := loadZone(req.Timezone)
	if err != nil {
		return Report{}, err
	}
	start, err := parseInstant(req.IntervalStart, loc, "interval_start")
	if err != nil {
		return Report{}, err
	}
	end, err := parseInstant(req.IntervalEnd, loc, "interval_end")
	if err != nil {
		return Report{}, err
	}
	if !end.After(start) || end.Sub(start) > ReportIntervalMax {
		return Report{}, kassa.Invalid("interval_end", "interval_invalid", "interval_end must be after interval_start, at most %d days later", int(ReportIntervalMax.Hours()/24))
	}
	now := s.now().UTC()
	r := Report{ID: s.cfg.IDs.New("rpt"), MerchantID: merchantID, Type: req.Type, Format: req.Format, Timezone: req.Timezone,
		Start: start, End: end, Status: ReportPending, Created: now}
	if err := s.store.CreateReport(ctx, r, ReportPendingMax); err != nil {
		return Report{}, err
	}
	return r, nil
}

func loadZone(name string) (*time.Location, error) {
	if len(name) > TimezoneLengthMax || strings.Contains(name, "..") || name == "Local" {
		return nil, kassa.Invalid("timezone", "timezone_invalid", "timezone must be an IANA time zone such as Europe/Berlin")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, kassa.Invalid("timezone", "timezone_invalid", "timezone must be an IANA time zone such as Europe/Berlin")
	}
	return loc, nil
}

func parseInstant(v string, loc *time.Location, param string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, kassa.Invalid(param, "interval_invalid", "%s must be an RFC 3339 time or a date YYYY-MM-DD (in the report's timezone)", param)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Report returns one of a merchant's reports.
func (s *Service) Report(ctx context.Context, merchantID, rid string) (Report, error) {
	return s.store.Report(ctx, merchantID, rid)
}

// Reports lists a page of a merchant's reports, newest first.
func (s *Service) Reports(ctx context.Context, merchantID, startingAfter string, limit int) ([]Report, bool, error) {
	if limit < 1 || limit > ListLimitMax {
		return nil, false, kassa.Invalid("limit", "limit_invalid", "limit must be from 1 to %d", ListLimitMax)
	}
	return s.store.Reports(ctx, merchantID, startingAfter, limit)
}

// ReportFile streams a succeeded report's file to w, chunk by chunk.
func (s *Service) ReportFile(ctx context.Context, merchantID, rid string, w io.Writer) error {
	return s.store.ReportFile(ctx, merchantID, rid, w)
}

// RunReports generates the pending reports that are due (the reports job).
// A report that cannot be generated ends failed with report.failed. One
// whose generation fails for a reason that may pass is tried again later,
// with a growing delay, and ends failed after ReportAttemptsMax tries; it
// does not hold up the reports after it. The pass returns the errors it
// met, joined, after trying every report.
func (s *Service) RunReports(ctx context.Context) (int, error) {
	rs, err := s.store.PendingReports(ctx, s.now().UTC(), ReportsPerPassMax)
	if err != nil {
		return 0, err
	}
	var errs []error
	done := 0
	for _, r := range rs {
		if err := ctx.Err(); err != nil {
			return done, errors.Join(append(errs, err)...)
		}
		err := s.generate(ctx, r)
		if err == nil {
			done++
			continue
		}
		errs = append(errs, fmt.Errorf("report %s: %w", r.ID, err))
		if ctx.Err() != nil {
			continue // stopping (the lease was lost): not the report's fault
		}
		if err := s.retryLater(ctx, r); err != nil {
			errs = append(errs, fmt.Errorf("report %s: %w", r.ID, err))
		}
	}
	return done, errors.Join(errs...)
}

// retryLater records a failed try of r: it is tried again after a delay
// that doubles with each try, or ends failed after ReportAttemptsMax.
func (s *Service) retryLater(ctx context.Context, r Report) error {
	r.Attempts++
	if r.Attempts >= ReportAttemptsMax {
		return s.fail(ctx, r, "the report could not be generated; request it again")
	}
	return s.store.RetryReport(ctx, r.ID, r.Attempts, s.now().UTC().Add(ReportRetryDelay(r.Attempts)))
}

// ReportRetryDelay is the wait after a report's n-th failed try (n ≥ 1).
func ReportRetryDelay(n int) time.Duration {
	d := ReportRetryFirst
	for i := 1; i < n && d < ReportRetryMax; i++ {
		d *= 2
	}
	return min(d, ReportRetryMax)
}

// reportProblem is a report that cannot be made (its figures do not add
// up); it ends failed. Other errors (the database) leave it pending.
type reportProblem struct{ msg string }

func (e *reportProblem) Error() string { return e.msg }

// generate writes r's file at the latest ledger checkpoint.
func (s *Service) generate(ctx context.Context, r Report) error {
	cp, err := s.cfg.Ledger.LatestCheckpoint(ctx)
	if errors.Is(err, ledger.ErrNotFound) {
		// An empty ledger: RFC 6962's empty tree hashes the empty string.
		cp = ledger.Checkpoint{Size: 0, Hash: sha256.Sum256(nil)}
	} else if err != nil {
		return fmt.Errorf("ledger checkpoint: %w", err)
	}
	if err := s.Sync(ctx); err != nil {
		return err
	}
	r.TreeSize, r.RootHash = cp.Size, base64.StdEncoding.EncodeToString(cp.Hash[:])
	loc, err := loadZone(r.Timezone)
	if err != nil {
		return s.fail(ctx, r, "timezone unknown")
	}
	fw, err := s.store.ReportWriter(ctx, r.ID)
	if err != nil {
		return err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(fw, h)}
	bw := bufio.NewWriterSize(cw, 32<<10)
	out := newRowWriter(bw, r, loc)
	err = s.writeReport(ctx, r, out)
	if err == nil {
		err = out.close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = fw.Close()
	} else {
		fw.Abort()
	}
	if p, ok := err.(*reportProblem); ok {
		return s.fail(ctx, r, p.msg)
	}
	if err != nil {
		return err
	}
	r.Status, r.Rows, r.Size, r.SHA256, r.Completed = ReportSucceeded, out.rows, cw.n, hex.EncodeToString(h.Sum(nil)), s.now().UTC()
	return s.store.FinishReport(ctx, r, s.event(r, EventReportSucceeded))
}

func (s *Service) fail(ctx context.Context, r Report, msg string) error {
	r.Status, r.FailureMessage, r.Completed = ReportFailed, msg, s.now().UTC()
	return s.store.FinishReport(ctx, r, s.event(r, EventReportFailed))
}

// event is r's event of type typ, its data the report's API view.
func (s *Service) event(r Report, typ string) webhook.Event {
	b, _ := json.Marshal(PublicReport(r)) // plain fields: cannot fail
	return webhook.Event{ID: s.cfg.IDs.New("evt"), MerchantID: r.MerchantID, Type: typ, Created: r.Completed, Data: b}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Columns of each report type.
var reportColumns = map[string][]string{
	ReportBalanceSummary: {"currency", "category", "count", "gross", "fee", "net"},
	ReportSettlementReconciliation: {"settlement", "settlement_status", "settlement_created", "balance_transaction",
		"type", "source", "created", "available_on", "currency", "amount", "fee", "net"},
	ReportPayments: {"id", "created", "status", "method", "currency", "amount", "amount_captured", "amount_refunded",
		"fee", "merchant_reference"},
	ReportPayouts:       {"id", "created", "status", "currency", "amount", "destination_type", "customer", "failure_code", "paid_at"},
	ReportRiskDecisions: {"evaluation", "created", "subject", "decision", "score", "level", "factor", "rule", "reasons", "outcome"},
}

// writeReport writes r's rows.
func (s *Service) writeReport(ctx context.Context, r Report, out *rowWriter) error {
	if r.Type == ReportBalanceSummary {
		return s.balanceSummary(ctx, r, out)
	}
	return s.store.EachRow(ctx, RowQuery{Type: r.Type, MerchantID: r.MerchantID, Start: r.Start, End: r.End,
		BelowLeaf: r.TreeSize, Limit: ReportRowsPage}, out.row)
}

// RowQuery selects the rows of a report type.
type RowQuery struct {
	Type       string
	MerchantID string
	Start, End time.Time
	BelowLeaf  int64 // ledger-derived rows: only below the checkpoint's tree size
	Limit      int   // rows per store call
}

// SummaryLine is one currency's and type's sum of balance transactions.
type SummaryLine struct {
	Currency money.Currency
	Type     string
	Count    int64
	Amount   money.Amount
	Fee      money.Amount
	Net      money.Amount
}

// balanceSummary writes, per currency, the opening balance (every
// transaction before the interval), the activity per type in it and the
// closing balance, each computed by its own sum at the checkpoint, and
// fails the report unless opening + activity = closing.
func (s *Service) balanceSummary(ctx context.Context, r Report, out *rowWriter) error {
	opening, err := s.store.NetBefore(ctx, r.MerchantID, r.TreeSize, r.Start)
	if err != nil {
		return err
	}
	closing, err := s.store.NetBefore(ctx, r.MerchantID, r.TreeSize, r.End)
	if err != nil {
		return err
	}
	lines, err := s.store.Activity(ctx, r.MerchantID, r.TreeSize, r.Start, r.End)
	if err != nil {
		return err
	}
	curs := map[money.Currency]bool{}
	for c := range opening {
		curs[c] = true
	}
	for c := range closing {
		curs[c] = true
	}
	for _, l := range lines {
		curs[l.Currency] = true
	}
	for _, cur := range sortedCurrencies(curs) {
		sum := opening[cur]
		if err := out.row([]any{string(cur), "opening_balance", int64(0), int64(0), int64(0), int64(sum)}); err != nil {
			return err
		}
		for _, typ := range Types {
			for _, l := range lines {
				if l.Currency == cur && l.Type == typ {
					sum += l.Net
					if err := out.row([]any{string(cur), typ, l.Count, int64(l.Amount), int64(l.Fee), int64(l.Net)}); err != nil {
						return err
					}
				}
			}
		}
		if sum != closing[cur] {
			return &reportProblem{fmt.Sprintf("balance_summary does not add up in %s: opening + activity = %d, closing = %d", cur, sum, closing[cur])}
		}
		if err := out.row([]any{string(cur), "closing_balance", int64(0), int64(0), int64(0), int64(closing[cur])}); err != nil {
			return err
		}
	}
	return nil
}

func sortedCurrencies(m map[money.Currency]bool) []money.Currency {
	out := make([]money.Currency, 0, len(m))
	for c := range m {
		out = append(out, c)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// rowWriter writes rows as CSV or as one JSON document, times in the
// report's timezone; text cells that a spreadsheet would run as a formula
// are quoted with a leading apostrophe (CSV injection).
type rowWriter struct {
	w      *bufio.Writer
	csv    *csv.Writer
	r      Report
	loc    *time.Location
	cols   []string
	rows   int64
	began  bool
	failed error
}

func newRowWriter(w *bufio.Writer, r Report, loc *time.Location) *rowWriter {
	rw := &rowWriter{w: w, r: r, loc: loc, cols: reportColumns[r.Type]}
	if r.Format == "csv" {
		rw.csv = csv.NewWriter(w)
	}
	return rw
}

func (rw *rowWriter) begin() error {
	rw.began = true
	if rw.csv != nil {
		return rw.csv.Write(rw.cols)
	}
	head, err := json.Marshal(map[string]any{"object": "report_file", "report": rw.r.ID, "type": rw.r.Type,
		"merchant": rw.r.MerchantID, "timezone": rw.r.Timezone,
		"interval_start": rw.r.Start.In(rw.loc).Format(time.RFC3339), "interval_end": rw.r.End.In(rw.loc).Format(time.RFC3339),
		"ledger_checkpoint": map[string]any{"tree_size": rw.r.TreeSize, "root_hash": rw.r.RootHash}, "columns": rw.cols})
	if err != nil {
		return err
	}
	_, err = rw.w.Write(append(head[:len(head)-1], []byte(`,"rows":[`)...))
	return err
}

// row writes one row: cells are string, int64 or time.Time.
func (rw *rowWriter) row(cells []any) error {
	if !rw.began {
		if err := rw.begin(); err != nil {
			return err
		}
	}
	if rw.csv != nil {
		rec := make([]string, len(cells))
		for i, c := range cells {
			rec[i] = rw.text(c)
		}
		rw.rows++
		return rw.csv.Write(rec)
	}
	if rw.rows > 0 {
		if err := rw.w.WriteByte(','); err != nil {
			return err
		}
	}
	rw.rows++
	rw.w.WriteByte('{')
	for i, c := range cells {
		if i > 0 {
			rw.w.WriteByte(',')
		}
		k, _ := json.Marshal(rw.cols[i])
		rw.w.Write(k)
		rw.w.WriteByte(':')
		var v []byte
		switch x := c.(type) {
		case int64:
			v = strconv.AppendInt(nil, x, 10)
		case time.Time:
			if x.IsZero() {
				v = []byte("null")
			} else {
				v, _ = json.Marshal(x.In(rw.loc).Format(time.RFC3339))
			}
		default:
			v, _ = json.Marshal(clip(fmt.Sprint(x)))
		}
		if _, err := rw.w.Write(v); err != nil {
			return err
		}
	}
	return rw.w.WriteByte('}')
}

func (rw *rowWriter) text(c any) string {
	switch x := c.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.In(rw.loc).Format(time.RFC3339)
	}
	s := clip(fmt.Sprint(c))
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		s = "'" + s
	}
	return s
}

func clip(s string) string {
	if len(s) > reportCellBytesMax {
		return s[:reportCellBytesMax]
	}
	return s
}

func (rw *rowWriter) close() error {
	if !rw.began {
		if err := rw.begin(); err != nil {
			return err
		}
	}
	if rw.csv != nil {
		rw.csv.Flush()
		return rw.csv.Error()
	}
	_, err := rw.w.WriteString("]}\n")
	return err
}

// PublicReportView is a report as the API and its events show it.
type PublicReportView struct {
	ID               string         `json:"id"`
	Object           string         `json:"object"`
	Type             string         `json:"type"`
	Format           string         `json:"format"`
	Timezone         string         `json:"timezone"`
	IntervalStart    time.Time      `json:"interval_start"`
	IntervalEnd      time.Time      `json:"interval_end"`
	Status           string         `json:"status"`
	FailureMessage   *string        `json:"failure_message"`
	LedgerCheckpoint *CheckpointRef `json:"ledger_checkpoint"`
	File             *FileRef       `json:"file"`
	Created          time.Time      `json:"created"`
	Completed        *time.Time     `json:"completed"`
}

// CheckpointRef names the ledger checkpoint a report was computed at.
type CheckpointRef struct {
	TreeSize int64  `json:"tree_size"`
	RootHash string `json:"root_hash"`
}

// FileRef describes a succeeded report's file.
type FileRef struct {
	URL    string `json:"url"`
	Rows   int64  `json:"rows"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// PublicReport returns the API view of r.
func PublicReport(r Report) PublicReportView {
	v := PublicReportView{ID: r.ID, Object: "report", Type: r.Type, Format: r.Format, Timezone: r.Timezone,
		IntervalStart: r.Start.UTC(), IntervalEnd: r.End.UTC(), Status: r.Status, Created: r.Created.UTC()}
	if r.FailureMessage != "" {
		v.FailureMessage = &r.FailureMessage
	}
	if r.Status != ReportPending {
		t := r.Completed.UTC()
		v.Completed = &t
		v.LedgerCheckpoint = &CheckpointRef{TreeSize: r.TreeSize, RootHash: r.RootHash}
	}
	if r.Status == ReportSucceeded {
		v.File = &FileRef{URL: "/v1/reports/" + r.ID + "/file", Rows: r.Rows, Size: r.Size, SHA256: r.SHA256}
	}
	return v
}
