package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/privacy/seal"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
)

// privacyKEKFile holds the key-encryption keys the subjects' data keys
// are wrapped under (docs/privacy.md). It is apart from the vault's key
// file on purpose: kassa backup does not copy it, and the privacy job
// rotates it after each shredding, so a backup made before an erasure
// cannot open the erased person's key. Every node needs the same file.
const privacyKEKFile = "privacy-kek.json"

// sealing is what the stores seal personal columns with.
type sealing struct {
	keys *vault.FileKeyProvider
	kek  *reloadingKEK
}

// openSealing makes every store seal the personal columns under their
// subjects' own data keys (docs/privacy.md, package privacy/seal). The
// blind index's HMAC key is derived from the identity key
// (--identity-key), so every node that shares that file computes the same
// index.
func (a *app) openSealing(cfg appConfig) error {
	idKey, err := binaryKey(cfg.store.data, cfg.identity.key, identityKeyFile)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.store.data, 0o700); err != nil {
		return err
	}
	path := filepath.Join(cfg.store.data, privacyKEKFile)
	_, statErr := os.Stat(path)
	keys, err := vault.OpenKeyFile(path)
	if err != nil {
		return err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// A new key file over a database that has subject keys: the file
		// was lost or not restored. Refuse rather than run with every
		// person's data unreadable.
		var n int64
		if err := a.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM privacy_keys`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			os.Remove(path)
			return fmt.Errorf("%s is missing but the database holds %d persons' data keys wrapped under it: restore it "+
				"from its backup into the data directory (docs/privacy.md, \"Backups\")", path, n)
		}
	}
	kek := &reloadingKEK{keys: keys, sealer: &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(keys)}}
	m := hmac.New(sha256.New, idKey)
	m.Write([]byte("kassa/privacy/blind-index/v1"))
	k, err := seal.New(seal.Config{KEK: kek, IndexKey: m.Sum(nil)})
	if err != nil {
		return err
	}
	a.db.SetSealing(k)
	a.sealing = &sealing{keys: keys, kek: kek}
	return nil
}

// rotatePrivacyKeys runs seal.Rotate (a new version after a shredding,
// fresh): the privacy job calls it after ShredDue.
func (a *app) rotatePrivacyKeys(ctx context.Context, fresh bool) error {
	removed, err := seal.Rotate(ctx, sqlstore.NewPrivacy(a.db), a.sealing.keys, a.sealing.kek, fresh)
	if len(removed) > 0 {
		a.log.InfoContext(ctx, "privacy key versions destroyed", "versions", removed)
	}
	return err
}

// reloadingKEK seals new subject keys under the current version of the
// privacy key file as the file says now: before sealing it reads the
// file again if it changed (another node's privacy job rotated it), so
// no node wraps a new key under a version that job is removing.
type reloadingKEK struct {
	keys   *vault.FileKeyProvider
	sealer *identity.VaultSealer
	mu     sync.Mutex
	mod    time.Time
	size   int64
}

func (r *reloadingKEK) fresh() {
	fi, err := os.Stat(r.keys.Path())
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if fi.ModTime().Equal(r.mod) && fi.Size() == r.size {
		return
	}
	if r.keys.Reload() == nil {
		r.mod, r.size = fi.ModTime(), fi.Size()
	}
}

func (r *reloadingKEK) Seal(plaintext, aad []byte) ([]byte, error) {
	r.fresh()
	return r.sealer.Seal(plaintext, aad)
}

func (r *reloadingKEK) Open(sealed, aad []byte) ([]byte, error) { return r.sealer.Open(sealed, aad) }

func (r *reloadingKEK) Rewrap(sealed, aad []byte) ([]byte, bool, error) {
	r.fresh()
	return r.sealer.Rewrap(sealed, aad)
}
