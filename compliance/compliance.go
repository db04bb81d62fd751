// Package compliance enforces the jurisdiction rules of package policy
// and the payer's own limits on deposits at gambling merchants: deposit
// limits per day, week and month (lowered at once, raised after 7 days),
// self-exclusion and cool-off that cannot be shortened, the monthly
// total across merchants a policy asks for, the identity level a deposit
// or withdrawal needs, the minimum age, anonymous vouchers, and the
// self-exclusion registers a jurisdiction requires. The payment
// lifecycle asks it before it authorizes a deposit (Service.Admit), the
// payout engine before money leaves (Service.CheckWithdrawal).
// docs/compliance.md is the operator's and developer's guide.
//
// Package compliance knows no SQL and no HTTP: Store is implemented by
// store/sqlstore, the API and pages are in httpapi and web/account.
package compliance

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/policy"
	"github.com/kassa/kassa/webhook"
)

// Event types.
const (
	EventLimitsUpdated  = "compliance.limits_updated"
	EventSelfExcluded   = "compliance.self_excluded"
	EventCoolOffStarted = "compliance.cool_off_started"
	EventDepositRefused = "compliance.deposit_refused"
)

func init() {
	for _, t := range []string{EventLimitsUpdated, EventSelfExcluded, EventCoolOffStarted, EventDepositRefused} {
		webhook.RegisterEventType(t)
	}
}

// Problem codes of refused deposits and withdrawals.
const (
	CodeDepositLimitReached = "deposit_limit_reached"
	CodeSelfExcluded        = "self_excluded"
	CodeKYCRequired         = "kyc_required"
	CodeAgeRestricted       = "age_restricted"
	CodeMethodNotAllowed    = policy.CodeMethodNotAllowed
	// CodeRegisterUnavailable: a register the jurisdiction requires did
	// not answer; the deposit is refused until it does (503).
	CodeRegisterUnavailable = "self_exclusion_check_unavailable"
)

// Window is one limit a deposit is checked against: the subject's
// deposits in Currency since From, this one included, may not exceed
// Max. Lifts is when the window ends (the next period's start).
type Window struct {
	Subject  string // Subject.Key()
	Currency money.Currency
	From     time.Time
	Lifts    time.Time
	Max      money.Amount
	// Source says whose limit it is: "payer", "merchant", or the
	// policy rule's source.
	Source string
	// Level, when set, makes the window an identity threshold: going
	// over it needs an account of Level (kyc_required), not a later day.
	Level policy.Level
}

// Reservation is a deposit counted against its payer's subjects.
type Reservation struct {
	PaymentID  string
	MerchantID string
	Amount     money.Amount
	Currency   money.Currency
	At         time.Time
	Subjects   []string // Subject.Key() of each subject it counts for
}

// Store is what compliance needs of storage.
type Store interface {
	// Limits returns a subject's stored limits (zero when none).
	Limits(ctx context.Context, s Subject) (Limits, error)
	// UpdateLimits runs fn on the subject's stored limits with the
	// subject locked, and stores what fn returns with its events, in one
	// transaction; fn's error stores nothing and is returned.
	UpdateLimits(ctx context.Context, s Subject, fn func(Limits) (Limits, []webhook.Event, error)) (Limits, error)
	// Reserve checks windows and records r, in one transaction that
	// locks every subject named first: a window whose subject's live
	// deposits (their payment requires action, is authorized or
	// captured; r's own payment excluded) plus r.Amount exceed Max is
	// returned, and nothing is written; else r is recorded for each of
	// r.Subjects (replacing an earlier record of its payment).
	Reserve(ctx context.Context, r Reservation, windows []Window) (*Window, error)
	// Deposited sums a subject's live deposits in cur since from.
	Deposited(ctx context.Context, subject string, cur money.Currency, from time.Time) (money.Amount, error)
	// AppendEvents stores events in the outbox.
	AppendEvents(ctx context.Context, evs []webhook.Event) error
}

// Merchants finds the merchant of a deposit.
type Merchants interface {
	Get(ctx context.Context, id string) (merchant.Merchant, error)
}

// Account is what compliance knows of a payer's Kassa account.
type Account struct {
	ID      string
	Level   policy.Level
	Country string // of the KYC address, "" before KYC
	// BirthDate is the KYC date of birth (zero before KYC).
	BirthDate time.Time
	Person    Person
}

// Accounts finds Kassa accounts: a kassa ENotFound error when none.
type Accounts interface {
	Account(ctx context.Context, customerID string) (Account, error)
}

// Config wires a Service.
type Config struct {
	Store     Store
	Policies  *policy.Set
	Merchants Merchants
	Accounts  Accounts // nil: no Kassa accounts
	// Registers answer by name; a name a policy requires that is not
	// here is unreachable.
	Registers map[string]SelfExclusionRegister
	Clock     func() time.Time // nil: time.Now
	IDs       id.Generator
	Logger    *slog.Logger
}

