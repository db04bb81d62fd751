package risk_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
)

// countingRisk is a risk store that counts what the writer sends it.
type countingRisk struct {
	*sqlstore.Risk
	mu       sync.Mutex
	inserted map[string]risk.Evaluation
	updates  int // outcomes sent to SetOutcomes
}

func (s *countingRisk) InsertEvaluations(ctx context.Context, evs []risk.Evaluation) error {
	s.mu.Lock()
	for _, ev := range evs {
		s.inserted[ev.ID] = ev
	}
	s.mu.Unlock()
	return s.Risk.InsertEvaluations(ctx, evs)
}

func (s *countingRisk) SetOutcomes(ctx context.Context, outs []risk.OutcomeUpdate) error {
	s.mu.Lock()
	s.updates += len(outs)
	s.mu.Unlock()
	return s.Risk.SetOutcomes(ctx, outs)
}

// TestWriterStoresOutcomeOnce: payments score many attempts at once and
// report each outcome right after; every evaluation is written once, with
// its outcome, and no outcome is written as an update. An evaluation
// whose outcome does not come is written without it when its hold ends,
// and its late outcome as an update.
func TestWriterStoresOutcomeOnce(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m, err := merchant.NewService(sqlstore.NewMerchants(db), nil, id.Generator{}).Create(ctx, "Shop")
	if err != nil {
		t.Fatal(err)
	}
	store := &countingRisk{Risk: sqlstore.NewRisk(db), inserted: map[string]risk.Evaluation{}}
	eng, err := risk.NewEngine(risk.Config{Store: store, Node: "n1", DefaultModel: risk.DefaultModel, IDs: id.Generator{}})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	if err := eng.Start(rctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); eng.Close() })

	now := time.Now().UTC()
	const payers = 64
	ids := make([]string, payers)
	var wg sync.WaitGroup
	for i := range payers {
		wg.Go(func() {
			ev, err := eng.Evaluate(ctx, risk.Input{Event: legit(m.ID, i, now)}, false)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = ev.ID
			if err := eng.RecordOutcome(ctx, m.ID, ev.ID, risk.OutcomeApproved); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	for _, id := range ids {
		if ev, ok := store.inserted[id]; !ok || ev.Outcome != risk.OutcomeApproved || ev.OutcomeNode != "n1" || ev.OutcomeAt.IsZero() {
			t.Errorf("evaluation %s written as %+v (%v), want it with its outcome", id, ev.Outcome, ok)
		}
	}
	if store.updates != 0 {
		t.Errorf("%d outcomes written as updates, want 0", store.updates)
	}
	store.mu.Unlock()
	for _, id := range ids {
		if got, err := eng.Evaluation(ctx, m.ID, id); err != nil || got.Outcome != risk.OutcomeApproved {
			t.Errorf("stored evaluation %s: %q, %v", id, got.Outcome, err)
		}
	}

	// No outcome: written when the hold ends, with no flush asked for.
	late, err := eng.Evaluate(ctx, risk.Input{Event: legit(m.ID, 99, now)}, false)
	if err != nil {
		t.Fatal(err)
	}
	for {
		store.mu.Lock()
		ev, ok := store.inserted[late.ID]
		store.mu.Unlock()
		if ok {
			if ev.Outcome != "" {
				t.Errorf("written with outcome %q, want none", ev.Outcome)
			}
			break
		}
		time.Sleep(10 * time.Millisecond) // the hold is a second; the test's own deadline bounds this
	}
	if err := eng.RecordOutcome(ctx, m.ID, late.ID, risk.OutcomeDeclined); err != nil {
		t.Fatal(err)
	}
	if got, err := eng.Evaluation(ctx, m.ID, late.ID); err != nil || got.Outcome != risk.OutcomeDeclined {
		t.Errorf("late outcome: %q, %v", got.Outcome, err)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.updates != 1 {
		t.Errorf("%d outcomes written as updates, want the late one", store.updates)
	}
}
