package console

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/compliance"
	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/web"
)

// Finance wires the finance person's and the support agent's pages and
// the review of held payouts to the domain services. A nil service
// leaves its pages answering 404 and its parts of other pages out.
type Finance struct {
	Business   *business.Service   // balance, balance transactions, settlements, reports
	Invoices   *invoice.Service    // invoices
	Payouts    *payout.Service     // payouts and their review
	Compliance *compliance.Service // a customer's gambling limits
	Credit     *credit.Service     // a customer's pay-later plans
	// PayoutStepUp is the payout, in minor units of its currency, from
	// which approving it needs a fresh authenticator code as well; zero
	// means RefundStepUpDefault, negative never.
	PayoutStepUp money.Amount
}

// Limits of the finance pages.
const (
	// csvRowsMax bounds one balance-transactions download; the page says
	// to narrow the dates for more (a report has no such bound).
	csvRowsMax = 10_000
	// reasonBytesMax bounds a review's reason.
	reasonBytesMax = 500
)

// merchantOnly answers 404 for the operator and when the service the
// page needs is not wired: every finance page is a merchant's.
func (h *Handler) merchantOnly(v *visit, wired bool, code, what string) bool {
	if v.org() == "" || !wired {
		h.fail(v, kassa.Errorf(kassa.ENotFound, code, "no such %s", what))
		return false
	}
	return true
}

// dateRange reads from and to (YYYY-MM-DD, to inclusive) from a query;
// a date that does not parse is dropped.
func dateRange(q url.Values) (from, to string, gte, lt time.Time) {
	if t, err := time.Parse("2006-01-02", q.Get("from")); err == nil {
		from, gte = q.Get("from"), t
	}
	if t, err := time.Parse("2006-01-02", q.Get("to")); err == nil {
		to, lt = q.Get("to"), t.AddDate(0, 0, 1)
	}
	return
}

// cursor is a starting_after id from a query, bounded.
func cursor(q url.Values) string {
	s := q.Get("starting_after")
	if len(s) > 64 {
		return ""
	}
	return s
}

// nextLink is the page's URL with starting_after set to last.
func nextLink(r *http.Request, last string) string {
	q := r.URL.Query()
	q.Set("starting_after", last)
	return r.URL.Path + "?" + q.Encode()
}

// --- Balance ---

type balanceRow struct {
	Currency                       money.Currency
	Available, Pending, Authorized money.Amount
}

type financeData struct {
	Balances    []balanceRow
	Txns        []business.Txn
	Settlements []payout.Payout
}

// finance is the balance as /v1/balance says it (available, pending,
// authorized per currency) with the newest movements and settlements.
func (h *Handler) finance(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewFinance) || !h.merchantOnly(v, h.cfg.Business != nil, "balance_not_found", "balance") {
		return
	}
	ctx := r.Context()
	bs, err := h.cfg.Payments.MerchantBalances(ctx, v.org())
	if err != nil {
		h.fail(v, err)
		return
	}
	curs := make([]money.Currency, len(bs))
	auth := map[money.Currency]money.Amount{}
	for i, b := range bs {
		curs[i], auth[b.Currency] = b.Currency, b.Pending
	}
	bal, err := h.cfg.Business.Balances(ctx, v.org(), curs)
	if err != nil {
		h.fail(v, err)
		return
	}
	var d financeData
	for _, b := range bal {
		d.Balances = append(d.Balances, balanceRow{Currency: b.Currency, Available: b.Available, Pending: b.Pending, Authorized: auth[b.Currency]})
	}
	if d.Txns, _, err = h.cfg.Business.Txns(ctx, business.TxnFilter{MerchantID: v.org(), Limit: 10}); err != nil {
		h.fail(v, err)
		return
	}
	if d.Settlements, _, err = h.cfg.Business.Settlements(ctx, v.org(), "", 5); err != nil {
		h.fail(v, err)
		return
	}
	h.render(v, http.StatusOK, page{Template: "finance", Title: "Finance", Data: d})
}

// --- Balance transactions ---

type txnsData struct {
	Type, From, To string
	Types          []string
	Txns           []business.Txn
	Next, CSV      string
}

