package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kassa/kassa/internal/pgtest"
)

// transferLoad sends ledger transfers (five per request, src → dst) to
// servers and records what was sent and what was answered ok.
type transferLoad struct {
	key       string
	mu        sync.Mutex
	attempted map[string]int64 // id → amount, sent
	acked     map[string]int64 // id → amount, answered ok
	ackedBy   map[string]int   // node → transfers it answered ok
}

// run sends requests to s as worker w of node until stop closes or the
// server stops answering.
func (l *transferLoad) run(s *server, node string, w int, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		var ts []map[string]any
		for j := range 5 {
			id := fmt.Sprintf("%s-w%d-%d-%d", node, w, i, j)
			amount := int64(1 + (i*5+j)%97)
			l.mu.Lock()
			l.attempted[id] = amount
			l.mu.Unlock()
			ts = append(ts, map[string]any{"id": id, "debit_account_id": "src", "credit_account_id": "dst", "amount": amount, "currency": "EUR"})
		}
		raw, _ := json.Marshal(map[string]any{"transfers": ts})
		req, _ := http.NewRequest("POST", s.base+"/v1/ledger/transfers", bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+l.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.client.Do(req)
		if err != nil {
			return // the server died
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
				l.acked[r.ID] = l.attempted[r.ID]
				l.ackedBy[node]++
			}
		}
		l.mu.Unlock()
	}
}

// waitAcked waits until node has answered at least n more transfers ok
// than it had when called (progress, not time; the deadline only stops a
// hung test).
func (l *transferLoad) waitAcked(t *testing.T, node string, n int) {
	t.Helper()
	l.mu.Lock()
	want := l.ackedBy[node] + n
	l.mu.Unlock()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		l.mu.Lock()
		got := l.ackedBy[node]
		l.mu.Unlock()
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answered %d transfers ok, waiting for %d", node, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2ELedgerNodesCrash runs two kassa serve nodes on one PostgreSQL,
// both committing transfers into one account at once (each follows the
// other's commits with every batch), and SIGKILLs one of them three times
// while both are busy, restarting it in between: the kill may catch it
// holding the ledger's head row mid-batch. Afterwards every transfer
// either node acknowledged is there once, the account's balance is the
// sum of the transfers that exist, and kassa ledger verify is clean.
func TestE2ELedgerNodesCrash(t *testing.T) {
	dir := t.TempDir()
	b := backend{"postgres", []string{"--data", dir, "--database", pgtest.URL(t)}, dir}
	key := createMerchant(t, b)
	n2 := startServe(t, b, "--rate-limit", "0", "--node", "n2")
	for _, acct := range []string{"src", "dst"} {
		resp, body := n2.request(t, "POST", "/v1/ledger/accounts", key, map[string]any{"id": acct, "currency": "EUR"})
		mustStatus(t, resp, body, 201)
	}
	load := &transferLoad{key: key, attempted: map[string]int64{}, acked: map[string]int64{}, ackedBy: map[string]int{}}
	const workers = 4
	var wg sync.WaitGroup
	stop2 := make(chan struct{})
	for w := range workers {
		wg.Go(func() { load.run(n2, "n2", w, stop2) })
	}
	for kill := range 3 {
		node := fmt.Sprintf("n1k%d", kill)
		n1 := startServe(t, b, "--rate-limit", "0", "--node", "n1")
		stop1 := make(chan struct{})
		var wg1 sync.WaitGroup
		for w := range workers {
			wg1.Go(func() { load.run(n1, node, w, stop1) })
		}
		load.waitAcked(t, node, 200)
		load.waitAcked(t, "n2", 50)
		n1.cmd.Process.Signal(syscall.SIGKILL)
		<-n1.done
		close(stop1)
		wg1.Wait()
	}
	// The survivor goes on committing after the last kill.
	load.waitAcked(t, "n2", 200)
	close(stop2)
	wg.Wait()
	t.Logf("acknowledged %d of %d transfers sent (%v)", len(load.acked), len(load.attempted), load.ackedBy)

	var existing int64
	found := 0
	for id, amount := range load.attempted {
		resp, body := n2.request(t, "GET", "/v1/ledger/transfers/"+id, key, nil)
		switch {
		case resp.StatusCode == 200:
			found++
			existing += amount
			if body["amount"].(float64) != float64(amount) {
				t.Errorf("transfer %s amount %v, want %d", id, body["amount"], amount)
			}
		case resp.StatusCode == 404:
			if _, ok := load.acked[id]; ok {
				t.Errorf("acknowledged transfer %s is gone", id)
			}
		default:
			t.Fatalf("GET transfer %s = %d %v", id, resp.StatusCode, body)
		}
	}
	resp, dst := n2.request(t, "GET", "/v1/ledger/accounts/dst", key, nil)
	mustStatus(t, resp, dst, 200)
	if got := int64(dst["credits_posted"].(float64)); got != existing {
		t.Errorf("dst credits_posted %d, want the %d of the %d transfers that exist", got, existing, found)
	}
	if err := n2.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("stop: %v", err)
	}
	out, err := runKassa(t, b, "ledger", "verify")
	if err != nil || !strings.HasPrefix(out, "ledger ok:") {
		t.Fatalf("ledger verify: %q %v", out, err)
	}
	// The log holds exactly the transfers found: none written twice.
	if want := fmt.Sprintf(" %d transfers)", found); !strings.Contains(out, want) {
		t.Errorf("ledger verify: %q, want %s", out, want)
	}
}
