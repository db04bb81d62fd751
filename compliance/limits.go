package compliance

import (
	"fmt"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/money"
)

// Period of a deposit limit: calendar day, ISO week (from Monday) or
// calendar month, in UTC.
type Period string

const (
	Day   Period = "day"
	Week  Period = "week"
	Month Period = "month"
)

// Periods lists the periods, shortest first.
var Periods = []Period{Day, Week, Month}

// Start is the start of the period that holds t on the calendar of t's
// location (a jurisdiction's day starts at its own midnight: pass
// t.In(rules.Location())).
func (p Period) Start(t time.Time) time.Time {
	loc := t.Location()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	switch p {
	case Week:
		return time.Date(t.Year(), t.Month(), t.Day()-((int(day.Weekday())+6)%7), 0, 0, 0, 0, loc)
	case Month:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
	}
	return day
}

// End is the start of the next period after the one that holds t: when
// a limit the period reached lifts.
func (p Period) End(t time.Time) time.Time {
	s := p.Start(t)
	switch p {
	case Week:
		return time.Date(s.Year(), s.Month(), s.Day()+7, 0, 0, 0, 0, s.Location())
	case Month:
		return time.Date(s.Year(), s.Month()+1, 1, 0, 0, 0, 0, s.Location())
	}
	return time.Date(s.Year(), s.Month(), s.Day()+1, 0, 0, 0, 0, s.Location())
}

func (p Period) valid() bool { return p == Day || p == Week || p == Month }

// Rules of the payer's own limits.
const (
	// RaiseDelay is how long a raised (or removed) limit waits before it
	// takes effect; a lowered one takes effect at once.
	RaiseDelay = 7 * 24 * time.Hour
	// CoolOffMin and CoolOffMax bound a cool-off.
	CoolOffMin = 24 * time.Hour
	CoolOffMax = 6 * 7 * 24 * time.Hour
	// LimitAmountMax bounds a limit, in minor units.
	LimitAmountMax = money.Amount(1_000_000_000_00)
	// CustomerIDMax bounds a merchant's customer id.
	CustomerIDMax = 255
)

// Self-exclusion periods.
const (
	Exclude6Months    = "6m"
	Exclude1Year      = "1y"
	Exclude5Years     = "5y"
	ExcludeIndefinite = "indefinite"
)

// Limit is a cap on deposits in one currency.
type Limit struct {
	Amount   money.Amount   `json:"amount"`
	Currency money.Currency `json:"currency"`
}

// Change is a raised or removed limit that waits for EffectiveAt.
// Remove: the period's limit goes (no limit) at EffectiveAt.
type Change struct {
	Limit
	Remove      bool      `json:"remove,omitempty"`
	EffectiveAt time.Time `json:"effective_at"`
}

// Subject is whose limits they are: a payer's Kassa account (MerchantID
// "", CustomerID cus_...), set by the payer on the account page and
// counted at every merchant, or a merchant's customer (the merchant's
// own id for its player, or a cus_ id), set through the merchant's API
// and counted at that merchant only.
type Subject struct {
	MerchantID string
	CustomerID string
}

// Key is the subject as stored: "cus_..." or "<merchant>/<customer>".
func (s Subject) Key() string {
	if s.MerchantID == "" {
		return s.CustomerID
	}
	return s.MerchantID + "/" + s.CustomerID
}

// Limits are a subject's deposit limits, self-exclusion and cool-off.
type Limits struct {
	Subject Subject           `json:"-"`
	Deposit map[Period]Limit  `json:"deposit,omitempty"`
	Pending map[Period]Change `json:"pending,omitempty"`
	// ExcludedUntil ends a self-exclusion (zero: none); Indefinite
	// excludes for good (Kassa never lifts it).
	ExcludedUntil time.Time `json:"excluded_until,omitzero"`
	Indefinite    bool      `json:"indefinite,omitempty"`
	ExcludedAt    time.Time `json:"excluded_at,omitzero"`
	CoolOffUntil  time.Time `json:"cool_off_until,omitzero"`
	Updated       time.Time `json:"updated,omitzero"`
}

// At returns l as it stands at now: pending changes due by now applied.
func (l Limits) At(now time.Time) Limits {
	out := l
	out.Deposit = map[Period]Limit{}
	for p, v := range l.Deposit {
		out.Deposit[p] = v
	}
	out.Pending = map[Period]Change{}
	for p, c := range l.Pending {
		switch {
		case now.Before(c.EffectiveAt):
			out.Pending[p] = c
		case c.Remove:
			delete(out.Deposit, p)
		default:
			out.Deposit[p] = c.Limit
		}
	}
	return out
}

// Excluded reports whether l bars deposits at now, and until when
// (zero for an indefinite self-exclusion), and whether by cool-off.
func (l Limits) Excluded(now time.Time) (barred bool, until time.Time, coolOff bool) {
	if l.Indefinite {
		return true, time.Time{}, false
	}
	if now.Before(l.ExcludedUntil) {
		until = l.ExcludedUntil
	}
	if now.Before(l.CoolOffUntil) && l.CoolOffUntil.After(until) {
		return true, l.CoolOffUntil, true
	}
	return !until.IsZero(), until, false
}

