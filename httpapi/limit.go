package httpapi

import (
	"container/list"
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/kassa/kassa"
)

// limiterEntriesMax bounds the limiter's memory: past it, the least
// recently used entry is dropped.
const limiterEntriesMax = 100_000

// limiter is a token bucket per API key or client IP, local to this
// process: N Kassa nodes allow N times the rate. It holds at most
// limiterEntriesMax buckets and forgets the least recently used first: a
// flood of fresh keys pushes out idle clients, never the one that keeps
// knocking (clearing everything would set every limited client free).
type limiter struct {
	mu      sync.Mutex
	perSec  rate.Limit
	burst   int
	buckets map[string]*list.Element // of *bucket, most recently used first
	lru     list.List
}

type bucket struct {
	key string
	lim *rate.Limiter
}

func newLimiter(perSec float64, burst int) *limiter {
	return &limiter{perSec: rate.Limit(perSec), burst: burst, buckets: map[string]*list.Element{}}
}

// allow takes a token for key; when none is left it returns how long
// until one is.
func (l *limiter) allow(key string) (time.Duration, bool) {
	now := time.Now()
	l.mu.Lock()
	e, ok := l.buckets[key]
	if ok {
		l.lru.MoveToFront(e)
	} else {
		if len(l.buckets) >= limiterEntriesMax {
			oldest := l.lru.Back()
			l.lru.Remove(oldest)
			delete(l.buckets, oldest.Value.(*bucket).key)
		}
		e = l.lru.PushFront(&bucket{key: key, lim: rate.NewLimiter(l.perSec, l.burst)})
		l.buckets[key] = e
	}
	b := e.Value.(*bucket).lim
	l.mu.Unlock()
	res := b.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// ipLimitKey is the limiter key of a client address: an IPv4 address, or
// the /64 of an IPv6 one, since a host may pick any address in its /64
// (the voucher attempt limits count the same way).
func ipLimitKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:" + ip
	}
	if a = a.Unmap(); a.Is6() {
		p, _ := a.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + a.String()
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
