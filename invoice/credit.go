package invoice

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/webhook"
)

// CreditNoteParams are a credit note as the merchant asks for it.
type CreditNoteParams struct {
	// Lines credited (the invoice's rules: tax per line, reverse charge
	// as the invoice); nil credits the whole invoice, which only an
	// invoice with no credit note yet can be.
	Lines  *[]Line
	Reason string
	// Refund refunds the credit note's total to the payment that paid
	// the invoice on its page.
	Refund bool
}

// Refund statuses of a credit note.
const (
	RefundSucceeded = "succeeded"
	RefundPending   = "pending"
	RefundFailed    = "failed"
)

// CreateCreditNote credits a paid invoice, with its own gapless number
// (PREFIX-CN-YYYY-NNNNNN). The credit notes of an invoice never add up to
// more than its total (checked in the transaction that writes one). With
// Refund it then refunds the payment; a refund the payment service
// refuses leaves the credit note with refund_status failed (the note is a
// numbered document by then: it stays).
func (s *Service) CreateCreditNote(ctx context.Context, merchantID, invoiceID string, p CreditNoteParams) (CreditNote, error) {
	inv, err := s.Get(ctx, merchantID, invoiceID)
	if err != nil {
		return CreditNote{}, err
	}
	if inv.Status != StatusPaid {
		return CreditNote{}, stateError(inv, "only a paid invoice can be credited")
	}
	if err := text("reason", p.Reason, ReasonMax, false, true); err != nil {
		return CreditNote{}, err
	}
	cns, err := s.store.CreditNotes(ctx, merchantID, inv.ID)
	if err != nil {
		return CreditNote{}, err
	}
	cnID, keyed := s.newID(ctx, "cn")
	for _, cn := range cns {
		if keyed && cn.ID == cnID {
			// A retry of a request whose first attempt committed.
			return cn, nil
		}
	}
	if len(cns) >= creditNotesMax {
		return CreditNote{}, kassa.Errorf(kassa.EConflict, "credit_notes_limit",
			"invoice %s has %d credit notes, the most it may have", inv.ID, creditNotesMax)
	}
	cn := CreditNote{MerchantID: merchantID, InvoiceID: inv.ID, Reason: p.Reason, Refund: p.Refund}
	if p.Lines == nil {
		if inv.AmountCredited > 0 {
			return CreditNote{}, kassa.Invalid("lines", "parameter_missing",
				"invoice %s was credited in part already: name the lines to credit", inv.ID)
		}
		cn.Lines = append([]Line(nil), inv.Lines...)
	} else {
		if err := validateLines("lines", *p.Lines); err != nil {
			return CreditNote{}, err
		}
		cn.Lines = append([]Line(nil), (*p.Lines)...)
	}
	if cn.Subtotal, cn.Tax, err = computeLines(cn.Lines, inv.ReverseCharge); err != nil {
		return CreditNote{}, err
	}
	cn.Total = cn.Subtotal + cn.Tax
	if left := inv.Total - inv.AmountCredited; cn.Total < 1 || cn.Total > left {
		return CreditNote{}, kassa.Invalid("lines", "credit_too_large",
			"the credit note's total must be from 1 to the %d minor units not yet credited", left)
	}
	if p.Refund {
		if err := s.refundable(ctx, inv, cn.Total); err != nil {
			return CreditNote{}, err
		}
	}
	set, err := s.Settings(ctx, merchantID)
	if err != nil {
		return CreditNote{}, err
	}
	cn.ID = cnID
	now := s.now().UTC()
	cn.Created = now
	next := inv
	next.AmountCredited += cn.Total
	next.Version, next.Updated = inv.Version+1, now
	seq := Sequence{Name: creditNoteSeqName, Year: now.Year(), Format: func(n int64) string {
		return fmt.Sprintf("%s-CN-%04d-%0*d", set.NumberPrefix, now.Year(), numberDigits, n)
	}}
	cn, err = s.store.CreateCreditNote(ctx, cn, next, seq, func(cn CreditNote) ([]webhook.Event, error) {
		data, err := json.Marshal(PublicCredit(cn))
		if err != nil {
			return nil, err
		}
		return []webhook.Event{{ID: s.ids.New("evt"), MerchantID: merchantID, Type: EventCreditNoteCreated, Created: now, Data: data}}, nil
	})
	if err != nil {
		return CreditNote{}, conflict(err)
	}
	if p.Refund {
		return s.refund(ctx, inv, cn), nil
	}
	return cn, nil
}

// refundable checks that the invoice's payment can refund amount.
func (s *Service) refundable(ctx context.Context, inv Invoice, amount money.Amount) error {
	if inv.PaymentID == "" {
		return kassa.Invalid("refund", "invoice_not_paid_by_kassa",
			"invoice %s was not paid on its Kassa page: there is no payment to refund", inv.ID)
	}
	pay, err := s.cfg.Payments.Get(ctx, inv.MerchantID, inv.PaymentID)
	if err != nil {
		return err
	}
	if left := pay.AmountCaptured - pay.AmountRefunded - pay.AmountRefundPending; amount > left {
		return kassa.Invalid("refund", "refund_too_large",
			"the invoice's payment %s has %d minor units left to refund", pay.ID, left)
	}
	return nil
}

