package console_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/console"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/store/sqlstore"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fixtureOn is newFixture over the given database.
func fixtureOn(t *testing.T, db *sqlstore.DB) *fixture {
	t.Helper()
	f := &fixture{clock: testclock.New(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))}
	f.audit = audit.New(sqlstore.NewAudit(db), f.clock.Now, id.Generator{})
	f.outbox = identity.NewOutbox(sqlstore.NewIdentity(db), identitytest.Sealer(t), f.clock.Now, id.Generator{})
	var err error
	if f.svc, err = console.New(console.Config{Store: sqlstore.NewConsole(db), Sealer: identitytest.Sealer(t),
		Notifier: f.outbox, Audit: f.audit, BaseURL: "https://pay.example", Hasher: &identity.Argon2id{Params: fastArgon},
		Clock: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestConsoleSetRole, on both backends: an owner changes a member's role
// (audited, the member's session reads the new role at once); an admin
// neither makes nor unmakes an owner; the last owner stays one; another
// organisation's member is none; two owners demoting each other at once
// leave exactly one owner.
func TestConsoleSetRole(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		testSetRole(t, fixtureOn(t, db))
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := sqlstore.OpenPostgres(context.Background(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		testSetRole(t, fixtureOn(t, db))
	})
}

func testSetRole(t *testing.T, f *fixture) {
	ctx := context.Background()
	_, _, ana := f.join(t, "mer_a", "ana@example.com", console.Owner)
	_, devSession, dev := f.join(t, "mer_a", "dev@example.com", console.Developer)
	_, _, adm := f.join(t, "mer_a", "adm@example.com", console.Admin)
	_, _, other := f.join(t, "mer_b", "other@example.com", console.Owner)
	m, err := f.svc.SetRole(console.WithMember(ctx, ana, console.Client{IP: "192.0.2.1"}), console.Owner, "mer_a", dev.ID, console.Analyst)
	if err != nil || m.Role != console.Analyst {
		t.Fatalf("owner sets analyst: %v %v", m.Role, err)
	}
	if got, _, err := f.svc.Authenticate(ctx, devSession); err != nil || got.Role != console.Analyst {
		t.Errorf("the member's session reads %v (%v)", got.Role, err)
	}
	for _, tt := range []struct {
		name   string
		by     console.Role
		org    string
		member string
		role   console.Role
		code   string
	}{
		{"admin makes an owner", console.Admin, "mer_a", dev.ID, console.Owner, "role_forbidden"},
		{"admin demotes the owner", console.Admin, "mer_a", ana.ID, console.Admin, "role_forbidden"},
		{"the last owner", console.Owner, "mer_a", ana.ID, console.Admin, "last_owner"},
		{"another org's member", console.Owner, "mer_a", other.ID, console.Admin, "member_not_found"},
		{"an operator role", console.Owner, "mer_a", dev.ID, console.Operator, "role_invalid"},
		{"a made-up role", console.Owner, "mer_a", dev.ID, "root", "role_invalid"},
	} {
		_, err := f.svc.SetRole(ctx, tt.by, tt.org, tt.member, tt.role)
		if e := kassa.AsError(err); e == nil || e.Code != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
	if got, _ := f.svc.Member(ctx, "mer_b", other.ID); got.Role != console.Owner {
		t.Errorf("B's owner became %s", got.Role)
	}
	evs, _, _ := f.audit.List(ctx, audit.Filter{Org: "mer_a", Action: "member.role", Limit: 100})
	if len(evs) != 1 || evs[0].Target != dev.ID || evs[0].Actor.ID != ana.ID {
		t.Errorf("audit %+v", evs)
	}
	// Two owners demote each other at the same moment: one of them stays.
	for round := range 5 {
		if _, err := f.svc.SetRole(ctx, console.Owner, "mer_a", adm.ID, console.Owner); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, pair := range [][2]string{{ana.ID, adm.ID}, {adm.ID, ana.ID}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = f.svc.SetRole(ctx, console.Owner, "mer_a", pair[1], console.Admin)
			}()
		}
		wg.Wait()
		owners := 0
		ms, _ := f.svc.Members(ctx, "mer_a")
		for _, m := range ms {
			if m.Role == console.Owner {
				owners++
			}
		}
		if owners != 1 || (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: %d owners, errors %v", round, owners, errs)
		}
		// Back to ana as the one owner, adm an admin.
		for _, m := range ms {
			if m.Role == console.Owner && m.ID != ana.ID {
				if _, err := f.svc.SetRole(ctx, console.Owner, "mer_a", ana.ID, console.Owner); err != nil {
					t.Fatal(err)
				}
				if _, err := f.svc.SetRole(ctx, console.Owner, "mer_a", m.ID, console.Admin); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
