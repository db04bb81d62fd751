package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kassa/kassa/internal/tlsutil"
	"github.com/kassa/kassa/store/sqlstore"
)

// backupLoad is the ledger and payment load a restore drill runs against
// a serving kassa.
type backupLoad struct {
	pay   crashLoad
	mu    sync.Mutex
	acked []string // ledger transfer ids answered ok, in answer order
	stop  chan struct{}
	wg    sync.WaitGroup
}

func (l *backupLoad) transfers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// start runs payWorkers payment flows (one voucher each) and one worker
// posting batches of ledger transfers until stopped.
func (l *backupLoad) start(s *server, sk, pk string, vs []issuedVoucher) {
	l.pay.flows, l.stop = map[string]*crashFlow{}, make(chan struct{})
	stopped := func() bool {
		select {
		case <-l.stop:
			return true
		default:
			return false
		}
	}
	for w, v := range vs {
		l.wg.Go(func() {
			for i := 0; !stopped(); i++ {
				amount := int64(100 + (i*37+w*11)%500)
				f := &crashFlow{ref: fmt.Sprintf("bk-w%d-%d", w, i), amount: amount,
					capture: amount - int64(i%3)*10, refund: amount / 4, serial: v.Serial}
				l.pay.mu.Lock()
				l.pay.flows[f.ref] = f
				l.pay.mu.Unlock()
				if !crashFlowRun(s, &l.pay, f, v, sk, pk) {
					return
				}
			}
		})
	}
	l.wg.Go(func() {
		for i := 0; !stopped(); i++ {
			var ts []map[string]any
			for j := range 5 {
				ts = append(ts, map[string]any{"id": fmt.Sprintf("bk-%d-%d", i, j), "debit_account_id": "src",
					"credit_account_id": "dst", "amount": 1 + (i*5+j)%97, "currency": "EUR"})
			}
			raw, _ := json.Marshal(map[string]any{"transfers": ts})
			req, _ := http.NewRequest("POST", s.base+"/v1/ledger/transfers", bytes.NewReader(raw))
			req.Header.Set("Authorization", "Bearer "+sk)
			req.Header.Set("Content-Type", "application/json")
			resp, err := s.client.Do(req)
			if err != nil {
				return
			}
			var out struct{ Results []struct{ ID, Result string } }
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				return
			}
			l.mu.Lock()
			for _, r := range out.Results {
				if r.Result == "ok" {
					l.acked = append(l.acked, r.ID)
				}
			}
			l.mu.Unlock()
		}
	})
}

