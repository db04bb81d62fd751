// Package invoice is a merchant's invoicing of its own customers: an
// invoice (in_...) is made as a draft, finalized with a gapless number
// from the merchant's own sequence, paid by the customer on Kassa's
// hosted invoice page (/i/{id}) with any payment method Kassa has,
// reminded of before and after its due date, and credited with numbered
// credit notes (cn_...) once paid.
//
// # States
//
//	draft ──finalize──► open ──► paid ──► (credit notes)
//	  │                  │  └──► uncollectible ──► paid
//	  └──► void ◄────────┘
//
// # Numbers
//
// finalize takes the next number of the merchant's sequence for the
// year (UTC) of finalization, in the same database transaction that
// moves the invoice to open: a number is used exactly when that
// transaction commits, so concurrent finalizations never skip or repeat
// one, and a number once given stays with its invoice (a voided invoice
// keeps it). Numbers read PREFIX-YYYY-NNNNNN (ACME-2026-000123); credit
// notes have a sequence of their own, PREFIX-CN-YYYY-NNNNNN.
//
// # Money
//
// Every line is quantity × unit_amount (exact, in minor units) plus its
// tax: net × rate rounded half up to a whole minor unit, per line (see
// LineTax). The invoice's totals are the sums of its lines' amounts, so
// the printed lines always add up to the printed total. Reverse charge
// books no tax on any line and prints the legal note.
//
// # Paid
//
// The hosted page pays an invoice through a payment of the payment
// service (package payment: the checkout's seam and pages). Once that
// payment is captured the invoice becomes paid, in one transaction with
// its invoice.paid event that checks the invoice was still open at the
// version read: whoever sees the capture first (the payer's return to
// the page, or the leased "invoices" job) records it, exactly once.
package invoice

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/webhook"
)

// Status is an invoice's state.
type Status string

// Invoice states.
const (
	StatusDraft         Status = "draft"
	StatusOpen          Status = "open"
	StatusPaid          Status = "paid"
	StatusVoid          Status = "void"
	StatusUncollectible Status = "uncollectible"
)

// Event types invoices emit.
const (
	EventCreated             = "invoice.created"
	EventUpdated             = "invoice.updated"
	EventFinalized           = "invoice.finalized"
	EventPaid                = "invoice.paid"
	EventVoided              = "invoice.voided"
	EventMarkedUncollectible = "invoice.marked_uncollectible"
	EventReminderSent        = "invoice.reminder_sent"
	EventCreditNoteCreated   = "invoice.credit_note_created"
)

func init() {
	for _, t := range []string{EventCreated, EventUpdated, EventFinalized, EventPaid, EventVoided,
		EventMarkedUncollectible, EventReminderSent, EventCreditNoteCreated} {
		webhook.RegisterEventType(t)
	}
}

// Limits.
const (
	LinesMax         = 250
	DescriptionMax   = 500 // bytes of one line's description
	QuantityMax      = 1_000_000
	AmountMax        = money.Amount(1_000_000_000) // an invoice's total, as a payment's
	TaxRateMaxBP     = 10_000                      // 100 %, in basis points (hundredths of a percent)
	DueDaysMax       = 365
	FooterMax        = 2000
	NameMax          = 200
	EmailMax         = 254
	CustomerIDMax    = 255
	AddressLineMax   = 200
	VATIDMax         = 32
	ListLimitMax     = 100
	PrefixMax        = 16
	SellerAddressMax = 500
	ReasonMax        = 500
	PageKeyLengthMax = 128
	reminderBatchMax = 100
	// RemindersPerDayDefault is Config.RemindersPerDay's default: the
	// emails a merchant's invoices may send through the platform in a UTC
	// day. Reminders past it wait for the next day.
	RemindersPerDayDefault = 1000
	syncBatchMax           = 100
	creditNotesMax         = 100 // per invoice
	numberDigits           = 6
	reminderBefore         = 3 * 24 * time.Hour
	creditNoteSeqName      = "credit_note"
	invoiceSeqName         = "invoice"
)

// Reminders after the due date: one day, a week and two weeks late.
var remindersAfter = []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour}

// Address is a postal address.
type Address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	City       string `json:"city"`
	State      string `json:"state,omitempty"`
	Country    string `json:"country"` // ISO 3166-1 alpha-2
}

// Customer is whom the merchant bills, as the merchant knows them.
type Customer struct {
	ID      string  `json:"id"` // the merchant's own id of its customer
	Name    string  `json:"name"`
	Email   string  `json:"email"`
	Address Address `json:"address"`
	VATID   string  `json:"vat_id,omitempty"`
}

