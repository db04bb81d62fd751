package voucher

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/money"
)

// Limits of issuing.
const (
	IssueCountMax = 1000
	// AmountMaxDefault is the default largest face value, in minor units
	// (10,000.00 in a currency with two decimals). Config.AmountMax
	// overrides it.
	AmountMaxDefault money.Amount = 1_000_000
	// ValidityDefault is how long a voucher is valid when Issue is given
	// no expiry; ValidityMax the longest expiry Issue accepts.
	ValidityDefault = 3 * 365 * 24 * time.Hour
	ValidityMax     = 10 * 365 * 24 * time.Hour
	// PINKeyLengthMin is the shortest Config.PINKey accepted.
	PINKeyLengthMin = 32
	// issueAttemptsMax bounds regenerating a batch whose serial or PIN
	// collided with a stored one; ledgerAttemptsMax bounds retrying a ledger
	// call whose outcome is unknown (its ids make retries safe).
	issueAttemptsMax  = 3
	ledgerAttemptsMax = 3
	// expireBatchMax is how many vouchers ExpireDue handles per store call;
	// expireBatchesMax bounds the calls of one ExpireDue.
	expireBatchMax   = 500
	expireBatchesMax = 100
)

// Config configures a Service.
type Config struct {
	Store  Store  // required
	Ledger Ledger // required
	// PINKey is the HMAC-SHA256 key PINs are stored and looked up under,
	// at least PINKeyLengthMin bytes. Required. Every node must use the
	// same key, and changing it makes every issued PIN unknown.
	PINKey []byte
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Rand is the source of PINs, serials and ids; nil means crypto/rand.
	// Tests may inject another; production must not.
	Rand io.Reader
	// Logger gets operating errors (never a PIN); nil discards.
	Logger *slog.Logger
	// AmountMax is the largest face value Issue accepts; zero means
	// AmountMaxDefault.
	AmountMax money.Amount
	// Limits on failed PIN attempts; zero fields take DefaultLimits'.
	Limits Limits
}

// Service issues vouchers, resolves PINs and keeps statuses current.
type Service struct {
	cfg    Config
	store  Store
	ledger Ledger
	now    func() time.Time
	rand   io.Reader
	ids    id.Generator
	log    *slog.Logger
}

// New checks cfg and returns a service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("voucher: Config.Store is required")
	case cfg.Ledger == nil:
		return nil, errors.New("voucher: Config.Ledger is required")
	case len(cfg.PINKey) < PINKeyLengthMin:
		return nil, fmt.Errorf("voucher: Config.PINKey must be at least %d bytes", PINKeyLengthMin)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AmountMax <= 0 {
		cfg.AmountMax = AmountMaxDefault
	}
	cfg.Limits = cfg.Limits.withDefaults()
	cfg.PINKey = append([]byte(nil), cfg.PINKey...)
	return &Service{
		cfg: cfg, store: cfg.Store, ledger: cfg.Ledger, now: cfg.Clock, rand: cfg.Rand,
		ids: id.Generator{Rand: cfg.Rand}, log: cfg.Logger,
	}, nil
}

// GenerateKey returns a fresh random PINKey.
func GenerateKey() []byte {
	k := make([]byte, PINKeyLengthMin)
	rand.Read(k)
	return k
}

// AllowIssuing makes a merchant a distributor: its secret keys may issue
// vouchers. It is idempotent.
func (s *Service) AllowIssuing(ctx context.Context, merchantID string) error {
	return s.store.AllowIssuing(ctx, merchantID, s.now().UTC())
}

// DisallowIssuing stops a merchant from issuing; its vouchers stay valid.
func (s *Service) DisallowIssuing(ctx context.Context, merchantID string) error {
	return s.store.DisallowIssuing(ctx, merchantID)
}

// IssueRequest asks for Count vouchers of Amount each.
type IssueRequest struct {
	Count     int            // 1..IssueCountMax
	Amount    money.Amount   // > 0, <= Config.AmountMax
	Currency  money.Currency // ISO 4217, one Kassa knows the exponent of
	ExpiresAt time.Time      // zero: now + ValidityDefault; else in (now, now+ValidityMax]
	IssuedBy  string         // the distributor merchant
}

// ParseExpiry reads an expiry as the API and the CLI take it: an RFC 3339
// time, or a date YYYY-MM-DD meaning "valid through that day" (UTC), so
// the voucher expires at the start of the next day. Empty gives the zero
// time (Issue's default validity). Error: kassa EInvalid expires_invalid.
func ParseExpiry(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.AddDate(0, 0, 1), nil
	}
	return time.Time{}, kassa.Invalid("expires", "expires_invalid", "expires must be an RFC 3339 time or a date (YYYY-MM-DD)")
}

