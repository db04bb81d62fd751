package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/internal/tlsutil"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/store/sqlstore"
)

func runBench(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, "Usage: kassa bench <ledger|payments|vault|score> [flags]\n"+
			"  ledger     ledger transfers: batched in process, or one per HTTPS request with --http\n"+
			"  payments   complete payments (create, confirm, capture) over HTTPS against a bare handler\n"+
			"  vault      card tokenize and detokenize throughput\n"+
			"  score      in-process risk decisions with warm features (latency percentiles)\n")
		if len(args) == 0 {
			return usagef("bench needs a subcommand")
		}
		return nil
	}
	switch args[0] {
	case "ledger":
		return benchLedger(ctx, args[1:], getenv, stdout, stderr)
	case "payments":
		return benchPayments(ctx, args[1:], getenv, stdout, stderr)
	case "vault":
		return benchVault(ctx, args[1:], getenv, stdout, stderr)
	case "score":
		return benchScore(ctx, args[1:], getenv, stdout, stderr)
	}
	return usagef("unknown bench subcommand %q", args[0])
}

// Limits of the ledger benchmark.
const (
	benchAccountsMax    = 10_000_000
	benchConcurrencyMax = 1024
	benchLatenciesMax   = 10_000_000 // samples kept for percentiles
	benchNodesMax       = 16
)

type benchLedgerConfig struct {
	database    string
	accounts    int
	hot         bool
	batch       int
	concurrency int
	duration    time.Duration
	asJSON      bool
	http        bool
	verify      bool
	cpuProfile  string
	nodes       int
}

// BenchLedgerResult is what kassa bench ledger prints.
type BenchLedgerResult struct {
	Backend         string  `json:"backend"`
	Mode            string  `json:"mode"` // "batched" (in process) or "http"
	Accounts        int     `json:"accounts"`
	Hot             bool    `json:"hot"`
	Batch           int     `json:"batch"`
	Concurrency     int     `json:"concurrency"`
	Nodes           int     `json:"nodes"`
	DurationSeconds float64 `json:"duration_s"`
	Transfers       int64   `json:"transfers"`
	TransfersPerSec float64 `json:"transfers_per_sec"`
	P50ms           float64 `json:"p50_ms"`
	P99ms           float64 `json:"p99_ms"`
	BatchSizeAvg    float64 `json:"batch_size_avg"`
	Commits         int64   `json:"commits"`
	Errors          int64   `json:"errors"`
	Refused         int64   `json:"refused"`
	VerifyLeaves    int64   `json:"verify_leaves,omitempty"`
	// Acknowledged counts the transfers answered ok over HTTP whose ids
	// were looked up in the database after the run; Missing those not
	// found there (always 0, or the run fails).
	Acknowledged int64   `json:"acknowledged,omitempty"`
	Missing      int64   `json:"missing"`
	VerifyPerSec float64 `json:"verify_leaves_per_sec,omitempty"`
	GoMaxProcs   int     `json:"gomaxprocs"`
}

