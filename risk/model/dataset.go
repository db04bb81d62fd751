package model

import (
	"fmt"
	"math"
)

// Dataset is a table of examples: float32 features (NaN means missing) in
// row-major order and 0/1 labels, 1 meaning fraud.
type Dataset struct {
	Names []string  // feature names, one per column
	X     []float32 // row-major, len(X) = Rows()*len(Names)
	Y     []float32 // labels, 0 or 1
	W     []float32 // optional example weights; nil means all 1
}

// Rows returns the number of examples.
func (d *Dataset) Rows() int { return len(d.Y) }

// Row returns example i's features, sharing d.X.
func (d *Dataset) Row(i int) []float32 {
	n := len(d.Names)
	return d.X[i*n : (i+1)*n : (i+1)*n]
}

// weight returns example i's weight.
func (d *Dataset) weight(i int) float64 {
	if d.W == nil {
		return 1
	}
	return float64(d.W[i])
}

// rowsMax bounds a training set so that row indices fit in int32.
const rowsMax = math.MaxInt32

// check validates d for training: shapes, labels, weights, names, and
// features that are finite or NaN. Infinite features are refused because a
// cut point learned from one could not be written to a model file.
func (d *Dataset) check() error {
	if err := checkNames(d.Names); err != nil {
		return err
	}
	rows := len(d.Y)
	if rows == 0 {
		return fmt.Errorf("dataset has no rows")
	}
	if rows > rowsMax/len(d.Names) {
		return fmt.Errorf("dataset has %d rows of %d features, more than %d values", rows, len(d.Names), rowsMax)
	}
	if len(d.X) != rows*len(d.Names) {
		return fmt.Errorf("dataset X has %d values, want %d rows × %d features", len(d.X), rows, len(d.Names))
	}
	if d.W != nil && len(d.W) != rows {
		return fmt.Errorf("dataset W has %d weights for %d rows", len(d.W), rows)
	}
	var pos, neg int
	for i, y := range d.Y {
		switch y {
		case 0:
			neg++
		case 1:
			pos++
		default:
			return fmt.Errorf("label of row %d is %v, not 0 or 1", i, y)
		}
		if d.W != nil {
			if w := float64(d.W[i]); !(w >= 0) || math.IsInf(w, 1) {
				return fmt.Errorf("weight of row %d is %v, not finite and ≥ 0", i, w)
			}
		}
	}
	if pos == 0 || neg == 0 {
		return fmt.Errorf("dataset needs both classes, has %d positives and %d negatives", pos, neg)
	}
	for i, x := range d.X {
		if math.IsInf(float64(x), 0) {
			return fmt.Errorf("feature %q of row %d is infinite (use NaN for missing)", d.Names[i%len(d.Names)], i/len(d.Names))
		}
	}
	return nil
}
