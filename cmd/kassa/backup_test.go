package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kassa/kassa/store/sqlstore"
)

// backupData makes a data directory holding a migrated SQLite database
// and a ledger key.
func backupData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlstore.OpenSQLite(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := ledgerKey(dir, "", ledgerOriginDefault); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runBackupCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), append([]string{"backup"}, args...), func(string) string { return "" }, &stdout, &stderr)
	return stdout.String(), err
}

// TestBackupDirectory: a backup goes into a new or an empty directory,
// made 0700; anything else is refused, and a backup that fails leaves
// nothing that could pass for one.
func TestBackupDirectory(t *testing.T) {
	data := backupData(t)

	// An existing empty directory, made by hand under umask 022.
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runBackupCmd(t, "--out", empty, "--data", data); err != nil {
		t.Fatalf("backup into an empty directory: %v", err)
	}
	if st, _ := os.Stat(empty); st.Mode().Perm() != 0o700 {
		t.Errorf("the empty backup directory is %v after the backup, want 0700", st.Mode().Perm())
	}
	sums, err := os.ReadFile(filepath.Join(empty, backupSumsFile))
	if err != nil || !strings.Contains(string(sums), "  "+sqlstore.SQLiteFile+"\n") || !strings.Contains(string(sums), "  "+ledgerKeyFile+"\n") {
		t.Errorf("%s = %q, %v", backupSumsFile, sums, err)
	}

	// A file, and a directory that is not empty, are refused untouched.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, err := runBackupCmd(t, "--out", file, "--data", data); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("backup into a file: %v", err)
	}
	if _, err := runBackupCmd(t, "--out", empty, "--data", data); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("backup into a non-empty directory: %v", err)
	}

	// No database: an error, no directory, and no database made.
	none := t.TempDir()
	out := filepath.Join(t.TempDir(), "b1")
	if _, err := runBackupCmd(t, "--out", out, "--data", none); err == nil {
		t.Error("backup of a data directory without a database succeeded")
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed backup left its directory behind")
	}
	if _, err := os.Stat(filepath.Join(none, sqlstore.SQLiteFile)); err == nil {
		t.Error("backup made a database in the data directory it was to copy")
	}

	// A key file given by flag that does not exist: the snapshot already
	// written is removed with the directory.
	out = filepath.Join(t.TempDir(), "b2")
	_, err = runBackupCmd(t, "--out", out, "--data", data, "--vault-kek-file", filepath.Join(none, "missing.json"))
	if err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("backup with a missing --vault-kek-file: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed backup left its directory behind")
	}

	// A key file kept elsewhere is copied under its default name.
	elsewhere := filepath.Join(t.TempDir(), "pin.key")
	os.WriteFile(elsewhere, []byte("pin-key-bytes\n"), 0o600)
	out = filepath.Join(t.TempDir(), "b3")
	printed, err := runBackupCmd(t, "--out", out, "--data", data, "--voucher-pin-key", elsewhere)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(out, voucherPINKeyFile)); string(got) != "pin-key-bytes\n" {
		t.Errorf("%s in the backup = %q, want the --voucher-pin-key file\n%s", voucherPINKeyFile, got, printed)
	}
}
