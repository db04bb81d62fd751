package payment

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/idempotency"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/voucher"
	"github.com/kassa/kassa/webhook"
)

// Event types payments emit.
const (
	EventCreated           = "payment.created"
	EventAuthorized        = "payment.authorized"
	EventCaptured          = "payment.captured"
	EventCanceled          = "payment.canceled"
	EventExpired           = "payment.expired"
	EventRefunded          = "payment.refunded"
	EventDuplicateReversed = "payment.duplicate_reversed"
	EventRefundCreated     = "refund.created"
	EventRefundFailed      = "refund.failed" // a card refund the acquirer refused
	EventFailed            = "payment.failed"
)

func init() {
	for _, t := range []string{EventCreated, EventAuthorized, EventCaptured, EventCanceled, EventExpired,
		EventRefunded, EventDuplicateReversed, EventRefundCreated, EventRefundFailed, EventFailed} {
		webhook.RegisterEventType(t)
	}
}

// ErrConflict is returned by the store when a payment changed since it was
// read; the service turns it into a problem the caller may retry.
var ErrConflict = errors.New("payment: changed concurrently")

// DuplicateError refuses a second live payment with a merchant reference.
type DuplicateError struct{ ExistingID string }

func (e *DuplicateError) Error() string {
	return "a live payment " + e.ExistingID + " already has this merchant_reference"
}

// Ledger is what payments need of the ledger.
type Ledger interface {
	CreateAccounts(ctx context.Context, owner string, accounts []ledger.Account) ([]ledger.Result, error)
	CreateTransfersWith(ctx context.Context, owner string, transfers []ledger.Transfer, effect ledger.Effect) ([]ledger.Result, error)
	Account(ctx context.Context, owner, id string) (ledger.Account, error)
	Transfer(ctx context.Context, owner, id string) (ledger.Transfer, []byte, error)
	PendingStatus(ctx context.Context, owner, id string) (ledger.Pending, error)
}

// Vouchers is what payments need of the voucher service.
type Vouchers interface {
	Resolve(ctx context.Context, pins []string, a voucher.AttemptContext) ([]voucher.Voucher, error)
	Refresh(ctx context.Context, serial string) (voucher.Voucher, error)
	// TriesLeft is what is left of a's PIN guess limits (the page's warning).
	TriesLeft(ctx context.Context, a voucher.AttemptContext) (int, time.Time, error)
}

// Config wires a Service.
type Config struct {
	Store    Store
	Ledger   Ledger
	Vouchers Vouchers
	// Vault and Acquirer enable card payments (both or neither).
	Vault    Vault
	Acquirer acquirer.Acquirer
	// Risk scores confirmations; nil: none.
	Risk Risk
	// AttemptsMax is how many tries of an instrument a payment takes: a
	// decline (a card's, vouchers that do not cover the amount) before
	// the last leaves it requires_action for the payer to try again,
	// with another card or method; the AttemptsMax-th decline fails it.
	// 0 keeps the single try: a card decline fails the payment at once,
	// and vouchers that do not cover it are refused without counting.
	AttemptsMax int
	Clock       func() time.Time // nil: time.Now
	IDs         id.Generator
	Logger      *slog.Logger
	// Movements adds what other modules (payouts) book on merchant
	// accounts to reconciliation; nil: none.
	Movements Movements
	// Pricing books fees and availability holds at capture (fees.go);
	// nil: none.
	Pricing Pricing
	// Gate admits each confirmation before it is scored and authorized
	// (package compliance: jurisdiction rules, payer limits); nil: all.
	Gate Gate
	// Credit enables pay_later (package credit); nil: not offered.
	Credit Credit
}

// Service runs the payment lifecycle.
type Service struct {
	cfg   Config
	store Store
	led   Ledger
	now   func() time.Time
	ids   id.Generator
	log   *slog.Logger

	mu       sync.Mutex
	accounts map[string]bool // merchant ledger accounts known to exist
}

// New returns a payment service.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, store: cfg.Store, led: cfg.Ledger, now: cfg.Clock, ids: cfg.IDs,
		log: cfg.Logger, accounts: map[string]bool{}}
}

