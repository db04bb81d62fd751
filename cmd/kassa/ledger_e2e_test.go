package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// createMerchant makes a merchant with the CLI and returns its secret key.
func createMerchant(t *testing.T, b backend) string {
	t.Helper()
	out, err := runKassa(t, b, "merchants", "create", "--name", "Ledger Shop", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Secret_key string }
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	return m.Secret_key
}

func mustStatus(t *testing.T, resp *http.Response, body map[string]any, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %v, want %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body, want)
	}
}

// TestE2ELedgerCrash SIGKILLs a real kassa under transfer load, restarts
// it, and finds every acknowledged transfer present, balances that match
// the transfers that exist, and kassa ledger verify clean.
func TestE2ELedgerCrash(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		key := createMerchant(t, b)
		s := startServe(t, b, "--rate-limit", "0")
		for _, acct := range []string{"src", "dst"} {
			resp, body := s.request(t, "POST", "/v1/ledger/accounts", key, map[string]any{"id": acct, "currency": "EUR"})
			mustStatus(t, resp, body, 201)
		}
		const workers = 8
		var mu sync.Mutex
		acked := map[string]int64{}     // id → amount, answered ok
		attempted := map[string]int64{} // id → amount, sent
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					var ts []map[string]any
					for j := range 5 {
						id := fmt.Sprintf("w%d-%d-%d", w, i, j)
						amount := int64(1 + (i*5+j)%97)
						mu.Lock()
						attempted[id] = amount
						mu.Unlock()
						ts = append(ts, map[string]any{"id": id, "debit_account_id": "src", "credit_account_id": "dst", "amount": amount, "currency": "EUR"})
					}
					raw, _ := json.Marshal(map[string]any{"transfers": ts})
					req, _ := http.NewRequest("POST", s.base+"/v1/ledger/transfers", bytes.NewReader(raw))
					req.Header.Set("Authorization", "Bearer "+key)
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
					mu.Lock()
					for _, r := range out.Results {
						if r.Result == "ok" {
							acked[r.ID] = attempted[r.ID]
						}
					}
					mu.Unlock()
				}
			})
		}
		time.Sleep(1500 * time.Millisecond)
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
		close(stop)
		wg.Wait()
		if len(acked) == 0 {
			t.Fatal("no transfer was acknowledged before the kill")
		}
		t.Logf("%d transfers acknowledged, %d attempted before SIGKILL", len(acked), len(attempted))

		s2 := startServe(t, b, "--rate-limit", "0")
		var existing int64
		for id, amount := range attempted {
			resp, body := s2.request(t, "GET", "/v1/ledger/transfers/"+id, key, nil)
			switch {
			case resp.StatusCode == 200:
				existing += amount
				if body["amount"].(float64) != float64(amount) {
					t.Errorf("transfer %s amount %v, want %d", id, body["amount"], amount)
				}
			case resp.StatusCode == 404:
				if _, ok := acked[id]; ok {
					t.Errorf("acknowledged transfer %s is gone after the crash", id)
				}
			default:
				t.Fatalf("GET transfer %s = %d %v", id, resp.StatusCode, body)
			}
		}
		resp, dst := s2.request(t, "GET", "/v1/ledger/accounts/dst", key, nil)
		mustStatus(t, resp, dst, 200)
		if got := int64(dst["credits_posted"].(float64)); got != existing {
			t.Errorf("dst credits_posted %d, want the %d of the transfers that exist", got, existing)
		}
		// The account's listing (on SQLite from the account index, which
		// the kill may have caught mid-step) holds exactly those.
		var listed int64
		seen := map[string]bool{}
		for after := ""; ; {
			resp, page := s2.request(t, "GET", "/v1/ledger/accounts/dst/transfers?limit=100&starting_after="+after, key, nil)
			mustStatus(t, resp, page, 200)
			data, _ := page["data"].([]any)
			for _, d := range data {
				tr := d.(map[string]any)
				id := tr["id"].(string)
				if seen[id] {
					t.Fatalf("transfer %s listed twice", id)
				}
				seen[id] = true
				listed += int64(tr["amount"].(float64))
				after = id
			}
			if more, _ := page["has_more"].(bool); !more || len(data) == 0 {
				break
			}
		}
		if listed != existing {
			t.Errorf("dst's listing sums to %d over %d transfers, want %d", listed, len(seen), existing)
		}
		if err := s2.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("stop: %v", err)
		}
		out, err := runKassa(t, b, "ledger", "verify")
		if err != nil || !strings.HasPrefix(out, "ledger ok:") {
			t.Errorf("ledger verify after the crash: %q %v", out, err)
		}
	})
}

// TestE2EGracefulShutdown sends SIGTERM while a request's body is still
// arriving: the request completes and is committed, then kassa exits 0.
func TestE2EGracefulShutdown(t *testing.T) {
	b := backends(t)[0](t)
	key := createMerchant(t, b)
	s := startServe(t, b)
	for _, acct := range []string{"a", "b"} {
		resp, body := s.request(t, "POST", "/v1/ledger/accounts", key, map[string]any{"id": acct, "currency": "EUR"})
		mustStatus(t, resp, body, 201)
	}
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", s.base+"/v1/ledger/transfers", pr)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	type result struct {
		resp *http.Response
		body []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := s.client.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp: resp, body: b}
	}()
	io.WriteString(pw, `{"transfers":[{"id":"inflight","debit_account_id":"a",`)
	time.Sleep(300 * time.Millisecond) // the request is in flight
	s.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	io.WriteString(pw, `"credit_account_id":"b","amount":42,"currency":"EUR"}]}`)
	pw.Close()
	r := <-done
	if r.err != nil {
		t.Fatalf("in-flight request failed: %v", r.err)
	}
	if r.resp.StatusCode != 200 || !strings.Contains(string(r.body), `"result":"ok"`) {
		t.Errorf("in-flight request = %d %s", r.resp.StatusCode, r.body)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("kassa did not exit after draining")
	}
	out, err := exec.Command(kassaBin, "ledger", "verify", "--data", b.data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ledger ok: 3 leaves") {
		t.Errorf("verify after drain: %s %v", out, err)
	}
}
