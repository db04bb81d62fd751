package model

import (
	"math"
	"slices"
	"sync"
)

// missingCode is the bin code of a missing value; value bins are 0 to 254.
const missingCode = 255

// binned is a training set cut into quantile bins, once per training run.
type binned struct {
	codes [][]uint8   // [feature][row]: the value's bin, or missingCode
	cuts  [][]float32 // [feature]: ascending cut points; bin b holds cuts[b-1] ≤ x < cuts[b]
}

func newBinned(ds *Dataset, bins, workers int) *binned {
	nf, rows := len(ds.Names), ds.Rows()
	b := &binned{codes: make([][]uint8, nf), cuts: make([][]float32, nf)}
	parallelFor(nf, 1, workers, func(lo, hi int) {
		column := make([]float32, 0, rows)
		for f := lo; f < hi; f++ {
			column = column[:0]
			for i := range rows {
				if v := ds.X[i*nf+f]; v == v {
					column = append(column, v)
				}
			}
			slices.Sort(column)
			cuts := cutPoints(column, bins)
			codes := make([]uint8, rows)
			for i := range rows {
				codes[i] = binOf(ds.X[i*nf+f], cuts)
			}
			b.cuts[f], b.codes[f] = cuts, codes
		}
	})
	return b
}

// cutPoints returns at most bins−1 ascending cut points for the sorted
// values: every distinct value but the smallest when there are few enough,
// else values at equally spaced quantiles.
func cutPoints(sorted []float32, bins int) []float32 {
	var cuts []float32
	distinct := 0
	for i, v := range sorted {
		if i == 0 || v != sorted[i-1] {
			distinct++
		}
	}
	if distinct <= bins {
		for i, v := range sorted {
			if i > 0 && v != sorted[i-1] {
				cuts = append(cuts, v)
			}
		}
		return cuts
	}
	for q := 1; q < bins; q++ {
		v := sorted[q*len(sorted)/bins]
		if v > sorted[0] && (len(cuts) == 0 || v > cuts[len(cuts)-1]) {
			cuts = append(cuts, v)
		}
	}
	return cuts
}

// binOf returns the bin of x: the number of cuts ≤ x. So x < cuts[b]
// exactly when binOf(x) ≤ b, which makes a split on bins a split on x.
func binOf(x float32, cuts []float32) uint8 {
	if x != x {
		return missingCode
	}
	lo, hi := 0, len(cuts)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if cuts[mid] <= x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return uint8(lo)
}

// histBin sums the gradients, hessians and rows that fall into one bin.
type histBin struct{ g, h, n float64 }

// histogram holds 256 bins per feature (the last one for missing values).
type histogram []histBin

func (h histogram) feature(f int32) *[256]histBin { return (*[256]histBin)(h[int(f)*256:]) }

// grower grows one tree at a time on a binned training set.
type grower struct {
	bins     *binned
	grad     []gradPair
	cfg      *GBDTConfig
	rows     []int32 // the rows of the tree, grouped by node
	tmp      []int32
	features []int32     // the features this tree may split on
	free     []histogram // histograms to reuse
}

func newGrower(bins *binned, grad []gradPair, cfg *GBDTConfig) *grower {
	return &grower{bins: bins, grad: grad, cfg: cfg, rows: make([]int32, 0, len(grad)), tmp: make([]int32, len(grad))}
}

// pending is a node waiting to be split or made a leaf.
type pending struct {
	index   int32 // in the tree
	lo, hi  int   // its rows are grower.rows[lo:hi]
	g, h, n float64
	depth   int
	hist    histogram // nil when the node cannot split
	// lower and upper bound the node's leaf weight (before shrinkage):
	// what monotone constraints on the splits above it allow.
	lower, upper float64
}

// split is a node's best split: bins ≤ bin go left.
type split struct {
	feature     int32
	bin         int
	defaultLeft bool
	gain        float64
	gl, hl, nl  float64 // the left child's sums
}

// gainMin is the least gain a split needs besides Gamma, so that rounding
// noise does not grow trees (XGBoost's kRtEps).
const gainMin = 1e-6