// Ledger account ids (platform namespace).
func merchantAccount(merchantID string, cur money.Currency) string {
	return "merchant:" + merchantID + ":" + string(cur)
}

// MerchantAccount is the platform ledger account (owner "") of what the
// merchant is owed in cur: the account a method's authorization credits
// and its refunds debit.
func MerchantAccount(merchantID string, cur money.Currency) string {
	return merchantAccount(merchantID, cur)
}

// CreateRequest is what a merchant sends to create a payment.
type CreateRequest struct {
	Amount            money.Amount
	Currency          string
	CaptureMethod     string
	MerchantReference string
	Description       string
	ReturnURL         string
	Locale            string // BCP 47; "" for none
	Metadata          json.RawMessage
	Customer          Customer
}

// loopbackHost reports whether host is localhost or a loopback address:
// the payer's browser is sent to return_url with the payment's id and
// status, which plain http would show to anyone on the payer's network,
// so http is only for a merchant developing on its own machine.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Zone() == "" && a.IsLoopback()
}

func validateCreate(req CreateRequest) (money.Currency, error) {
	if req.Amount <= 0 || req.Amount > AmountMax {
		return "", kassa.Invalid("amount", "amount_invalid", "amount must be a positive integer of minor units, at most %d", AmountMax)
	}
	cur, err := money.ParseCurrency(req.Currency)
	if _, known := cur.Exponent(); err != nil || !known {
		return "", kassa.Invalid("currency", "currency_invalid", "currency must be an ISO 4217 code such as EUR")
	}
	switch req.CaptureMethod {
	case CaptureAutomatic, CaptureManual:
	default:
		return "", kassa.Invalid("capture_method", "capture_method_invalid", "capture_method must be automatic or manual")
	}
	if len(req.MerchantReference) > ReferenceMax || !utf8.ValidString(req.MerchantReference) {
		return "", kassa.Invalid("merchant_reference", "merchant_reference_invalid", "merchant_reference may be at most %d bytes of UTF-8", ReferenceMax)
	}
	if len(req.Description) > DescriptionMax || !utf8.ValidString(req.Description) {
		return "", kassa.Invalid("description", "description_invalid", "description may be at most %d bytes of UTF-8", DescriptionMax)
	}
	if req.ReturnURL != "" {
		u, err := url.Parse(req.ReturnURL)
		if err != nil || len(req.ReturnURL) > ReturnURLMax || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", kassa.Invalid("return_url", "return_url_invalid", "return_url must be an absolute http(s) URL of at most %d bytes", ReturnURLMax)
		}
		if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
			return "", kassa.Invalid("return_url", "return_url_invalid", "return_url must be https; plain http is allowed only for localhost and loopback addresses")
		}
	}
	if req.Locale != "" && !validLocale(req.Locale) {
		return "", kassa.Invalid("locale", "locale_invalid", "locale must be a BCP 47 language tag such as de-AT of at most %d bytes", LocaleMax)
	}
	if len(req.Metadata) > 0 {
		var m map[string]any
		if len(req.Metadata) > MetadataMax || json.Unmarshal(req.Metadata, &m) != nil {
			return "", kassa.Invalid("metadata", "metadata_invalid", "metadata must be a JSON object of at most %d bytes", MetadataMax)
		}
	}
	return cur, nil
}

// validLocale reports whether s is shaped as a BCP 47 tag: a language of
// two or three letters, then subtags of one to eight letters or digits,
// joined by hyphens. The hosted pages choose their language from it;
// which languages they have is theirs to know.
func validLocale(s string) bool {
	if len(s) > LocaleMax {
		return false
	}
	for i, sub := range strings.Split(s, "-") {
		if len(sub) < 1 || len(sub) > 8 || (i == 0 && (len(sub) < 2 || len(sub) > 3)) {
			return false
		}
		for _, c := range sub {
			letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			if !letter && (i == 0 || c < '0' || c > '9') {
				return false
			}
		}
	}
	return true
}

