package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/privacy"
	"github.com/kassa/kassa/store/sqlstore"
)

// TestPrivacyEraseScrubsAudit: erasing a merchant's customer replaces
// their email and phone in the audit entries that hold them (a lifted
// lock of the address, a state that named them), marks those entries
// scrubbed, and leaves who acted, when, and the entries about others
// (a member's own email) as they were; the log refuses any other change
// and every removal, on both backends.
func TestPrivacyEraseScrubsAudit(t *testing.T) {
	forPrivacyBackends(t, func(t *testing.T, e *privacyEnv) {
		ctx := context.Background()
		now := e.clock.Now()
		e.merchant(t, "mer_a")
		e.payment(t, "pay_a1", "mer_a", "p7", "anna@example.org", "captured", now)
		log := audit.New(sqlstore.NewAudit(e.db), e.clock.Now, id.Generator{})
		if err := log.Record(ctx, audit.Platform, "risk_lock.lift", "email:anna@example.org",
			map[string]bool{"locked": true}, map[string]bool{"locked": false}); err != nil {
			t.Fatal(err)
		}
		if err := log.Record(ctx, "mer_a", "customer.note", "p7", nil, map[string]string{"phone": "+4915100000042"}); err != nil {
			t.Fatal(err)
		}
		if err := log.Record(ctx, "mer_a", "member.invite", "mem_1", nil, map[string]string{"email": "ana.staff@example.org"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Erase(ctx, privacy.Subject{MerchantID: "mer_a", CustomerID: "p7"}, "ticket-1"); err != nil {
			t.Fatal(err)
		}
		all := func(org string) []audit.Event {
			es, _, err := log.List(ctx, audit.Filter{Org: org, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			return es
		}
		var text strings.Builder
		for _, ev := range append(all(audit.Platform), all("mer_a")...) {
			text.WriteString(ev.Action + " " + ev.Target + " " + string(ev.Before) + " " + string(ev.After) + "\n")
			if ev.Created.IsZero() || ev.Action == "" {
				t.Errorf("entry lost who or when: %+v", ev)
			}
		}
		got := text.String()
		for _, gone := range []string{"anna@example.org", "+4915100000042"} {
			if strings.Contains(got, gone) {
				t.Errorf("the audit log still holds %q:\n%s", gone, got)
			}
		}
		for _, kept := range []string{"risk_lock.lift email:[erased]", "ana.staff@example.org", `{"locked":false}`} {
			if !strings.Contains(got, kept) {
				t.Errorf("the audit log lacks %q:\n%s", kept, got)
			}
		}
		if n := e.text(t, `SELECT CAST(COUNT(*) AS TEXT) FROM audit_events WHERE scrubbed_at <> 0`); n != "2" {
			t.Errorf("%s entries marked scrubbed, want 2", n)
		}
		// Still append-only: no other change, no removal.
		for _, q := range []string{
			`UPDATE audit_events SET action = 'x', scrubbed_at = scrubbed_at + 1`,
			`UPDATE audit_events SET target = 'x'`,
			`DELETE FROM audit_events`,
		} {
			if _, err := e.db.Writer().ExecContext(ctx, q); err == nil {
				t.Errorf("%s: allowed", q)
			}
		}
	})
}
