package ledger

import (
	"context"
	"iter"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Store is the storage the ledger needs. Implementations: ledger/memstore
// (tests) and store/sqlstore (SQLite, PostgreSQL). A conformance suite for
// implementations is in ledger/ledgertest.
//
// Read methods see committed data only. Records are never updated except
// for account balances, pending states, the head and growing tiles.
type Store interface {
	// Update runs fn in one durable read-write transaction and commits it
	// if fn returns nil. fn may be called again (after a rollback) when the
	// transaction must be retried, e.g. on a serialization failure; it must
	// not keep state from an earlier attempt.
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error

	// Account returns the account (Owner, ID) with its current balances,
	// or ErrNotFound.
	Account(ctx context.Context, owner, id string) (Account, error)
	// Transfer returns the transfer (Owner, ID), or ErrNotFound.
	Transfer(ctx context.Context, owner, id string) (Transfer, error)
	// Pending returns the state of the pending transfer (Owner, ID), or
	// ErrNotFound if there is no pending transfer with that id.
	Pending(ctx context.Context, owner, id string) (Pending, error)
	// AccountTransfers returns up to limit transfers of owner that debit or
	// credit accountID, with LeafIndex > afterLeaf, in leaf order.
	AccountTransfers(ctx context.Context, owner, accountID string, afterLeaf int64, limit int) ([]Transfer, error)

	// LatestCheckpoint returns the checkpoint of the largest tree, or
	// ErrNotFound when the log is empty.
	LatestCheckpoint(ctx context.Context) (Checkpoint, error)
	// Checkpoints yields every stored checkpoint by ascending size.
	Checkpoints(ctx context.Context) iter.Seq2[Checkpoint, error]
	// ReadTiles returns the data of the given tiles (W*32 bytes each: a
	// prefix of the stored tile when it has grown since), or an error if a
	// tile is missing or narrower than asked.
	ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error)

	// Leaves yields every stored leaf with LeafIndex >= from in leaf
	// order, in chunks of any size: each leaf as the index it is stored
	// under, its encoding (AppendLeaf; an account's without balances)
	// and, for a transfer, the account leaves it is stored under
	// (Batch.TransferAccounts), which Verify checks against the account
	// ids in its encoding. Where a store keeps a transfer's owner and id
	// beside its encoding, Leaves checks that they agree with it and fails
	// naming the leaf when they do not. The yielded chunk may be reused by
	// the next iteration.
	Leaves(ctx context.Context, from int64) iter.Seq2[*LeafChunk, error]
	// Accounts yields every account with its stored balances, in any
	// order. The yielded Account may be reused by the next iteration.
	Accounts(ctx context.Context) iter.Seq2[*Account, error]
}

// Tx is a store transaction used by the sequencer. All methods must be
// called from one goroutine.
type Tx interface {
	// Head locks and returns the log head (zero for an empty ledger). It is
	// called first in every transaction: once it returns, no other writer
	// can commit until this transaction ends (SELECT ... FOR UPDATE on
	// PostgreSQL; BEGIN IMMEDIATE on SQLite).
	Head(ctx context.Context) (Head, error)
	// LatestCheckpoint is Store.LatestCheckpoint inside the transaction.
	LatestCheckpoint(ctx context.Context) (Checkpoint, error)
	// ReadTiles is Store.ReadTiles inside the transaction.
	ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error)

	// LookupAccounts returns the accounts among keys that exist, in any order.
	LookupAccounts(ctx context.Context, keys []Key) ([]Account, error)
	// LookupTransfers returns the transfers among keys that exist.
	LookupTransfers(ctx context.Context, keys []Key) ([]Transfer, error)
	// LookupPendings returns the pending states among keys that exist.
	LookupPendings(ctx context.Context, keys []Key) ([]Pending, error)
	// ExpiredPendings returns up to limit pending transfers in state
	// StatePending with 0 < ExpiresAt <= now, by ascending ExpiresAt.
	ExpiredPendings(ctx context.Context, now time.Time, limit int) ([]Pending, error)
	// NextExpiry returns the smallest ExpiresAt after the given time (zero:
	// any) of a pending transfer in StatePending, and false if there is none.
	NextExpiry(ctx context.Context, after time.Time) (time.Time, bool, error)

	// Append writes a batch; it must not retain b. It returns an error wrapping ErrDuplicate when
	// a transfer's (Owner, ID) or an account's (Owner, ID) is already
	// stored; the transaction is then rolled back and retried.
	Append(ctx context.Context, b *Batch) error
}

// HeadReader is a Tx that locks the head and, in the same round trip,
// reads what the sequencer needs to catch up when another writer (a
// process sharing the database) committed since its last batch: the leaf
// hashes appended since, the checkpoint they must hash to, and the
// accounts and pending transfers the batch is about to touch. The
// sequencer then extends its Merkle tree instead of reloading it, and the
// head row is held from that round trip's end until the commit, not for
// a reload's several round trips. Optional: store/sqlstore implements it
// on PostgreSQL; other stores get Head and a reload.
type HeadReader interface {
	// HeadSince is Head with r: when the locked head's Size differs from
	// r.Since.Size it sets r.Moved and fills the rest of r's answer.
	HeadSince(ctx context.Context, r *HeadRead) (Head, error)
}

