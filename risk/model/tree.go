package model

import (
	"fmt"
	"sync"
)

// tree is one decision tree as model files hold it, and as the trainer
// and the XGBoost importer hand it over: parallel arrays indexed by node,
// the root at 0.
type tree struct {
	Left        []int32   `json:"left"`         // left child; -1 for a leaf
	Right       []int32   `json:"right"`        // right child; -1 for a leaf
	Feature     []int32   `json:"feature"`      // split feature; -1 for a leaf
	Threshold   []float32 `json:"threshold"`    // x < threshold goes left
	DefaultLeft []bool    `json:"default_left"` // missing values go left
	Value       []float64 `json:"value"`        // leaf value (log-odds); 0 for splits
	Cover       []float64 `json:"cover"`        // hessian of the training rows through the node
}

// node is a tree node as prediction walks it: 16 bytes, the two children
// of a split next to each other.
type node struct {
	threshold float32
	feature   int32 // -1 for a leaf
	left      int32 // index of the left child in ensemble.nodes; the right one is left+1
	missRight int32 // 1 when missing values go right, else 0
}

// ensemble is a compiled sum of trees: every tree's nodes in breadth-first
// order, one tree after the other, so every child comes after its parent.
type ensemble struct {
	base     float64 // margin before any tree
	features int
	nodes    []node
	value    []float64 // leaves: the leaf value; splits: the expected value (cover-weighted mean of the leaves below)
	cover    []float64
	roots    []int32
	depth    int       // edges from root to the deepest leaf, over all trees
	scratch  sync.Pool // of *shapScratch
}

// compile validates trees and lays them out for prediction. Trees come
// from users, so it trusts no index: every node must be reached exactly
// once from its root, within treeDepthMax levels. Unreachable nodes are
// refused unless allowOrphans (XGBoost leaves pruned nodes in its files).
func compile(trees []tree, base float64, features int, allowOrphans bool) (*ensemble, error) {
	if len(trees) > treesMax {
		return nil, fmt.Errorf("%d trees, at most %d allowed", len(trees), treesMax)
	}
	if !within(base, logOddsMax) {
		return nil, fmt.Errorf("base margin %v is not within ±%g", base, logOddsMax)
	}
	if features < 1 || features > featuresMax {
		return nil, fmt.Errorf("%d features, want 1 to %d", features, featuresMax)
	}
	e := &ensemble{base: base, features: features}
	for i := range trees {
		if err := e.add(&trees[i], allowOrphans); err != nil {
			return nil, fmt.Errorf("tree %d: %w", i, err)
		}
	}
	return e, nil
}

// add appends one tree to e; see compile.
func (e *ensemble) add(t *tree, allowOrphans bool) error {
	order, err := e.walk(t, allowOrphans)
	if err != nil {
		return err
	}
	e.layout(t, order)
	return nil
}

// walk validates t breadth-first from the root and returns the indices of
// its reachable nodes in that order, a split's two children together.
func (e *ensemble) walk(t *tree, allowOrphans bool) ([]int32, error) {
	n := len(t.Left)
	if n == 0 || n > treeNodesMax {
		return nil, fmt.Errorf("%d nodes, want 1 to %d", n, treeNodesMax)
	}
	if len(t.Right) != n || len(t.Feature) != n || len(t.Threshold) != n ||
		len(t.DefaultLeft) != n || len(t.Value) != n || len(t.Cover) != n {
		return nil, fmt.Errorf("node arrays differ in length")
	}
	order := make([]int32, 1, n)
	depth := make([]int32, n)
	seen := make([]bool, n)
	seen[0] = true
	for k := 0; k < len(order); k++ {
		i := order[k]
		if !within(t.Value[i], logOddsMax) || !finite(float64(t.Threshold[i])) || !(t.Cover[i] >= 0 && t.Cover[i] <= coverMax) {
			return nil, fmt.Errorf("node %d: want |value| ≤ %g, a finite threshold and cover between 0 and %g", i, logOddsMax, coverMax)
		}
		l, r, f := t.Left[i], t.Right[i], t.Feature[i]
		if l == -1 {
			if r != -1 || f != -1 {
				return nil, fmt.Errorf("node %d: a leaf (left -1) must have right and feature -1", i)
			}
			continue
		}
		if f < 0 || int(f) >= e.features {
			return nil, fmt.Errorf("node %d: feature %d out of range [0, %d)", i, f, e.features)
		}
		if depth[i] >= treeDepthMax {
			return nil, fmt.Errorf("node %d: deeper than %d", i, treeDepthMax)
		}
		for _, c := range [2]int32{l, r} {
			if c < 0 || int(c) >= n {
				return nil, fmt.Errorf("node %d: child %d out of range [0, %d)", i, c, n)
			}
			if seen[c] {
				return nil, fmt.Errorf("node %d: child %d is reached twice (a cycle or a shared node)", i, c)
			}
			seen[c] = true
			depth[c] = depth[i] + 1
			e.depth = max(e.depth, int(depth[c]))
			order = append(order, c)
		}
	}
	if len(order) != n && !allowOrphans {
		return nil, fmt.Errorf("%d of %d nodes are not reachable from the root", n-len(order), n)
	}
	return order, nil
}

