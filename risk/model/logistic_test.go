package model

import (
	"math"
	"testing"
)

func TestLogisticLearnsLinear(t *testing.T) {
	train := synthetic(20_000, 4, 21, 0, linearOdds)
	test := synthetic(10_000, 4, 22, 0, linearOdds)
	m, err := TrainLogistic(train, LogisticConfig{Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	// The raw-scale coefficients must come out near the true 2, −1, 0.5,
	// 0 and the intercept near −1 (the features are standard normal).
	want := []float64{2, -1, 0.5, 0}
	l := m.linear
	intercept := l.intercept
	for j, w := range want {
		got := l.weights[j] / l.scales[j]
		intercept -= got * l.means[j]
		if math.Abs(got-w) > 0.1 {
			t.Errorf("coefficient of %s %.3f, want %.1f ± 0.1", train.Names[j], got, w)
		}
	}
	if math.Abs(intercept+1) > 0.1 {
		t.Errorf("intercept %.3f, want −1 ± 0.1", intercept)
	}
	// The best possible score is the true probability.
	_, labels := scores(m, test)
	truth := make([]float64, test.Rows())
	for i := range truth {
		truth[i] = sigmoid(linearOdds(test.Row(i)))
	}
	got, best := evaluate(m, test), Evaluate(truth, labels, 0.5)
	if got.ROCAUC < best.ROCAUC-0.005 {
		t.Errorf("ROC AUC %.4f, the true model's %.4f", got.ROCAUC, best.ROCAUC)
	}
}

func TestLogisticImputesMean(t *testing.T) {
	ds := synthetic(2000, 3, 23, 0.2, linearOdds)
	m, err := TrainLogistic(ds, LogisticConfig{Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	x := []float32{nan, 1, nan}
	imputed := []float32{float32(m.linear.means[0]), 1, float32(m.linear.means[2])}
	if got, want := m.Margin(x), m.Margin(imputed); math.Abs(got-want) > 1e-6 {
		t.Errorf("margin with missing values %v, with the means filled in %v", got, want)
	}
}

func TestLogisticDeterministic(t *testing.T) {
	ds := synthetic(9000, 3, 24, 0.1, linearOdds)
	a, err := TrainLogistic(ds, LogisticConfig{Workers: 1, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	b, err := TrainLogistic(ds, LogisticConfig{Workers: 3, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	if string(saved(t, a)) != string(saved(t, b)) {
		t.Errorf("1 and 3 workers gave different models")
	}
}
