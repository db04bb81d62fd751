package invoice

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/webhook"
)

// Payments is what invoices need of the payment service: the hosted page
// pays through a payment, a credit note refunds it.
type Payments interface {
	Create(ctx context.Context, merchantID string, req payment.CreateRequest) (payment.Payment, error)
	Get(ctx context.Context, merchantID, id string) (payment.Payment, error)
	Cancel(ctx context.Context, merchantID, id string) (payment.Payment, error)
	CreateRefund(ctx context.Context, merchantID string, req payment.RefundRequest) (payment.Refund, payment.Payment, error)
}

// Merchants names the merchant that bills.
type Merchants interface {
	Get(ctx context.Context, id string) (merchant.Merchant, error)
}

// Notifier sends the reminders (identity's notifiers: the development
// outbox, SMTP, a webhook).
type Notifier interface {
	Send(ctx context.Context, m identity.Message) error
}

var (
	_ Payments  = (*payment.Service)(nil)
	_ Merchants = (*merchant.Service)(nil)
	_ Notifier  = (*identity.Outbox)(nil)
)

// Config wires a Service.
type Config struct {
	Store     Store
	Payments  Payments
	Merchants Merchants
	// Notifier sends reminders; nil records them without sending.
	Notifier Notifier
	// RemindersPerDay caps the reminders one merchant's invoices send in
	// a UTC day (0: RemindersPerDayDefault), so that a merchant cannot
	// use the platform's mail to reach any number of addresses.
	RemindersPerDay int
	// PublicURL is the origin payers reach the hosted pages at: the
	// hosted invoice page's links are built on it.
	PublicURL string
	Clock     func() time.Time // nil: time.Now
	IDs       id.Generator
	Logger    *slog.Logger
}

// Service runs invoicing.
type Service struct {
	cfg   Config
	store Store
	now   func() time.Time
	ids   id.Generator
	log   *slog.Logger
}

// New returns an invoice service.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RemindersPerDay <= 0 {
		cfg.RemindersPerDay = RemindersPerDayDefault
	}
	return &Service{cfg: cfg, store: cfg.Store, now: cfg.Clock, ids: cfg.IDs, log: cfg.Logger}
}

// PageURL is the hosted page of inv, key included.
func (s *Service) PageURL(inv Invoice) string {
	return s.cfg.PublicURL + "/i/" + inv.ID + "?key=" + inv.PageKey
}

// newID is a fresh id, or one derived from the request's Idempotency-Key
// so that a retry finds what its first attempt committed.
func (s *Service) newID(ctx context.Context, prefix string) (string, bool) {
	if scope := kassa.IdempotencyKey(ctx); scope != "" {
		return id.Derived(prefix, scope), true
	}
	return s.ids.New(prefix), false
}

// Create makes a draft invoice.
func (s *Service) Create(ctx context.Context, merchantID string, p Params) (Invoice, error) {
	iid, keyed := s.newID(ctx, "in")
	if keyed {
		if inv, err := s.store.Invoice(ctx, merchantID, iid); err == nil {
			return inv, nil
		} else if kassa.ErrorKind(err) != kassa.ENotFound {
			return Invoice{}, err
		}
	}
	now := s.now().UTC()
	inv := Invoice{ID: iid, MerchantID: merchantID, Status: StatusDraft, Locale: "en", Created: now, Updated: now, Version: 1}
	if err := apply(&inv, p); err != nil {
		return Invoice{}, err
	}
	inv.PageKey = s.ids.Random(20)
	evs, err := s.events(inv, now, EventCreated)
	if err != nil {
		return Invoice{}, err
	}
	if err := s.store.CreateInvoice(ctx, inv, evs); err != nil {
		return Invoice{}, err
	}
	return inv, nil
}

// Get returns a merchant's invoice.
func (s *Service) Get(ctx context.Context, merchantID, id string) (Invoice, error) {
	if merchantID == "" {
		return Invoice{}, errNotFound
	}
	return s.store.Invoice(ctx, merchantID, id)
}

var errNotFound = kassa.Errorf(kassa.ENotFound, "invoice_not_found", "no such invoice")

// List returns a page of a merchant's invoices, newest first.
func (s *Service) List(ctx context.Context, f Filter) ([]Invoice, bool, error) {
	switch f.Status {
	case "", StatusDraft, StatusOpen, StatusPaid, StatusVoid, StatusUncollectible:
	default:
		return nil, false, kassa.Invalid("status", "parameter_invalid", "status must be draft, open, paid, void or uncollectible")
	}
	if f.Limit < 1 || f.Limit > ListLimitMax {
		return nil, false, kassa.Invalid("limit", "limit_invalid", "limit must be an integer from 1 to %d", ListLimitMax)
	}
	return s.store.Invoices(ctx, f)
}