// waitTransfers waits until at least n transfers were answered ok.
func (l *backupLoad) waitTransfers(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for l.transfers() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the load answered %d transfers within 60s, want %d", l.transfers(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2EBackupRestore is the restore drill: kassa backup runs while
// kassa serve takes ledger transfers and voucher payments; the backup is
// restored into a fresh data directory; there ledger verify passes,
// the log extends a checkpoint kept before the backup, reconcile is
// clean, and every transfer answered before the backup began is present.
// A checkpoint kept after the backup shows that the copy is older than
// it: verify with it fails, the copy cannot pass for the later ledger.
func TestE2EBackupRestore(t *testing.T) {
	b := backends(t)[0](t)
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

	dir := t.TempDir()
	early := filepath.Join(dir, "early.txt")
	if err := os.WriteFile(early, getCheckpoint(t, s, sk), 0o600); err != nil {
		t.Fatal(err)
	}
	load.waitTransfers(t, load.transfers()+50)

	// The backup, under load.
	before := load.transfers() // answered before the backup began
	backupDir := filepath.Join(dir, "backup")
	cmd := exec.Command(kassaBin, "backup", "--out", backupDir, "--data", b.data)
	printed, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kassa backup under load: %v\n%s", err, printed)
	}
	t.Logf("kassa backup under load (%d transfers answered before it, %d after):\n%s", before, load.transfers(), printed)
	load.waitTransfers(t, load.transfers()+50)
	later := filepath.Join(dir, "later.txt")
	if err := os.WriteFile(later, getCheckpoint(t, s, sk), 0o600); err != nil {
		t.Fatal(err)
	}

	// What it wrote: private, and said so.
	if st, err := os.Stat(backupDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("backup directory: %v, mode %v, want 0700", err, st.Mode())
	}
	entries, err := os.ReadDir(backupDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if info, err := e.Info(); err != nil || info.Mode().Perm() != 0o600 || !info.Mode().IsRegular() {
			t.Errorf("backup file %s: %v, mode %v, want a 0600 file", e.Name(), err, info.Mode())
		}
		if !strings.Contains(string(printed), e.Name()) {
			t.Errorf("kassa backup wrote %s but did not print it", e.Name())
		}
	}
	for _, want := range []string{sqlstore.SQLiteFile, ledgerKeyFile, voucherPINKeyFile, idempotencyKeyFile, vaultKEKFile,
		vaultFingerprintKeyFile, identityKeyFile, tlsutil.CertFile, tlsutil.KeyFile} {
		if _, err := os.Stat(filepath.Join(backupDir, want)); err != nil {
			t.Errorf("the backup lacks %s (it holds %v)", want, names)
		}
	}
	for _, bad := range []string{sqlstore.SQLiteFile + "-wal", sqlstore.SQLiteFile + "-shm"} {
		if _, err := os.Stat(filepath.Join(backupDir, bad)); err == nil {
			t.Errorf("the backup holds %s: a consistent copy is one file", bad)
		}
	}
	// SHA256SUMS checks the files with the standard tool.
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "--strict", "-c", backupSumsFile)
		cmd.Dir = backupDir
		if msg, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(msg), sqlstore.SQLiteFile+": OK") {
			t.Errorf("sha256sum -c %s in the backup: %v\n%s", backupSumsFile, err, msg)
		}
	}
	// An existing directory that is not empty is refused.
	cmd = exec.Command(kassaBin, "backup", "--out", backupDir, "--data", b.data)
	if msg, _ := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(msg), "not empty") {
		t.Errorf("backup into a non-empty directory: exit %d\n%s", cmd.ProcessState.ExitCode(), msg)
	}

	close(load.stop)
	load.wg.Wait()
	load.stop = make(chan struct{}) // for the deferred close
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// Restore: a fresh data directory with the backup's files in it.
	restored := filepath.Join(dir, "restored")
	if err := os.Mkdir(restored, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		raw, err := os.ReadFile(filepath.Join(backupDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(restored, name), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := backend{"sqlite", []string{"--data", restored}, restored}
	verify := func(args ...string) (string, int) {
		cmd := exec.Command(kassaBin, append([]string{"ledger", "verify", "--data", restored}, args...)...)
		out, _ := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), cmd.ProcessState.ExitCode()
	}
	if out, code := verify(); code != 0 || !strings.HasPrefix(out, "ledger ok:") {
		t.Errorf("ledger verify on the restored copy: exit %d\n%s", code, out)
	}
	if out, code := verify("--checkpoint", early); code != 0 || !strings.Contains(out, "kept checkpoints ok: the log extends all 1") {
		t.Errorf("ledger verify --checkpoint (kept before the backup) on the restored copy: exit %d\n%s", code, out)
	} else {
		t.Logf("restored copy against the checkpoint kept before the backup: %s", out)
	}
	out2, code := verify("--checkpoint", later)
	if code != 3 || !strings.Contains(out2, "leaves were removed from the end of the log, or the database was restored from an older copy") {
		t.Errorf("ledger verify --checkpoint (kept after the backup) on the restored copy: exit %d, want 3\n%s", code, out2)
	}
	t.Logf("restored copy against a checkpoint kept after the backup: exit %d: %s", code, out2)
	if out, err := runKassa(t, r, "reconcile"); err != nil || !strings.Contains(out, " 0 mismatches") {
		t.Errorf("reconcile on the restored copy: %q %v", out, err)
	}

	// The restored kassa serves with the backed-up keys: the merchant's
	// key, the vouchers' PINs, every transfer answered before the backup.
	s = startServe(t, r, "--rate-limit", "0")
	for _, v := range vs {
		s.call(t, "POST", "/v1/vouchers/balance", pk, "", map[string]any{"pin": v.PIN}, 200)
	}
	load.mu.Lock()
	acked := load.acked[:before]
	load.mu.Unlock()
	for _, id := range acked {
		if resp, body := s.request(t, "GET", "/v1/ledger/transfers/"+id, sk, nil); resp.StatusCode != 200 {
			t.Fatalf("transfer %s, answered before the backup began, on the restored copy = %d %v", id, resp.StatusCode, body)
		}
	}
	crashCheckMoney(t, s, sk, pk, vs, load.pay.flows)
	t.Logf("restored copy: all %d transfers answered before the backup present", len(acked))
}

// TestBackupPostgresRefused: on PostgreSQL kassa backup does not pretend;
// it names pg_basebackup and WAL archiving.
func TestBackupPostgresRefused(t *testing.T) {
	out := filepath.Join(t.TempDir(), "backup")
	cmd := exec.Command(kassaBin, "backup", "--out", out, "--data", t.TempDir(),
		"--database", "postgres://kassa@127.0.0.1:1/kassa")
	msg, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(string(msg), "pg_basebackup") ||
		!strings.Contains(string(msg), "WAL archiving") {
		t.Errorf("kassa backup --database postgres://...: exit %d\n%s", code, msg)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("kassa backup on PostgreSQL made the output directory")
	}
}
