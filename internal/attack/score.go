package attack

import (
	"fmt"
	"hash/fnv"
	"math"

	"github.com/unswift/unswift/internal/model"
)

// Truth is what the original model says about a release, for scoring only:
// per layer, which original channel and sign each release channel is, and
// the original down projection.
type Truth struct {
	Perm [][]int     // Perm[l][k]: original channel of release channel k
	Sign [][]float64 // Sign[l][k]: +1 if release gate row k equals the original's, −1 if its negation
	Down [][]float64 // per layer: Dim × Hidden, original channel order
	dim  int
}

// NewTruth maps every release channel to the original channel whose gate row
// equals ± the released gate row (the up row for a plain MLP, whose up
// projection plays the gate's part).
func NewTruth(orig, rel *model.Model) (*Truth, error) {
	if err := checkRelease(rel); err != nil {
		return nil, err
	}
	if orig.Taylor != nil {
		return nil, fmt.Errorf("%s is itself a release; the original must be the plain model it was made from", orig.Path)
	}
	oc, rc := &orig.Config, &rel.Config
	if oc.Dim != rc.Dim || oc.Hidden != rc.Hidden || oc.Layers != rc.Layers {
		return nil, fmt.Errorf("original %s (dim %d, hidden %d, %d layers) does not have the release's shape (dim %d, hidden %d, %d layers)",
			orig.Path, oc.Dim, oc.Hidden, oc.Layers, rc.Dim, rc.Hidden, rc.Layers)
	}
	if oc.Arch != rc.Arch {
		return nil, fmt.Errorf("original %s is a %s model, the release %s", orig.Path, oc.Arch, rc.Arch)
	}
	tr := &Truth{dim: oc.Dim}
	for l := range orig.Weights.Layers {
		ogt, _ := gateOf(orig, l)
		rgt, _ := gateOf(rel, l)
		og, err := matrix(ogt)
		if err != nil {
			return nil, err
		}
		rg, err := matrix(rgt)
		if err != nil {
			return nil, err
		}
		down, err := matrix(orig.Weights.Layers[l].Down)
		if err != nil {
			return nil, err
		}
		byKey := map[uint64][]int{}
		for j := 0; j < oc.Hidden; j++ {
			k := rowKey(og[j*oc.Dim : (j+1)*oc.Dim])
			byKey[k] = append(byKey[k], j)
		}
		perm := make([]int, oc.Hidden)
		sign := make([]float64, oc.Hidden)
		used := make([]bool, oc.Hidden)
		for k := 0; k < oc.Hidden; k++ {
			row := rg[k*oc.Dim : (k+1)*oc.Dim]
			found := false
			for _, j := range byKey[rowKey(row)] {
				if used[j] {
					continue
				}
				if s := sameUpToSign(og[j*oc.Dim:(j+1)*oc.Dim], row); s != 0 {
					perm[k], sign[k], used[j], found = j, s, true, true
					break
				}
			}
			if !found {
				return nil, fmt.Errorf("layer %d: release gate row %d matches no gate row of %s (is it the model the release was made from?)", l, k, orig.Path)
			}
		}
		tr.Perm = append(tr.Perm, perm)
		tr.Sign = append(tr.Sign, sign)
		tr.Down = append(tr.Down, down)
	}
	return tr, nil
}

// rowKey hashes a row up to its sign (the sign making the first nonzero
// element positive).
func rowKey(row []float64) uint64 {
	s := 1.0
	for _, v := range row {
		if v != 0 {
			s = math.Copysign(1, v)
			break
		}
	}
	h := fnv.New64a()
	var b [8]byte
	for _, v := range row {
		bits := math.Float64bits(s*v + 0) // +0 folds −0 into 0
		for i := range b {
			b[i] = byte(bits >> (8 * i))
		}
		h.Write(b[:])
	}
	return h.Sum64()
}

// sameUpToSign returns +1 if a == b, −1 if a == −b, 0 otherwise.
func sameUpToSign(a, b []float64) float64 {
	plus, minus := true, true
	for i := range a {
		plus = plus && a[i] == b[i]
		minus = minus && a[i] == -b[i]
	}
	switch {
	case plus:
		return 1
	case minus:
		return -1
	}
	return 0
}

// Score compares a recovery with the truth.
type Score struct {
	RelativeError     float64 // ‖Ŵ − W‖/‖W‖ over the expanded (protected) columns of all layers
	RelativeErrorAll  float64 // the same over every column
	FractionRecovered float64 // expanded channels whose column is within 1e-4 relative and whose sign is right
	SignAccuracy      float64 // expanded channels whose sign is right
	Layers            []LayerScore
}

// LayerScore is Score for one layer.
type LayerScore struct {
	Expanded          int
	RelativeError     float64
	FractionRecovered float64
	SignAccuracy      float64
}

// ColumnTolerance is the relative column error under which a channel counts
// as recovered.
const ColumnTolerance = 1e-4

// Score compares rec with the truth. The sign is scored through the column:
// a wrong sign recovers W for the wrong gate, so it counts as not recovered.
func (tr *Truth) Score(rec *Recovery) (Score, error) {
	var sc Score
	if err := rec.check(); err != nil {
		return sc, err
	}
	if len(rec.Layers) != len(tr.Down) {
		return sc, fmt.Errorf("recovery has %d layers, the original %d", len(rec.Layers), len(tr.Down))
	}
	var num, den, numAll, denAll float64
	var n, good, signs int
	for l, lr := range rec.Layers {
		h := lr.Hidden
		if h != len(tr.Perm[l]) || lr.Dim != tr.dim {
			return sc, fmt.Errorf("layer %d: recovery is %d×%d, the original %d×%d", l, lr.Dim, h, tr.dim, len(tr.Perm[l]))
		}
		var ln, ld float64
		lgood, lsigns := 0, 0
		for k := 0; k < h; k++ {
			j := tr.Perm[l][k]
			var cn, cd float64
			for r := 0; r < lr.Dim; r++ {
				w := tr.Down[l][r*h+j]
				e := lr.Down[r*h+k] - w
				cn += e * e
				cd += w * w
			}
			numAll += cn
			denAll += cd
			if k >= lr.Expanded {
				continue
			}
			ln += cn
			ld += cd
			signOK := lr.Sign[k] == tr.Sign[l][k]
			if signOK {
				lsigns++
			}
			if signOK && cn <= ColumnTolerance*ColumnTolerance*cd {
				lgood++
			}
		}
		ls := LayerScore{Expanded: lr.Expanded, RelativeError: math.Sqrt(ln / max(ld, 1e-300))}
		if lr.Expanded > 0 {
			ls.FractionRecovered = float64(lgood) / float64(lr.Expanded)
			ls.SignAccuracy = float64(lsigns) / float64(lr.Expanded)
		} else {
			ls.RelativeError = 0
		}
		sc.Layers = append(sc.Layers, ls)
		num += ln
		den += ld
		n += lr.Expanded
		good += lgood
		signs += lsigns
	}
	sc.RelativeError = math.Sqrt(num / max(den, 1e-300))
	sc.RelativeErrorAll = math.Sqrt(numAll / max(denAll, 1e-300))
	if n > 0 {
		sc.FractionRecovered = float64(good) / float64(n)
		sc.SignAccuracy = float64(signs) / float64(n)
	}
	return sc, nil
}
