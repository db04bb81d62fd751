package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashCall is one POST the payment crash test sent under an
// Idempotency-Key, and the answer it got, if any.
type crashCall struct {
	path, auth, idemKey string
	body                []byte
	acked               bool // a stored answer came back (below 500)
	status              int
	answer              []byte
	at                  time.Time // when the answer came
}

// crashFlow is one payment the load drives: create, confirm with one
// voucher, capture part, refund part.
type crashFlow struct {
	ref             string // merchant_reference and key prefix
	amount, capture int64
	refund          int64
	serial          string
}

// crashLoad is what the payment crash test's load sent and was told,
// shared by its workers.
type crashLoad struct {
	mu    sync.Mutex
	calls []*crashCall
	flows map[string]*crashFlow // by ref
}

func (l *crashLoad) record(c *crashCall) {
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
}

// post sends c and fills in its answer. ok reports a 2xx answer; a lost
// connection or a 5xx leaves c unacknowledged.
func (c *crashCall) post(client *http.Client, base string) (ok bool) {
	req, err := http.NewRequest("POST", base+c.path, bytes.NewReader(c.body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.auth)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", c.idemKey)
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode >= 500 {
		return false
	}
	c.acked, c.status, c.answer, c.at = true, resp.StatusCode, raw, time.Now()
	return resp.StatusCode/100 == 2
}

// TestE2EPaymentCrash SIGKILLs a real kassa serve under payment load
// (create, confirm, capture and refund, each under an Idempotency-Key) at
// random moments, ten times (three with -short). After each kill, kassa
// ledger verify and kassa reconcile pass on the data as the crash left
// it; after each restart, every acknowledged request replayed with its key
// gets its first answer back byte for byte, every request left without an
// answer gets one when retried with its key at once (no key is held),
// no reference has two payments, no payment is captured or refunded more
// than asked, and every voucher holds its face value less exactly what
// the payments keep of it.
func TestE2EPaymentCrash(t *testing.T) {
	cycles := 10
	if testing.Short() {
		cycles = 3
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, 12))
		sk, pk := createMerchantKeys(t, b)
		const workers, perWorker, face = 3, 2, 500_000
		out, err := runKassa(t, b, "vouchers", "issue", "--count", strconv.Itoa(workers*perWorker),
			"--amount", strconv.Itoa(face), "--currency", "EUR", "--json")
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
		load := &crashLoad{flows: map[string]*crashFlow{}}
		var pending []*crashCall // sent, never answered
		retried := 0
		for cycle := range cycles {
			s := startServe(t, b, "--rate-limit", "0")
			if cycle > 0 {
				pending, retried = crashRetry(t, s, pending, retried)
				crashReplay(t, s, load.calls)
				crashCheckMoney(t, s, sk, pk, vs, load.flows)
			}
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
						v := vs[w*perWorker+i%perWorker]
						amount := int64(100 + (i*37+w*11)%500)
						f := &crashFlow{ref: fmt.Sprintf("c%d-w%d-%d", cycle, w, i), amount: amount,
							capture: amount - int64(i%3)*10, refund: amount / 4, serial: v.Serial}
						load.mu.Lock()
						load.flows[f.ref] = f
						load.mu.Unlock()
						if !crashFlowRun(s, load, f, v, sk, pk) {
							return // the server died (or refused; then the next cycle goes on)
						}
					}
				})
			}
			time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
			s.cmd.Process.Signal(syscall.SIGKILL)
			<-s.done
			close(stop)
			wg.Wait()
			acked := 0
			for _, c := range load.calls {
				if c.acked {
					acked++
				} else if c.status == 0 && !contains(pending, c) {
					pending = append(pending, c)
				}
			}
			t.Logf("cycle %d: %d requests answered so far, %d waiting for an answer", cycle, acked, len(pending))
			crashAudit(t, b, fmt.Sprintf("after kill %d", cycle+1))
		}
		s := startServe(t, b, "--rate-limit", "0")
		pending, retried = crashRetry(t, s, pending, retried)
		crashReplay(t, s, load.calls)
		crashCheckMoney(t, s, sk, pk, vs, load.flows)
		if err := s.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("stop: %v", err)
		}
		crashAudit(t, b, "at the end")
		t.Logf("%d requests, %d payments; %d unanswered requests retried with their keys, %d still leased at the end",
			len(load.calls), len(load.flows), retried, len(pending))
		for _, v := range vs {
			if strings.Contains(s.stderr.String(), v.PIN) {
				t.Error("a voucher PIN is in the server log")
			}
		}
	})
}

