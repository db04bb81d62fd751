//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kassa/kassa/internal/faultdisk"
)

// TestE2ELostWrites runs kassa serve on SQLite on a disk that loses
// power (internal/faultdisk: ext4 on a loop device, stopped by its
// shutdown ioctl without flushing, so everything not yet fsynced is
// dropped) while ledger transfers and payments (create, confirm, capture,
// refund under Idempotency-Keys) run. After the power comes back, every
// transfer answered ok exists with its amount, every payment step
// answered 2xx shows in the payment, every answered request replays its
// first answer, and ledger verify and reconcile pass. (Answered: before
// the cut began; see below.)
func TestE2ELostWrites(t *testing.T) {
	disk := faultdisk.New(t)
	b := backend{"sqlite", []string{"--data", disk.Dir}, disk.Dir}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 16))
	sk, pk := createMerchantKeys(t, b)
	const payWorkers, ledgerWorkers, face = 3, 2, 500_000
	out, err := runKassa(t, b, "vouchers", "issue", "--count", strconv.Itoa(payWorkers), "--amount", strconv.Itoa(face),
		"--currency", "EUR", "--json")
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
	load := &crashLoad{flows: map[string]*crashFlow{}}
	var mu sync.Mutex
	acked := map[string]int64{}       // ledger transfer id → amount, answered ok
	ackedAt := map[string]time.Time{} // and when
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range payWorkers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				amount := int64(100 + (i*37+w*11)%500)
				f := &crashFlow{ref: fmt.Sprintf("lw-w%d-%d", w, i), amount: amount,
					capture: amount - int64(i%3)*10, refund: amount / 4, serial: vs[w].Serial}
				load.mu.Lock()
				load.flows[f.ref] = f
				load.mu.Unlock()
				if !crashFlowRun(s, load, f, vs[w], sk, pk) {
					return
				}
			}
		})
	}
	for w := range ledgerWorkers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ts, amounts := []map[string]any{}, map[string]int64{}
				for j := range 5 {
					id := fmt.Sprintf("lw%d-%d-%d", w, i, j)
					amounts[id] = int64(1 + (i*5+j)%97)
					ts = append(ts, map[string]any{"id": id, "debit_account_id": "src", "credit_account_id": "dst",
						"amount": amounts[id], "currency": "EUR"})
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
				mu.Lock()
				for _, r := range out.Results {
					if r.Result == "ok" {
						acked[r.ID] = amounts[r.ID]
						ackedAt[r.ID] = time.Now()
					}
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Duration(800+rng.IntN(1200)) * time.Millisecond)
	// What was answered before the cut began must survive. An fsync
	// running while the filesystem shuts down may report success for
	// writes the shutdown dropped (a real power cut would not answer at
	// all), so answers that came later prove nothing either way.
	cutAt := time.Now()
	disk.Cut(t)
	// Answers still arriving were fsynced before the cut or are errors;
	// give the workers a moment to see theirs, then stop the process.
	time.Sleep(200 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	close(stop)
	wg.Wait()
	disk.Remount(t)

	var before []*crashCall
	for _, c := range load.calls {
		if c.acked && c.at.Before(cutAt) {
			before = append(before, c)
		}
	}
	for id, at := range ackedAt {
		if !at.Before(cutAt) {
			delete(acked, id)
		}
	}
	t.Logf("power cut after %d transfers answered ok and %d payment requests answered", len(acked), len(before))
	if len(acked) == 0 || len(before) == 0 {
		t.Fatal("the cut came before any answer")
	}
	s = startServe(t, b, "--rate-limit", "0")
	var lost []string
	for id, amount := range acked {
		resp, body := s.request(t, "GET", "/v1/ledger/transfers/"+id, sk, nil)
		if resp.StatusCode != 200 || num(body["amount"]) != amount {
			if len(lost) < 5 {
				t.Errorf("transfer %s, answered ok %v before the cut, = %d %v", id, cutAt.Sub(ackedAt[id]), resp.StatusCode, body)
			}
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of the %d transfers answered ok before the cut are gone or changed", len(lost), len(acked))
	}
	lostWritesCheckPayments(t, s, sk, before)
	crashReplay(t, s, before)
	crashCheckMoney(t, s, sk, pk, vs, load.flows)
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("stop: %v", err)
	}
	crashAudit(t, b, "after the power cut")
}

// lostWritesCheckPayments finds the effect of every payment request
// answered 2xx in its payment.
func lostWritesCheckPayments(t *testing.T, s *server, sk string, calls []*crashCall) {
	t.Helper()
	for _, c := range calls {
		if c.status/100 != 2 {
			continue
		}
		var a struct {
			ID             string `json:"id"`
			Object         string `json:"object"`
			Status         string `json:"status"`
			Payment        string `json:"payment"`
			Amount         int64  `json:"amount"`
			AmountCaptured int64  `json:"amount_captured"`
			AmountRefunded int64  `json:"amount_refunded"`
		}
		if err := json.Unmarshal(c.answer, &a); err != nil {
			t.Fatalf("answer of %s: %v", c.idemKey, err)
		}
		if strings.HasSuffix(c.idemKey, "-refund") {
			_, r := s.request(t, "GET", "/v1/refunds/"+a.ID, sk, nil)
			_, p := s.request(t, "GET", "/v1/payments/"+a.Payment, sk, nil)
			if num(r["amount"]) != a.Amount || num(p["amount_refunded"]) < a.Amount {
				t.Errorf("refund %s, answered 201 before the cut, = %v; its payment %v", a.ID, r, p)
			}
			continue
		}
		resp, p := s.request(t, "GET", "/v1/payments/"+a.ID, sk, nil)
		if resp.StatusCode != 200 {
			t.Errorf("payment %s (%s answered %d before the cut) = %d %v", a.ID, c.idemKey, c.status, resp.StatusCode, p)
			continue
		}
		switch {
		case strings.HasSuffix(c.idemKey, "-confirm") && a.Status == "authorized" && p["status"] != "authorized" && p["status"] != "captured",
			strings.HasSuffix(c.idemKey, "-capture") && num(p["amount_captured"]) != a.AmountCaptured:
			t.Errorf("payment %s after the cut = %v; %s answered %s", a.ID, p, c.idemKey, c.answer)
		}
	}
}