func (s *Service) validate(req IssueRequest, now time.Time) (IssueRequest, error) {
	if req.Count < 1 || req.Count > IssueCountMax {
		return req, kassa.Invalid("count", "count_invalid", "count must be from 1 to %d", IssueCountMax)
	}
	if req.Amount <= 0 || req.Amount > s.cfg.AmountMax {
		return req, kassa.Invalid("amount", "amount_invalid", "amount must be from 1 to %d minor units", s.cfg.AmountMax)
	}
	if _, known := req.Currency.Exponent(); !req.Currency.Valid() || !known {
		return req, kassa.Invalid("currency", "currency_invalid", "currency must be an ISO 4217 code Kassa knows")
	}
	if req.ExpiresAt.IsZero() {
		req.ExpiresAt = now.Add(ValidityDefault)
	}
	req.ExpiresAt = req.ExpiresAt.UTC().Truncate(time.Second)
	if !req.ExpiresAt.After(now) || req.ExpiresAt.After(now.Add(ValidityMax)) {
		return req, kassa.Invalid("expires", "expires_invalid", "expires must be in the future and at most %d years ahead",
			int(ValidityMax/(365*24*time.Hour)))
	}
	if req.IssuedBy == "" {
		return req, errors.New("voucher: IssueRequest.IssuedBy is required")
	}
	return req, nil
}

// Issue creates and funds req.Count vouchers and returns them with their
// PINs — the only time the PINs are known; show them to the distributor
// and forget them. Errors: kassa EInvalid (count_invalid, amount_invalid,
// currency_invalid, expires_invalid), EForbidden voucher_issuing_not_allowed
// when req.IssuedBy is no distributor.
//
// The vouchers are stored first, then funded in the ledger. If funding
// fails they are invalidated (their PINs were never shown, so nobody can
// use them) and the error is returned.
func (s *Service) Issue(ctx context.Context, req IssueRequest) ([]Issued, error) {
	now := s.now().UTC()
	req, err := s.validate(req, now)
	if err != nil {
		return nil, err
	}
	ok, err := s.store.IssuingAllowed(ctx, req.IssuedBy)
	if err != nil {
		return nil, fmt.Errorf("voucher: issuing allowed: %w", err)
	}
	if !ok {
		return nil, kassa.Errorf(kassa.EForbidden, CodeIssuingNotAllowed,
			"this merchant may not issue vouchers; an operator can allow it with 'kassa vouchers allow'")
	}
	var out []Issued
	for attempt := 1; ; attempt++ {
		var nvs []NewVoucher
		out, nvs = s.generate(req, now)
		err = s.store.CreateVouchers(ctx, nvs)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrDuplicate) || attempt == issueAttemptsMax {
			return nil, fmt.Errorf("voucher: store vouchers: %w", err)
		}
	}
	if err := s.fund(ctx, req.Currency, out); err != nil {
		s.discard(ctx, out)
		return nil, fmt.Errorf("voucher: fund vouchers: %w", err)
	}
	for i := range out {
		out[i].Balance = out[i].Amount
	}
	return out, nil
}

func (s *Service) generate(req IssueRequest, now time.Time) ([]Issued, []NewVoucher) {
	out := make([]Issued, req.Count)
	nvs := make([]NewVoucher, req.Count)
	for i := range out {
		v := Voucher{
			ID: s.ids.New("vch"), Serial: id.Digits(s.rand, SerialLength), IssuedBy: req.IssuedBy,
			Amount: req.Amount, Currency: req.Currency, Status: StatusActive,
			Created: now, ExpiresAt: req.ExpiresAt, Updated: now,
		}
		pin := id.Digits(s.rand, PINLength)
		out[i] = Issued{Voucher: v, PIN: pin}
		nvs[i] = NewVoucher{Voucher: v, PINHash: pinHash(s.cfg.PINKey, pin)}
	}
	return out, nvs
}

// discard invalidates vouchers whose funding failed. It is best effort:
// nobody knows their PINs, so a voucher left active is unusable anyway
// (it has no balance).
func (s *Service) discard(ctx context.Context, vs []Issued) {
	ctx = context.WithoutCancel(ctx)
	for _, v := range vs {
		_, _, err := s.store.SetStatus(ctx, v.Serial, []Status{StatusActive}, StatusInvalidated, s.now().UTC(), nil)
		if err != nil {
			s.log.ErrorContext(ctx, "invalidate unfunded voucher", "serial", v.Serial, "err", err)
		}
	}
}

