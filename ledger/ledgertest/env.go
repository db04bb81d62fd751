package ledgertest

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa/ledger"
	"golang.org/x/mod/sumdb/note"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Opener returns a new, empty store for one test; the test ends with it.
type Opener func(t testing.TB) ledger.Store

type env struct {
	l     *ledger.Ledger
	store ledger.Store
	clock *fakeClock
	vkey  string
	skey  string
	tune  func(*ledger.Config) // adjusts the config of every ledger opened
}

func newKey(t testing.TB) (skey, vkey string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "kassa.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

func newEnv(t testing.TB, open Opener, tune ...func(*ledger.Config)) *env {
	t.Helper()
	e := &env{store: open(t), clock: newClock()}
	if len(tune) > 0 {
		e.tune = tune[0]
	}
	e.skey, e.vkey = newKey(t)
	e.l = e.open(t, e.store)
	return e
}

func (e *env) open(t testing.TB, s ledger.Store) *ledger.Ledger {
	t.Helper()
	cfg := ledger.Config{Store: s, SignerKey: e.skey, Clock: e.clock.Now, ExpiryInterval: -1}
	if e.tune != nil {
		e.tune(&cfg)
	}
	l, err := ledger.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func (e *env) accounts(t testing.TB, owner string, as ...ledger.Account) []ledger.Result {
	t.Helper()
	rs, err := e.l.CreateAccounts(context.Background(), owner, as)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func (e *env) transfers(t testing.TB, owner string, ts ...ledger.Transfer) []ledger.Result {
	t.Helper()
	rs, err := e.l.CreateTransfers(context.Background(), owner, ts)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func codes(rs []ledger.Result) []ledger.ResultCode {
	out := make([]ledger.ResultCode, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}

func (e *env) verify(t testing.TB) ledger.Summary {
	t.Helper()
	sum, err := ledger.Verify(context.Background(), e.store, e.vkey)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return sum
}
