package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"
)

// GBDTConfig configures TrainGBDT. Zero values mean the defaults given
// with each field.
type GBDTConfig struct {
	Trees          int     `json:"trees"`             // boosting rounds; default 200
	MaxDepth       int     `json:"max_depth"`         // default 6, at most 16
	LearningRate   float64 `json:"learning_rate"`     // shrinks every leaf; default 0.1
	Lambda         float64 `json:"lambda"`            // L2 penalty on leaf values; default 1
	Gamma          float64 `json:"gamma"`             // minimum gain of a split; default 0
	MinChildWeight float64 `json:"min_child_weight"`  // minimum hessian in a child; default 1
	MinRowsPerLeaf int     `json:"min_rows_per_leaf"` // minimum rows in a child; default 1
	Subsample      float64 `json:"subsample"`         // share of rows each tree sees, (0, 1]; default 1
	ColSample      float64 `json:"colsample_bytree"`  // share of features each tree may split on, (0, 1]; default 1
	ScalePosWeight float64 `json:"scale_pos_weight"`  // multiplies the weight of positive rows; default 1
	Bins           int     `json:"bins"`              // value bins per feature, 2 to 255; default 255
	Seed           uint64  `json:"seed"`              // for subsampling
	// Monotone constrains the score per feature (in the dataset's
	// order): +1 it never falls as the feature rises, −1 it never rises,
	// 0 (or a shorter slice) no constraint.
	// The model's params record them as "monotone_constraints", the
	// constrained features' positions and signs ("+9,+10,-70").
	Monotone []int8 `json:"-"`

	// EarlyStoppingRounds stops training once the log loss on Valid has
	// not improved for that many rounds, and keeps the trees up to the
	// best round. 0 trains all Trees.
	EarlyStoppingRounds int `json:"early_stopping_rounds"`
	// Threshold is the score at which Metrics counts a row as flagged.
	// Default 0.5.
	Threshold float64 `json:"threshold"`

	Valid   *Dataset         `json:"-"` // optional; early stopping and the model's Metrics use it
	Workers int              `json:"-"` // goroutines; default GOMAXPROCS. Results do not depend on it.
	Clock   func() time.Time `json:"-"` // stamps Created; default time.Now
}

const (
	rowsGrain    = 4096 // rows below which another goroutine costs more than it saves
	gbdtDepthMax = 16
	binsMax      = 255 // value bins; one more code marks missing values
)

func (c *GBDTConfig) resolve() error {
	setDefault(&c.Trees, 200)
	setDefault(&c.MaxDepth, 6)
	setDefault(&c.LearningRate, 0.1)
	setDefault(&c.Lambda, 1)
	setDefault(&c.MinChildWeight, 1)
	setDefault(&c.MinRowsPerLeaf, 1)
	setDefault(&c.Subsample, 1)
	setDefault(&c.ColSample, 1)
	setDefault(&c.ScalePosWeight, 1)
	setDefault(&c.Bins, binsMax)
	setDefault(&c.Threshold, 0.5)
	setDefault(&c.Workers, runtime.GOMAXPROCS(0))
	if c.Clock == nil {
		c.Clock = time.Now
	}
	positive := func(v float64) bool { return v > 0 && !math.IsInf(v, 0) }
	switch {
	case c.Trees < 0 || c.Trees > treesMax:
		return fmt.Errorf("trees %d must be between 1 and %d", c.Trees, treesMax)
	case c.MaxDepth < 0 || c.MaxDepth > gbdtDepthMax:
		return fmt.Errorf("max_depth %d must be between 1 and %d", c.MaxDepth, gbdtDepthMax)
	case !positive(c.LearningRate):
		return fmt.Errorf("learning_rate %v must be positive", c.LearningRate)
	case !positive(c.Lambda):
		return fmt.Errorf("lambda %v must be positive", c.Lambda)
	case !(c.Gamma >= 0) || math.IsInf(c.Gamma, 0):
		return fmt.Errorf("gamma %v must be ≥ 0", c.Gamma)
	case !positive(c.MinChildWeight):
		return fmt.Errorf("min_child_weight %v must be positive", c.MinChildWeight)
	case c.MinRowsPerLeaf < 0:
		return fmt.Errorf("min_rows_per_leaf %d must be positive", c.MinRowsPerLeaf)
	case !(c.Subsample > 0 && c.Subsample <= 1):
		return fmt.Errorf("subsample %v must be in (0, 1]", c.Subsample)
	case !(c.ColSample > 0 && c.ColSample <= 1):
		return fmt.Errorf("colsample_bytree %v must be in (0, 1]", c.ColSample)
	case !positive(c.ScalePosWeight):
		return fmt.Errorf("scale_pos_weight %v must be positive", c.ScalePosWeight)
	case c.Bins < 2 || c.Bins > binsMax:
		return fmt.Errorf("bins %d must be between 2 and %d", c.Bins, binsMax)
	case c.EarlyStoppingRounds < 0:
		return fmt.Errorf("early_stopping_rounds %d must be ≥ 0", c.EarlyStoppingRounds)
	case c.EarlyStoppingRounds > 0 && c.Valid == nil:
		return fmt.Errorf("early stopping needs a validation set")
	case !finite(c.Threshold):
		return fmt.Errorf("threshold %v must be finite", c.Threshold)
	case c.Workers < 1:
		return fmt.Errorf("workers %d must be positive", c.Workers)
	}
	for i, m := range c.Monotone {
		if m < -1 || m > 1 {
			return fmt.Errorf("monotone constraint %d of feature %d must be -1, 0 or 1", m, i)
		}
	}
	return nil
}

