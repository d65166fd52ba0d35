//go:build amd64 && !noasm

package kernel

var hasAVX2, hasAVX512 = features()

// impls lists every implementation this build can run on this CPU, best last.
func impls() []*impl {
	l := []*impl{goImpl}
	if hasAVX2 {
		l = append(l, avx2Impl)
	}
	if hasAVX512 {
		l = append(l, avx512Impl)
	}
	return l
}
