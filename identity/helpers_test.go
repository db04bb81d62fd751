package identity_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/internal/syncbuf"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/store/sqlstore"
)

// The service tests run on the real SQLite store (an external test
// package may import it): no in-memory double to drift from it. The
// storage conformance suite (store/storetest) runs the store itself on
// SQLite and PostgreSQL.

// fastArgon keeps tests quick; password_test.go checks DefaultArgon2.
var fastArgon = identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLength: 16, KeyLength: 32}

// countingHasher counts the hashes and verifications of the hasher it wraps.
type countingHasher struct {
	identity.Hasher
	hashes, verifies atomic.Int64
}

func (c *countingHasher) Hash(pw string) (string, error) {
	c.hashes.Add(1)
	return c.Hasher.Hash(pw)
}

func (c *countingHasher) Verify(enc, pw string) (bool, bool, error) {
	c.verifies.Add(1)
	return c.Hasher.Verify(enc, pw)
}

// recorder is an Emitter that keeps events.
type recorder struct {
	mu  sync.Mutex
	evs []identity.Event
}

func (r *recorder) Emit(_ context.Context, ev identity.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
	return nil
}

func (r *recorder) of(typ string) []identity.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []identity.Event
	for _, ev := range r.evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

type env struct {
	ctx    context.Context
	db     *sqlstore.DB
	store  *sqlstore.Identity
	svc    *identity.Service
	cfg    identity.Config
	clock  *testclock.Clock
	events *recorder
	outbox *identity.Outbox
	hasher *countingHasher
	log    *syncbuf.Buffer
}

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newEnv returns a service over a fresh SQLite database; change adjusts
// the configuration first.
func newEnv(t *testing.T, change ...func(*identity.Config)) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{ctx: ctx, db: db, store: sqlstore.NewIdentity(db), clock: testclock.New(start), events: &recorder{},
		hasher: &countingHasher{Hasher: &identity.Argon2id{Params: fastArgon}}, log: &syncbuf.Buffer{}}
	e.outbox = identity.NewOutbox(e.store, identitytest.Sealer(t), e.clock.Now, id.Generator{})
	logger := slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // digits of timestamps could look like codes
			}
			return a
		}}))
	e.cfg = identity.Config{
		Store: e.store, Sealer: identitytest.Sealer(t), Notifier: e.outbox, Key: identity.GenerateKey(), Hasher: e.hasher,
		Events: e.events, Clock: e.clock.Now, Logger: logger,
	}
	for _, c := range change {
		c(&e.cfg)
	}
	if e.svc, err = identity.New(e.cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) messages(t *testing.T, to string) []identity.OutboxMessage {
	t.Helper()
	ms, err := e.outbox.Messages(e.ctx, to, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

const goodPassword = "correct horse battery staple"

var client = identity.Client{IP: "203.0.113.7", UserAgent: "test-browser/1.0", Fingerprint: "fp-1"}

// signUp runs a whole sign-up and returns its result (a session on a
// known device).
func (e *env) signUp(t *testing.T, email, phone string) identity.LoginResult {
	t.Helper()
	su, err := e.svc.SignUp(e.ctx, identity.SignUpRequest{Email: email, Phone: phone, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SignUpConfirm(e.ctx, su.Token, e.lastCode(t, email)); err != nil {
		t.Fatalf("confirm email: %v", err)
	}
	if _, err := e.svc.SignUpConfirm(e.ctx, su.Token, e.lastCode(t, phone)); err != nil {
		t.Fatalf("confirm phone: %v", err)
	}
	res, err := e.svc.SignUpPassword(e.ctx, su.Token, goodPassword, client)
	if err != nil {
		t.Fatalf("password: %v", err)
	}
	// Codes sent later to the same addresses must not wait for the
	// resend limit.
	e.clock.Advance(time.Minute)
	return res
}

// wantErr checks an error's kind and code.
func wantErr(t *testing.T, what string, err error, kind, code string) {
	t.Helper()
	ke := kassa.AsError(err)
	if ke == nil || ke.Kind != kind || ke.Code != code {
		t.Fatalf("%s: error %v, want %s/%s", what, err, kind, code)
	}
}

func lockedFor(t *testing.T, err error) time.Duration {
	t.Helper()
	var le *identity.LockedOutError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is no *LockedOutError", err)
	}
	return le.RetryAfter
}

// lastCode returns the code of the newest outbox message to to.
func (e *env) lastCode(t *testing.T, to string) string { return identitytest.LastCode(t, e.outbox, to) }

var codeRE = identitytest.CodeRE
