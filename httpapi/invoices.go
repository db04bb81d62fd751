package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/money"
)

// registerInvoices adds /v1/invoices and /v1/invoice_settings
// (docs/business.md, "Invoices").
func (s *Server) registerInvoices() {
	if s.cfg.Invoices == nil {
		return
	}
	s.Handle("POST", "/v1/invoices", AuthSecret, s.createInvoice)
	s.Handle("GET", "/v1/invoices", AuthSecret, s.listInvoices)
	s.Handle("GET", "/v1/invoices/{id}", AuthSecret, s.getInvoice)
	s.Handle("POST", "/v1/invoices/{id}", AuthSecret, s.updateInvoice)
	s.Handle("POST", "/v1/invoices/{id}/finalize", AuthSecret, s.invoiceAction((*invoice.Service).Finalize))
	s.Handle("POST", "/v1/invoices/{id}/void", AuthSecret, s.invoiceAction((*invoice.Service).Void))
	s.Handle("POST", "/v1/invoices/{id}/mark_uncollectible", AuthSecret, s.invoiceAction((*invoice.Service).MarkUncollectible))
	s.Handle("GET", "/v1/invoices/{id}/pdf", AuthSecret, s.invoicePDF)
	s.Handle("POST", "/v1/invoices/{id}/credit_notes", AuthSecret, s.createCreditNote)
	s.Handle("GET", "/v1/invoices/{id}/credit_notes", AuthSecret, s.listCreditNotes)
	s.Handle("GET", "/v1/invoice_settings", AuthSecret, s.getInvoiceSettings)
	s.Handle("POST", "/v1/invoice_settings", AuthSecret, s.putInvoiceSettings)
}

// lineRequest is a line as sent: numbers are read exactly (no floats),
// so that each mistake is a problem naming its field.
type lineRequest struct {
	Description string      `json:"description"`
	Quantity    json.Number `json:"quantity"`
	UnitAmount  json.Number `json:"unit_amount"`
	TaxRate     json.Number `json:"tax_rate"`
}

type invoiceRequest struct {
	Customer      *invoice.Customer `json:"customer"`
	Currency      *string           `json:"currency"`
	Lines         *[]lineRequest    `json:"lines"`
	DueDays       *int              `json:"due_days"`
	Footer        *string           `json:"footer"`
	ReverseCharge *bool             `json:"reverse_charge"`
	Locale        *string           `json:"locale"`
}

// parseLines reads lines; more than invoice.LinesMax are refused before
// any is read.
func parseLines(in []lineRequest) ([]invoice.Line, error) {
	if len(in) > invoice.LinesMax {
		return nil, kassa.Invalid("lines", "parameter_invalid", "lines must hold from 1 to %d lines", invoice.LinesMax)
	}
	out := make([]invoice.Line, len(in))
	for i, l := range in {
		p := fmt.Sprintf("lines[%d]", i)
		q, err := strconv.ParseInt(l.Quantity.String(), 10, 64)
		if err != nil {
			return nil, kassa.Invalid(p+".quantity", "quantity_invalid", "quantity must be a whole number from 1 to %d", invoice.QuantityMax)
		}
		u, err := strconv.ParseInt(l.UnitAmount.String(), 10, 64)
		if err != nil {
			return nil, kassa.Invalid(p+".unit_amount", "amount_invalid", "unit_amount must be an integer of minor units")
		}
		r, ok := invoice.ParseTaxRate(l.TaxRate.String())
		if !ok {
			return nil, kassa.Invalid(p+".tax_rate", "tax_rate_invalid", "%s", invoice.ErrTaxRate.Error())
		}
		out[i] = invoice.Line{Description: l.Description, Quantity: q, UnitAmount: money.Amount(u), TaxRate: r}
	}
	return out, nil
}

func (req invoiceRequest) params() (invoice.Params, error) {
	p := invoice.Params{Customer: req.Customer, Currency: req.Currency, DueDays: req.DueDays, Footer: req.Footer,
		ReverseCharge: req.ReverseCharge, Locale: req.Locale}
	if req.Lines != nil {
		ls, err := parseLines(*req.Lines)
		if err != nil {
			return p, err
		}
		p.Lines = &ls
	}
	return p, nil
}

// publicInvoice is the API's view: the hosted page's link on the
// origin payers reach the pages at.
func (s *Server) publicInvoice(r *http.Request, inv invoice.Invoice) invoice.PublicInvoice {
	pub := s.cfg.Invoices.Public(inv)
	if pub.HostedInvoiceURL != nil {
		u := s.pagesBase(r) + "/i/" + inv.ID + "?key=" + inv.PageKey
		pub.HostedInvoiceURL = &u
	}
	return pub
}

