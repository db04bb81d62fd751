package web

// The hosted invoice page: GET /i/{id}?key=... shows a merchant's invoice
// to its customer (package invoice) and, while it is open, a button that
// pays it. POST /i/{id} (the key in the form) gets the invoice's payment
// (one per invoice while it can be paid; invoice.Service.Pay) and sends
// the payer to that payment's page, /pay/{id}: the checkout takes every
// method Kassa has, and brings the payer back here, where the captured
// payment marks the invoice paid. GET /i/{id}/pdf?key=... downloads it.
//
// The key is a capability: without it (or with a wrong one) the page is
// the same 404 as an unknown invoice, and it is never logged (the access
// log leaves query strings out).

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
)

// Invoices is what the invoice page needs of the invoice service.
type Invoices interface {
	Page(ctx context.Context, id, key string) (invoice.Invoice, error)
	Pay(ctx context.Context, id, key, returnURL string) (payment.Payment, invoice.Invoice, error)
	PagePDF(ctx context.Context, id, key string, w io.Writer) (invoice.Invoice, error)
}

var _ Invoices = (*invoice.Service)(nil)

//go:embed invoice.html
var invoiceAssets embed.FS

var invoiceTemplates = template.Must(template.Must(pageTemplates.Clone()).ParseFS(invoiceAssets, "invoice.html"))

// invoiceCSS is added to the pages' style for the lines' table.
const invoiceCSS = `
.lines { width: 100%; border-collapse: collapse; margin: 0 0 1rem; font-variant-numeric: tabular-nums; }
.lines caption { text-align: left; font-weight: 700; margin-bottom: .25rem; }
.lines th, .lines td { padding: .35rem .25rem; border-bottom: 1px solid #e3e6ee; text-align: left; vertical-align: top; }
.lines .num { text-align: right; white-space: nowrap; }
.lines tfoot th { font-weight: 400; text-align: right; }
.lines .total th, .lines .total td { font-weight: 700; border-bottom: 0; }
.lines .sub { display: block; color: var(--muted); font-size: .85rem; }
.footer { white-space: pre-line; }
`

// invoiceLine is one line as the page shows it.
type invoiceLine struct {
	Description, Unit, Rate, Quantity, Amount string
}

type invoiceTax struct{ Label, Amount string }

// invoiceView is what the invoice template shows besides page.
type invoiceView struct {
	Number, Date, Due, Customer string
	Lines                       []invoiceLine
	Taxes                       []invoiceTax
	Subtotal, Total             string
	ReverseCharge               bool
	Footer                      string
	Form                        bool   // the pay button
	Key                         string // the page's key, for the form
	PDF                         string
}

type invoicePage struct {
	page
	Inv invoiceView
}

// invoiceKey is the page's key from the query or the form, bounded.
func invoiceKey(r *http.Request) string {
	k := r.URL.Query().Get("key")
	if r.Method == http.MethodPost {
		k = r.PostFormValue("key")
	}
	if len(k) > invoice.PageKeyLengthMax {
		return ""
	}
	return k
}

func (h *Handler) invoiceLookup(w http.ResponseWriter, r *http.Request, inv invoice.Invoice, err error) bool {
	switch {
	case kassa.ErrorKind(err) == kassa.ENotFound:
		h.render(w, r, http.StatusNotFound, invoiceNotFoundPage(RequestLang(r, "")))
		return false
	case err != nil:
		h.fail(w, r, err)
		return false
	}
	return true
}

func invoiceNotFoundPage(l Lang) page {
	return page{Template: "message", Lang: l, Title: l.T("invoice.notfound"), Heading: l.T("invoice.notfound"),
		Text: l.T("invoice.notfound_text")}
}

// showInvoice is GET /i/{id}?key=...
func (h *Handler) showInvoice(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Invoices == nil {
		h.render(w, r, http.StatusNotFound, notFoundPage(RequestLang(r, "")))
		return
	}
	key := invoiceKey(r)
	inv, err := h.cfg.Invoices.Page(r.Context(), r.PathValue("id"), key)
	if !h.invoiceLookup(w, r, inv, err) {
		return
	}
	h.renderInvoice(w, r, http.StatusOK, inv, key, "")
}

