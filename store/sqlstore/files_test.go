package sqlstore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kassa/kassa/store/sqlstore"
)

// TestSQLiteFilesPrivate: the database files hold the ledger, PIN hashes
// and sealed card records; they are 0600 whatever the umask, also when an
// older Kassa left them readable by others, and so are the WAL and shared
// memory files SQLite makes beside them (it copies the database file's
// mode).
func TestSQLiteFilesPrivate(t *testing.T) {
	dir := t.TempDir()
	check := func(when string) {
		t.Helper()
		for _, name := range []string{sqlstore.SQLiteFile, sqlstore.SQLiteFile + "-wal", sqlstore.SQLiteFile + "-shm",
			sqlstore.LedgerIndexFile, sqlstore.LedgerIndexFile + "-wal"} {
			st, err := os.Stat(filepath.Join(dir, name))
			if os.IsNotExist(err) {
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s is %#o, want 0600", when, name, st.Mode().Perm())
			}
		}
	}
	open := func() {
		t.Helper()
		db, err := sqlstore.OpenSQLite(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		check("while open")
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	open()
	// An older Kassa's files, left 0644.
	for _, name := range []string{sqlstore.SQLiteFile, sqlstore.SQLiteFile + "-wal", sqlstore.SQLiteFile + "-shm"} {
		if err := os.Chmod(filepath.Join(dir, name), 0o644); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	open()
}