// layout appends t's nodes in the given (breadth-first) order and
// computes the expected value of every split.
func (e *ensemble) layout(t *tree, order []int32) {
	base := int32(len(e.nodes))
	newIndex := make([]int32, len(t.Left))
	for k, i := range order {
		newIndex[i] = base + int32(k)
	}
	for _, i := range order {
		nd := node{feature: -1}
		if t.Left[i] != -1 {
			nd = node{threshold: t.Threshold[i], feature: t.Feature[i], left: newIndex[t.Left[i]], missRight: 1}
			if t.DefaultLeft[i] {
				nd.missRight = 0
			}
		}
		e.nodes = append(e.nodes, nd)
		e.value = append(e.value, t.Value[i])
		e.cover = append(e.cover, t.Cover[i])
	}
	// Bottom-up: children come after their parents.
	for k := len(e.nodes) - 1; k >= int(base); k-- {
		nd := &e.nodes[k]
		if nd.feature < 0 {
			continue
		}
		l := nd.left
		cl, cr := e.cover[l], e.cover[l+1]
		if cl+cr > 0 {
			e.value[k] = (cl*e.value[l] + cr*e.value[l+1]) / (cl + cr)
		} else {
			e.value[k] = (e.value[l] + e.value[l+1]) / 2
		}
	}
	e.roots = append(e.roots, base)
}

// export returns the trees in file form (breadth-first order, which
// compiles to the same layout).
func (e *ensemble) export() []tree {
	trees := make([]tree, len(e.roots))
	for ti, root := range e.roots {
		end := int32(len(e.nodes))
		if ti+1 < len(e.roots) {
			end = e.roots[ti+1]
		}
		n := int(end - root)
		t := tree{
			Left: make([]int32, n), Right: make([]int32, n), Feature: make([]int32, n),
			Threshold: make([]float32, n), DefaultLeft: make([]bool, n),
			Value: make([]float64, n), Cover: make([]float64, n),
		}
		for k := range n {
			nd := e.nodes[int(root)+k]
			t.Cover[k] = e.cover[int(root)+k]
			if nd.feature < 0 {
				t.Left[k], t.Right[k], t.Feature[k] = -1, -1, -1
				t.Value[k] = e.value[int(root)+k]
				continue
			}
			t.Left[k], t.Right[k] = nd.left-root, nd.left-root+1
			t.Feature[k], t.Threshold[k], t.DefaultLeft[k] = nd.feature, nd.threshold, nd.missRight == 0
		}
		trees[ti] = t
	}
	return trees
}

// next returns the child of split nd that x goes to: left when
// x < threshold, missing values by the default direction. The comparison
// becomes a flag, not a branch: which way a row goes is hard to predict.
func (nd *node) next(x []float32) int32 {
	v := x[nd.feature]
	right := int32(1)
	if v < nd.threshold {
		right = 0
	}
	if v != v {
		right = nd.missRight
	}
	return nd.left + right
}

// leaf returns the index of the leaf x reaches from node i.
func (e *ensemble) leaf(x []float32, i int32) int32 {
	nodes := e.nodes
	for {
		nd := &nodes[i]
		if nd.feature < 0 {
			return i
		}
		i = nd.next(x)
	}
}

func (e *ensemble) margin(x []float32) float64 {
	sum := e.base
	for _, root := range e.roots {
		sum += e.value[e.leaf(x, root)]
	}
	return sum
}

// saabas adds Saabas contributions of x to phi (bias last): every split
// on x's path credits its feature with the change in expected value.
func (e *ensemble) saabas(x []float32, phi []float64) {
	nodes, value := e.nodes, e.value
	bias := len(phi) - 1
	phi[bias] += e.base
	for _, i := range e.roots {
		prev := value[i]
		phi[bias] += prev
		for {
			nd := &nodes[i]
			if nd.feature < 0 {
				break
			}
			i = nd.next(x)
			phi[nd.feature] += value[i] - prev
			prev = value[i]
		}
	}
}
