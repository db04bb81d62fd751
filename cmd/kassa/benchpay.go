package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/internal/tlsutil"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/voucher"
)

// Settings and limits of kassa bench payments.
const (
	benchPayConcurrencyMax = 1024
	benchPayDurationMax    = time.Hour
	// benchPayAmount is what each payment takes (1.00 EUR); each voucher
	// holds benchPayPerVoucher of them, so few vouchers cover a run.
	benchPayAmount     = money.Amount(100)
	benchPayPerVoucher = 50
	// benchPayRatePlanned is more payments per second than two cores can
	// drive over HTTPS; vouchers are issued for that many, so a run never
	// runs out.
	benchPayRatePlanned = 6000
	benchPayVouchersMin = 200
	// benchPaySamplesMax bounds the latency samples kept per worker.
	benchPaySamplesMax = 1_000_000
	// benchPayBaselineDuration is how long the bare handler is measured,
	// before the payments and again after them.
	benchPayBaselineDuration = 10 * time.Second
	// benchPayRateLimit is the bench merchant's limit: kassa serve's
	// limiter runs as it does in production, with --rate-limit raised for
	// this one busy merchant (serve's default is 1,000/s per API key),
	// as an operator would raise it for a merchant with such peaks.
	benchPayRateLimit = 20_000
	benchPayPayersMax = 1_000_000
	// benchPayProxy is where the bench's requests come from: it plays
	// the load balancer in front of Kassa (--trusted-proxies), passing
	// each payer's address in X-Forwarded-For.
	benchPayProxy = "127.0.0.1/32"
)

type benchPayConfig struct {
	database         string
	concurrency      int
	duration         time.Duration
	baselineDuration time.Duration
	asJSON           bool
	idempotency      bool
	cpuProfile       string
	noRisk           bool
	rateLimit        float64
	cardShare        float64
	payers           int
	logFile          string
	nodes            int
}

// BenchPayResult is what kassa bench payments prints. Latencies are per
// API call (create, tokenize, confirm and capture alike).
type BenchPayResult struct {
	Backend         string  `json:"backend"`
	Nodes           int     `json:"nodes"`
	Concurrency     int     `json:"concurrency"`
	DurationSeconds float64 `json:"duration_s"`
	IdempotencyKeys bool    `json:"idempotency_keys"`
	RiskScored      bool    `json:"risk_scored"`
	Payments        int64   `json:"payments"`
	PaymentsPerSec  float64 `json:"payments_per_sec"`
	Requests        int64   `json:"requests"`
	RequestsPerSec  float64 `json:"requests_per_sec"`
	RateLimit       float64 `json:"rate_limit_per_key"`
	CardShare       float64 `json:"card_share"`
	Payers          int     `json:"payers"`
	CardPayments    int64   `json:"card_payments"`
	VoucherPayments int64   `json:"voucher_payments"`
	// The bare handler is measured before and after the payments; the
	// ratio is to the mean of the two.
	BaselineBeforePerSec float64                 `json:"baseline_before_requests_per_sec"`
	BaselineAfterPerSec  float64                 `json:"baseline_after_requests_per_sec"`
	BaselinePerSec       float64                 `json:"baseline_requests_per_sec"`
	BaselineSeconds      float64                 `json:"baseline_duration_s"` // of each of the two
	Ratio                float64                 `json:"ratio"`
	P50ms                float64                 `json:"p50_ms"`
	P99ms                float64                 `json:"p99_ms"`
	Calls                map[string]benchPayCall `json:"calls"`
	Errors               int64                   `json:"errors"`
	// Outcomes counts how payments ended (captured, or a risk decision
	// such as failed or requires_action); only transport errors and
	// unexpected answers are Errors.
	Outcomes           map[string]int64 `json:"outcomes"`
	LedgerCommits      uint64           `json:"ledger_commits"`
	LedgerLeavesCommit float64          `json:"ledger_leaves_per_commit"`
	LedgerCommitMs     float64          `json:"ledger_commit_ms_avg"`
	LedgerBusy         float64          `json:"ledger_busy"` // share of the run the ledger spent committing
	Vouchers           int              `json:"vouchers"`
	GoMaxProcs         int              `json:"gomaxprocs"`
	// Captured is how many of the run's payments the database holds as
	// captured (at least Payments, or the run fails); VerifyLeaves the
	// ledger leaves ledger verify checked after the run.
	Captured     int64 `json:"captured"`
	VerifyLeaves int64 `json:"verify_leaves"`
}

