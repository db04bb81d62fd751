package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Limits on the PostgreSQL connection pool of one Kassa process.
const (
	postgresConnsMax    = 32
	postgresConnIdleMax = 5 * time.Minute
	// postgresConnLifetimeMax bounds how long a connection is reused, so
	// that none outlives a failover or switchover by long even when it
	// never fails (a server that became a standby answers reads).
	postgresConnLifetimeMax = 5 * time.Minute
	// postgresConnectTimeout bounds one connection attempt to one host
	// when the URL sets no connect_timeout: a multi-host URL must move on
	// from a host that does not answer.
	postgresConnectTimeout = 5 * time.Second
	// postgresTCPUserTimeout is how long sent data may stay unacknowledged
	// before the kernel drops the connection (TCP_USER_TIMEOUT), when the
	// URL sets no tcp_user_timeout (milliseconds, as libpq reads it). A
	// primary whose machine vanished sends no RST; without it a query
	// waits for TCP's own retransmissions, about 15 minutes.
	postgresTCPUserTimeout = 10 * time.Second
	// postgresKeepAlive: probes on idle connections find a vanished
	// server while nothing is sent.
	postgresKeepAliveIdle     = 5 * time.Second
	postgresKeepAliveInterval = 2 * time.Second
	postgresKeepAliveCount    = 3
)

// OpenPostgres connects to the PostgreSQL database at url (postgres://...)
// and applies pending migrations.
// It refuses a server whose commits are not durable (ErrNotDurable).
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	return openPostgres(ctx, Config{DatabaseURL: url})
}

func openPostgres(ctx context.Context, cfg Config) (*DB, error) {
	db := &DB{dialect: Postgres}
	pool, err := db.openPostgresPool(cfg.DatabaseURL, cfg.wrapConn)
	if err != nil {
		return nil, err
	}
	db.write, db.read = pool, pool
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.PingContext(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if db.durability, err = postgresDurability(pingCtx, pool); err == nil {
		err = checkDurability(cfg, Postgres, db.durability)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openPostgresPool opens the pool for url. A URL may name several hosts
// (postgres://h1:5432,h2:5432/db?target_session_attrs=read-write): pgx
// tries them in turn and keeps the first that takes writes. Dead
// connections are found by TCP keepalives and TCP_USER_TIMEOUT; a
// connection made before the database last failed over (see
// DB.noteFailover) is dropped when the pool would reuse it.
func (db *DB) openPostgresPool(url string, wrap func(net.Conn) net.Conn) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	userTimeout := postgresTCPUserTimeout
	if v, ok := cfg.RuntimeParams["tcp_user_timeout"]; ok {
		// libpq's tcp_user_timeout is the client's socket option, not the
		// server setting of the same name pgx would send it as.
		ms, err := strconv.Atoi(v)
		if err != nil || ms < 0 {
			return nil, fmt.Errorf("open postgres: tcp_user_timeout %q is not a number of milliseconds", v)
		}
		userTimeout = time.Duration(ms) * time.Millisecond
		delete(cfg.RuntimeParams, "tcp_user_timeout")
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = postgresConnectTimeout
	}
	dialer := postgresDialer(cfg.ConnectTimeout, userTimeout)
	cfg.DialFunc = dialer.DialContext
	if wrap != nil {
		cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return wrap(c), nil
		}
	}
	// The fallback hosts of a multi-host URL dial with cfg.DialFunc too.
	pool := stdlib.OpenDB(*cfg,
		stdlib.OptionAfterConnect(func(ctx context.Context, c *pgx.Conn) error {
			c.PgConn().CustomData()[connEpochKey] = db.failoverEpoch.Load()
			return nil
		}),
		stdlib.OptionResetSession(func(ctx context.Context, c *pgx.Conn) error {
			if epoch, _ := c.PgConn().CustomData()[connEpochKey].(uint64); epoch != db.failoverEpoch.Load() {
				return driver.ErrBadConn
			}
			return nil
		}))
	pool.SetMaxOpenConns(postgresConnsMax)
	pool.SetMaxIdleConns(postgresConnsMax)
	pool.SetConnMaxIdleTime(postgresConnIdleMax)
	pool.SetConnMaxLifetime(postgresConnLifetimeMax)
	return pool, nil
}

// connEpochKey holds, in a connection's custom data, the failover epoch
// it was made in.
const connEpochKey = "kassa.failover_epoch"

// postgresDialer dials with keepalives and TCP_USER_TIMEOUT (Linux) set on
// TCP sockets; Unix sockets are left alone.
func postgresDialer(connectTimeout, userTimeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: connectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: postgresKeepAliveIdle,
			Interval: postgresKeepAliveInterval, Count: postgresKeepAliveCount},
		Control: func(network, address string, rc syscall.RawConn) error {
			if !strings.HasPrefix(network, "tcp") || userTimeout <= 0 {
				return nil
			}
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = setTCPUserTimeout(fd, userTimeout)
			})
			return errors.Join(err, serr)
		},
	}
}