// refund refunds cn's total to the invoice's payment and records how it
// went on cn.
func (s *Service) refund(ctx context.Context, inv Invoice, cn CreditNote) CreditNote {
	amt := cn.Total
	r, _, err := s.cfg.Payments.CreateRefund(ctx, inv.MerchantID, payment.RefundRequest{Payment: inv.PaymentID,
		Amount: &amt, Reason: "Credit note " + cn.Number, RequestKey: cn.ID})
	switch {
	case err != nil:
		s.log.WarnContext(ctx, "credit note refund refused", "credit_note", cn.ID, "err", err)
		cn.RefundStatus = RefundFailed
	case r.Status == payment.RefundSucceeded:
		cn.RefundID, cn.RefundStatus = r.ID, RefundSucceeded
	case r.Status == payment.RefundPending:
		cn.RefundID, cn.RefundStatus = r.ID, RefundPending
	default:
		cn.RefundID, cn.RefundStatus = r.ID, RefundFailed
	}
	if err := s.store.SetCreditNoteRefund(ctx, cn); err != nil {
		s.log.ErrorContext(ctx, "record credit note refund", "credit_note", cn.ID, "refund", cn.RefundID, "err", err)
	}
	return cn
}

// CreditNotes lists an invoice's credit notes, oldest first.
func (s *Service) CreditNotes(ctx context.Context, merchantID, invoiceID string) ([]CreditNote, error) {
	if _, err := s.Get(ctx, merchantID, invoiceID); err != nil {
		return nil, err
	}
	return s.store.CreditNotes(ctx, merchantID, invoiceID)
}

// PublicInvoice is an invoice as the API and its events show it.
type PublicInvoice struct {
	ID               string      `json:"id"`
	Object           string      `json:"object"`
	Number           *string     `json:"number"`
	Status           Status      `json:"status"`
	Currency         string      `json:"currency"`
	Customer         Customer    `json:"customer"`
	Lines            []Line      `json:"lines"`
	Subtotal         int64       `json:"subtotal"`
	Tax              int64       `json:"tax"`
	TaxAmounts       []TaxAmount `json:"tax_amounts"`
	Total            int64       `json:"total"`
	AmountPaid       int64       `json:"amount_paid"`
	AmountCredited   int64       `json:"amount_credited"`
	AmountDue        int64       `json:"amount_due"`
	DueDays          int         `json:"due_days"`
	DueDate          *time.Time  `json:"due_date"`
	Footer           string      `json:"footer,omitempty"`
	ReverseCharge    bool        `json:"reverse_charge"`
	Locale           string      `json:"locale"`
	Payment          *string     `json:"payment"`
	HostedInvoiceURL *string     `json:"hosted_invoice_url"`
	RemindersSent    int         `json:"reminders_sent"`
	NextReminderAt   *time.Time  `json:"next_reminder_at"`
	Rounding         string      `json:"rounding"`
	Created          time.Time   `json:"created"`
	FinalizedAt      *time.Time  `json:"finalized_at"`
	PaidAt           *time.Time  `json:"paid_at"`
	EndedAt          *time.Time  `json:"ended_at"`
}

// RoundingRule names how tax is rounded (the "rounding" field).
const RoundingRule = "per_line_half_up"

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Public returns the API view of inv; the hosted page's link only once
// it is finalized (a draft has no page).
func (s *Service) Public(inv Invoice) PublicInvoice {
	out := PublicInvoice{ID: inv.ID, Object: "invoice", Number: strPtr(inv.Number), Status: inv.Status,
		Currency: string(inv.Currency), Customer: inv.Customer, Lines: inv.Lines, Subtotal: int64(inv.Subtotal),
		Tax: int64(inv.Tax), TaxAmounts: TaxBreakdown(inv.Lines), Total: int64(inv.Total), AmountPaid: int64(inv.AmountPaid),
		AmountCredited: int64(inv.AmountCredited), DueDays: inv.DueDays, DueDate: timePtr(inv.DueAt), Footer: inv.Footer,
		ReverseCharge: inv.ReverseCharge, Locale: inv.Locale, Payment: strPtr(inv.PaymentID),
		RemindersSent: inv.RemindersSent, NextReminderAt: timePtr(inv.NextReminderAt), Rounding: RoundingRule,
		Created: inv.Created.UTC(), FinalizedAt: timePtr(inv.FinalizedAt), PaidAt: timePtr(inv.PaidAt), EndedAt: timePtr(inv.EndedAt)}
	if inv.Status == StatusOpen || inv.Status == StatusUncollectible {
		out.AmountDue = int64(inv.Total - inv.AmountPaid)
	}
	if inv.Status != StatusDraft {
		u := s.PageURL(inv)
		out.HostedInvoiceURL = &u
	}
	if out.Lines == nil {
		out.Lines = []Line{}
	}
	return out
}

// PublicCreditNote is a credit note as the API and its events show it.
type PublicCreditNote struct {
	ID           string      `json:"id"`
	Object       string      `json:"object"`
	Number       string      `json:"number"`
	Invoice      string      `json:"invoice"`
	Lines        []Line      `json:"lines"`
	Subtotal     int64       `json:"subtotal"`
	Tax          int64       `json:"tax"`
	TaxAmounts   []TaxAmount `json:"tax_amounts"`
	Total        int64       `json:"total"`
	Reason       string      `json:"reason,omitempty"`
	Refund       *string     `json:"refund"`
	RefundStatus *string     `json:"refund_status"`
	Created      time.Time   `json:"created"`
}

// PublicCredit returns the API view of cn.
func PublicCredit(cn CreditNote) PublicCreditNote {
	return PublicCreditNote{ID: cn.ID, Object: "credit_note", Number: cn.Number, Invoice: cn.InvoiceID, Lines: cn.Lines,
		Subtotal: int64(cn.Subtotal), Tax: int64(cn.Tax), TaxAmounts: TaxBreakdown(cn.Lines), Total: int64(cn.Total),
		Reason: cn.Reason, Refund: strPtr(cn.RefundID), RefundStatus: strPtr(cn.RefundStatus), Created: cn.Created.UTC()}
}
