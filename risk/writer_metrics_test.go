package risk_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
)

// gaugeValue reads the gauge name from the engine's collectors.
func gaugeValue(t *testing.T, eng *risk.Engine, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(eng.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("the engine exports no %s", name)
	return 0
}

// heldRisk is a risk store whose InsertEvaluations, once held, tells
// entered and waits for release.
type heldRisk struct {
	*sqlstore.Risk
	hold    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (s *heldRisk) InsertEvaluations(ctx context.Context, evs []risk.Evaluation) error {
	if s.hold.Load() {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.Risk.InsertEvaluations(ctx, evs)
}

// The writer's backlog (kassa_risk_writer_queue_length) grows while its
// store hangs and falls to zero once it has written.
func TestWriterQueueGauge(t *testing.T) {
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
	store := &heldRisk{Risk: sqlstore.NewRisk(db), entered: make(chan struct{}), release: make(chan struct{})}
	eng, err := risk.NewEngine(risk.Config{Store: store, Node: "n1", DefaultModel: risk.DefaultModel, IDs: id.Generator{}})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	if err := eng.Start(rctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); eng.Close() })
	if got := gaugeValue(t, eng, "kassa_risk_writer_queue_capacity"); got <= 0 {
		t.Errorf("kassa_risk_writer_queue_capacity = %v, want > 0", got)
	}
	now := time.Now().UTC()
	store.hold.Store(true)
	if _, err := eng.Evaluate(ctx, risk.Input{Event: legit(m.ID, 0, now)}, false); err != nil {
		t.Fatal(err)
	}
	<-store.entered // the writer holds the first batch
	for i := 1; i <= 3; i++ {
		if _, err := eng.Evaluate(ctx, risk.Input{Event: legit(m.ID, i, now)}, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := gaugeValue(t, eng, "kassa_risk_writer_queue_length"); got != 3 {
		t.Errorf("kassa_risk_writer_queue_length = %v behind a hanging store, want 3", got)
	}
	store.hold.Store(false)
	close(store.release)
	if _, err := eng.Evaluate(ctx, risk.Input{Event: legit(m.ID, 9, now)}, true); err != nil {
		t.Fatal(err)
	}
	if got := gaugeValue(t, eng, "kassa_risk_writer_queue_length"); got != 0 {
		t.Errorf("kassa_risk_writer_queue_length = %v after a waited write, want 0", got)
	}
}

// The review backlog gauges count the open cases of every merchant and
// fall when a case is closed.
func TestReviewBacklogGauges(t *testing.T) {
	e := newEngine(t, t.TempDir(), "n1", nil)
	ctx := context.Background()
	if got := gaugeValue(t, e.eng, "kassa_risk_reviews_open"); got != 0 {
		t.Errorf("kassa_risk_reviews_open = %v with no cases, want 0", got)
	}
	ev := e.evaluate(legit(e.merchants[0], 1, e.now))
	c, err := e.eng.OpenReview(ctx, ev, "pay_1")
	if err != nil {
		t.Fatal(err)
	}
	if got := gaugeValue(t, e.eng, "kassa_risk_reviews_open"); got != 1 {
		t.Errorf("kassa_risk_reviews_open = %v with one open case, want 1", got)
	}
	if got := gaugeValue(t, e.eng, "kassa_risk_oldest_open_review_age_seconds"); got < 0 {
		t.Errorf("kassa_risk_oldest_open_review_age_seconds = %v, want >= 0", got)
	}
	// Closed in the store (the engine's CloseReview also labels the
	// payment's evaluations, which this attempt without a payment lacks).
	if err := e.store.CloseReview(ctx, c.ID, risk.ReviewApproved, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := gaugeValue(t, e.eng, "kassa_risk_reviews_open"); got != 0 {
		t.Errorf("kassa_risk_reviews_open = %v after closing the case, want 0", got)
	}
}
