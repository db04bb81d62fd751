package model

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// LogisticConfig configures TrainLogistic. Zero values mean the defaults
// given with each field.
type LogisticConfig struct {
	// L2 penalizes the squared weights (on standardized features; the
	// loss is the mean over rows). Default 1e-4.
	L2 float64 `json:"l2"`
	// ScalePosWeight multiplies the weight of positive rows. Default 1.
	ScalePosWeight float64 `json:"scale_pos_weight"`
	// Iterations bounds L-BFGS iterations. Default 200.
	Iterations int `json:"iterations"`
	// Tolerance stops L-BFGS once no gradient component exceeds it.
	// Default 1e-6.
	Tolerance float64 `json:"tolerance"`
	// Threshold is the score at which Metrics counts a row as flagged.
	// Default 0.5.
	Threshold float64 `json:"threshold"`

	Valid   *Dataset         `json:"-"` // optional; the model's Metrics are measured on it
	Workers int              `json:"-"` // goroutines; default GOMAXPROCS
	Clock   func() time.Time `json:"-"` // stamps Created; default time.Now
}

const logisticIterationsMax = 10_000

func (c *LogisticConfig) resolve() error {
	setDefault(&c.L2, 1e-4)
	setDefault(&c.ScalePosWeight, 1)
	setDefault(&c.Iterations, 200)
	setDefault(&c.Tolerance, 1e-6)
	setDefault(&c.Threshold, 0.5)
	setDefault(&c.Workers, runtime.GOMAXPROCS(0))
	if c.Clock == nil {
		c.Clock = time.Now
	}
	switch {
	case !(c.L2 > 0) || math.IsInf(c.L2, 0):
		return fmt.Errorf("l2 %v must be positive", c.L2)
	case !(c.ScalePosWeight > 0) || math.IsInf(c.ScalePosWeight, 0):
		return fmt.Errorf("scale_pos_weight %v must be positive", c.ScalePosWeight)
	case c.Iterations < 0 || c.Iterations > logisticIterationsMax:
		return fmt.Errorf("iterations %d must be between 1 and %d", c.Iterations, logisticIterationsMax)
	case !(c.Tolerance > 0):
		return fmt.Errorf("tolerance %v must be positive", c.Tolerance)
	case !finite(c.Threshold):
		return fmt.Errorf("threshold %v must be finite", c.Threshold)
	case c.Workers < 1:
		return fmt.Errorf("workers %d must be positive", c.Workers)
	}
	return nil
}

// linear is a logistic regression on standardized features:
// margin = intercept + Σ weights[j]·(x[j]−means[j])/scales[j], a missing
// x[j] counting as means[j].
type linear struct {
	intercept float64
	weights   []float64
	means     []float64
	scales    []float64
	inverse   []float64 // 1/scales
}

func newLinear(intercept float64, weights, means, scales []float64) *linear {
	l := &linear{intercept: intercept, weights: weights, means: means, scales: scales, inverse: make([]float64, len(scales))}
	for j, s := range scales {
		l.inverse[j] = 1 / s
	}
	return l
}

// z returns feature j of x standardized, 0 when missing.
func (l *linear) z(x []float32, j int) float64 {
	v := x[j]
	if v != v {
		return 0
	}
	return (float64(v) - l.means[j]) * l.inverse[j]
}

func (l *linear) margin(x []float32) float64 {
	m := l.intercept
	for j, w := range l.weights {
		m += w * l.z(x, j)
	}
	return m
}

func (l *linear) contributions(x []float32, phi []float64) {
	for j, w := range l.weights {
		phi[j] = w * l.z(x, j)
	}
	phi[len(l.weights)] = l.intercept
}

// TrainLogistic fits an L2-regularized logistic regression to ds with
// L-BFGS on standardized features (see the package documentation).
func TrainLogistic(ds *Dataset, cfg LogisticConfig) (*Model, error) {
	if err := cfg.resolve(); err != nil {
		return nil, fmt.Errorf("train logistic: %w", err)
	}
	if err := checkTrainingData(ds, cfg.Valid); err != nil {
		return nil, fmt.Errorf("train logistic: %w", err)
	}
	means, scales := standardization(ds)
	lin := newLinear(0, make([]float64, len(ds.Names)), means, scales)
	obj := &logisticObjective{ds: ds, lin: lin, cfg: &cfg}
	theta := make([]float64, len(ds.Names)+1)
	theta[0] = logit(positiveRate(ds, cfg.ScalePosWeight))
	iterations := minimize(obj.eval, theta, cfg.Iterations, cfg.Tolerance)
	lin.intercept = theta[0]
	copy(lin.weights, theta[1:])
	if _, err := (&linearFile{lin.intercept, lin.weights, lin.means, lin.scales}).compile(len(ds.Names)); err != nil {
		return nil, fmt.Errorf("train logistic: the fit diverged (raise l2?): %w", err)
	}

	m := &Model{Algo: AlgoLogistic, FeatureNames: clone(ds.Names), TrainedOn: ds.Rows(), linear: lin}
	if err := m.finish(cfg, map[string]any{"iterations_run": iterations}, cfg.Valid, cfg.Threshold, cfg.Clock); err != nil {
		return nil, fmt.Errorf("train logistic: %w", err)
	}
	return m, nil
}

