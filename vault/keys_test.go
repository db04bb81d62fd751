package vault

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "vault-kek.json")
	p, err := OpenKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, k := p.Current()
	if v != 1 || len(k) != KEKLength {
		t.Fatalf("first key = %d, %d bytes", v, len(k))
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, %v", fi.Mode(), err)
	}
	// A second process opening the same file gets the same key.
	q, err := OpenKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, k2 := q.Current(); !bytes.Equal(k, k2) {
		t.Error("reopened key differs")
	}
	if v, err := q.Add(); err != nil || v != 2 {
		t.Fatalf("Add = %d, %v", v, err)
	}
	// p sees version 2 once it asks for it (another process rotated).
	if _, err := p.Key(2); err != nil {
		t.Errorf("p.Key(2) after q.Add: %v", err)
	}
	if v, _ := p.Current(); v != 2 {
		t.Errorf("p current = %d after reload, want 2", v)
	}
	if err := p.Remove(2); err == nil {
		t.Error("removed the current version")
	}
	if err := p.Remove(1); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Key(1); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("Key(1) after Remove = %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenKeyFile(path); err == nil {
		t.Error("a broken key file was accepted")
	}
}

func TestParseKeys(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	k2 := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	p, err := ParseKeys(" 1:" + k1 + ",\n2:" + k2 + " ")
	if err != nil {
		t.Fatal(err)
	}
	if v, k := p.Current(); v != 2 || k[0] != 2 {
		t.Errorf("current = %d", v)
	}
	if _, err := p.Add(); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Add = %v, want ErrReadOnly", err)
	}
	for _, bad := range []string{"", "1:" + k1[:10], "x:" + k1, "0:" + k1, "1:" + k1 + ",1:" + k1, k1} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%.12q...) accepted", bad)
		} else if strings.Contains(err.Error(), k1) {
			t.Errorf("error quotes the key: %v", err)
		}
	}
}

func TestEnvelope(t *testing.T) {
	p, _ := ParseKeys("1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	w := NewLocalWrapper(p)
	s, err := sealField(w, 1, "tok_a", "pan", []byte("4242424242424242"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s.Ciphertext, []byte("4242")) || len(s.WrappedKey) != wrappedKeyLength {
		t.Fatalf("sealed = %x", s)
	}
	got, err := openField(w, "tok_a", "pan", 1, s)
	if err != nil || string(got) != "4242424242424242" {
		t.Fatalf("open = %q, %v", got, err)
	}
	for name, f := range map[string]func() ([]byte, error){
		"other record": func() ([]byte, error) { return openField(w, "tok_b", "pan", 1, s) },
		"other field":  func() ([]byte, error) { return openField(w, "tok_a", "cvc", 1, s) },
		"flipped ct": func() ([]byte, error) {
			c := s
			c.Ciphertext = bytes.Clone(s.Ciphertext)
			c.Ciphertext[20] ^= 1
			return openField(w, "tok_a", "pan", 1, c)
		},
		"flipped key": func() ([]byte, error) {
			c := s
			c.WrappedKey = bytes.Clone(s.WrappedKey)
			c.WrappedKey[5] ^= 1
			return openField(w, "tok_a", "pan", 1, c)
		},
		"empty": func() ([]byte, error) { return openField(w, "tok_a", "pan", 1, Sealed{}) },
	} {
		if got, err := f(); !errors.Is(err, ErrDecrypt) || got != nil {
			t.Errorf("%s: %q, %v; want ErrDecrypt", name, got, err)
		}
	}
}
