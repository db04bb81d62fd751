package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kassa/kassa/internal/tlsutil"
	"github.com/kassa/kassa/store/sqlstore"
)

// backupSumsFile lists every file of a backup with its SHA-256, in the
// format sha256sum -c reads.
const backupSumsFile = "SHA256SUMS"

// backupKeyBytesMax bounds one key file copied into a backup (the largest,
// vault-kek.json, holds a few hundred bytes per key version).
const backupKeyBytesMax = 16 << 20

// backupFile is a file besides the database that a restore needs: where
// it is now (the flag that moves it, or its default name in --data), and
// the default name it gets in the backup, so that the backup directory is
// a data directory.
type backupFile struct {
	name string // default name in the data directory and in the backup
	flag string // the flag of serve that names it elsewhere
	path string // set by that flag; "" is name in --data
}

func runBackup(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := newFlagSet("backup", "backup --out DIR [--data DIR] [key file flags]", stderr)
	fs.StringVar(&sf.data, "data", "./kassa-data", "data `directory` to back up (the embedded SQLite database and the key files)")
	fs.StringVar(&sf.database, "database", "", "PostgreSQL `URL`: refused, PostgreSQL is backed up with its own tools (docs/operations.md)")
	out := fs.String("out", "", "`directory` to write the backup into: made 0700, or an existing empty one")
	files := []*backupFile{
		{name: ledgerKeyFile, flag: "ledger-key"},
		{name: voucherPINKeyFile, flag: "voucher-pin-key"},
		{name: idempotencyKeyFile, flag: "idempotency-key"},
		{name: vaultKEKFile, flag: "vault-kek-file"},
		{name: vaultFingerprintKeyFile, flag: "vault-fingerprint-key"},
		{name: identityKeyFile, flag: "identity-key"},
		{name: tlsutil.CertFile, flag: "tls-cert"},
		{name: tlsutil.KeyFile, flag: "tls-key"},
		{name: demoFile},
	}
	for _, f := range files {
		if f.flag != "" {
			fs.StringVar(&f.path, f.flag, "", "`file` as given to serve (default "+f.name+" in --data); copied into the backup as "+f.name)
		}
	}
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *out == "" {
		return usagef("backup needs --out DIR")
	}
	if sf.database != "" {
		return errors.New("kassa backup copies the embedded SQLite database only; on PostgreSQL take base backups with " +
			"pg_basebackup and keep WAL archiving on (point-in-time recovery), and keep the key files of --data outside " +
			"the database: see \"Backup and restore\" in docs/operations.md")
	}
	made, err := backupDir(*out)
	if err != nil {
		return err
	}
	start := time.Now()
	b := &backup{dir: *out}
	err = b.write(ctx, sf.data, files)
	if err == nil && made {
		err = syncDir(filepath.Dir(filepath.Clean(*out)))
	}
	if err != nil {
		b.remove(made)
		return err
	}
	for _, w := range b.wrote {
		fmt.Fprintf(stdout, "wrote %s\n", w)
	}
	for _, s := range b.skipped {
		fmt.Fprintf(stdout, "skipped %s\n", s)
	}
	fmt.Fprintf(stdout, "backup ok: %d files in %s in %s; restore by copying them into an empty data directory (0700)\n",
		len(b.wrote), *out, time.Since(start).Round(time.Millisecond))
	return nil
}

// backupDir makes dir 0700, or takes an existing empty directory and
// makes it 0700. made reports that it made it.
func backupDir(dir string) (made bool, err error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("backup directory: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("backup directory: %w", err)
	case !st.IsDir():
		return false, fmt.Errorf("backup directory %s is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("backup directory: %w", err)
	}
	if len(entries) > 0 {
		return false, fmt.Errorf("backup directory %s is not empty: give a new or an empty directory (a backup never overwrites one)", dir)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return false, fmt.Errorf("backup directory: %w", err)
	}
	return false, nil
}

// backup is one backup being written.
type backup struct {
	dir   string
	names []string // written so far
	sums  []string // sha256sum lines
	wrote []string // what to print
	// skipped names the optional files the data directory lacks.
	skipped []string
}

// write snapshots the database, then copies the key files. In that order:
// key files only gain versions while Kassa runs (a KEK rotation adds one),
// so files copied after the snapshot hold every key the snapshot's rows
// were sealed under.
func (b *backup) write(ctx context.Context, dataDir string, files []*backupFile) error {
	if err := sqlstore.BackupSQLite(ctx, dataDir, filepath.Join(b.dir, sqlstore.SQLiteFile)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := b.done(sqlstore.SQLiteFile, "consistent snapshot"); err != nil {
		return err
	}
	for _, f := range files {
		src := f.path
		if src == "" {
			src = filepath.Join(dataDir, f.name)
		}
		raw, err := readFileMax(src, backupKeyBytesMax)
		if errors.Is(err, os.ErrNotExist) && f.path == "" {
			why := "made by serve --demo only"
			if f.flag != "" {
				why = "if serve is given --" + f.flag + ", give backup the same"
			}
			b.skipped = append(b.skipped, fmt.Sprintf("%s: not in %s (%s)", f.name, dataDir, why))
			continue
		}
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if err := writeFileSync(filepath.Join(b.dir, f.name), raw); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if err := b.done(f.name, "from "+src); err != nil {
			return err
		}
	}
	sums := strings.Join(b.sums, "")
	if err := writeFileSync(filepath.Join(b.dir, backupSumsFile), []byte(sums)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	b.names = append(b.names, backupSumsFile)
	b.wrote = append(b.wrote, fmt.Sprintf("%s (sha256sum -c %s checks the files)", filepath.Join(b.dir, backupSumsFile), backupSumsFile))
	if err := syncDir(b.dir); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// done records a written file: its checksum line and what to print.
func (b *backup) done(name, what string) error {
	path := filepath.Join(b.dir, name)
	b.names = append(b.names, name)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("backup: read back %s: %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	b.sums = append(b.sums, sum+"  "+name+"\n")
	b.wrote = append(b.wrote, fmt.Sprintf("%s (%d bytes, %s; sha256 %s…)", path, n, what, sum[:16]))
	return nil
}

// remove takes a failed backup away, so it cannot pass for a whole one.
func (b *backup) remove(madeDir bool) {
	for _, name := range b.names {
		os.Remove(filepath.Join(b.dir, name))
	}
	if madeDir {
		os.Remove(b.dir)
	}
}

// writeFileSync writes a new file (0600) and fsyncs it.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// syncDir fsyncs a directory, so that the names of the files in it last.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