// Get returns the voucher serial of the distributor merchantID with its
// balance, or kassa ENotFound voucher_not_found (also for another
// distributor's voucher).
func (s *Service) Get(ctx context.Context, merchantID, serial string) (Voucher, error) {
	v, err := s.own(ctx, merchantID, serial)
	if err != nil {
		return v, err
	}
	return s.withBalance(ctx, v)
}

func (s *Service) own(ctx context.Context, merchantID, serial string) (Voucher, error) {
	if !ValidSerial(serial) {
		return Voucher{}, errNotFound
	}
	v, err := s.store.VoucherBySerial(ctx, serial)
	if errors.Is(err, ErrNotFound) || (err == nil && v.IssuedBy != merchantID) {
		return Voucher{}, errNotFound
	} else if err != nil {
		return v, fmt.Errorf("voucher: get %s: %w", serial, err)
	}
	return v, nil
}

// withBalance reads the voucher's balance from the ledger and reports the
// status it has now (expired once past its expiry).
func (s *Service) withBalance(ctx context.Context, v Voucher) (Voucher, error) {
	a, err := s.account(ctx, v.Serial)
	if err != nil {
		return v, err
	}
	v.Balance = available(a)
	v.Status = v.statusAt(s.now())
	return v, nil
}

// Lock blocks the voucher for payments (active → locked) and publishes
// voucher.locked. Locking a locked voucher changes nothing. Errors: kassa
// ENotFound voucher_not_found, EConflict voucher_status_conflict when the
// voucher is depleted, expired or invalidated.
func (s *Service) Lock(ctx context.Context, merchantID, serial string) (Voucher, error) {
	return s.transition(ctx, merchantID, serial, StatusLocked, []Status{StatusActive}, EventLocked)
}

// Unlock makes a locked voucher active again and publishes
// voucher.unlocked; an active voucher stays as it is. Errors as for Lock.
func (s *Service) Unlock(ctx context.Context, merchantID, serial string) (Voucher, error) {
	return s.transition(ctx, merchantID, serial, StatusActive, []Status{StatusLocked}, EventUnlocked)
}

func (s *Service) transition(ctx context.Context, merchantID, serial string, to Status, from []Status, event string) (Voucher, error) {
	v, err := s.own(ctx, merchantID, serial)
	if err != nil {
		return v, err
	}
	now := s.now().UTC()
	if st := v.statusAt(now); st == StatusExpired && v.Status != StatusExpired {
		// Record the expiry the sweep has not got to yet.
		if _, err := s.expire(ctx, v, now); err != nil {
			return v, err
		}
		v.Status = StatusExpired
	}
	if v.Status != to {
		nv, changed, err := s.store.SetStatus(ctx, serial, from, to, now, s.voucherEvent(event))
		if err != nil {
			return v, fmt.Errorf("voucher: set status of %s: %w", serial, err)
		}
		if !changed {
			return nv, kassa.Errorf(kassa.EConflict, CodeStatusConflict, "the voucher is %s", nv.Status)
		}
		v = nv
	}
	return s.withBalance(ctx, v)
}

// Invalidate withdraws the voucher for good (any status → invalidated),
// publishes voucher.invalidated and moves its remaining balance back to
// the float with the transfer invalidate:<serial>. Invalidating an
// invalidated voucher retries that transfer if it did not happen. Errors:
// kassa ENotFound voucher_not_found.
func (s *Service) Invalidate(ctx context.Context, merchantID, serial string) (Voucher, error) {
	v, err := s.own(ctx, merchantID, serial)
	if err != nil {
		return v, err
	}
	if v.Status != StatusInvalidated {
		from := []Status{StatusActive, StatusLocked, StatusDepleted, StatusExpired}
		nv, changed, err := s.store.SetStatus(ctx, serial, from, StatusInvalidated, s.now().UTC(), s.voucherEvent(EventInvalidated))
		if err != nil {
			return v, fmt.Errorf("voucher: invalidate %s: %w", serial, err)
		}
		if !changed && nv.Status != StatusInvalidated {
			return nv, kassa.Errorf(kassa.EConflict, CodeStatusConflict, "the voucher is %s", nv.Status)
		}
		v = nv
	}
	// The status changed first, so no new payment can reserve from the
	// voucher while its balance goes back.
	if err := s.returnBalance(ctx, v); err != nil {
		return v, err
	}
	return s.withBalance(ctx, v)
}

// voucherEvent makes the event of a status change, for the distributor.
func (s *Service) voucherEvent(typ string) func(Voucher) (Event, error) {
	return func(v Voucher) (Event, error) {
		return s.newEvent(v.IssuedBy, typ, eventData(v))
	}
}

