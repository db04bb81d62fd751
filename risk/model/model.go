package model

import (
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Format is the format string of the model files this package writes.
const Format = "kassa-model/1"

// Algorithms a model can come from.
const (
	AlgoGBDT     = "gbdt"
	AlgoLogistic = "logistic"
	AlgoXGBoost  = "xgboost"
)

// Limits on what a model may hold. Model files are uploaded by users, so
// Load and LoadXGBoost refuse anything larger.
const (
	fileSizeMax    = 64 << 20 // bytes of a model file
	treesMax       = 5_000
	treeNodesMax   = 1 << 16 // nodes of one tree
	treeDepthMax   = 64      // edges from the root to the deepest leaf
	featuresMax    = 1_000
	featureNameMax = 256 // bytes
	versionMax     = 128 // bytes
	paramsMax      = 64  // entries of Params
	paramValueMax  = 256 // bytes of a string parameter

	// Bounds on numbers, far beyond what training produces, so that no
	// sum or product in prediction or contributions can overflow.
	logOddsMax = 1e6  // |leaf value|, |base margin|, |weight|, |intercept|
	coverMax   = 1e18 // node cover (a sum of hessians)
	scaleMin   = 1e-12
	scaleMax   = 1e39 // also |mean|; beyond any float32
)

// Model is a trained scorer. Its exported fields describe it; what it
// computes is fixed when it is trained or loaded, so a Model is safe for
// concurrent use as long as nobody writes those fields meanwhile. Models
// come from TrainGBDT, TrainLogistic, Load and LoadXGBoost; a Model built
// any other way panics when used.
type Model struct {
	Format       string    `json:"format"`        // Format
	Version      string    `json:"version"`       // e.g. gbdt-20260102T150405-1a2b3c4d
	Algo         string    `json:"algo"`          // AlgoGBDT, AlgoLogistic or AlgoXGBoost
	FeatureNames []string  `json:"feature_names"` // the order Predict expects features in
	Created      time.Time `json:"created"`       // UTC
	TrainedOn    int       `json:"trained_on"`    // training rows; 0 when unknown (imports)
	// Params is the configuration the model was trained with, as JSON
	// values: numbers are json.Number, so 64-bit seeds survive.
	Params map[string]any `json:"params,omitempty"`
	// Metrics is the evaluation on the validation set at training time,
	// nil when there was none.
	Metrics *Metrics `json:"metrics,omitempty"`

	trees  *ensemble // AlgoGBDT, AlgoXGBoost
	linear *linear   // AlgoLogistic
}

// Predict returns the probability that x is class 1 (fraud). x holds the
// features in FeatureNames order, NaN for missing; it panics when x has a
// different length.
func (m *Model) Predict(x []float32) float64 {
	return sigmoid(m.Margin(x))
}

// Margin returns the log-odds of class 1 for x (see Predict).
func (m *Model) Margin(x []float32) float64 {
	m.mustFit(x)
	if m.trees != nil {
		return m.trees.margin(x)
	}
	return m.linear.margin(x)
}

// Contributions explains Margin(x): dst[i] is the log-odds feature i adds
// and dst[len(FeatureNames)] the bias (what every row starts from); they
// sum to Margin(x). Trees use Saabas path attribution, logistic regression
// w·(x−mean)/scale. dst is reused when it has room, so passing the previous
// result back makes the call allocation-free.
func (m *Model) Contributions(x []float32, dst []float64) []float64 {
	m.mustFit(x)
	dst = zeroed(dst, len(x)+1)
	if m.trees != nil {
		m.trees.saabas(x, dst)
	} else {
		m.linear.contributions(x, dst)
	}
	return dst
}

// ExactContributions is Contributions with exact TreeSHAP values for trees
// (for logistic regression the two are the same). It is much slower than
// Contributions — O(leaves × depth²) per tree — and meant for offline
// explanations; it allocates only when a goroutine has no scratch space
// pooled.
func (m *Model) ExactContributions(x []float32, dst []float64) []float64 {
	m.mustFit(x)
	dst = zeroed(dst, len(x)+1)
	if m.trees != nil {
		m.trees.treeSHAP(x, dst)
	} else {
		m.linear.contributions(x, dst)
	}
	return dst
}

// mustFit panics unless m was built by this package and x has a value per
// feature: both are programming errors of the caller.
func (m *Model) mustFit(x []float32) {
	n := 0
	switch {
	case m.trees != nil:
		n = m.trees.features
	case m.linear != nil:
		n = len(m.linear.weights)
	default:
		panic("model: Model was not made by Train*, Load or LoadXGBoost")
	}
	if len(x) != n {
		panic(fmt.Sprintf("model: got %d features, the model takes %d", len(x), n))
	}
}

func zeroed(dst []float64, n int) []float64 {
	if cap(dst) < n {
		return make([]float64, n)
	}
	dst = dst[:n]
	clear(dst)
	return dst
}

func sigmoid(m float64) float64 {
	if m >= 0 {
		return 1 / (1 + math.Exp(-m))
	}
	e := math.Exp(m)
	return e / (1 + e)
}

// logit is the inverse of sigmoid.
func logit(p float64) float64 { return math.Log(p / (1 - p)) }

// checkNames validates feature names: some, at most featuresMax, each
// non-empty UTF-8 of at most featureNameMax bytes, no duplicates.
func checkNames(names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("no feature names")
	}
	if len(names) > featuresMax {
		return fmt.Errorf("%d features, at most %d allowed", len(names), featuresMax)
	}
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		if n == "" || len(n) > featureNameMax || !utf8.ValidString(n) {
			return fmt.Errorf("feature name %d is empty, longer than %d bytes or not UTF-8", i, featureNameMax)
		}
		if seen[n] {
			return fmt.Errorf("feature name %q appears twice", n)
		}
		seen[n] = true
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// within reports whether |f| ≤ limit (false for NaN).
func within(f, limit float64) bool { return math.Abs(f) <= limit }
