// Package sqlstore implements the storage interfaces of Kassa's domain
// packages on SQL. One implementation serves both backends: SQLite (the
// embedded default, pure Go, WAL, durable commits) and PostgreSQL (pgx).
// Queries are written once with '?' placeholders and rebound for
// PostgreSQL; where the dialects differ the code asks DB.Dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kassa/kassa/privacy/seal"
)

// Dialect names the SQL backend behind a DB.
type Dialect int

const (
	SQLite Dialect = iota + 1
	Postgres
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "unknown"
}

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// DB is a handle on one Kassa database.
//
// On SQLite, writes go through a pool of one connection that begins
// IMMEDIATE transactions (one writer, no lock upgrades, no SQLITE_BUSY in
// the middle of a transaction) and reads use a separate read-only pool that
// WAL lets run beside the writer. On PostgreSQL both are the same pool.
type DB struct {
	dialect Dialect
	write   *sql.DB
	read    *sql.DB

	rebound sync.Map // query text → rebound query text (PostgreSQL)

	comb       *combiner // SQLite: combines concurrent write transactions
	writeStmts sync.Map  // SQLite: query → *sql.Stmt on the write pool
	readStmts  sync.Map  // SQLite: query → *sql.Stmt on the read pool
	stmtCount  atomic.Int64
	stmtWanted sync.Map // SQLite: write queries to prepare between batches

	durability []Setting // as read at open

	failoverEpoch atomic.Uint64 // PostgreSQL: bumped when the server failed over (postgres.go)
	// ledgerTraceFn, when set (tests), is called at points of a ledger
	// batch on PostgreSQL (ledger_postgres.go).
	ledgerTraceFn func(point int)

	dir        string       // SQLite: the data directory
	lindexOnce sync.Once    // SQLite: opens the ledger's account index
	lindex     *ledgerIndex // (ledger_index.go)
	lindexErr  error

	closeOnce sync.Once
	closeErr  error

	logger atomic.Pointer[slog.Logger] // background work's failures (SetLogger)

	paymentsOnce sync.Once
	payments     *paymentCache // payment_cache.go
	windowsOnce  sync.Once
	windows      *windowCache // payment_cache.go

	commits atomic.Uint64 // Transact calls that committed (Commits)

	sealing atomic.Pointer[seal.Keyring] // personal columns' subject keys (personal.go)
	stmts   atomic.Uint64                // statements run in write transactions (Statements)
	reads   atomic.Uint64                // reads outside write transactions (Reads)
}

// Statements returns how many SQL statements write transactions have run
// so far (through Tx, savepoints included), whether or not they committed.
// Like Commits it counts work, not time, so tests may assert it.
func (db *DB) Statements() uint64 { return db.stmts.Load() }

// Reads returns how many queries have run outside write transactions
// (DB.QueryContext, DB.QueryRowContext): each is a read transaction of
// its own on the read pool.
func (db *DB) Reads() uint64 { return db.reads.Load() }

// Commits returns how many Transact calls have committed so far: each a
// durable commit its caller waited for (on SQLite the write combiner may
// share one fsync among several calls, but each still waits for one).
func (db *DB) Commits() uint64 { return db.commits.Load() }

// SetLogger sets where the database's background work (the ledger's
// account index on SQLite) reports failures. Default: none.
func (db *DB) SetLogger(l *slog.Logger) { db.logger.Store(l) }

// Dialect reports the backend.
func (db *DB) Dialect() Dialect { return db.dialect }

// Writer returns the pool used for writes (for code that needs the driver
// connection, e.g. PostgreSQL COPY). Prefer Transact.
func (db *DB) Writer() *sql.DB { return db.write }

// Close closes every pool; closing again returns the first close's error.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.lindexOnce.Do(func() {}) // none opens after this
		if db.lindex != nil {
			db.lindex.close()
		}
		if db.comb != nil {
			db.comb.close()
		}
		db.closeErr = db.write.Close()
		if db.read != db.write {
			db.closeErr = errors.Join(db.closeErr, db.read.Close())
		}
	})
	return db.closeErr
}

