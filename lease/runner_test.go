package lease_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa/lease"
	"github.com/kassa/kassa/store/sqlstore"
)

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two nodes run one job: one at a time, and when the holder stops, the
// other takes the job over.
func TestRunnerOneAtATimeAndHandOver(t *testing.T) {
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var inFlight atomic.Int32
	var overlap atomic.Bool
	runs := map[string]*atomic.Int64{"a": {}, "b": {}}
	var fences sync.Map
	stopped := map[string]*atomic.Int32{"a": {}, "b": {}}
	newRunner := func(holder string) *lease.Runner {
		r, err := lease.NewRunner(lease.Config{Store: sqlstore.NewLeases(db), Holder: holder, TTL: 300 * time.Millisecond,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		r.Add(lease.Job{Name: "sweep", Interval: 5 * time.Millisecond, Run: func(ctx context.Context) error {
			if inFlight.Add(1) > 1 {
				overlap.Store(true)
			}
			defer inFlight.Add(-1)
			f, ok := lease.FenceFrom(ctx)
			if !ok || f.Holder != holder || f.Job != "sweep" {
				t.Errorf("job ran without its fence: %+v", f)
			}
			fences.Store(f, true)
			runs[holder].Add(1)
			return nil
		}, Stopped: func() { stopped[holder].Add(1) }})
		return r
	}
	actx, stopA := context.WithCancel(context.Background())
	a, b := newRunner("a"), newRunner("b")
	aDone := make(chan struct{})
	go func() { defer close(aDone); a.Run(actx) }()
	waitFor(t, "a to run the job", func() bool { return runs["a"].Load() > 0 })
	bctx, stopB := context.WithCancel(context.Background())
	bDone := make(chan struct{})
	go func() { defer close(bDone); b.Run(bctx) }()
	// b competes while a holds the lease; a keeps renewing it.
	waitFor(t, "a to run the job 30 more times", func() bool { return runs["a"].Load() > 30 })
	if n := runs["b"].Load(); n != 0 {
		t.Fatalf("b ran the job %d times while a held its lease", n)
	}
	stopA()
	<-aDone
	ranA := runs["a"].Load()
	if n := stopped["a"].Load(); n != 1 {
		t.Errorf("a's Stopped ran %d times after its stop, want 1", n)
	}
	waitFor(t, "b to take the job over", func() bool { return runs["b"].Load() > 0 })
	stopB()
	<-bDone
	if got := runs["a"].Load(); got != ranA {
		t.Errorf("a ran the job after it stopped (%d → %d)", ranA, got)
	}
	if overlap.Load() {
		t.Error("the job ran on two nodes at once")
	}
	epochs := map[int64]bool{}
	fences.Range(func(k, _ any) bool { epochs[k.(lease.Fence).Epoch] = true; return true })
	if len(epochs) != 2 {
		t.Errorf("fences seen at epochs %v, want two (a's, then b's)", epochs)
	}
}
