package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"unsafe"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// Verify streams every leaf of the log. Through database/sql and the
// driver, a row of the six transfer columns costs about 1.5 µs on SQLite:
// the driver takes the connection's mutex for every column it reads and
// copies every text and blob value into a new Go allocation, and
// database/sql converts every value again in Scan. That was half of what
// ledger verify spent per leaf. So Leaves reads SQLite through the library
// the driver wraps (modernc.org/sqlite/lib, SQLite translated to Go) on a
// connection of its own: read-only, without mutexes (one goroutine uses
// it), one read transaction, two prepared statements, and column values
// read in place. A row then costs about 0.3 µs and allocates nothing.

// sqliteConn is a read-only SQLite connection used by one goroutine.
type sqliteConn struct {
	tls *libc.TLS
	db  uintptr
}

// Milliseconds to wait for a lock, as the pools wait (busy_timeout).
const sqliteBusyTimeoutMS = 10_000

// openSQLiteConn opens the database file path read-only.
func openSQLiteConn(path string) (*sqliteConn, error) {
	c := &sqliteConn{tls: libc.NewTLS()}
	rc, err := c.open(path)
	if err == nil && rc != sqlite3.SQLITE_OK {
		err = c.error("open", rc)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	sqlite3.Xsqlite3_busy_timeout(c.tls, c.db, sqliteBusyTimeoutMS)
	return c, nil
}

// open calls sqlite3_open_v2, which sets c.db even when it fails.
func (c *sqliteConn) open(path string) (int32, error) {
	zPath, err := libc.CString(path)
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(c.tls, zPath)
	pDB := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	rc := sqlite3.Xsqlite3_open_v2(c.tls, zPath, pDB, sqlite3.SQLITE_OPEN_READONLY|sqlite3.SQLITE_OPEN_NOMUTEX, 0)
	c.db = *(*uintptr)(cPointer(pDB))
	return rc, nil
}

// close closes the connection, finalizing nothing: close every statement
// first.
func (c *sqliteConn) close() {
	if c.db != 0 {
		sqlite3.Xsqlite3_close_v2(c.tls, c.db)
	}
	c.tls.Close()
}

// error describes the result code rc of op with the connection's message.
func (c *sqliteConn) error(op string, rc int32) error {
	msg := "out of memory"
	if c.db != 0 {
		msg = libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db))
	}
	return fmt.Errorf("sqlite %s: %s (%d)", op, msg, rc)
}

// exec runs a statement that returns no rows.
func (c *sqliteConn) exec(query string) error {
	st, err := c.prepare(query)
	if err != nil {
		return err
	}
	defer st.close()
	_, err = st.step()
	return err
}

// sqliteStmt is a prepared statement of a sqliteConn.
type sqliteStmt struct {
	c *sqliteConn
	p uintptr
}

func (c *sqliteConn) prepare(query string) (*sqliteStmt, error) {
	zSQL, err := libc.CString(query)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, zSQL)
	pStmt := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	if rc := sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, zSQL, -1, pStmt, 0); rc != sqlite3.SQLITE_OK {
		return nil, c.error("prepare", rc)
	}
	return &sqliteStmt{c: c, p: *(*uintptr)(cPointer(pStmt))}, nil
}

func (st *sqliteStmt) close() { sqlite3.Xsqlite3_finalize(st.c.tls, st.p) }

func (st *sqliteStmt) bindInt64(i int, v int64) error {
	if rc := sqlite3.Xsqlite3_bind_int64(st.c.tls, st.p, int32(i), v); rc != sqlite3.SQLITE_OK {
		return st.c.error("bind", rc)
	}
	return nil
}

// step advances to the next row and reports whether there is one.
func (st *sqliteStmt) step() (bool, error) {
	switch rc := sqlite3.Xsqlite3_step(st.c.tls, st.p); rc {
	case sqlite3.SQLITE_ROW:
		return true, nil
	case sqlite3.SQLITE_DONE:
		return false, nil
	default:
		return false, st.c.error("step", rc)
	}
}

// int64 returns column i (from 0) of the current row, and whether it is an
// integer.
func (st *sqliteStmt) int64(i int) (int64, bool) {
	if sqlite3.Xsqlite3_column_type(st.c.tls, st.p, int32(i)) != sqlite3.SQLITE_INTEGER {
		return 0, false
	}
	return sqlite3.Xsqlite3_column_int64(st.c.tls, st.p, int32(i)), true
}

// bytes returns the bytes of text or blob column i (from 0) of the current
// row in SQLite's memory, valid until the next step: copy what is kept.
func (st *sqliteStmt) bytes(i int) []byte {
	p := sqlite3.Xsqlite3_column_blob(st.c.tls, st.p, int32(i))
	n := sqlite3.Xsqlite3_column_bytes(st.c.tls, st.p, int32(i))
	if p == 0 || n <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(cPointer(p)), n)
}

// cPointer converts an address in SQLite's memory (libc's heap, outside
// the Go heap, so nothing moves or frees it behind our back) to a pointer.
func cPointer(p uintptr) unsafe.Pointer { return unsafe.Add(nil, p) }