// txnFilter reads the page's filter: type, from, to, starting_after.
func txnFilter(v *visit) (business.TxnFilter, txnsData) {
	q := v.r.URL.Query()
	d := txnsData{Type: q.Get("type"), Types: append([]string{""}, business.Types...)}
	f := business.TxnFilter{MerchantID: v.org(), StartingAfter: cursor(q), Limit: listLimit}
	d.From, d.To, f.CreatedGTE, f.CreatedLT = dateRange(q)
	if !contains(business.Types, d.Type) {
		d.Type = ""
	}
	f.Type = d.Type
	return f, d
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// balanceTxns lists the merchant's balance transactions, newest first,
// by type and dates, a page at a time.
func (h *Handler) balanceTxns(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewFinance) || !h.merchantOnly(v, h.cfg.Business != nil, "balance_not_found", "balance") {
		return
	}
	f, d := txnFilter(v)
	txns, more, err := h.cfg.Business.Txns(r.Context(), f)
	if err != nil {
		h.fail(v, err)
		return
	}
	d.Txns = txns
	if more && len(txns) > 0 {
		d.Next = nextLink(r, txns[len(txns)-1].ID)
	}
	q := url.Values{}
	for k, x := range map[string]string{"type": d.Type, "from": d.From, "to": d.To} {
		if x != "" {
			q.Set(k, x)
		}
	}
	d.CSV = "/console/finance/transactions.csv?" + q.Encode()
	h.render(v, http.StatusOK, page{Template: "balance_transactions", Title: "Balance transactions", Data: d})
}

// txnColumns are the download's columns: amounts in minor units, times
// in UTC (RFC 3339), as the API shows them.
var txnColumns = []string{"id", "type", "amount", "fee", "net", "currency", "source", "available_on", "created", "settlement", "ledger_transfer"}

// balanceTxnsCSV downloads the filter's balance transactions (all pages,
// up to csvRowsMax) as CSV. Every cell is an id, a type, a number or a
// time the server made: nothing a payer typed, so nothing a spreadsheet
// would run as a formula.
func (h *Handler) balanceTxnsCSV(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewFinance) || !h.merchantOnly(v, h.cfg.Business != nil, "balance_not_found", "balance") {
		return
	}
	f, _ := txnFilter(v)
	f.StartingAfter, f.Limit = "", business.ListLimitMax
	// Read it all before the answer starts: an error is then a page, not
	// half a file.
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	cw.Write(txnColumns)
	rows, cut := 0, false
	for {
		txns, more, err := h.cfg.Business.Txns(r.Context(), f)
		if err != nil {
			h.fail(v, err)
			return
		}
		for _, x := range txns {
			if rows == csvRowsMax {
				cut = true
				break
			}
			rows++
			avail := ""
			if !x.AvailableOn.IsZero() {
				avail = x.AvailableOn.UTC().Format(time.RFC3339)
			}
			cw.Write([]string{x.ID, x.Type, strconv.FormatInt(int64(x.Amount), 10), strconv.FormatInt(int64(x.Fee), 10),
				strconv.FormatInt(int64(x.Net), 10), string(x.Currency), x.Source, avail, x.Created.UTC().Format(time.RFC3339),
				x.Settlement, x.TransferID})
		}
		if cut || !more || len(txns) == 0 {
			break
		}
		f.StartingAfter = txns[len(txns)-1].ID
	}
	cw.Flush()
	hd := w.Header()
	web.SetPageHeaders(hd)
	hd.Set("Content-Type", "text/csv; charset=utf-8")
	hd.Set("Content-Disposition", `attachment; filename="balance_transactions.csv"`)
	hd.Set("X-Kassa-Rows", strconv.Itoa(rows))
	if cut {
		// More matched than one download holds: narrow the dates (or ask
		// for a report, which has no such bound).
		hd.Set("X-Kassa-Truncated", "true")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}

// --- Settlements ---

type settlementsData struct {
	Settlements []payout.Payout
	Next        string
}

func (h *Handler) settlements(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewFinance) || !h.merchantOnly(v, h.cfg.Business != nil, "settlement_not_found", "settlement") {
		return
	}
	ss, more, err := h.cfg.Business.Settlements(r.Context(), v.org(), cursor(r.URL.Query()), listLimit)
	if err != nil {
		h.fail(v, err)
		return
	}
	d := settlementsData{Settlements: ss}
	if more && len(ss) > 0 {
		d.Next = nextLink(r, ss[len(ss)-1].ID)
	}
	h.render(v, http.StatusOK, page{Template: "settlements", Title: "Settlements", Data: d})
}

type settlementData struct {
	S     payout.Payout
	Count int
	Net   money.Amount
	Txns  []business.Txn
	Next  string
}

