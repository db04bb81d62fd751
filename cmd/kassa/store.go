package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

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
	db, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: f.data, DatabaseURL: f.database,
		UnsafeNoDurability: f.unsafeNoDurability, Logger: f.logger})
	if errors.Is(err, sqlstore.ErrNotDurable) {
		return nil, fmt.Errorf("%w (fix the server's settings, or pass --unsafe-no-durability for a throwaway database)", err)
	}
	return db, err
}

func (f *storeFlags) describe() string {
	if f.database != "" {
		return "postgres"
	}
	return "sqlite in " + f.data
}