// Ping checks that the database answers; on PostgreSQL, that it takes
// writes too (ErrReadOnly when the server is a standby).
func (db *DB) Ping(ctx context.Context) error {
	if db.dialect == Postgres {
		return db.pingPostgres(ctx)
	}
	var one int
	return db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Rebind turns '?' placeholders into the dialect's own ($1, $2, ... on
// PostgreSQL). Question marks inside single-quoted literals are left alone.
func (db *DB) Rebind(query string) string {
	if db.dialect != Postgres || !strings.Contains(query, "?") {
		return query
	}
	if q, ok := db.rebound.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	q := b.String()
	db.rebound.Store(query, q)
	return q
}

// QueryContext runs a read query outside any transaction.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	db.reads.Add(1)
	q := db.Rebind(query)
	if s := db.cachedStmt(ctx, db.read, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return db.read.QueryContext(ctx, q, args...)
}

// QueryRowContext runs a read query returning at most one row.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	db.reads.Add(1)
	q := db.Rebind(query)
	if s := db.cachedStmt(ctx, db.read, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return db.read.QueryRowContext(ctx, q, args...)
}

// Tx is a write transaction. Its methods rebind placeholders.
type Tx struct {
	*sql.Tx
	db   *DB
	conn *sql.Conn // on PostgreSQL, the connection of Tx
	// afterCommit runs once the transaction (the calling Transact's
	// function, when the write combiner shares it) committed.
	afterCommit []func()
}

// AfterCommit has f run once the caller's transaction committed durably;
// never when it rolled back, failed or its outcome is unknown.
func (tx *Tx) AfterCommit(f func()) { tx.afterCommit = append(tx.afterCommit, f) }

// committed runs the AfterCommit functions.
func (tx *Tx) committed() {
	for _, f := range tx.afterCommit {
		f()
	}
	tx.afterCommit = nil
}

// DB returns the database the transaction belongs to.
func (tx *Tx) DB() *DB { return tx.db }

func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tx.db.stmts.Add(1)
	q := tx.db.Rebind(query)
	if s := tx.db.cachedStmt(ctx, tx.db.write, q); s != nil {
		return tx.Tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, q, args...)
}

func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	tx.db.stmts.Add(1)
	q := tx.db.Rebind(query)
	if s := tx.db.cachedStmt(ctx, tx.db.write, q); s != nil {
		return tx.Tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, q, args...)
}

func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	tx.db.stmts.Add(1)
	q := tx.db.Rebind(query)
	if s := tx.db.cachedStmt(ctx, tx.db.write, q); s != nil {
		return tx.Tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, q, args...)
}

// PrepareContext returns a statement for use in the transaction (on
// SQLite, from the statement cache when the query is in it).
func (tx *Tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	tx.db.stmts.Add(1)
	q := tx.db.Rebind(query)
	if s := tx.db.cachedStmt(ctx, tx.db.write, q); s != nil {
		return tx.Tx.StmtContext(ctx, s), nil
	}
	return tx.Tx.PrepareContext(ctx, q)
}

// Limits on Transact's retries of serialization failures and deadlocks.
const (
	transactAttemptsMax = 10
	transactBackoffMin  = time.Millisecond
	transactBackoffMax  = 200 * time.Millisecond
)

// Limits on Transact's waits for a PostgreSQL primary. A failover under
// pg_auto_failover with short health checks takes about 10 s (measured in
// docs/operations.md); a transaction that failed before its COMMIT for
// want of a primary runs again until one takes it, for at most
// transactFailoverWaitMax, well within the HTTP server's write timeout.
const (
	transactFailoverWaitMax    = 20 * time.Second
	transactFailoverBackoffMin = 50 * time.Millisecond
	transactFailoverBackoffMax = time.Second
)

// commitError marks an error of COMMIT itself: the transaction may have
// committed (the connection broke after the server took the COMMIT), so
// it is never run again.
type commitError struct{ err error }

func (e *commitError) Error() string { return "commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// Transact runs fn in one write transaction and commits it. A
// serialization failure or deadlock (PostgreSQL 40001/40P01, SQLite
// BUSY) rolls back and runs fn again, at most transactAttemptsMax times with
// jittered exponential backoff, so fn must not have effects outside tx. On
// PostgreSQL, a transaction that failed before its COMMIT because the
// server is gone, shutting down or read-only (a failover: SQLSTATE 25006,
// 57P01, class 08, a broken connection) runs again on a new connection
// for up to transactFailoverWaitMax; an error of the COMMIT itself leaves
// the outcome unknown and is returned. A panic in fn rolls back and is
// re-raised. When ctx carries a lease fence (a leased background job's
// writes, package lease), fn runs only while that lease is still held at
// its epoch, checked in the same transaction; otherwise Transact fails
// with lease.ErrLost.
func (db *DB) Transact(ctx context.Context, fn func(tx *Tx) error) error {
	fn = db.fenced(ctx, fn)
	backoff := transactBackoffMin
	failoverBackoff := transactFailoverBackoffMin
	var failoverSince time.Time
	for attempt := 1; ; attempt++ {
		err := db.transactOnce(ctx, fn)
		var sleep time.Duration
		switch {
		case err == nil:
			db.commits.Add(1)
			return nil
		case db.retryable(err):
			if attempt >= transactAttemptsMax {
				return fmt.Errorf("transaction gave up after %d attempts: %w", attempt, err)
			}
			sleep = backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, transactBackoffMax)
		case db.failedOver(err):
			db.noteFailover()
			if failoverSince.IsZero() {
				failoverSince = time.Now()
			}
			if time.Since(failoverSince) >= transactFailoverWaitMax {
				return fmt.Errorf("no writable database for %v: %w", transactFailoverWaitMax, err)
			}
			sleep = failoverBackoff/2 + rand.N(failoverBackoff/2+1)
			failoverBackoff = min(2*failoverBackoff, transactFailoverBackoffMax)
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(sleep):
		}
	}
}