type benchPayCall struct {
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
}

func benchPayments(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var cfg benchPayConfig
	fs := newFlagSet("bench payments", "bench payments [flags]", stderr)
	fs.StringVar(&cfg.database, "database", "", "PostgreSQL `URL` of a scratch database; empty uses a fresh SQLite in a temp directory")
	fs.IntVar(&cfg.concurrency, "concurrency", 32, "concurrent HTTPS clients")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to start new payments")
	fs.BoolVar(&cfg.asJSON, "json", false, "print one JSON object")
	fs.BoolVar(&cfg.idempotency, "idempotency-keys", true, "send an Idempotency-Key with every POST, as merchants should")
	fs.BoolVar(&cfg.noRisk, "no-risk", false, "do not score payments (to measure what risk scoring costs)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the payments run to `file`")
	fs.IntVar(&cfg.nodes, "nodes", 1, "Kassa nodes sharing the --database (each a full Kassa with its own pool, ledger sequencer, risk engine and HTTPS listener, in this process); the clients are spread over them and the total is reported. More than 1 needs PostgreSQL")
	fs.DurationVar(&cfg.baselineDuration, "baseline-duration", benchPayBaselineDuration, "how long the bare handler is measured, before the payments and again after them")
	fs.Float64Var(&cfg.rateLimit, "rate-limit", benchPayRateLimit, "requests per second allowed per API key, as kassa serve's --rate-limit (the bench merchant's raised limit; 0 disables, which is not what serve runs)")
	fs.Float64Var(&cfg.cardShare, "cards", 0.25, "share of payments made by card (tokenized in the payer's browser); the rest by voucher")
	fs.IntVar(&cfg.payers, "payers", 5000, "distinct payers (customer, device, address) the payments come from")
	fs.StringVar(&cfg.logFile, "log", "", "`file` for the server's info logs, as kassa serve writes them (default: in the temporary directory, removed with it)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("bench payments takes no arguments, got %q", fs.Args())
	case cfg.concurrency < 1 || cfg.concurrency > benchPayConcurrencyMax:
		return usagef("--concurrency must be 1..%d", benchPayConcurrencyMax)
	case cfg.duration <= 0 || cfg.duration > benchPayDurationMax:
		return usagef("--duration must be positive and at most %s", benchPayDurationMax)
	case cfg.baselineDuration <= 0 || cfg.baselineDuration > benchPayDurationMax:
		return usagef("--baseline-duration must be positive and at most %s", benchPayDurationMax)
	case cfg.rateLimit < 0, cfg.cardShare < 0 || cfg.cardShare > 1:
		return usagef("--rate-limit must not be negative, --cards must be 0..1")
	case cfg.payers < 1 || cfg.payers > benchPayPayersMax:
		return usagef("--payers must be 1..%d", benchPayPayersMax)
	case cfg.nodes < 1 || cfg.nodes > benchNodesMax:
		return usagef("--nodes must be 1..%d", benchNodesMax)
	case cfg.nodes > 1 && cfg.database == "":
		return usagef("--nodes %d needs a PostgreSQL --database (SQLite serves one node)", cfg.nodes)
	}
	res, err := runPayBench(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	if cfg.asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "%s, %d node(s): %.0f payments/s (%d card, %d voucher), %.0f requests/s = %.3f × a bare handler's %.0f (%.0f before, %.0f after); p50 %.2f ms, p99 %.2f ms per call; outcomes %v; %d errors\n",
		res.Backend, res.Nodes, res.PaymentsPerSec, res.CardPayments, res.VoucherPayments, res.RequestsPerSec, res.Ratio, res.BaselinePerSec,
		res.BaselineBeforePerSec, res.BaselineAfterPerSec, res.P50ms, res.P99ms, res.Outcomes, res.Errors)
	return nil
}

