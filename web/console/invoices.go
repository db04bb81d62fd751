package console

import (
	"net/http"
	"strconv"

	"github.com/kassa/kassa"
	members "github.com/kassa/kassa/console"
	kid "github.com/kassa/kassa/id"
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/money"
)

// invoiceFormLines is how many lines the console's invoice form has (the
// API takes more).
const invoiceFormLines = 3

// invoiceForm is the new-invoice form's values, shown again when refused.
type invoiceForm struct {
	RequestID                                    string
	CustomerID, Name, Email, Line1, Postal, City string
	Country, Currency, DueDays, Locale           string
	Lines                                        []invoiceFormLine
}

type invoiceFormLine struct {
	N                                 int
	Description, Quantity, Unit, Rate string
}

func newInvoiceForm() *invoiceForm {
	f := &invoiceForm{RequestID: kid.New("req"), Currency: "EUR", DueDays: "14", Locale: "en"}
	for i := range invoiceFormLines {
		f.Lines = append(f.Lines, invoiceFormLine{N: i + 1, Quantity: "1", Rate: "0"})
	}
	return f
}

// invoiceState is what an invoice's audit entry keeps.
type invoiceState struct {
	Status   invoice.Status `json:"status"`
	Number   string         `json:"number,omitempty"`
	Total    money.Amount   `json:"total"`
	Currency money.Currency `json:"currency"`
	Lines    int            `json:"lines"`
}

func invoiceStateOf(inv invoice.Invoice) invoiceState {
	return invoiceState{Status: inv.Status, Number: inv.Number, Total: inv.Total, Currency: inv.Currency, Lines: len(inv.Lines)}
}

// createInvoice makes a draft invoice from the form, as POST
// /v1/invoices does; the form's own request id makes a form sent twice
// find the invoice the first made.
func (h *Handler) createInvoice(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageInvoices) || !h.merchantOnly(v, h.cfg.Invoices != nil, "invoice_not_found", "invoice") {
		return
	}
	fm := &invoiceForm{RequestID: v.input("request"), CustomerID: v.input("customer_id"), Name: v.input("name"), Email: v.input("email"),
		Line1: v.input("line1"), Postal: v.input("postal_code"), City: v.input("city"), Country: v.input("country"),
		Currency: v.input("currency"), DueDays: v.input("due_days"), Locale: v.input("locale")}
	var lines []invoice.Line
	for i := range invoiceFormLines {
		n := strconv.Itoa(i + 1)
		l := invoiceFormLine{N: i + 1, Description: v.input("description" + n), Quantity: v.input("quantity" + n),
			Unit: v.input("unit" + n), Rate: v.input("rate" + n)}
		fm.Lines = append(fm.Lines, l)
		if l.Description == "" {
			continue
		}
		q, err1 := strconv.ParseInt(l.Quantity, 10, 64)
		u, err2 := strconv.ParseInt(l.Unit, 10, 64)
		rate, ok := invoice.ParseTaxRate(l.Rate)
		if err1 != nil || err2 != nil || !ok {
			h.showInvoices(v, http.StatusBadRequest, fm, "", "Line "+n+": the quantity and the unit amount (in cents) are whole numbers, the tax rate a percentage such as 19 or 7.5.")
			return
		}
		lines = append(lines, invoice.Line{Description: l.Description, Quantity: q, UnitAmount: money.Amount(u), TaxRate: rate})
	}
	due, err := strconv.Atoi(fm.DueDays)
	if err != nil {
		h.showInvoices(v, http.StatusBadRequest, fm, "", "Due in: a number of days.")
		return
	}
	p := invoice.Params{Customer: &invoice.Customer{ID: fm.CustomerID, Name: fm.Name, Email: fm.Email,
		Address: invoice.Address{Line1: fm.Line1, PostalCode: fm.Postal, City: fm.City, Country: fm.Country}},
		Currency: &fm.Currency, Lines: &lines, DueDays: &due, Locale: &fm.Locale}
	ctx := v.ctx()
	if fm.RequestID != "" && len(fm.RequestID) <= 64 {
		scope := "console\x00" + v.org() + "\x00" + v.m.ID + "\x00" + fm.RequestID
		// The form sent again: the invoice the first made (the id the
		// invoice package derives from the scope), not a second entry.
		if inv, err := h.cfg.Invoices.Get(ctx, v.org(), kid.Derived("in", scope)); err == nil {
			h.showInvoice(v, inv.ID, "This form already made "+inv.ID+".")
			return
		}
		ctx = kassa.WithIdempotencyKey(ctx, scope)
	}
	inv, err := h.cfg.Invoices.Create(ctx, v.org(), p)
	if err != nil {
		if e := kassa.AsError(err); e != nil && e.Kind == kassa.EInvalid {
			h.showInvoices(v, http.StatusBadRequest, fm, "", e.Message+".")
			return
		}
		h.fail(v, err)
		return
	}
	if err := h.cfg.Audit.Record(v.ctx(), v.org(), "invoice.create", inv.ID, nil, invoiceStateOf(inv)); err != nil {
		h.fail(v, err)
		return
	}
	h.showInvoice(v, inv.ID, "Draft "+inv.ID+" made: check it, then finalize it to give it its number and open the payer's page.")
}

// finalizeInvoice gives a draft its number and opens it for payment, as
// POST /v1/invoices/{id}/finalize does.
func (h *Handler) finalizeInvoice(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageInvoices) || !h.merchantOnly(v, h.cfg.Invoices != nil, "invoice_not_found", "invoice") {
		return
	}
	before, err := h.cfg.Invoices.Get(r.Context(), v.org(), r.PathValue("id"))
	if err != nil {
		h.fail(v, err)
		return
	}
	after, err := h.cfg.Invoices.Finalize(v.ctx(), v.org(), before.ID)
	if err != nil {
		h.fail(v, err)
		return
	}
	if err := h.cfg.Audit.Record(v.ctx(), v.org(), "invoice.finalize", before.ID, invoiceStateOf(before), invoiceStateOf(after)); err != nil {
		h.fail(v, err)
		return
	}
	h.showInvoice(v, after.ID, "Finalized as "+after.Number+": the payer's page is open.")
}