// standardization returns each feature's mean and standard deviation over
// its non-missing values; a feature without spread gets scale 1.
func standardization(ds *Dataset) (means, scales []float64) {
	nf := len(ds.Names)
	means, scales = make([]float64, nf), make([]float64, nf)
	counts := make([]float64, nf)
	for i := range ds.Rows() {
		for j, v := range ds.Row(i) {
			if v == v {
				means[j] += float64(v)
				counts[j]++
			}
		}
	}
	for j := range means {
		if counts[j] > 0 {
			means[j] /= counts[j]
		}
	}
	for i := range ds.Rows() {
		for j, v := range ds.Row(i) {
			if v == v {
				d := float64(v) - means[j]
				scales[j] += d * d
			}
		}
	}
	for j := range scales {
		scales[j] = math.Sqrt(scales[j] / max(counts[j], 1))
		if !(scales[j] >= scaleMin) {
			scales[j] = 1
		}
	}
	return means, scales
}

// positiveRate returns the weighted share of positive rows, kept away
// from 0 and 1 so that its logit is finite.
func positiveRate(ds *Dataset, scalePos float64) float64 {
	var pos, all float64
	for i, y := range ds.Y {
		w := ds.weight(i)
		if y == 1 {
			w *= scalePos
			pos += w
		}
		all += w
	}
	if all == 0 {
		return 0.5
	}
	return min(max(pos/all, 1e-6), 1-1e-6)
}

// logisticObjective is the mean weighted log loss plus the L2 penalty, as
// a function of theta = (intercept, weights...).
type logisticObjective struct {
	ds  *Dataset
	lin *linear
	cfg *LogisticConfig
}

// logisticBlockRows is the rows per block of the objective. Blocks are
// summed in order whatever the number of workers, so results do not
// depend on it.
const logisticBlockRows = 4096

// eval returns the objective at theta and writes its gradient to grad.
func (o *logisticObjective) eval(theta, grad []float64) float64 {
	rows, nf := o.ds.Rows(), len(o.ds.Names)
	blocks := (rows + logisticBlockRows - 1) / logisticBlockRows
	partial := make([]float64, blocks*(nf+3)) // per block: loss, weight, gradient
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(o.cfg.Workers, blocks) {
		wg.Go(func() {
			for {
				b := int(next.Add(1) - 1)
				if b >= blocks {
					return
				}
				o.block(theta, b*logisticBlockRows, min((b+1)*logisticBlockRows, rows), partial[b*(nf+3):(b+1)*(nf+3)])
			}
		})
	}
	wg.Wait()
	var loss, weight float64
	clear(grad)
	for b := range blocks {
		p := partial[b*(nf+3) : (b+1)*(nf+3)]
		loss += p[0]
		weight += p[1]
		for j := range grad {
			grad[j] += p[2+j]
		}
	}
	if weight == 0 {
		weight = 1
	}
	for j := range grad {
		grad[j] /= weight
	}
	loss /= weight
	for j := 1; j < len(theta); j++ {
		loss += o.cfg.L2 / 2 * theta[j] * theta[j]
		grad[j] += o.cfg.L2 * theta[j]
	}
	return loss
}

// block sums the loss, weight and gradient of rows [lo, hi) into out.
func (o *logisticObjective) block(theta []float64, lo, hi int, out []float64) {
	w := theta[1:]
	g := out[2:]
	for i := lo; i < hi; i++ {
		x := o.ds.Row(i)
		m := theta[0]
		for j := range w {
			m += w[j] * o.lin.z(x, j)
		}
		y := float64(o.ds.Y[i])
		wt := o.ds.weight(i)
		if y == 1 {
			wt *= o.cfg.ScalePosWeight
		}
		out[0] += wt * (softplus(m) - y*m)
		out[1] += wt
		r := wt * (sigmoid(m) - y)
		g[0] += r
		for j := range w {
			g[1+j] += r * o.lin.z(x, j)
		}
	}
}

// softplus is log(1+e^m) without overflow.
func softplus(m float64) float64 {
	if m > 0 {
		return m + math.Log1p(math.Exp(-m))
	}
	return math.Log1p(math.Exp(m))
}

func clone[T any](s []T) []T { return append([]T(nil), s...) }