// Update changes a draft. A finalized invoice is a document that was
// sent: it is never edited (void it and make another, or credit it).
func (s *Service) Update(ctx context.Context, merchantID, id string, p Params) (Invoice, error) {
	inv, err := s.Get(ctx, merchantID, id)
	if err != nil {
		return Invoice{}, err
	}
	if inv.Status != StatusDraft {
		return Invoice{}, notDraft(inv)
	}
	next := inv
	if err := apply(&next, p); err != nil {
		return Invoice{}, err
	}
	return s.write(ctx, inv, next, EventUpdated)
}

func notDraft(inv Invoice) error {
	return kassa.Errorf(kassa.EConflict, "invoice_not_draft",
		"invoice %s is %s: only a draft can be changed; void it and create another, or credit it", inv.ID, inv.Status)
}

func stateError(inv Invoice, msg string) error {
	return kassa.Errorf(kassa.EConflict, "invoice_status_invalid", "invoice %s is %s: %s", inv.ID, inv.Status, msg)
}

// write stores next (inv changed) with an event per type.
func (s *Service) write(ctx context.Context, inv, next Invoice, typs ...string) (Invoice, error) {
	now := s.now().UTC()
	next.Version, next.Updated = inv.Version+1, now
	evs, err := s.events(next, now, typs...)
	if err != nil {
		return Invoice{}, err
	}
	if err := s.store.UpdateInvoice(ctx, next, evs); err != nil {
		return Invoice{}, conflict(err)
	}
	return next, nil
}

func conflict(err error) error {
	if errors.Is(err, ErrConflict) {
		return kassa.Errorf(kassa.EConflict, "invoice_changed", "the invoice changed concurrently; read it again and retry")
	}
	return err
}

// Finalize gives a draft its number and makes it open (payable).
func (s *Service) Finalize(ctx context.Context, merchantID, id string) (Invoice, error) {
	inv, err := s.Get(ctx, merchantID, id)
	if err != nil {
		return Invoice{}, err
	}
	if inv.Status != StatusDraft {
		return Invoice{}, stateError(inv, "only a draft can be finalized")
	}
	set, err := s.Settings(ctx, merchantID)
	if err != nil {
		return Invoice{}, err
	}
	now := s.now().UTC()
	next := inv
	next.Status, next.FinalizedAt, next.Updated, next.Version = StatusOpen, now, now, inv.Version+1
	next.DueAt = now.Add(time.Duration(inv.DueDays) * 24 * time.Hour)
	next.NextReminderAt = nextReminder(next, now)
	seq := Sequence{Name: invoiceSeqName, Year: now.Year(), Format: func(n int64) string {
		return fmt.Sprintf("%s-%04d-%0*d", set.NumberPrefix, now.Year(), numberDigits, n)
	}}
	out, err := s.store.FinalizeInvoice(ctx, next, seq, func(inv Invoice) ([]webhook.Event, error) {
		return s.events(inv, now, EventFinalized)
	})
	if err != nil {
		return Invoice{}, conflict(err)
	}
	return out, nil
}

// Void ends a draft or an open invoice without payment; a finalized one
// keeps its number. A payment the hosted page started for it that still
// waits for the payer is canceled first.
func (s *Service) Void(ctx context.Context, merchantID, id string) (Invoice, error) {
	inv, err := s.Get(ctx, merchantID, id)
	if err != nil {
		return Invoice{}, err
	}
	if inv.Status != StatusDraft && inv.Status != StatusOpen {
		return Invoice{}, stateError(inv, "only a draft or an open invoice can be voided")
	}
	if inv, err = s.settle(ctx, inv); err != nil {
		return Invoice{}, err
	}
	if inv.Status != StatusDraft && inv.Status != StatusOpen {
		return Invoice{}, stateError(inv, "it was paid meanwhile")
	}
	next := inv
	next.Status, next.EndedAt, next.NextReminderAt = StatusVoid, s.now().UTC(), time.Time{}
	return s.write(ctx, inv, next, EventVoided)
}

// MarkUncollectible records that an open invoice will likely not be
// paid; it may still be paid later on its page.
func (s *Service) MarkUncollectible(ctx context.Context, merchantID, id string) (Invoice, error) {
	inv, err := s.Get(ctx, merchantID, id)
	if err != nil {
		return Invoice{}, err
	}
	if inv, err = s.Sync(ctx, inv); err != nil {
		return Invoice{}, err
	}
	if inv.Status != StatusOpen {
		return Invoice{}, stateError(inv, "only an open invoice can be marked uncollectible")
	}
	next := inv
	next.Status, next.EndedAt, next.NextReminderAt = StatusUncollectible, s.now().UTC(), time.Time{}
	return s.write(ctx, inv, next, EventMarkedUncollectible)
}