// TransactNoWait runs fn in a write transaction without making the
// caller wait for its commit, for writes whose loss in a crash is
// harmless (giving back a lease that lapses anyway). On SQLite fn is
// queued to the write combiner behind every write transaction already
// waiting and before every one queued after this call returns, so no
// later write of this process runs without it; it commits with the next
// combined batch. On PostgreSQL, which has no such queue, it is Transact.
// done (which may be nil) gets fn's outcome, on SQLite from the
// combiner's goroutine.
func (db *DB) TransactNoWait(ctx context.Context, fn func(tx *Tx) error, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	if db.comb == nil {
		done(db.Transact(ctx, fn))
		return
	}
	db.comb.enqueue(ctx, db.fenced(ctx, fn), done)
}

// failedOver reports whether err is a PostgreSQL failover error (see
// postgresFailoverError) from before COMMIT.
func (db *DB) failedOver(err error) bool {
	var ce *commitError
	return db.dialect == Postgres && !errors.As(err, &ce) && postgresFailoverError(err)
}

func (db *DB) transactOnce(ctx context.Context, fn func(tx *Tx) error) (err error) {
	if db.comb != nil {
		return db.comb.transact(ctx, fn)
	}
	tx := &Tx{db: db}
	if db.dialect == Postgres && ctx.Value(withConnKey{}) != nil {
		// The ledger pipelines its batch on the transaction's connection
		// (ledger_postgres.go), so the transaction keeps it at hand.
		if tx.conn, err = db.write.Conn(ctx); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer tx.conn.Close()
		tx.Tx, err = tx.conn.BeginTx(ctx, nil)
	} else {
		tx.Tx, err = db.write.BeginTx(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	sqlTx := tx.Tx
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = sqlTx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return &commitError{err}
	}
	tx.committed()
	return nil
}

// withConnKey marks a context whose transactions keep their connection
// at hand (Tx.conn): the ledger's, which pipelines on it.
type withConnKey struct{}

func (db *DB) retryable(err error) bool {
	switch db.dialect {
	case Postgres:
		code := pgErrorCode(err)
		return code == "40001" || code == "40P01"
	case SQLite:
		code := sqliteErrorCode(err)
		return code&0xff == 5 || code&0xff == 6 // SQLITE_BUSY, SQLITE_LOCKED
	}
	return false
}

// IsUniqueViolation reports whether err is a unique or primary key
// constraint violation.
func (db *DB) IsUniqueViolation(err error) bool {
	switch db.dialect {
	case Postgres:
		return pgErrorCode(err) == "23505"
	case SQLite:
		code := sqliteErrorCode(err)
		return code == 2067 || code == 1555 // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
	}
	return false
}

// Savepoint runs fn inside a savepoint of tx: when fn fails, its writes
// are rolled back and the transaction stays usable (on PostgreSQL an error
// otherwise aborts the whole transaction).
func (tx *Tx) Savepoint(ctx context.Context, fn func() error) error {
	tx.db.stmts.Add(2) // the savepoint and its release (or rollback)
	if _, err := tx.Tx.ExecContext(ctx, "SAVEPOINT kassa_sp"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(); err != nil {
		if _, rerr := tx.Tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT kassa_sp"); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback to savepoint: %w", rerr))
		}
		if _, rerr := tx.Tx.ExecContext(ctx, "RELEASE SAVEPOINT kassa_sp"); rerr != nil {
			return errors.Join(err, fmt.Errorf("release savepoint: %w", rerr))
		}
		return err
	}
	if _, err := tx.Tx.ExecContext(ctx, "RELEASE SAVEPOINT kassa_sp"); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// scanColumn reads the single column of every row and closes rows.
func scanColumn[T any](rows *sql.Rows) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// prune runs DELETE statements (each with its arguments) in one
// transaction and returns how many rows they removed together.
func (db *DB) prune(ctx context.Context, deletes []sqlStatement) (int, error) {
	var n int64
	err := db.Transact(ctx, func(tx *Tx) error {
		n = 0
		for _, d := range deletes {
			res, err := tx.ExecContext(ctx, d.q, d.args...)
			if err != nil {
				return fmt.Errorf("prune: %w", err)
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	})
	return int(n), err
}

// sqlStatement is a statement with its arguments.
type sqlStatement struct {
	q    string
	args []any
}
