package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrationFS embed.FS

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations are written once, for SQLite, in migrations/sqlite. PostgreSQL
// runs the same files translated by postgresSQL (BLOB → BYTEA, INTEGER →
// BIGINT, no WITHOUT ROWID), unless migrations/postgres holds a file of
// the same name, which is then used as it is.
const (
	migrationsDir        = "migrations/sqlite"
	postgresOverridesDir = "migrations/postgres"
	migrationExtension   = ".sql"
)

var postgresTypes = strings.NewReplacer(" BLOB", " BYTEA", " INTEGER", " BIGINT", ") WITHOUT ROWID;", ");")

// postgresSQL translates a SQLite migration for PostgreSQL.
func postgresSQL(sqlite string) string { return postgresTypes.Replace(sqlite) }

// Migrations lists the dialect's migrations in version order.
func Migrations(d Dialect) ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFS, migrationsDir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, migrationExtension) {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		body, err := migrationSQL(d, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: strings.TrimSuffix(name, migrationExtension), SQL: body})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share a version", ms[i-1].Name, ms[i].Name)
		}
	}
	return ms, nil
}

func migrationSQL(d Dialect, name string) (string, error) {
	if d == Postgres {
		if b, err := fs.ReadFile(migrationFS, path.Join(postgresOverridesDir, name)); err == nil {
			return string(b), nil
		}
	}
	b, err := fs.ReadFile(migrationFS, path.Join(migrationsDir, name))
	if err != nil {
		return "", err
	}
	if d == Postgres {
		return postgresSQL(string(b)), nil
	}
	return string(b), nil
}

// Migrate applies every migration not yet applied, each in its own
// transaction together with its row in schema_migrations. Two processes
// migrating at once are safe: the second blocks on the version row's
// primary key and then finds the migration applied.
func (db *DB) Migrate(ctx context.Context) error {
	ms, err := Migrations(db.dialect)
	if err != nil {
		return err
	}
	_, err = db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at BIGINT NOT NULL)`)
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range ms {
		if err := db.migrateOne(ctx, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

func (db *DB) migrateOne(ctx context.Context, m Migration) error {
	err := db.Transact(ctx, func(tx *Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n)
		if err != nil || n > 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, time.Now().UnixMicro())
		if err != nil {
			return err
		}
		// PostgreSQL takes several statements in one simple-protocol
		// Exec; SQLite's driver runs them one after another.
		_, err = tx.Tx.ExecContext(ctx, m.SQL)
		return err
	})
	if db.IsUniqueViolation(err) {
		return nil // another process applied it meanwhile
	}
	return err
}

// SchemaVersion returns the highest applied migration version.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