// Service enforces the rules.
type Service struct {
	cfg Config
	now func() time.Time
	log *slog.Logger

	// merchants caches merchants' profiles (category, licence country)
	// for merchantCacheTTL: every confirmation asks the gate.
	mu        sync.Mutex
	merchants map[string]cachedMerchant
}

type cachedMerchant struct {
	m       merchant.Merchant
	expires time.Time
}

// Merchant profile cache: a changed category or licence country (kassa
// merchants profile) binds within merchantCacheTTL.
const (
	merchantCacheTTL = 5 * time.Second
	merchantCacheMax = 10_000
)

// merchant returns a merchant's profile, cached.
func (s *Service) merchant(ctx context.Context, id string) (merchant.Merchant, error) {
	now := s.now()
	s.mu.Lock()
	c, ok := s.merchants[id]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.m, nil
	}
	m, err := s.cfg.Merchants.Get(ctx, id)
	if err != nil {
		return m, err
	}
	s.mu.Lock()
	if len(s.merchants) >= merchantCacheMax {
		clear(s.merchants)
	}
	s.merchants[id] = cachedMerchant{m: m, expires: now.Add(merchantCacheTTL)}
	s.mu.Unlock()
	return m, nil
}

// New returns a service.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Policies == nil {
		cfg.Policies = policy.Defaults()
	}
	return &Service{cfg: cfg, now: cfg.Clock, log: cfg.Logger, merchants: map[string]cachedMerchant{}}
}

// Zone is the calendar of a subject's limits: a Kassa account's is its
// residence's (the KYC address; UTC before KYC), a merchant's customer's
// is the merchant's licence country's. A deposit's windows follow the
// deposit's rules instead (the residence's zone, else the licence's),
// which differ from these only when the two countries' zones differ.
func (s *Service) Zone(ctx context.Context, sub Subject) *time.Location {
	if sub.MerchantID != "" {
		m, err := s.merchant(ctx, sub.MerchantID)
		if err != nil {
			return time.UTC
		}
		return s.cfg.Policies.For(m.Country, "").Location()
	}
	if s.cfg.Accounts == nil {
		return time.UTC
	}
	a, err := s.cfg.Accounts.Account(ctx, sub.CustomerID)
	if err != nil {
		return time.UTC
	}
	return s.cfg.Policies.For("", a.Country).Location()
}

// Policies are the loaded jurisdiction policies.
func (s *Service) Policies() *policy.Set { return s.cfg.Policies }

// Limits returns a subject's limits as they stand now.
func (s *Service) Limits(ctx context.Context, sub Subject) (Limits, error) {
	if err := validSubject(sub); err != nil {
		return Limits{}, err
	}
	l, err := s.cfg.Store.Limits(ctx, sub)
	if err != nil {
		return Limits{}, err
	}
	l.Subject = sub
	return l.At(s.now().UTC()), nil
}

// Used sums what sub deposited in each period of its limits now, on
// the calendar of the subject's jurisdiction (Zone).
func (s *Service) Used(ctx context.Context, l Limits) (map[Period]money.Amount, error) {
	now := s.now().In(s.Zone(ctx, l.Subject))
	out := map[Period]money.Amount{}
	for p, lim := range l.Deposit {
		sum, err := s.cfg.Store.Deposited(ctx, l.Subject.Key(), lim.Currency, p.Start(now))
		if err != nil {
			return nil, err
		}
		out[p] = sum
	}
	return out, nil
}

// SetLimits changes a subject's limits (see SetRequest and apply) and
// returns them as they stand. A merchant's customer's changes go to the
// merchant as events; a Kassa account's own stay with Kassa. Errors:
// kassa EInvalid (limit_invalid, currency_invalid,
// self_exclusion_period_invalid, self_exclusion_cannot_be_shortened,
// cool_off_invalid, cool_off_cannot_be_shortened, customer_invalid).
func (s *Service) SetLimits(ctx context.Context, sub Subject, req SetRequest) (Limits, error) {
	if err := validSubject(sub); err != nil {
		return Limits{}, err
	}
	for p, l := range req.Deposit {
		if !p.valid() {
			return Limits{}, kassa.Invalid("deposit", "limit_period_invalid", "deposit limits are per day, week or month")
		}
		if l != nil {
			if err := validLimit(p, *l); err != nil {
				return Limits{}, err
			}
		}
	}
	now := s.now().UTC()
	l, err := s.cfg.Store.UpdateLimits(ctx, sub, func(cur Limits) (Limits, []webhook.Event, error) {
		cur.Subject = sub
		next, ch, err := apply(cur, req, now)
		if err != nil || !ch.any() || sub.MerchantID == "" {
			return next, nil, err
		}
		evs, err := s.limitEvents(next, ch, now)
		return next, evs, err
	})
	if err != nil {
		return Limits{}, err
	}
	l.Subject = sub
	return l.At(now), nil
}

