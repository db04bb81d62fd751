package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// Limits on the PostgreSQL connection pool of one Kassa process.
const (
	postgresConnsMax    = 32
	postgresConnIdleMax = 5 * time.Minute
)

// OpenPostgres connects to the PostgreSQL database at url (postgres://...)
// and applies pending migrations.
// It refuses a server whose commits are not durable (ErrNotDurable).
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	return openPostgres(ctx, Config{DatabaseURL: url})
}

func openPostgres(ctx context.Context, cfg Config) (*DB, error) {
	url := cfg.DatabaseURL
	pool, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	pool.SetMaxOpenConns(postgresConnsMax)
	pool.SetMaxIdleConns(postgresConnsMax)
	pool.SetConnMaxIdleTime(postgresConnIdleMax)
	db := &DB{dialect: Postgres, write: pool, read: pool}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.PingContext(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if db.durability, err = postgresDurability(pingCtx, pool); err == nil {
		err = checkDurability(cfg, Postgres, db.durability)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// postgresDurability reads the settings an acknowledged commit's survival
// rests on, as a session of pool sees them (synchronous_commit can be set
// per database, per role and in the connection URL).
func postgresDurability(ctx context.Context, pool *sql.DB) ([]Setting, error) {
	var fsync, syncCommit, fullPages string
	err := pool.QueryRowContext(ctx, "SELECT current_setting('fsync'), current_setting('synchronous_commit'), current_setting('full_page_writes')").
		Scan(&fsync, &syncCommit, &fullPages)
	if err != nil {
		return nil, fmt.Errorf("read postgres durability settings: %w", err)
	}
	return []Setting{
		{Name: "fsync", Value: fsync, Safe: fsync == "on"},
		// local, remote_write, on and remote_apply all flush the local WAL
		// before acknowledging; off does not.
		{Name: "synchronous_commit", Value: syncCommit, Safe: syncCommit != "off"},
		{Name: "full_page_writes", Value: fullPages, Safe: fullPages == "on"},
	}, nil
}

func pgErrorCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
