package seal

import (
	"context"
	"fmt"
	"slices"
)

// KeyFile is the versioned key-encryption keys the subject keys are
// wrapped under (vault.FileKeyProvider over the privacy key file). It is
// kept apart from the database and its backups.
type KeyFile interface {
	Current() (int, []byte)
	Versions() []int
	Add() (int, error)
	Remove(version int) error
}

// KeyStore is where the subject keys are stored.
type KeyStore interface {
	// KeyVersions counts the stored keys per KeyFile version.
	KeyVersions(ctx context.Context) (map[int]int64, error)
	// RewrapKeys rewraps up to limit keys under a version below version
	// and says how many it changed.
	RewrapKeys(ctx context.Context, version, limit int, rewrap func(subject string, wrapped []byte) ([]byte, error)) (int, error)
}

// Rewrapper re-wraps a stored key under the KeyFile's current version
// (identity.VaultSealer.Rewrap).
type Rewrapper interface {
	Rewrap(sealed, aad []byte) ([]byte, bool, error)
}

const (
	rotateBatch      = 500
	rotateBatchesMax = 10_000 // 5 million keys a run
)

// Rotate makes destroyed keys unrecoverable from copies of the database
// made before (backups, dumps, replicas' old files): with fresh (after a
// shredding) it adds a KeyFile version; then it rewraps every stored key
// under an older version to the current one and removes every older
// version no stored key uses any more. A backup made before holds its
// keys wrapped under a version that is gone, so the keys the shredding
// destroyed cannot be opened from it — nor the others, which the live
// database keeps. A run that stops halfway is finished by the next.
// It returns the versions removed.
func Rotate(ctx context.Context, store KeyStore, keys KeyFile, w Rewrapper, fresh bool) ([]int, error) {
	if fresh {
		if _, err := keys.Add(); err != nil {
			return nil, fmt.Errorf("seal: add a key version: %w", err)
		}
	} else if len(keys.Versions()) <= 1 {
		return nil, nil // nothing to finish
	}
	cur, _ := keys.Current()
	rewrap := func(subject string, wrapped []byte) ([]byte, error) {
		b, _, err := w.Rewrap(wrapped, KeyAAD(subject))
		return b, err
	}
	for range rotateBatchesMax {
		n, err := store.RewrapKeys(ctx, cur, rotateBatch, rewrap)
		if err != nil {
			return nil, fmt.Errorf("seal: rewrap subject keys: %w", err)
		}
		if n == 0 {
			break
		}
	}
	used, err := store.KeyVersions(ctx)
	if err != nil {
		return nil, err
	}
	var removed []int
	for _, v := range slices.Sorted(slices.Values(keys.Versions())) {
		if v >= cur || used[v] > 0 {
			continue
		}
		if err := keys.Remove(v); err != nil {
			return removed, fmt.Errorf("seal: remove key version %d: %w", v, err)
		}
		removed = append(removed, v)
	}
	return removed, nil
}
