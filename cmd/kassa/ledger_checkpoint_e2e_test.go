package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// getCheckpoint fetches the latest signed checkpoint, as an auditor keeps it.
func getCheckpoint(t *testing.T, s *server, key string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+"/v1/ledger/checkpoint", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/ledger/checkpoint = %d %s", resp.StatusCode, b)
	}
	return b
}

// TestE2ELedgerVerifyKeptCheckpoint removes the tail of the log together
// with its checkpoints — the data directory is put back to a copy taken
// before the last transfers, a consistent but shorter ledger that
// kassa ledger verify alone accepts — and expects
// kassa ledger verify --checkpoint FILE, given a checkpoint an auditor
// kept before the removal, to fail naming both sizes. A kept checkpoint
// that is not signed by the ledger's key, or whose root differs, fails too.
func TestE2ELedgerVerifyKeptCheckpoint(t *testing.T) {
	b := backends(t)[0](t)
	key := createMerchant(t, b)
	s := startServe(t, b)
	for _, acct := range []string{"a", "b"} {
		resp, body := s.request(t, "POST", "/v1/ledger/accounts", key, map[string]any{"id": acct, "currency": "EUR"})
		mustStatus(t, resp, body, 201)
	}
	transfer := func(s *server, from, to int) {
		var ts []map[string]any
		for i := from; i < to; i++ {
			ts = append(ts, map[string]any{"id": fmt.Sprintf("t%d", i), "debit_account_id": "a", "credit_account_id": "b", "amount": 100 + i, "currency": "EUR"})
		}
		resp, body := s.request(t, "POST", "/v1/ledger/transfers", key, map[string]any{"transfers": ts})
		mustStatus(t, resp, body, 200)
	}
	transfer(s, 0, 5)
	early := getCheckpoint(t, s, key)
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	truncated := copyDir(t, b.data) // the ledger as it was: 2 accounts, 5 transfers

	s = startServe(t, b)
	transfer(s, 5, 12)
	kept := getCheckpoint(t, s, key) // the auditor keeps this one
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	keptFile, earlyFile := write("kept.txt", kept), write("early.txt", early)
	keyFile := filepath.Join(b.data, ledgerKeyFile) // the same signer in both directories

	verify := func(data string, args ...string) (string, int) {
		cmd := exec.Command(kassaBin, append([]string{"ledger", "verify", "--data", data, "--ledger-key", keyFile}, args...)...)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	// The intact ledger extends both kept checkpoints.
	if out, code := verify(b.data, "--checkpoint", earlyFile, "--checkpoint", keptFile); code != 0 || !strings.Contains(out, "kept checkpoints ok: the log extends all 2") {
		t.Errorf("intact ledger with kept checkpoints: exit %d\n%s", code, out)
	}
	// Without a kept checkpoint the shortened ledger verifies: the hole.
	out, code := verify(truncated)
	t.Logf("shortened ledger, no kept checkpoint: exit %d: %s", code, strings.TrimSpace(out))
	if code != 0 {
		t.Fatalf("the shortened ledger is not consistent on its own (the test removed the tail badly): %s", out)
	}
	out, code = verify(truncated, "--checkpoint", earlyFile)
	if code != 0 {
		t.Errorf("shortened ledger with a checkpoint from before the cut: exit %d\n%s", code, out)
	}
	out, code = verify(truncated, "--checkpoint", keptFile)
	if code != 3 || !strings.Contains(out, "FAILED") || !strings.Contains(out, "the log has 7 leaves, but kept checkpoint 1 (signed) has 14") {
		t.Errorf("deleted tail with the kept checkpoint: exit %d, want 3 naming 7 and 14 leaves\n%s", code, out)
	}
	t.Logf("deleted tail with the kept checkpoint: exit %d: %s", code, strings.TrimSpace(out))

	// A kept checkpoint must be signed by the ledger's key...
	forged := strings.Replace(string(kept), "\n14\n", "\n7\n", 1)
	out, code = verify(truncated, "--checkpoint", write("forged.txt", []byte(forged)))
	if code != 3 || !strings.Contains(out, "kept checkpoint 1") || !strings.Contains(out, "signature") {
		t.Errorf("forged kept checkpoint: exit %d\n%s", code, out)
	}
	// ...and its root must be the log's at its size: a log rewritten
	// from leaf 7 on, to the same length, fails against it.
	rewritten := copyDir(t, truncated)
	s = startServe(t, backend{"sqlite", []string{"--data", rewritten}, rewritten})
	for i := 5; i < 12; i++ { // other amounts: other leaves
		var ts = []map[string]any{{"id": fmt.Sprintf("t%d", i), "debit_account_id": "a", "credit_account_id": "b", "amount": 1, "currency": "EUR"}}
		resp, body := s.request(t, "POST", "/v1/ledger/transfers", key, map[string]any{"transfers": ts})
		mustStatus(t, resp, body, 200)
	}
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	out, code = verify(rewritten, "--checkpoint", keptFile)
	if code != 3 || !strings.Contains(out, "root of tree size 14 differs from its checkpoint") {
		t.Errorf("rewritten tail with the kept checkpoint: exit %d\n%s", code, out)
	}
}