// Line is one line of an invoice or credit note. Amount is Quantity ×
// UnitAmount (net), Tax its tax (see LineTax).
type Line struct {
	Description string       `json:"description"`
	Quantity    int64        `json:"quantity"`
	UnitAmount  money.Amount `json:"unit_amount"`
	TaxRate     TaxRate      `json:"tax_rate"`
	Amount      money.Amount `json:"amount"`
	Tax         money.Amount `json:"tax"`
}

// TaxRate is a percentage with at most two decimals, kept exactly as
// basis points (hundredths of a percent): 19 % is 1900.
type TaxRate int64

// ParseTaxRate reads a percentage such as "19", "7.5" or "7.25".
func ParseTaxRate(s string) (TaxRate, bool) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 3 || len(frac) > 2 || (dot && frac == "") {
		return 0, false
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			f *= 10
		}
	}
	r := TaxRate(w*100 + f)
	return r, r >= 0 && r <= TaxRateMaxBP
}

// String is the rate as a percentage without trailing zeros ("19", "7.5").
func (r TaxRate) String() string {
	s := strconv.FormatInt(int64(r)/100, 10)
	if f := int64(r) % 100; f != 0 {
		s += "." + strings.TrimRight(strconv.FormatInt(100+f, 10)[1:], "0")
	}
	return s
}

// MarshalJSON writes the rate as a JSON number of percent.
func (r TaxRate) MarshalJSON() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalJSON reads a JSON number (or string) of percent with at most
// two decimals; anything else is ErrTaxRate.
func (r *TaxRate) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, ok := ParseTaxRate(s)
	if !ok {
		return ErrTaxRate
	}
	*r = v
	return nil
}

// ErrTaxRate is a tax rate that is not a percentage from 0 to 100 with
// at most two decimals.
var ErrTaxRate = errors.New("tax_rate must be a percentage from 0 to 100 with at most two decimals, such as 19 or 7.5")

// LineTax is the tax of a line of net amount at rate, rounded half up to
// a whole minor unit: net × rate / 10000, where .5 rounds away from zero
// (net is never negative). Both factors are bounded (AmountMax,
// TaxRateMaxBP), so the product fits in an int64.
func LineTax(net money.Amount, rate TaxRate) money.Amount {
	return money.Amount((int64(net)*int64(rate) + 5000) / 10000)
}

// TaxAmount is the tax at one rate over the lines that have it.
type TaxAmount struct {
	Rate   TaxRate      `json:"rate"`
	Net    money.Amount `json:"net"`
	Amount money.Amount `json:"amount"`
}

// Invoice is one invoice.
type Invoice struct {
	ID             string
	MerchantID     string
	Number         string // "" until finalized
	Status         Status
	Currency       money.Currency
	Customer       Customer
	Lines          []Line
	Subtotal       money.Amount // sum of the lines' Amount
	Tax            money.Amount // sum of the lines' Tax
	Total          money.Amount // Subtotal + Tax
	AmountPaid     money.Amount
	AmountCredited money.Amount // by credit notes
	DueDays        int
	Footer         string
	ReverseCharge  bool
	Locale         string // "en" or "de": the page's, the PDF's and the reminders' language
	// PageKey opens the hosted invoice page (/i/{id}?key=...): the
	// invoice's id alone shows nothing.
	PageKey string
	// PaymentID is the payment the hosted page made for it (the last).
	PaymentID      string
	RemindersSent  int
	NextReminderAt time.Time // zero: none due
	FinalizedAt    time.Time
	DueAt          time.Time
	PaidAt         time.Time
	EndedAt        time.Time // voided or marked uncollectible
	Created        time.Time
	Updated        time.Time
	Version        int64
}

// CreditNote credits (part of) a paid invoice.
type CreditNote struct {
	ID           string
	MerchantID   string
	InvoiceID    string
	Number       string
	Lines        []Line
	Subtotal     money.Amount
	Tax          money.Amount
	Total        money.Amount
	Reason       string
	Refund       bool   // asked to refund the invoice's payment
	RefundID     string // re_... when it did
	RefundStatus string // "", "succeeded", "pending", "failed"
	Created      time.Time
}

// Settings are a merchant's invoice settings.
type Settings struct {
	MerchantID    string
	NumberPrefix  string
	SellerAddress string // printed under the merchant's name
	SellerVATID   string
	Updated       time.Time
}

// Filter selects a page of a merchant's invoices, newest first.
type Filter struct {
	MerchantID    string
	Status        Status
	Customer      string
	StartingAfter string
	Limit         int
}

// Sequence names a gapless sequence: Name ("invoice", "credit_note")
// and the year it numbers; Format makes a number of its value.
type Sequence struct {
	Name   string
	Year   int
	Format func(n int64) string
}