// sqliteLeaves implements Leaves on SQLite (see the comment at the top).
func (s *Ledger) sqliteLeaves(ctx context.Context, from int64, path string) iter.Seq2[*ledger.LeafChunk, error] {
	return func(yield func(*ledger.LeafChunk, error) bool) {
		c, err := openSQLiteConn(path)
		if err != nil {
			yield(nil, err)
			return
		}
		defer c.close()
		// Readers map the file, as the read pool does; one transaction
		// reads accounts and transfers as of one commit.
		for _, q := range []string{"PRAGMA mmap_size = 1073741824", "BEGIN"} {
			if err := c.exec(q); err != nil {
				yield(nil, err)
				return
			}
		}
		defer c.exec("ROLLBACK")
		var r sqliteLeafReader
		if r.accounts, err = c.prepare("SELECT leaf, owner, id, currency, code, flags, metadata, ts FROM ledger_accounts WHERE leaf >= ? ORDER BY leaf"); err != nil {
			yield(nil, err)
			return
		}
		defer r.accounts.close()
		if r.transfers, err = c.prepare("SELECT leaf, owner, id, debit_leaf, credit_leaf, data FROM ledger_transfers WHERE leaf >= ? ORDER BY leaf"); err != nil {
			yield(nil, err)
			return
		}
		defer r.transfers.close()
		for _, st := range []*sqliteStmt{r.accounts, r.transfers} {
			if err := st.bindInt64(1, from); err != nil {
				yield(nil, err)
				return
			}
		}
		var chunk ledger.LeafChunk
		for {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			chunk.Reset()
			if err := r.read(&chunk, ledgerLeafChunkMax); err != nil {
				yield(nil, err)
				return
			}
			if chunk.Len() == 0 || !yield(&chunk, nil) {
				return
			}
		}
	}
}

// sqliteLeafReader merges the accounts and the transfers, each read in
// leaf order, into chunks of leaves.
type sqliteLeafReader struct {
	accounts, transfers *sqliteStmt
	haveA, haveT        bool  // a row of each is current
	doneA, doneT        bool  // all rows read
	aLeaf, tLeaf        int64 // of the current rows
	acct                ledger.Account
}

// read appends up to n leaves to c.
func (r *sqliteLeafReader) read(c *ledger.LeafChunk, n int) error {
	for c.Len() < n {
		if err := r.next(); err != nil {
			return err
		}
		switch {
		case r.haveA && (!r.haveT || r.aLeaf < r.tLeaf):
			c.AppendRecord(&ledger.Record{LeafIndex: r.aLeaf, Account: &r.acct}, [2]int64{})
			r.haveA = false
		case r.haveT:
			if err := r.appendTransfer(c); err != nil {
				return err
			}
			r.haveT = false
		default:
			return nil
		}
	}
	return nil
}

// next makes a row of each table current unless it is read to the end.
func (r *sqliteLeafReader) next() error {
	if !r.haveA && !r.doneA {
		ok, err := r.accounts.step()
		switch {
		case err != nil:
			return fmt.Errorf("read ledger accounts: %w", err)
		case !ok:
			r.doneA = true
		default:
			if err := r.scanAccount(); err != nil {
				return err
			}
			r.haveA = true
		}
	}
	if !r.haveT && !r.doneT {
		ok, err := r.transfers.step()
		switch {
		case err != nil:
			return fmt.Errorf("read ledger transfers: %w", err)
		case !ok:
			r.doneT = true
		default:
			// leaf is the rowid (INTEGER PRIMARY KEY): always an integer.
			r.tLeaf, r.haveT = sqlite3.Xsqlite3_column_int64(r.transfers.c.tls, r.transfers.p, 0), true
		}
	}
	return nil
}

// scanAccount reads the current account row into r.acct, without balances.
func (r *sqliteLeafReader) scanAccount() error {
	st := r.accounts
	var ints [4]int64 // leaf, code, flags, ts
	for i, col := range [...]int{0, 4, 5, 7} {
		v, ok := st.int64(col)
		if !ok {
			return fmt.Errorf("ledger account after leaf %d: column %d is not an integer (record altered)", r.aLeaf, col)
		}
		ints[i] = v
	}
	r.aLeaf = ints[0]
	r.acct = ledger.Account{
		LeafIndex: ints[0], Owner: string(st.bytes(1)), ID: string(st.bytes(2)), Currency: money.Currency(st.bytes(3)),
		Code: uint16(ints[1]), Flags: ledger.AccountFlags(ints[2]), Metadata: bytes.Clone(st.bytes(6)), Timestamp: ledgerTime(ints[3]),
	}
	return nil
}

// appendTransfer checks the current transfer row's owner and id against
// its leaf data and appends the leaf to c.
func (r *sqliteLeafReader) appendTransfer(c *ledger.LeafChunk) error {
	st := r.transfers
	var refs [2]int64
	for i := range refs {
		v, ok := st.int64(3 + i)
		if !ok {
			return fmt.Errorf("ledger transfer at leaf %d: account leaf is not an integer (record altered)", r.tLeaf)
		}
		refs[i] = v
	}
	data := st.bytes(5)
	if err := checkLedgerLeaf(r.tLeaf, st.bytes(1), st.bytes(2), data); err != nil {
		return err
	}
	c.Append(r.tLeaf, data, refs)
	return nil
}
