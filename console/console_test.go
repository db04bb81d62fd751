package console_test

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/console"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/store/sqlstore"
)

type fixture struct {
	svc    *console.Service
	audit  *audit.Log
	outbox *identity.Outbox
	clock  *testclock.Clock
}

var fastArgon = identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLength: 16, KeyLength: 32}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{clock: testclock.New(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))}
	f.audit = audit.New(sqlstore.NewAudit(db), f.clock.Now, id.Generator{})
	f.outbox = identity.NewOutbox(sqlstore.NewIdentity(db), identitytest.Sealer(t), f.clock.Now, id.Generator{})
	if f.svc, err = console.New(console.Config{Store: sqlstore.NewConsole(db), Sealer: identitytest.Sealer(t),
		Notifier: f.outbox, Audit: f.audit, BaseURL: "https://pay.example", Hasher: &identity.Argon2id{Params: fastArgon},
		Clock: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	return f
}

var linkRE = regexp.MustCompile(`https://pay\.example/console/invite\?token=([A-Za-z0-9_-]+)`)
var secretRE = regexp.MustCompile(`secret=([A-Z2-7]+)`)

const password = "a long console password 1"

// join invites email to org as role and accepts the invitation; it
// returns the member's TOTP secret and session token.
func (f *fixture) join(t *testing.T, org, email string, role console.Role) (secret, session string, m console.Member) {
	t.Helper()
	ctx := context.Background()
	f.clock.Advance(time.Second)
	inv, err := f.svc.Invite(ctx, "", org, email, role)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := f.outbox.Messages(ctx, inv.Member.Email, 1)
	if err != nil || len(ms) != 1 {
		t.Fatalf("invitation mail: %v %v", ms, err)
	}
	tok := linkRE.FindStringSubmatch(ms[0].Body)
	if tok == nil || inv.Link != tok[0] {
		t.Fatalf("invitation link %q in %q", inv.Link, ms[0].Body)
	}
	enr, err := f.svc.StartAccept(ctx, tok[1], password)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	session, m, err = f.svc.FinishAccept(ctx, tok[1], f.code(t, enr.Secret), console.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	return enr.Secret, session, m
}

func (f *fixture) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConsoleMembersLogin: an invited member sets a password and an
// authenticator, logs in with both; a pending login authenticates
// nothing and the code's session has a new token; a replayed code, a
// removed member and a used invitation are refused; every change is in
// the audit log.
func TestConsoleMembersLogin(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	secret, first, m := f.join(t, "mer_a", "Ana@Example.com", console.Owner)
	if m.Email != "ana@example.com" || m.Status != console.Active {
		t.Fatalf("member %+v", m)
	}
	if _, _, err := f.svc.Authenticate(ctx, first); err != nil {
		t.Fatalf("session after accepting: %v", err)
	}
	f.clock.Advance(time.Minute)
	pending, err := f.svc.Login(ctx, "ana@example.com", password, console.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Authenticate(ctx, pending); kassa.AsError(err) != console.ErrSessionInvalid {
		t.Fatalf("pending login authenticates: %v", err)
	}
	code := f.code(t, secret)
	full, _, err := f.svc.PassCode(ctx, pending, code, console.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if full == pending {
		t.Fatal("the logged-in session kept the pending token")
	}
	if _, _, err := f.svc.Authenticate(ctx, pending); err == nil {
		t.Fatal("the pending token works after the code")
	}
	if _, _, err := f.svc.Authenticate(ctx, full); err != nil {
		t.Fatal(err)
	}
	// The same code again (a replay) is refused.
	pending2, err := f.svc.Login(ctx, "ana@example.com", password, console.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.PassCode(ctx, pending2, code, console.Client{}); kassa.AsError(err) != console.ErrCodeInvalid {
		t.Fatalf("replayed code: %v", err)
	}
	for _, tt := range []struct{ email, pw string }{{"ana@example.com", "wrong password 123"}, {"nobody@example.com", password}} {
		if _, err := f.svc.Login(ctx, tt.email, tt.pw, console.Client{}); kassa.AsError(err) != console.ErrLoginFailed {
			t.Errorf("login %s: %v", tt.email, err)
		}
	}
	// A second owner removes the first; her sessions end.
	_, _, bob := f.join(t, "mer_a", "bob@example.com", console.Owner)
	f.clock.Advance(time.Second)
	if err := f.svc.Remove(console.WithMember(ctx, bob, console.Client{}), console.Owner, "mer_a", m.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Authenticate(ctx, full); err == nil {
		t.Fatal("a removed member's session works")
	}
	if _, err := f.svc.Login(ctx, "ana@example.com", password, console.Client{}); kassa.AsError(err) != console.ErrLoginFailed {
		t.Errorf("removed member logs in: %v", err)
	}
	if err := f.svc.Remove(ctx, console.Owner, "mer_a", bob.ID); kassa.ErrorKind(err) != kassa.EConflict {
		t.Errorf("removing the last owner: %v", err)
	}
	if err := f.svc.Remove(ctx, console.Owner, "mer_b", bob.ID); kassa.AsError(err) != console.ErrMemberNotFound {
		t.Errorf("removing another org's member: %v", err)
	}
	evs, _, err := f.audit.List(ctx, audit.Filter{Org: "mer_a", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	want := "[member.remove member.accept member.invite member.login member.accept member.invite]"
	if got := fmtSlice(actions); got != want {
		t.Errorf("audit %s, want %s", got, want)
	}
	if evs[0].Actor.ID != bob.ID || evs[0].Target != m.ID {
		t.Errorf("removal entry %+v", evs[0])
	}
}

func fmtSlice(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}

// TestConsoleInviteRules: roles by organisation, only owners make owners,
// one member per address, an invitation works once and not after 72 h.
func TestConsoleInviteRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tt := range []struct {
		by   console.Role
		org  string
		role console.Role
		kind string
	}{
		{"", "mer_a", console.Operator, kassa.EInvalid},
		{"", console.Platform, console.Analyst, kassa.EInvalid},
		{console.Admin, "mer_a", console.Owner, kassa.EForbidden},
		{"", "mer_a", "root", kassa.EInvalid},
	} {
		if _, err := f.svc.Invite(ctx, tt.by, tt.org, "x@example.com", tt.role); kassa.ErrorKind(err) != tt.kind {
			t.Errorf("%s invites %s to %s: %v, want %s", tt.by, tt.role, tt.org, err, tt.kind)
		}
	}
	inv, err := f.svc.Invite(ctx, console.Admin, "mer_a", "dev@example.com", console.Developer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Invite(ctx, "", "mer_b", "DEV@example.com", console.Analyst); kassa.ErrorKind(err) != kassa.EConflict {
		t.Errorf("second member of an address: %v", err)
	}
	tok := linkRE.FindStringSubmatch(inv.Link)[1]
	f.clock.Advance(console.InviteTTL)
	if _, err := f.svc.StartAccept(ctx, tok, password); kassa.AsError(err) != console.ErrInviteInvalid {
		t.Errorf("expired invitation: %v", err)
	}
	if _, err := f.svc.StartAccept(ctx, "not-a-token", password); kassa.AsError(err) != console.ErrInviteInvalid {
		t.Errorf("made-up invitation: %v", err)
	}
}

// TestConsoleLoginLockoutRace: 50 wrong passwords at once get at most
// the lockout's 5 checks; then even the right password is refused.
func TestConsoleLoginLockoutRace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.join(t, "mer_a", "ana@example.com", console.Owner)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.Login(ctx, "ana@example.com", "wrong password 1234", console.Client{})
			if errors.Is(err, console.ErrLoginFailed) {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed > 5 {
		t.Errorf("%d wrong passwords checked, at most 5", failed)
	}
	if _, err := f.svc.Login(ctx, "ana@example.com", password, console.Client{}); kassa.ErrorKind(err) != kassa.ERateLimited {
		t.Errorf("right password during the lockout: %v", err)
	}
	f.clock.Advance(16 * time.Minute)
	if _, err := f.svc.Login(ctx, "ana@example.com", password, console.Client{}); err != nil {
		t.Errorf("after the lockout: %v", err)
	}
}

// TestConsoleRoleTable: every permission has a line; the operator has
// only the platform's; analysts cannot see keys, developers cannot decide
// reviews.
func TestConsoleRoleTable(t *testing.T) {
	if console.Analyst.Can(console.ViewDevelopers) || console.Analyst.Can(console.ManageKeys) {
		t.Error("analysts see keys")
	}
	if console.Developer.Can(console.DecideReviews) || console.Developer.Can(console.ViewReviews) {
		t.Error("developers work reviews")
	}
	for _, p := range console.Permissions {
		if console.Operator.Can(p) != strings.HasPrefix(string(p), "platform.") {
			t.Errorf("operator and %s", p)
		}
	}
}

// TestConsoleRoleTableDocumented: docs/console.md shows the role table
// the code enforces, line for line.
func TestConsoleRoleTableDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/console.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := console.RoleTable(); !strings.Contains(string(b), want) {
		t.Errorf("docs/console.md lacks the role table of console/roles.go; it is:\n%s", want)
	}
}