// payBench is Kassa in this process behind TLS 1.3 on loopback, as kassa
// serve runs it (info logs, rate limits, a trusted proxy, the background
// workers), with a merchant, vouchers and payers to pay with.
type payBench struct {
	app  *app
	dir  string
	srv  *http.Server
	base string
	// nodes are further Kassa nodes on the same database (--nodes).
	nodes       []*app
	srvs        []*http.Server
	bases       []string    // every node's, the first node's first
	tls         *tls.Config // the server's
	roots       *x509.CertPool
	sk, pk      string
	pins        []string
	payers      []benchPayer
	backend     string
	logFile     *os.File
	stopWorkers func()
}

func newPayBench(ctx context.Context, cfg benchPayConfig) (b *payBench, err error) {
	b = &payBench{backend: "sqlite"}
	if cfg.database != "" {
		b.backend = "postgres"
	}
	if b.dir, err = os.MkdirTemp("", "kassa-benchpay-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	logPath := cfg.logFile
	if logPath == "" {
		logPath = filepath.Join(b.dir, "serve.log")
	}
	if b.logFile, err = os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
		return nil, err
	}
	// kassa serve's default: JSON at info, one line per request, written
	// as it happens.
	logger := slog.New(slog.NewJSONHandler(b.logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b.app, err = newApp(ctx, appConfig{store: storeFlags{data: b.dir, database: cfg.database},
		ledgerOrigin: "kassa.bench/payments", rateLimit: cfg.rateLimit, trustedProxies: benchPayProxy,
		startRisk: true, noRisk: cfg.noRisk}, logger)
	if err != nil {
		return nil, err
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	wait := b.app.runWorkers(wctx)
	b.stopWorkers = func() { stop(); wait() }
	m, err := b.app.merchants.Create(ctx, "Bench Shop")
	if err != nil {
		return nil, err
	}
	b.sk, b.pk = m.SecretKey, m.PublishableKey
	if err := b.issue(ctx, m.ID, cfg.duration); err != nil {
		return nil, err
	}
	b.payers = benchPayers(cfg.payers)
	cert, _, _, err := tlsutil.LoadOrCreate(b.dir)
	if err != nil {
		return nil, err
	}
	b.tls = tlsutil.ServerConfig(cert)
	b.roots = x509.NewCertPool()
	b.roots.AddCert(cert.Leaf)
	b.srv, b.base, err = serveBench(b.app.api, b.tls, logger)
	if err != nil {
		return b, err
	}
	b.bases = []string{b.base}
	for range cfg.nodes - 1 {
		// The same data directory: the same key files, as every node of
		// a cluster must have.
		a, err := newApp(ctx, appConfig{store: storeFlags{data: b.dir, database: cfg.database},
			ledgerOrigin: "kassa.bench/payments", rateLimit: cfg.rateLimit, trustedProxies: benchPayProxy,
			startRisk: true, noRisk: cfg.noRisk}, logger)
		if err != nil {
			return b, err
		}
		b.nodes = append(b.nodes, a)
		srv, base, err := serveBench(a.api, b.tls, logger)
		if err != nil {
			return b, err
		}
		b.srvs, b.bases = append(b.srvs, srv), append(b.bases, base)
	}
	return b, nil
}

// issue makes enough vouchers for a run at benchPayRatePlanned.
func (b *payBench) issue(ctx context.Context, merchantID string, d time.Duration) error {
	if err := b.app.vouchers.AllowIssuing(ctx, merchantID); err != nil {
		return err
	}
	n := max(benchPayVouchersMin, int(d.Seconds()*benchPayRatePlanned)/benchPayPerVoucher)
	for len(b.pins) < n {
		vs, err := b.app.vouchers.Issue(ctx, voucher.IssueRequest{Count: min(voucher.IssueCountMax, n-len(b.pins)),
			Amount: benchPayAmount * benchPayPerVoucher, Currency: "EUR", IssuedBy: merchantID})
		if err != nil {
			return fmt.Errorf("issue vouchers: %w", err)
		}
		for _, v := range vs {
			b.pins = append(b.pins, v.PIN)
		}
	}
	return nil
}

func (b *payBench) close() {
	for _, srv := range b.srvs {
		srv.Close()
	}
	for _, a := range b.nodes {
		a.close()
	}
	if b.srv != nil {
		b.srv.Close()
	}
	if b.stopWorkers != nil {
		b.stopWorkers()
	}
	if b.app != nil {
		b.app.close()
	}
	if b.logFile != nil {
		b.logFile.Close()
	}
	os.RemoveAll(b.dir)
}

// serveBench serves h over TLS on a free loopback port with kassa serve's
// timeouts.
func serveBench(h http.Handler, tlsConfig *tls.Config, logger *slog.Logger) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, TLSConfig: tlsConfig.Clone(),
		ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout,
		IdleTimeout: idleTimeout, MaxHeaderBytes: headerBytesMax, ErrorLog: log.New(&slogWriter{logger}, "", 0)}
	go srv.ServeTLS(ln, "", "")
	return srv, "https://" + ln.Addr().String(), nil
}

// benchClient is one keep-alive HTTPS transport shared by all workers.
func benchClient(roots *x509.CertPool, concurrency int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13},
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     concurrency,
		IdleConnTimeout:     time.Minute,
	}}
}

