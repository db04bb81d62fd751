// Package reqlog keeps each merchant's recent API requests for its
// developers to read in the console: method, route pattern, status,
// latency, time and request id — never a body, a query string, a header
// or a key. It is a bounded ring per merchant in the memory of the
// process that served the requests: nothing is written to the database
// on the request path, and a restart forgets.
package reqlog

import (
	"slices"
	"sync"
	"time"
)

// Limits.
const (
	// PerMerchant is how many requests of a merchant are kept (the
	// newest).
	PerMerchant = 100
	// merchantsMax bounds the merchants kept; past it, new merchants'
	// requests are not recorded until the process restarts. Merchant ids
	// come from authenticated keys only, so no stranger fills it.
	merchantsMax = 20_000
	routeMax     = 128
	requestIDMax = 64
)

// Entry is one API request.
type Entry struct {
	Method    string
	Route     string // the registered pattern, e.g. /v1/payments/{id}/capture
	Status    int
	Latency   time.Duration
	Time      time.Time
	RequestID string
}

// Log is every merchant's ring. The zero value is not usable; use New.
// A nil *Log records nothing and reads empty.
type Log struct {
	mu    sync.RWMutex
	rings map[string]*ring
}

type ring struct {
	mu   sync.Mutex
	buf  [PerMerchant]Entry
	next int
	full bool
}

// New returns an empty Log.
func New() *Log { return &Log{rings: map[string]*ring{}} }

// Record keeps e as the merchant's newest request.
func (l *Log) Record(merchantID string, e Entry) {
	if l == nil || merchantID == "" {
		return
	}
	if len(e.Route) > routeMax {
		e.Route = e.Route[:routeMax]
	}
	if len(e.RequestID) > requestIDMax {
		e.RequestID = e.RequestID[:requestIDMax]
	}
	l.mu.RLock()
	r := l.rings[merchantID]
	l.mu.RUnlock()
	if r == nil {
		l.mu.Lock()
		if r = l.rings[merchantID]; r == nil {
			if len(l.rings) >= merchantsMax {
				l.mu.Unlock()
				return
			}
			r = &ring{}
			l.rings[merchantID] = r
		}
		l.mu.Unlock()
	}
	r.mu.Lock()
	r.buf[r.next] = e
	r.next = (r.next + 1) % PerMerchant
	r.full = r.full || r.next == 0
	r.mu.Unlock()
}

// Recent returns the merchant's kept requests, newest first.
func (l *Log) Recent(merchantID string) []Entry {
	if l == nil {
		return nil
	}
	l.mu.RLock()
	r := l.rings[merchantID]
	l.mu.RUnlock()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Entry
	if r.full {
		out = append(out, r.buf[r.next:]...)
	}
	out = append(out, r.buf[:r.next]...)
	slices.Reverse(out)
	return out
}
