package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// benchModel returns a model of full random trees: every path has the
// given depth, the worst case for prediction.
func benchModel(trees, depth, features int) *Model {
	rng := rand.New(rand.NewPCG(1, 2))
	var ts []tree
	n := 1<<(depth+1) - 1
	for range trees {
		var t tree
		for i := range n {
			t.Threshold = append(t.Threshold, float32(rng.NormFloat64()))
			t.DefaultLeft = append(t.DefaultLeft, rng.IntN(2) == 0)
			t.Cover = append(t.Cover, 1)
			if 2*i+2 < n {
				t.Left, t.Right = append(t.Left, int32(2*i+1)), append(t.Right, int32(2*i+2))
				t.Feature, t.Value = append(t.Feature, int32(rng.IntN(features))), append(t.Value, 0)
			} else {
				t.Left, t.Right, t.Feature = append(t.Left, -1), append(t.Right, -1), append(t.Feature, -1)
				t.Value = append(t.Value, rng.NormFloat64()/10)
			}
		}
		// Covers that halve down the tree, so that expected values vary.
		for i := n - 1; i >= 0; i-- {
			if t.Left[i] != -1 {
				t.Cover[i] = t.Cover[t.Left[i]] + t.Cover[t.Right[i]]
			}
		}
		ts = append(ts, t)
	}
	e, err := compile(ts, -3, features, false)
	if err != nil {
		panic(err)
	}
	return &Model{Algo: AlgoGBDT, trees: e}
}

// benchRow returns features with about 10% missing.
func benchRow(features int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 3))
	x := make([]float32, features)
	for j := range x {
		x[j] = float32(rng.NormFloat64())
		if rng.IntN(10) == 0 {
			x[j] = float32(math.NaN())
		}
	}
	return x
}

// The engine's case: 200 trees of depth 6 on 60 features.
func BenchmarkPredict(b *testing.B) {
	m := benchModel(200, 6, 60)
	rows := [][]float32{benchRow(60, 1), benchRow(60, 2), benchRow(60, 3), benchRow(60, 4)}
	b.ReportAllocs()
	var sink float64
	for i := 0; b.Loop(); i++ {
		sink += m.Predict(rows[i%len(rows)])
	}
	_ = sink
}

func BenchmarkContributions(b *testing.B) {
	m := benchModel(200, 6, 60)
	rows := [][]float32{benchRow(60, 1), benchRow(60, 2), benchRow(60, 3), benchRow(60, 4)}
	dst := make([]float64, 61)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		dst = m.Contributions(rows[i%len(rows)], dst)
	}
}

func BenchmarkExactContributions(b *testing.B) {
	m := benchModel(200, 6, 60)
	rows := [][]float32{benchRow(60, 1), benchRow(60, 2), benchRow(60, 3), benchRow(60, 4)}
	dst := make([]float64, 61)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		dst = m.ExactContributions(rows[i%len(rows)], dst)
	}
}

func BenchmarkPredictLogistic(b *testing.B) {
	ds := synthetic(2000, 60, 1, 0.1, linearOdds)
	m, err := TrainLogistic(ds, LogisticConfig{Clock: fixedClock})
	if err != nil {
		b.Fatal(err)
	}
	x := ds.Row(0)
	dst := make([]float64, 61)
	b.ReportAllocs()
	for b.Loop() {
		m.Predict(x)
		dst = m.Contributions(x, dst)
	}
}

// BenchmarkTrainGBDT trains 50 trees of depth 6 on 20,000 rows of 20
// features.
func BenchmarkTrainGBDT(b *testing.B) {
	ds := synthetic(20_000, 20, 1, 0.05, interaction)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := TrainGBDT(ds, GBDTConfig{Trees: 50, Clock: fixedClock}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrainGBDTLarge is the size the package promises to train well
// under a minute on two cores: 200 trees of depth 6 on 200,000 rows of 60
// features.
func BenchmarkTrainGBDTLarge(b *testing.B) {
	if testing.Short() {
		b.Skip("large")
	}
	ds := synthetic(200_000, 60, 1, 0.05, interaction)
	b.ResetTimer()
	for b.Loop() {
		if _, err := TrainGBDT(ds, GBDTConfig{Clock: fixedClock}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTrainLogistic(b *testing.B) {
	ds := synthetic(20_000, 20, 1, 0.05, linearOdds)
	for b.Loop() {
		if _, err := TrainLogistic(ds, LogisticConfig{Clock: fixedClock}); err != nil {
			b.Fatal(err)
		}
	}
}
