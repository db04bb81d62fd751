// Package pgtest gives tests a throwaway PostgreSQL database.
//
// Each call to URL creates a fresh, empty database and drops it when the test
// ends. The server is either the one named by KASSA_TEST_DATABASE_URL or, when
// that is unset, a private cluster that this package starts once per test
// binary from the PostgreSQL 15 server binaries (see [BinDir]).
//
// A package whose tests call URL must run them through Main, so that the
// cluster is stopped and its data directory removed when the tests finish:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// Should the test binary die without running Main's cleanup (a -timeout
// panic, a kill), the server still stops: it is started with a parent-death
// signal. The data directory left behind is removed by the next test binary
// that starts a cluster.
//
// When no server can be had, URL skips the test loudly; when the
// comma-separated list in KASSA_TEST_REQUIRE contains "postgres" it fails the
// test instead, so that CI cannot pass by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by this package.
const (
	// EnvDatabaseURL names an existing server to use instead of a throwaway
	// cluster, as a postgres:// URL of a role allowed to create databases.
	EnvDatabaseURL = "KASSA_TEST_DATABASE_URL"
	// EnvRequire holds a comma-separated list of test dependencies whose
	// absence must fail tests rather than skip them; "postgres" is ours.
	EnvRequire = "KASSA_TEST_REQUIRE"
	// EnvBinDir overrides BinDir.
	EnvBinDir = "KASSA_TEST_PG_BINDIR"
)

// BinDir is where the PostgreSQL server binaries are looked for, unless
// KASSA_TEST_PG_BINDIR says otherwise.
const BinDir = "/usr/lib/postgresql/15/bin"

// adminTimeout bounds each administrative step (connect, CREATE/DROP DATABASE).
const adminTimeout = 30 * time.Second

var (
	mainRunning atomic.Bool

	clusterOnce sync.Once
	clusterMu   sync.Mutex // guards shared and clusterErr against Main's stop
	shared      *cluster
	clusterErr  error
)

// errNoBinaries marks a missing PostgreSQL installation: a skip, not a failure,
// unless postgres is required.
var errNoBinaries = errors.New("PostgreSQL server binaries not found")

// Main runs the tests of m, then stops the throwaway cluster, if one was
// started, and removes its data directory. It returns the exit code for
// os.Exit. Every package whose tests call URL must call it from TestMain.
func Main(m *testing.M) int {
	mainRunning.Store(true)
	code := m.Run()
	mainRunning.Store(false)

	clusterMu.Lock()
	c := shared
	shared = nil
	clusterMu.Unlock()
	if c != nil {
		if err := c.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping the throwaway cluster: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// URL returns a postgres:// URL to a new, empty database made for this test,
// usable by pgx and by a child process. The database is dropped when the test
// ends (best effort).
func URL(t testing.TB) string {
	t.Helper()
	admin, err := adminURL()
	if errors.Is(err, errNoBinaries) {
		unavailable(t, err)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}

	name := databaseName(t.Name())
	if err := execAdmin(admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// FORCE ends sessions a test forgot to close, so the drop is not blocked.
		drop := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"
		if err := execAdmin(admin, drop); err != nil {
			t.Logf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return withDatabase(admin, name)
}

// PrivateURL starts a cluster of its own for t, with the server settings
// ("name=value", e.g. "fsync=off") of settings over the shared cluster's,
// and returns a postgres:// URL to its maintenance database. The cluster
// is stopped and removed when the test ends. It costs an initdb (about a
// second): use it only for settings a database cannot have on its own.
// KASSA_TEST_DATABASE_URL does not apply: the settings need a server.
func PrivateURL(t testing.TB, settings ...string) string {
	t.Helper()
	c, err := startCluster(settings...)
	if errors.Is(err, errNoBinaries) {
		unavailable(t, err)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("pgtest: stopping the private cluster: %v", err)
		}
	})
	return c.url("postgres")
}

// adminURL returns the URL of the maintenance database "postgres" on the
// server that tests use, starting the throwaway cluster on first use.
func adminURL() (string, error) {
	if env := os.Getenv(EnvDatabaseURL); env != "" {
		u, err := url.Parse(env)
		if err != nil {
			return "", fmt.Errorf("parsing %s: %w", EnvDatabaseURL, err)
		}
		if u.Scheme != "postgres" && u.Scheme != "postgresql" {
			return "", fmt.Errorf("%s: scheme %q, want postgres", EnvDatabaseURL, u.Scheme)
		}
		return withDatabase(env, "postgres"), nil
	}
	if !mainRunning.Load() {
		return "", errors.New("the throwaway cluster needs TestMain to call pgtest.Main (func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) })")
	}
	clusterOnce.Do(func() {
		c, err := startCluster()
		clusterMu.Lock()
		shared, clusterErr = c, err
		clusterMu.Unlock()
	})
	clusterMu.Lock()
	defer clusterMu.Unlock()
	if clusterErr != nil {
		return "", clusterErr
	}
	if shared == nil {
		return "", errors.New("the throwaway cluster was already stopped")
	}
	return shared.url("postgres"), nil
}

// unavailable skips t, or fails it when postgres is required.
func unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("pgtest: NO POSTGRESQL: %v; install postgresql-15 or set %s", err, EnvDatabaseURL)
	if required() {
		t.Fatalf("%s (%s asks for postgres, so this is a failure, not a skip)", msg, EnvRequire)
	}
	t.Skipf("%s — SKIPPING (set %s=postgres to fail instead)", msg, EnvRequire)
}

func required() bool {
	for _, s := range strings.Split(os.Getenv(EnvRequire), ",") {
		if strings.EqualFold(strings.TrimSpace(s), "postgres") {
			return true
		}
	}
	return false
}

// execAdmin runs one statement on its own connection. A connection per call
// keeps parallel tests from sharing a pgx.Conn, which is not safe for that.
func execAdmin(connURL, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns connURL with its database replaced by name.
// connURL has been parsed before, so it parses again.
func withDatabase(connURL, name string) string {
	u, err := url.Parse(connURL)
	if err != nil {
		panic(fmt.Sprintf("pgtest: URL %q no longer parses: %v", connURL, err))
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// databaseName makes a unique, valid, recognisable database name from a test
// name: "kt_" + the test name's letters and digits + 12 random hex digits.
func databaseName(testName string) string {
	const stemLenMax = 63 - len("kt__") - 12 // PostgreSQL truncates names at 63 bytes.
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case b.Len() >= stemLenMax:
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return "kt_" + b.String() + "_" + randomHex(6)
}

func randomHex(n int) string {
	p := make([]byte, n)
	rand.Read(p) // Never fails (crypto/rand documents it).
	return hex.EncodeToString(p)
}
