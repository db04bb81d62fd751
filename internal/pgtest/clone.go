package pgtest

import (
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Clone returns the URL of a new database copied from the one src (a URL
// from URL) names, with CREATE DATABASE ... TEMPLATE; it is dropped when
// the test ends. Nothing may be connected to src while it is copied.
// Tests that change a database behind Kassa's back (tampering, faults)
// take one copy per case.
func Clone(t testing.TB, src string) string {
	t.Helper()
	admin, err := adminURL()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u, err := url.Parse(src)
	if err != nil {
		t.Fatalf("pgtest: clone source %q: %v", src, err)
	}
	from := strings.TrimPrefix(u.Path, "/")
	name := databaseName(t.Name())
	if err := execAdmin(admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+
		" TEMPLATE "+pgx.Identifier{from}.Sanitize()); err != nil {
		t.Fatalf("pgtest: copying database %s to %s: %v", from, name, err)
	}
	t.Cleanup(func() {
		drop := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"
		if err := execAdmin(admin, drop); err != nil {
			t.Logf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return withDatabase(src, name)
}
