package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// secretFile returns the secret kept in file (default: name in dataDir),
// making it with gen (0600, O_EXCL so two processes starting at once agree)
// when the default file does not exist yet. A file given explicitly must
// exist. Every node of a cluster must be given the same files.
func secretFile(dataDir, file, name string, gen func() (string, error)) (string, error) {
	path := file
	if path == "" {
		path = filepath.Join(dataDir, name)
	}
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) || file != "" {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	secret, err := gen()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return secretFile(dataDir, path, name, gen)
	} else if err != nil {
		return "", fmt.Errorf("create %s: %w", path, err)
	}
	_, err = f.WriteString(secret + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return secret, nil
}

// randomKey returns 32 random bytes, base64-encoded.
func randomKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// binaryKey reads a base64 key of at least 32 bytes.
func binaryKey(dataDir, file, name string) ([]byte, error) {
	s, err := secretFile(dataDir, file, name, randomKey)
	if err != nil {
		return nil, err
	}
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(k) < 32 {
		return nil, fmt.Errorf("%s: want base64 of at least 32 bytes", name)
	}
	return k, nil
}
