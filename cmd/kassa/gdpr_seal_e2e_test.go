package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kassa/kassa/privacy/seal"
	"github.com/kassa/kassa/store/sqlstore"
)

// gdprSealedTables are the person's columns sealed under their subjects'
// keys while live, and the values of the GDPR test's person they hold.
var gdprSealedTables = map[string]struct {
	columns []string
	needles []string
}{
	"payments":  {[]string{"customer_email", "customer_phone"}, []string{gdprEmail, gdprPhone}},
	"payouts":   {[]string{"iban", "account_holder", "customer_email", "customer_first_name", "customer_last_name"}, []string{gdprIBAN, gdprGiven, gdprFamily, gdprEmail}},
	"customers": {[]string{"email", "phone", "given_name", "family_name"}, []string{gdprEmail, gdprPhone, gdprGiven, gdprFamily}},
}

// gdprBackup is a copy of the database taken before the erasure: on
// SQLite a kassa backup, on PostgreSQL a pg_dump. It returns, per table
// of gdprSealedTables, the text of those tables' rows in the copy.
func gdprBackup(t *testing.T, b backend) map[string]string {
	t.Helper()
	out := map[string]string{}
	if b.name != "sqlite" {
		dump := string(gdprPGDump(t, b))
		for table := range gdprSealedTables {
			start := strings.Index(dump, "COPY public."+table+" (")
			if start < 0 {
				t.Fatalf("pg_dump has no %s", table)
			}
			end := strings.Index(dump[start:], "\n\\.\n")
			out[table] = dump[start : start+end]
		}
		return out
	}
	dir := filepath.Join(t.TempDir(), "backup")
	if o, err := exec.Command(kassaBin, "backup", "--out", dir, "--data", b.data).CombinedOutput(); err != nil {
		t.Fatalf("kassa backup: %v %s", err, o)
	}
	db, err := sqlstore.OpenSQLite(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for table, c := range gdprSealedTables {
		rows, err := db.QueryContext(context.Background(), "SELECT "+strings.Join(c.columns, " || '|' || ")+" FROM "+table)
		if err != nil {
			t.Fatal(err)
		}
		var all []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			all = append(all, s)
		}
		rows.Close()
		out[table] = strings.Join(all, "\n")
	}
	return out
}

// checkGDPRBackup: the copy taken before the erasure holds the person's
// sealed columns only as ciphertext, and the live database, after the
// shredding, holds none of the keys they were sealed under.
func checkGDPRBackup(t *testing.T, a *app, backup map[string]string, subjects ...string) {
	t.Helper()
	for table, c := range gdprSealedTables {
		text := backup[table]
		for _, needle := range c.needles {
			if i := strings.Index(text, needle); i >= 0 {
				t.Errorf("the backup's %s holds %q in clear: …%q…", table, needle, text[max(0, i-60):min(len(text), i+len(needle)+60)])
			}
		}
		if !strings.Contains(text, seal.Prefix[1:]) { // (pg_dump writes the leading \x1e as \036)
			t.Errorf("the backup's %s holds no sealed value: %q", table, text)
		}
	}
	for _, s := range subjects {
		var n int
		if err := a.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM privacy_keys WHERE id = ?`, s).Scan(&n); err != nil || n != 0 {
			t.Errorf("the key of %s is still in the database after the shredding (%d, %v)", s, n, err)
		}
	}
}
