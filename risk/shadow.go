package risk

import (
	"context"
	"time"

	"github.com/kassa/kassa/risk/model"
)

// ShadowBuckets is how many score bands a ShadowReport's distributions
// have (0–9, 10–19, ..., 90–100).
const ShadowBuckets = 10

// ShadowThreshold is the score (of 100) at which ShadowReport's precision
// and recall count an attempt flagged: the engine's elevated level.
const ShadowThreshold = 50

// ShadowReport compares a shadow model with the active one on the live
// traffic both scored: the same evaluations, each with the active score
// that decided and the shadow's that did not.
type ShadowReport struct {
	Shadow string // the shadow model's version
	// Scored counts the evaluations of the period the shadow scored;
	// Labelled those of them with a fraud or legit label.
	Scored, Labelled int
	// Active and Shadow metrics over the labelled evaluations (AUPRC,
	// ROC AUC, recall at 1% FPR, precision and recall at
	// ShadowThreshold); zero without labels.
	ActiveMetrics, ShadowMetrics model.Metrics
	// ActiveHist and ShadowHist count the scored evaluations per score
	// band.
	ActiveHist, ShadowHist [ShadowBuckets]int
	// Moved counts evaluations the shadow would have put on the other
	// side of ShadowThreshold.
	Moved int
	// Cut says the scan stopped at its bound before the period's end.
	Cut bool
}

// Shadow reports how the shadow model version scored against the active
// model over the evaluations created in [from, to), looking through at
// most scanMax of them (every merchant's: the registry is the platform's).
func (e *Engine) Shadow(ctx context.Context, version string, from, to time.Time, scanMax int) (ShadowReport, error) {
	r := ShadowReport{Shadow: version}
	if err := e.writer.flush(ctx); err != nil {
		return r, err
	}
	var active, shadow []float64
	var labels []bool
	n := 0
	err := e.store.Evaluations(ctx, "", from, to, scanMax, func(ev *Evaluation) error {
		n++
		if version == "" || ev.ShadowVersion != version || ev.ShadowScore < 0 {
			return nil
		}
		r.Scored++
		r.ActiveHist[bucket(ev.Score)]++
		r.ShadowHist[bucket(ev.ShadowScore)]++
		if (ev.Score >= ShadowThreshold) != (ev.ShadowScore >= ShadowThreshold) {
			r.Moved++
		}
		if ev.Label == LabelLegit || IsFraud(ev.Label) {
			active = append(active, float64(ev.Score)/100)
			shadow = append(shadow, float64(ev.ShadowScore)/100)
			labels = append(labels, IsFraud(ev.Label))
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	r.Cut = n >= scanMax
	r.Labelled = len(labels)
	if len(labels) > 0 {
		r.ActiveMetrics = model.Evaluate(active, labels, ShadowThreshold/100.0)
		r.ShadowMetrics = model.Evaluate(shadow, labels, ShadowThreshold/100.0)
	}
	return r, nil
}

func bucket(score int) int {
	return min(max(score, 0)*ShadowBuckets/100, ShadowBuckets-1)
}
