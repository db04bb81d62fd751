package sqlstore

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestBackupSQLiteSnapshot backs the database up while another
// connection keeps committing transactions that each insert x and -x:
// the copy must hold whole transactions only (the sum is 0, the count
// even), be one file (no WAL beside it) readable by its owner only, and a
// second backup onto it must be refused and leave it as it was.
func TestBackupSQLiteSnapshot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.write.ExecContext(ctx, "CREATE TABLE backup_probe (x INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	insertPair := func(i int) error {
		tx, err := db.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for _, x := range []int{i, -i} {
			if _, err := tx.ExecContext(ctx, "INSERT INTO backup_probe (x) VALUES (?)", x); err != nil {
				return err
			}
		}
		return tx.Commit()
	}
	for i := 1; i <= 100; i++ { // something to copy even if the writer is slow to start
		if err := insertPair(i); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error
	wg.Go(func() {
		for i := 101; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if writeErr = insertPair(i); writeErr != nil {
				return
			}
		}
	})
	dst := filepath.Join(t.TempDir(), "copy.db")
	err = BackupSQLite(ctx, dir, dst)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if writeErr != nil {
		t.Fatalf("the writer beside the backup: %v", writeErr)
	}
	st, err := os.Stat(dst)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the copy: %v, mode %v, want 0600", err, st.Mode())
	}
	if _, err := os.Stat(dst + "-wal"); err == nil {
		t.Error("the copy has a WAL beside it")
	}
	before, _ := os.ReadFile(dst)

	copyDB, err := sql.Open("sqlite", dst+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	var n, sum int64
	err = copyDB.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(x), 0) FROM backup_probe").Scan(&n, &sum)
	copyDB.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n < 200 || n%2 != 0 || sum != 0 {
		t.Errorf("the copy holds %d rows summing to %d, want whole transactions (an even count ≥ 200, sum 0)", n, sum)
	}
	t.Logf("copied %d rows (%d transactions) while the writer ran", n, n/2)

	if err := BackupSQLite(ctx, dir, dst); err == nil {
		t.Error("a backup onto an existing file succeeded")
	}
	if after, _ := os.ReadFile(dst); string(after) != string(before) {
		t.Error("a refused backup changed the existing file")
	}
	if err := BackupSQLite(ctx, t.TempDir(), filepath.Join(t.TempDir(), "none.db")); err == nil {
		t.Error("a backup of a directory without a database succeeded")
	}
}
