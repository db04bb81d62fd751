package main

import (
	"context"
	"flag"

	"github.com/kassa/kassa/store/sqlstore"
)

// storeFlags are the flags every command that opens the database shares.
type storeFlags struct {
	data     string
	database string
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.data, "data", "./kassa-data", "data `directory` (the embedded SQLite database, TLS certificate, keys)")
	fs.StringVar(&f.database, "database", "", "PostgreSQL `URL` (postgres://...); empty uses the embedded SQLite in --data")
}

func (f *storeFlags) open(ctx context.Context) (*sqlstore.DB, error) {
	return sqlstore.Open(ctx, sqlstore.Config{DataDir: f.data, DatabaseURL: f.database})
}

func (f *storeFlags) describe() string {
	if f.database != "" {
		return "postgres"
	}
	return "sqlite in " + f.data
}