func contains(cs []*crashCall, c *crashCall) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// crashFlowRun drives one payment through its calls, recording each. It
// returns false when a call got no answer or a refusal.
func crashFlowRun(s *server, load *crashLoad, f *crashFlow, v issuedVoucher, sk, pk string) bool {
	call := func(path, auth, step string, body any) (*crashCall, bool) {
		raw, _ := json.Marshal(body)
		c := &crashCall{path: path, auth: auth, idemKey: f.ref + "-" + step, body: raw}
		load.record(c)
		return c, c.post(s.client, s.base)
	}
	c, ok := call("/v1/payments", sk, "create", map[string]any{"amount": f.amount, "currency": "EUR",
		"capture_method": "manual", "merchant_reference": f.ref})
	if !ok {
		return false
	}
	var p struct {
		ID           string `json:"id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(c.answer, &p); err != nil {
		return false
	}
	steps := []struct {
		path, auth, step string
		body             any
	}{
		{"/v1/payments/" + p.ID + "/confirm", pk, "confirm", map[string]any{"client_secret": p.ClientSecret,
			"payment_method": map[string]any{"type": "voucher", "pins": []string{v.PIN}}}},
		{"/v1/payments/" + p.ID + "/capture", sk, "capture", map[string]any{"amount": f.capture}},
		{"/v1/refunds", sk, "refund", map[string]any{"payment": p.ID, "amount": f.refund}},
	}
	for _, st := range steps {
		if _, ok := call(st.path, st.auth, st.step, st.body); !ok {
			return false
		}
	}
	return true
}

// crashRetry sends every unanswered request again with its key. Its
// answer is its answer from now on; a 5xx is an error, and so is a key
// still held: nothing of a request is stored before the transaction that
// makes it durable, so a killed process leaves no key in flight.
func crashRetry(t *testing.T, s *server, pending []*crashCall, retried int) ([]*crashCall, int) {
	t.Helper()
	var left []*crashCall
	for _, c := range pending {
		c.post(s.client, s.base)
		switch {
		case !c.acked:
			t.Errorf("retry of %s %s: no answer or a server error", c.idemKey, c.path)
		case c.status == http.StatusConflict && bytes.Contains(c.answer, []byte("idempotency_key_in_use")):
			t.Errorf("retry of %s %s after the kill: the key is still held: %s", c.idemKey, c.path, c.answer)
		default:
			retried++
		}
	}
	return left, retried
}

// crashReplay sends every answered request again with its key and wants
// the same answer, marked as replayed.
func crashReplay(t *testing.T, s *server, calls []*crashCall) {
	t.Helper()
	for _, c := range calls {
		if !c.acked {
			continue
		}
		req, _ := http.NewRequest("POST", s.base+c.path, bytes.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+c.auth)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", c.idemKey)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatalf("replay %s: %v", c.idemKey, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !bytes.Equal(raw, c.answer) || resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay of %s %s = %d %s (replayed %q), want the first answer %d %s",
				c.idemKey, c.path, resp.StatusCode, raw, resp.Header.Get("Idempotent-Replayed"), c.status, c.answer)
		}
	}
}

// crashCheckMoney lists the merchant's payments and checks that nothing
// was applied twice: one payment per reference, captures and refunds no
// larger than asked, each voucher's balance its face value less what the
// payments hold or keep of it, and all the money still there.
func crashCheckMoney(t *testing.T, s *server, sk, pk string, vs []issuedVoucher, flows map[string]*crashFlow) {
	t.Helper()
	held := map[string]int64{}  // serial → what payments hold or keep of it
	seen := map[string]string{} // ref → payment id
	for after := ""; ; {
		page := s.call(t, "GET", "/v1/payments?limit=100&starting_after="+after, sk, "", nil, 200)
		data, _ := page["data"].([]any)
		for _, d := range data {
			p := d.(map[string]any)
			id, ref := p["id"].(string), fmt.Sprint(p["merchant_reference"])
			after = id
			if other, dup := seen[ref]; dup {
				t.Errorf("reference %s has two payments: %s and %s", ref, other, id)
			}
			seen[ref] = id
			f := flows[ref]
			if f == nil {
				t.Errorf("payment %s has reference %q, which the load never sent", id, ref)
				continue
			}
			captured, refunded := num(p["amount_captured"]), num(p["amount_refunded"])
			if captured != 0 && captured != f.capture || refunded != 0 && refunded != f.refund {
				t.Errorf("payment %s (%s): captured %d, refunded %d; the load asked for %d and %d once",
					id, ref, captured, refunded, f.capture, f.refund)
			}
			pm, _ := p["payment_method"].(map[string]any)
			uses, _ := pm["vouchers"].([]any)
			for _, u := range uses {
				u := u.(map[string]any)
				switch p["status"] {
				case "authorized":
					held[u["serial"].(string)] += num(u["amount"])
				case "captured":
					held[u["serial"].(string)] += num(u["captured"]) - num(u["refunded"])
				}
			}
		}
		if more, _ := page["has_more"].(bool); !more || len(data) == 0 {
			break
		}
	}
	var vouchers int64
	for _, v := range vs {
		vb := s.call(t, "POST", "/v1/vouchers/balance", pk, "", map[string]any{"pin": v.PIN}, 200)
		vouchers += num(vb["balance"])
		if got, want := num(vb["balance"]), v.Amount-held[v.Serial]; got != want {
			t.Errorf("voucher %s balance %d, want %d (its face value less what payments hold or keep of it)", v.Serial, got, want)
		}
	}
	bal := s.call(t, "GET", "/v1/balance", sk, "", nil, 200)
	var merchant int64
	for _, k := range []string{"available", "pending", "authorized"} {
		for _, e := range bal[k].([]any) {
			merchant += num(e.(map[string]any)["amount"])
		}
	}
	if total := vouchers + merchant; total != int64(len(vs))*vs[0].Amount {
		t.Errorf("vouchers hold %d and the merchant %d: %d, want the %d issued", vouchers, merchant, total, int64(len(vs))*vs[0].Amount)
	}
}

// crashAudit runs kassa ledger verify and kassa reconcile on the data as
// it is (no server running).
func crashAudit(t *testing.T, b backend, when string) {
	t.Helper()
	if out, err := runKassa(t, b, "ledger", "verify"); err != nil || !strings.HasPrefix(out, "ledger ok:") {
		t.Errorf("ledger verify %s: %q %v", when, out, err)
	}
	if out, err := runKassa(t, b, "reconcile"); err != nil {
		t.Errorf("reconcile %s: %q %v", when, out, err)
	}
}
