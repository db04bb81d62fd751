package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kassa/kassa/deploy/grafana"
	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/internal/tlsutil"
)

// needPrometheus returns the prometheus binary's path, or skips t loudly
// (fails it when KASSA_TEST_REQUIRE names prometheus).
func needPrometheus(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("prometheus")
	if err == nil {
		return path
	}
	if slices.Contains(strings.Split(os.Getenv(pgtest.EnvRequire), ","), "prometheus") {
		t.Fatalf("prometheus is required (%s names prometheus) but not found: %v; apt-get install prometheus", pgtest.EnvRequire, err)
	}
	t.Skipf("SKIPPED: prometheus not found (%v); apt-get install prometheus, or set %s=prometheus to fail instead", err, pgtest.EnvRequire)
	return ""
}

// promAPI queries a Prometheus server's HTTP API.
type promAPI struct {
	base   string
	client *http.Client
}

// get calls path with the query parameters and decodes data into out;
// a failed query (bad_data, execution) is an error.
func (p promAPI) get(path string, params url.Values, out any) error {
	resp, err := p.client.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env struct {
		Status, ErrorType, Error string
		Data                     json.RawMessage
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, raw)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, env.ErrorType, env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

// query evaluates expr now and returns how many series (or 1 for a
// scalar) it gave.
func (p promAPI) query(expr string) (int, error) {
	var data struct {
		ResultType string
		Result     json.RawMessage
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return 0, err
	}
	if data.ResultType == "scalar" || data.ResultType == "string" {
		return 1, nil
	}
	var series []json.RawMessage
	if err := json.Unmarshal(data.Result, &series); err != nil {
		return 0, err
	}
	return len(series), nil
}

// grafanaExpr replaces the dashboards' variables as Grafana would with
// every node of the job selected.
func grafanaExpr(expr, job string) string {
	return strings.NewReplacer(`"$job"`, `"`+job+`"`, `"$instance"`, `".+"`, "$__rate_interval", "20s").Replace(expr)
}

// TestE2EDashboards starts kassa serve under payment, ledger, voucher and
// webhook load with a real Prometheus scraping its /metrics over TLS and
// loading deploy/prometheus/alerts.yml, then evaluates every query of
// every dashboard in deploy/grafana and every alert rule through
// Prometheus's HTTP API: none may fail, every dashboard query not marked
// Quiet must return data, and every rule must evaluate healthy.
func TestE2EDashboards(t *testing.T) {
	promBin := needPrometheus(t)
	// The files shipped are the ones tested: deploy/grafana's own test
	// keeps them equal to what the package writes.
	for _, d := range grafana.Dashboards() {
		want, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", d.File))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("deploy/grafana/%s is not what deploy/grafana writes (%v); go test ./deploy/grafana -update", d.File, err)
		}
	}
	alerts, err := filepath.Abs(filepath.Join("..", "..", "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	b := backend{"sqlite", []string{"--data", dir}, dir}
	sk, pk := createMerchantKeys(t, b)
	const workers, face = 2, 500_000
	out, err := runKassa(t, b, "vouchers", "issue", "--count", fmt.Sprint(workers), "--amount", fmt.Sprint(face), "--currency", "EUR", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []issuedVoucher
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v issuedVoucher
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	s := startServe(t, b, "--rate-limit", "0")
	// An endpoint no delivery reaches (.invalid never resolves, RFC 6761): attempts fail
	// and retry, so the webhook panels have data.
	s.call(t, "POST", "/v1/webhook_endpoints", sk, "", map[string]any{"url": "https://hooks.kassa.invalid/kassa", "events": []string{"*"}}, 201)
	for _, acct := range []string{"src", "dst"} {
		resp, body := s.request(t, "POST", "/v1/ledger/accounts", sk, map[string]any{"id": acct, "currency": "EUR"})
		mustStatus(t, resp, body, 201)
	}

	// Prometheus, scraping the metrics listener with Kassa's certificate.
	metricsURL, err := url.Parse(s.metrics)
	if err != nil || s.metrics == "" {
		t.Fatalf("metrics URL %q: %v", s.metrics, err)
	}
	promDir := t.TempDir()
	promPort := freeLoopbackPort(t)
	const job = "kassa"
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: %s
    scheme: https
    metrics_path: %s
    tls_config:
      ca_file: %q
    static_configs:
      - targets: [%q]
`, alerts, job, metricsURL.Path, filepath.Join(dir, tlsutil.CertFile), metricsURL.Host)
	if err := os.WriteFile(filepath.Join(promDir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	promLog, err := os.Create(filepath.Join(promDir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	prom := exec.Command(promBin, "--config.file="+filepath.Join(promDir, "prometheus.yml"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort), "--storage.tsdb.path="+filepath.Join(promDir, "data"),
		"--storage.tsdb.retention.time=1h")
	prom.Stdout, prom.Stderr = promLog, promLog
	prom.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		prom.Process.Signal(syscall.SIGTERM)
		prom.Wait()
		promLog.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(promDir, "prometheus.log"))
			t.Logf("prometheus log:\n%s", b)
		}
	})
	api := promAPI{base: fmt.Sprintf("http://127.0.0.1:%d", promPort), client: &http.Client{Timeout: 10 * time.Second}}

	// Load until the queries are answered.
	load := &crashLoad{flows: map[string]*crashFlow{}}
	led := &drillLedger{acked: map[string]int64{}, unknown: map[string]int64{}, statuses: map[int]int{}}
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
				amount := int64(100 + (i*37+w*11)%400)
				f := &crashFlow{ref: fmt.Sprintf("dash-w%d-%d", w, i), amount: amount, capture: amount, refund: amount / 4, serial: vs[w].Serial}
				crashFlowRun(s, load, f, vs[w], sk, pk)
				// A wrong PIN at the balance check now and then.
				if i%5 == 0 {
					req, _ := http.NewRequest("POST", s.base+"/v1/vouchers/balance", strings.NewReader(`{"pin":"0000-0000-0000-0000"}`))
					req.Header.Set("Authorization", "Bearer "+pk)
					req.Header.Set("Content-Type", "application/json")
					if resp, err := s.client.Do(req); err == nil {
						resp.Body.Close()
					}
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			var ts []map[string]any
			for j := range 20 {
				ts = append(ts, map[string]any{"id": fmt.Sprintf("dash-%d-%d", i, j), "debit_account_id": "src",
					"credit_account_id": "dst", "amount": int64(1 + j), "currency": "EUR"})
			}
			led.postTransfers(s, sk, ts)
		}
	})
	defer func() { close(stop); wg.Wait() }()

	// Poll (a bound on waiting, not a timed assertion): scrapes begin about
	// 6 s after Prometheus starts, and rates need two samples in the window.
	deadline := time.Now().Add(120 * time.Second)
	for {
		n, err := api.query(fmt.Sprintf(`up{job=%q} == 1`, job))
		if err == nil && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never scraped Kassa: %d series, %v", n, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	type pending struct{ board, panel, expr string }
	var waiting []pending
	queries := 0
	for _, d := range grafana.Dashboards() {
		for _, p := range d.Panels {
			for _, q := range p.Queries {
				queries++
				expr := grafanaExpr(q.Expr, job)
				if strings.Contains(expr, "$") {
					t.Errorf("%s %q: a variable the test does not know: %s", d.File, p.Title, expr)
					continue
				}
				if _, err := api.query(expr); err != nil {
					t.Errorf("%s %q: %s: %v", d.File, p.Title, expr, err)
					continue
				}
				if !q.Quiet {
					waiting = append(waiting, pending{d.File, p.Title, expr})
				}
			}
		}
	}
	withData := len(waiting)
	for len(waiting) > 0 && time.Now().Before(deadline) {
		var still []pending
		for _, w := range waiting {
			if n, err := api.query(w.expr); err != nil || n == 0 {
				still = append(still, w)
			}
		}
		waiting = still
		if len(waiting) > 0 {
			time.Sleep(500 * time.Millisecond)
		}
	}
	for _, w := range waiting {
		t.Errorf("%s %q has no data under load: %s", w.board, w.panel, w.expr)
	}
	t.Logf("%d dashboards, %d queries evaluated; %d of them with data under load", len(grafana.Dashboards()), queries, withData-len(waiting))

	// Every alert rule: evaluated by Prometheus without error, and its
	// expression answered through the query API.
	type rule struct {
		Name, Query, Health, LastError, Type string
	}
	var rules []rule
	for {
		var data struct{ Groups []struct{ Rules []rule } }
		if err := api.get("/api/v1/rules", url.Values{}, &data); err != nil {
			t.Fatal(err)
		}
		rules = rules[:0]
		unknown := 0
		for _, g := range data.Groups {
			for _, r := range g.Rules {
				rules = append(rules, r)
				if r.Health == "unknown" {
					unknown++
				}
			}
		}
		if unknown == 0 && len(rules) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d rules not evaluated yet", unknown, len(rules))
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, r := range rules {
		if r.Health != "ok" {
			t.Errorf("rule %s: health %s: %s", r.Name, r.Health, r.LastError)
		}
		if _, err := api.query(r.Query); err != nil {
			t.Errorf("rule %s: %s: %v", r.Name, r.Query, err)
		}
	}
	t.Logf("%d alert rules evaluated healthy", len(rules))
}
