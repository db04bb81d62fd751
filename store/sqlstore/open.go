package sqlstore

import (
	"context"
	"fmt"
	"strings"
)

// Config says which database to open.
type Config struct {
	// DatabaseURL selects PostgreSQL when it starts with postgres:// or
	// postgresql://. Empty means the embedded SQLite in DataDir.
	DatabaseURL string
	// DataDir holds the SQLite database (and other local state).
	DataDir string
}

// Open opens the database the config names and migrates it.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	switch {
	case cfg.DatabaseURL == "":
		if cfg.DataDir == "" {
			return nil, fmt.Errorf("no data directory and no database URL given")
		}
		return OpenSQLite(ctx, cfg.DataDir)
	case strings.HasPrefix(cfg.DatabaseURL, "postgres://"), strings.HasPrefix(cfg.DatabaseURL, "postgresql://"):
		return OpenPostgres(ctx, cfg.DatabaseURL)
	default:
		return nil, fmt.Errorf("database URL must start with postgres:// or postgresql:// (or be empty for the embedded SQLite)")
	}
}
