package identity

import (
	"context"
	"fmt"
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
// other (each doubles the next). Reserved counts the attempts under way
// (reserved, not yet ended) until ReservedUntil, when they lapse.
type Throttle struct {
	Key           ThrottleKey
	Failures      int
	WindowStart   time.Time
	BlockedUntil  time.Time
	Lockouts      int
	LockedAt      time.Time
	LockedUntil   time.Time
	Reserved      int
	ReservedUntil time.Time
	Updated       time.Time
}

// Checking a password or a code takes time, and many attempts can be
// checked at once. Were the lockout only read before the check and the
// failure recorded after it, any number of attempts sent together would
// all be checked before the first failure counted. So an attempt first
// reserves its place, in the transaction that reads the counters: it may
// go on only while the failures of the window and the attempts under way
// stay below the limit. It then ends in exactly one way: a failure
// (counted), a success (the subject's counter reset) or neither (an
// error on the way); each gives the place back.

// attemptLease is how long a reserved place lasts: far longer than any
// check takes, short enough that the places of attempts a crash cut off
// come back soon.
const attemptLease = time.Minute

// attemptBusyRetry is the Retry-After of an attempt refused because
// others under way fill the limit: they end within moments.
const attemptBusyRetry = time.Second

// inFlight is how many attempts are under way at now.
func (t Throttle) inFlight(now time.Time) int {
	if now.Before(t.ReservedUntil) {
		return t.Reserved
	}
	return 0
}

// take reserves one attempt's place at now under lim. It refuses, saying
// when to retry, while t is blocked (a backoff or a lockout) or when the
// failures of the window and the attempts under way reach lim.Failures.
func (t Throttle) take(lim Lockout, now time.Time) (Throttle, time.Time, bool) {
	if t.BlockedUntil.After(now) {
		return t, t.BlockedUntil, false
	}
	failures := t.Failures
	if t.WindowStart.IsZero() || now.Sub(t.WindowStart) >= lim.Window {
		failures = 0
	}
	if failures+t.inFlight(now) >= lim.Failures {
		if t.inFlight(now) == 0 { // only when the limit was lowered
			return t, t.WindowStart.Add(lim.Window), false
		}
		return t, now.Add(attemptBusyRetry), false
	}
	t.Reserved, t.ReservedUntil, t.Updated = t.inFlight(now)+1, now.Add(attemptLease), now
	return t, time.Time{}, true
}

// release gives one reserved place back at now.
func (t Throttle) release(now time.Time) Throttle {
	t.Reserved = max(t.inFlight(now)-1, 0)
	if t.Reserved == 0 {
		t.ReservedUntil = time.Time{}
	}
	return t
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

// An attempt holds a place under the failure limits of its keys from
// reserve until it ends: failed counts its failure, passed resets the
// first key (the subject's, not the client IP's), and end, deferred
// right after reserve, gives the place back when neither ran.
type attempt struct {
	s          *Service
	ks         []ThrottleKey
	now        time.Time
	customerID string // for events; "" for an address without an account
	done       bool
}

// reserve takes one attempt's place on every key at now, all or none
// (Throttle.take). Refused, it returns a *LockedOutError and holds
// nothing.
func (s *Service) reserve(ctx context.Context, ks []ThrottleKey, customerID string, now time.Time) (*attempt, error) {
	var until time.Time
	_, ok, err := s.store.ReserveThrottles(ctx, ks, func(ts []Throttle) ([]Throttle, bool) {
		until = time.Time{}
		out := make([]Throttle, len(ts))
		for i, t := range ts {
			t, retry, ok := t.take(s.limitOf(t.Key.Scope), now)
			if !ok {
				until = maxTime(until, retry)
			}
			out[i] = t
		}
		return out, until.IsZero()
	})
	if err != nil {
		return nil, fmt.Errorf("identity: reserve attempt: %w", err)
	}
	if !ok {
		return nil, lockedOut(CodeLoginLocked, "too many failed attempts; retry after the time in Retry-After", until, now)
	}
	return &attempt{s: s, ks: ks, now: now, customerID: customerID}, nil
}

// update changes the attempt's counters once. It runs even when the
// caller's context ended (the client went away): the failure must count
// and the place come back. A store error is logged: the attempt ended
// anyway, and a place not given back lapses.
func (a *attempt) update(ctx context.Context, what string, fn func(Throttle) Throttle) []Throttle {
	if a.done {
		return nil
	}
	a.done = true
	ts, err := a.s.store.UpdateThrottles(context.WithoutCancel(ctx), a.ks, fn)
	if err != nil {
		a.s.log.ErrorContext(ctx, what, "err", err)
	}
	return ts
}

// failed counts a failure against the attempt's keys and emits
// identity.locked for each lockout it starts.
func (a *attempt) failed(ctx context.Context) {
	ts := a.update(ctx, "record failed attempt", func(t Throttle) Throttle {
		t, _ = t.release(a.now).fail(a.s.limitOf(t.Key.Scope), a.now)
		return t
	})
	for _, t := range ts {
		if t.LockedAt.Equal(a.now) {
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
			a.s.emit(ctx, EventLocked, a.customerID, data)
		}
	}
}

// passed resets the counter of the attempt's first key after a success
// (the attempts of others under way keep their places).
func (a *attempt) passed(ctx context.Context) {
	first := a.ks[0]
	a.update(ctx, "reset failed attempts", func(t Throttle) Throttle {
		t = t.release(a.now)
		if t.Key != first || (t.Failures == 0 && t.Lockouts == 0 && !t.BlockedUntil.After(a.now)) {
			return t
		}
		return Throttle{Key: t.Key, Reserved: t.Reserved, ReservedUntil: t.ReservedUntil, Updated: a.now}
	})
}

// end gives the attempt's place back unless failed or passed did.
func (a *attempt) end(ctx context.Context) {
	a.update(ctx, "release attempt", func(t Throttle) Throttle { return t.release(a.now) })
}

// reserveFactor reserves a second-factor attempt of a customer.
func (s *Service) reserveFactor(ctx context.Context, customerID, ip string) (*attempt, error) {
	return s.reserve(ctx, keys(ScopeFactor, customerID, ip), customerID, s.now().UTC())
}

// factorFailed counts a wrong second factor and emits login_failed.
func (a *attempt) factorFailed(ctx context.Context, ip, factor string) {
	a.s.emit(ctx, EventLoginFailed, a.customerID, EventData{"reason": "second_factor", "factor": factor, "ip": ip})
	a.failed(ctx)
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