func (s *Service) newEvent(merchantID, typ string, data any) (Event, error) {
	raw, err := marshal(data)
	if err != nil {
		return Event{}, err
	}
	return Event{ID: s.ids.New("evt"), MerchantID: merchantID, Type: typ, Created: s.now().UTC(), Data: raw}, nil
}

// VoucherData is the data of voucher.* status events.
type VoucherData struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Serial   string `json:"serial"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Status   string `json:"status"`
	Expires  string `json:"expires"`
	Created  string `json:"created"`
}

func eventData(v Voucher) VoucherData {
	return VoucherData{
		ID: v.ID, Object: "voucher", Serial: v.Serial, Amount: int64(v.Amount), Currency: string(v.Currency),
		Status: string(v.Status), Expires: v.ExpiresAt.UTC().Format(time.RFC3339), Created: v.Created.UTC().Format(time.RFC3339),
	}
}

// Refresh brings the voucher's status in line with its balance and clock,
// for the payments code to call after a capture, void or refund: an active
// voucher with nothing available and nothing reserved becomes depleted
// (voucher.depleted); a depleted one with balance again becomes active
// (voucher.reactivated); an active or locked one past its expiry becomes
// expired (voucher.expired). It returns the voucher with its balance.
func (s *Service) Refresh(ctx context.Context, serial string) (Voucher, error) {
	if !ValidSerial(serial) {
		return Voucher{}, errNotFound
	}
	v, err := s.store.VoucherBySerial(ctx, serial)
	if errors.Is(err, ErrNotFound) {
		return v, errNotFound
	} else if err != nil {
		return v, fmt.Errorf("voucher: refresh %s: %w", serial, err)
	}
	now := s.now().UTC()
	if v.statusAt(now) == StatusExpired && v.Status != StatusExpired {
		if v, err = s.expire(ctx, v, now); err != nil {
			return v, err
		}
		return s.withBalance(ctx, v)
	}
	a, err := s.account(ctx, serial)
	if err != nil {
		return v, err
	}
	switch bal := available(a); {
	case v.Status == StatusActive && bal == 0 && a.DebitsPending == 0:
		v, _, err = s.store.SetStatus(ctx, serial, []Status{StatusActive}, StatusDepleted, now, s.voucherEvent(EventDepleted))
	case v.Status == StatusDepleted && bal > 0:
		v, _, err = s.store.SetStatus(ctx, serial, []Status{StatusDepleted}, StatusActive, now, s.voucherEvent(EventReactivated))
	}
	if err != nil {
		return v, fmt.Errorf("voucher: refresh %s: %w", serial, err)
	}
	v.Balance = available(a)
	return v, nil
}

func (s *Service) expire(ctx context.Context, v Voucher, now time.Time) (Voucher, error) {
	nv, _, err := s.expireChanged(ctx, v, now)
	return nv, err
}

// expireChanged expires v and reports whether this call changed it.
func (s *Service) expireChanged(ctx context.Context, v Voucher, now time.Time) (Voucher, bool, error) {
	nv, changed, err := s.store.SetStatus(ctx, v.Serial, []Status{StatusActive, StatusLocked}, StatusExpired, now, s.voucherEvent(EventExpired))
	if err != nil {
		return v, false, fmt.Errorf("voucher: expire %s: %w", v.Serial, err)
	}
	return nv, changed, nil
}

// ExpireDue marks active and locked vouchers past their expiry expired,
// publishing voucher.expired for each, and returns how many it marked
// (another process sweeping at once marks the others). The
// balance stays on the voucher's account (Invalidate returns it). Run it
// periodically (Run does).
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	n := 0
	for range expireBatchesMax {
		now := s.now().UTC()
		vs, err := s.store.ExpiringVouchers(ctx, now, expireBatchMax)
		if err != nil {
			return n, fmt.Errorf("voucher: expiring vouchers: %w", err)
		}
		for _, v := range vs {
			_, changed, err := s.expireChanged(ctx, v, now)
			if err != nil {
				return n, err
			}
			if changed {
				n++
			}
		}
		if len(vs) < expireBatchMax {
			break
		}
	}
	return n, nil
}

// Run calls ExpireDue and PruneAttempts every interval until ctx ends.
// Several processes may run it at once.
func (s *Service) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.ExpireDue(ctx); err != nil {
			s.log.ErrorContext(ctx, "expire vouchers", "err", err)
		} else if n > 0 {
			s.log.InfoContext(ctx, "vouchers expired", "count", n)
		}
		if _, err := s.PruneAttempts(ctx); err != nil {
			s.log.ErrorContext(ctx, "prune voucher PIN attempts", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