// Create makes a payment waiting for the payer (requires_action).
func (s *Service) Create(ctx context.Context, merchantID string, req CreateRequest) (Payment, error) {
	if merchantID == TopUpMerchant {
		return Payment{}, errPlatformMerchant
	}
	if req.CaptureMethod == "" {
		req.CaptureMethod = CaptureAutomatic
	}
	cur, err := validateCreate(req)
	if err != nil {
		return Payment{}, err
	}
	if req.Customer, err = validateCustomer(req.Customer); err != nil {
		return Payment{}, err
	}
	pid, keyed := s.newID(ctx, "pay")
	now := s.now().UTC()
	p := Payment{
		ID: pid, MerchantID: merchantID, Amount: req.Amount, Currency: cur,
		CaptureMethod: req.CaptureMethod, Status: StatusRequiresAction,
		MerchantReference: req.MerchantReference, Description: req.Description, ReturnURL: req.ReturnURL,
		Locale: req.Locale, Metadata: req.Metadata, ExpiresAt: now.Add(UnpaidTTL), Created: now, Updated: now, Version: 1,
		Customer: req.Customer, Risk: RiskResult{Score: -1},
	}
	p.ClientSecret = p.ID + "_secret_" + s.ids.Random(20)
	ev, err := s.event(p, EventCreated, now)
	if err != nil {
		return Payment{}, err
	}
	if err := s.store.CreatePayment(ctx, p, ev); err != nil {
		// A retry under an Idempotency-Key whose first attempt committed
		// the payment (its stored answer forgotten since, or lost to a
		// crash between COMMIT and the answer) finds it here: the id is
		// derived from the key, so the insert failed. Looking only after
		// a failure spares every create a read.
		if keyed && !errors.Is(err, idempotency.ErrKeyTaken) {
			if prev, gerr := s.store.Payment(ctx, merchantID, pid); gerr == nil {
				return sameCreate(prev, req, cur)
			}
		}
		if d, ok := errors.AsType[*DuplicateError](err); ok {
			return Payment{}, &kassa.Error{Kind: kassa.EConflict, Code: "payment_duplicate", Param: "merchant_reference",
				Message: d.Error() + "; cancel it first or use another reference"}
		}
		return Payment{}, err
	}
	return p, nil
}

// newID returns the id of an object a request creates: random, or, when
// the request runs under an Idempotency-Key (kassa.IdempotencyKey),
// derived from it (keyed), so that a retry of a request whose first
// attempt committed but answered an error finds that object instead of
// creating another.
func (s *Service) newID(ctx context.Context, prefix string) (string, bool) {
	if scope := kassa.IdempotencyKey(ctx); scope != "" {
		return id.Derived(prefix, scope), true
	}
	return s.ids.New(prefix), false
}

// sameCreate answers a retried create with the payment its first attempt
// committed.
func sameCreate(p Payment, req CreateRequest, cur money.Currency) (Payment, error) {
	if p.Amount != req.Amount || p.Currency != cur {
		return Payment{}, kassa.Errorf(kassa.EUnprocessable, "idempotency_key_reused",
			"this Idempotency-Key created payment %s with another amount; use a new key for a new request", p.ID)
	}
	return p, nil
}

// event builds a webhook event carrying the payment's public form.
func (s *Service) event(p Payment, typ string, now time.Time) (webhook.Event, error) {
	data, err := json.Marshal(Public(p))
	if err != nil {
		return webhook.Event{}, err
	}
	return webhook.Event{ID: s.ids.New("evt"), MerchantID: p.MerchantID, Type: typ, Created: now, Data: data}, nil
}

func (s *Service) refundEvent(r Refund, typ string, now time.Time) (webhook.Event, error) {
	data, err := json.Marshal(PublicRefund(r))
	if err != nil {
		return webhook.Event{}, err
	}
	return webhook.Event{ID: s.ids.New("evt"), MerchantID: r.MerchantID, Type: typ, Created: now, Data: data}, nil
}

// Get returns a merchant's payment.
func (s *Service) Get(ctx context.Context, merchantID, id string) (Payment, error) {
	return s.store.Payment(ctx, merchantID, id)
}

// List returns a page of a merchant's payments, newest first.
func (s *Service) List(ctx context.Context, f Filter) ([]Payment, bool, error) {
	if f.Limit < 1 || f.Limit > ListLimitMax {
		return nil, false, kassa.Invalid("limit", "limit_invalid", "limit must be from 1 to %d", ListLimitMax)
	}
	return s.store.Payments(ctx, f)
}