// Key is the sequence's row name ("invoice:2026").
func (q Sequence) Key() string { return q.Name + ":" + strconv.Itoa(q.Year) }

// ErrReminderBudget is returned by the store's RemindInvoice when the
// merchant's reminders of the day are used up.
var ErrReminderBudget = errors.New("invoice: the merchant's reminders of the day are used up")

// ErrConflict is returned by the store when an invoice changed since it
// was read (its version moved).
var ErrConflict = errors.New("invoice: changed concurrently")

// Store is what invoices need of storage.
type Store interface {
	CreateInvoice(ctx context.Context, inv Invoice, evs []webhook.Event) error
	// Invoice returns an invoice of merchantID ("" any), kassa ENotFound if none.
	Invoice(ctx context.Context, merchantID, id string) (Invoice, error)
	Invoices(ctx context.Context, f Filter) ([]Invoice, bool, error)
	// UpdateInvoice writes inv if the stored version is inv.Version-1,
	// with its events; ErrConflict otherwise.
	UpdateInvoice(ctx context.Context, inv Invoice, evs []webhook.Event) error
	// FinalizeInvoice takes the next value of the merchant's sequence seq,
	// sets inv.Number to seq.Format(value) and writes inv as UpdateInvoice
	// does, all in one transaction; evs get the number through
	// events(inv). It returns the invoice as written.
	FinalizeInvoice(ctx context.Context, inv Invoice, seq Sequence, events func(Invoice) ([]webhook.Event, error)) (Invoice, error)
	// CreateCreditNote takes the next value of seq for cn.Number, inserts
	// cn and adds cn.Total to the invoice's AmountCredited if that stays
	// within its Total and the invoice is still paid at version
	// inv.Version (which it bumps), in one transaction; ErrConflict
	// otherwise.
	CreateCreditNote(ctx context.Context, cn CreditNote, inv Invoice, seq Sequence,
		events func(CreditNote) ([]webhook.Event, error)) (CreditNote, error)
	// SetCreditNoteRefund records the refund a credit note made.
	SetCreditNoteRefund(ctx context.Context, cn CreditNote) error
	CreditNotes(ctx context.Context, merchantID, invoiceID string) ([]CreditNote, error)
	// Settings returns the merchant's settings, kassa ENotFound if it has none.
	Settings(ctx context.Context, merchantID string) (Settings, error)
	PutSettings(ctx context.Context, s Settings) error
	// PaidOpenInvoices returns up to limit open invoices whose payment is
	// captured (the worker marks them paid).
	PaidOpenInvoices(ctx context.Context, limit int) ([]Invoice, error)
	// RemindersDue returns up to limit open invoices whose NextReminderAt
	// is set and not after now, earliest first.
	RemindersDue(ctx context.Context, now time.Time, limit int) ([]Invoice, error)
	// RemindInvoice is UpdateInvoice for a reminder: in the same
	// transaction it counts one reminder against the merchant's budget of
	// the UTC day day (YYYY-MM-DD), ErrReminderBudget when max are used.
	RemindInvoice(ctx context.Context, inv Invoice, evs []webhook.Event, day string, max int) error
}

// computeLines fills in each line's Amount and Tax and returns the
// totals; reverse charge books no tax. It refuses totals above AmountMax.
func computeLines(lines []Line, reverseCharge bool) (subtotal, tax money.Amount, err error) {
	for i := range lines {
		l := &lines[i]
		net, ok := l.UnitAmount.Mul(l.Quantity)
		if !ok || net > AmountMax {
			return 0, 0, errTotal
		}
		l.Amount, l.Tax = net, 0
		if !reverseCharge {
			l.Tax = LineTax(net, l.TaxRate)
		}
		if subtotal, ok = subtotal.Add(l.Amount); !ok || subtotal > AmountMax {
			return 0, 0, errTotal
		}
		tax += l.Tax // ≤ subtotal ≤ AmountMax: no overflow
	}
	if subtotal+tax > AmountMax {
		return 0, 0, errTotal
	}
	return subtotal, tax, nil
}

// TaxBreakdown sums the lines' net amounts and taxes per rate, in the
// order rates first appear.
func TaxBreakdown(lines []Line) []TaxAmount {
	var out []TaxAmount
	idx := map[TaxRate]int{}
	for _, l := range lines {
		i, ok := idx[l.TaxRate]
		if !ok {
			i = len(out)
			idx[l.TaxRate] = i
			out = append(out, TaxAmount{Rate: l.TaxRate})
		}
		out[i].Net += l.Amount
		out[i].Amount += l.Tax
	}
	return out
}
