package model

import (
	"cmp"
	"fmt"
	"slices"
)

// Metrics measures scores against labels (see Evaluate).
type Metrics struct {
	// AUPRC is the average precision: Σ (R_k − R_{k−1})·P_k over the
	// distinct scores from high to low, like scikit-learn's
	// average_precision_score.
	AUPRC float64 `json:"auprc"`
	// ROCAUC is the area under the ROC curve, ties counting half, like
	// scikit-learn's roc_auc_score.
	ROCAUC float64 `json:"roc_auc"`
	// RecallAt1PctFPR is the recall at the lowest score threshold whose
	// false-positive rate is still at most 1%.
	RecallAt1PctFPR float64 `json:"recall_at_1pct_fpr"`
	// PrecisionAtThreshold and RecallAtThreshold count the rows scoring
	// at least Threshold as flagged.
	PrecisionAtThreshold float64 `json:"precision_at_threshold"`
	RecallAtThreshold    float64 `json:"recall_at_threshold"`
	Threshold            float64 `json:"threshold"`
	Positives            int     `json:"positives"`
	Negatives            int     `json:"negatives"`
}

// fprMax is the false-positive rate RecallAt1PctFPR allows.
const fprMax = 0.01

// Evaluate measures scores (higher meaning more likely positive) against
// labels (true = positive). Rather than NaN, a metric that is undefined is
// 0: AUPRC, recalls and ROC AUC without positives, ROC AUC and
// RecallAt1PctFPR without negatives, precision when nothing scores at
// least threshold. NaN scores rank below all others. It panics when the
// slices differ in length.
func Evaluate(scores []float64, labels []bool, threshold float64) Metrics {
	if len(scores) != len(labels) {
		panic(fmt.Sprintf("model.Evaluate: %d scores for %d labels", len(scores), len(labels)))
	}
	type scored struct {
		score    float64
		positive bool
	}
	rows := make([]scored, len(scores))
	m := Metrics{Threshold: threshold}
	var flagged, flaggedPositive int
	for i, s := range scores {
		rows[i] = scored{s, labels[i]}
		if labels[i] {
			m.Positives++
		} else {
			m.Negatives++
		}
		if s >= threshold {
			flagged++
			if labels[i] {
				flaggedPositive++
			}
		}
	}
	if flagged > 0 {
		m.PrecisionAtThreshold = float64(flaggedPositive) / float64(flagged)
	}
	if m.Positives > 0 {
		m.RecallAtThreshold = float64(flaggedPositive) / float64(m.Positives)
	}
	// cmp.Compare orders NaN first, so reversed it ranks NaN last.
	slices.SortFunc(rows, func(a, b scored) int { return cmp.Compare(b.score, a.score) })

	pos, neg := float64(m.Positives), float64(m.Negatives)
	var tp, fp, prevRecall, prevFPR, prevTPR float64
	for i := 0; i < len(rows); {
		// Rows with equal scores are one threshold.
		j := i
		for ; j < len(rows) && sameScore(rows[j].score, rows[i].score); j++ {
			if rows[j].positive {
				tp++
			} else {
				fp++
			}
		}
		i = j
		if pos > 0 {
			recall := tp / pos
			m.AUPRC += (recall - prevRecall) * tp / (tp + fp)
			prevRecall = recall
		}
		if pos > 0 && neg > 0 {
			tpr, fpr := tp/pos, fp/neg
			m.ROCAUC += (fpr - prevFPR) * (tpr + prevTPR) / 2
			if fpr <= fprMax {
				m.RecallAt1PctFPR = tpr
			}
			prevTPR, prevFPR = tpr, fpr
		}
	}
	return m
}

func sameScore(a, b float64) bool { return a == b || (a != a && b != b) }
