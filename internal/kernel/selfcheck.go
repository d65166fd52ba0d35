package kernel

import (
	"fmt"
	"math"
	"os"

	"github.com/unswift/unswift/internal/tensor"
)

// envKernel names an environment variable that restricts the choice of
// kernels to one implementation ("go", "avx2" or "avx512"), for diagnosis
// and benchmarks. An unknown or unavailable name is ignored.
const envKernel = "UNSWIFT_KERNEL"

func init() { cur = choose(os.Getenv(envKernel)) }

// choose returns the best implementation that passes selfCheck, or the one
// named by want when it is available and passes.
func choose(want string) *impl {
	l := impls()
	found := false
	for _, im := range l {
		found = found || im.name == want
	}
	for i := len(l) - 1; i > 0; i-- {
		if found && l[i].name != want {
			continue
		}
		if selfCheck(l[i]) == nil {
			return l[i]
		}
	}
	return goImpl
}

// Implementation names the kernels in use: "avx512", "avx2" or "go".
func Implementation() string { return cur.name }

// selfCheck compares im with the portable implementation on small inputs that
// cover every kernel and its tails, so that a CPU or an assembly level that
// misbehaves is never used.
func selfCheck(im *impl) error {
	seed := uint32(12345)
	rnd := func() float32 {
		seed = seed*1664525 + 1013904223
		return float32(int32(seed>>8)%2001-1000) / 1000
	}
	vec := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = rnd()
		}
		return v
	}
	near := func(a, b, mag float32) bool {
		return math.Abs(float64(a-b)) <= 1e-4*float64(mag)+1e-6
	}
	for _, n := range []int{5, 17, 100} {
		a, b := vec(n), vec(n)
		var mag float32
		for i := range a {
			mag += float32(math.Abs(float64(a[i] * b[i])))
		}
		if g, w := im.dot(a, b), dotGo(a, b); !near(g, w, mag) {
			return fmt.Errorf("%s dot n=%d: %v, want %v", im.name, n, g, w)
		}
		y1, y2 := append([]float32(nil), b...), append([]float32(nil), b...)
		im.axpy(0.5, a, y1)
		axpyGo(0.5, a, y2)
		im.scale(-2, y1)
		scaleGo(-2, y2)
		for i := range y1 {
			if !near(y1[i], y2[i], 4) {
				return fmt.Errorf("%s axpy/scale n=%d: element %d = %v, want %v", im.name, n, i, y1[i], y2[i])
			}
		}
	}
	if err := checkVec(im, rnd); err != nil {
		return err
	}
	types := []tensor.DType{tensor.F32, tensor.F16, tensor.BF16, tensor.Q8_0, tensor.Q8F32}
	for _, t := range types {
		kd, _ := kindOf(t)
		for _, k := range []int{37, 160} {
			if k%t.BlockSize() != 0 {
				continue
			}
			const rows = 5
			cols := k + 32
			stride, _ := t.Bytes(cols)
			w := make([]byte, rows*stride)
			if err := tensor.Quantize(w, t, vec(rows*cols)); err != nil {
				return err
			}
			x := vec(k)
			got, want := make([]float32, rows), make([]float32, rows)
			buf := make([]float32, k)
			im.rows[kd](got, w, stride, x, t, buf)
			for r := range want {
				deqGo(t)(buf, w[r*stride:])
				want[r] = dotGo(buf, x)
			}
			for r := range got {
				if !near(got[r], want[r], float32(k)) {
					return fmt.Errorf("%s %s rows k=%d: row %d = %v, want %v", im.name, t, k, r, got[r], want[r])
				}
			}
			if d := im.deq[kd]; d != nil {
				g, w2 := make([]float32, k), make([]float32, k)
				d(g, w)
				deqGo(t)(w2, w)
				for i := range g {
					if g[i] != w2[i] {
						return fmt.Errorf("%s %s decode: element %d = %v, want %v", im.name, t, i, g[i], w2[i])
					}
				}
			}
		}
	}
	for _, k := range []int{5, 16, 37, 100} {
		R, T, tiles := im.gemmR, im.gemmT, 2
		w, x := vec(R*k), vec(T*tiles*k)
		got, want := make([]float32, R*T*tiles), make([]float32, R*T*tiles)
		for i := range got {
			got[i], want[i] = 1, 1
		}
		panel(im, got, R, w, k, x, k, k, true, tiles, nil)
		for t := 0; t < T*tiles; t++ {
			for i := 0; i < R; i++ {
				want[t*R+i] += dotGo(w[i*k:(i+1)*k], x[t*k:(t+1)*k])
				if !near(got[t*R+i], want[t*R+i], float32(k)) {
					return fmt.Errorf("%s gemm k=%d: token %d row %d = %v, want %v", im.name, k, t, i, got[t*R+i], want[t*R+i])
				}
			}
		}
	}
	if im.pack != nil {
		return checkPack(im, vec, near)
	}
	return nil
}

// checkPack compares the packed path's kernels of im with plain loops (part
// of selfCheck).
func checkPack(im *impl, vec func(int) []float32, near func(a, b, mag float32) bool) error {
	const k, groups, ldc = 37, 2, 2*packT + 1
	w, xp := vec(packR*k), vec(groups*packT*k)
	got := vec(packR * ldc)
	want := append([]float32(nil), got...)
	im.pack.tile(got, ldc, floatBytes(w), 4*k, xp, packT*k, k, true, groups, nil, 0, 0)
	for i := 0; i < packR; i++ {
		for j := 0; j < groups*packT; j++ {
			g, t := j/packT, j%packT
			for c := 0; c < k; c++ {
				want[i*ldc+j] += w[i*k+c] * xp[g*packT*k+c*packT+t]
			}
		}
	}
	for i := range got {
		if !near(got[i], want[i], k) {
			return fmt.Errorf("%s packed tile: element %d = %v, want %v", im.name, i, got[i], want[i])
		}
	}
	const lds, ldd = 27, 21
	src, dst := vec(16*lds), make([]float32, 24*ldd)
	im.pack.transpose(dst, ldd, src, lds, 2, 3)
	for j := 0; j < 24; j++ {
		for i := 0; i < 16; i++ {
			if dst[j*ldd+i] != src[i*lds+j] {
				return fmt.Errorf("%s transpose: element %d,%d = %v, want %v", im.name, j, i, dst[j*ldd+i], src[i*lds+j])
			}
		}
	}
	return nil
}
