// Package memstore is an in-memory ledger.Store for tests and benchmarks.
// Transactions are serialized by a mutex and applied atomically on commit.
// It also offers ways to tamper with the stored data, so that tests can
// show that ledger.Verify notices.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"golang.org/x/mod/sumdb/tlog"
)

// Store is an in-memory ledger.Store. The zero value is not usable; call New.
type Store struct {
	wmu sync.Mutex   // serializes Update
	mu  sync.RWMutex // guards the data

	head      ledger.Head
	accounts  map[ledger.Key]*ledger.Account
	leaves    []leaf // by leaf index; deleted leaves are kept as holes
	transfers map[ledger.Key]int64
	pendings  map[ledger.Key]*ledger.Pending
	byAccount map[ledger.Key][]int64
	tiles     map[[2]int64][]byte
	cps       []ledger.Checkpoint

	// FailAppend, if set, is returned by the next Tx.Append (then cleared).
	FailAppend error
}

type leaf struct {
	leafIndex int64
	account   *ledger.Account
	transfer  *ledger.Transfer
	refs      [2]int64 // a transfer's account leaves (Batch.TransferAccounts)
	deleted   bool
}

var _ ledger.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		accounts:  make(map[ledger.Key]*ledger.Account),
		transfers: make(map[ledger.Key]int64),
		pendings:  make(map[ledger.Key]*ledger.Pending),
		byAccount: make(map[ledger.Key][]int64),
		tiles:     make(map[[2]int64][]byte),
	}
}

type tx struct {
	s     *Store
	batch *ledger.Batch
}

// Update implements ledger.Store.
func (s *Store) Update(ctx context.Context, fn func(ctx context.Context, tx ledger.Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	t := &tx{s: s}
	if err := fn(ctx, t); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.batch != nil {
		s.mu.Lock()
		s.apply(t.batch)
		s.mu.Unlock()
	}
	return nil
}

func (t *tx) Head(ctx context.Context) (ledger.Head, error) {
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	return t.s.head, nil
}

var _ ledger.HeadReader = (*tx)(nil)

// HeadSince implements ledger.HeadReader, so that several ledgers on one
// memstore follow each other as they do on PostgreSQL.
func (t *tx) HeadSince(ctx context.Context, r *ledger.HeadRead) (ledger.Head, error) {
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	h := t.s.head
	if h.Size == r.Since.Size {
		return h, nil
	}
	r.Moved = true
	for _, cp := range t.s.cps {
		if cp.Size == h.Size {
			r.Checkpoint = cp
		}
	}
	first := r.Since.Size / (1 << ledger.TileHeight)
	for n := first; n < first+ledger.HeadReadTilesMax; n++ {
		d, ok := t.s.tiles[[2]int64{0, n}]
		if !ok {
			break
		}
		r.Tiles = append(r.Tiles, ledger.TileData{Tile: tlog.Tile{H: ledger.TileHeight, L: 0, N: n, W: len(d) / tlog.HashSize}, Data: slices.Clone(d)})
	}
	for _, p := range t.s.pendings {
		if p.State == ledger.StatePending && !p.ExpiresAt.IsZero() && (r.NextExpiry.IsZero() || p.ExpiresAt.Before(r.NextExpiry)) {
			r.NextExpiry = p.ExpiresAt
		}
	}
	seen := make(map[ledger.Key]bool)
	addAccount := func(k ledger.Key) {
		if a := t.s.accounts[k]; a != nil && !seen[k] {
			seen[k] = true
			r.FoundAccounts = append(r.FoundAccounts, *a)
		}
	}
	for _, k := range r.Pendings {
		if p := t.s.pendings[k]; p != nil {
			r.FoundPendings = append(r.FoundPendings, *p)
			addAccount(ledger.Key{Owner: p.Owner, ID: p.DebitAccountID})
			addAccount(ledger.Key{Owner: p.Owner, ID: p.CreditAccountID})
		}
	}
	for _, k := range r.Accounts {
		addAccount(k)
	}
	return h, nil
}

func (t *tx) LatestCheckpoint(ctx context.Context) (ledger.Checkpoint, error) {
	return t.s.LatestCheckpoint(ctx)
}

func (t *tx) ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error) {
	return t.s.ReadTiles(ctx, tiles)
}

