package main

import (
	"crypto/hmac"
	"crypto/sha256"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/privacy/seal"
	"github.com/kassa/kassa/vault"
)

// openSealing makes every store seal the personal columns under their
// subjects' own data keys (docs/privacy.md, package privacy/seal). The
// keys are wrapped with the vault's key-encryption keys; the blind
// index's HMAC key is derived from the identity key (--identity-key), so
// no new secret file is needed and every node that shares that file
// computes the same index.
func (a *app) openSealing(cfg appConfig) error {
	idKey, err := binaryKey(cfg.store.data, cfg.identity.key, identityKeyFile)
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, idKey)
	m.Write([]byte("kassa/privacy/blind-index/v1"))
	k, err := seal.New(seal.Config{KEK: &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(a.keks)}, IndexKey: m.Sum(nil)})
	if err != nil {
		return err
	}
	a.db.SetSealing(k)
	return nil
}
