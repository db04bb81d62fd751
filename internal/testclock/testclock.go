// Package testclock is the clock tests move by hand: code under test takes
// a func() time.Time, and tests pass Clock.Now.
package testclock

import (
	"sync"
	"time"
)

// Clock is a settable, concurrency-safe clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock that reads t until moved.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