// settlement is one settlement with the balance transactions it pays out.
func (h *Handler) settlement(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewFinance) || !h.merchantOnly(v, h.cfg.Business != nil, "settlement_not_found", "settlement") {
		return
	}
	ctx := r.Context()
	s, err := h.cfg.Business.Settlement(ctx, v.org(), r.PathValue("id"))
	if err != nil {
		h.fail(v, err)
		return
	}
	d := settlementData{S: s}
	if d.Count, d.Net, err = h.cfg.Business.Lines(ctx, v.org(), s.ID); err != nil {
		h.fail(v, err)
		return
	}
	txns, more, err := h.cfg.Business.Txns(ctx, business.TxnFilter{MerchantID: v.org(), Settlement: s.ID,
		StartingAfter: cursor(r.URL.Query()), Limit: listLimit})
	if err != nil {
		h.fail(v, err)
		return
	}
	d.Txns = txns
	if more && len(txns) > 0 {
		d.Next = nextLink(r, txns[len(txns)-1].ID)
	}
	h.render(v, http.StatusOK, page{Template: "settlement", Title: "Settlement " + s.ID, Data: d})
}

// --- Reports ---

type reportsData struct {
	Reports []business.Report
	Types   []string
	Next    string
	// The form's values after a refused request.
	Type, From, To, Format, Timezone string
}

func (h *Handler) reports(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewFinance) || !h.merchantOnly(v, h.cfg.Business != nil, "report_not_found", "report") {
		return
	}
	h.showReports(v, http.StatusOK, reportsData{Format: "csv", Timezone: "UTC"}, "", "")
}

func (h *Handler) showReports(v *visit, status int, d reportsData, notice, problem string) {
	rs, more, err := h.cfg.Business.Reports(v.r.Context(), v.org(), cursor(v.r.URL.Query()), listLimit)
	if err != nil {
		h.fail(v, err)
		return
	}
	d.Reports, d.Types = rs, business.ReportTypes
	if more && len(rs) > 0 {
		d.Next = nextLink(v.r, rs[len(rs)-1].ID)
	}
	h.render(v, status, page{Template: "reports", Title: "Reports", Notice: notice, Error: problem, Data: d})
}

// createReport asks for a report over a period; package business's
// reports job (a leased job of the worker role) makes its file.
func (h *Handler) createReport(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.CreateReports) || !h.merchantOnly(v, h.cfg.Business != nil, "report_not_found", "report") {
		return
	}
	d := reportsData{Type: v.input("type"), From: v.input("from"), To: v.input("to"), Format: v.input("format"), Timezone: v.input("timezone")}
	req := business.ReportRequest{Type: d.Type, Format: d.Format, Timezone: d.Timezone, IntervalStart: d.From, IntervalEnd: d.To}
	// The form's "to" is the last day of the period, inclusive.
	if t, err := time.Parse("2006-01-02", d.To); err == nil {
		req.IntervalEnd = t.AddDate(0, 0, 1).Format("2006-01-02")
	}
	rep, err := h.cfg.Business.CreateReport(v.ctx(), v.org(), req)
	if err != nil {
		if e := kassa.AsError(err); e != nil && e.Kind == kassa.EInvalid {
			h.showReports(v, http.StatusBadRequest, d, "", e.Message+".")
			return
		}
		h.fail(v, err)
		return
	}
	after := map[string]string{"type": rep.Type, "format": rep.Format, "timezone": rep.Timezone,
		"interval_start": rep.Start.Format(time.RFC3339), "interval_end": rep.End.Format(time.RFC3339)}
	if err := h.cfg.Audit.Record(v.ctx(), v.org(), "report.create", rep.ID, nil, after); err != nil {
		h.fail(v, err)
		return
	}
	h.showReports(v, http.StatusOK, reportsData{Format: "csv", Timezone: "UTC"},
		"Asked for report "+rep.ID+"; it is made in the background, reload to see it ready.", "")
}

// reportFile downloads a succeeded report's file.
func (h *Handler) reportFile(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewFinance) || !h.merchantOnly(v, h.cfg.Business != nil, "report_not_found", "report") {
		return
	}
	rep, err := h.cfg.Business.Report(r.Context(), v.org(), r.PathValue("id"))
	if err != nil {
		h.fail(v, err)
		return
	}
	if rep.Status != business.ReportSucceeded {
		h.fail(v, kassa.Errorf(kassa.EConflict, "report_not_ready", "the report is %s; its file is there once it succeeded", rep.Status))
		return
	}
	// Streamed chunk by chunk as GET /v1/reports/{id}/file does: a
	// year's report need not fit in memory. Content-Length and the file's
	// SHA-256 let the browser and the reader tell a cut-short file.
	hd := w.Header()
	web.SetPageHeaders(hd)
	ctype := "text/csv; charset=utf-8"
	if rep.Format == "json" {
		ctype = "application/json"
	}
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Length", strconv.FormatInt(rep.Size, 10))
	hd.Set("Content-Disposition", `attachment; filename="`+rep.ID+"."+rep.Format+`"`)
	hd.Set("X-Report-SHA256", rep.SHA256)
	w.WriteHeader(http.StatusOK)
	if err := h.cfg.Business.ReportFile(r.Context(), v.org(), rep.ID, w); err != nil {
		h.log.WarnContext(r.Context(), "console: report file cut short", "report", rep.ID, "err", err)
	}
}

