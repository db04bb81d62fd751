package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"modernc.org/sqlite"
)

// SQLiteFile is the database file's name inside the data directory.
const SQLiteFile = "kassa.db"

// OpenSQLite opens (creating when absent) the SQLite database in dir and
// applies pending migrations. Commits are durable: WAL with
// synchronous=FULL fsyncs the log on every commit.
func OpenSQLite(ctx context.Context, dir string) (*DB, error) {
	return openSQLite(ctx, Config{DataDir: dir})
}

func openSQLite(ctx context.Context, cfg Config) (*DB, error) {
	dir := cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, SQLiteFile)
	if err := privateFiles(path); err != nil {
		return nil, err
	}
	params := sqliteParams("FULL")
	params.Add("_pragma", "foreign_keys(1)")
	params.Add("_pragma", "cache_size(-65536)")
	// Deleted and overwritten content is zeroed, not left in free space:
	// an erasure (privacy) must leave no personal data in the file.
	params.Add("_pragma", "secure_delete(1)")
	// Readers map the file instead of copying pages into each
	// connection's own cache.
	write, read, err := openSQLitePools(path, params, 8, "mmap_size(1073741824)")
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}

	db := &DB{dialect: SQLite, write: write, read: read, dir: dir}
	// The write connection must exist first: it creates the file and
	// switches it to WAL before a read-only connection opens it.
	if err := db.write.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if db.durability, err = sqliteDurability(ctx, db.write); err == nil {
		err = checkDurability(cfg, SQLite, db.durability)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.comb = newCombiner(db)
	return db, nil
}

// openSQLitePools opens the file at path as one write connection, which
// begins IMMEDIATE transactions, and a pool of up to readers read-only
// connections, with the pragmas of params (plus readPragmas on readers).
func openSQLitePools(path string, params url.Values, readers int, readPragmas ...string) (write, read *sql.DB, err error) {
	params = maps.Clone(params)
	params.Set("_txlock", "immediate")
	if write, err = sql.Open("sqlite", path+"?"+params.Encode()); err != nil {
		return nil, nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	params.Set("_txlock", "deferred")
	params.Add("_pragma", "query_only(1)")
	for _, p := range readPragmas {
		params.Add("_pragma", p)
	}
	if read, err = sql.Open("sqlite", path+"?"+params.Encode()); err != nil {
		write.Close()
		return nil, nil, err
	}
	read.SetMaxOpenConns(readers)
	read.SetMaxIdleConns(readers)
	return write, read, nil
}

// sqliteParams are the connection parameters every SQLite file of Kassa
// starts from: WAL, a busy timeout, the given synchronous level.
func sqliteParams(synchronous string) url.Values {
	params := url.Values{}
	params.Add("_pragma", "busy_timeout(10000)")
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "synchronous("+synchronous+")")
	return params
}

// sqliteDurability reads back the journal mode and synchronous level the
// connection parameters asked for: a driver that ignored them would
// otherwise go unnoticed.
func sqliteDurability(ctx context.Context, pool *sql.DB) ([]Setting, error) {
	var mode string
	var sync int
	if err := pool.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return nil, fmt.Errorf("read journal_mode: %w", err)
	}
	if err := pool.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return nil, fmt.Errorf("read synchronous: %w", err)
	}
	levels := []string{"OFF", "NORMAL", "FULL", "EXTRA"}
	level := strconv.Itoa(sync)
	if sync >= 0 && sync < len(levels) {
		level = levels[sync]
	}
	return []Setting{
		{Name: "journal_mode", Value: mode, Safe: mode == "wal"},
		// In WAL mode NORMAL syncs only at checkpoints: a power cut loses
		// the commits since the last one.
		{Name: "synchronous", Value: level, Safe: sync >= 2},
	}, nil
}

func sqliteErrorCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// privateFiles makes the SQLite database at path 0600 before it is
// opened: created empty (an empty file is an empty database) when absent,
// its mode narrowed when an older Kassa or an operator left it readable by
// others. SQLite gives the WAL and shared-memory files it makes the
// database file's mode; ones already there are narrowed too.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("sqlite file: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, st.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("sqlite file %s is %#o and cannot be made private: %w", p, st.Mode().Perm(), err)
			}
		}
	}
	return nil
}