// TrainGBDT fits gradient-boosted trees to ds (see the package
// documentation). The same data and configuration give the same model.
func TrainGBDT(ds *Dataset, cfg GBDTConfig) (*Model, error) {
	if err := cfg.resolve(); err != nil {
		return nil, fmt.Errorf("train gbdt: %w", err)
	}
	if err := checkTrainingData(ds, cfg.Valid); err != nil {
		return nil, fmt.Errorf("train gbdt: %w", err)
	}
	if len(cfg.Monotone) > len(ds.Names) {
		return nil, fmt.Errorf("train gbdt: %d monotone constraints for %d features", len(cfg.Monotone), len(ds.Names))
	}
	b := newBoosting(ds, &cfg)
	trees := b.run()
	e, err := compile(trees, b.base, len(ds.Names), false)
	if err != nil {
		panic(fmt.Sprintf("model: trained trees do not compile: %v", err))
	}
	m := &Model{Algo: AlgoGBDT, FeatureNames: clone(ds.Names), TrainedOn: ds.Rows(), trees: e}
	extra := map[string]any{"trees_kept": len(trees)}
	if mono := monotoneParam(cfg.Monotone); mono != "" {
		extra["monotone_constraints"] = mono
	}
	if err := m.finish(cfg, extra, cfg.Valid, cfg.Threshold, cfg.Clock); err != nil {
		return nil, fmt.Errorf("train gbdt: %w", err)
	}
	return m, nil
}

// boosting is the state of one TrainGBDT run.
type boosting struct {
	cfg    *GBDTConfig
	ds     *Dataset
	bins   *binned
	base   float64    // initial margin: the log-odds of the (weighted) positive rate
	margin []float64  // per training row
	grad   []gradPair // per training row
	valid  []float64  // margins of the validation rows
	rng    *rand.Rand
	grower *grower
}

type gradPair struct{ g, h float64 }

func newBoosting(ds *Dataset, cfg *GBDTConfig) *boosting {
	b := &boosting{
		cfg:  cfg,
		ds:   ds,
		bins: newBinned(ds, cfg.Bins, cfg.Workers),
		base: logit(positiveRate(ds, cfg.ScalePosWeight)),
		grad: make([]gradPair, ds.Rows()),
		rng:  rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
	}
	b.margin = make([]float64, ds.Rows())
	for i := range b.margin {
		b.margin[i] = b.base
	}
	if cfg.Valid != nil {
		b.valid = make([]float64, cfg.Valid.Rows())
		for i := range b.valid {
			b.valid[i] = b.base
		}
	}
	b.grower = newGrower(b.bins, b.grad, cfg)
	return b
}

