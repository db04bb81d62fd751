package model

import (
	"math"
	"testing"
)

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name      string
		scores    []float64
		labels    []bool
		threshold float64
		want      Metrics
	}{
		{"perfect", []float64{0.9, 0.8, 0.3, 0.1}, []bool{true, true, false, false}, 0.5,
			Metrics{AUPRC: 1, ROCAUC: 1, RecallAt1PctFPR: 1, PrecisionAtThreshold: 1, RecallAtThreshold: 1, Positives: 2, Negatives: 2}},
		{"reversed", []float64{0.9, 0.8, 0.3, 0.1}, []bool{false, false, true, true}, 0.5,
			Metrics{AUPRC: 1.0/6 + 1.0/4, ROCAUC: 0, Positives: 2, Negatives: 2}},
		// Ties are one threshold: the tied pair counts half in ROC AUC.
		{"ties", []float64{0.5, 0.5, 0.2}, []bool{true, false, true}, 0.5,
			Metrics{AUPRC: 0.25 + 1.0/3, ROCAUC: 0.25, PrecisionAtThreshold: 0.5, RecallAtThreshold: 0.5, Positives: 2, Negatives: 1}},
		{"all tied", []float64{0.3, 0.3, 0.3, 0.3}, []bool{true, false, false, false}, 0.5,
			Metrics{AUPRC: 0.25, ROCAUC: 0.5, Positives: 1, Negatives: 3}},
		{"threshold counts equal scores as flagged", []float64{0.5, 0.4}, []bool{true, false}, 0.5,
			Metrics{AUPRC: 1, ROCAUC: 1, RecallAt1PctFPR: 1, PrecisionAtThreshold: 1, RecallAtThreshold: 1, Positives: 1, Negatives: 1}},
		{"no positives", []float64{0.9, 0.1}, []bool{false, false}, 0.5,
			Metrics{Negatives: 2}},
		{"no negatives", []float64{0.9, 0.1}, []bool{true, true}, 0.5,
			Metrics{AUPRC: 1, PrecisionAtThreshold: 1, RecallAtThreshold: 0.5, Positives: 2}},
		{"empty", nil, nil, 0.5, Metrics{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Evaluate(tt.scores, tt.labels, tt.threshold)
			tt.want.Threshold = tt.threshold
			if !metricsClose(got, tt.want) {
				t.Errorf("Evaluate\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// 200 negatives score 0.000 to 0.199, 5 positives 0.5 and 5 more the
// given score; 1% FPR allows two negatives above the threshold.
func TestEvaluateRecallAt1PctFPR(t *testing.T) {
	tests := []struct {
		name     string
		positive float64
		want     float64
	}{
		{"two negatives above", 0.1975, 1},
		{"three negatives above", 0.1965, 0.5},
		{"tied with the second negative", 0.198, 1},
		{"tied with the third negative", 0.197, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var scores []float64
			var labels []bool
			for i := range 200 {
				scores, labels = append(scores, float64(i)/1000), append(labels, false)
			}
			for range 5 {
				scores, labels = append(scores, 0.5, tt.positive), append(labels, true, true)
			}
			if got := Evaluate(scores, labels, 0.5).RecallAt1PctFPR; got != tt.want {
				t.Errorf("RecallAt1PctFPR %v, want %v", got, tt.want)
			}
		})
	}
}

func metricsClose(a, b Metrics) bool {
	close := func(x, y float64) bool { return math.Abs(x-y) < 1e-12 }
	return close(a.AUPRC, b.AUPRC) && close(a.ROCAUC, b.ROCAUC) && close(a.RecallAt1PctFPR, b.RecallAt1PctFPR) &&
		close(a.PrecisionAtThreshold, b.PrecisionAtThreshold) && close(a.RecallAtThreshold, b.RecallAtThreshold) &&
		a.Threshold == b.Threshold && a.Positives == b.Positives && a.Negatives == b.Negatives
}

func TestEvaluateNaNScoresRankLast(t *testing.T) {
	nan := math.NaN()
	got := Evaluate([]float64{nan, 0.9, nan, 0.1}, []bool{false, true, false, true}, 0.5)
	if got.ROCAUC != 1 || got.AUPRC != 1 {
		t.Errorf("ROC AUC %v AUPRC %v, want 1 and 1 with NaN scores ranked last", got.ROCAUC, got.AUPRC)
	}
}