// --- Invoices ---

var invoiceStatuses = []string{"", string(invoice.StatusDraft), string(invoice.StatusOpen), string(invoice.StatusPaid),
	string(invoice.StatusVoid), string(invoice.StatusUncollectible)}

type invoicesData struct {
	Status   string
	Statuses []string
	Invoices []invoice.Invoice
	Next     string
	Form     *invoiceForm // the new invoice's (invoices.go)
}

func (h *Handler) invoices(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewFinance) || !h.merchantOnly(v, h.cfg.Invoices != nil, "invoice_not_found", "invoice") {
		return
	}
	h.showInvoices(v, http.StatusOK, newInvoiceForm(), "", "")
}

func (h *Handler) showInvoices(v *visit, status int, form *invoiceForm, notice, problem string) {
	q := v.r.URL.Query()
	d := invoicesData{Status: q.Get("status"), Statuses: invoiceStatuses, Form: form}
	if !contains(invoiceStatuses, d.Status) {
		d.Status = ""
	}
	invs, more, err := h.cfg.Invoices.List(v.r.Context(), invoice.Filter{MerchantID: v.org(), Status: invoice.Status(d.Status),
		StartingAfter: cursor(q), Limit: listLimit})
	if err != nil {
		h.fail(v, err)
		return
	}
	d.Invoices = invs
	if more && len(invs) > 0 {
		d.Next = nextLink(v.r, invs[len(invs)-1].ID)
	}
	h.render(v, status, page{Template: "invoices", Title: "Invoices", Notice: notice, Error: problem, Data: d})
}

type invoiceData struct {
	I       invoice.Invoice
	Hosted  string // the payer's page, "" before it is finalized
	Credits []invoice.CreditNote
}

// invoice is one invoice: its lines, totals, the payer's hosted page and
// its PDF.
func (h *Handler) invoice(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewFinance) || !h.merchantOnly(v, h.cfg.Invoices != nil, "invoice_not_found", "invoice") {
		return
	}
	h.showInvoice(v, r.PathValue("id"), "")
}

func (h *Handler) showInvoice(v *visit, id, notice string) {
	inv, err := h.cfg.Invoices.Get(v.r.Context(), v.org(), id)
	if err != nil {
		h.fail(v, err)
		return
	}
	d := invoiceData{I: inv}
	// The console is served with the hosted pages: the payer's link is
	// on this origin.
	if pub := h.cfg.Invoices.Public(inv); pub.HostedInvoiceURL != nil {
		d.Hosted = "/i/" + inv.ID + "?key=" + url.QueryEscape(inv.PageKey)
	}
	if d.Credits, err = h.cfg.Invoices.CreditNotes(v.r.Context(), v.org(), inv.ID); err != nil {
		h.fail(v, err)
		return
	}
	title := "Invoice " + inv.ID
	if inv.Number != "" {
		title = "Invoice " + inv.Number
	}
	h.render(v, http.StatusOK, page{Template: "invoice", Title: title, Notice: notice, Data: d})
}

// invoicePDF is the invoice's PDF, as the API's /v1/invoices/{id}/pdf.
func (h *Handler) invoicePDF(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewFinance) || !h.merchantOnly(v, h.cfg.Invoices != nil, "invoice_not_found", "invoice") {
		return
	}
	var b bytes.Buffer
	inv, err := h.cfg.Invoices.PDF(r.Context(), v.org(), r.PathValue("id"), &b)
	if err != nil {
		h.fail(v, err)
		return
	}
	hd := w.Header()
	web.SetPageHeaders(hd)
	name := inv.Number
	if name == "" {
		name = inv.ID
	}
	hd.Set("Content-Type", "application/pdf")
	hd.Set("Content-Disposition", `attachment; filename="`+safeName(name)+`.pdf"`)
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}

// safeName keeps a file name's letters, digits, dashes and underscores.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, s)
}

// auditOrg is the organisation an entry of v's member goes to.
func auditOrg(v *visit) string {
	if v.m.Org == members.Platform {
		return audit.Platform
	}
	return v.org()
}
