package httpapi

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/kassa/kassa"
)

// limiterEntriesMax bounds the limiter's memory: past it, idle entries
// are dropped.
const limiterEntriesMax = 100_000

// limiter is a token bucket per API key or client IP, local to this
// process: N Kassa nodes allow N times the rate.
type limiter struct {
	mu      sync.Mutex
	perSec  rate.Limit
	burst   int
	buckets map[string]*rate.Limiter
}

func newLimiter(perSec float64, burst int) *limiter {
	return &limiter{perSec: rate.Limit(perSec), burst: burst, buckets: map[string]*rate.Limiter{}}
}

// allow takes a token for key; when none is left it returns how long
// until one is.
func (l *limiter) allow(key string) (time.Duration, bool) {
	now := time.Now()
	l.mu.Lock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= limiterEntriesMax {
			l.evict(now)
		}
		b = rate.NewLimiter(l.perSec, l.burst)
		l.buckets[key] = b
	}
	l.mu.Unlock()
	res := b.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// evict drops full buckets (their owners have been idle long enough to
// refill); if that frees nothing, everything goes.
func (l *limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= limiterEntriesMax {
		clear(l.buckets)
	}
}

type rateLimitError struct {
	err  *kassa.Error
	wait time.Duration
}

func (e rateLimitError) Error() string { return e.err.Error() }
func (e rateLimitError) Unwrap() error { return e.err }

func (e rateLimitError) Seconds() int { return max(1, int(math.Ceil(e.wait.Seconds()))) }

func rateLimited(wait time.Duration) error {
	return rateLimitError{
		err:  kassa.Errorf(kassa.ERateLimited, "rate_limited", "too many requests; retry after the time in Retry-After"),
		wait: wait,
	}
}