func (t *tx) LookupAccounts(ctx context.Context, keys []ledger.Key) ([]ledger.Account, error) {
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	var out []ledger.Account
	for _, k := range keys {
		if a := t.s.accounts[k]; a != nil {
			out = append(out, *a)
		}
	}
	return out, nil
}

func (t *tx) LookupTransfers(ctx context.Context, keys []ledger.Key) ([]ledger.Transfer, error) {
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	var out []ledger.Transfer
	for _, k := range keys {
		if i, ok := t.s.transfers[k]; ok {
			out = append(out, *t.s.leaves[i].transfer)
		}
	}
	return out, nil
}

func (t *tx) LookupPendings(ctx context.Context, keys []ledger.Key) ([]ledger.Pending, error) {
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	var out []ledger.Pending
	for _, k := range keys {
		if p := t.s.pendings[k]; p != nil {
			out = append(out, *p)
		}
	}
	return out, nil
}

func (t *tx) ExpiredPendings(ctx context.Context, now time.Time, limit int) ([]ledger.Pending, error) {
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	var out []ledger.Pending
	for _, p := range t.s.pendings {
		if p.State == ledger.StatePending && !p.ExpiresAt.IsZero() && !p.ExpiresAt.After(now) {
			out = append(out, *p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].ExpiresAt.Equal(out[j].ExpiresAt) {
			return out[i].ExpiresAt.Before(out[j].ExpiresAt)
		}
		return out[i].LeafIndex < out[j].LeafIndex
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (t *tx) NextExpiry(ctx context.Context, after time.Time) (time.Time, bool, error) {
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	var next time.Time
	for _, p := range t.s.pendings {
		if p.State == ledger.StatePending && !p.ExpiresAt.IsZero() && p.ExpiresAt.After(after) &&
			(next.IsZero() || p.ExpiresAt.Before(next)) {
			next = p.ExpiresAt
		}
	}
	return next, !next.IsZero(), nil
}

func (t *tx) Append(ctx context.Context, b *ledger.Batch) error {
	if err := t.s.FailAppend; err != nil {
		t.s.FailAppend = nil
		return err
	}
	if len(b.TransferAccounts) != len(b.Transfers) {
		return errors.New("memstore: batch without account leaves")
	}
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	for i := range b.Transfers {
		k := ledger.Key{Owner: b.Transfers[i].Owner, ID: b.Transfers[i].ID}
		if _, ok := t.s.transfers[k]; ok {
			return fmt.Errorf("memstore: transfer %v: %w", k, ledger.ErrDuplicate)
		}
	}
	for i := range b.NewAccounts {
		k := ledger.Key{Owner: b.NewAccounts[i].Owner, ID: b.NewAccounts[i].ID}
		if _, ok := t.s.accounts[k]; ok {
			return fmt.Errorf("memstore: account %v: %w", k, ledger.ErrDuplicate)
		}
	}
	if int64(len(t.s.leaves)) != b.Checkpoint.Size-int64(len(b.Transfers)+len(b.NewAccounts)) {
		return errors.New("memstore: batch does not continue the log")
	}
	t.batch = cloneBatch(b)
	return nil
}

func cloneBatch(b *ledger.Batch) *ledger.Batch {
	c := *b
	c.NewAccounts = slices.Clone(b.NewAccounts)
	c.UpdatedAccounts = slices.Clone(b.UpdatedAccounts)
	c.Transfers = slices.Clone(b.Transfers)
	c.NewPendings = slices.Clone(b.NewPendings)
	c.UpdatedPendings = slices.Clone(b.UpdatedPendings)
	c.Tiles = slices.Clone(b.Tiles)
	return &c
}

func (s *Store) apply(b *ledger.Batch) {
	n := len(s.leaves)
	s.leaves = append(s.leaves, make([]leaf, len(b.NewAccounts)+len(b.Transfers))...)
	for i := range b.NewAccounts {
		a := b.NewAccounts[i]
		s.accounts[ledger.Key{Owner: a.Owner, ID: a.ID}] = &a
		s.leaves[a.LeafIndex] = leaf{leafIndex: a.LeafIndex, account: &a}
	}
	for i := range b.UpdatedAccounts {
		u := &b.UpdatedAccounts[i]
		a := s.accounts[ledger.Key{Owner: u.Owner, ID: u.ID}]
		a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted = u.DebitsPending, u.DebitsPosted, u.CreditsPending, u.CreditsPosted
	}
	for i := range b.Transfers {
		t := b.Transfers[i]
		s.transfers[ledger.Key{Owner: t.Owner, ID: t.ID}] = t.LeafIndex
		s.leaves[t.LeafIndex] = leaf{leafIndex: t.LeafIndex, transfer: &t, refs: b.TransferAccounts[i]}
		for _, id := range []string{t.DebitAccountID, t.CreditAccountID} {
			k := ledger.Key{Owner: t.Owner, ID: id}
			s.byAccount[k] = append(s.byAccount[k], t.LeafIndex)
		}
	}
	for _, p := range append(b.NewPendings, b.UpdatedPendings...) {
		s.pendings[ledger.Key{Owner: p.Owner, ID: p.ID}] = &p
	}
	for _, t := range b.Tiles {
		k := [2]int64{int64(t.Tile.L), t.Tile.N}
		if len(t.Data) > len(s.tiles[k]) {
			s.tiles[k] = slices.Clone(t.Data)
		}
	}
	s.cps = append(s.cps, b.Checkpoint)
	s.head = b.Head
	for i := n; i < len(s.leaves); i++ {
		if s.leaves[i].account == nil && s.leaves[i].transfer == nil {
			panic(fmt.Sprintf("memstore: batch leaves a hole at leaf %d", i))
		}
	}
}

// Account implements ledger.Store.
func (s *Store) Account(ctx context.Context, owner, id string) (ledger.Account, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a := s.accounts[ledger.Key{Owner: owner, ID: id}]; a != nil {
		return *a, nil
	}
	return ledger.Account{}, ledger.ErrNotFound
}

// Transfer implements ledger.Store.
func (s *Store) Transfer(ctx context.Context, owner, id string) (ledger.Transfer, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if i, ok := s.transfers[ledger.Key{Owner: owner, ID: id}]; ok && !s.leaves[i].deleted {
		return *s.leaves[i].transfer, nil
	}
	return ledger.Transfer{}, ledger.ErrNotFound
}

// Pending implements ledger.Store.
func (s *Store) Pending(ctx context.Context, owner, id string) (ledger.Pending, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if p := s.pendings[ledger.Key{Owner: owner, ID: id}]; p != nil {
		return *p, nil
	}
	return ledger.Pending{}, ledger.ErrNotFound
}

// AccountTransfers implements ledger.Store.
func (s *Store) AccountTransfers(ctx context.Context, owner, accountID string, afterLeaf int64, limit int) ([]ledger.Transfer, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	idx := s.byAccount[ledger.Key{Owner: owner, ID: accountID}]
	i := sort.Search(len(idx), func(i int) bool { return idx[i] > afterLeaf })
	var out []ledger.Transfer
	for ; i < len(idx) && len(out) < limit; i++ {
		if l := s.leaves[idx[i]]; !l.deleted {
			out = append(out, *l.transfer)
		}
	}
	return out, nil
}

// LatestCheckpoint implements ledger.Store.
func (s *Store) LatestCheckpoint(ctx context.Context) (ledger.Checkpoint, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.cps) == 0 {
		return ledger.Checkpoint{}, ledger.ErrNotFound
	}
	return s.cps[len(s.cps)-1], nil
}

// Checkpoints implements ledger.Store.
func (s *Store) Checkpoints(ctx context.Context) iter.Seq2[ledger.Checkpoint, error] {
	return func(yield func(ledger.Checkpoint, error) bool) {
		s.mu.RLock()
		cps := slices.Clone(s.cps)
		s.mu.RUnlock()
		for _, cp := range cps {
			if !yield(cp, nil) {
				return
			}
		}
	}
}

// ReadTiles implements ledger.Store.
func (s *Store) ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		d := s.tiles[[2]int64{int64(t.L), t.N}]
		if len(d) < t.W*tlog.HashSize {
			return nil, fmt.Errorf("memstore: tile %s: %w", t.Path(), ledger.ErrNotFound)
		}
		out[i] = d[: t.W*tlog.HashSize : t.W*tlog.HashSize]
	}
	return out, nil
}