// SetRequest changes limits. Deposit holds the periods to change: a
// nil *Limit removes that period's limit (a raise). SelfExclusion is
// one of the Exclude* periods ("" no change); CoolOff a duration from
// CoolOffMin to CoolOffMax (0 no change).
type SetRequest struct {
	Deposit       map[Period]*Limit
	SelfExclusion string
	CoolOff       time.Duration
}

// apply changes l at now as req asks: a lower limit (or a first one)
// takes effect at once and drops a pending raise of its period; a
// higher one, another currency's or a removal waits RaiseDelay. A
// self-exclusion or cool-off may be started or lengthened, never
// shortened. It returns what changed, for the events.
func apply(l Limits, req SetRequest, now time.Time) (Limits, changes, error) {
	var ch changes
	l = l.At(now)
	for _, p := range Periods {
		want, named := req.Deposit[p]
		if !named {
			continue
		}
		cur, has := l.Deposit[p]
		switch {
		case want == nil && !has:
			delete(l.Pending, p)
		case want == nil:
			l.Pending[p] = Change{Remove: true, EffectiveAt: now.Add(RaiseDelay)}
			ch.pending = true
		case !has || (want.Currency == cur.Currency && want.Amount <= cur.Amount):
			l.Deposit[p] = *want
			delete(l.Pending, p)
			ch.lowered = true
		default:
			l.Pending[p] = Change{Limit: *want, EffectiveAt: now.Add(RaiseDelay)}
			ch.pending = true
		}
	}
	if req.SelfExclusion != "" {
		until, indefinite, err := exclusionEnd(req.SelfExclusion, now)
		if err != nil {
			return l, ch, err
		}
		switch {
		case l.Indefinite && indefinite:
			// Asked again: it stands as it is.
		case l.Indefinite || (now.Before(l.ExcludedUntil) && !indefinite && until.Before(l.ExcludedUntil)):
			return l, ch, kassa.Invalid("self_exclusion.period", "self_exclusion_cannot_be_shortened",
				"a self-exclusion in force cannot be shortened or lifted before it ends (%s)", endText(l))
		default:
			l.ExcludedUntil, l.Indefinite, l.ExcludedAt = until, indefinite, now
			ch.excluded = true
		}
	}
	if req.CoolOff != 0 {
		if req.CoolOff < CoolOffMin || req.CoolOff > CoolOffMax {
			return l, ch, kassa.Invalid("cool_off.duration", "cool_off_invalid", "a cool-off lasts from 24h to 6 weeks (1008h)")
		}
		until := now.Add(req.CoolOff)
		if until.Before(l.CoolOffUntil) {
			return l, ch, kassa.Invalid("cool_off.duration", "cool_off_cannot_be_shortened",
				"a cool-off in force cannot be shortened; it ends %s", l.CoolOffUntil.Format(time.RFC3339))
		}
		l.CoolOffUntil = until
		ch.coolOff = true
	}
	l.Updated = now
	return l, ch, nil
}

type changes struct{ lowered, pending, excluded, coolOff bool }

func (c changes) any() bool { return c.lowered || c.pending || c.excluded || c.coolOff }

func endText(l Limits) string {
	if l.Indefinite {
		return "it is indefinite"
	}
	return "it ends " + l.ExcludedUntil.Format(time.RFC3339)
}

func exclusionEnd(period string, now time.Time) (time.Time, bool, error) {
	switch period {
	case Exclude6Months:
		return now.AddDate(0, 6, 0), false, nil
	case Exclude1Year:
		return now.AddDate(1, 0, 0), false, nil
	case Exclude5Years:
		return now.AddDate(5, 0, 0), false, nil
	case ExcludeIndefinite:
		return time.Time{}, true, nil
	}
	return time.Time{}, false, kassa.Invalid("self_exclusion.period", "self_exclusion_period_invalid",
		"self_exclusion.period must be 6m, 1y, 5y or indefinite")
}

// ParseCoolOff reads a cool-off duration: "24h".."1008h", or days and
// weeks ("3d", "2w").
func ParseCoolOff(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	bad := kassa.Invalid("cool_off.duration", "cool_off_invalid", "cool_off.duration must be from 24h to 6w (such as 24h, 3d, 2w)")
	if len(s) < 2 || len(s) > 8 {
		return 0, bad
	}
	var n int
	var unit byte
	if _, err := fmt.Sscanf(s[:len(s)-1], "%d", &n); err != nil || fmt.Sprint(n) != s[:len(s)-1] {
		return 0, bad
	}
	unit = s[len(s)-1]
	var d time.Duration
	switch unit {
	case 'h':
		d = time.Duration(n) * time.Hour
	case 'd':
		d = time.Duration(n) * 24 * time.Hour
	case 'w':
		d = time.Duration(n) * 7 * 24 * time.Hour
	default:
		return 0, bad
	}
	if d < CoolOffMin || d > CoolOffMax {
		return 0, bad
	}
	return d, nil
}

// validLimit checks a limit a payer or merchant sets.
func validLimit(p Period, l Limit) error {
	param := "deposit." + string(p)
	if l.Amount <= 0 || l.Amount > LimitAmountMax {
		return kassa.Invalid(param+".amount", "limit_invalid", "%s.amount must be a positive number of minor units, at most %d", param, LimitAmountMax)
	}
	if _, known := l.Currency.Exponent(); !l.Currency.Valid() || !known {
		return kassa.Invalid(param+".currency", "currency_invalid", "%s.currency must be an ISO 4217 code such as EUR", param)
	}
	return nil
}
