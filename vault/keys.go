package vault

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// KEKLength is the length of a key-encryption key: AES-256.
const KEKLength = 32

// kekVersionsMax bounds the versions a provider holds.
const kekVersionsMax = 1000

// ErrReadOnly is returned by providers whose keys are managed elsewhere
// (the environment, a secret file) when asked to add or remove a version.
var ErrReadOnly = errors.New("the key-encryption keys are read-only here; change them where they are configured")

// ErrUnknownKeyVersion is returned for a KEK version a provider does not hold.
var ErrUnknownKeyVersion = errors.New("unknown key-encryption key version")

// KeyProvider holds the versioned key-encryption keys (KEKs) that wrap the
// per-record data keys. Versions are positive and only grow; the highest
// is Current and wraps every new data key. Older versions stay available
// to unwrap until they are retired.
//
// Providers that hand out key bytes (a key file, the environment) are
// used through LocalWrapper. An external KMS whose keys never leave it
// should implement Wrapper instead and be given as Config.Wrapper.
type KeyProvider interface {
	// Current returns the version and key new data keys are wrapped with.
	Current() (version int, key []byte)
	// Key returns the key of a version, or ErrUnknownKeyVersion.
	Key(version int) ([]byte, error)
	// Versions lists the versions held, in ascending order.
	Versions() []int
	// Add makes a new current version (ErrReadOnly if the provider cannot).
	Add() (version int, err error)
	// Remove forgets a version that is not current (ErrReadOnly if the
	// provider cannot). Callers check first that nothing uses it.
	Remove(version int) error
}

// keySet is an immutable set of versioned keys.
type keySet struct {
	keys    map[int][]byte
	current int
}

func (ks *keySet) versions() []int {
	vs := make([]int, 0, len(ks.keys))
	for v := range ks.keys {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

func (ks *keySet) key(version int) ([]byte, error) {
	k, ok := ks.keys[version]
	if !ok {
		return nil, fmt.Errorf("%w %d", ErrUnknownKeyVersion, version)
	}
	return k, nil
}

func newKeySet(keys map[int][]byte) (*keySet, error) {
	if len(keys) == 0 {
		return nil, errors.New("no key-encryption keys")
	}
	if len(keys) > kekVersionsMax {
		return nil, fmt.Errorf("more than %d key-encryption keys", kekVersionsMax)
	}
	ks := &keySet{keys: keys}
	for v, k := range keys {
		if v <= 0 {
			return nil, fmt.Errorf("key-encryption key version %d: versions must be positive", v)
		}
		if len(k) != KEKLength {
			return nil, fmt.Errorf("key-encryption key version %d: want %d bytes, have %d", v, KEKLength, len(k))
		}
		ks.current = max(ks.current, v)
	}
	return ks, nil
}

// StaticKeyProvider holds keys given from outside, read-only: for
// containers that get them from the environment or a mounted secret.
type StaticKeyProvider struct{ ks *keySet }

var _ KeyProvider = (*StaticKeyProvider)(nil)

// ParseKeys reads "1:base64,2:base64" (standard or URL base64 of 32
// bytes each; spaces and newlines around entries are ignored) — the
// format of KASSA_VAULT_KEKS.
func ParseKeys(s string) (*StaticKeyProvider, error) {
	keys := map[int][]byte{}
	for entry := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == '\n' || r == ' ' || r == '\t' || r == '\r' }) {
		vs, b64, ok := strings.Cut(entry, ":")
		v, err := strconv.Atoi(vs)
		if !ok || err != nil {
			return nil, errors.New("key-encryption keys: want version:base64 entries separated by commas")
		}
		k, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("key-encryption key version %d: %w", v, err)
		}
		if _, dup := keys[v]; dup {
			return nil, fmt.Errorf("key-encryption key version %d given twice", v)
		}
		keys[v] = k
	}
	ks, err := newKeySet(keys)
	if err != nil {
		return nil, err
	}
	return &StaticKeyProvider{ks: ks}, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			return k, nil
		}
	}
	return nil, errors.New("not base64")
}

func (p *StaticKeyProvider) Current() (int, []byte)          { return p.ks.current, p.ks.keys[p.ks.current] }
func (p *StaticKeyProvider) Key(version int) ([]byte, error) { return p.ks.key(version) }
func (p *StaticKeyProvider) Versions() []int                 { return p.ks.versions() }
func (p *StaticKeyProvider) Add() (int, error)               { return 0, ErrReadOnly }
func (p *StaticKeyProvider) Remove(int) error                { return ErrReadOnly }

// FileKeyProvider keeps every KEK version in one JSON file (mode 0600)
// in the data directory, made with a first version when absent. Add and
// Remove rewrite it atomically (a temporary file, fsync, rename, fsync of
// the directory). Another process (kassa keys rotate) may change the file;
// Reload picks the change up.
type FileKeyProvider struct {
	path string
	mu   sync.Mutex // serializes changes of the file by this process
	ks   atomic.Pointer[keySet]
}

