package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
)

// Config says which database to open.
type Config struct {
	// DatabaseURL selects PostgreSQL when it starts with postgres:// or
	// postgresql://. Empty means the embedded SQLite in DataDir.
	DatabaseURL string
	// DataDir holds the SQLite database (and other local state).
	DataDir string
	// UnsafeNoDurability opens a database whose commits are not durable
	// (PostgreSQL with fsync, full_page_writes or synchronous_commit off)
	// instead of refusing it: for throwaway databases only.
	UnsafeNoDurability bool
	// Logger receives the durability settings read at open. Default: none.
	Logger *slog.Logger

	// wrapConn, when set (tests), wraps every PostgreSQL connection.
	wrapConn func(net.Conn) net.Conn
}

// ErrNotDurable is returned by Open when the database would acknowledge
// commits that a crash can lose, and Config.UnsafeNoDurability is not set.
var ErrNotDurable = errors.New("database commits are not durable")

// Setting is one durability setting as the database reports it.
type Setting struct {
	Name, Value string
	Safe        bool // the value keeps acknowledged commits across a crash
}

// Durability returns the durability settings read when db was opened.
func (db *DB) Durability() []Setting { return db.durability }

// checkDurability logs settings and refuses them when one is unsafe,
// unless the config allows it.
func checkDurability(cfg Config, dialect Dialect, settings []Setting) error {
	var unsafe []string
	attrs := []any{"backend", dialect.String()}
	for _, s := range settings {
		attrs = append(attrs, s.Name, s.Value)
		if !s.Safe {
			unsafe = append(unsafe, s.Name+"="+s.Value)
		}
	}
	if len(unsafe) == 0 {
		if cfg.Logger != nil {
			cfg.Logger.Info("database durability", attrs...)
		}
		return nil
	}
	if !cfg.UnsafeNoDurability {
		return fmt.Errorf("%w: %s reports %s; a crash can lose acknowledged payments and transfers",
			ErrNotDurable, dialect, strings.Join(unsafe, ", "))
	}
	if cfg.Logger != nil {
		cfg.Logger.Warn("database durability: UNSAFE, commits are not durable (allowed for a throwaway database)",
			append(attrs, "unsafe", strings.Join(unsafe, ","))...)
	}
	return nil
}

// Open opens the database the config names and migrates it.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	switch {
	case cfg.DatabaseURL == "":
		if cfg.DataDir == "" {
			return nil, fmt.Errorf("no data directory and no database URL given")
		}
		return openSQLite(ctx, cfg)
	case strings.HasPrefix(cfg.DatabaseURL, "postgres://"), strings.HasPrefix(cfg.DatabaseURL, "postgresql://"):
		return openPostgres(ctx, cfg)
	default:
		return nil, fmt.Errorf("database URL must start with postgres:// or postgresql:// (or be empty for the embedded SQLite)")
	}
}
