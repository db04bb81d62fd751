package model

import "math"

// L-BFGS limits.
const (
	lbfgsHistory      = 10 // correction pairs kept
	lineSearchStepMax = 40 // halvings of the step before giving up
)

// minimize runs L-BFGS with a backtracking (Armijo) line search on the
// smooth function f, which returns its value at theta and writes the
// gradient. It improves theta in place and returns the iterations run. It
// stops when no gradient component exceeds tol, after iterationsMax, or
// when the line search can no longer decrease f.
func minimize(f func(theta, grad []float64) float64, theta []float64, iterationsMax int, tol float64) int {
	n := len(theta)
	grad := make([]float64, n)
	fx := f(theta, grad)
	var s, y [][]float64 // the last corrections, oldest first
	var rho []float64
	dir, alpha := make([]float64, n), make([]float64, lbfgsHistory)
	next, nextGrad := make([]float64, n), make([]float64, n)
	for it := range iterationsMax {
		if normInf(grad) <= tol {
			return it
		}
		// Two-loop recursion: dir = −H·grad.
		copy(dir, grad)
		for k := len(s) - 1; k >= 0; k-- {
			alpha[k] = rho[k] * dot(s[k], dir)
			axpy(-alpha[k], y[k], dir)
		}
		if k := len(s) - 1; k >= 0 {
			scale(dot(s[k], y[k])/dot(y[k], y[k]), dir)
		} else {
			scale(1/max(normInf(grad), 1), dir)
		}
		for k := range s {
			b := rho[k] * dot(y[k], dir)
			axpy(alpha[k]-b, s[k], dir)
		}
		scale(-1, dir)
		slope := dot(grad, dir)
		if slope >= 0 { // not a descent direction: restart from the gradient
			s, y, rho = s[:0], y[:0], rho[:0]
			copy(dir, grad)
			scale(-1/max(normInf(grad), 1), dir)
			slope = dot(grad, dir)
		}
		step, fnext := 1.0, 0.0
		accepted := false
		for range lineSearchStepMax {
			for j := range next {
				next[j] = theta[j] + step*dir[j]
			}
			fnext = f(next, nextGrad)
			if fnext <= fx+1e-4*step*slope {
				accepted = true
				break
			}
			step /= 2
		}
		if !accepted {
			return it
		}
		sk, yk := make([]float64, n), make([]float64, n)
		for j := range n {
			sk[j], yk[j] = next[j]-theta[j], nextGrad[j]-grad[j]
		}
		if sy := dot(sk, yk); sy > 1e-12 {
			if len(s) == lbfgsHistory {
				s, y, rho = s[1:], y[1:], rho[1:]
			}
			s, y, rho = append(s, sk), append(y, yk), append(rho, 1/sy)
		}
		improvement := fx - fnext
		copy(theta, next)
		copy(grad, nextGrad)
		fx = fnext
		if improvement <= 1e-14*max(1, math.Abs(fx)) {
			return it + 1
		}
	}
	return iterationsMax
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// axpy adds a·x to y.
func axpy(a float64, x, y []float64) {
	for i := range x {
		y[i] += a * x[i]
	}
}

func scale(a float64, x []float64) {
	for i := range x {
		x[i] *= a
	}
}

func normInf(x []float64) float64 {
	var m float64
	for _, v := range x {
		m = max(m, math.Abs(v))
	}
	return m
}
