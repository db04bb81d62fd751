package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/store/sqlstore"
)

// databaseURL is the --database of b, "" for SQLite in its data directory.
func (b backend) databaseURL() string {
	if i := slices.Index(b.args, "--database"); i >= 0 && i+1 < len(b.args) {
		return b.args[i+1]
	}
	return ""
}

// clone copies a stopped kassa's state (data directory and database) into
// a new backend, for a test that changes it behind kassa's back.
func (b backend) clone(t *testing.T) backend {
	t.Helper()
	dir := copyDir(t, b.data)
	c := backend{name: b.name, args: []string{"--data", dir}, data: dir}
	if u := b.databaseURL(); u != "" {
		c.args = append(c.args, "--database", pgtest.Clone(t, u))
	}
	return c
}

// openStore opens b's database the way kassa does (already migrated).
func openStore(t *testing.T, b backend) *sqlstore.DB {
	t.Helper()
	ctx := context.Background()
	var db *sqlstore.DB
	var err error
	if u := b.databaseURL(); u != "" {
		db, err = sqlstore.OpenPostgres(ctx, u)
	} else {
		db, err = sqlstore.OpenSQLite(ctx, b.data)
	}
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// storedBytes returns everything a stopped kassa keeps in its database:
// the SQLite files (with the WAL) as they are on disk, or every row of
// every PostgreSQL table as text (bytea shows as \x and hex digits, so a
// search must look for the hex form of a secret too).
func storedBytes(t *testing.T, b backend) []byte {
	t.Helper()
	var blob bytes.Buffer
	u := b.databaseURL()
	if u == "" {
		for _, name := range []string{sqlstore.SQLiteFile, sqlstore.SQLiteFile + "-wal"} {
			if data, err := os.ReadFile(filepath.Join(b.data, name)); err == nil {
				blob.Write(data)
			}
		}
		return blob.Bytes()
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) == 0 {
		t.Fatal("the database has no tables")
	}
	for _, table := range tables {
		rows, err := conn.Query(ctx, `SELECT t::text FROM `+pgx.Identifier{table}.Sanitize()+` t`)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("reading %s: %v", table, err)
		}
		for _, s := range texts {
			blob.WriteString(s)
			blob.WriteByte('\n')
		}
	}
	return blob.Bytes()
}
