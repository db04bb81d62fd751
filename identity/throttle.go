package identity

import (
	"context"
	"strconv"
	"time"
)

// ThrottleScope is what failed attempts are counted against.
type ThrottleScope string

const (
	ScopeAccount ThrottleScope = "account" // password logins of one email address (known or not)
	ScopeFactor  ThrottleScope = "factor"  // second factors of one customer
	ScopeIP      ThrottleScope = "ip"      // both, from one client IP (IPv6: its /64)
)

// ThrottleKey names one failure counter.
type ThrottleKey struct {
	Scope   ThrottleScope
	Subject string
}

// Throttle is one failure counter as stored. BlockedUntil is when the next
// attempt is allowed (after a backoff or a lockout); LockedAt and
// LockedUntil are the latest lockout, Lockouts how many followed each
// other (each doubles the next).
type Throttle struct {
	Key          ThrottleKey
	Failures     int
	WindowStart  time.Time
	BlockedUntil time.Time
	Lockouts     int
	LockedAt     time.Time
	LockedUntil  time.Time
	Updated      time.Time
}

// fail records one failure at now under lim and reports whether it
// started a lockout.
func (t Throttle) fail(lim Lockout, now time.Time) (Throttle, bool) {
	if t.WindowStart.IsZero() || now.Sub(t.WindowStart) >= lim.Window {
		t.Failures, t.WindowStart = 0, now
	}
	t.Failures++
	t.Updated = now
	if t.Failures >= lim.Failures {
		// A lockout more than DurationMax after the previous one ended
		// starts the doubling afresh.
		if t.Lockouts > 0 && now.Sub(t.LockedUntil) > lim.DurationMax {
			t.Lockouts = 0
		}
		t.Lockouts++
		d := lim.Duration
		for i := 1; i < t.Lockouts && d < lim.DurationMax; i++ {
			d *= 2
		}
		d = min(d, lim.DurationMax)
		t.Failures, t.WindowStart = 0, time.Time{}
		t.LockedAt, t.LockedUntil = now, now.Add(d)
		t.BlockedUntil = t.LockedUntil
		return t, true
	}
	if lim.Backoff > 0 && t.Failures >= 2 {
		d := lim.Backoff
		for i := 2; i < t.Failures && d < lim.Duration; i++ {
			d *= 2
		}
		t.BlockedUntil = maxTime(t.BlockedUntil, now.Add(min(d, lim.Duration)))
	}
	return t, false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (s *Service) limitOf(scope ThrottleScope) Lockout {
	if scope == ScopeIP {
		return s.lim.IP
	}
	return s.lim.Account
}

// keys returns the throttle keys of a subject and a client IP, skipping
// an IP that is none.
func keys(scope ThrottleScope, subject, ip string) []ThrottleKey {
	ks := []ThrottleKey{{scope, subject}}
	if sub := ipSubject(ip); sub != "" {
		ks = append(ks, ThrottleKey{ScopeIP, sub})
	}
	return ks
}

// blocked returns a *LockedOutError when any of keys must wait at now.
func (s *Service) blocked(ctx context.Context, ks []ThrottleKey, now time.Time) error {
	ts, err := s.store.Throttles(ctx, ks)
	if err != nil {
		return err
	}
	var until time.Time
	for _, t := range ts {
		until = maxTime(until, t.BlockedUntil)
	}
	if until.After(now) {
		return lockedOut(CodeLoginLocked, "too many failed attempts; retry after the time in Retry-After", until, now)
	}
	return nil
}

// failed counts a failure against keys and emits identity.locked for
// each lockout it starts. A store error is logged: the attempt failed
// anyway.
func (s *Service) failed(ctx context.Context, ks []ThrottleKey, customerID string, now time.Time) {
	ts, err := s.store.UpdateThrottles(ctx, ks, func(t Throttle) Throttle {
		t, _ = t.fail(s.limitOf(t.Key.Scope), now)
		return t
	})
	if err != nil {
		s.log.ErrorContext(ctx, "record failed attempt", "err", err)
		return
	}
	for _, t := range ts {
		if t.LockedAt.Equal(now) {
			data := EventData{"scope": string(t.Key.Scope), "until": t.LockedUntil.Format(time.RFC3339),
				"lockouts": strconv.Itoa(t.Lockouts)}
			if t.Key.Scope == ScopeIP {
				data["ip"] = t.Key.Subject
			}
			// The account scope's subject is an address that may have no
			// account: it goes into the event masked and without an id.
			if t.Key.Scope == ScopeAccount {
				data["email"] = maskEmail(t.Key.Subject)
			}
			s.emit(ctx, EventLocked, customerID, data)
		}
	}
}

// succeeded resets the counter of one key after a success.
func (s *Service) succeeded(ctx context.Context, k ThrottleKey, now time.Time) {
	_, err := s.store.UpdateThrottles(ctx, []ThrottleKey{k}, func(t Throttle) Throttle {
		if t.Failures == 0 && t.Lockouts == 0 && !t.BlockedUntil.After(now) {
			return t
		}
		return Throttle{Key: t.Key, Updated: now}
	})
	if err != nil {
		s.log.ErrorContext(ctx, "reset failed attempts", "err", err)
	}
}

// factorLocked checks the second-factor lockout of a customer.
func (s *Service) factorLocked(ctx context.Context, customerID, ip string) error {
	return s.blocked(ctx, keys(ScopeFactor, customerID, ip), s.now().UTC())
}

// factorFailed counts a wrong second factor and emits login_failed.
func (s *Service) factorFailed(ctx context.Context, customerID, ip, factor string) {
	now := s.now().UTC()
	s.emit(ctx, EventLoginFailed, customerID, EventData{"reason": "second_factor", "factor": factor, "ip": ip})
	s.failed(ctx, keys(ScopeFactor, customerID, ip), customerID, now)
}

// rateTimesMax bounds the event times kept per rate key.
const rateTimesMax = 100

// AllowRate decides whether one more event at now fits every limit
// (at most Count events within any Per, sliding), given the times of the
// latest events of a key, oldest first. When it fits it returns the times
// to keep with now added (only as many as the largest Count needs);
// otherwise the times unchanged, false, and when the next event fits.
// Stores call it inside the transaction that reads and writes the times
// (TakeRate), so the rule lives here.
func AllowRate(times []time.Time, now time.Time, limits []Rate) (keep []time.Time, ok bool, retryAt time.Time) {
	need := 0
	for _, l := range limits {
		need = max(need, l.Count)
		if l.Count <= 0 || len(times) < l.Count {
			continue
		}
		// The l.Count-th latest event must be at least Per old.
		t := times[len(times)-l.Count]
		if now.Sub(t) < l.Per {
			retryAt = maxTime(retryAt, t.Add(l.Per))
		}
	}
	if !retryAt.IsZero() {
		return times, false, retryAt
	}
	keep = append(times, now)
	need = min(need, rateTimesMax)
	if len(keep) > need {
		keep = keep[len(keep)-need:]
	}
	return keep, true, time.Time{}
}
