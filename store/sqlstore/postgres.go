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
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
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
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func pgErrorCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
