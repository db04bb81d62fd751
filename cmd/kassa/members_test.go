package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/store/sqlstore"
)

// TestMembersCLI: the host invites a merchant's first owner and the
// platform's operator (the invitation also goes to the development
// outbox), lists and removes members; each change is audited as the
// CLI's; bad usage exits 2 with a plain message.
func TestMembersCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kassa := func(args ...string) (string, string, error) {
		var out, errb bytes.Buffer
		err := run(ctx, append(args, "--data", dir), func(string) string { return "" }, &out, &errb)
		return out.String(), errb.String(), err
	}
	out, _, err := kassa("merchants", "create", "--name", "Shop")
	if err != nil {
		t.Fatal(err)
	}
	mer := regexp.MustCompile(`mer_[a-z0-9]+`).FindString(out)
	out, _, err = kassa("members", "invite", "--merchant", mer, "--email", "Ana@Example.com", "--role", "owner")
	if err != nil || !strings.Contains(out, "/console/invite?token=") || !strings.Contains(out, "ana@example.com") {
		t.Fatalf("invite = %q, %v", out, err)
	}
	ana := regexp.MustCompile(`mem_[a-z0-9]+`).FindString(out)
	if out, _, err = kassa("members", "invite", "--operator", "--email", "ops@example.com"); err != nil || !strings.Contains(out, "operator") {
		t.Fatalf("operator invite = %q, %v", out, err)
	}
	if out, _, err = kassa("outbox", "--to", "ops@example.com"); err != nil || !strings.Contains(out, "/console/invite?token=") {
		t.Errorf("outbox = %q, %v", out, err)
	}
	if out, _, err = kassa("members", "list", "--merchant", mer); err != nil || !strings.Contains(out, "ana@example.com  owner  invited") {
		t.Errorf("list = %q, %v", out, err)
	}
	if out, _, err = kassa("members", "remove", "--merchant", mer, "--member", ana); err != nil || !strings.Contains(out, "removed") {
		t.Errorf("remove = %q, %v", out, err)
	}
	for _, args := range [][]string{
		{"members"},
		{"members", "promote"},
		{"members", "invite", "--email", "x@example.com", "--role", "owner"},
		{"members", "invite", "--merchant", mer, "--operator", "--email", "x@example.com"},
		{"members", "remove", "--merchant", mer},
	} {
		if _, _, err := kassa(args...); exitCode(err, &bytes.Buffer{}) != 2 {
			t.Errorf("kassa %v: %v, want usage error", args, err)
		}
	}
	if _, _, err := kassa("members", "invite", "--merchant", "mer_nope", "--email", "x@example.com", "--role", "owner"); err == nil {
		t.Error("invited to a merchant that does not exist")
	}
	db, err := sqlstore.OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	evs, _, err := audit.New(sqlstore.NewAudit(db), nil, id.Generator{}).List(ctx, audit.Filter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		if e.Actor.Kind != audit.ActorCLI {
			t.Errorf("%s by %+v", e.Action, e.Actor)
		}
		got = append(got, e.Org+":"+e.Action)
	}
	if want := mer + ":member.remove platform:member.invite " + mer + ":member.invite"; strings.Join(got, " ") != want {
		t.Errorf("audit %q, want %q", strings.Join(got, " "), want)
	}
}