// HeadReadTilesMax bounds the level-0 tiles one HeadSince returns: a
// writer more than this many tiles (times 256 leaves) behind reloads.
const HeadReadTilesMax = 64

// HeadRead is HeadReader.HeadSince's question and answer.
type HeadRead struct {
	// Since is the head the caller's memory reflects.
	Since Head
	// Accounts and Pendings are looked up when the head moved; so are the
	// accounts of the pending transfers among Pendings.
	Accounts, Pendings []Key

	// Moved is set when the locked head's Size is not Since.Size; only
	// then are the fields below filled.
	Moved bool
	// Checkpoint is the stored checkpoint at the locked head's size (zero
	// when there is none).
	Checkpoint Checkpoint
	// Tiles are the stored level-0 tiles (leaf hashes) with
	// N >= Since.Size/256, by ascending N, at most HeadReadTilesMax.
	Tiles []TileData
	// NextExpiry is the smallest ExpiresAt of a pending transfer in
	// StatePending (zero: none).
	NextExpiry time.Time
	// FoundAccounts and FoundPendings are those of Accounts and Pendings
	// that exist (and the pending transfers' accounts).
	FoundAccounts []Account
	FoundPendings []Pending
}

func (r *HeadRead) reset(since Head) {
	clear(r.Accounts)
	clear(r.Pendings)
	clear(r.Tiles)
	clear(r.FoundAccounts)
	clear(r.FoundPendings)
	*r = HeadRead{Since: since, Accounts: r.Accounts[:0], Pendings: r.Pendings[:0], Tiles: r.Tiles[:0],
		FoundAccounts: r.FoundAccounts[:0], FoundPendings: r.FoundPendings[:0]}
}

// Head is the log head: one row that every commit updates, so that writers
// serialize on it and can tell whether anyone else committed since.
type Head struct {
	Size      int64  // leaves in the log
	Timestamp int64  // Unix nanoseconds of the last leaf
	Writer    string // token of the process that committed last
}

// Batch is what one commit writes.
type Batch struct {
	Head Head // the new head

	// Accounts created in the batch, with their balances at the end of it.
	NewAccounts []Account
	// Existing accounts whose balances changed: only the four balances
	// are to be written.
	UpdatedAccounts []Account
	// Transfers appended, in leaf order. Leaves of NewAccounts and
	// Transfers interleave; together they are leaves PrevSize..Head.Size-1.
	Transfers []Transfer
	// TransferAccounts holds, for each of Transfers, the LeafIndex of its
	// debit and of its credit account: compact keys a store may index
	// transfers by instead of (Owner, account ID).
	TransferAccounts [][2]int64
	// TransferLeaves holds, for each of Transfers, its leaf encoding
	// (AppendTransferLeaf), which a store may keep as the record itself.
	TransferLeaves [][]byte
	// Pending transfers created in the batch (with their state at its end).
	NewPendings []Pending
	// Existing pending transfers whose State or AmountPosted changed.
	UpdatedPendings []Pending
	// Tiles to store (insert, or replace with a wider version).
	Tiles []TileData
	// Checkpoint of the tree at Head.Size.
	Checkpoint Checkpoint
}

// LeafChunk is a run of stored leaves in leaf order, as Store.Leaves
// yields them: Verify reads the leaf encodings as they are stored, hashes
// them and decodes them once, without a struct per record in between.
type LeafChunk struct {
	// Index[i] is the LeafIndex the store holds leaf i under. A store that
	// lost or reordered records yields them as they are; Verify names the
	// first one out of place.
	Index []int64
	// Data holds the leaf encodings back to back; Ends[i] is the end of
	// leaf i's.
	Data []byte
	Ends []int
	// Accounts[i] holds, when leaf i is a transfer, the leaves of the
	// debit and credit accounts the store keeps it under.
	Accounts [][2]int64
}

// Len returns the number of leaves in c.
func (c *LeafChunk) Len() int { return len(c.Ends) }

// Leaf returns the encoding of leaf i of c.
func (c *LeafChunk) Leaf(i int) []byte {
	start := 0
	if i > 0 {
		start = c.Ends[i-1]
	}
	return c.Data[start:c.Ends[i]:c.Ends[i]]
}

// Reset empties c, keeping its buffers.
func (c *LeafChunk) Reset() {
	c.Index, c.Data, c.Ends, c.Accounts = c.Index[:0], c.Data[:0], c.Ends[:0], c.Accounts[:0]
}

// Append adds the leaf stored under index with the given encoding and,
// for a transfer, account leaves.
func (c *LeafChunk) Append(index int64, data []byte, accounts [2]int64) {
	c.Index = append(c.Index, index)
	c.Data = append(c.Data, data...)
	c.Ends = append(c.Ends, len(c.Data))
	c.Accounts = append(c.Accounts, accounts)
}

// AppendRecord adds r's leaf, encoding it.
func (c *LeafChunk) AppendRecord(r *Record, accounts [2]int64) {
	c.Index = append(c.Index, r.LeafIndex)
	c.Data = AppendLeaf(c.Data, r)
	c.Ends = append(c.Ends, len(c.Data))
	c.Accounts = append(c.Accounts, accounts)
}
