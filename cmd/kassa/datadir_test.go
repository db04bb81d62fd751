package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDataDirForcedPrivate: the data directory holds the database, the
// TLS key and every secret key file. One made by hand with the usual
// umask (0755) would let every local user read them; opening the store
// makes it 0700.
func TestDataDirForcedPrivate(t *testing.T) {
	for _, mode := range []os.FileMode{0o755, 0o777, 0o750} {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		sf := storeFlags{data: dir}
		db, err := sf.open(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != 0o700 {
			t.Errorf("a data directory made %#o is %#o after opening, want 0700", mode, got)
		}
	}
	// A shared directory (sticky, like /tmp) is refused, not closed.
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(shared, 0o777|os.ModeSticky)
	if db, err := (&storeFlags{data: shared}).open(t.Context()); err == nil {
		db.Close()
		t.Error("a sticky shared directory was taken as the data directory")
	}
	if st, _ := os.Stat(shared); st.Mode().Perm() != 0o777 {
		t.Errorf("the shared directory became %#o", st.Mode().Perm())
	}
	// A fresh one is made 0700.
	dir := filepath.Join(t.TempDir(), "fresh", "data")
	sf := storeFlags{data: dir}
	db, err := sf.open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("a fresh data directory: %v %v, want 0700", st.Mode(), err)
	}
}
