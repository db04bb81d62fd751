package risk

import (
	"fmt"
	"io"

	"github.com/kassa/kassa/risk/model"
)

// ReadLabelled replays a labelled event file (JSONL in time order) the
// way the engine would have seen it and returns the labelled attempts as
// a dataset of the named features (in that order), with each row's truth
// (fraud type, legitimate segments) for Assess. Unlabelled attempts count
// in the features of later ones but are not rows.
func ReadLabelled(r io.Reader, names []string) (*model.Dataset, []Scored, error) {
	idx := make([]int, len(names))
	for i, n := range names {
		j, ok := FeatureIndex(n)
		if !ok {
			return nil, nil, fmt.Errorf("feature %q is not one Kassa computes", n)
		}
		idx[i] = j
	}
	ds := &model.Dataset{Names: append([]string(nil), names...)}
	var rows []Scored
	err := Featurize(r, StateConfig{}, func(ev *Event, x []float32) error {
		if ev.Label != LabelFraud && ev.Label != LabelLegit {
			return nil
		}
		s := Scored{ID: ev.ID, Fraud: ev.Label == LabelFraud, FraudType: ev.FraudType}
		y := float32(0)
		if s.Fraud {
			y = 1
		} else {
			s.Segments = SegmentsOf(ev, x, nil)
		}
		for _, j := range idx {
			ds.X = append(ds.X, x[j])
		}
		ds.Y = append(ds.Y, y)
		rows = append(rows, s)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return ds, rows, nil
}

// Monotone is the direction the score may move in as each named feature
// rises, for kassa model train's constraints: +1 for counts of failures
// and of distinct cards, devices and addresses (more of them never makes
// an attempt safer), −1 for how long the payer has known the device or
// card, 0 for the rest (their direction depends on the rest).
func Monotone(names []string) []int8 {
	out := make([]int8, len(names))
	for i, n := range names {
		j, _ := FeatureIndex(n)
		switch j {
		case FCardFailures1h, FCardFailures24h, FCardDeclines24h, FVoucherFailures1h, FVoucherFailures24h,
			FCustomerFailures24h, FDeviceFailures1h, FIPFailures1h, FEmailFailures24h,
			FCardDistinctCustomers24h, FDeviceDistinctCards24h, FDeviceDistinctVouchers24h,
			FIPDistinctCards1h, FIPDistinctCards24h, FCardDistinctDevices24h, FCardDistinctIPs24h,
			FDeviceDistinctIPs24h, FWebdriver:
			out[i] = 1
		case FDeviceKnownDays, FCardKnownDays, FCredentialsChangedDays, FAccountAgeDays:
			out[i] = -1
		}
	}
	return out
}

// TrainDefaults are kassa model train's GBDT settings for a dataset of
// ModelFeatureNames, chosen by AUPRC on a simulated world kept apart from
// the training worlds (docs/risk.md, the model card): shallow trees, a
// minimum child weight, shrinkage, row and column subsampling and
// monotone constraints trade a little same-world fit for models that
// carry over.
var TrainDefaults = model.GBDTConfig{Trees: 300, MaxDepth: 4, LearningRate: 0.05, Lambda: 5, MinChildWeight: 3,
	Subsample: 0.8, ColSample: 0.7, Monotone: Monotone(ModelFeatureNames)}