func runPayBench(ctx context.Context, cfg benchPayConfig, stderr io.Writer) (BenchPayResult, error) {
	res := BenchPayResult{Nodes: cfg.nodes, Concurrency: cfg.concurrency, IdempotencyKeys: cfg.idempotency, RiskScored: !cfg.noRisk,
		RateLimit: cfg.rateLimit, CardShare: cfg.cardShare, Payers: cfg.payers, GoMaxProcs: runtime.GOMAXPROCS(0)}
	b, err := newPayBench(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer b.close()
	res.Backend, res.Vouchers = b.backend, len(b.pins)
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)

	before, err := runBaseline(ctx, b, cfg.concurrency, cfg.baselineDuration)
	if err != nil {
		return res, err
	}
	stop, err := startCPUProfile(cfg.cpuProfile)
	if err != nil {
		return res, err
	}
	commits0, leaves0, secs0 := ledgerCommits(b)
	run := runPayments(ctx, b, cfg, runID, stderr)
	commits1, leaves1, secs1 := ledgerCommits(b)
	stop()
	after, err := runBaseline(ctx, b, cfg.concurrency, cfg.baselineDuration)
	if err != nil {
		return res, err
	}
	res.BaselineBeforePerSec, res.BaselineAfterPerSec = before.perSec(), after.perSec()
	res.BaselinePerSec = (res.BaselineBeforePerSec + res.BaselineAfterPerSec) / 2
	res.BaselineSeconds = cfg.baselineDuration.Seconds()

	res.DurationSeconds = run.elapsed.Seconds()
	res.Payments, res.Requests, res.Errors = run.payments, run.requests, run.errors
	res.CardPayments, res.VoucherPayments, res.Outcomes = run.cards, run.payments-run.cards, run.outcomes
	res.PaymentsPerSec = float64(run.payments) / run.elapsed.Seconds()
	res.RequestsPerSec = float64(run.requests) / run.elapsed.Seconds()
	if res.BaselinePerSec > 0 {
		res.Ratio = res.RequestsPerSec / res.BaselinePerSec
	}
	var all []time.Duration
	res.Calls = map[string]benchPayCall{}
	for i, name := range payCallNames {
		all = append(all, run.latencies[i]...)
		res.Calls[name] = benchPayCall{P50ms: percentileMs(run.latencies[i], 0.50), P99ms: percentileMs(run.latencies[i], 0.99)}
	}
	res.P50ms, res.P99ms = percentileMs(all, 0.50), percentileMs(all, 0.99)
	if res.LedgerCommits = commits1 - commits0; res.LedgerCommits > 0 {
		res.LedgerLeavesCommit = (leaves1 - leaves0) / float64(res.LedgerCommits)
		res.LedgerCommitMs = (secs1 - secs0) * 1000 / float64(res.LedgerCommits)
		res.LedgerBusy = (secs1 - secs0) / run.elapsed.Seconds()
	}
	if err := b.check(ctx, runID, &res); err != nil {
		return res, err
	}
	return res, nil
}

