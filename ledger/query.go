package ledger

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// Account returns the account (owner, id) with its balances as of the last
// commit, or ErrNotFound.
func (l *Ledger) Account(ctx context.Context, owner, id string) (Account, error) {
	return l.store.Account(ctx, owner, id)
}

// Transfer returns the transfer (owner, id) and its leaf data (the bytes
// whose RFC 6962 record hash is in the log at t.LeafIndex), or ErrNotFound.
func (l *Ledger) Transfer(ctx context.Context, owner, id string) (t Transfer, leaf []byte, err error) {
	t, err = l.store.Transfer(ctx, owner, id)
	if err != nil {
		return Transfer{}, nil, err
	}
	return t, AppendTransferLeaf(nil, &t), nil
}

// AccountTransfers returns up to limit (1..PageLimitMax) transfers of owner
// that debit or credit accountID, in leaf order, starting after the
// transfer startingAfter ("" = from the first). more reports whether
// another page follows.
func (l *Ledger) AccountTransfers(ctx context.Context, owner, accountID, startingAfter string, limit int) (ts []Transfer, more bool, err error) {
	if limit < 1 || limit > PageLimitMax {
		return nil, false, fmt.Errorf("%w: limit %d, want 1..%d", ErrInvalid, limit, PageLimitMax)
	}
	after := int64(-1)
	if startingAfter != "" {
		t, err := l.store.Transfer(ctx, owner, startingAfter)
		if errors.Is(err, ErrNotFound) {
			return nil, false, fmt.Errorf("%w: starting_after %q: no such transfer", ErrInvalid, startingAfter)
		}
		if err != nil {
			return nil, false, err
		}
		after = t.LeafIndex
	}
	ts, err = l.store.AccountTransfers(ctx, owner, accountID, after, limit+1)
	if err != nil {
		return nil, false, err
	}
	if len(ts) > limit {
		return ts[:limit], true, nil
	}
	return ts, false, nil
}

// PendingStatus returns the state of the pending transfer (owner, id):
// pending, posted (with AmountPosted), voided or expired. A pending
// transfer whose timeout has passed but that the sequencer has not voided
// yet is reported as StateExpired.
func (l *Ledger) PendingStatus(ctx context.Context, owner, id string) (Pending, error) {
	p, err := l.store.Pending(ctx, owner, id)
	if err != nil {
		return Pending{}, err
	}
	if p.State == StatePending && !p.ExpiresAt.IsZero() && !l.clock().Before(p.ExpiresAt) {
		p.State = StateExpired
	}
	return p, nil
}

// LatestCheckpoint returns the latest signed checkpoint, or ErrNotFound
// for an empty log.
func (l *Ledger) LatestCheckpoint(ctx context.Context) (Checkpoint, error) {
	return l.store.LatestCheckpoint(ctx)
}

// hashReader returns a HashReader over the stored tiles, authenticated
// against the latest checkpoint.
func hashReader(ctx context.Context, s Store) (tlog.HashReader, Checkpoint, error) {
	cp, err := s.LatestCheckpoint(ctx)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	read := func(tiles []tlog.Tile) ([][]byte, error) { return s.ReadTiles(ctx, tiles) }
	return tlog.TileHashReader(tlog.Tree{N: cp.Size, Hash: cp.Hash}, tileReader(read)), cp, nil
}

// InclusionProof proves that leaf is in the tree of size treeSize (a
// checkpoint's size). Check it with tlog.CheckRecord(proof, treeSize,
// checkpointHash, leaf, tlog.RecordHash(leafData)).
func (l *Ledger) InclusionProof(ctx context.Context, leaf, treeSize int64) (tlog.RecordProof, error) {
	return InclusionProof(ctx, l.store, leaf, treeSize)
}

// ConsistencyProof proves that the tree of size oldSize is a prefix of the
// tree of size newSize. Check it with tlog.CheckTree(proof, newSize,
// newHash, oldSize, oldHash).
func (l *Ledger) ConsistencyProof(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error) {
	return ConsistencyProof(ctx, l.store, oldSize, newSize)
}

// InclusionProof is Ledger.InclusionProof on a store.
func InclusionProof(ctx context.Context, s Store, leaf, treeSize int64) (tlog.RecordProof, error) {
	r, cp, err := hashReader(ctx, s)
	if err != nil {
		return nil, err
	}
	if leaf < 0 || treeSize <= leaf || treeSize > cp.Size {
		return nil, fmt.Errorf("%w: leaf %d not in tree of size %d (log size %d)", ErrInvalid, leaf, treeSize, cp.Size)
	}
	return tlog.ProveRecord(treeSize, leaf, r)
}

// ConsistencyProof is Ledger.ConsistencyProof on a store.
func ConsistencyProof(ctx context.Context, s Store, oldSize, newSize int64) (tlog.TreeProof, error) {
	r, cp, err := hashReader(ctx, s)
	if err != nil {
		return nil, err
	}
	if oldSize < 1 || newSize < oldSize || newSize > cp.Size {
		return nil, fmt.Errorf("%w: sizes %d → %d (log size %d)", ErrInvalid, oldSize, newSize, cp.Size)
	}
	return tlog.ProveTree(newSize, oldSize, r)
}

// TreeHash returns the root hash of the tree of the given size, read from
// the stored tiles (authenticated against the latest checkpoint).
func TreeHash(ctx context.Context, s Store, size int64) (tlog.Hash, error) {
	r, cp, err := hashReader(ctx, s)
	if err != nil {
		return tlog.Hash{}, err
	}
	if size < 0 || size > cp.Size {
		return tlog.Hash{}, fmt.Errorf("%w: size %d (log size %d)", ErrInvalid, size, cp.Size)
	}
	return tlog.TreeHash(size, r)
}