// grow builds a tree on rows (which becomes grower.rows) with features,
// depth first.
func (gr *grower) grow(rows, features []int32) tree {
	gr.rows, gr.features = rows, features
	var t tree
	root := pending{index: t.addNode(), hi: len(rows), lower: math.Inf(-1), upper: math.Inf(1)}
	for _, r := range rows {
		root.g += gr.grad[r].g
		root.h += gr.grad[r].h
	}
	root.n = float64(len(rows))
	if gr.splittable(&root) {
		root.hist = gr.alloc()
		gr.build(root.hist, rows)
	}
	stack := []pending{root}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		var s split
		if p.hist == nil || !gr.bestSplit(&p, &s) {
			t.setLeaf(p.index, gr.leafValue(&p), p.h)
			gr.release(p.hist)
			continue
		}
		mid := gr.partition(p.lo, p.hi, &s)
		left := pending{lo: p.lo, hi: mid, g: s.gl, h: s.hl, n: s.nl, depth: p.depth + 1, lower: p.lower, upper: p.upper}
		right := pending{lo: mid, hi: p.hi, g: p.g - s.gl, h: p.h - s.hl, n: p.n - s.nl, depth: p.depth + 1, lower: p.lower, upper: p.upper}
		// Under a monotone constraint every leaf left of the split stays
		// on its side of the midpoint of the two children's weights, and
		// every leaf right of it on the other (XGBoost's way).
		if c := gr.monotone(s.feature); c != 0 {
			mid := (gr.weight(&left, left.g, left.h) + gr.weight(&right, right.g, right.h)) / 2
			if c > 0 {
				left.upper, right.lower = mid, mid
			} else {
				left.lower, right.upper = mid, mid
			}
		}
		left.index, right.index = t.setSplit(p.index, s.feature, gr.threshold(&s), s.defaultLeft, p.h)
		gr.childHistograms(&p, &left, &right)
		stack = append(stack, right, left)
	}
	return t
}

// leafValue is the Newton step −G/(H+λ), shrunk by the learning rate. It
// is clamped to what model files allow, which only a tiny Lambda on rows
// the model is sure of wrongly can reach.
func (gr *grower) leafValue(p *pending) float64 {
	v := gr.weight(p, p.g, p.h) * gr.cfg.LearningRate
	return min(max(v, -logOddsMax), logOddsMax)
}

// weight is the Newton step −G/(H+λ) within p's bounds, unshrunk.
func (gr *grower) weight(p *pending, g, h float64) float64 {
	return min(max(-g/(h+gr.cfg.Lambda), p.lower), p.upper)
}

// monotone is the constraint on feature f: +1 the score may only rise
// with it, −1 only fall, 0 none.
func (gr *grower) monotone(f int32) int8 {
	if int(f) < len(gr.cfg.Monotone) {
		return gr.cfg.Monotone[f]
	}
	return 0
}

// splittable says whether a node could still split.
func (gr *grower) splittable(p *pending) bool {
	return p.depth < gr.cfg.MaxDepth && p.n >= 2*float64(gr.cfg.MinRowsPerLeaf) && p.h >= 2*gr.cfg.MinChildWeight
}

// childHistograms gives the children that can split their histograms:
// the smaller child's built from its rows, the larger one's the parent's
// minus it. The parent's histogram is reused or released.
func (gr *grower) childHistograms(p, left, right *pending) {
	needLeft, needRight := gr.splittable(left), gr.splittable(right)
	if !needLeft && !needRight {
		gr.release(p.hist)
		return
	}
	small, large := left, right
	if right.hi-right.lo < left.hi-left.lo {
		small, large = right, left
	}
	small.hist = gr.alloc()
	gr.build(small.hist, gr.rows[small.lo:small.hi])
	for _, f := range gr.features {
		ph, sh := p.hist.feature(f), small.hist.feature(f)
		for b := range ph {
			ph[b].g -= sh[b].g
			ph[b].h -= sh[b].h
			ph[b].n -= sh[b].n
		}
	}
	large.hist = p.hist
	for _, c := range []*pending{small, large} {
		if !gr.splittable(c) {
			gr.release(c.hist)
			c.hist = nil
		}
	}
}

func (gr *grower) alloc() histogram {
	if n := len(gr.free); n > 0 {
		h := gr.free[n-1]
		gr.free = gr.free[:n-1]
		return h
	}
	return make(histogram, len(gr.bins.codes)*256)
}

func (gr *grower) release(h histogram) {
	if h != nil {
		gr.free = append(gr.free, h)
	}
}

// histWorkMin is the bin updates below which one goroutine builds a
// histogram alone.
const histWorkMin = 1 << 16

// build fills h with the sums of rows, in parallel over features: each
// goroutine owns whole features, so there is nothing to merge and the sums
// do not depend on the number of workers.
func (gr *grower) build(h histogram, rows []int32) {
	features := gr.features
	workers := gr.cfg.Workers
	if len(rows)*len(features) < histWorkMin {
		workers = 1
	}
	workers = min(workers, len(features))
	var wg sync.WaitGroup
	for w := range workers {
		part := features[w*len(features)/workers : (w+1)*len(features)/workers]
		wg.Go(func() {
			for _, f := range part {
				bins := h.feature(f)
				*bins = [256]histBin{}
				codes := gr.bins.codes[f]
				for _, r := range rows {
					b := &bins[codes[r]]
					p := gr.grad[r]
					b.g += p.g
					b.h += p.h
					b.n++
				}
			}
		})
	}
	wg.Wait()
}

