package attack

import (
	"fmt"
	"math"

	"github.com/unswift/unswift/internal/kernel"
	"github.com/unswift/unswift/internal/tensor"
)

// matrix dequantizes t (rows × cols, any supported type) into float64, row by row.
func matrix(t *tensor.Tensor) ([]float64, error) {
	rows, cols := t.Rows(), t.Cols()
	out := make([]float64, rows*cols)
	buf := make([]float32, cols)
	for r := 0; r < rows; r++ {
		if err := tensor.Dequantize(buf, t.Type, t.Row(r)); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		for c, v := range buf {
			out[r*cols+c] = float64(v)
		}
	}
	return out, nil
}

// vector reads an F32 tensor as float64.
func vector(t *tensor.Tensor) []float64 {
	f := t.F32s()
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out
}

// values dequantizes every value of t (a bias vector of any supported type)
// into float64.
func values(t *tensor.Tensor) ([]float64, error) {
	buf := make([]float32, t.Len())
	if err := tensor.Dequantize(buf, t.Type, t.Data); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	out := make([]float64, len(buf))
	for i, v := range buf {
		out[i] = float64(v)
	}
	return out, nil
}

func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// cholesky factors the symmetric positive definite n × n matrix a (only its
// lower triangle is read) in place into L with a = L Lᵀ, parallel over rows on
// pool (nil: serial).
func cholesky(a []float64, n int, pool *kernel.Pool) error {
	for j := 0; j < n; j++ {
		rj := a[j*n : j*n+j]
		d := a[j*n+j] - dot(rj, rj)
		if !(d > 0) {
			return fmt.Errorf("least-squares system is not positive definite (pivot %d is %g)", j, d)
		}
		d = math.Sqrt(d)
		a[j*n+j] = d
		rows := n - j - 1
		update := func(lo, hi int) {
			for i := j + 1 + lo; i < j+1+hi; i++ {
				a[i*n+j] = (a[i*n+j] - dot(a[i*n:i*n+j], rj)) / d
			}
		}
		if pool == nil || rows*j < 1<<14 {
			update(0, rows)
		} else {
			pool.For(rows, 16, update)
		}
	}
	return nil
}

// cholSolve solves L Lᵀ x = b in place for the factor from cholesky.
func cholSolve(l []float64, n int, b []float64) {
	for i := 0; i < n; i++ {
		b[i] = (b[i] - dot(l[i*n:i*n+i], b[:i])) / l[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= l[k*n+i] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
}

// ridgeSolve solves (A + λ·mean(diag A)·I) X = B for the symmetric positive
// semi-definite n × n matrix A (lower triangle used; A is overwritten) and the
// n × k right-hand sides B (row-major, overwritten by X). Rows and columns are
// first scaled to a unit diagonal, so the ridge acts evenly on features of
// any scale.
func ridgeSolve(a []float64, n int, b []float64, k int, lambda float64, pool *kernel.Pool) error {
	scale := make([]float64, n)
	for i := range scale {
		d := a[i*n+i]
		if d > 0 {
			scale[i] = 1 / math.Sqrt(d)
		}
	}
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			a[i*n+j] *= scale[i] * scale[j]
		}
		a[i*n+i] += lambda
		if scale[i] == 0 {
			a[i*n+i] = 1 // a feature that is zero on every sample
		}
	}
	if err := cholesky(a, n, pool); err != nil {
		return err
	}
	col := make([]float64, n)
	for c := 0; c < k; c++ {
		for i := range col {
			col[i] = b[i*k+c] * scale[i]
		}
		cholSolve(a, n, col)
		for i := range col {
			b[i*k+c] = col[i] * scale[i]
		}
	}
	return nil
}