// Leaves implements ledger.Store.
func (s *Store) Leaves(ctx context.Context, from int64) iter.Seq2[*ledger.LeafChunk, error] {
	return func(yield func(*ledger.LeafChunk, error) bool) {
		const chunkLeavesMax = 1024
		var c ledger.LeafChunk
		for i := from; ; {
			c.Reset()
			s.mu.RLock()
			for ; i < int64(len(s.leaves)) && c.Len() < chunkLeavesMax; i++ {
				if l := s.leaves[i]; !l.deleted {
					c.AppendRecord(&ledger.Record{LeafIndex: l.leafIndex, Account: l.account, Transfer: l.transfer}, l.refs)
				}
			}
			s.mu.RUnlock()
			if c.Len() == 0 || !yield(&c, nil) {
				return
			}
		}
	}
}

// Accounts implements ledger.Store.
func (s *Store) Accounts(ctx context.Context) iter.Seq2[*ledger.Account, error] {
	return func(yield func(*ledger.Account, error) bool) {
		s.mu.RLock()
		all := make([]ledger.Account, 0, len(s.accounts))
		for _, a := range s.accounts {
			all = append(all, *a)
		}
		s.mu.RUnlock()
		for i := range all {
			if !yield(&all[i], nil) {
				return
			}
		}
	}
}

