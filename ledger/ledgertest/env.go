package ledgertest

import (
	"context"
	"crypto/rand"
	"github.com/kassa/kassa/internal/testclock"
	"testing"
	"time"

	"github.com/kassa/kassa/ledger"
	"golang.org/x/mod/sumdb/note"
)

// Opener returns a new, empty store for one test; the test ends with it.
type Opener func(t testing.TB) ledger.Store

// Env is a ledger under test: one store, a fake clock and a signing key.
// The ledger package's own tests use it too.
type Env struct {
	L           *ledger.Ledger
	Store       ledger.Store
	Clock       *testclock.Clock
	VerifierKey string
	SignerKey   string
	tune        func(*ledger.Config) // adjusts the config of every ledger opened
}

func newKey(t testing.TB) (skey, vkey string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "kassa.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

// NewEnv opens a store and a ledger over it.
func NewEnv(t testing.TB, open Opener, tune ...func(*ledger.Config)) *Env {
	t.Helper()
	e := &Env{Store: open(t), Clock: testclock.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))}
	if len(tune) > 0 {
		e.tune = tune[0]
	}
	e.SignerKey, e.VerifierKey = newKey(t)
	e.L = e.Open(t, e.Store)
	return e
}

// Open starts another ledger (another process, as it were) over s.
func (e *Env) Open(t testing.TB, s ledger.Store) *ledger.Ledger {
	t.Helper()
	cfg := ledger.Config{Store: s, SignerKey: e.SignerKey, Clock: e.Clock.Now, ExpiryInterval: -1}
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

// Accounts creates accounts and fails the test on a call error.
func (e *Env) Accounts(t testing.TB, owner string, as ...ledger.Account) []ledger.Result {
	t.Helper()
	rs, err := e.L.CreateAccounts(context.Background(), owner, as)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// Transfers applies transfers and fails the test on a call error.
func (e *Env) Transfers(t testing.TB, owner string, ts ...ledger.Transfer) []ledger.Result {
	t.Helper()
	rs, err := e.L.CreateTransfers(context.Background(), owner, ts)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// Codes lists the result codes of results.
func Codes(rs []ledger.Result) []ledger.ResultCode {
	out := make([]ledger.ResultCode, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}

// Verify runs ledger.Verify over the store and fails the test on a bad record.
func (e *Env) Verify(t testing.TB) ledger.Summary {
	t.Helper()
	sum, err := ledger.Verify(context.Background(), e.Store, e.VerifierKey)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return sum
}
