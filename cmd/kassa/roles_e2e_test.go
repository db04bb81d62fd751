package main

import (
	"bufio"
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/store/sqlstore"
)

// leasedJobs are the jobs kassa serve runs under leases (roles.go).
var leasedJobs = []string{jobPaymentsExpire, jobVouchersExpire, jobReconcile, jobIdempotencyForget,
	jobIdentityPrune, jobPasskeysPrune, jobVaultMaintain, jobPayouts, jobInvoices, jobPrivacy, jobCredit,
	jobBalanceSync, jobSettlements, jobReports}

// leasesHeld reads kassa_job_lease_held from a node's /metrics.
func (s *server) leasesHeld(t *testing.T) map[string]bool {
	t.Helper()
	resp, err := s.client.Get(s.metrics)
	if err != nil {
		t.Fatalf("GET %s: %v", s.metrics, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d", s.metrics, resp.StatusCode)
	}
	held := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), `kassa_job_lease_held{name="`)
		if !ok {
			continue
		}
		job, value, _ := strings.Cut(rest, `"} `)
		v, _ := strconv.ParseFloat(value, 64)
		held[job] = v == 1
	}
	return held
}

func holdsAll(held map[string]bool) bool {
	for _, j := range leasedJobs {
		if !held[j] {
			return false
		}
	}
	return true
}

func holdsNone(held map[string]bool) bool {
	for _, v := range held {
		if v {
			return false
		}
	}
	return true
}

// waitUntil polls cond until it holds or a generous deadline passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// status GETs path on s without a key and returns the status and, for a
// problem, its code.
func (s *server) status(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, body := s.request(t, "GET", path, "", nil)
	code, _ := body["code"].(string)
	return resp.StatusCode, code
}

// delivered reports whether the receiver got a webhook naming id.
func (h *hookReceiver) delivered(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.bodies {
		if strings.Contains(string(b), `"`+id+`"`) {
			return true
		}
	}
	return false
}

// TestE2ERoles runs kassa serve as separate role processes on one
// PostgreSQL: an api node, a pages node and a worker node, then a second
// worker. Each answers only its own routes (and /healthz, /readyz,
// /metrics); the worker runs every leased job and delivers the webhooks
// of payments made through the api node; when the lease holder is killed
// (SIGKILL: no goodbye, its leases just stop being renewed) the other
// worker takes every job over.
func TestE2ERoles(t *testing.T) {
	dir := t.TempDir()
	b := backend{"postgres", []string{"--data", dir, "--database", pgtest.URL(t)}, dir}
	sk, pk := createMerchantKeys(t, b)
	hooks := newHookReceiver(t)
	hooks.trustIn(t)
	common := []string{"--allow-private-webhooks", "--rate-limit", "0"}
	api := startServe(t, b, append(common, "--roles", "api", "--node", "api")...)
	pages := startServe(t, b, append(common, "--roles", "pages", "--node", "pages")...)
	w1 := startServe(t, b, append(common, "--roles", "worker", "--node", "w1")...)

	p := api.call(t, "POST", "/v1/payments", sk, "order-1", map[string]any{
		"amount": 2500, "currency": "EUR", "merchant_reference": "order-1", "return_url": "https://shop.example/paid"}, 201)
	payPage := "/pay/" + p["id"].(string) + "?client_secret=" + p["client_secret"].(string)
	tests := []struct {
		node        string
		s           *server
		api, pages  int // status of a /v1 route and of a hosted page
		wantRunning bool
	}{
		{"api", api, 200, 404, false},
		{"pages", pages, 404, 200, false},
		{"worker", w1, 404, 404, true},
	}
	for _, tt := range tests {
		resp, _ := tt.s.request(t, "GET", "/v1/merchant", sk, nil)
		if resp.StatusCode != tt.api {
			t.Errorf("%s node: GET /v1/merchant = %d, want %d", tt.node, resp.StatusCode, tt.api)
		}
		if tt.api == 404 {
			if got, code := tt.s.status(t, "/v1/openapi.json"); got != 404 || code != "route_not_found" {
				t.Errorf("%s node: GET /v1/openapi.json = %d %q, want 404 route_not_found", tt.node, got, code)
			}
			if resp, _ := tt.s.request(t, "POST", "/v1/payments/"+p["id"].(string)+"/confirm", pk, map[string]any{}); resp.StatusCode != 404 {
				t.Errorf("%s node: POST confirm = %d, want 404", tt.node, resp.StatusCode)
			}
		}
		if got, _ := tt.s.status(t, payPage); got != tt.pages {
			t.Errorf("%s node: GET %s = %d, want %d", tt.node, payPage, got, tt.pages)
		}
		if got, _ := tt.s.status(t, "/login"); got != tt.pages {
			t.Errorf("%s node: GET /login = %d, want %d", tt.node, got, tt.pages)
		}
		for _, path := range []string{"/healthz", "/readyz"} {
			if got, _ := tt.s.status(t, path); got != 200 {
				t.Errorf("%s node: GET %s = %d, want 200", tt.node, path, got)
			}
		}
		if !tt.wantRunning {
			if held := tt.s.leasesHeld(t); len(held) != len(leasedJobs) || !holdsNone(held) {
				t.Errorf("%s node: leases held %v, want every job listed and none held", tt.node, held)
			}
		}
	}
	waitUntil(t, "w1 to hold every job's lease", func() bool { return holdsAll(w1.leasesHeld(t)) })

	// The worker delivers what the api node's payments emit.
	api.call(t, "POST", "/v1/webhook_endpoints", sk, "", map[string]any{
		"url": hooks.URL + "/kassa", "events": []string{"payment.created"}}, 201)
	p1 := api.call(t, "POST", "/v1/payments", sk, "order-2", map[string]any{
		"amount": 1000, "currency": "EUR", "merchant_reference": "order-2"}, 201)["id"].(string)
	waitUntil(t, "the webhook of "+p1, func() bool { return hooks.delivered(p1) })

	w2 := startServe(t, b, append(common, "--roles", "worker", "--node", "w2")...)
	if held := w2.leasesHeld(t); !holdsNone(held) {
		t.Fatalf("w2 took leases w1 holds: %v", held)
	}
	if err := w1.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-w1.done
	killed := time.Now()
	waitUntil(t, "w2 to take every job over", func() bool { return holdsAll(w2.leasesHeld(t)) })
	t.Logf("w2 held every job %s after w1 was killed (lease TTL 10s)", time.Since(killed).Round(100*time.Millisecond))
	p2 := api.call(t, "POST", "/v1/payments", sk, "order-3", map[string]any{
		"amount": 1000, "currency": "EUR", "merchant_reference": "order-3"}, 201)["id"].(string)
	waitUntil(t, "the webhook of "+p2, func() bool { return hooks.delivered(p2) })

	// Each lease changed hands once: w2 holds it at epoch 2, so a write
	// w1 had in flight under epoch 1 is refused (store/sqlstore tests).
	db := openStore(t, b)
	defer db.Close()
	ls, err := sqlstore.NewLeases(db).Leases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != len(leasedJobs) {
		t.Fatalf("%d lease rows, want %d: %+v", len(ls), len(leasedJobs), ls)
	}
	for _, l := range ls {
		if l.Holder != "w2" || l.Epoch != 2 {
			t.Errorf("lease %s: held by %s at epoch %d, want w2 at 2", l.Job, l.Holder, l.Epoch)
		}
	}
	for _, s := range []*server{api, pages, w2} {
		if err := s.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("stop: %v", err)
		}
	}
}
