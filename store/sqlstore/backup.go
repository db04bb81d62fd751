package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
)

// BackupSQLite writes a consistent copy of the SQLite database in dir to
// dst, a file that must not exist yet; it is made 0600 and fsynced. It
// runs beside a serving Kassa (other processes keep writing).
//
// Copying kassa.db is not a backup: under WAL the latest commits live in
// kassa.db-wal until a checkpoint moves them, and a copy of the two files
// taken while a checkpoint runs mixes two states. VACUUM INTO instead
// reads the database in one read transaction — one snapshot, which WAL
// lets writers go on past — and writes it into one self-contained file.
// The account index (LedgerIndexFile) is left out: it is derived data,
// and a restored database rebuilds it.
func BackupSQLite(ctx context.Context, dir, dst string) (err error) {
	src := filepath.Join(dir, SQLiteFile)
	if st, err := os.Stat(src); err != nil {
		return fmt.Errorf("no SQLite database to back up: %w", err)
	} else if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a file", src)
	}
	// Made empty and private first (VACUUM INTO accepts an empty file),
	// so the copy is never readable by others, not even for a moment.
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(dst)
		}
	}()
	// Not query_only (VACUUM INTO writes, though only to dst); the
	// connection changes nothing in the source.
	pool, err := sql.Open("sqlite", src+"?"+sqliteParams("FULL").Encode())
	if err != nil {
		return fmt.Errorf("open sqlite: %w", err)
	}
	defer pool.Close()
	pool.SetMaxOpenConns(1)
	if _, err := pool.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("vacuum into %s: %w", dst, err)
	}
	if err := pool.Close(); err != nil {
		return fmt.Errorf("close sqlite: %w", err)
	}
	return syncFile(dst)
}

// syncFile fsyncs the file at path.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return nil
}
