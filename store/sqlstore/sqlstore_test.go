package sqlstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *sqlstore.DB {
		db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *sqlstore.DB {
		db, err := sqlstore.OpenPostgres(context.Background(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestRebind(t *testing.T) {
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.Rebind("SELECT ?"); got != "SELECT ?" {
		t.Errorf("sqlite Rebind changed the query: %q", got)
	}
}

func TestOpenRefusesOtherURLs(t *testing.T) {
	_, err := sqlstore.Open(context.Background(), sqlstore.Config{DatabaseURL: "mysql://x"})
	if err == nil {
		t.Fatal("Open accepted a mysql URL")
	}
}