// ListByPayer returns the newest payments (up to limit, 1 to
// ListLimitMax) a payer's Kassa account (cus_...) paid or is paying, at
// any merchant, for the payer's own account page.
func (s *Service) ListByPayer(ctx context.Context, payerID string, limit int) ([]Payment, error) {
	if payerID == "" {
		return nil, kassa.Invalid("payer", "payer_invalid", "payer is required")
	}
	if limit < 1 || limit > ListLimitMax {
		return nil, kassa.Invalid("limit", "limit_invalid", "limit must be from 1 to %d", ListLimitMax)
	}
	return s.store.PaymentsByPayer(ctx, payerID, limit)
}

func stateError(p Payment, want string) error {
	return kassa.Errorf(kassa.EConflict, "payment_unexpected_state", "the payment is %s; %s", p.Status, want)
}

func conflictError(err error) error {
	if errors.Is(err, ErrConflict) {
		return kassa.Errorf(kassa.EConflict, "payment_changed", "the payment changed while this request ran; fetch it and retry")
	}
	return err
}

// ensureAccount creates the merchant's ledger account for the currency
// once per process (creation is idempotent).
func (s *Service) ensureAccount(ctx context.Context, merchantID string, cur money.Currency) error {
	acct := merchantAccount(merchantID, cur)
	s.mu.Lock()
	known := s.accounts[acct]
	s.mu.Unlock()
	if known {
		return nil
	}
	res, err := s.led.CreateAccounts(ctx, "", []ledger.Account{{ID: acct, Currency: cur, Code: 2}})
	if err != nil {
		return fmt.Errorf("merchant ledger account: %w", err)
	}
	if c := res[0].Code; c != ledger.OK && c != ledger.Exists {
		return fmt.Errorf("merchant ledger account %s: %s", acct, c)
	}
	s.mu.Lock()
	s.accounts[acct] = true
	s.mu.Unlock()
	return nil
}

// linkChain marks every transfer but the last as linked.
func linkChain(ts []ledger.Transfer) []ledger.Transfer {
	for i := 0; i < len(ts)-1; i++ {
		ts[i].Flags |= ledger.FlagLinked
	}
	return ts
}

// checkResults turns failed ledger results into an error; accept lets a
// caller tolerate codes (e.g. an already expired pending transfer).
func checkResults(ts []ledger.Transfer, results []ledger.Result, accept ...ledger.ResultCode) error {
	for i, r := range results {
		if r.Code == ledger.OK || r.Code == ledger.LinkedEventFailed {
			continue
		}
		ok := false
		for _, a := range accept {
			ok = ok || r.Code == a
		}
		if !ok {
			return &ledgerRefusal{id: ts[i].ID, code: r.Code, index: i}
		}
	}
	for _, r := range results {
		if r.Code == ledger.LinkedEventFailed {
			return &ledgerRefusal{code: r.Code}
		}
	}
	return nil
}

type ledgerRefusal struct {
	id    string
	code  ledger.ResultCode
	index int
}

func (e *ledgerRefusal) Error() string { return fmt.Sprintf("ledger refused %s: %s", e.id, e.code) }

// captureWindow is the merchant's window, or the default.
func (s *Service) captureWindow(ctx context.Context, merchantID string) (time.Duration, error) {
	d, err := s.store.CaptureWindow(ctx, merchantID)
	if err != nil || d <= 0 {
		return CaptureWindowDefault, err
	}
	return d, nil
}

// SetCaptureWindow sets a merchant's capture window (0: the default).
func (s *Service) SetCaptureWindow(ctx context.Context, merchantID string, d time.Duration) error {
	if d < 0 || d > CaptureWindowMax || (d > 0 && d < time.Minute) {
		return kassa.Invalid("capture_window", "capture_window_invalid", "the capture window must be from 1m to %s", CaptureWindowMax)
	}
	return s.store.SetCaptureWindow(ctx, merchantID, d)
}

func secretOK(p Payment, secret string) bool {
	return subtle.ConstantTimeCompare([]byte(p.ClientSecret), []byte(secret)) == 1
}