// settle cancels the payment the page started for inv if it still waits
// for the payer, and records it if it was paid.
func (s *Service) settle(ctx context.Context, inv Invoice) (Invoice, error) {
	if inv.PaymentID == "" {
		return inv, nil
	}
	p, err := s.cfg.Payments.Get(ctx, inv.MerchantID, inv.PaymentID)
	if err != nil {
		return Invoice{}, err
	}
	if p.Status == payment.StatusRequiresAction || p.Status == payment.StatusAuthorized {
		if _, err := s.cfg.Payments.Cancel(ctx, inv.MerchantID, p.ID); err != nil {
			return Invoice{}, err
		}
		return inv, nil
	}
	return s.Sync(ctx, inv)
}

// Sync records that inv was paid if the payment its page made is
// captured; it returns the invoice as it then stands.
func (s *Service) Sync(ctx context.Context, inv Invoice) (Invoice, error) {
	if (inv.Status != StatusOpen && inv.Status != StatusUncollectible) || inv.PaymentID == "" {
		return inv, nil
	}
	p, err := s.cfg.Payments.Get(ctx, inv.MerchantID, inv.PaymentID)
	if err != nil {
		return Invoice{}, err
	}
	if p.Status != payment.StatusCaptured || p.AmountCaptured < inv.Total {
		return inv, nil
	}
	next := inv
	next.Status, next.AmountPaid, next.NextReminderAt = StatusPaid, p.AmountCaptured, time.Time{}
	next.PaidAt = p.Updated.UTC()
	out, err := s.write(ctx, inv, next, EventPaid)
	if ke, ok := errors.AsType[*kassa.Error](err); ok && ke.Code == "invoice_changed" {
		// Someone else recorded it (or changed the invoice): read it again.
		return s.store.Invoice(ctx, inv.MerchantID, inv.ID)
	}
	return out, err
}

