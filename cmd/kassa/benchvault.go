package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
)

// Limits of the vault benchmark.
const (
	benchVaultConcurrencyMax = 4096
	benchVaultSamplesMax     = 1_000_000 // latency samples kept per phase
)

// BenchVaultResult is what kassa bench vault prints. p50_us and p99_us
// are tokenization's (the write path); the detokenize_ fields are the
// read path's.
type BenchVaultResult struct {
	Backend           string  `json:"backend"`
	Concurrency       int     `json:"concurrency"` // tokenizing callers
	DetokenizeCallers int     `json:"detokenize_concurrency"`
	DurationSeconds   float64 `json:"duration_s"` // of each phase
	Tokenized         int64   `json:"tokenized"`
	TokenizePerSec    float64 `json:"tokenize_per_sec"`
	Detokenized       int64   `json:"detokenized"`
	DetokenizePerSec  float64 `json:"detokenize_per_sec"`
	P50us             float64 `json:"p50_us"`
	P99us             float64 `json:"p99_us"`
	DetokenizeP50us   float64 `json:"detokenize_p50_us"`
	DetokenizeP99us   float64 `json:"detokenize_p99_us"`
	Errors            int64   `json:"errors"`
	GoMaxProcs        int     `json:"gomaxprocs"`
}

func benchVault(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var (
		database    string
		duration    time.Duration
		concurrency int
		readers     int
		asJSON      bool
		cpuProfile  string
	)
	fs := newFlagSet("bench vault", "bench vault [flags]", stderr)
	fs.StringVar(&database, "database", "", "PostgreSQL `URL` of a scratch database; empty uses a fresh SQLite in a temp directory")
	fs.DurationVar(&duration, "duration", 5*time.Second, "how long to measure each phase (tokenize, then detokenize)")
	fs.IntVar(&concurrency, "concurrency", 512, "concurrent tokenizing callers; tokenizations waiting together share one durable commit")
	fs.IntVar(&readers, "detokenize-concurrency", 32, "concurrent detokenizing callers")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of both phases to `file`")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	switch {
	case concurrency < 1 || concurrency > benchVaultConcurrencyMax || readers < 1 || readers > benchVaultConcurrencyMax:
		return usagef("--concurrency and --detokenize-concurrency must be 1..%d", benchVaultConcurrencyMax)
	case duration <= 0 || duration > time.Hour:
		return usagef("--duration must be positive and at most 1h")
	}
	dir, err := os.MkdirTemp("", "kassa-bench-vault-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := sqlstore.Open(ctx, sqlstore.Config{DatabaseURL: database, DataDir: dir})
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := merchant.NewService(sqlstore.NewMerchants(db), nil, id.Generator{}).Create(ctx, "Vault bench")
	if err != nil {
		return err
	}
	keys, err := vault.OpenKeyFile(filepath.Join(dir, vaultKEKFile))
	if err != nil {
		return err
	}
	svc, err := vault.New(vault.Config{Store: sqlstore.NewVault(db), Keys: keys,
		FingerprintKey: []byte("kassa bench vault fingerprint key")})
	if err != nil {
		return err
	}
	defer svc.Close()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res := BenchVaultResult{Backend: db.Dialect().String(), Concurrency: concurrency, DetokenizeCallers: readers,
		DurationSeconds: duration.Seconds(), GoMaxProcs: runtime.GOMAXPROCS(0)}
	pans := []string{"4242424242424242", "5555555555554444", "2223003122003222", "6011111111111117", "3566002020360505"}
	var mu sync.Mutex
	var ids []string
	tok := runVaultPhase(ctx, concurrency, duration, func(w, i int) error {
		t, err := svc.Tokenize(ctx, m.ID, vault.CardInput{Number: pans[(w+i)%len(pans)], ExpMonth: 12, ExpYear: 2030, CVC: "737"})
		if err == nil && i%4 == 0 {
			mu.Lock()
			if len(ids) < benchVaultSamplesMax {
				ids = append(ids, t.ID)
			}
			mu.Unlock()
		}
		return err
	})
	if len(ids) == 0 {
		return fmt.Errorf("no token was made (%d errors)", tok.errors)
	}
	detok := runVaultPhase(ctx, readers, duration, func(w, i int) error {
		_, _, err := svc.Detokenize(ctx, ids[rand.N(len(ids))])
		return err
	})
	res.Tokenized, res.TokenizePerSec, res.P50us, res.P99us = tok.count, tok.perSec, tok.p50, tok.p99
	res.Detokenized, res.DetokenizePerSec, res.DetokenizeP50us, res.DetokenizeP99us = detok.count, detok.perSec, detok.p50, detok.p99
	res.Errors = tok.errors + detok.errors
	if asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "%s: tokenize %.0f/s with %d callers (p50 %.0f µs, p99 %.0f µs), detokenize %.0f/s with %d callers (p50 %.0f µs, p99 %.0f µs), %d errors\n",
		res.Backend, res.TokenizePerSec, concurrency, res.P50us, res.P99us, res.DetokenizePerSec, readers, res.DetokenizeP50us, res.DetokenizeP99us, res.Errors)
	return nil
}

type vaultPhase struct {
	count, errors int64
	perSec        float64
	p50, p99      float64 // µs
}

// runVaultPhase calls op from concurrency goroutines for d.
func runVaultPhase(ctx context.Context, concurrency int, d time.Duration, op func(worker, i int) error) vaultPhase {
	var count, errs atomic.Int64
	samples := make([][]time.Duration, concurrency)
	perWorker := max(1, benchVaultSamplesMax/concurrency)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				if err := op(w, i); err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				count.Add(1)
				if len(samples[w]) < perWorker {
					samples[w] = append(samples[w], time.Since(t0))
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(samples...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds())
	}
	return vaultPhase{count: count.Load(), errors: errs.Load(), perSec: float64(count.Load()) / elapsed.Seconds(),
		p50: pct(0.50), p99: pct(0.99)}
}