// FailoverErrors counts the transactions and checks that met a failover
// error or a read-only server (PostgreSQL; 0 on SQLite).
func (db *DB) FailoverErrors() uint64 { return db.failoverEpoch.Load() }

// noteFailover records that the database failed over or became read-only:
// connections made before are dropped when the pool would reuse them
// (they lead to a dead server or to one that no longer takes writes).
func (db *DB) noteFailover() { db.failoverEpoch.Add(1) }

// ErrReadOnly is returned by Ping when the server answers but takes no
// writes (a standby, or a primary being demoted).
var ErrReadOnly = errors.New("the database is read-only")

// pingPostgres checks that the server answers and takes writes: with
// target_session_attrs=read-write, new connections go to the primary, but
// a pooled one may lead to a server that has become a standby.
func (db *DB) pingPostgres(ctx context.Context) error {
	var readOnly string
	if err := db.read.QueryRowContext(ctx, "SELECT current_setting('transaction_read_only')").Scan(&readOnly); err != nil {
		if postgresFailoverError(err) {
			db.noteFailover()
		}
		return err
	}
	if readOnly != "off" {
		db.noteFailover()
		return ErrReadOnly
	}
	return nil
}

// postgresFailoverError reports whether err means the connection's server
// is gone, shutting down, not yet accepting connections or no longer the
// primary: a transaction that failed with it did not commit and may run
// again on another connection, once a primary takes it.
func postgresFailoverError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch c := pgErr.Code; {
		case strings.HasPrefix(c, "08"): // connection exception
			return true
		case c == "25006", // read_only_sql_transaction: a standby
			c == "57P01", c == "57P02", c == "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		pgconn.SafeToRetry(err)
}

// postgresDurability reads the settings an acknowledged commit's survival
// rests on, as a session of pool sees them (synchronous_commit can be set
// per database, per role and in the connection URL).
func postgresDurability(ctx context.Context, pool *sql.DB) ([]Setting, error) {
	var fsync, syncCommit, fullPages string
	err := pool.QueryRowContext(ctx, "SELECT current_setting('fsync'), current_setting('synchronous_commit'), current_setting('full_page_writes')").
		Scan(&fsync, &syncCommit, &fullPages)
	if err != nil {
		return nil, fmt.Errorf("read postgres durability settings: %w", err)
	}
	return []Setting{
		{Name: "fsync", Value: fsync, Safe: fsync == "on"},
		// local, remote_write, on and remote_apply all flush the local WAL
		// before acknowledging; off does not.
		{Name: "synchronous_commit", Value: syncCommit, Safe: syncCommit != "off"},
		{Name: "full_page_writes", Value: fullPages, Safe: fullPages == "on"},
	}, nil
}

func pgErrorCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
