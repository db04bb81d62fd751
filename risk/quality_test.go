package risk_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/risk/model"
	"github.com/kassa/kassa/risk/sim"
)

// simulate replays a simulated stream the way kassa model train does,
// into a dataset of names.
func simulate(t *testing.T, cfg sim.Config, names []string) (*model.Dataset, []risk.Scored) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := sim.WriteJSONL(context.Background(), cfg, &buf); err != nil {
		t.Fatal(err)
	}
	ds, rows, err := risk.ReadLabelled(&buf, names)
	if err != nil {
		t.Fatal(err)
	}
	return ds, rows
}

// assess scores rows with m (bound to names) and measures them.
func assess(m *model.Model, ds *model.Dataset, rows []risk.Scored) risk.Assessment {
	bm := risk.BindModel(m)
	full := make([]float32, risk.FeatureCount)
	idx := make([]int, len(ds.Names))
	for i, n := range ds.Names {
		idx[i], _ = risk.FeatureIndex(n)
	}
	for i := range rows {
		for j, k := range idx {
			full[k] = ds.Row(i)[j]
		}
		rows[i].Score = bm.Probability(full)
	}
	return risk.Assess(rows, 0.5)
}

func concat(a, b *model.Dataset) *model.Dataset {
	return &model.Dataset{Names: a.Names, X: append(a.X, b.X...), Y: append(a.Y, b.Y...)}
}

// logAssessment writes what kassa model evaluate prints, compactly.
func logAssessment(t *testing.T, name string, a risk.Assessment) {
	t.Helper()
	t.Logf("%s: AUPRC %.3f, ROC AUC %.3f, recall %.3f at 1%% FPR, Brier %.5f; %d fraud, %d legit",
		name, a.AUPRC, a.ROCAUC, a.RecallAt1PctFPR, a.Brier, a.Positives, a.Negatives)
	for k, r := range a.FraudTypes {
		t.Logf("  %-18s recall %.2f (%d of %d)", k, r.Rate, r.Flagged, r.Count)
	}
	for k, r := range a.Segments {
		t.Logf("  %-20s FPR %.4f (%d of %d)", k, r.Rate, r.Flagged, r.Count)
	}
}

// The targets of issue 16, on a small configuration: a GBDT trained with
// kassa model train's settings on two worlds, and judged on a third that
// was used for neither training nor tuning (TrainDefaults were chosen on
// world 5; worlds 6–8 are docs/benchmarks.md's). Nothing here knows the
// answer: the worlds draw their own fraud mix, behaviour, adaptive fraud,
// look-alikes and label noise, so the test fails when a change to the
// simulator, the features or the trainer makes the model not carry over.
func TestModelGeneralisesAcrossWorlds(t *testing.T) {
	names := risk.ModelFeatureNames
	// Training worlds get more fraud than is realistic, to have enough to
	// learn from in a test's time; the held-out world keeps 1%.
	a, _ := simulate(t, sim.Config{World: 1, Seed: 11, Payers: 1500, Days: 14, FraudRate: 0.02}, names)
	b, _ := simulate(t, sim.Config{World: 2, Seed: 12, Payers: 1500, Days: 14, FraudRate: 0.02}, names)
	train := concat(a, b)
	held, rows := simulate(t, sim.Config{World: 9, Seed: 19, Payers: 3000, Days: 14, FraudRate: 0.01,
		Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}, names)

	cfg := risk.TrainDefaults
	cfg.Seed = 1
	gbdt, err := model.TrainGBDT(train, cfg)
	if err != nil {
		t.Fatal(err)
	}
	logistic, err := model.TrainLogistic(train, model.LogisticConfig{})
	if err != nil {
		t.Fatal(err)
	}
	g := assess(gbdt, held, rows)
	l := assess(logistic, held, rows)
	logAssessment(t, "GBDT on world 9", g)
	t.Logf("logistic on world 9: AUPRC %.3f, ROC AUC %.3f, recall %.3f at 1%% FPR", l.AUPRC, l.ROCAUC, l.RecallAt1PctFPR)
	if g.Positives < 200 {
		t.Fatalf("only %d fraudulent attempts held out", g.Positives)
	}
	if g.AUPRC < 0.80 {
		t.Errorf("GBDT AUPRC %.3f < 0.80 on a world it never saw", g.AUPRC)
	}
	if g.RecallAt1PctFPR < 0.80 {
		t.Errorf("GBDT recall %.3f < 0.80 at 1%% FPR", g.RecallAt1PctFPR)
	}
	if g.AUPRC <= l.AUPRC {
		t.Errorf("GBDT AUPRC %.3f is not above the logistic baseline's %.3f", g.AUPRC, l.AUPRC)
	}
	for k, r := range g.FraudTypes {
		if k != sim.FriendlyFraud && r.Count >= 10 && r.Rate < 0.5 {
			t.Errorf("recall of %s %.2f < 0.5 (%d of %d)", k, r.Rate, r.Flagged, r.Count)
		}
	}
	// Issue 16 asks for FPR ≤ 1.5% on every legitimate segment. That is
	// not met yet: at 1% FPR overall, first-time customers (~3%), pasted
	// details (~2%) and travellers (~2%) carry more than their share
	// (docs/risk.md, the model card, shows where: mostly new accounts'
	// first deposits at operators). The test holds the line where it is,
	// so that it cannot get worse unnoticed, and logs the gap.
	for k, r := range g.Segments {
		if r.Count < 500 {
			continue
		}
		if r.Rate > 0.015 {
			t.Logf("FPR on %s %.4f is above the 1.5%% target (%d of %d)", k, r.Rate, r.Flagged, r.Count)
		}
		if r.Rate > 0.04 {
			t.Errorf("FPR on %s %.4f > 4%% (%d of %d)", k, r.Rate, r.Flagged, r.Count)
		}
	}

	// The built-in model, trained on worlds 1–4 with the same settings,
	// holds on world 9 too.
	def, err := model.Load(bytes.NewReader(risk.DefaultModel))
	if err != nil {
		t.Fatal(err)
	}
	d := assess(def, held, rows)
	logAssessment(t, "built-in model on world 9", d)
	if d.AUPRC < 0.80 || d.RecallAt1PctFPR < 0.80 {
		t.Errorf("the built-in model on world 9: AUPRC %.3f, recall %.3f at 1%% FPR", d.AUPRC, d.RecallAt1PctFPR)
	}
}
