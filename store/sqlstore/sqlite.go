package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
)

// SQLiteFile is the database file's name inside the data directory.
const SQLiteFile = "kassa.db"

// OpenSQLite opens (creating when absent) the SQLite database in dir and
// applies pending migrations. Commits are durable: WAL with
// synchronous=FULL fsyncs the log on every commit.
func OpenSQLite(ctx context.Context, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, SQLiteFile)
	params := url.Values{}
	params.Add("_pragma", "busy_timeout(10000)")
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "synchronous(FULL)")
	params.Add("_pragma", "foreign_keys(1)")
	params.Add("_pragma", "cache_size(-65536)")
	params.Add("_txlock", "immediate")
	write, err := sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	params.Set("_txlock", "deferred")
	params.Add("_pragma", "query_only(1)")
	// Readers map the file instead of copying pages into each
	// connection's own cache.
	params.Add("_pragma", "mmap_size(1073741824)")
	read, err := sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)

	db := &DB{dialect: SQLite, write: write, read: read, dir: dir}
	// The write connection must exist first: it creates the file and
	// switches it to WAL before a read-only connection opens it.
	if err := db.write.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.comb = newCombiner(db)
	return db, nil
}

func sqliteErrorCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}
