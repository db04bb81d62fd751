package business

import (
	"context"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
)

// MethodDefault is the pricing row that applies to every method without
// its own.
const MethodDefault = "default"

// Pricing is a merchant's fee for one method (or MethodDefault) and
// currency ("" any): PercentBps/10,000 of the captured amount, rounded
// half up to the minor unit, plus Fixed; never more than the amount.
type Pricing struct {
	MerchantID string
	Method     string
	Currency   money.Currency // "" any
	PercentBps int64
	Fixed      money.Amount
	Updated    time.Time
}

// Fee is the fee on amount.
func (p Pricing) Fee(amount money.Amount) money.Amount {
	if amount <= 0 {
		return 0
	}
	// amount ≤ 2^63/10^4 is far above any payment's (AmountMax), so the
	// product cannot overflow; checked anyway.
	prod, ok := mulCheck(int64(amount), p.PercentBps)
	if !ok {
		return amount
	}
	fee := money.Amount((prod+5_000)/10_000) + p.Fixed
	return min(max(fee, 0), amount)
}

func mulCheck(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	c := a * b
	return c, c/b == a
}

// Settings are a merchant's availability delay, bank account and
// settlement schedule.
type Settings struct {
	MerchantID     string
	Delay          time.Duration // captured → available
	IBAN           string
	AccountHolder  string
	BankVerified   time.Time // zero: no verified bank account
	Schedule       string    // manual, daily, weekly, monthly
	Anchor         int       // weekly: 1..7 (Monday = 1); monthly: 1..31
	SettledThrough time.Time // the last scheduled day settled (00:00 UTC)
	Updated        time.Time
}

// Schedules.
const (
	ScheduleManual  = "manual"
	ScheduleDaily   = "daily"
	ScheduleWeekly  = "weekly"
	ScheduleMonthly = "monthly"
)

// SetPricing stores a merchant's pricing for a method and currency.
func (s *Service) SetPricing(ctx context.Context, p Pricing) error {
	if _, ok := payment.LookupMethod(p.Method); !ok && p.Method != MethodDefault {
		return kassa.Invalid("method", "method_invalid", "method must be %q or a payment method (%v)", MethodDefault, payment.MethodNames())
	}
	if p.Currency != "" {
		if _, known := p.Currency.Exponent(); !known {
			return kassa.Invalid("currency", "currency_invalid", "currency must be an ISO 4217 code such as EUR, or empty for any")
		}
	}
	if p.PercentBps < 0 || p.PercentBps > PercentBpsMax {
		return kassa.Invalid("percent_bps", "percent_invalid", "percent must be from 0 to %d basis points", PercentBpsMax)
	}
	if p.Fixed < 0 || p.Fixed > FixedMax {
		return kassa.Invalid("fixed", "fixed_invalid", "fixed must be from 0 to %d minor units", FixedMax)
	}
	p.Updated = s.now().UTC()
	if err := s.store.SetPricing(ctx, p, PricingPerMax); err != nil {
		return err
	}
	s.forget(p.MerchantID)
	return nil
}

// DeletePricing removes one pricing row.
func (s *Service) DeletePricing(ctx context.Context, merchantID, method string, cur money.Currency) error {
	if err := s.store.DeletePricing(ctx, merchantID, method, cur); err != nil {
		return err
	}
	s.forget(merchantID)
	return nil
}

// PricingOf lists a merchant's pricing rows.
func (s *Service) PricingOf(ctx context.Context, merchantID string) ([]Pricing, error) {
	return s.store.Pricing(ctx, merchantID)
}

// Settings returns a merchant's settings (the defaults when none stored:
// no delay, manual settlements, no bank account).
func (s *Service) Settings(ctx context.Context, merchantID string) (Settings, error) {
	st, err := s.store.Settings(ctx, merchantID)
	if err != nil {
		return Settings{}, err
	}
	if st.Schedule == "" {
		st = Settings{MerchantID: merchantID, Schedule: ScheduleManual}
	}
	return st, nil
}

// SetDelay sets a merchant's availability delay.
func (s *Service) SetDelay(ctx context.Context, merchantID string, d time.Duration) error {
	if d < 0 || d > DelayMax || d%time.Second != 0 {
		return kassa.Invalid("delay", "delay_invalid", "the availability delay must be whole seconds from 0 to %s", DelayMax)
	}
	return s.update(ctx, merchantID, func(st *Settings) { st.Delay = d })
}

func (s *Service) update(ctx context.Context, merchantID string, fn func(*Settings)) error {
	st, err := s.Settings(ctx, merchantID)
	if err != nil {
		return err
	}
	fn(&st)
	st.MerchantID, st.Updated = merchantID, s.now().UTC()
	if err := s.store.SetSettings(ctx, st); err != nil {
		return err
	}
	s.forget(merchantID)
	return nil
}

func (s *Service) forget(merchantID string) {
	s.mu.Lock()
	delete(s.terms, merchantID)
	s.mu.Unlock()
}

// Terms answers a capture (payment.Pricing): the most specific pricing
// row's fee — method and currency, method, default and currency, default
// — and the merchant's delay, from memory for TermsTTL.
func (s *Service) Terms(ctx context.Context, merchantID, method string, cur money.Currency, amount money.Amount) (payment.Terms, error) {
	e, err := s.termsOf(ctx, merchantID)
	if err != nil {
		return payment.Terms{}, err
	}
	var best *Pricing
	rank := 0
	for i := range e.pricing {
		p := &e.pricing[i]
		r := 0
		switch {
		case p.Method == method && p.Currency == cur:
			r = 4
		case p.Method == method && p.Currency == "":
			r = 3
		case p.Method == MethodDefault && p.Currency == cur:
			r = 2
		case p.Method == MethodDefault && p.Currency == "":
			r = 1
		}
		if r > rank {
			best, rank = p, r
		}
	}
	t := payment.Terms{Delay: e.settings.Delay}
	if best != nil {
		t.Fee = best.Fee(amount)
	}
	return t, nil
}

const termsCacheMax = 10_000

func (s *Service) termsOf(ctx context.Context, merchantID string) (termsEntry, error) {
	now := time.Now()
	s.mu.Lock()
	e, ok := s.terms[merchantID]
	s.mu.Unlock()
	if ok && now.Sub(e.read) < s.cfg.TermsTTL {
		return e, nil
	}
	ps, err := s.store.Pricing(ctx, merchantID)
	if err != nil {
		return termsEntry{}, err
	}
	st, err := s.store.Settings(ctx, merchantID)
	if err != nil {
		return termsEntry{}, err
	}
	e = termsEntry{pricing: ps, settings: st, read: now}
	s.mu.Lock()
	if len(s.terms) >= termsCacheMax {
		clear(s.terms)
	}
	s.terms[merchantID] = e
	s.mu.Unlock()
	return e, nil
}

// RecordChargeTx stores what a capture booked (payment.Pricing).
func (s *Service) RecordChargeTx(ctx context.Context, tx ledger.Tx, c payment.Charge) error {
	return s.store.RecordChargeTx(ctx, tx, c)
}

// Movements tells payment reconciliation what captures booked on merchant
// accounts beside the payments' own transfers: fees left the posted
// balance; holds not yet released are pending debits. A hold whose
// available_on passed within the last minute is asked of the ledger (its
// release may not be written yet).
func (s *Service) Movements(ctx context.Context) (map[string]payment.Movement, error) {
	return s.store.ChargeMovements(ctx, s.now().UTC())
}
