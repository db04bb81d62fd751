package pgtest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestURL(t *testing.T) {
	ctx := context.Background()
	url := URL(t)
	if !strings.HasPrefix(url, "postgres://") {
		t.Fatalf("URL() = %q, want a postgres:// URL", url)
	}
	conn := connect(t, url)

	var fsync string
	if err := conn.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil {
		t.Fatal(err)
	}
	if os.Getenv(EnvDatabaseURL) == "" && fsync != "on" {
		t.Errorf("fsync = %q, want on", fsync)
	}
	var tables int
	err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables)
	if err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("new database has %d tables, want 0", tables)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (id bigint PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO t VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
}

func TestDatabasesAreIsolated(t *testing.T) {
	ctx := context.Background()
	urlA, urlB := URL(t), URL(t)
	if urlA == urlB {
		t.Fatalf("two calls returned the same URL %q", urlA)
	}
	a, b := connect(t, urlA), connect(t, urlB)
	if _, err := a.Exec(ctx, "CREATE TABLE only_in_a (id int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	err := b.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("table made in database A is visible in database B")
	}
	// Both can own a table of the same name.
	if _, err := b.Exec(ctx, "CREATE TABLE only_in_a (id int)"); err != nil {
		t.Errorf("creating the same table name in database B: %v", err)
	}
}

func TestParallel(t *testing.T) {
	for _, name := range []string{"a", "b", "c", "d"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn := connect(t, URL(t))
			var one int
			if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("SELECT 1 = %d, %v", one, err)
			}
		})
	}
}

func TestDatabaseName(t *testing.T) {
	tests := []string{"TestX", "TestX/sub_case#01", strings.Repeat("VeryLong", 20)}
	for _, tt := range tests {
		got := databaseName(tt)
		if len(got) > 63 {
			t.Errorf("databaseName(%q) = %q: %d bytes, want at most 63", tt, got, len(got))
		}
		for _, r := range got {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				t.Errorf("databaseName(%q) = %q: has %q", tt, got, r)
			}
		}
	}
	if databaseName("T") == databaseName("T") {
		t.Error("databaseName is not unique")
	}
}

func TestRequired(t *testing.T) {
	tests := []struct {
		env  string
		want bool
	}{
		{"", false},
		{"chromium", false},
		{"postgres", true},
		{"chromium, Postgres", true},
		{"postgresql", false},
	}
	for _, tt := range tests {
		t.Setenv(EnvRequire, tt.env)
		if got := required(); got != tt.want {
			t.Errorf("required() with %s=%q = %v, want %v", EnvRequire, tt.env, got, tt.want)
		}
	}
}
