package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults and limits of a Runner.
const (
	// TTLDefault is how long a lease lasts without renewal: a dead
	// node's jobs move within about TTL plus a third of it.
	TTLDefault = 10 * time.Second
	ttlMin     = 100 * time.Millisecond
	// releaseTimeout bounds giving the leases back at shutdown.
	releaseTimeout = 5 * time.Second
	// jobCountMax bounds the jobs one Runner runs (a goroutine each).
	jobCountMax = 64
)

// Job is a background job run by one node at a time.
type Job struct {
	// Name identifies the job's lease; every node must use the same name
	// for the same job. It is a metric label: a fixed string.
	Name string
	// Interval between runs while the lease is held; the first run comes
	// as soon as the lease is taken.
	Interval time.Duration
	// Delay makes the first run come one Interval after the lease is
	// taken (for rounds too heavy to run at every start).
	Delay bool
	// Run does one round of the job. Its context carries the lease's
	// Fence (stores check it at write time) and ends when the lease is
	// lost or the Runner stops.
	Run func(ctx context.Context) error
	// Stopped, when set, is called after the job stopped on this node
	// because its lease was lost or given back: e.g. to clear a gauge
	// only the holder keeps up to date.
	Stopped func()
}

// Config of a Runner.
type Config struct {
	Store Store
	// Holder names this node in the leases (kassa serve's --node).
	Holder string
	// TTL of a lease; zero means TTLDefault. Renewals come every third
	// of it.
	TTL    time.Duration
	Logger *slog.Logger
}

// Runner runs the jobs added to it under leases.
type Runner struct {
	cfg     Config
	log     *slog.Logger
	mu      sync.Mutex
	jobs    []Job
	started bool
	held    *prometheus.GaugeVec
	runs    *prometheus.CounterVec
	takes   *prometheus.CounterVec
}

// NewRunner returns a Runner; add jobs, then Run it.
func NewRunner(cfg Config) (*Runner, error) {
	if cfg.Store == nil || cfg.Holder == "" {
		return nil, errors.New("lease: Config.Store and Config.Holder are required")
	}
	if cfg.TTL == 0 {
		cfg.TTL = TTLDefault
	}
	if cfg.TTL < ttlMin {
		return nil, fmt.Errorf("lease: TTL %s below %s", cfg.TTL, ttlMin)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg, log: cfg.Logger,
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kassa_job_lease_held",
			Help: "1 while this node holds the lease of the background job (so runs it), else 0."}, []string{"name"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kassa_job_runs_total",
			Help: "Rounds of leased background jobs this node ran, by job and result (ok, error)."}, []string{"name", "result"}),
		takes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kassa_job_lease_acquired_total",
			Help: "Leases of background jobs this node took (not renewals)."}, []string{"name"}),
	}, nil
}

// Collectors returns the Runner's metrics.
func (r *Runner) Collectors() []prometheus.Collector {
	return []prometheus.Collector{r.held, r.runs, r.takes}
}

// Add registers a job. Later issues' scheduled jobs (payouts,
// settlements) register here. It panics on a duplicate name, a bad job or
// an Add after Run started: those are programming errors.
func (r *Runner) Add(j Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		panic("lease: Add after Run")
	}
	if j.Name == "" || j.Run == nil || j.Interval <= 0 {
		panic("lease: a job needs a Name, a Run and a positive Interval")
	}
	if len(r.jobs) == jobCountMax {
		panic("lease: too many jobs")
	}
	for _, o := range r.jobs {
		if o.Name == j.Name {
			panic("lease: duplicate job " + j.Name)
		}
	}
	r.jobs = append(r.jobs, j)
	r.held.WithLabelValues(j.Name).Set(0)
}

// Jobs lists the names of the jobs added.
func (r *Runner) Jobs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, len(r.jobs))
	for i, j := range r.jobs {
		names[i] = j.Name
	}
	return names
}

// Run competes for every job's lease and runs the jobs whose lease it
// holds, until ctx ends; then it stops them and releases their leases,
// so other nodes take over at once. It returns when all that is done.
func (r *Runner) Run(ctx context.Context) {
	r.mu.Lock()
	r.started = true
	jobs := append([]Job(nil), r.jobs...)
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() { r.compete(ctx, j) })
	}
	wg.Wait()
}

// compete tries to take j's lease every third of the TTL and holds it
// while it can.
func (r *Runner) compete(ctx context.Context, j Job) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
		}
		start := time.Now()
		epoch, ok, err := r.cfg.Store.Acquire(ctx, j.Name, r.cfg.Holder, 0, r.cfg.TTL)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			r.log.Warn("job lease", "job", j.Name, "err", err)
		case ok:
			r.takes.WithLabelValues(j.Name).Inc()
			r.log.Info("job lease taken", "job", j.Name, "epoch", epoch)
			r.hold(ctx, j, epoch, start)
		}
		retry.Reset(r.cfg.TTL / 3)
	}
}

// hold runs j while the lease at epoch is this node's: it renews every
// third of the TTL and stops the job when a renewal is refused, or when
// the renewals failed for so long that the lease may have ended (measured
// on this node's monotonic clock from the start of the last successful
// renewal, which is no later than the database's grant).
func (r *Runner) hold(ctx context.Context, j Job, epoch int64, renewed time.Time) {
	r.held.WithLabelValues(j.Name).Set(1)
	defer r.held.WithLabelValues(j.Name).Set(0)
	f := Fence{Job: j.Name, Holder: r.cfg.Holder, Epoch: epoch}
	jctx, stop := context.WithCancel(WithFence(ctx, f))
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.loop(jctx, j)
	}()
	defer func() {
		stop()
		<-done
		if j.Stopped != nil {
			j.Stopped()
		}
	}()
	tick := time.NewTicker(r.cfg.TTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			stop()
			<-done
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
			defer cancel()
			if err := r.cfg.Store.Release(rctx, j.Name, r.cfg.Holder, epoch); err != nil {
				r.log.Warn("job lease release", "job", j.Name, "err", err)
			}
			return
		case <-tick.C:
		}
		start := time.Now()
		got, ok, err := r.cfg.Store.Acquire(ctx, j.Name, r.cfg.Holder, epoch, r.cfg.TTL)
		switch {
		case ctx.Err() != nil:
			continue // released above
		case err == nil && ok && got == epoch:
			renewed = start
		case err == nil:
			r.log.Warn("job lease lost to another node", "job", j.Name, "epoch", epoch)
			return
		case time.Since(renewed) >= r.cfg.TTL*2/3:
			r.log.Warn("job lease could not be renewed; stopping the job", "job", j.Name, "epoch", epoch, "err", err)
			return
		default:
			r.log.Warn("job lease renewal", "job", j.Name, "err", err)
		}
	}
}

// loop runs j at once (after one Interval with Delay) and then every
// Interval until ctx ends.
func (r *Runner) loop(ctx context.Context, j Job) {
	first := time.Duration(0)
	if j.Delay {
		first = j.Interval
	}
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := j.Run(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrLost):
			r.runs.WithLabelValues(j.Name, "error").Inc()
			r.log.Warn("job wrote after its lease was lost; the write was refused", "job", j.Name)
		case err != nil:
			r.runs.WithLabelValues(j.Name, "error").Inc()
			r.log.Error("job", "job", j.Name, "err", err)
		default:
			r.runs.WithLabelValues(j.Name, "ok").Inc()
		}
		t.Reset(j.Interval)
	}
}
