// Package vaulttest holds what tests of packages that seal values with
// the vault's key-encryption keys share.
package vaulttest

import (
	"crypto/rand"
	"encoding/base64"

	"github.com/kassa/kassa/vault"
)

// Keys is a read-only provider of one fresh random key-encryption key.
func Keys() *vault.StaticKeyProvider {
	k := make([]byte, vault.KEKLength)
	rand.Read(k)
	keys, err := vault.ParseKeys("1:" + base64.StdEncoding.EncodeToString(k))
	if err != nil {
		panic("vaulttest: " + err.Error()) // a well-formed key: cannot fail
	}
	return keys
}

// Envelope seals in domain under a fresh random key.
func Envelope(domain string) *vault.Envelope {
	return &vault.Envelope{Wrapper: vault.NewLocalWrapper(Keys()), Domain: domain}
}
