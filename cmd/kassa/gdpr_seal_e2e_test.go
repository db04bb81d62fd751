package main

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/privacy/seal"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
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
// of gdprSealedTables, the text of those tables' rows in the copy, and
// the subject keys in it (as stored: wrapped).
func gdprBackup(t *testing.T, b backend) (map[string]string, map[string][]byte) {
	t.Helper()
	out, keys := map[string]string{}, map[string][]byte{}
	if b.name != "sqlite" {
		dump := string(gdprPGDump(t, b))
		block := func(table string) string {
			start := strings.Index(dump, "COPY public."+table+" (")
			if start < 0 {
				t.Fatalf("pg_dump has no %s", table)
			}
			end := strings.Index(dump[start:], "\n\\.\n")
			return dump[start : start+end]
		}
		for table := range gdprSealedTables {
			out[table] = block(table)
		}
		for _, line := range strings.Split(block("privacy_keys"), "\n")[1:] {
			f := strings.Split(line, "\t")
			k, err := hex.DecodeString(strings.TrimLeft(f[1], "\\x"))
			if err != nil {
				t.Fatalf("privacy_keys row %q: %v", line, err)
			}
			keys[f[0]] = k
		}
		return out, keys
	}
	dir := filepath.Join(t.TempDir(), "backup")
	if o, err := exec.Command(kassaBin, "backup", "--out", dir, "--data", b.data).CombinedOutput(); err != nil {
		t.Fatalf("kassa backup: %v %s", err, o)
	}
	if _, err := os.Stat(filepath.Join(dir, privacyKEKFile)); err == nil {
		t.Errorf("kassa backup copied %s: a backup must not hold the keys that open its subjects' keys", privacyKEKFile)
	}
	db, err := sqlstore.OpenSQLite(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), `SELECT id, key_wrapped FROM privacy_keys`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var k []byte
		if err := rows.Scan(&id, &k); err != nil {
			t.Fatal(err)
		}
		keys[id] = k
	}
	rows.Close()
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
	return out, keys
}

// checkGDPRBackup: the copy taken before the erasure holds the person's
// sealed columns only as ciphertext; after the shredding the live
// database holds none of the keys they were sealed under, and the
// copy's own copies of those keys no longer open with the privacy key
// file as it is now (its version was destroyed by the rotation).
func checkGDPRBackup(t *testing.T, a *app, b backend, backup map[string]string, keys map[string][]byte, subjects ...string) {
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
	now, err := vault.OpenKeyFile(filepath.Join(b.data, privacyKEKFile))
	if err != nil {
		t.Fatal(err)
	}
	kek := &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(now)}
	for _, s := range subjects {
		k, ok := keys[s]
		if !ok {
			t.Errorf("the backup has no key of %s (%d keys)", s, len(keys))
		} else if _, err := kek.Open(k, seal.KeyAAD(s)); err == nil {
			t.Errorf("the backup's key of %s opens with the privacy key file after the shredding", s)
		}
		var n int
		if err := a.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM privacy_keys WHERE id = ?`, s).Scan(&n); err != nil || n != 0 {
			t.Errorf("the key of %s is still in the database after the shredding (%d, %v)", s, n, err)
		}
	}
}

// TestPrivacyKEKFileMissing: a data directory whose database holds
// persons' data keys but whose privacy key file is gone (lost, or a
// restore without it) is refused with what to do, and nothing is made in
// the file's place: restoring it then works.
func TestPrivacyKEKFileMissing(t *testing.T) {
	data := t.TempDir()
	open := func() (*app, error) {
		var cfg appConfig
		fs := newFlagSet("test", "", io.Discard)
		cfg.register(fs)
		if err := parseFlags(fs, []string{"--data", data}, func(string) string { return "" }); err != nil {
			t.Fatal(err)
		}
		return newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	}
	a, err := open()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.db.Transact(context.Background(), func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(context.Background(), `INSERT INTO privacy_keys (id, key_wrapped, created_at, shred_at) VALUES ('cus_x', X'01', 1, 0)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	a.close()
	path := filepath.Join(data, privacyKEKFile)
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	if _, err := open(); err == nil || !strings.Contains(err.Error(), "restore it") {
		t.Fatalf("open without the privacy key file: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused start left a new %s behind: %v", privacyKEKFile, err)
	}
	if err := os.WriteFile(path, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err = open()
	if err != nil {
		t.Fatalf("open with the restored file: %v", err)
	}
	a.close()
}
