package model

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestGBDTLearnsInteractionsLogisticCannot(t *testing.T) {
	train := synthetic(20_000, 6, 1, 0.05, interaction)
	test := synthetic(10_000, 6, 2, 0.05, interaction)
	gbdt, err := TrainGBDT(train, GBDTConfig{Trees: 100, MaxDepth: 4, Seed: 3, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	lr, err := TrainLogistic(train, LogisticConfig{Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	g, l := evaluate(gbdt, test), evaluate(lr, test)
	t.Logf("held-out AUPRC gbdt %.3f logistic %.3f; ROC AUC gbdt %.3f logistic %.3f", g.AUPRC, l.AUPRC, g.ROCAUC, l.ROCAUC)
	if g.ROCAUC < 0.85 {
		t.Errorf("gbdt ROC AUC %.3f, want ≥ 0.85", g.ROCAUC)
	}
	if g.AUPRC < l.AUPRC+0.2 {
		t.Errorf("gbdt AUPRC %.3f does not beat logistic's %.3f by 0.2", g.AUPRC, l.AUPRC)
	}
}

func TestGBDTDeterministic(t *testing.T) {
	ds := synthetic(3000, 5, 4, 0.1, interaction)
	cfg := GBDTConfig{Trees: 20, Seed: 9, Subsample: 0.7, ColSample: 0.6, Clock: fixedClock}
	var first []byte
	for _, workers := range []int{1, 2, 3} {
		cfg.Workers = workers
		m, err := TrainGBDT(ds, cfg)
		if err != nil {
			t.Fatal(err)
		}
		b := saved(t, m)
		if first == nil {
			first = b
			if !strings.HasPrefix(m.Version, "gbdt-20260102T150405-") || len(m.Version) != len("gbdt-20260102T150405-")+8 {
				t.Errorf("version %q, want gbdt-20260102T150405-<8 hex>", m.Version)
			}
			continue
		}
		if !bytes.Equal(b, first) {
			t.Errorf("workers=%d: model differs from workers=1's", workers)
		}
	}
	cfg.Seed = 10
	m, err := TrainGBDT(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(saved(t, m), first) {
		t.Errorf("another seed gave the same model; is the seed used?")
	}
}

// Missing values carry information: the learned default direction must
// send them to the fraud side.
func TestGBDTLearnsMissingDirection(t *testing.T) {
	ds := synthetic(4000, 3, 5, 0, func(x []float32) float64 { return -3 })
	for i := range ds.Rows() {
		if i%4 == 0 {
			ds.Row(i)[1] = float32(math.NaN())
			ds.Y[i] = 1
		}
	}
	m, err := TrainGBDT(ds, GBDTConfig{Trees: 30, MaxDepth: 2, LearningRate: 0.3, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	for _, v := range []float32{-5, 0, 5} {
		missing, present := m.Predict([]float32{v, nan, v}), m.Predict([]float32{v, v, v})
		if missing < 0.9 || present > 0.2 {
			t.Errorf("x=%v: P(fraud) with fb missing %.3f (want > 0.9), present %.3f (want < 0.2)", v, missing, present)
		}
	}
}

func TestGBDTEarlyStopping(t *testing.T) {
	train := synthetic(2000, 4, 11, 0, linearOdds)
	valid := synthetic(2000, 4, 12, 0, linearOdds)
	m, err := TrainGBDT(train, GBDTConfig{Trees: 500, MaxDepth: 6, LearningRate: 0.3, Valid: valid, EarlyStoppingRounds: 5, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.trees.roots); n >= 100 {
		t.Errorf("kept %d trees; early stopping should have stopped well before 100", n)
	}
	if m.Metrics == nil || m.Metrics.Positives+m.Metrics.Negatives != valid.Rows() {
		t.Fatalf("Metrics %+v, want an evaluation on the %d validation rows", m.Metrics, valid.Rows())
	}
	if m.Metrics.ROCAUC < 0.8 {
		t.Errorf("validation ROC AUC %.3f, want ≥ 0.8", m.Metrics.ROCAUC)
	}
}

// A positive weight large enough shifts every score up.
func TestGBDTScalePosWeight(t *testing.T) {
	ds := synthetic(3000, 3, 13, 0, func(x []float32) float64 { return float64(x[0]) - 3 })
	plain, err := TrainGBDT(ds, GBDTConfig{Trees: 20, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	weighted, err := TrainGBDT(ds, GBDTConfig{Trees: 20, ScalePosWeight: 20, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{0, 0, 0}
	if p, w := plain.Predict(x), weighted.Predict(x); w < 3*p {
		t.Errorf("P(fraud) %.3f unweighted, %.3f with scale_pos_weight 20; want it several times higher", p, w)
	}
}

func TestGBDTRefuses(t *testing.T) {
	good := synthetic(100, 3, 1, 0, linearOdds)
	tests := []struct {
		name string
		ds   *Dataset
		cfg  GBDTConfig
		want string
	}{
		{"no dataset", nil, GBDTConfig{}, "no dataset"},
		{"depth", good, GBDTConfig{MaxDepth: 17}, "max_depth"},
		{"subsample", good, GBDTConfig{Subsample: 1.5}, "subsample"},
		{"bins", good, GBDTConfig{Bins: 256}, "bins"},
		{"early stopping without validation", good, GBDTConfig{EarlyStoppingRounds: 3}, "validation"},
		{"one class", &Dataset{Names: []string{"a"}, X: []float32{1, 2}, Y: []float32{0, 0}}, GBDTConfig{}, "both classes"},
		{"label", &Dataset{Names: []string{"a"}, X: []float32{1, 2}, Y: []float32{0, 2}}, GBDTConfig{}, "not 0 or 1"},
		{"shape", &Dataset{Names: []string{"a", "b"}, X: []float32{1, 2, 3}, Y: []float32{0, 1}}, GBDTConfig{}, "want 2 rows"},
		{"infinite", &Dataset{Names: []string{"a"}, X: []float32{1, float32(math.Inf(1))}, Y: []float32{0, 1}}, GBDTConfig{}, "infinite"},
		{"weights", &Dataset{Names: []string{"a"}, X: []float32{1, 2}, Y: []float32{0, 1}, W: []float32{1, -1}}, GBDTConfig{}, "weight"},
		{"duplicate names", &Dataset{Names: []string{"a", "a"}, X: []float32{1, 2, 3, 4}, Y: []float32{0, 1}}, GBDTConfig{}, "twice"},
		{"validation features", good, GBDTConfig{Valid: &Dataset{Names: []string{"x", "y", "z"}, X: []float32{1, 2, 3}, Y: []float32{1}}}, "other features"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := TrainGBDT(tt.ds, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("TrainGBDT error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestCutPointsSplitExactly(t *testing.T) {
	tests := []struct {
		name   string
		values []float32
		bins   int
		want   int // cut points
	}{
		{"few distinct", []float32{1, 1, 2, 3, 3, 3}, 255, 2},
		{"constant", []float32{4, 4, 4}, 255, 0},
		{"quantiles", nil, 16, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := tt.values
			if values == nil {
				for i := range 1000 {
					values = append(values, float32(i))
				}
			}
			cuts := cutPoints(values, tt.bins)
			if len(cuts) != tt.want {
				t.Fatalf("%d cut points %v, want %d", len(cuts), cuts, tt.want)
			}
			for _, x := range values {
				b := int(binOf(x, cuts))
				for c := range cuts {
					if (x < cuts[c]) != (b <= c) {
						t.Fatalf("x=%v bin %d: x < cuts[%d]=%v is %v", x, b, c, cuts[c], x < cuts[c])
					}
				}
			}
		})
	}
}

// A monotone constraint holds on data whose trend it contradicts in
// places: the label rises with x0 overall but dips in the middle, and a
// constrained model's score never falls as x0 rises, whatever the other
// features; the unconstrained model follows the dip.
func TestGBDTMonotoneConstraint(t *testing.T) {
	const rows, features = 20_000, 3
	ds := &Dataset{Names: []string{"x0", "x1", "x2"}}
	r := rand.New(rand.NewPCG(5, 1))
	for range rows {
		x := [features]float32{float32(r.Float64()), float32(r.Float64()), float32(r.Float64())}
		p := 0.1 + 0.7*float64(x[0])
		if x[0] > 0.4 && x[0] < 0.6 {
			p = 0.05 // the dip
		}
		y := float32(0)
		if r.Float64() < p {
			y = 1
		}
		ds.X = append(ds.X, x[:]...)
		ds.Y = append(ds.Y, y)
	}
	dips := func(m *Model) int {
		n := 0
		for _, other := range [][2]float32{{0.1, 0.1}, {0.5, 0.9}, {0.9, 0.3}} {
			prev := math.Inf(-1)
			for i := range 101 {
				p := m.Predict([]float32{float32(i) / 100, other[0], other[1]})
				if p < prev-1e-12 {
					n++
				}
				prev = p
			}
		}
		return n
	}
	free, err := TrainGBDT(ds, GBDTConfig{Trees: 60, MaxDepth: 4, Seed: 1, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	mono, err := TrainGBDT(ds, GBDTConfig{Trees: 60, MaxDepth: 4, Seed: 1, Clock: fixedClock, Monotone: []int8{1}})
	if err != nil {
		t.Fatal(err)
	}
	if n := dips(free); n == 0 {
		t.Errorf("the unconstrained model never falls along x0: the test data has no dip to resist")
	}
	if n := dips(mono); n != 0 {
		t.Errorf("the constrained model falls %d times as x0 rises", n)
	}
	if _, err := TrainGBDT(ds, GBDTConfig{Trees: 1, Monotone: []int8{2}}); err == nil {
		t.Errorf("a constraint of 2 was accepted")
	}
	if _, err := TrainGBDT(ds, GBDTConfig{Trees: 1, Monotone: []int8{1, 0, 0, 1}}); err == nil {
		t.Errorf("4 constraints for 3 features were accepted")
	}
}
