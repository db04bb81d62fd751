package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kassa/kassa/internal/pgtest"
)

// TestSQLiteSynchronousFull reads the pragmas back on connections of both
// pools: every one of them runs WAL with synchronous=FULL (2), so each
// commit fsyncs the log before it is acknowledged.
func TestSQLiteSynchronousFull(t *testing.T) {
	ctx := context.Background()
	var log bytes.Buffer
	db, err := Open(ctx, Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pools := []struct {
		name  string
		pool  *sql.DB
		conns int
	}{{"write", db.write, 1}, {"read", db.read, 4}}
	for _, p := range pools {
		// Hold several connections at once so that each is a distinct one.
		var conns []*sql.Conn
		for range p.conns {
			c, err := p.pool.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for i, c := range conns {
			var sync int
			var mode string
			if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
				t.Fatal(err)
			}
			if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
				t.Fatal(err)
			}
			if sync != 2 || mode != "wal" {
				t.Errorf("%s connection %d: synchronous=%d journal_mode=%s, want 2 (FULL) and wal", p.name, i, sync, mode)
			}
			c.Close()
		}
	}
	if got := log.String(); !strings.Contains(got, `"synchronous":"FULL"`) || !strings.Contains(got, `"journal_mode":"wal"`) {
		t.Errorf("open logged %q, want the durability settings", got)
	}
}

// TestSQLiteRefusesNotDurable opens a file whose connections ask for
// synchronous=NORMAL: the read-back check refuses it.
func TestSQLiteRefusesNotDurable(t *testing.T) {
	pool, err := sql.Open("sqlite", t.TempDir()+"/x.db?"+sqliteParams("NORMAL").Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	settings, err := sqliteDurability(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkDurability(Config{}, SQLite, settings); !errors.Is(err, ErrNotDurable) || !strings.Contains(err.Error(), "synchronous=NORMAL") {
		t.Errorf("check = %v, want ErrNotDurable naming synchronous=NORMAL", err)
	}
}

// TestPostgresRefusesNotDurable opens databases whose commits are not
// durable: one with synchronous_commit off (a per-database setting) on the
// shared cluster, and a cluster of its own with fsync and full_page_writes
// off. Open refuses each, naming the settings, unless UnsafeNoDurability
// is set; then it opens and logs a warning with them.
func TestPostgresRefusesNotDurable(t *testing.T) {
	ctx := context.Background()
	syncOff := pgtest.URL(t)
	conn, err := pgx.Connect(ctx, syncOff)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', current_database()); END $$")
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		url    string
		unsafe []string
	}{
		{"synchronous_commit", syncOff, []string{"synchronous_commit=off"}},
		{"fsync", pgtest.PrivateURL(t, "fsync=off", "full_page_writes=off"), []string{"fsync=off", "full_page_writes=off"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&log, nil))
			db, err := Open(ctx, Config{DatabaseURL: tt.url, Logger: logger})
			if err == nil {
				db.Close()
				t.Fatalf("opened a database with %v", tt.unsafe)
			}
			if !errors.Is(err, ErrNotDurable) {
				t.Fatalf("open = %v, want ErrNotDurable", err)
			}
			for _, s := range tt.unsafe {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			if _, err := OpenPostgres(ctx, tt.url); !errors.Is(err, ErrNotDurable) {
				t.Errorf("OpenPostgres = %v, want ErrNotDurable", err)
			}
			db, err = Open(ctx, Config{DatabaseURL: tt.url, Logger: logger, UnsafeNoDurability: true})
			if err != nil {
				t.Fatalf("open with UnsafeNoDurability: %v", err)
			}
			defer db.Close()
			if !strings.Contains(log.String(), "UNSAFE") {
				t.Errorf("no warning logged: %s", log.String())
			}
			for _, s := range tt.unsafe {
				name, value, _ := strings.Cut(s, "=")
				if !strings.Contains(log.String(), `"`+name+`":"`+value+`"`) {
					t.Errorf("log %s does not show %s", log.String(), s)
				}
			}
		})
	}
}

// TestPostgresDurableLogged opens the shared cluster (fsync, full page
// writes and synchronous commit on) and logs the settings it read.
func TestPostgresDurableLogged(t *testing.T) {
	var log bytes.Buffer
	db, err := Open(context.Background(), Config{DatabaseURL: pgtest.URL(t), Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, want := range []string{`"fsync":"on"`, `"synchronous_commit":"on"`, `"full_page_writes":"on"`} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log %s lacks %s", log.String(), want)
		}
	}
	if got := len(db.Durability()); got != 3 {
		t.Errorf("Durability() has %d settings, want 3", got)
	}
}