// run boosts and returns the trees to keep.
func (b *boosting) run() []tree {
	var trees []tree
	bestLoss, bestTrees := math.Inf(1), 0
	for range b.cfg.Trees {
		b.gradients()
		t := b.grower.grow(b.sampleRows(), b.sampleFeatures())
		trees = append(trees, t)
		parallelFor(b.ds.Rows(), rowsGrain, b.cfg.Workers, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				b.margin[i] += t.predict(b.ds.Row(i))
			}
		})
		if b.cfg.Valid == nil {
			continue
		}
		for i := range b.valid {
			b.valid[i] += t.predict(b.cfg.Valid.Row(i))
		}
		if loss := logLoss(b.cfg.Valid, b.valid); loss < bestLoss {
			bestLoss, bestTrees = loss, len(trees)
		} else if n := b.cfg.EarlyStoppingRounds; n > 0 && len(trees)-bestTrees >= n {
			break
		}
	}
	if b.cfg.EarlyStoppingRounds > 0 {
		trees = trees[:bestTrees]
	}
	return trees
}

// gradients computes the first and second derivatives of the weighted
// log loss at the current margins.
func (b *boosting) gradients() {
	parallelFor(b.ds.Rows(), rowsGrain, b.cfg.Workers, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p := sigmoid(b.margin[i])
			w := b.ds.weight(i)
			y := float64(b.ds.Y[i])
			if y == 1 {
				w *= b.cfg.ScalePosWeight
			}
			b.grad[i] = gradPair{g: w * (p - y), h: w * max(p*(1-p), 1e-16)}
		}
	})
}

// sampleRows returns the rows the next tree learns from, in order.
func (b *boosting) sampleRows() []int32 {
	rows := b.grower.rows[:0]
	for i := range b.ds.Rows() {
		if b.cfg.Subsample == 1 || b.rng.Float64() < b.cfg.Subsample {
			rows = append(rows, int32(i))
		}
	}
	return rows
}

// sampleFeatures returns the features the next tree may split on, in
// order.
func (b *boosting) sampleFeatures() []int32 {
	nf := len(b.ds.Names)
	k := max(1, int(math.Round(b.cfg.ColSample*float64(nf))))
	var features []int32
	if k >= nf {
		for f := range nf {
			features = append(features, int32(f))
		}
		return features
	}
	for _, f := range b.rng.Perm(nf)[:k] {
		features = append(features, int32(f))
	}
	slices.Sort(features)
	return features
}

// logLoss returns the mean weighted log loss of margins on ds.
func logLoss(ds *Dataset, margins []float64) float64 {
	var loss, weight float64
	for i, m := range margins {
		w := ds.weight(i)
		loss += w * (softplus(m) - float64(ds.Y[i])*m)
		weight += w
	}
	return loss / max(weight, 1e-300)
}

// predict returns the leaf value t gives x (t as the grower built it).
func (t *tree) predict(x []float32) float64 {
	i := int32(0)
	for t.Left[i] != -1 {
		v := x[t.Feature[i]]
		if v < t.Threshold[i] || (v != v && t.DefaultLeft[i]) {
			i = t.Left[i]
		} else {
			i = t.Right[i]
		}
	}
	return t.Value[i]
}

// parallelFor calls fn on consecutive ranges of [0, n) from up to
// workers goroutines, giving each at least grain items, and returns when
// all are done.
func parallelFor(n, grain, workers int, fn func(lo, hi int)) {
	workers = max(1, min(workers, n/max(grain, 1)))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { fn(w*n/workers, (w+1)*n/workers) })
	}
	wg.Wait()
}

// monotoneParam writes constraints as "+i" and "-i" for the constrained
// features' positions, comma-separated.
func monotoneParam(c []int8) string {
	var b []byte
	for i, m := range c {
		if m == 0 {
			continue
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		if m > 0 {
			b = append(b, '+')
		} else {
			b = append(b, '-')
		}
		b = fmt.Appendf(b, "%d", i)
	}
	return string(b)
}
