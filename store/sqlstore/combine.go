package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SQLite has one writer, and every commit is an fsync. Writes from many
// goroutines are therefore combined: one goroutine takes the Transact
// calls waiting at the moment, runs them in one transaction and commits
// them together — one fsync for the lot. A failing call leaves the others
// alone: the batch is then run again with each call in a savepoint
// (commit). Calls
// still run one after another, each seeing the ones before, exactly as if
// they had run serially; nobody hears "committed" before the commit is
// durable.

// Limits of the write combiner.
const (
	combineQueueMax = 4096 // calls waiting; beyond it Transact blocks
	combineBatchMax = 256  // calls in one transaction
)

var errCombinerClosed = errors.New("sqlstore: database closed")

type combiner struct {
	db      *DB
	queue   chan *combineReq
	closing chan struct{}
	stopped chan struct{}
}

type combineReq struct {
	settled bool // failed in the optimistic run; not run again
	ctx     context.Context
	fn      func(tx *Tx) error
	err     error
	panic   any
	done    chan struct{}
	// after, when set, is a call no one waits for (enqueue): it gets the
	// call's outcome once its batch ended.
	after func(error)
}

func newCombiner(db *DB) *combiner {
	c := &combiner{db: db, queue: make(chan *combineReq, combineQueueMax),
		closing: make(chan struct{}), stopped: make(chan struct{})}
	go c.loop()
	return c
}

func (c *combiner) close() {
	close(c.closing)
	<-c.stopped
}

// enqueue queues fn for a combined transaction and returns without
// waiting for it (only for a free place in the queue): fn runs after
// every call queued before it and before every call queued after it, and
// after is given its outcome once its batch committed or failed.
func (c *combiner) enqueue(ctx context.Context, fn func(tx *Tx) error, after func(error)) {
	r := &combineReq{ctx: ctx, fn: fn, done: make(chan struct{}), after: after}
	select {
	case c.queue <- r:
	case <-ctx.Done():
		after(ctx.Err())
	case <-c.closing:
		after(errCombinerClosed)
	}
}

// transact runs fn in a combined transaction and waits for its outcome.
func (c *combiner) transact(ctx context.Context, fn func(tx *Tx) error) error {
	r := &combineReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case c.queue <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closing:
		return errCombinerClosed
	}
	// Wait for the outcome even when ctx ends: fn may be running, and
	// whether it committed must not be guessed.
	<-r.done
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}