func benchLedger(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var cfg benchLedgerConfig
	fs := newFlagSet("bench ledger", "bench ledger [flags]", stderr)
	fs.StringVar(&cfg.database, "database", "", "PostgreSQL `URL` of a scratch database; empty uses a fresh SQLite in a temp directory")
	fs.IntVar(&cfg.accounts, "accounts", 10_000, "accounts that transfers move between")
	fs.BoolVar(&cfg.hot, "hot", false, "every transfer credits one account (a merchant's)")
	fs.IntVar(&cfg.batch, "batch", 2000, "transfers per call (in process; --http always sends one per request); with the default 8 callers, commits fill up to the 8,190-event batch limit")
	fs.IntVar(&cfg.concurrency, "concurrency", 0, "concurrent callers (default 8 in process, 32 with --http)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to measure")
	fs.BoolVar(&cfg.asJSON, "json", false, "print one JSON object")
	fs.BoolVar(&cfg.http, "http", false, "drive POST /v1/ledger/transfers over HTTPS, one transfer per request")
	fs.BoolVar(&cfg.verify, "verify", true, "run ledger verify on the result and report its speed")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured run (and verify) to `file`")
	fs.IntVar(&cfg.nodes, "nodes", 1, "Kassa nodes sharing the --database, each with its own pool, ledger sequencer and HTTPS listener (in this process); the clients are spread over them and the total is reported. More than 1 needs --http and PostgreSQL")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if cfg.concurrency == 0 {
		cfg.concurrency = 8
		if cfg.http {
			cfg.concurrency = 32
		}
	}
	switch {
	case cfg.accounts < 2 || cfg.accounts > benchAccountsMax:
		return usagef("--accounts must be 2..%d", benchAccountsMax)
	case cfg.batch < 1 || cfg.batch > ledger.TransfersPerCallMax:
		return usagef("--batch must be 1..%d", ledger.TransfersPerCallMax)
	case cfg.concurrency < 1 || cfg.concurrency > benchConcurrencyMax:
		return usagef("--concurrency must be 1..%d", benchConcurrencyMax)
	case cfg.duration <= 0 || cfg.duration > time.Hour:
		return usagef("--duration must be positive and at most 1h")
	case cfg.nodes < 1 || cfg.nodes > benchNodesMax:
		return usagef("--nodes must be 1..%d", benchNodesMax)
	case cfg.nodes > 1 && (!cfg.http || cfg.database == ""):
		return usagef("--nodes %d needs --http and a PostgreSQL --database (SQLite serves one node)", cfg.nodes)
	}
	stop, err := startCPUProfile(cfg.cpuProfile)
	if err != nil {
		return err
	}
	defer stop()
	res, err := runLedgerBench(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	if cfg.asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "%s %s, %d node(s): %.0f transfers/s (%d in %.1fs), p50 %.2f ms, p99 %.2f ms per call, %.0f leaves per commit, %d errors, %d refused",
		res.Backend, res.Mode, res.Nodes, res.TransfersPerSec, res.Transfers, res.DurationSeconds, res.P50ms, res.P99ms, res.BatchSizeAvg, res.Errors, res.Refused)
	if res.VerifyLeaves > 0 {
		fmt.Fprintf(stdout, "; verify %.0f leaves/s", res.VerifyPerSec)
	}
	fmt.Fprintln(stdout)
	return nil
}

// benchEnv is a fresh store and a ledger over it.
type benchEnv struct {
	db     *sqlstore.DB
	led    *ledger.Ledger
	skey   string
	verify string
	// nodes are further ledgers on the same database (--nodes), each
	// with its own pool and sequencer, as separate processes would be.
	nodes   []benchNode
	dir     string
	commits atomic.Int64
	leaves  atomic.Int64
}

// benchNode is one more Kassa node on the bench's database.
type benchNode struct {
	db  *sqlstore.DB
	led *ledger.Ledger
}

func (e *benchEnv) close() {
	for _, n := range e.nodes {
		n.led.Close()
		n.db.Close()
	}
	if e.led != nil {
		e.led.Close()
	}
	if e.db != nil {
		e.db.Close()
	}
	os.RemoveAll(e.dir)
}

func newBenchEnv(ctx context.Context, database string) (*benchEnv, error) {
	e := &benchEnv{}
	var err error
	if e.dir, err = os.MkdirTemp("", "kassa-bench-"); err != nil {
		return nil, err
	}
	if e.db, err = sqlstore.Open(ctx, sqlstore.Config{DataDir: e.dir, DatabaseURL: database}); err != nil {
		e.close()
		return nil, err
	}
	skey, err := ledgerKey(e.dir, "", "kassa.bench/ledger")
	if err != nil {
		e.close()
		return nil, err
	}
	if e.verify, err = ledger.VerifierKeyFor(skey); err != nil {
		e.close()
		return nil, err
	}
	e.skey = skey
	if e.led, err = e.newLedger(e.db); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *benchEnv) newLedger(db *sqlstore.DB) (*ledger.Ledger, error) {
	return ledger.New(ledger.Config{
		Store: newLedgerStore(db), SignerKey: e.skey,
		Logger: slog.New(slog.DiscardHandler),
		OnCommit: func(leaves int, d time.Duration) {
			e.commits.Add(1)
			e.leaves.Add(int64(leaves))
		},
	})
}

// addNodes opens n more nodes on database.
func (e *benchEnv) addNodes(ctx context.Context, database string, n int) error {
	for range n {
		db, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: e.dir, DatabaseURL: database})
		if err != nil {
			return err
		}
		led, err := e.newLedger(db)
		if err != nil {
			db.Close()
			return err
		}
		e.nodes = append(e.nodes, benchNode{db: db, led: led})
	}
	return nil
}

