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

// featurize simulates and replays a stream the way kassa model train does.
func featurize(t *testing.T, cfg sim.Config) *model.Dataset {
	t.Helper()
	var buf bytes.Buffer
	if _, err := sim.WriteJSONL(context.Background(), cfg, &buf); err != nil {
		t.Fatal(err)
	}
	ds := &model.Dataset{Names: risk.FeatureNames}
	err := risk.Featurize(&buf, risk.StateConfig{}, func(ev *risk.Event, x []float32) error {
		ds.X = append(ds.X, x...)
		y := float32(0)
		if ev.Label == risk.LabelFraud {
			y = 1
		}
		ds.Y = append(ds.Y, y)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func auprc(m *model.Model, ds *model.Dataset) model.Metrics {
	scores := make([]float64, ds.Rows())
	labels := make([]bool, ds.Rows())
	for i := range scores {
		scores[i] = m.Predict(ds.Row(i))
		labels[i] = ds.Y[i] > 0
	}
	return model.Evaluate(scores, labels, 0.5)
}

// The trained model separates fraud from legitimate attempts it never saw
// — other payers (another seed) in a later month — with AUPRC ≥ 0.90, and
// better than the logistic baseline: the whole path kassa model train and
// evaluate take (simulator → features → trainer → metrics).
func TestModelQualityOnHeldOutData(t *testing.T) {
	train := featurize(t, sim.Config{Seed: 1, Payers: 1500, Days: 14})
	held := featurize(t, sim.Config{Seed: 2, Payers: 1500, Days: 10, Start: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)})
	gbdt, err := model.TrainGBDT(train, model.GBDTConfig{Trees: 120, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	logistic, err := model.TrainLogistic(train, model.LogisticConfig{})
	if err != nil {
		t.Fatal(err)
	}
	g, l := auprc(gbdt, held), auprc(logistic, held)
	t.Logf("held out: %d attempts, %d fraud; GBDT AUPRC %.3f ROC AUC %.3f; logistic AUPRC %.3f ROC AUC %.3f",
		held.Rows(), g.Positives, g.AUPRC, g.ROCAUC, l.AUPRC, l.ROCAUC)
	if g.Positives < 100 {
		t.Fatalf("only %d fraudulent attempts held out", g.Positives)
	}
	if g.AUPRC < 0.90 {
		t.Errorf("GBDT AUPRC %.3f < 0.90", g.AUPRC)
	}
	if g.AUPRC <= l.AUPRC {
		t.Errorf("GBDT AUPRC %.3f is not above logistic's %.3f", g.AUPRC, l.AUPRC)
	}
	// The built-in model, trained on other seeds and more data, holds too.
	def, err := model.Load(bytes.NewReader(risk.DefaultModel))
	if err != nil {
		t.Fatal(err)
	}
	if d := auprc(def, held); d.AUPRC < 0.90 {
		t.Errorf("the built-in model's AUPRC on this held-out data is %.3f", d.AUPRC)
	}
}