// check proves the run's answers against the database: every payment
// answered captured is captured there (whichever node answered), and the
// ledger verifies.
func (b *payBench) check(ctx context.Context, runID string, res *BenchPayResult) error {
	err := b.app.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM payments WHERE status = 'captured' AND merchant_reference LIKE ?`,
		"bench-"+runID+"-%").Scan(&res.Captured)
	if err != nil {
		return fmt.Errorf("count captured payments: %w", err)
	}
	if res.Captured < res.Payments {
		return fmt.Errorf("%d payments were answered captured but %d are captured in the database", res.Payments, res.Captured)
	}
	skey, err := ledgerKey(b.dir, "", "kassa.bench/payments")
	if err != nil {
		return err
	}
	vkey, err := ledger.VerifierKeyFor(skey)
	if err != nil {
		return err
	}
	sum, err := ledger.Verify(ctx, newLedgerStore(b.app.db), vkey)
	if err != nil {
		return fmt.Errorf("ledger verify after the run: %w", err)
	}
	res.VerifyLeaves = sum.Leaves
	return nil
}

// ledgerCommits reads the ledger's commits, leaves and seconds spent
// committing so far from every node's metrics.
func ledgerCommits(b *payBench) (commits uint64, leaves, seconds float64) {
	for _, a := range append([]*app{b.app}, b.nodes...) {
		c, l, s := appLedgerCommits(a)
		commits, leaves, seconds = commits+c, leaves+l, seconds+s
	}
	return commits, leaves, seconds
}

func appLedgerCommits(a *app) (commits uint64, leaves, seconds float64) {
	mfs, err := a.reg.Gather()
	if err != nil {
		return 0, 0, 0
	}
	for _, mf := range mfs {
		if len(mf.GetMetric()) != 1 {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		switch mf.GetName() {
		case "kassa_ledger_commit_batch_size":
			commits, leaves = h.GetSampleCount(), h.GetSampleSum()
		case "kassa_ledger_commit_seconds":
			seconds = h.GetSampleSum()
		}
	}
	return commits, leaves, seconds
}

func percentileMs(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds()) / 1000
}

type baselineResult struct {
	requests int64
	elapsed  time.Duration
}

func (r baselineResult) perSec() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// runBaseline measures a bare net/http JSON handler with the same TLS
// configuration, server timeouts, client and concurrency: the ceiling the
// payments run is compared with.
func runBaseline(ctx context.Context, b *payBench, concurrency int, d time.Duration) (baselineResult, error) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": "pay_baseline", "object": "payment", "status": "captured", "amount": in["amount"]})
	})
	srv, base, err := serveBench(h, b.tls, slog.New(slog.DiscardHandler))
	if err != nil {
		return baselineResult{}, err
	}
	defer srv.Close()
	client := benchClient(b.roots, concurrency)
	defer client.CloseIdleConnections()
	body := []byte(`{"amount":100,"currency":"EUR","capture_method":"manual"}`)
	var requests atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				req, _ := http.NewRequest("POST", base+"/v1/payments", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer sk_baseline")
				if _, err := doBench(client, req, nil); err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				requests.Add(1)
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil && requests.Load() == 0 {
		return baselineResult{}, fmt.Errorf("baseline: %w", err)
	}
	return baselineResult{requests: requests.Load(), elapsed: time.Since(start)}, nil
}

// doBench sends req and decodes a 2xx JSON answer into out (nil: drains it).
func doBench(client *http.Client, req *http.Request, out any) (int, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return resp.StatusCode, fmt.Errorf("%s %s: %s %s", req.Method, req.URL.Path, resp.Status, msg)
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
}

var payCallNames = []string{"create", "tokenize", "confirm", "capture"}

type payRun struct {
	payments, cards, requests, errors int64
	outcomes                          map[string]int64
	elapsed                           time.Duration
	latencies                         [4][]time.Duration // by payCallNames
}

// benchPayer is one payer of the population: the same customer comes
// back with the same device, browser and address, as payers do.
type benchPayer struct {
	customer, email, country string
	ip, userAgent            string
	signals                  map[string]any // client_signals less the per-visit timings
}

// benchPayers makes n payers, the same ones for the same n. Addresses are
// from 198.18.0.0/15, the range set aside for benchmarks (RFC 2544).
func benchPayers(n int) []benchPayer {
	rng := rand.New(rand.NewPCG(15, uint64(n)))
	countries := []string{"AT", "DE", "CH", "IT", "NL", "FR"}
	zones := []string{"Europe/Vienna", "Europe/Berlin", "Europe/Zurich", "Europe/Rome", "Europe/Amsterdam", "Europe/Paris"}
	langs := []string{"de-AT", "de-DE", "de-CH", "it-IT", "nl-NL", "fr-FR"}
	agents := []struct{ ua, platform, screen string }{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Win32", "1920x1080"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "MacIntel", "1440x900"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "iPhone", "390x844"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Linux armv8l", "412x915"},
	}
	payers := make([]benchPayer, n)
	for i := range payers {
		c := rng.IntN(len(countries))
		a := agents[rng.IntN(len(agents))]
		payers[i] = benchPayer{
			customer:  "cust-" + strconv.Itoa(i),
			email:     "payer" + strconv.Itoa(i) + "@example.net",
			country:   countries[c],
			ip:        netip.AddrFrom4([4]byte{198, 18 + byte(i>>16&1), byte(i >> 8), byte(i)}).String(),
			userAgent: a.ua,
			signals: map[string]any{"fingerprint": fmt.Sprintf("%016x", rng.Uint64()), "timezone": zones[c],
				"language": langs[c], "screen": a.screen, "platform": a.platform, "touch": a.platform == "iPhone" || a.platform == "Linux armv8l"},
		}
	}
	return payers
}

// runPayments drives complete payments (create → [tokenize →] confirm →
// capture) until the duration is over; payments under way then finish,
// and the time they take counts.
func runPayments(ctx context.Context, b *payBench, cfg benchPayConfig, runID string, stderr io.Writer) payRun {
	client := benchClient(b.roots, cfg.concurrency)
	defer client.CloseIdleConnections()
	var next, payments, cards, requests, errs atomic.Int64
	var mu sync.Mutex
	outcomes := map[string]int64{}
	workers := make([][4][]time.Duration, cfg.concurrency)
	deadline := time.Now().Add(cfg.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.concurrency {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 16))
			for time.Now().Before(deadline) && ctx.Err() == nil {
				n := next.Add(1) - 1
				if n >= int64(len(b.pins))*benchPayPerVoucher {
					return // out of vouchers (not reached at the planned rate)
				}
				pay := benchPayment{runID: runID, n: n, payer: &b.payers[rng.IntN(len(b.payers))],
					card: rng.Float64() < cfg.cardShare, pin: b.pins[n%int64(len(b.pins))], idem: cfg.idempotency}
				// Client w talks to node w mod N (its calls stay on one
				// node, as a proxy's kept-alive connection would).
				pay.base = b.bases[w%len(b.bases)]
				done, status, err := pay.run(client, b, rng, &workers[w])
				requests.Add(int64(done))
				if err != nil {
					if errs.Add(1) == 1 {
						fmt.Fprintf(stderr, "bench payments: first error: %v\n", err)
					}
					continue
				}
				mu.Lock()
				outcomes[status]++
				mu.Unlock()
				if status == "captured" {
					payments.Add(1)
					if pay.card {
						cards.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	run := payRun{payments: payments.Load(), cards: cards.Load(), requests: requests.Load(), errors: errs.Load(),
		outcomes: outcomes, elapsed: time.Since(start)}
	for _, lat := range workers {
		for i := range lat {
			run.latencies[i] = append(run.latencies[i], lat[i]...)
		}
	}
	return run
}

// benchPayment is one payment of the run.
type benchPayment struct {
	base  string // the node's URL
	runID string
	n     int64
	payer *benchPayer
	card  bool
	pin   string
	idem  bool
}

// run makes the payment as a shop and its payer would: the shop's server
// creates it (secret key, with the customer); the payer's browser, through
// the load balancer, tokenizes a card (publishable key) and confirms with
// the card or a voucher PIN and the hosted page's client signals; the
// shop captures. It returns how many calls succeeded and the payment's
// final status: captured, or what the risk decision made of it (failed,
// requires_action), which is an outcome, not an error.
func (pay benchPayment) run(client *http.Client, b *payBench, rng *rand.Rand, lat *[4][]time.Duration) (int, string, error) {
	ref := "bench-" + pay.runID + "-" + strconv.FormatInt(pay.n, 10)
	var p struct {
		ID           string `json:"id"`
		ClientSecret string `json:"client_secret"`
		Status       string `json:"status"`
	}
	create, _ := json.Marshal(map[string]any{"amount": int64(benchPayAmount), "currency": "EUR", "capture_method": "manual",
		"merchant_reference": ref, "description": "Order " + ref,
		"customer": map[string]any{"id": pay.payer.customer, "email": pay.payer.email, "billing_country": pay.payer.country}})
	done := 0
	if err := pay.call(client, b, "/v1/payments", b.sk, ref+"-create", create, false, &p, &lat[0]); err != nil {
		return done, "", err
	}
	done++
	method := map[string]any{"type": "voucher", "pins": []string{pay.pin}}
	if pay.card {
		var tok struct {
			ID string `json:"id"`
		}
		body, _ := json.Marshal(map[string]any{"card": map[string]any{"number": acquirer.CardApproved, "exp_month": 12,
			"exp_year": time.Now().Year() + 2, "cvc": "123", "name": "Payer " + pay.payer.customer}})
		if err := pay.call(client, b, "/v1/tokens", b.pk, "", body, true, &tok, &lat[1]); err != nil {
			return done, "", err
		}
		done++
		method = map[string]any{"type": "card", "token": tok.ID}
	}
	signals := maps.Clone(pay.payer.signals)
	signals["time_on_page_ms"] = 6000 + rng.Int64N(60000)
	signals["time_to_submit_ms"] = 2000 + rng.Int64N(20000)
	signals["pointer_moves"], signals["key_events"], signals["focus_changes"] = 10+rng.IntN(200), 4+rng.IntN(40), 1+rng.IntN(6)
	confirm, _ := json.Marshal(map[string]any{"client_secret": p.ClientSecret, "payment_method": method, "client_signals": signals})
	if err := pay.call(client, b, "/v1/payments/"+p.ID+"/confirm", b.pk, ref+"-confirm", confirm, true, &p, &lat[2]); err != nil {
		return done, "", err
	}
	done++
	if p.Status != "authorized" {
		return done, p.Status, nil
	}
	if err := pay.call(client, b, "/v1/payments/"+p.ID+"/capture", b.sk, ref+"-capture", nil, false, &p, &lat[3]); err != nil {
		return done, "", err
	}
	done++
	if p.Status != "captured" {
		return done, "", errors.New("payment " + p.ID + " captured as " + p.Status)
	}
	return done, p.Status, nil
}

// call POSTs body to path and decodes the answer into out. Calls from the
// payer's browser carry its address (X-Forwarded-For, as the load balancer
// adds it) and its User-Agent.
func (pay benchPayment) call(client *http.Client, b *payBench, path, key, idemKey string, body []byte, fromPayer bool, out any, lat *[]time.Duration) error {
	req, err := http.NewRequest("POST", pay.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if pay.idem && idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	if fromPayer {
		req.Header.Set("X-Forwarded-For", pay.payer.ip)
		req.Header.Set("User-Agent", pay.payer.userAgent)
	}
	t0 := time.Now()
	if _, err := doBench(client, req, out); err != nil {
		return err
	}
	if len(*lat) < benchPaySamplesMax {
		*lat = append(*lat, time.Since(t0))
	}
	return nil
}