var _ KeyProvider = (*FileKeyProvider)(nil)

// keyFile is the file's JSON.
type keyFile struct {
	Comment string          `json:"comment"`
	Keys    []keyFileRecord `json:"keys"`
}

type keyFileRecord struct {
	Version int    `json:"version"`
	Key     string `json:"key"` // standard base64
}

const keyFileComment = "Kassa vault key-encryption keys. Keep secret, back up, and give every node the same file. Losing a version that still protects records makes those cards unreadable."

// OpenKeyFile opens the key file at path, making it with one fresh
// version when it does not exist (O_EXCL: two processes starting at once
// agree on one file).
func OpenKeyFile(path string) (*FileKeyProvider, error) {
	p := &FileKeyProvider{path: path}
	ks, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		ks, err = createKeyFile(path)
		if errors.Is(err, os.ErrExist) {
			ks, err = readKeyFile(path)
		}
	}
	if err != nil {
		return nil, err
	}
	p.ks.Store(ks)
	return p, nil
}

func readKeyFile(path string) (*keySet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f keyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	keys := map[int][]byte{}
	for _, r := range f.Keys {
		k, err := base64.StdEncoding.DecodeString(r.Key)
		if err != nil {
			return nil, fmt.Errorf("key file %s: version %d: not base64", path, r.Version)
		}
		if _, dup := keys[r.Version]; dup {
			return nil, fmt.Errorf("key file %s: version %d twice", path, r.Version)
		}
		keys[r.Version] = k
	}
	ks, err := newKeySet(keys)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return ks, nil
}

func newKEK() []byte {
	k := make([]byte, KEKLength)
	rand.Read(k) // crypto/rand never fails on supported platforms
	return k
}

func createKeyFile(path string) (*keySet, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	ks := &keySet{keys: map[int][]byte{1: newKEK()}, current: 1}
	b := encodeKeyFile(ks)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write key file %s: %w", path, err)
	}
	return ks, syncDir(filepath.Dir(path))
}

func encodeKeyFile(ks *keySet) []byte {
	f := keyFile{Comment: keyFileComment}
	for _, v := range ks.versions() {
		f.Keys = append(f.Keys, keyFileRecord{Version: v, Key: base64.StdEncoding.EncodeToString(ks.keys[v])})
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		panic(err) // plain structs always encode
	}
	return append(b, '\n')
}

// writeKeyFile replaces the file atomically.
func writeKeyFile(path string, ks *keySet) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".vault-kek-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	_, err = tmp.Write(encodeKeyFile(ks))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace key file: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Path returns the key file's path.
func (p *FileKeyProvider) Path() string { return p.path }

func (p *FileKeyProvider) Current() (int, []byte) {
	ks := p.ks.Load()
	return ks.current, ks.keys[ks.current]
}

// Key returns a version's key. A version this process has not seen yet
// (rotated by another process) makes it read the file again.
func (p *FileKeyProvider) Key(version int) ([]byte, error) {
	k, err := p.ks.Load().key(version)
	if errors.Is(err, ErrUnknownKeyVersion) {
		if rerr := p.Reload(); rerr == nil {
			return p.ks.Load().key(version)
		}
	}
	return k, err
}

func (p *FileKeyProvider) Versions() []int { return p.ks.Load().versions() }

// Reload reads the file again.
func (p *FileKeyProvider) Reload() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ks, err := readKeyFile(p.path)
	if err != nil {
		return err
	}
	p.ks.Store(ks)
	return nil
}

// Add appends a new version, current from now on, and writes the file.
func (p *FileKeyProvider) Add() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ks, err := readKeyFile(p.path) // the file is the truth: another process may have changed it
	if err != nil {
		return 0, err
	}
	if len(ks.keys) >= kekVersionsMax {
		return 0, fmt.Errorf("already %d key-encryption keys; retire old ones first", kekVersionsMax)
	}
	next := &keySet{keys: map[int][]byte{}, current: ks.current + 1}
	for v, k := range ks.keys {
		next.keys[v] = k
	}
	next.keys[next.current] = newKEK()
	if err := writeKeyFile(p.path, next); err != nil {
		return 0, err
	}
	p.ks.Store(next)
	return next.current, nil
}

// Remove forgets a version that is not current and rewrites the file.
func (p *FileKeyProvider) Remove(version int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ks, err := readKeyFile(p.path)
	if err != nil {
		return err
	}
	if _, err := ks.key(version); err != nil {
		return err
	}
	if version == ks.current {
		return fmt.Errorf("key-encryption key version %d is current and cannot be removed", version)
	}
	next := &keySet{keys: map[int][]byte{}, current: ks.current}
	for v, k := range ks.keys {
		if v != version {
			next.keys[v] = k
		}
	}
	if err := writeKeyFile(p.path, next); err != nil {
		return err
	}
	p.ks.Store(next)
	return nil
}
