package sqlstore

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/kassa/kassa/payment"
)

// paymentCacheMax bounds the payments a process keeps: about 2 KB each,
// so at most ~40 MB, and far more than the payments in flight at once
// under any load the bench has seen (32 clients finish one in ~30 ms).
const paymentCacheMax = 20_000

// paymentCache keeps the payments this process read or committed, each at
// the version it had (issue 15, item 3). A cached payment is used only
// after the row's version was read and found equal: every write of a
// payment's row or its vouchers moves its version (updatePayment, the
// privacy scrub), so an equal version means equal contents, whoever wrote
// last, on whichever node. That one read of an indexed integer replaces
// the payment's 52 columns and its voucher rows; and an update written
// over a cached version writes only the columns and voucher rows that
// changed (updatePayment). A write that finds a newer version (a
// conflict) drops the entry.
type paymentCache struct {
	mu sync.Mutex
	m  map[string]payment.Payment
}

func (db *DB) paymentCache() *paymentCache {
	db.paymentsOnce.Do(func() { db.payments = &paymentCache{m: make(map[string]payment.Payment)} })
	return db.payments
}

// get returns a copy of the cached payment id.
func (c *paymentCache) get(id string) (payment.Payment, bool) {
	c.mu.Lock()
	p, ok := c.m[id]
	c.mu.Unlock()
	return clonePayment(p), ok
}

// put keeps p unless a newer version of it is cached.
func (c *paymentCache) put(p payment.Payment) {
	p = clonePayment(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[p.ID]; ok && old.Version > p.Version {
		return
	}
	if _, ok := c.m[p.ID]; !ok && len(c.m) >= paymentCacheMax {
		// Go's map order is unspecified: a cheap random eviction of a
		// quarter, as the ledger's caches do.
		for k := range c.m {
			delete(c.m, k)
			if len(c.m) <= paymentCacheMax*3/4 {
				break
			}
		}
	}
	c.m[p.ID] = p
}

func (c *paymentCache) drop(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

// clonePayment copies what a caller could change in place through p's
// slices (its vouchers, above all: capture and refund edit them).
func clonePayment(p payment.Payment) payment.Payment {
	p.Vouchers = slices.Clone(p.Vouchers)
	p.Metadata = bytes.Clone(p.Metadata)
	p.Risk.Reasons = slices.Clone(p.Risk.Reasons)
	return p
}

// cachedPayment returns the cached payment id of merchantID ("" any) when
// the stored row is still at its version: one read of the version instead
// of the whole payment and its vouchers. ok is false when the payment is
// not cached or moved on (the entry is then dropped) and the caller reads
// it whole.
func (s *Payments) cachedPayment(ctx context.Context, merchantID, id string) (payment.Payment, bool) {
	c := s.db.paymentCache()
	p, ok := c.get(id)
	if !ok || (merchantID != "" && p.MerchantID != merchantID) {
		return payment.Payment{}, false
	}
	var version int64
	if err := s.db.QueryRowContext(ctx, `SELECT version FROM payments WHERE id = ?`, id).Scan(&version); err != nil || version != p.Version {
		c.drop(id)
		return payment.Payment{}, false
	}
	return p, true
}

// Merchant settings (the capture window) are read by every confirmation
// that holds its funds. They change rarely and carry no version, so a
// process trusts what it read for captureWindowTTL, as it trusts a
// verified API key (merchant.AuthCacheTTL): a change made through this
// process acts at once, one made on another node within that time (an
// authorization made meanwhile keeps the window it was given).
const (
	captureWindowTTL      = time.Second
	captureWindowCacheMax = 10_000
)

type windowEntry struct {
	window time.Duration
	read   time.Time
}

type windowCache struct {
	mu sync.Mutex
	m  map[string]windowEntry
}

func (db *DB) windowCache() *windowCache {
	db.windowsOnce.Do(func() { db.windows = &windowCache{m: make(map[string]windowEntry)} })
	return db.windows
}

func (c *windowCache) get(merchantID string, now time.Time) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[merchantID]
	if !ok || now.Sub(e.read) >= captureWindowTTL || now.Before(e.read) {
		return 0, false
	}
	return e.window, true
}

func (c *windowCache) put(merchantID string, d time.Duration, read time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= captureWindowCacheMax {
		clear(c.m)
	}
	c.m[merchantID] = windowEntry{d, read}
}

func (c *windowCache) drop(merchantID string) {
	c.mu.Lock()
	delete(c.m, merchantID)
	c.mu.Unlock()
}
