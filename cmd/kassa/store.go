package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/kassa/kassa/store/sqlstore"
)

// storeFlags are the flags every command that opens the database shares.
type storeFlags struct {
	data               string
	database           string
	unsafeNoDurability bool
	logger             *slog.Logger // gets the durability settings read at open; nil: none
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.data, "data", "./kassa-data", "data `directory` (the embedded SQLite database, TLS certificate, keys)")
	fs.StringVar(&f.database, "database", "", "PostgreSQL `URL` (postgres://...); empty uses the embedded SQLite in --data")
	fs.BoolVar(&f.unsafeNoDurability, "unsafe-no-durability", false, "run on a database whose commits are not durable (PostgreSQL fsync, full_page_writes or synchronous_commit off) instead of refusing; throwaway databases only")
}

func (f *storeFlags) open(ctx context.Context) (*sqlstore.DB, error) {
	if err := privateDir(f.data); err != nil {
		return nil, err
	}
	db, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: f.data, DatabaseURL: f.database,
		UnsafeNoDurability: f.unsafeNoDurability, Logger: f.logger})
	if errors.Is(err, sqlstore.ErrNotDurable) {
		return nil, fmt.Errorf("%w (fix the server's settings, or pass --unsafe-no-durability for a throwaway database)", err)
	}
	return db, err
}

// privateDir makes dir (the data directory) if needed and forces it to
// 0700: it holds the database, the TLS key and the secret key files, and
// one made by hand under the usual umask (0755) would let every local
// user read them.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if st.Mode()&os.ModeSticky != 0 {
		// A shared directory such as /tmp: closing it would break
		// everyone else's use of it.
		return fmt.Errorf("data directory %s is a shared directory (sticky bit); give Kassa a directory of its own", dir)
	}
	if st.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data directory %s is %#o and cannot be made 0700: %w", dir, st.Mode().Perm(), err)
		}
	}
	return nil
}

func (f *storeFlags) describe() string {
	if f.database != "" {
		return "postgres"
	}
	return "sqlite in " + f.data
}