// payInvoice is POST /i/{id}: on to the checkout with the invoice's payment.
func (h *Handler) payInvoice(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Invoices == nil {
		h.render(w, r, http.StatusNotFound, notFoundPage(RequestLang(r, "")))
		return
	}
	l := RequestLang(r, "")
	if !sameOrigin(r) {
		h.render(w, r, http.StatusForbidden, messagePage(l, "refused.title", "invoice.refused"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, FormBytesMax)
	if !isForm(r) || r.ParseForm() != nil {
		h.render(w, r, http.StatusBadRequest, messagePage(l, "refused.title", "refused.form"))
		return
	}
	id, key := r.PathValue("id"), invoiceKey(r)
	back := h.pagesBase(r) + "/i/" + url.PathEscape(id) + "?key=" + url.QueryEscape(key)
	p, inv, err := h.cfg.Invoices.Pay(r.Context(), id, key, back)
	if kassa.ErrorKind(err) == kassa.EConflict && inv.ID != "" {
		// Paid, voided meanwhile: the page says so.
		h.renderInvoice(w, r, http.StatusOK, inv, key, "")
		return
	}
	if !h.invoiceLookup(w, r, inv, err) {
		return
	}
	http.Redirect(w, r, "/pay/"+url.PathEscape(p.ID)+"?client_secret="+url.QueryEscape(p.ClientSecret), http.StatusSeeOther)
}

// invoicePDF is GET /i/{id}/pdf?key=...
func (h *Handler) invoicePDF(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Invoices == nil {
		h.render(w, r, http.StatusNotFound, notFoundPage(RequestLang(r, "")))
		return
	}
	var b bytes.Buffer
	inv, err := h.cfg.Invoices.PagePDF(r.Context(), r.PathValue("id"), invoiceKey(r), &b)
	if !h.invoiceLookup(w, r, inv, err) {
		return
	}
	hd := w.Header()
	setPageHeaders(hd)
	hd.Set("Content-Type", "application/pdf")
	hd.Set("Content-Disposition", `attachment; filename="`+inv.Number+`.pdf"`)
	hd.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// pagesBase is the origin the payer reached this page at: Config.PublicURL,
// else the request's own (tests).
func (h *Handler) pagesBase(r *http.Request) string {
	if h.cfg.PublicURL != "" {
		return strings.TrimSuffix(h.cfg.PublicURL, "/")
	}
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

// renderInvoice shows inv in the payer's language (the invoice's own
// unless the browser asks for another we have).
func (h *Handler) renderInvoice(w http.ResponseWriter, r *http.Request, status int, inv invoice.Invoice, key, formErr string) {
	m, err := h.cfg.Merchants.Get(r.Context(), inv.MerchantID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l := RequestLang(r, inv.Locale)
	amount := func(a int64) string { return FormatMoney(money.Amount(a), inv.Currency, l) }
	pg := invoicePage{page: page{Template: "invoice", Lang: l, Merchant: m.Name, FormError: formErr,
		Action: "/i/" + url.PathEscape(inv.ID)}}
	pg.Title = l.T("invoice.title", inv.Number, m.Name)
	pg.Heading = l.T("invoice.head", inv.Number)
	due := int64(inv.Total - inv.AmountPaid)
	pg.Amount = amount(int64(inv.Total))
	switch inv.Status {
	case invoice.StatusPaid:
		pg.Text = l.T("invoice.paid", m.Name)
	case invoice.StatusVoid:
		pg.Text = l.T("invoice.void", m.Name)
	default:
		pg.Amount = amount(due)
		if h.now().After(inv.DueAt) {
			pg.Text = l.T("invoice.overdue", dateOf(inv.DueAt, l))
		} else {
			pg.Text = l.T("invoice.open", dateOf(inv.DueAt, l))
		}
		pg.Inv.Form = true
	}
	v := &pg.Inv
	v.Number, v.Date, v.Due = inv.Number, dateOf(inv.FinalizedAt, l), dateOf(inv.DueAt, l)
	v.Customer, v.ReverseCharge, v.Footer, v.Key = inv.Customer.Name, inv.ReverseCharge, inv.Footer, key
	v.PDF = "/i/" + url.PathEscape(inv.ID) + "/pdf?key=" + url.QueryEscape(key)
	for _, ln := range inv.Lines {
		rate := ln.TaxRate
		if inv.ReverseCharge {
			rate = 0
		}
		v.Lines = append(v.Lines, invoiceLine{Description: ln.Description, Quantity: strconv.FormatInt(ln.Quantity, 10),
			Unit: amount(int64(ln.UnitAmount)), Rate: l.T("invoice.rate", rateOf(rate, l)), Amount: amount(int64(ln.Amount))})
	}
	for _, t := range invoice.TaxBreakdown(inv.Lines) {
		rate := t.Rate
		if inv.ReverseCharge {
			rate = 0
		}
		v.Taxes = append(v.Taxes, invoiceTax{Label: l.T("invoice.tax", rateOf(rate, l), amount(int64(t.Net))), Amount: amount(int64(t.Amount))})
	}
	v.Subtotal, v.Total = amount(int64(inv.Subtotal)), amount(int64(inv.Total))
	pg.Nonce, pg.CSS = newNonce(), pageCSS+invoiceCSS
	var b strings.Builder
	if err := invoiceTemplates.ExecuteTemplate(&b, "invoice", pg); err != nil {
		h.fail(w, r, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", contentSecurityPolicy(pg.Nonce, ""))
	setPageHeaders(hd)
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		io.WriteString(w, b.String())
	}
}

func rateOf(r invoice.TaxRate, l Lang) string {
	if l == LangDE {
		return strings.ReplaceAll(r.String(), ".", ",")
	}
	return r.String()
}

// dateOf is the day of t (UTC) as l writes it: "24 March 2026", "24. März 2026".
func dateOf(t time.Time, l Lang) string {
	s := FormatTime(t, l)
	day, _, _ := strings.Cut(s, ", ")
	return day
}
