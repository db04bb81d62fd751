package sqlstore

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kassa/kassa/internal/pgtest"
)

// personalColumn names a column that identifies or reaches a person.
var personalColumn = regexp.MustCompile(`(^|_)(customer|payer|email|phone)(_|$)`)

// TestPrivacyTablesCovered lists, from the schema of each backend, every
// table with a customer, payer, email or phone column, and fails for one
// the GDPR export and erasure do not cover: a table added later (by any
// issue) holding personal data must be added to privacyTables (and to
// privacyScrub) or, with its reason, to privacyExempt.
func TestPrivacyTablesCovered(t *testing.T) {
	ctx := context.Background()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var db *DB
			var err error
			var q string
			if backend == "sqlite" {
				db, err = OpenSQLite(ctx, t.TempDir())
				q = `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY 1, 2`
			} else {
				db, err = OpenPostgres(ctx, pgtest.URL(t))
				q = `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY 1, 2`
			}
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rows, err := db.QueryContext(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			found := map[string][]string{}
			for rows.Next() {
				var table, column string
				if err := rows.Scan(&table, &column); err != nil {
					t.Fatal(err)
				}
				if personalColumn.MatchString(column) {
					found[table] = append(found[table], column)
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if len(found) < 5 {
				t.Fatalf("only %d tables with personal columns found (%v): is the schema query right?", len(found), found)
			}
			for table, cols := range found {
				covered := slices.ContainsFunc(privacyTables, func(p privacyTable) bool { return p.name == table })
				if _, exempt := privacyExempt[table]; !covered && !exempt {
					t.Errorf("table %s has personal columns %v that the GDPR export and erasure do not cover: "+
						"add it to privacyTables in store/sqlstore/privacy.go (how to find a subject's rows, which columns "+
						"are secrets) and scrub it in privacyScrub, or add it to privacyExempt with the reason it holds "+
						"nothing personal; docs/privacy.md lists the tables", table, cols)
				}
			}
			// Every covered table exists, and its clauses run.
			for _, p := range privacyTables {
				for _, where := range []string{p.account, p.merchant} {
					if where == "" {
						continue
					}
					subject := privacySubject{email: "a@example.com", phone: "+4915100000001"}
					subject.sub.CustomerID = "cus_x"
					if where == p.merchant {
						subject.sub.MerchantID = "mer_x"
					}
					if _, err := collectRows(ctx, db, p, subject, where); err != nil {
						t.Errorf("collect %s: %v", p.name, err)
					}
				}
			}
		})
	}
}

func TestTruncateEventIP(t *testing.T) {
	tests := []struct{ in, ip string }{
		{`{"id":"pay_1","ip":"203.0.113.45","email":"a@b.c"}`, "203.0.113.0"},
		{`{"ip":"2001:db8:1234:5678::1"}`, "2001:db8:1234::"},
		{`{"ip":"::ffff:198.51.100.7"}`, "198.51.100.0"},
		{`{"ip":"not an address"}`, ""},
		{`{"id":"x"}`, ""},
	}
	for _, tt := range tests {
		got := truncateEventIP(tt.in)
		var m map[string]any
		if err := json.Unmarshal([]byte(got), &m); err != nil {
			t.Fatalf("truncateEventIP(%s) = %s: %v", tt.in, got, err)
		}
		if ip, _ := m["ip"].(string); ip != tt.ip {
			t.Errorf("truncateEventIP(%s) ip = %q, want %q", tt.in, ip, tt.ip)
		}
		if strings.Contains(tt.in, "email") && m["email"] != "a@b.c" {
			t.Errorf("truncateEventIP dropped other fields: %s", got)
		}
	}
}
