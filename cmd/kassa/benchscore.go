package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/risk/sim"
	"github.com/kassa/kassa/store/sqlstore"
)

// BenchScoreResult is what kassa bench score prints.
type BenchScoreResult struct {
	Decisions       int     `json:"decisions"`
	Concurrency     int     `json:"concurrency"`
	Rate            float64 `json:"offered_rate,omitempty"`
	WarmEvents      int     `json:"warm_events"`
	Entities        int     `json:"entities"`
	Model           string  `json:"model"`
	P50us           float64 `json:"p50_us"`
	P99us           float64 `json:"p99_us"`
	MaxUs           float64 `json:"max_us"`
	DecisionsPerSec float64 `json:"decisions_per_sec"`
	GoMaxProcs      int     `json:"gomaxprocs"`
}

// benchScore measures in-process risk decisions with warm features: the
// engine as kassa serve runs it (evaluations written in the background
// to a fresh SQLite database), fed the simulator's attempts.
func benchScore(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench score", "bench score [--decisions N] [--concurrency N] [--warm-payers N] [--json]", stderr)
	decisions := fs.Int("decisions", 200_000, "decisions to time")
	concurrency := fs.Int("concurrency", 1, "concurrent callers (more than GOMAXPROCS-1 measures the CPU queue: the background writer needs a core too)")
	warmPayers := fs.Int("warm-payers", 5_000, "payers of the simulated history that warms the features (30 days)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the timed run to `file`")
	rate := fs.Float64("rate", 0, "offered load in decisions/s, paced; latency counts from each decision's scheduled time (0: as fast as the callers go)")
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if *decisions <= 0 || *decisions > benchLatenciesMax || *concurrency <= 0 || *concurrency > benchConcurrencyMax || *warmPayers < 1 || *rate < 0 {
		return usagef("--decisions must be 1..%d, --concurrency 1..%d, --warm-payers at least 1", benchLatenciesMax, benchConcurrencyMax)
	}
	dir, err := os.MkdirTemp("", "kassa-benchscore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := sqlstore.OpenSQLite(ctx, dir)
	if err != nil {
		return err
	}
	defer db.Close()
	eng, err := risk.NewEngine(risk.Config{Store: sqlstore.NewRisk(db), Node: "bench", DefaultModel: risk.DefaultModel,
		IDs: id.Generator{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ectx, stop := context.WithCancel(ctx)
	if err := eng.Start(ectx); err != nil {
		stop()
		return err
	}
	defer func() { stop(); eng.Close() }()

	// One simulated population: its first benchScoreWarmDays warm the
	// features, and the attempts the same payers make after them are
	// timed, each once.
	res := BenchScoreResult{Decisions: *decisions, Concurrency: *concurrency, Rate: *rate, GoMaxProcs: runtime.GOMAXPROCS(0)}
	timed, err := scoreWarm(ctx, eng, *warmPayers, *decisions, &res)
	if err != nil {
		return err
	}
	res.Entities = eng.FeatureEntities()
	res.Model, _ = eng.ActiveModel()

	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	lat := make([]time.Duration, len(timed))
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	var interval time.Duration
	if *rate > 0 {
		interval = time.Duration(float64(time.Second) / *rate)
	}
	for w := range *concurrency {
		wg.Go(func() {
			for i := w; i < len(timed); i += *concurrency {
				if interval > 0 {
					// Paced: decision i is due at start + i·interval. The
					// latency is the call's own (the timer's wake-up slop on
					// this VM, up to a millisecond, is the harness's, not
					// the engine's); at rates well below capacity no queue
					// forms, so nothing is omitted.
					if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
						time.Sleep(d)
					}
				}
				t0 := time.Now()
				_, err := eng.Evaluate(ctx, risk.Input{Event: timed[i]}, false)
				lat[i] = time.Since(t0)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProfile()
	if firstErr != nil {
		return firstErr
	}
	slices.Sort(lat)
	us := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Nanoseconds()) / 1000
	}
	res.P50us, res.P99us, res.MaxUs = us(0.50), us(0.99), float64(lat[len(lat)-1].Nanoseconds())/1000
	res.DecisionsPerSec = float64(len(lat)) / elapsed.Seconds()
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "risk decisions: %d with %d callers, features warmed by %d events (%d entities), model %s\n",
		res.Decisions, res.Concurrency, res.WarmEvents, res.Entities, res.Model)
	fmt.Fprintf(stdout, "p50 %.1f µs  p99 %.1f µs  max %.1f µs  %.0f decisions/s\n", res.P50us, res.P99us, res.MaxUs, res.DecisionsPerSec)
	return nil
}

// benchScoreWarmDays is the history that warms the features.
const benchScoreWarmDays = 30

// errScoreEnough stops the simulation once the timed attempts are made.
var errScoreEnough = errors.New("enough attempts")

// scoreWarm simulates payers for benchScoreWarmDays and then for as many
// days more as it takes them to make decisions attempts: the first part
// warms eng's features, the rest (outcomes and labels removed) is
// returned to be timed. A first pass counts the attempts a day, so that
// the second simulates days enough; no attempt is timed twice.
func scoreWarm(ctx context.Context, eng *risk.Engine, payers, decisions int, res *BenchScoreResult) ([]risk.Event, error) {
	perDay := 0
	err := sim.Generate(ctx, sim.Config{Seed: 11, Payers: payers, Days: benchScoreWarmDays}, func(*risk.Event) error {
		perDay++
		return nil
	})
	if err != nil {
		return nil, err
	}
	perDay = max(1, perDay/benchScoreWarmDays)
	extra := decisions/perDay + decisions/(4*perDay) + 2 // a quarter to spare
	if benchScoreWarmDays+extra > benchScoreDaysMax {
		return nil, usagef("%d payers make about %d attempts a day: too few for %d decisions; give more --warm-payers", payers, perDay, decisions)
	}
	cfg := sim.Config{Seed: 11, Payers: payers, Days: benchScoreWarmDays + extra}
	cutoff := sim.DefaultStart.Add(benchScoreWarmDays * 24 * time.Hour)
	timed := make([]risk.Event, 0, decisions)
	err = sim.Generate(ctx, cfg, func(ev *risk.Event) error {
		if ev.Time.Before(cutoff) {
			eng.Observe(ev)
			res.WarmEvents++
			return nil
		}
		e := *ev
		e.Outcome, e.Label, e.FraudType = "", "", ""
		if timed = append(timed, e); len(timed) == decisions {
			return errScoreEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errScoreEnough) {
		return nil, err
	}
	if len(timed) < decisions {
		return nil, fmt.Errorf("the simulation made %d attempts after the warm-up, fewer than --decisions %d; give more --warm-payers", len(timed), decisions)
	}
	return timed, nil
}

// benchScoreDaysMax bounds the simulated days (sim's own limit is 3,660).
const benchScoreDaysMax = 3660