// bestSplit finds p's best split over the tree's features and reports
// whether there is one worth taking. Ties go to the lower feature and bin,
// so the result is deterministic.
func (gr *grower) bestSplit(p *pending, best *split) bool {
	lambda := gr.cfg.Lambda
	parentScore := p.g * p.g / (p.h + lambda)
	best.gain = math.Max(gr.cfg.Gamma, gainMin)
	found := false
	try := func(f int32, bin int, gl, hl, nl float64, missLeft, hasMissing bool) {
		gr_, hr, nr := p.g-gl, p.h-hl, p.n-nl
		if nl < float64(gr.cfg.MinRowsPerLeaf) || nr < float64(gr.cfg.MinRowsPerLeaf) ||
			hl < gr.cfg.MinChildWeight || hr < gr.cfg.MinChildWeight {
			return
		}
		gain := gl*gl/(hl+lambda) + gr_*gr_/(hr+lambda) - parentScore
		if c := gr.monotone(f); c != 0 && gain > best.gain {
			// Missing values go with whichever side; the constraint is on
			// the values' order, so the children's weights must be too.
			wl, wr := gr.weight(p, gl, hl), gr.weight(p, gr_, hr)
			if (c > 0 && wl > wr) || (c < 0 && wl < wr) {
				return
			}
		}
		if gain > best.gain {
			if !hasMissing {
				// No training row of this node was missing the feature:
				// later ones follow the heavier side.
				missLeft = hl >= hr
			}
			*best = split{feature: f, bin: bin, defaultLeft: missLeft, gain: gain, gl: gl, hl: hl, nl: nl}
			found = true
		}
	}
	for _, f := range gr.features {
		bins := p.hist.feature(f)
		miss := bins[missingCode]
		hasMissing := miss.n > 0
		values := len(gr.bins.cuts[f]) + 1
		var gl, hl, nl float64
		for b := range values {
			gl, hl, nl = gl+bins[b].g, hl+bins[b].h, nl+bins[b].n
			if bins[b].n == 0 && b < values-1 {
				continue // the same partition as the previous bin
			}
			if b == values-1 {
				// All values left, missing ones right.
				if hasMissing {
					try(f, b, gl, hl, nl, false, true)
				}
				break
			}
			try(f, b, gl, hl, nl, false, hasMissing)
			if hasMissing {
				try(f, b, gl+miss.g, hl+miss.h, nl+miss.n, true, true)
			}
		}
	}
	return found
}

// threshold returns the feature value of a split: x < threshold goes left.
// A split of all values from missing ones has no cut point above its
// values; the largest float32 stands in.
func (gr *grower) threshold(s *split) float32 {
	cuts := gr.bins.cuts[s.feature]
	if s.bin < len(cuts) {
		return cuts[s.bin]
	}
	return math.MaxFloat32
}

// partition reorders rows[lo:hi] stably so that the rows going left come
// first, and returns where the right ones start.
func (gr *grower) partition(lo, hi int, s *split) int {
	codes := gr.bins.codes[s.feature]
	rows := gr.rows[lo:hi]
	nl, nr := 0, 0
	for _, r := range rows {
		c := codes[r]
		if (c == missingCode && s.defaultLeft) || (c != missingCode && int(c) <= s.bin) {
			rows[nl] = r
			nl++
		} else {
			gr.tmp[nr] = r
			nr++
		}
	}
	copy(rows[nl:], gr.tmp[:nr])
	return lo + nl
}

// addNode appends a leaf to t and returns its index.
func (t *tree) addNode() int32 {
	t.Left = append(t.Left, -1)
	t.Right = append(t.Right, -1)
	t.Feature = append(t.Feature, -1)
	t.Threshold = append(t.Threshold, 0)
	t.DefaultLeft = append(t.DefaultLeft, false)
	t.Value = append(t.Value, 0)
	t.Cover = append(t.Cover, 0)
	return int32(len(t.Left) - 1)
}

func (t *tree) setLeaf(i int32, value, cover float64) {
	t.Value[i], t.Cover[i] = value, cover
}

// setSplit makes node i a split and returns its new children.
func (t *tree) setSplit(i, feature int32, threshold float32, defaultLeft bool, cover float64) (left, right int32) {
	left, right = t.addNode(), t.addNode()
	t.Left[i], t.Right[i], t.Feature[i] = left, right, feature
	t.Threshold[i], t.DefaultLeft[i], t.Cover[i] = threshold, defaultLeft, cover
	return left, right
}
