package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
)

// Migration 0023 gives the platform-wide locks older versions wrote
// without an expiry (fraud labels) one of 24 hours from their creation,
// and leaves merchants' entries alone (issue 12 item 3).
func TestMigration0023PlatformLocksExpire(t *testing.T) {
	for _, tt := range []struct {
		name string
		open func(t *testing.T) (*sqlstore.DB, error)
	}{
		{"sqlite", func(t *testing.T) (*sqlstore.DB, error) {
			return sqlstore.OpenSQLite(context.Background(), t.TempDir())
		}},
		{"postgres", func(t *testing.T) (*sqlstore.DB, error) {
			return sqlstore.OpenPostgres(context.Background(), pgtest.URL(t))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := tt.open(t)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			st := sqlstore.NewRisk(db)
			created := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
			for _, en := range []risk.ListEntry{
				{MerchantID: "", List: risk.ListBlock, Type: risk.EntryVoucherSerial, Value: "V-OLD", Note: "auto: labelled fraud (analyst)", Created: created},
				{MerchantID: "mer_1", List: risk.ListBlock, Type: risk.EntryVoucherSerial, Value: "V-OLD", Note: "auto: labelled fraud (analyst)", Created: created},
			} {
				if err := st.PutListEntry(ctx, en); err != nil {
					t.Fatal(err)
				}
			}
			ms, err := sqlstore.Migrations(db.Dialect())
			if err != nil {
				t.Fatal(err)
			}
			ran := false
			for _, m := range ms {
				if m.Version == 23 {
					if _, err := db.Writer().ExecContext(ctx, m.SQL); err != nil {
						t.Fatalf("migration 23: %v", err)
					}
					ran = true
				}
			}
			if !ran {
				t.Fatal("no migration 23")
			}
			for _, tc := range []struct {
				merchant string
				want     time.Time
			}{{"", created.Add(24 * time.Hour)}, {"mer_1", time.Time{}}} {
				es, err := st.ListEntries(ctx, tc.merchant, risk.ListBlock, false)
				if err != nil {
					t.Fatal(err)
				}
				if len(es) != 1 || !es[0].Expires.Equal(tc.want) {
					t.Errorf("merchant %q entries after migration 23 = %+v, want one expiring %v", tc.merchant, es, tc.want)
				}
			}
		})
	}
}