// createAccounts makes n accounts of owner, ids "a0".."a{n-1}"; the
// source accounts may go negative, so any random transfer succeeds.
func (e *benchEnv) createAccounts(ctx context.Context, owner string, n int) error {
	for start := 0; start < n; start += ledger.TransfersPerCallMax {
		end := min(n, start+ledger.TransfersPerCallMax)
		accts := make([]ledger.Account, 0, end-start)
		for i := start; i < end; i++ {
			accts = append(accts, ledger.Account{ID: "a" + strconv.Itoa(i), Currency: "EUR", Code: 1})
		}
		res, err := e.led.CreateAccounts(ctx, owner, accts)
		if err != nil {
			return err
		}
		for i, r := range res {
			if r.Code != ledger.OK {
				return fmt.Errorf("create account %s: %s", accts[i].ID, r.Code)
			}
		}
	}
	return nil
}

// pair picks the accounts of one transfer.
func pair(r *rand.Rand, accounts int, hot bool) (debit, credit int) {
	if hot {
		return 1 + r.IntN(accounts-1), 0
	}
	debit = r.IntN(accounts)
	credit = r.IntN(accounts - 1)
	if credit >= debit {
		credit++
	}
	return debit, credit
}

func runLedgerBench(ctx context.Context, cfg benchLedgerConfig, stderr io.Writer) (BenchLedgerResult, error) {
	res := BenchLedgerResult{Backend: "sqlite", Mode: "batched", Accounts: cfg.accounts, Hot: cfg.hot,
		Batch: cfg.batch, Concurrency: cfg.concurrency, Nodes: cfg.nodes, GoMaxProcs: runtimeProcs()}
	if cfg.database != "" {
		res.Backend = "postgres"
	}
	if cfg.http {
		res.Mode, res.Batch = "http", 1
	}
	env, err := newBenchEnv(ctx, cfg.database)
	if err != nil {
		return res, err
	}
	defer env.close()
	// A fresh owner per run keeps runs against one scratch database apart.
	owner := id.New("mer")
	var lat latencies
	var transfers, errs, refused atomic.Int64
	var call func(ctx context.Context, worker int, seq *int, r *rand.Rand) error
	var h *httpBench
	if cfg.http {
		h, err = newHTTPBench(ctx, env, cfg)
		if err != nil {
			return res, err
		}
		defer h.close()
		owner = h.merchant
		call = h.call(cfg, &transfers, &refused)
	} else {
		call = func(ctx context.Context, worker int, seq *int, r *rand.Rand) error {
			ts := make([]ledger.Transfer, cfg.batch)
			for i := range ts {
				d, c := pair(r, cfg.accounts, cfg.hot)
				*seq++
				ts[i] = ledger.Transfer{ID: "w" + strconv.Itoa(worker) + "-" + strconv.Itoa(*seq),
					DebitAccountID: "a" + strconv.Itoa(d), CreditAccountID: "a" + strconv.Itoa(c),
					Amount: money.Amount(1 + r.IntN(10_000)), Currency: "EUR", Code: 1}
			}
			results, err := env.led.CreateTransfers(ctx, owner, ts)
			if err != nil {
				return err
			}
			for _, r := range results {
				if r.Code == ledger.OK {
					transfers.Add(1)
				} else {
					refused.Add(1)
				}
			}
			return nil
		}
	}
	if err := env.createAccounts(ctx, owner, cfg.accounts); err != nil {
		return res, err
	}
	c0, l0 := env.commits.Load(), env.leaves.Load()
	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.concurrency {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 42))
			seq := 0
			for runCtx.Err() == nil {
				t0 := time.Now()
				err := call(runCtx, w, &seq, r)
				if err != nil {
					if runCtx.Err() == nil {
						if errs.Add(1) == 1 {
							fmt.Fprintf(stderr, "bench: first error: %v\n", err)
						}
					}
					continue
				}
				lat.add(time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.DurationSeconds = elapsed.Seconds()
	res.Transfers = transfers.Load()
	res.Errors, res.Refused = errs.Load(), refused.Load()
	res.TransfersPerSec = float64(res.Transfers) / elapsed.Seconds()
	res.P50ms, res.P99ms = lat.percentile(0.50), lat.percentile(0.99)
	if res.Commits = env.commits.Load() - c0; res.Commits > 0 {
		res.BatchSizeAvg = float64(env.leaves.Load()-l0) / float64(res.Commits)
	}
	if h != nil {
		// Every acknowledged transfer must be in the database, whichever
		// node answered it.
		if res.Acknowledged, res.Missing, err = missingTransfers(ctx, env.db, owner, h.acked); err != nil {
			return res, err
		}
		if res.Missing > 0 {
			return res, fmt.Errorf("%d of %d acknowledged transfers are not in the ledger", res.Missing, res.Acknowledged)
		}
	}
	if cfg.verify {
		for _, n := range env.nodes {
			n.led.Close()
		}
		env.led.Close()
		t0 := time.Now()
		sum, err := ledger.Verify(ctx, newLedgerStore(env.db), env.verify)
		if err != nil {
			return res, fmt.Errorf("verify after the run: %w", err)
		}
		res.VerifyLeaves = sum.Leaves
		res.VerifyPerSec = float64(sum.Leaves) / time.Since(t0).Seconds()
	}
	return res, nil
}

// missingTransfers counts the ids of owner's transfers not in the
// database.
func missingTransfers(ctx context.Context, db *sqlstore.DB, owner string, ids []string) (checked, missing int64, err error) {
	rows, err := db.QueryContext(ctx, `SELECT id FROM ledger_transfers WHERE owner = ?`, owner)
	if err != nil {
		return 0, 0, fmt.Errorf("list transfers: %w", err)
	}
	defer rows.Close()
	stored := make(map[string]struct{}, len(ids))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return 0, 0, err
		}
		stored[id] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	for _, id := range ids {
		if _, ok := stored[id]; !ok {
			missing++
		}
	}
	return int64(len(ids)), missing, nil
}