func (c *combiner) loop() {
	defer close(c.stopped)
	batch := make([]*combineReq, 0, combineBatchMax)
	for {
		batch = batch[:0]
		select {
		case r := <-c.queue:
			batch = append(batch, r)
		case <-c.closing:
			c.drain()
			return
		}
	fill:
		for len(batch) < combineBatchMax {
			select {
			case r := <-c.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		c.commit(batch)
		for _, r := range batch {
			if r.after != nil {
				r.after(outcome(r))
			}
			close(r.done)
		}
		c.prepareWanted()
	}
}

// prepareWanted prepares the statements transactions asked for, now that
// the write connection is free.
func (c *combiner) prepareWanted() {
	c.db.stmtWanted.Range(func(k, _ any) bool {
		q := k.(string)
		c.db.stmtWanted.Delete(q)
		if c.db.stmtCount.Load() >= stmtCacheMax {
			return false
		}
		s, err := c.db.write.PrepareContext(context.Background(), q)
		if err != nil {
			return true // the query runs unprepared; its error shows there
		}
		if _, loaded := c.db.writeStmts.LoadOrStore(q, s); loaded {
			s.Close()
		} else {
			c.db.stmtCount.Add(1)
		}
		return true
	})
}

func (c *combiner) drain() {
	for {
		select {
		case r := <-c.queue:
			r.err = errCombinerClosed
			if r.after != nil {
				r.after(r.err)
			}
			close(r.done)
		default:
			return
		}
	}
}

// commit runs a batch in one transaction.
//
// Calls rarely fail, so the batch first runs without savepoints (in SQLite
// a savepoint copies every page its call changes into a sub-journal, and
// costs two statements). If a call fails, that transaction is rolled back:
// the failed call's outcome stands (it ran after the calls before it, as
// it would have anyway), and the others run again, each in a savepoint.
// Transact's functions may run more than once (it retries), so running
// them again is allowed. A call alone never needs its savepoint: when it
// fails, nothing is left to commit.
func (c *combiner) commit(batch []*combineReq) {
	if c.optimistic(batch) {
		c.withSavepoints(batch)
	}
}

// optimistic runs the batch in one transaction without savepoints. It
// reports whether the others must run again because a call failed (that
// call is settled; the others are reset).
func (c *combiner) optimistic(batch []*combineReq) (again bool) {
	sqlTx, err := c.db.write.BeginTx(context.Background(), nil)
	if err != nil {
		failAll(batch, fmt.Errorf("begin: %w", err))
		return false
	}
	tx := &Tx{Tx: sqlTx, db: c.db}
	ok := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		c.call(tx, r)
		if r.err != nil || r.panic != nil {
			_ = sqlTx.Rollback()
			r.settled = true
			for _, o := range batch {
				if o != r {
					o.err, o.panic = nil, nil
				}
			}
			return len(batch) > 1
		}
		ok++
	}
	c.finish(tx, batch, ok)
	return false
}

// withSavepoints runs the calls not settled yet, each in a savepoint of
// one transaction, so that a failing call leaves the others alone.
func (c *combiner) withSavepoints(batch []*combineReq) {
	sqlTx, err := c.db.write.BeginTx(context.Background(), nil)
	if err != nil {
		failAll(batch, fmt.Errorf("begin: %w", err))
		return
	}
	tx := &Tx{Tx: sqlTx, db: c.db}
	ok := 0
	for _, r := range batch {
		if r.settled {
			continue
		}
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if err := c.run(tx, r); err != nil {
			// The savepoint could not be rolled back: the transaction is
			// in an unknown state, so none of it may commit.
			_ = sqlTx.Rollback()
			failAll(batch, err)
			return
		}
		if r.err == nil && r.panic == nil {
			ok++
		}
	}
	c.finish(tx, batch, ok)
}

// finish commits the transaction when ok calls in it succeeded, or rolls
// it back when none did.
func (c *combiner) finish(tx *Tx, batch []*combineReq, ok int) {
	if ok == 0 {
		_ = tx.Rollback()
		return
	}
	if err := tx.Commit(); err != nil {
		failAll(batch, fmt.Errorf("commit: %w", err))
		return
	}
	tx.committed()
}

// failAll gives err to every call of the batch without an outcome of its own.
func failAll(batch []*combineReq, err error) {
	for _, r := range batch {
		if r.err == nil && r.panic == nil {
			r.err = err
		}
	}
}

// run executes one call inside a savepoint; its error or panic is kept in
// r. The returned error is for the savepoint machinery itself.
func (c *combiner) run(tx *Tx, r *combineReq) error {
	tx.db.stmts.Add(2) // the savepoint and its release (or rollback)
	if _, err := tx.Tx.ExecContext(context.Background(), "SAVEPOINT kassa_call"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	c.call(tx, r)
	if r.err != nil || r.panic != nil {
		if _, err := tx.Tx.ExecContext(context.Background(), "ROLLBACK TO SAVEPOINT kassa_call"); err != nil {
			return fmt.Errorf("rollback to savepoint: %w", err)
		}
	}
	if _, err := tx.Tx.ExecContext(context.Background(), "RELEASE SAVEPOINT kassa_call"); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// outcome is r's error, its panic made one.
func outcome(r *combineReq) error {
	if r.panic != nil {
		return fmt.Errorf("panic: %v", r.panic)
	}
	return r.err
}

// call runs r's function, keeping its error or panic in r.
func (c *combiner) call(tx *Tx, r *combineReq) {
	mark := len(tx.afterCommit)
	defer func() {
		if r.panic = recover(); r.err != nil || r.panic != nil {
			tx.afterCommit = tx.afterCommit[:mark] // its writes do not commit
		}
	}()
	r.err = r.fn(tx)
}

// stmtCacheMax bounds the prepared statements kept per database.
const stmtCacheMax = 1024

// cachedStmt returns a statement prepared once on the pool, or nil when
// the query is not to be cached (PostgreSQL: pgx caches statements
// itself; a full cache; a query that does not prepare — the caller then
// runs it plainly and gets the error there). On SQLite every Exec would
// otherwise parse its SQL again.
func (db *DB) cachedStmt(ctx context.Context, pool *sql.DB, query string) *sql.Stmt {
	if db.dialect != SQLite {
		return nil
	}
	cache := &db.readStmts
	if pool == db.write {
		cache = &db.writeStmts
	}
	if s, ok := cache.Load(query); ok {
		return s.(*sql.Stmt)
	}
	if db.stmtCount.Load() >= stmtCacheMax {
		return nil
	}
	if pool == db.write {
		// The one write connection is busy with the caller's own
		// transaction: preparing on the pool now would wait for it
		// forever. The combiner prepares the query between batches.
		db.stmtWanted.Store(query, true)
		return nil
	}
	s, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if prev, loaded := cache.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt)
	}
	db.stmtCount.Add(1)
	return s
}
