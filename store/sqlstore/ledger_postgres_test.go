package sqlstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// flightConn counts round trips: a flight is one or more writes to the
// server followed by reading its answer (a pipeline is one flight).
type flightConn struct {
	net.Conn
	flights *atomic.Int64
	mu      sync.Mutex
	sending bool
}

func (c *flightConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if !c.sending {
		c.sending = true
		c.flights.Add(1)
	}
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *flightConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.mu.Lock()
		c.sending = false
		c.mu.Unlock()
	}
	return n, err
}

// A ledger batch on PostgreSQL takes four round trips (BEGIN; lock the
// head and read ahead; writes with COMMIT; end the empty transaction) and
// holds the head row for one of them, also when it follows another
// writer's commits, posts a pending transfer that writer made, or creates
// accounts: counted on the wire, not timed.
func TestPostgresLedgerRoundTrips(t *testing.T) {
	ctx := context.Background()
	var flights atomic.Int64
	db, err := openPostgres(ctx, Config{DatabaseURL: pgtest.URL(t), wrapConn: func(c net.Conn) net.Conn {
		return &flightConn{Conn: c, flights: &flights}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var lockedAt atomic.Int64
	var held []int64
	var heldMu sync.Mutex
	db.ledgerTraceFn = func(point int) {
		switch point {
		case ledgerLocked:
			lockedAt.Store(flights.Load())
		case ledgerCommitted:
			heldMu.Lock()
			held = append(held, flights.Load()-lockedAt.Load())
			heldMu.Unlock()
		}
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "kassa.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	open := func() *ledger.Ledger {
		l, err := ledger.New(ledger.Config{Store: NewLedger(db), SignerKey: skey, ExpiryInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	a, b := open(), open()
	const eur = money.Currency("EUR")
	n := 0
	call := func(l *ledger.Ledger, ts ...ledger.Transfer) {
		t.Helper()
		for i := range ts {
			if ts[i].ID == "" {
				n++
				ts[i].ID = fmt.Sprintf("t%d", n)
			}
			if ts[i].Currency == "" {
				ts[i].Currency = eur
			}
		}
		rs, err := l.CreateTransfers(ctx, "m", ts)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			if r.Code != ledger.OK {
				t.Fatalf("%s: %v", ts[i].ID, r.Code)
			}
		}
	}
	accounts := func(l *ledger.Ledger, ids ...string) {
		t.Helper()
		var as []ledger.Account
		for _, id := range ids {
			as = append(as, ledger.Account{ID: id, Currency: eur})
		}
		if _, err := l.CreateAccounts(ctx, "m", as); err != nil {
			t.Fatal(err)
		}
	}
	five := func() []ledger.Transfer {
		var ts []ledger.Transfer
		for i := range 5 {
			ts = append(ts, ledger.Transfer{DebitAccountID: fmt.Sprintf("a%d", i), CreditAccountID: "hot", Amount: 1})
		}
		return ts
	}
	// measure runs step and returns the round trips it took and the most
	// any batch held the head for.
	measure := func(step func()) (trips, heldMax int64) {
		heldMu.Lock()
		held = held[:0]
		heldMu.Unlock()
		before := flights.Load()
		step()
		heldMu.Lock()
		defer heldMu.Unlock()
		for _, h := range held {
			heldMax = max(heldMax, h)
		}
		return flights.Load() - before, heldMax
	}

	accounts(a, "hot", "a0", "a1", "a2", "a3", "a4")
	// Warm up: statements prepared on the connections, the sequencers
	// in the mode of following each other.
	for i := range 3 {
		call(a, five()...)
		call(b, five()...)
		id := fmt.Sprintf("w%d", i)
		call(a, ledger.Transfer{ID: id, DebitAccountID: "a1", CreditAccountID: "hot", Amount: 7, Flags: ledger.FlagPending})
		call(b, ledger.Transfer{ID: id + "-post", PendingID: id, Amount: 7, Flags: ledger.FlagPostPending})
		accounts(a, id+"-account")
	}
	call(a, five()...)

	tests := []struct {
		name string
		step func()
	}{
		{"alone", func() { call(a, five()...) }},
		{"alone again", func() { call(a, five()...) }},
		{"after the other writer", func() { call(b, five()...) }},
		{"and back", func() { call(a, five()...) }},
		{"pending", func() {
			call(b, ledger.Transfer{ID: "p1", DebitAccountID: "a1", CreditAccountID: "hot", Amount: 7, Flags: ledger.FlagPending})
		}},
		{"post the other's pending", func() {
			call(a, ledger.Transfer{ID: "p1-post", PendingID: "p1", Amount: 7, Flags: ledger.FlagPostPending})
		}},
		{"accounts", func() { accounts(b, "new1", "new2") }},
	}
	for _, tt := range tests {
		trips, heldMax := measure(tt.step)
		t.Logf("%s: %d round trips, head held for %d", tt.name, trips, heldMax)
		if trips != 4 || heldMax != 1 {
			t.Errorf("%s: %d round trips, head held for %d; want 4 and 1", tt.name, trips, heldMax)
		}
	}
	ca, ra := a.Followed()
	cb, rb := b.Followed()
	if ra+rb != 0 || ca == 0 || cb == 0 {
		t.Errorf("followed by catch-up %d and %d times, by reload %d and %d", ca, cb, ra, rb)
	}
	if _, err := ledger.Verify(ctx, NewLedger(db), vkey); err != nil {
		t.Fatal(err)
	}
}