func (s *Server) createInvoice(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req invoiceRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	p, err := req.params()
	if err != nil {
		return err
	}
	inv, err := s.cfg.Invoices.Create(r.Context(), pr.Merchant.ID, p)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusCreated, s.publicInvoice(r, inv))
}

func (s *Server) updateInvoice(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req invoiceRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	p, err := req.params()
	if err != nil {
		return err
	}
	inv, err := s.cfg.Invoices.Update(r.Context(), pr.Merchant.ID, r.PathValue("id"), p)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, s.publicInvoice(r, inv))
}

func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	inv, err := s.cfg.Invoices.Get(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err == nil {
		inv, err = s.cfg.Invoices.Sync(r.Context(), inv)
	}
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, s.publicInvoice(r, inv))
}

func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	q := r.URL.Query()
	limit := pageLimitDefault
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > invoice.ListLimitMax {
			return kassa.Invalid("limit", "limit_invalid", "limit must be an integer from 1 to %d", invoice.ListLimitMax)
		}
		limit = n
	}
	invs, more, err := s.cfg.Invoices.List(r.Context(), invoice.Filter{MerchantID: pr.Merchant.ID,
		Status: invoice.Status(q.Get("status")), Customer: q.Get("customer"), StartingAfter: q.Get("starting_after"), Limit: limit})
	if err != nil {
		return err
	}
	data := make([]invoice.PublicInvoice, len(invs))
	for i, inv := range invs {
		data[i] = s.publicInvoice(r, inv)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
}

// invoiceAction serves a POST that moves an invoice (finalize, void,
// mark_uncollectible); it takes no body.
func (s *Server) invoiceAction(act func(svc *invoice.Service, ctx context.Context, merchantID, id string) (invoice.Invoice, error)) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		pr, _ := PrincipalFrom(r.Context())
		inv, err := act(s.cfg.Invoices, r.Context(), pr.Merchant.ID, r.PathValue("id"))
		if err != nil {
			return err
		}
		return WriteJSON(w, http.StatusOK, s.publicInvoice(r, inv))
	}
}

func (s *Server) invoicePDF(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var b bytes.Buffer
	inv, err := s.cfg.Invoices.PDF(r.Context(), pr.Merchant.ID, r.PathValue("id"), &b)
	if err != nil {
		return err
	}
	name := inv.Number
	if name == "" {
		name = inv.ID
	}
	// Numbers and ids are capital letters, digits, dashes and underscores:
	// nothing to quote in the header.
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.pdf"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b.Bytes())
	return err
}

type creditNoteRequest struct {
	Lines  *[]lineRequest `json:"lines"`
	Reason string         `json:"reason"`
	Refund bool           `json:"refund"`
}

func (s *Server) createCreditNote(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req creditNoteRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	p := invoice.CreditNoteParams{Reason: req.Reason, Refund: req.Refund}
	if req.Lines != nil {
		ls, err := parseLines(*req.Lines)
		if err != nil {
			return err
		}
		p.Lines = &ls
	}
	cn, err := s.cfg.Invoices.CreateCreditNote(r.Context(), pr.Merchant.ID, r.PathValue("id"), p)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusCreated, invoice.PublicCredit(cn))
}

func (s *Server) listCreditNotes(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	cns, err := s.cfg.Invoices.CreditNotes(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	data := make([]invoice.PublicCreditNote, len(cns))
	for i, cn := range cns {
		data[i] = invoice.PublicCredit(cn)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": false})
}

type invoiceSettingsJSON struct {
	Object        string `json:"object"`
	NumberPrefix  string `json:"number_prefix"`
	SellerAddress string `json:"seller_address"`
	SellerVATID   string `json:"seller_vat_id"`
}

func settingsJSON(set invoice.Settings) invoiceSettingsJSON {
	return invoiceSettingsJSON{Object: "invoice_settings", NumberPrefix: set.NumberPrefix,
		SellerAddress: set.SellerAddress, SellerVATID: set.SellerVATID}
}

func (s *Server) getInvoiceSettings(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	set, err := s.cfg.Invoices.Settings(r.Context(), pr.Merchant.ID)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, settingsJSON(set))
}

func (s *Server) putInvoiceSettings(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req struct {
		NumberPrefix  *string `json:"number_prefix"`
		SellerAddress *string `json:"seller_address"`
		SellerVATID   *string `json:"seller_vat_id"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	set, err := s.cfg.Invoices.PutSettings(r.Context(), pr.Merchant.ID, invoice.SettingsParams{
		NumberPrefix: req.NumberPrefix, SellerAddress: req.SellerAddress, SellerVATID: req.SellerVATID})
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, settingsJSON(set))
}
