//go:build amd64 && !noasm

package kernel

func cpuid(eax, ecx uint32) (a, b, c, d uint32)
func xgetbv() (eax, edx uint32)

// spinPause is a PAUSE instruction, for spin-wait loops.
func spinPause()

// prefetch hints the cache lines of [p, p+n) into the caches; it never faults.
//
//go:noescape
func prefetch(p *byte, n int)

// prefetchBytes hints b into the caches.
func prefetchBytes(b []byte) {
	if len(b) > 0 {
		prefetch(&b[0], len(b))
	}
}

// features reports which of the two assembly levels the CPU and the operating
// system support: AVX2 with FMA and F16C, and AVX-512 F/BW/VL/DQ.
func features() (avx2, avx512 bool) {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false, false
	}
	_, _, c1, _ := cpuid(1, 0)
	const (
		fma     = 1 << 12
		osxsave = 1 << 27
		avx     = 1 << 28
		f16c    = 1 << 29
	)
	if c1&(fma|osxsave|avx|f16c) != fma|osxsave|avx|f16c {
		return false, false
	}
	xcr0, _ := xgetbv()
	if xcr0&0x6 != 0x6 { // XMM and YMM state enabled by the OS
		return false, false
	}
	_, b7, _, _ := cpuid(7, 0)
	avx2 = b7&(1<<5) != 0
	const (
		avx512f  = 1 << 16
		avx512dq = 1 << 17
		avx512bw = 1 << 30
		avx512vl = 1 << 31
		all      = avx512f | avx512dq | avx512bw | avx512vl
	)
	avx512 = avx2 && b7&all == all && xcr0&0xe0 == 0xe0 // opmask and ZMM state
	return avx2, avx512
}
