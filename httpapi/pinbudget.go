package httpapi

import (
	"container/list"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/voucher"
)

// Failure budgets of the voucher balance check (POST /v1/vouchers/balance).
//
// The voucher service limits wrong PINs per client IP (an IPv6 /64), but
// a publishable key is public (it is on the merchant's pages) and
// addresses are cheap: a botnet, or one IPv6 /48, could guess from
// thousands of addresses at once. So wrong PINs also spend a budget of
// the API key and one of the whole platform. Each is a leaky bucket: it
// holds up to its size in failures and drains at size per Window. A
// check reserves a failure in both before the PIN is looked at (so
// concurrent guesses cannot overrun a budget between check and count);
// the reservation is returned unless the PIN turned out wrong. While a
// budget is spent, balance checks through it get 429
// voucher_pin_attempts_exceeded with Retry-After, and
// kassa_voucher_balance_budget_exhausted_total counts them (an alert
// fires: deploy/prometheus). Payments are not affected: they have their
// own per-payment limits.
//
// The budgets are this process's: N nodes allow N times as much.
// docs/payments.md (Vouchers) sets the guesses they allow against the
// PIN space.
const (
	PINFailuresPerKeyDefault   = 100
	PINFailuresPlatformDefault = 1000
	PINFailureWindowDefault    = time.Hour
	// pinBudgetKeysMax bounds the per-key buckets held; past it the least
	// recently used is dropped (keys are authenticated: only merchants
	// can make more).
	pinBudgetKeysMax = 10_000
)

// PINBudget configures the failure budgets; zero fields take the
// defaults above.
type PINBudget struct {
	PerKey, Platform int           // wrong PINs per Window
	Window           time.Duration // time to drain a full budget
}

func (b PINBudget) withDefaults() PINBudget {
	if b.PerKey <= 0 {
		b.PerKey = PINFailuresPerKeyDefault
	}
	if b.Platform <= 0 {
		b.Platform = PINFailuresPlatformDefault
	}
	if b.Window <= 0 {
		b.Window = PINFailureWindowDefault
	}
	return b
}

// leakyBucket is a count of failures that drains at size per window.
type leakyBucket struct {
	level float64
	at    time.Time
}

func (b *leakyBucket) drain(now time.Time, size int, window time.Duration) {
	if !b.at.IsZero() && now.After(b.at) {
		b.level = max(0, b.level-float64(size)*now.Sub(b.at).Seconds()/window.Seconds())
	}
	b.at = now
}

// wait is how long until one more failure fits.
func (b *leakyBucket) wait(size int, window time.Duration) time.Duration {
	over := b.level + 1 - float64(size)
	return time.Duration(math.Ceil(over * float64(window) / float64(size)))
}

type keyBucket struct {
	keyID string
	leakyBucket
}

type pinBudget struct {
	cfg      PINBudget
	mu       sync.Mutex
	platform leakyBucket
	keys     map[string]*list.Element // of *keyBucket, most recently used first
	lru      list.List

	failures  prometheus.Counter
	exhausted *prometheus.CounterVec
}

func newPINBudget(cfg PINBudget, reg prometheus.Registerer) *pinBudget {
	b := &pinBudget{cfg: cfg.withDefaults(), keys: map[string]*list.Element{},
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kassa_voucher_balance_pin_failures_total",
			Help: "Wrong voucher PINs at the balance check (POST /v1/vouchers/balance).",
		}),
		exhausted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kassa_voucher_balance_budget_exhausted_total",
			Help: "Balance checks refused because a wrong-PIN budget was spent, by budget (key or platform).",
		}, []string{"budget"}),
	}
	b.exhausted.WithLabelValues("key")
	b.exhausted.WithLabelValues("platform")
	reg.MustRegister(b.failures, b.exhausted)
	return b
}

// keyBucket returns keyID's bucket, making it the most recently used.
func (b *pinBudget) keyBucket(keyID string) *leakyBucket {
	if e, ok := b.keys[keyID]; ok {
		b.lru.MoveToFront(e)
		return &e.Value.(*keyBucket).leakyBucket
	}
	if len(b.keys) >= pinBudgetKeysMax {
		oldest := b.lru.Back()
		b.lru.Remove(oldest)
		delete(b.keys, oldest.Value.(*keyBucket).keyID)
	}
	kb := &keyBucket{keyID: keyID}
	b.keys[keyID] = b.lru.PushFront(kb)
	return &kb.leakyBucket
}

// reserve takes one failure from keyID's budget and the platform's. It
// returns a release that gives both back (call it unless the PIN was
// wrong), or a 429 error while either budget is spent.
func (b *pinBudget) reserve(keyID string, now time.Time) (release func(), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kb := b.keyBucket(keyID)
	kb.drain(now, b.cfg.PerKey, b.cfg.Window)
	b.platform.drain(now, b.cfg.Platform, b.cfg.Window)
	if kb.level+1 > float64(b.cfg.PerKey) {
		b.exhausted.WithLabelValues("key").Inc()
		return nil, budgetSpent(now, kb.wait(b.cfg.PerKey, b.cfg.Window), "this API key's")
	}
	if b.platform.level+1 > float64(b.cfg.Platform) {
		b.exhausted.WithLabelValues("platform").Inc()
		return nil, budgetSpent(now, b.platform.wait(b.cfg.Platform, b.cfg.Window), "the platform's")
	}
	kb.level++
	b.platform.level++
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		kb.level = max(0, kb.level-1)
		b.platform.level = max(0, b.platform.level-1)
	}, nil
}

func budgetSpent(now time.Time, wait time.Duration, whose string) error {
	wait = max(wait, time.Second)
	return &kassa.LockedOutError{
		Err: kassa.Errorf(kassa.ERateLimited, voucher.CodePINAttemptsExceeded,
			"too many wrong voucher PINs were tried with %s balance checks; retry after the time in Retry-After", whose),
		Until: now.Add(wait), RetryAfter: wait,
	}
}

// checkBalance runs a balance check under the failure budgets of the
// caller's key and the platform.
func (s *Server) checkBalance(r *http.Request, keyID string, check func() (voucher.Voucher, error)) (voucher.Voucher, error) {
	release, err := s.pins.reserve(keyID, s.now())
	if err != nil {
		return voucher.Voucher{}, err
	}
	v, err := check()
	if e := kassa.AsError(err); e != nil && e.Code == voucher.CodePINInvalid {
		s.pins.failures.Inc()
		return v, err
	}
	release()
	return v, err
}