func validSubject(sub Subject) error {
	if sub.CustomerID == "" || len(sub.CustomerID) > CustomerIDMax {
		return kassa.Invalid("customer", "customer_invalid", "the customer id must be 1 to %d bytes", CustomerIDMax)
	}
	for _, c := range []byte(sub.CustomerID) {
		if c < 0x21 || c > 0x7e {
			return kassa.Invalid("customer", "customer_invalid", "the customer id must be printable ASCII without spaces")
		}
	}
	if sub.MerchantID == "" && !id.HasPrefix(sub.CustomerID, "cus") {
		return kassa.Invalid("customer", "customer_invalid", "a Kassa account's id starts with cus_")
	}
	return nil
}

// LimitsJSON is the public form of limits (API, events).
type LimitsJSON struct {
	Object        string                  `json:"object"`
	Customer      string                  `json:"customer"`
	Deposit       map[Period]Limit        `json:"deposit"`
	Pending       map[Period]PendingJSON  `json:"pending"`
	SelfExclusion *ExclusionJSON          `json:"self_exclusion"`
	CoolOff       *CoolOffJSON            `json:"cool_off"`
	Used          map[Period]money.Amount `json:"used,omitempty"`
}

// PendingJSON is a raise waiting for effective_at; amount and currency
// are absent when the limit is being removed.
type PendingJSON struct {
	Amount      *money.Amount  `json:"amount"`
	Currency    money.Currency `json:"currency,omitempty"`
	Remove      bool           `json:"remove,omitempty"`
	EffectiveAt time.Time      `json:"effective_at"`
}

// ExclusionJSON is a self-exclusion in force.
type ExclusionJSON struct {
	Since      time.Time  `json:"since"`
	Until      *time.Time `json:"until"` // null: indefinite
	Indefinite bool       `json:"indefinite"`
}

// CoolOffJSON is a cool-off in force.
type CoolOffJSON struct {
	Until time.Time `json:"until"`
}

// Public is l's public form at now.
func Public(l Limits, now time.Time) LimitsJSON {
	l = l.At(now)
	out := LimitsJSON{Object: "limits", Customer: l.Subject.CustomerID, Deposit: map[Period]Limit{}, Pending: map[Period]PendingJSON{}}
	for p, v := range l.Deposit {
		out.Deposit[p] = v
	}
	for p, c := range l.Pending {
		pj := PendingJSON{Currency: c.Currency, Remove: c.Remove, EffectiveAt: c.EffectiveAt}
		if !c.Remove {
			a := c.Amount
			pj.Amount = &a
		}
		out.Pending[p] = pj
	}
	if barred, until, coolOff := (Limits{Indefinite: l.Indefinite, ExcludedUntil: l.ExcludedUntil}).Excluded(now); barred && !coolOff {
		e := &ExclusionJSON{Since: l.ExcludedAt, Indefinite: l.Indefinite}
		if !l.Indefinite {
			e.Until = &until
		}
		out.SelfExclusion = e
	}
	if now.Before(l.CoolOffUntil) {
		out.CoolOff = &CoolOffJSON{Until: l.CoolOffUntil}
	}
	return out
}

func (s *Service) limitEvents(l Limits, ch changes, now time.Time) ([]webhook.Event, error) {
	data, err := json.Marshal(Public(l, now))
	if err != nil {
		return nil, err
	}
	var evs []webhook.Event
	add := func(typ string) {
		evs = append(evs, webhook.Event{ID: s.cfg.IDs.New("evt"), MerchantID: l.Subject.MerchantID, Type: typ, Created: now, Data: data})
	}
	if ch.lowered || ch.pending {
		add(EventLimitsUpdated)
	}
	if ch.excluded {
		add(EventSelfExcluded)
	}
	if ch.coolOff {
		add(EventCoolOffStarted)
	}
	return evs, nil
}

// refusal is a refused deposit or withdrawal: a kassa EUnprocessable
// error with the code, a message for the payer, and the date it lifts
// (Details lifts_at) when there is one.
func refusal(code, param, msg string, lifts time.Time, details map[string]any) *kassa.Error {
	if details == nil {
		details = map[string]any{}
	}
	if !lifts.IsZero() {
		details["lifts_at"] = lifts.UTC().Format(time.RFC3339)
	}
	return &kassa.Error{Kind: kassa.EUnprocessable, Code: code, Param: param, Message: msg, Details: details}
}

// LiftsAt reads the date a refusal lifts (zero: none said).
func LiftsAt(e *kassa.Error) time.Time {
	if e == nil {
		return time.Time{}
	}
	s, _ := e.Details["lifts_at"].(string)
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

// Public is l's public form at the service's clock.
func (s *Service) Public(l Limits) LimitsJSON { return Public(l, s.now().UTC()) }
