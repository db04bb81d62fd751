package sqlstore

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/kassa/kassa/internal/pgtest"
)

// openFailoverTestDB opens Kassa's database on a fresh PostgreSQL database
// with a table to write, and returns it with a URL for admin work.
func openFailoverTestDB(t *testing.T, extraQuery string) (*DB, string) {
	t.Helper()
	u := pgtest.URL(t)
	kassaURL := u
	if extraQuery != "" {
		kassaURL += "&" + extraQuery
	}
	db, err := OpenPostgres(context.Background(), kassaURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Transact(context.Background(), func(tx *Tx) error {
		_, err := tx.ExecContext(context.Background(), "CREATE TABLE drill (id BIGINT PRIMARY KEY)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return db, u
}

func adminExec(t *testing.T, u, query string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func insertDrill(db *DB, id int) error {
	return db.Transact(context.Background(), func(tx *Tx) error {
		_, err := tx.ExecContext(context.Background(), "INSERT INTO drill (id) VALUES (?)", id)
		return err
	})
}

// TestPostgresReadOnlyConnectionReplaced: a pooled connection that leads
// to a server which no longer takes writes (as after a switchover, when
// the old primary is a standby) fails with SQLSTATE 25006; Transact drops
// it and runs the transaction again on a new connection, which finds the
// primary.
func TestPostgresReadOnlyConnectionReplaced(t *testing.T) {
	db, _ := openFailoverTestDB(t, "")
	db.write.SetMaxOpenConns(1) // the next transaction gets the read-only connection
	ctx := context.Background()
	conn, err := db.write.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"); err != nil {
		t.Fatal(err)
	}
	conn.Close() // back into the pool, read-only
	epoch := db.failoverEpoch.Load()
	if err := insertDrill(db, 1); err != nil {
		t.Fatalf("insert through a read-only pooled connection: %v", err)
	}
	if db.failoverEpoch.Load() == epoch {
		t.Error("the read-only error was not noted as a failover")
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM drill").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d, %v; want 1", n, err)
	}
	// Every connection is new now: none is read-only.
	var ro string
	if err := db.QueryRowContext(ctx, "SELECT current_setting('transaction_read_only')").Scan(&ro); err != nil || ro != "off" {
		t.Errorf("transaction_read_only = %q, %v after the retry; want off", ro, err)
	}
}

// TestPostgresPingWantsWritable: /readyz and the database check ask
// Ping, which refuses a server that answers but takes no writes.
func TestPostgresPingWantsWritable(t *testing.T) {
	db, u := openFailoverTestDB(t, "")
	ctx := context.Background()
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Ping on a primary: %v", err)
	}
	name := strings.TrimPrefix(mustParseURL(t, u).Path, "/")
	adminExec(t, u, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET default_transaction_read_only = on")
	db.noteFailover() // pooled connections predate the setting
	if err := db.Ping(ctx); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Ping on a read-only database = %v, want ErrReadOnly", err)
	}
	// Writes wait for a writable server until the caller's deadline (or
	// transactFailoverWaitMax): none is taken, and each read-only answer
	// counts as a failover error.
	before := db.FailoverErrors()
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := db.Transact(tctx, func(tx *Tx) error {
		_, err := tx.ExecContext(tctx, "INSERT INTO drill (id) VALUES (1)")
		return err
	})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && pgErrorCode(err) != "25006" {
		t.Errorf("insert on a read-only database = %v, want SQLSTATE 25006 or the deadline", err)
	}
	if db.FailoverErrors() == before {
		t.Error("no read-only answer was counted as a failover error")
	}
	// A session setting outranks the database's.
	adminExec(t, u+"&default_transaction_read_only=off", "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" RESET default_transaction_read_only")
	db.noteFailover()
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping after the database takes writes again: %v", err)
	}
	if err := insertDrill(db, 2); err != nil {
		t.Errorf("insert after the database takes writes again: %v", err)
	}
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestPostgresDeadConnectionsReplaced: every connection of the pool is
// killed by the server (as when a primary restarts) while transactions
// run; each transaction that had not reached COMMIT runs again on a new
// connection, and none fails.
func TestPostgresDeadConnectionsReplaced(t *testing.T) {
	db, u := openFailoverTestDB(t, "application_name=kassa_drill")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				id := w*1000 + i
				err := db.Transact(context.Background(), func(tx *Tx) error {
					if _, err := tx.ExecContext(context.Background(), "INSERT INTO drill (id) VALUES (?)", id); err != nil {
						return err
					}
					// Hold the transaction open for a moment, so that
					// terminations land inside transactions.
					_, err := tx.ExecContext(context.Background(), "SELECT pg_sleep(0.002)")
					return err
				})
				var ce *commitError
				if errors.As(err, &ce) {
					continue // in doubt: a termination hit the COMMIT itself
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range 5 {
		adminExec(t, u, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'kassa_drill'")
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("transaction failed although its connection died before COMMIT: %v", err)
	}
}

// TestPostgresTCPUserTimeout: Kassa's connections carry TCP_USER_TIMEOUT
// (the URL's tcp_user_timeout, in milliseconds as libpq reads it, or 10 s)
// and keepalives, so a primary that vanishes without a RST is noticed in
// seconds. A value that is no number is refused.
func TestPostgresTCPUserTimeout(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  int
	}{{"", int(postgresTCPUserTimeout.Milliseconds())}, {"tcp_user_timeout=2500", 2500}} {
		db, _ := openFailoverTestDB(t, tt.query)
		conn, err := db.write.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		err = conn.Raw(func(dc any) error {
			nc := dc.(*stdlib.Conn).Conn().PgConn().Conn()
			tcp, ok := nc.(*net.TCPConn)
			if !ok {
				return errors.New("not a TCP connection")
			}
			rc, err := tcp.SyscallConn()
			if err != nil {
				return err
			}
			var got, keepalive int
			var gerr error
			rc.Control(func(fd uintptr) {
				got, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout)
				if gerr == nil {
					keepalive, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
				}
			})
			if gerr != nil {
				return gerr
			}
			if got != tt.want || keepalive != 1 {
				t.Errorf("%q: TCP_USER_TIMEOUT %d ms, SO_KEEPALIVE %d; want %d ms and 1", tt.query, got, keepalive, tt.want)
			}
			return nil
		})
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := OpenPostgres(context.Background(), pgtest.URL(t)+"&tcp_user_timeout=soon"); err == nil || !strings.Contains(err.Error(), "tcp_user_timeout") {
		t.Errorf("tcp_user_timeout=soon: %v, want a refusal naming it", err)
	}
}

// TestPostgresSerializationAndDeadlockRetried: a transaction that loses a
// serialization conflict (40001) or is chosen as a deadlock's victim
// (40P01) runs again and commits; nothing is applied twice.
func TestPostgresSerializationAndDeadlockRetried(t *testing.T) {
	db, _ := openFailoverTestDB(t, "")
	ctx := context.Background()
	if err := db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE counters (id BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO counters VALUES (1, 0), (2, 0)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	exec := func(tx *Tx, q string) error { _, err := tx.ExecContext(ctx, q); return err }
	value := func(id int) (v int) {
		if err := db.QueryRowContext(ctx, "SELECT v FROM counters WHERE id = ?", id).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	t.Run("40001", func(t *testing.T) {
		read, written := make(chan struct{}), make(chan struct{})
		attempts := 0
		errc := make(chan error, 1)
		go func() {
			errc <- db.Transact(ctx, func(tx *Tx) error {
				attempts++
				if err := exec(tx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, "SELECT v FROM counters WHERE id = 1"); err != nil {
					return err
				}
				if attempts == 1 {
					close(read)
					<-written // another transaction changes the row after our snapshot
				}
				return exec(tx, "UPDATE counters SET v = v + 1 WHERE id = 1")
			})
		}()
		<-read
		if err := db.Transact(ctx, func(tx *Tx) error { return exec(tx, "UPDATE counters SET v = v + 1 WHERE id = 1") }); err != nil {
			t.Fatal(err)
		}
		close(written)
		if err := <-errc; err != nil {
			t.Fatalf("the transaction that lost the conflict: %v", err)
		}
		if attempts != 2 || value(1) != 2 {
			t.Errorf("%d attempts, counter %d; want 2 attempts and 2", attempts, value(1))
		}
	})

	t.Run("40P01", func(t *testing.T) {
		var mu sync.Mutex
		attempts := map[string]int{}
		first := func(name string) bool {
			mu.Lock()
			defer mu.Unlock()
			attempts[name]++
			return attempts[name] == 1
		}
		var locked sync.WaitGroup
		locked.Add(2)
		lockBoth := func(name string, a, b int) error {
			return db.Transact(ctx, func(tx *Tx) error {
				if err := exec(tx, "UPDATE counters SET v = v + 1 WHERE id = "+string(rune('0'+a))); err != nil {
					return err
				}
				if first(name) {
					locked.Done()
					locked.Wait() // both hold their first row: a deadlock
				}
				return exec(tx, "UPDATE counters SET v = v + 1 WHERE id = "+string(rune('0'+b)))
			})
		}
		before1, before2 := value(1), value(2)
		var wg sync.WaitGroup
		var err1, err2 error
		wg.Go(func() { err1 = lockBoth("x", 1, 2) })
		wg.Go(func() { err2 = lockBoth("y", 2, 1) })
		wg.Wait()
		if err1 != nil || err2 != nil {
			t.Fatalf("deadlocked transactions: %v, %v", err1, err2)
		}
		// One of them lost the deadlock and ran again; on a loaded machine
		// a retry may meet the other still committing and run once more.
		if attempts["x"]+attempts["y"] < 3 {
			t.Errorf("attempts %v, want one of them run again", attempts)
		}
		if value(1) != before1+2 || value(2) != before2+2 {
			t.Errorf("counters %d, %d; want %d, %d", value(1), value(2), before1+2, before2+2)
		}
	})
}
