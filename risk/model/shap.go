package model

// Exact TreeSHAP (Lundberg, Erion and Lee, "Consistent individualized
// feature attribution for tree ensembles", algorithm 2), following
// XGBoost's RegTree::TreeShap so imported models explain as XGBoost's
// pred_contribs does. Cover fractions are taken over the children's covers
// so that the values always sum to the margin.

// pathElem is one feature on the unique path from the root to a node.
type pathElem struct {
	feature int32
	zero    float64 // fraction of the paths through here when the feature is unknown
	one     float64 // 1 when x follows this path, else 0
	weight  float64 // permutation weight
}

// shapScratch holds the path stack of one TreeSHAP call: each recursion
// level copies its parent's path into the space after it.
type shapScratch struct{ path []pathElem }

// treeSHAP adds the exact SHAP values of x to phi (bias last).
func (e *ensemble) treeSHAP(x []float32, phi []float64) {
	s, _ := e.scratch.Get().(*shapScratch)
	if s == nil {
		d := e.depth + 2
		s = &shapScratch{path: make([]pathElem, d*(d+1)/2)}
	}
	bias := len(phi) - 1
	phi[bias] += e.base
	for _, root := range e.roots {
		phi[bias] += e.value[root]
		e.shapNode(x, phi, root, 0, s.path, 1, 1, -1)
	}
	e.scratch.Put(s)
}

// shapNode visits node i at unique-path depth d; parent is the parent's
// path, extended here with the parent's split feature. The recursion is as
// deep as the tree, which compile bounded by treeDepthMax.
func (e *ensemble) shapNode(x []float32, phi []float64, i int32, d int, parent []pathElem, zero, one float64, feature int32) {
	path := parent[d+1:]
	copy(path, parent[:d+1])
	extendPath(path, d, zero, one, feature)
	nd := &e.nodes[i]
	if nd.feature < 0 {
		leaf := e.value[i]
		for k := 1; k <= d; k++ {
			el := &path[k]
			phi[el.feature] += unwoundPathSum(path, d, k) * (el.one - el.zero) * leaf
		}
		return
	}
	hot := nd.next(x)
	cold := nd.left
	if hot == nd.left {
		cold++
	}
	hotZero, coldZero := 0.5, 0.5
	if c := e.cover[nd.left] + e.cover[nd.left+1]; c > 0 {
		hotZero, coldZero = e.cover[hot]/c, e.cover[cold]/c
	}
	// A feature split on before is taken off the path and put back with
	// both fractions combined.
	inZero, inOne := 1.0, 1.0
	k := 1
	for ; k <= d; k++ {
		if path[k].feature == nd.feature {
			break
		}
	}
	if k <= d {
		inZero, inOne = path[k].zero, path[k].one
		unwindPath(path, d, k)
		d--
	}
	e.shapNode(x, phi, hot, d+1, path, hotZero*inZero, inOne, nd.feature)
	// A cold child that no training row reached weighs nothing (and its
	// zero fractions would divide by zero when unwound).
	if coldZero*inZero > 0 {
		e.shapNode(x, phi, cold, d+1, path, coldZero*inZero, 0, nd.feature)
	}
}

// reciprocal[n] is 1/n, so the path arithmetic multiplies instead of
// dividing (it runs O(depth²) times per leaf).
var reciprocal = func() (r [treeDepthMax + 3]float64) {
	for n := 1; n < len(r); n++ {
		r[n] = 1 / float64(n)
	}
	return r
}()

// The one fractions on a path are products of the 1 the root starts with
// and the 0 of cold branches, so they are 0 or 1 and dividing by one
// fraction that is not 0 is a no-op.

func extendPath(path []pathElem, d int, zero, one float64, feature int32) {
	w := 0.0
	if d == 0 {
		w = 1
	}
	path[d] = pathElem{feature: feature, zero: zero, one: one, weight: w}
	r := reciprocal[d+1]
	for i := d - 1; i >= 0; i-- {
		path[i+1].weight += one * path[i].weight * float64(i+1) * r
		path[i].weight = zero * path[i].weight * float64(d-i) * r
	}
}

func unwindPath(path []pathElem, d, k int) {
	one, zero := path[k].one, path[k].zero
	next := path[d].weight
	r := reciprocal[d+1]
	for i := d - 1; i >= 0; i-- {
		if one != 0 {
			tmp := path[i].weight
			path[i].weight = next * float64(d+1) * reciprocal[i+1]
			next = tmp - path[i].weight*zero*float64(d-i)*r
		} else {
			path[i].weight = path[i].weight * float64(d+1) * reciprocal[d-i] / zero
		}
	}
	for i := k; i < d; i++ {
		path[i].feature, path[i].zero, path[i].one = path[i+1].feature, path[i+1].zero, path[i+1].one
	}
}

func unwoundPathSum(path []pathElem, d, k int) float64 {
	one, zero := path[k].one, path[k].zero
	next := path[d].weight
	total := 0.0
	switch {
	case one != 0:
		zr := zero * reciprocal[d+1]
		for i := d - 1; i >= 0; i-- {
			tmp := next * float64(d+1) * reciprocal[i+1]
			total += tmp
			next = path[i].weight - tmp*zr*float64(d-i)
		}
	case zero != 0:
		for i := d - 1; i >= 0; i-- {
			total += path[i].weight * reciprocal[d-i]
		}
		total *= float64(d+1) / zero
	}
	return total
}
