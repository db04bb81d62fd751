package main

import (
	"crypto/rand"
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// ledgerKeyFile is the checkpoint signer key's file in the data directory
// when no --ledger-key is given.
const ledgerKeyFile = "ledger-signer.key"

// ledgerOriginDefault names the log on the first line of every checkpoint.
const ledgerOriginDefault = "kassa/ledger"

// ledgerKey returns the note signer key that signs checkpoints: from file
// when given (every node of a cluster must use the same one), otherwise
// from the data directory, created there (0600) on first use.
func ledgerKey(dataDir, file, origin string) (string, error) {
	skey, err := secretFile(dataDir, file, ledgerKeyFile, func() (string, error) {
		skey, _, err := note.GenerateKey(rand.Reader, origin)
		return skey, err
	})
	if err != nil {
		return "", fmt.Errorf("ledger key: %w", err)
	}
	if _, err := note.NewSigner(skey); err != nil {
		return "", fmt.Errorf("ledger key: %w", err)
	}
	return skey, nil
}
