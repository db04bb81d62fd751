package storetest

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/console"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
	"github.com/kassa/kassa/vault/vaulttest"
)

func init() {
	Register("Console", func(t *testing.T, open Opener) {
		t.Run("MembersAndSessions", func(t *testing.T) { testConsoleMembers(t, open) })
		t.Run("LockoutRace", func(t *testing.T) { testConsoleLockoutRace(t, open) })
	})
}

type consoleFixture struct {
	svc   *console.Service
	log   *audit.Log
	clock *time.Time
	mu    sync.Mutex
}

func (f *consoleFixture) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.clock
}

func (f *consoleFixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*f.clock = f.clock.Add(d)
}

// notifier keeps the last message to each address.
type notifier struct {
	mu   sync.Mutex
	last map[string]identity.Message
}

func (n *notifier) Send(_ context.Context, m identity.Message) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.last[m.To] = m
	return nil
}

var consoleInviteRE = regexp.MustCompile(`/console/invite\?token=([A-Za-z0-9_-]+)`)

const consolePassword = "a long console password 1"

func newConsoleFixture(t *testing.T, open Opener) (*consoleFixture, *notifier) {
	db := open(t)
	start := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	f := &consoleFixture{clock: &start}
	n := &notifier{last: map[string]identity.Message{}}
	f.log = audit.New(sqlstore.NewAudit(db), f.now, id.Generator{})
	var err error
	f.svc, err = console.New(console.Config{Store: sqlstore.NewConsole(db),
		Sealer:   &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(vaulttest.Keys())},
		Notifier: n, Audit: f.log, BaseURL: "https://pay.example", Clock: f.now,
		Hasher: &identity.Argon2id{Params: identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLength: 16, KeyLength: 32}}})
	if err != nil {
		t.Fatal(err)
	}
	return f, n
}

func (f *consoleFixture) join(t *testing.T, n *notifier, org, email string, role console.Role) (string, string) {
	t.Helper()
	ctx := context.Background()
	inv, err := f.svc.Invite(ctx, "", org, email, role)
	if err != nil {
		t.Fatal(err)
	}
	tok := consoleInviteRE.FindStringSubmatch(n.last[inv.Member.Email].Body)[1]
	enr, err := f.svc.StartAccept(ctx, tok, consolePassword)
	if err != nil {
		t.Fatal(err)
	}
	f.advance(time.Minute)
	code, _ := totp.GenerateCode(enr.Secret, f.now())
	session, _, err := f.svc.FinishAccept(ctx, tok, code, console.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	return enr.Secret, session
}

func testConsoleMembers(t *testing.T, open Opener) {
	ctx := context.Background()
	f, n := newConsoleFixture(t, open)
	secret, session := f.join(t, n, "mer_a", "ana@example.com", console.Owner)
	m, _, err := f.svc.Authenticate(ctx, session)
	if err != nil || m.Email != "ana@example.com" || m.Status != console.Active || m.Org != "mer_a" {
		t.Fatalf("member %+v, %v", m, err)
	}
	if _, err := f.svc.Invite(ctx, "", "mer_b", "ana@example.com", console.Analyst); kassa.ErrorKind(err) != kassa.EConflict {
		t.Errorf("a second member of one address: %v", err)
	}
	pending, err := f.svc.Login(ctx, "ana@example.com", consolePassword, console.Client{})
	if err != nil {
		t.Fatal(err)
	}
	f.advance(time.Minute)
	code, _ := totp.GenerateCode(secret, f.now())
	full, _, err := f.svc.PassCode(ctx, pending, code, console.Client{})
	if err != nil {
		t.Fatal(err)
	}
	// Idle for longer than the limit: over.
	f.advance(console.SessionIdle + time.Second)
	if _, _, err := f.svc.Authenticate(ctx, full); err == nil {
		t.Error("an idle session lives on")
	}
	// Removed, the address is free for a new member.
	_, _ = f.join(t, n, "mer_a", "bob@example.com", console.Owner)
	if err := f.svc.Remove(ctx, "", "mer_a", m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Invite(ctx, "", "mer_b", "ana@example.com", console.Analyst); err != nil {
		t.Errorf("inviting a removed member's address: %v", err)
	}
	ms, err := f.svc.Members(ctx, "mer_a")
	if err != nil || len(ms) != 2 || ms[0].Status != console.Removed {
		t.Errorf("members %+v, %v", ms, err)
	}
}

func testConsoleLockoutRace(t *testing.T, open Opener) {
	ctx := context.Background()
	f, n := newConsoleFixture(t, open)
	f.join(t, n, "mer_a", "ana@example.com", console.Owner)
	var wg sync.WaitGroup
	var mu sync.Mutex
	checked := 0
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.Login(ctx, "ana@example.com", "wrong password 1234", console.Client{})
			if errors.Is(err, console.ErrLoginFailed) {
				mu.Lock()
				checked++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if checked > 5 {
		t.Errorf("%d wrong passwords checked, at most 5", checked)
	}
	if _, err := f.svc.Login(ctx, "ana@example.com", consolePassword, console.Client{}); kassa.ErrorKind(err) != kassa.ERateLimited {
		t.Errorf("the right password in the lockout: %v", err)
	}
}