// latencies collects call durations for percentiles.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	if len(l.d) < benchLatenciesMax {
		l.d = append(l.d, d)
	}
	l.mu.Unlock()
}

func (l *latencies) percentile(p float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return percentileMs(l.d, p)
}

// httpBench is an in-process Kassa API over TLS 1.3 on loopback.
type httpBench struct {
	mu       sync.Mutex
	acked    []string // ids of transfers answered ok, up to benchLatenciesMax
	srvs     []*http.Server
	bases    []string
	key      string
	merchant string
	client   *http.Client
}

func newHTTPBench(ctx context.Context, env *benchEnv, cfg benchLedgerConfig) (*httpBench, error) {
	merchants := merchant.NewService(sqlstore.NewMerchants(env.db), nil, id.Generator{})
	m, err := merchants.Create(ctx, "Bench")
	if err != nil {
		return nil, err
	}
	cert, _, _, err := tlsutil.LoadOrCreate(env.dir)
	if err != nil {
		return nil, err
	}
	if err := env.addNodes(ctx, cfg.database, cfg.nodes-1); err != nil {
		return nil, err
	}
	h := &httpBench{key: m.SecretKey, merchant: m.ID}
	nodes := append([]benchNode{{db: env.db, led: env.led}}, env.nodes...)
	for _, n := range nodes {
		api := httpapi.New(httpapi.Config{Merchants: merchant.NewService(sqlstore.NewMerchants(n.db), nil, id.Generator{}),
			DB: n.db, Ledger: n.led, Registry: prometheus.NewRegistry(), RateLimit: -1})
		srv, base, err := serveBench(api, tlsutil.ServerConfig(cert), slog.New(slog.DiscardHandler))
		if err != nil {
			h.close()
			return nil, err
		}
		h.srvs, h.bases = append(h.srvs, srv), append(h.bases, base)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	h.client = benchClient(roots, cfg.concurrency)
	return h, nil
}

func (h *httpBench) close() {
	for _, srv := range h.srvs {
		srv.Close()
	}
}

func (h *httpBench) call(cfg benchLedgerConfig, transfers, refused *atomic.Int64) func(context.Context, int, *int, *rand.Rand) error {
	return func(ctx context.Context, worker int, seq *int, r *rand.Rand) error {
		d, c := pair(r, cfg.accounts, cfg.hot)
		*seq++
		body := fmt.Sprintf(`{"transfers":[{"id":"w%d-%d","debit_account_id":"a%d","credit_account_id":"a%d","amount":%d,"currency":"EUR","code":1}]}`,
			worker, *seq, d, c, 1+r.IntN(10_000))
		// Client w talks to node w mod N, as a proxy spreading
		// connections would.
		base := h.bases[worker%len(h.bases)]
		req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/ledger/transfers", bytes.NewReader([]byte(body)))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+h.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := h.client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out struct {
			Results []struct{ Result string } `json:"results"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return err
		}
		if resp.StatusCode != 200 || len(out.Results) != 1 {
			return errors.New("status " + resp.Status)
		}
		if out.Results[0].Result == "ok" {
			transfers.Add(1)
			h.mu.Lock()
			if len(h.acked) < benchLatenciesMax {
				h.acked = append(h.acked, fmt.Sprintf("w%d-%d", worker, *seq))
			}
			h.mu.Unlock()
		} else {
			refused.Add(1)
		}
		return nil
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// startCPUProfile profiles the process into file until stop is called
// (nothing when file is empty).
func startCPUProfile(file string) (stop func(), err error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