// Tampering, for tests of ledger.Verify. Each simulates an edit of the
// database behind the ledger's back.

// SetTransferAmount changes the amount of the transfer at leaf.
func (s *Store) SetTransferAmount(leaf int64, amount int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := *s.leaves[leaf].transfer
	t.Amount = money.Amount(amount)
	s.leaves[leaf].transfer = &t
}

// SetAccountBalance changes an account's debits_posted.
func (s *Store) SetAccountBalance(owner, id string, debitsPosted int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := *s.accounts[ledger.Key{Owner: owner, ID: id}]
	a.DebitsPosted = money.Amount(debitsPosted)
	s.accounts[ledger.Key{Owner: owner, ID: id}] = &a
}

// SetTransferAccounts changes the account leaves the transfer at leaf is
// kept under (an index that disagrees with the record).
func (s *Store) SetTransferAccounts(leaf int64, debit, credit int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaves[leaf].refs = [2]int64{debit, credit}
}

// DeleteLeaf removes the record at leaf.
func (s *Store) DeleteLeaf(leaf int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaves[leaf].deleted = true
}

// SwapLeaves exchanges the leaf positions of two records.
func (s *Store) SwapLeaves(i, j int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaves[i], s.leaves[j] = s.leaves[j], s.leaves[i]
	s.leaves[i].leafIndex, s.leaves[j].leafIndex = i, j
	for _, k := range []int64{i, j} {
		if t := s.leaves[k].transfer; t != nil {
			c := *t
			c.LeafIndex = k
			s.leaves[k].transfer = &c
		} else {
			c := *s.leaves[k].account
			c.LeafIndex = k
			s.leaves[k].account = &c
		}
	}
}
