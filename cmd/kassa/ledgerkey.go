package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
func ledgerKey(dataDir, file, origin string) (skey string, err error) {
	path := file
	if path == "" {
		path = filepath.Join(dataDir, ledgerKeyFile)
	}
	b, err := os.ReadFile(path)
	if err == nil {
		skey = strings.TrimSpace(string(b))
		if _, err := note.NewSigner(skey); err != nil {
			return "", fmt.Errorf("ledger key %s: %w", path, err)
		}
		return skey, nil
	}
	if !errors.Is(err, os.ErrNotExist) || file != "" {
		return "", fmt.Errorf("ledger key: %w", err)
	}
	skey, _, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", fmt.Errorf("generate ledger key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", err
	}
	// O_EXCL: two processes starting at once must not write two keys.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return ledgerKey(dataDir, path, origin)
	} else if err != nil {
		return "", fmt.Errorf("write ledger key: %w", err)
	}
	_, err = f.WriteString(skey + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write ledger key: %w", err)
	}
	return skey, nil
}
