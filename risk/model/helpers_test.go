package model

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// fixedClock makes trained models reproducible to the byte.
func fixedClock() time.Time { return time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC) }

// synthetic returns n rows whose label is drawn with log-odds logOdds(x),
// x being nf standard normal features; then a share missing of every
// feature's values is hidden (NaN) from the model.
func synthetic(n, nf int, seed uint64, missing float64, logOdds func(x []float32) float64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	ds := &Dataset{X: make([]float32, n*nf), Y: make([]float32, n)}
	for j := range nf {
		ds.Names = append(ds.Names, "f"+string(rune('a'+j)))
	}
	for i := range n {
		x := ds.Row(i)
		for j := range x {
			x[j] = float32(rng.NormFloat64())
		}
		if rng.Float64() < sigmoid(logOdds(x)) {
			ds.Y[i] = 1
		}
		for j := range x {
			if rng.Float64() < missing {
				x[j] = float32(math.NaN())
			}
		}
	}
	return ds
}

// interaction is a problem no linear model can learn: the sign of fa·fb
// decides, with a threshold effect of fc on top.
func interaction(x []float32) float64 {
	s := 3.0
	if x[0]*x[1] < 0 {
		s = -3
	}
	if math.Abs(float64(x[2])) > 1 {
		s += 2
	}
	return s - 2
}

// linearOdds is a linear problem: fa pushes up, fb down, fc a little.
func linearOdds(x []float32) float64 {
	return 2*float64(x[0]) - float64(x[1]) + 0.5*float64(x[2]) - 1
}

func scores(m *Model, ds *Dataset) ([]float64, []bool) {
	s, l := make([]float64, ds.Rows()), make([]bool, ds.Rows())
	for i := range s {
		s[i] = m.Predict(ds.Row(i))
		l[i] = ds.Y[i] == 1
	}
	return s, l
}

func evaluate(m *Model, ds *Dataset) Metrics {
	s, l := scores(m, ds)
	return Evaluate(s, l, 0.5)
}

func saved(t testing.TB, m *Model) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatalf("Save: %v", err)
	}
	return buf.Bytes()
}

func mustLoad(t testing.TB, b []byte) *Model {
	t.Helper()
	m, err := Load(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return m
}

// smallGBDT trains a quick model for tests that need any trained trees.
func smallGBDT(t testing.TB) (*Model, *Dataset) {
	t.Helper()
	ds := synthetic(2000, 5, 7, 0.1, interaction)
	m, err := TrainGBDT(ds, GBDTConfig{Trees: 30, MaxDepth: 4, Seed: 1, Subsample: 0.8, ColSample: 0.8, Clock: fixedClock})
	if err != nil {
		t.Fatalf("TrainGBDT: %v", err)
	}
	return m, ds
}
