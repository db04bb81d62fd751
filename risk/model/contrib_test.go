package model

import (
	"math"
	"math/bits"
	"slices"
	"strings"
	"testing"
)

func TestContributionsSumToMargin(t *testing.T) {
	gbdt, ds := smallGBDT(t)
	logistic, err := TrainLogistic(ds, LogisticConfig{Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	xgb, err := LoadXGBoost(strings.NewReader(xgbJSON), []string{"fa", "fb"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Model{gbdt, logistic, xgb} {
		t.Run(m.Algo, func(t *testing.T) {
			var c, e []float64
			for i := range ds.Rows() {
				x := ds.Row(i)[:len(m.FeatureNames)]
				margin := m.Margin(x)
				c, e = m.Contributions(x, c), m.ExactContributions(x, e)
				if len(c) != len(x)+1 || len(e) != len(x)+1 {
					t.Fatalf("%d and %d contributions for %d features", len(c), len(e), len(x))
				}
				if math.Abs(sum(c)-margin) > 1e-6 || math.Abs(sum(e)-margin) > 1e-6 {
					t.Fatalf("row %d: Saabas sums to %v, TreeSHAP to %v, margin %v", i, sum(c), sum(e), margin)
				}
			}
		})
	}
}

// Only fb drives the label: on a row with an extreme fb, fb's
// contribution must be the largest in size.
func TestContributionsFindTheDriver(t *testing.T) {
	ds := synthetic(5000, 5, 41, 0.05, func(x []float32) float64 { return 3*float64(x[1]) - 2 })
	gbdt, err := TrainGBDT(ds, GBDTConfig{Trees: 50, MaxDepth: 3, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	logistic, err := TrainLogistic(ds, LogisticConfig{Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Model{gbdt, logistic} {
		for _, x := range [][]float32{{0.1, 2.5, -0.2, 0.3, 0}, {-0.5, -2.5, 0.4, 0, 0.2}} {
			for name, c := range map[string][]float64{"Saabas": m.Contributions(x, nil), "TreeSHAP": m.ExactContributions(x, nil)} {
				features := c[:len(x)]
				top := slices.IndexFunc(features, func(v float64) bool {
					return math.Abs(v) == slices.Max(absAll(features))
				})
				if top != 1 || (c[1] > 0) != (x[1] > 0) {
					t.Errorf("%s %s x=%v: contributions %v, want fb's the largest, with fb's sign", m.Algo, name, x, c)
				}
			}
		}
	}
}

func absAll(v []float64) []float64 {
	a := make([]float64, len(v))
	for i := range v {
		a[i] = math.Abs(v[i])
	}
	return a
}

// TreeSHAP must give the Shapley values of the game whose value of a
// feature set S is the tree's expectation given x's values of S only (at
// splits on other features, the cover-weighted mean of both children).
func TestExactContributionsAreShapleyValues(t *testing.T) {
	ds := synthetic(3000, 4, 42, 0.1, interaction)
	m, err := TrainGBDT(ds, GBDTConfig{Trees: 3, MaxDepth: 5, LearningRate: 1, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	nf := len(ds.Names)
	for i := range 20 {
		x := ds.Row(i)
		got := m.ExactContributions(x, nil)
		want := make([]float64, nf+1)
		want[nf] = m.trees.base
		for _, root := range m.trees.roots {
			want[nf] += conditional(m.trees, x, root, 0)
			for f := range nf {
				for s := range uint(1) << nf {
					if s&(1<<f) != 0 {
						continue
					}
					k := bits.OnesCount(s)
					weight := float64(factorial(k)*factorial(nf-k-1)) / float64(factorial(nf))
					want[f] += weight * (conditional(m.trees, x, root, s|1<<f) - conditional(m.trees, x, root, s))
				}
			}
		}
		for j := range want {
			if math.Abs(got[j]-want[j]) > 1e-9 {
				t.Fatalf("row %d: TreeSHAP %v, Shapley values %v", i, got, want)
			}
		}
	}
}

// conditional is the expectation of the tree below node i given the
// features in set known.
func conditional(e *ensemble, x []float32, i int32, known uint) float64 {
	nd := &e.nodes[i]
	if nd.feature < 0 {
		return e.value[i]
	}
	if known&(1<<nd.feature) != 0 {
		return conditional(e, x, nd.next(x), known)
	}
	l := nd.left
	cl, cr := e.cover[l], e.cover[l+1]
	return (cl*conditional(e, x, l, known) + cr*conditional(e, x, l+1, known)) / (cl + cr)
}

func factorial(n int) int {
	f := 1
	for i := 2; i <= n; i++ {
		f *= i
	}
	return f
}

func TestPredictionDoesNotAllocate(t *testing.T) {
	m := benchModel(20, 6, 60)
	x := benchRow(60, 1)
	dst := make([]float64, 61)
	if n := testing.AllocsPerRun(100, func() { m.Predict(x) }); n != 0 {
		t.Errorf("Predict allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { dst = m.Contributions(x, dst) }); n != 0 {
		t.Errorf("Contributions allocates %v times", n)
	}
	// The scratch space comes from a sync.Pool, which may drop it (and
	// under the race detector does so on purpose).
	if n := testing.AllocsPerRun(100, func() { dst = m.ExactContributions(x, dst) }); n > 0.5 {
		t.Errorf("ExactContributions allocates %v times", n)
	}
}

func TestPredictPanicsOnWrongLength(t *testing.T) {
	m := mustLoad(t, []byte(kassaJSON))
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "got 3 features, the model takes 2") {
			t.Errorf("recovered %v, want a panic naming the lengths", r)
		}
	}()
	m.Predict([]float32{1, 2, 3})
}
