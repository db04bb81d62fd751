package audit_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/store/sqlstore"
)

// TestRecordBounds: an entry's actor fields are cut to their bounds and
// made valid text; a state too large, or an entry without an
// organisation or action, is refused, not written in part.
func TestRecordBounds(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := audit.New(sqlstore.NewAudit(db), nil, id.Generator{})
	actx := audit.WithActor(ctx, audit.Actor{Kind: audit.ActorMember, ID: "mem_1",
		UserAgent: strings.Repeat("ü", 500) + "\xff\x00", IP: "2001:db8::1"})
	if err := l.Record(actx, "mer_1", "payment.capture", "pay_1", nil, map[string]int{"amount": 1}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, org, action string
		after             any
	}{
		{"no org", "", "x.y", nil},
		{"no action", "mer_1", "", nil},
		{"huge state", "mer_1", "x.y", strings.Repeat("a", 9000)},
		{"unmarshalable", "mer_1", "x.y", func() {}},
	} {
		if err := l.Record(actx, tt.org, tt.action, "t", nil, tt.after); err == nil {
			t.Errorf("%s: recorded", tt.name)
		}
	}
	evs, _, err := l.List(ctx, audit.Filter{Limit: 10})
	if err != nil || len(evs) != 1 {
		t.Fatalf("%d entries, %v", len(evs), err)
	}
	if ua := evs[0].Actor.UserAgent; len(ua) > 200 || strings.ContainsAny(ua, "\x00\xff") {
		t.Errorf("user agent %q", ua)
	}
	if a := audit.ActorFrom(ctx); a.Kind != audit.ActorSystem {
		t.Errorf("actor of a bare context: %+v", a)
	}
}
