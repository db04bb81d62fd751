package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kassa/kassa/internal/pgtest"
)

// pgUser is who runs PostgreSQL's programs here: this process, or the
// unprivileged user internal/pgtest starts its clusters as when root.
func pgUser(t *testing.T) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("kassapg")
	if err != nil {
		t.Fatalf("running as root without the user kassapg that internal/pgtest starts PostgreSQL as: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// pgRun runs one of PostgreSQL's programs as cred.
func pgRun(t *testing.T, cred *syscall.Credential, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(pgtest.BinDir, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// pgQuery runs one query returning one text value.
func pgQuery(t *testing.T, url, query string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, query).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

// pgRestore copies the base backup into a new data directory, adds conf
// lines, starts PostgreSQL on it (stopped when the test ends) and waits
// until it has ended recovery. It returns the server's URL.
func pgRestore(t *testing.T, cred *syscall.Credential, base, dir string, conf ...string) string {
	t.Helper()
	if out, err := exec.Command("cp", "-a", base, dir).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	if len(conf) > 0 {
		f, err := os.OpenFile(filepath.Join(dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "\n%s\n", strings.Join(conf, "\n"))
		f.Close()
		signal := filepath.Join(dir, "recovery.signal")
		if err := os.WriteFile(signal, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if cred != nil {
			os.Chown(signal, int(cred.Uid), int(cred.Gid))
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	opts := fmt.Sprintf("-c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c archive_mode=off -c max_connections=200", port)
	cmd := exec.Command(filepath.Join(pgtest.BinDir, "pg_ctl"), "-D", dir, "-l", dir+".log", "-o", opts, "-w", "-t", "120", "start")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(dir + ".log")
		t.Fatalf("pg_ctl start on the restored copy: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(pgtest.BinDir, "pg_ctl"), "-D", dir, "-m", "fast", "-w", "stop")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Run()
	})
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(120 * time.Second)
	for pgQuery(t, url, "SELECT pg_is_in_recovery()::text") != "false" {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(dir + ".log")
			t.Fatalf("the restored server did not end recovery within 120s\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return url
}

// TestE2EBackupRestorePostgres is the PostgreSQL restore drill of
// docs/operations.md: WAL archiving on, pg_basebackup while kassa serve
// takes payments and transfers, more load, then two restores. With the
// WAL archive replayed (point-in-time recovery to the end), the restored
// ledger extends both the checkpoint kept before the base backup and the
// one kept after it: nothing acknowledged is lost. From the base backup
// alone (the archive lost) it extends the earlier one and fails against
// the later one: older than what an auditor kept, and it says so.
func TestE2EBackupRestorePostgres(t *testing.T) {
	work, err := os.MkdirTemp("", "kassa-pgbackup-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	archive := filepath.Join(work, "archive")
	if err := os.Mkdir(archive, 0o700); err != nil {
		t.Fatal(err)
	}
	// First the cluster (skipped loudly without PostgreSQL; it makes
	// the server user), then the directories become that user's. Until
	// then a segment's archiving fails and is retried.
	url := pgtest.PrivateURL(t, "wal_level=replica", "archive_mode=on",
		"archive_command=test ! -f "+archive+"/%f && cp %p "+archive+"/%f")
	cred := pgUser(t)
	if cred != nil {
		os.Chown(work, int(cred.Uid), int(cred.Gid))
		os.Chown(archive, int(cred.Uid), int(cred.Gid))
	}
	data := t.TempDir()
	b := backend{"postgres", []string{"--data", data, "--database", url}, data}

	sk, pk := createMerchantKeys(t, b)
	out, err := runKassa(t, b, "vouchers", "issue", "--count", "2", "--amount", "500000", "--currency", "EUR", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []issuedVoucher
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v issuedVoucher
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("vouchers issue --json line %q: %v", line, err)
		}
		vs = append(vs, v)
	}
	s := startServe(t, b, "--rate-limit", "0")
	for _, acct := range []string{"src", "dst"} {
		s.call(t, "POST", "/v1/ledger/accounts", sk, "", map[string]any{"id": acct, "currency": "EUR"}, 201)
	}
	load := &backupLoad{}
	load.start(s, sk, pk, vs)
	defer func() { close(load.stop); load.wg.Wait() }()
	load.waitTransfers(t, 50)
	early := filepath.Join(work, "early.txt")
	os.WriteFile(early, getCheckpoint(t, s, sk), 0o644)
	load.waitTransfers(t, load.transfers()+50)

	base := filepath.Join(work, "base")
	start := time.Now()
	pgRun(t, cred, "pg_basebackup", "-d", url, "-D", base, "-Fp", "-Xstream", "--checkpoint=fast", "--manifest-checksums=SHA256")
	t.Logf("pg_basebackup under load: %v", time.Since(start).Round(time.Millisecond))
	pgRun(t, cred, "pg_verifybackup", base)
	keys := copyDir(t, data) // the key files, kept beside the database's backups

	load.waitTransfers(t, load.transfers()+50)
	later := filepath.Join(work, "later.txt")
	os.WriteFile(later, getCheckpoint(t, s, sk), 0o644)
	close(load.stop)
	load.wg.Wait()
	load.stop = make(chan struct{}) // for the deferred close
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The segment holding the last commits goes to the archive.
	last := pgQuery(t, url, "SELECT pg_walfile_name(pg_switch_wal())")
	deadline := time.Now().Add(60 * time.Second)
	for pgQuery(t, url, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") < last {
		if time.Now().After(deadline) {
			t.Fatalf("segment %s was not archived within 60s", last)
		}
		time.Sleep(100 * time.Millisecond)
	}

	verify := func(url string, args ...string) (string, int) {
		cmd := exec.Command(kassaBin, append([]string{"ledger", "verify", "--data", keys, "--database", url}, args...)...)
		out, _ := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), cmd.ProcessState.ExitCode()
	}
	pitr := pgRestore(t, cred, base, filepath.Join(work, "pitr"), "restore_command = 'cp "+archive+"/%f %p'")
	if out, code := verify(pitr, "--checkpoint", early, "--checkpoint", later); code != 0 || !strings.Contains(out, "the log extends all 2") {
		t.Errorf("base backup + WAL archive, with the checkpoints kept before and after the backup: exit %d\n%s", code, out)
	} else {
		t.Logf("base backup + WAL archive: %s", out)
	}
	if out, err := runKassa(t, backend{"postgres", []string{"--data", keys, "--database", pitr}, keys}, "reconcile"); err != nil || !strings.Contains(out, " 0 mismatches") {
		t.Errorf("reconcile on the restored database: %q %v", out, err)
	}

	only := pgRestore(t, cred, base, filepath.Join(work, "only"))
	if out, code := verify(only, "--checkpoint", early); code != 0 {
		t.Errorf("base backup alone, with the checkpoint kept before it: exit %d\n%s", code, out)
	}
	out, code := verify(only, "--checkpoint", later)
	if code != 3 || !strings.Contains(out, "restored from an older copy") {
		t.Errorf("base backup alone, with the checkpoint kept after it: exit %d, want 3\n%s", code, out)
	}
	t.Logf("base backup alone, with the checkpoint kept after it: exit %d: %s", code, out)
}
