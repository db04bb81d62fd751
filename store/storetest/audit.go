package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/store/sqlstore"
)

func init() {
	Register("Audit", func(t *testing.T, open Opener) {
		t.Run("PagesAndScope", func(t *testing.T) { testAuditPages(t, open) })
		t.Run("AppendOnly", func(t *testing.T) { testAuditAppendOnly(t, open) })
	})
}

func testAuditPages(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	log := audit.New(sqlstore.NewAudit(db), func() time.Time { return now }, id.Generator{})
	actx := audit.WithActor(ctx, audit.Actor{Kind: audit.ActorMember, ID: "mem_a", Name: "ana@example.com", Role: "admin",
		IP: "203.0.113.9", UserAgent: "test"})
	for i := range 7 {
		now = now.Add(time.Second)
		if err := log.Record(actx, "mer_a", "payment.refund", fmt.Sprintf("pay_%d", i), map[string]any{"refunded": 0},
			map[string]any{"refunded": 100 * i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.Record(actx, "mer_b", "member.invite", "mem_x", nil, map[string]string{"role": "analyst"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	if err := log.Record(actx, "mer_a", "api_key.revoke", "key_1", nil, nil); err != nil {
		t.Fatal(err)
	}
	var seen []string
	after := ""
	for {
		evs, more, err := log.List(ctx, audit.Filter{Org: "mer_a", StartingAfter: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Org != "mer_a" {
				t.Fatalf("org %s in mer_a's list", e.Org)
			}
			seen = append(seen, e.Target)
		}
		if !more {
			break
		}
		after = evs[len(evs)-1].ID
	}
	want := "[key_1 pay_6 pay_5 pay_4 pay_3 pay_2 pay_1 pay_0]"
	if got := fmt.Sprint(seen); got != want {
		t.Errorf("pages %s, want %s", got, want)
	}
	evs, _, err := log.List(ctx, audit.Filter{Org: "mer_a", Action: "payment.", Target: "pay_3", Limit: 10})
	if err != nil || len(evs) != 1 {
		t.Fatalf("filtered %v %v", evs, err)
	}
	e := evs[0]
	if e.Actor.Name != "ana@example.com" || e.Actor.IP != "203.0.113.9" || e.Actor.Role != "admin" ||
		string(e.Before) != `{"refunded":0}` || string(e.After) != `{"refunded":300}` || !e.Created.Equal(now.Add(-4*time.Second)) {
		t.Errorf("entry %+v", e)
	}
	all, _, err := log.List(ctx, audit.Filter{Limit: 100})
	if err != nil || len(all) != 9 {
		t.Fatalf("operator's view: %d entries, %v", len(all), err)
	}
	// Another organisation's entry is no cursor.
	var other string
	for _, e := range all {
		if e.Org == "mer_b" {
			other = e.ID
		}
	}
	if _, _, err := log.List(ctx, audit.Filter{Org: "mer_a", StartingAfter: other, Limit: 3}); kassa.AsError(err) == nil ||
		kassa.AsError(err).Code != "cursor_invalid" {
		t.Errorf("other org's cursor: %v", err)
	}
}

func testAuditAppendOnly(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	log := audit.New(sqlstore.NewAudit(db), nil, id.Generator{})
	if err := log.Record(ctx, "mer_a", "member.remove", "mem_1", map[string]string{"role": "analyst"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE audit_events SET action = 'nothing'`, `DELETE FROM audit_events`} {
		err := db.Transact(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.ExecContext(ctx, q)
			return err
		})
		if err == nil {
			t.Errorf("%s: no error", q)
		}
	}
	evs, _, err := log.List(ctx, audit.Filter{Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].Action != "member.remove" || evs[0].Actor.Kind != audit.ActorSystem {
		t.Errorf("after refused changes: %+v %v", evs, err)
	}
}