// SyncPaid marks paid the open invoices whose payment was captured (the
// leased job, for payers who never came back to the page). It returns
// how many it marked.
func (s *Service) SyncPaid(ctx context.Context) (int, error) {
	due, err := s.store.PaidOpenInvoices(ctx, syncBatchMax)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, inv := range due {
		out, err := s.Sync(ctx, inv)
		if err != nil {
			errs = append(errs, fmt.Errorf("invoice %s: %w", inv.ID, err))
			continue
		}
		if out.Status == StatusPaid {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// events builds one event per type carrying the invoice's public form.
func (s *Service) events(inv Invoice, now time.Time, typs ...string) ([]webhook.Event, error) {
	data, err := json.Marshal(s.Public(inv))
	if err != nil {
		return nil, err
	}
	evs := make([]webhook.Event, len(typs))
	for i, typ := range typs {
		evs[i] = webhook.Event{ID: s.ids.New("evt"), MerchantID: inv.MerchantID, Type: typ, Created: now, Data: data}
	}
	return evs, nil
}

// Settings returns the merchant's invoice settings, the defaults when it
// set none (a prefix made of its name).
func (s *Service) Settings(ctx context.Context, merchantID string) (Settings, error) {
	set, err := s.store.Settings(ctx, merchantID)
	if kassa.ErrorKind(err) != kassa.ENotFound {
		return set, err
	}
	m, err := s.cfg.Merchants.Get(ctx, merchantID)
	if err != nil {
		return Settings{}, err
	}
	return Settings{MerchantID: merchantID, NumberPrefix: defaultPrefix(m.Name)}, nil
}

// SettingsParams change the settings; nil fields stay.
type SettingsParams struct {
	NumberPrefix  *string
	SellerAddress *string
	SellerVATID   *string
}

// PutSettings changes the merchant's invoice settings. A new prefix
// applies to invoices finalized from then on; the sequence goes on.
func (s *Service) PutSettings(ctx context.Context, merchantID string, p SettingsParams) (Settings, error) {
	set, err := s.Settings(ctx, merchantID)
	if err != nil {
		return Settings{}, err
	}
	if p.NumberPrefix != nil {
		if !validPrefix(*p.NumberPrefix) {
			return Settings{}, kassa.Invalid("number_prefix", "parameter_invalid",
				"number_prefix must be 1 to %d capital letters, digits and inner dashes, such as ACME", PrefixMax)
		}
		set.NumberPrefix = *p.NumberPrefix
	}
	if p.SellerAddress != nil {
		if err := text("seller_address", *p.SellerAddress, SellerAddressMax, false, true); err != nil {
			return Settings{}, err
		}
		set.SellerAddress = *p.SellerAddress
	}
	if p.SellerVATID != nil {
		if err := text("seller_vat_id", *p.SellerVATID, VATIDMax, false, false); err != nil {
			return Settings{}, err
		}
		set.SellerVATID = *p.SellerVATID
	}
	set.Updated = s.now().UTC()
	return set, s.store.PutSettings(ctx, set)
}

// Page returns the invoice the hosted page shows: id and key must
// match (a wrong key is as unknown as a wrong id), drafts are not shown,
// and a captured payment is recorded first.
func (s *Service) Page(ctx context.Context, id, key string) (Invoice, error) {
	if key == "" || len(key) > PageKeyLengthMax || !idOK(id) {
		return Invoice{}, errNotFound
	}
	inv, err := s.store.Invoice(ctx, "", id)
	if err != nil {
		return Invoice{}, err
	}
	if subtle.ConstantTimeCompare([]byte(inv.PageKey), []byte(key)) != 1 || inv.Status == StatusDraft {
		return Invoice{}, errNotFound
	}
	return s.Sync(ctx, inv)
}

// idOK reports whether s can be an invoice id: "in_" and lower-case
// letters and digits (ids are base32), so nothing else reaches a query.
func idOK(s string) bool {
	if !id.HasPrefix(s, "in") || len(s) > 64 {
		return false
	}
	for _, c := range s[3:] {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Pay returns the payment that pays inv on its page: the one the page
// made before while it can still be paid, else a new one (automatic
// capture, the invoice's total, returnURL the page to come back to). The
// invoice's number is the payment's merchant_reference, so two live
// payments for one invoice cannot exist (payment refuses the second), and
// its id is derived from the invoice's state, so concurrent pages agree.
func (s *Service) Pay(ctx context.Context, invoiceID, key, returnURL string) (payment.Payment, Invoice, error) {
	inv, err := s.Page(ctx, invoiceID, key)
	if err != nil {
		return payment.Payment{}, Invoice{}, err
	}
	if inv.Status != StatusOpen && inv.Status != StatusUncollectible {
		return payment.Payment{}, inv, stateError(inv, "it cannot be paid")
	}
	if inv.PaymentID != "" {
		p, err := s.cfg.Payments.Get(ctx, inv.MerchantID, inv.PaymentID)
		if err != nil {
			return payment.Payment{}, inv, err
		}
		if p.Status == payment.StatusRequiresAction && s.now().Before(p.ExpiresAt) {
			return p, inv, nil
		}
		if p.Status == payment.StatusRequiresAction {
			// Its time ran out before the sweep expired it: end it, so
			// that the new payment may carry the invoice's number.
			if _, err := s.cfg.Payments.Cancel(ctx, inv.MerchantID, p.ID); err != nil && kassa.ErrorKind(err) != kassa.EConflict {
				return payment.Payment{}, inv, err
			}
		}
	}
	// The payment's id is derived from the invoice and the payment before
	// it: two tabs paying at once get the same payment, and a page that
	// made one but failed to link it finds it again.
	scope := "invoice:" + inv.ID + ":after:" + inv.PaymentID
	p, err := s.cfg.Payments.Create(kassa.WithIdempotencyKey(ctx, scope), inv.MerchantID, payment.CreateRequest{Amount: inv.Total,
		Currency: string(inv.Currency), CaptureMethod: payment.CaptureAutomatic, MerchantReference: inv.Number,
		Description: lang(inv.Locale)["invoice"] + " " + inv.Number, ReturnURL: returnURL, Locale: inv.Locale,
		Customer: payment.Customer{ID: inv.Customer.ID, Email: inv.Customer.Email, BillingCountry: inv.Customer.Address.Country}})
	if err != nil {
		// A concurrent tab inserted it first (the same id, or the same
		// merchant_reference while it is live).
		made, gerr := s.cfg.Payments.Get(ctx, inv.MerchantID, id.Derived("pay", scope))
		if gerr != nil {
			return payment.Payment{}, inv, err
		}
		p = made
	}
	if inv.PaymentID == p.ID {
		return p, inv, nil
	}
	next := inv
	next.PaymentID = p.ID
	out, err := s.write(ctx, inv, next)
	if err != nil {
		// Linked by the other tab meanwhile?
		again, gerr := s.store.Invoice(ctx, inv.MerchantID, inv.ID)
		if gerr != nil || again.PaymentID != p.ID {
			return payment.Payment{}, inv, err
		}
		out = again
	}
	return p, out, nil
}
