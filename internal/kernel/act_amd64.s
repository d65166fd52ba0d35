//go:build amd64 && !noasm

#include "textflag.h"

// AVX2+FMA element-wise and attention kernels. Tails shorter than a vector
// are done with masked loads and stores (VMASKMOVPS never faults on the
// masked-off lanes).

// EXP8 sets X to e^X for its 8 floats, as Expf does: clamp to [expLo, expHi]
// (keeping NaN: VMAXPS/VMINPS return their second source when either is
// NaN), k = round(x·log2e), r = x − k·ln2 in two FMA steps, the Cephes
// polynomial, then a scale by 2^(k>>1) and 2^(k−k>>1), both normal powers of
// two, so that subnormal results and overflow round once. Clobbers Y12–Y15.
#define EXP8(X) \
	VBROADCASTSS expLo<>(SB), Y12;    \
	VMAXPS       X, Y12, X;           \
	VBROADCASTSS expHi<>(SB), Y12;    \
	VMINPS       X, Y12, X;           \
	VMULPS       expLog2e<>(SB), X, Y13; \
	VCVTPS2DQ    Y13, Y13;            \
	VCVTDQ2PS    Y13, Y14;            \
	VFNMADD231PS expC1<>(SB), Y14, X; \
	VFNMADD231PS expC2<>(SB), Y14, X; \
	VBROADCASTSS expP0<>(SB), Y14;    \
	VFMADD213PS  expP1<>(SB), X, Y14; \
	VFMADD213PS  expP2<>(SB), X, Y14; \
	VFMADD213PS  expP3<>(SB), X, Y14; \
	VFMADD213PS  expP4<>(SB), X, Y14; \
	VFMADD213PS  expP5<>(SB), X, Y14; \
	VMULPS       X, X, Y15;           \
	VFMADD213PS  X, Y15, Y14;         \
	VADDPS       expOne<>(SB), Y14, Y14; \
	VPSRAD       $1, Y13, Y15;        \
	VPSUBD       Y15, Y13, Y13;       \
	VPADDD       expBias<>(SB), Y15, Y15; \
	VPSLLD       $23, Y15, Y15;       \
	VPADDD       expBias<>(SB), Y13, Y13; \
	VPSLLD       $23, Y13, Y13;       \
	VMULPS       Y15, Y14, Y14;       \
	VMULPS       Y13, Y14, X

// TAILMASK sets mask to rem (0..7) leading lanes of ones; clobbers rem and tmp.
#define TAILMASK(rem, tmp, mask) \
	LEAQ    tailMask<>+32(SB), tmp; \
	SHLQ    $2, rem;                \
	SUBQ    rem, tmp;               \
	VMOVUPS (tmp), mask

// func expAVX2(dst, src *float32, n int)
TEXT ·expAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

exp8:
	CMPQ    CX, $8
	JB      exptail
	VMOVUPS (SI), Y0
	EXP8(Y0)
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     exp8

exptail:
	TESTQ      CX, CX
	JZ         expdone
	TAILMASK(CX, AX, Y3)
	VMASKMOVPS (SI), Y3, Y0
	EXP8(Y0)
	VMASKMOVPS Y0, Y3, (DI)

expdone:
	VZEROUPPER
	RET

// func softmaxAVX2(x *float32, n int)
// Three passes: the maximum, e^(x−max) stored and summed, the scale by
// 1/sum. Registers: DI x, R8 elements in whole vectors, R9 tail elements,
// Y3 tail mask, Y0 max, Y1 sum, Y2 inverse sum.
TEXT ·softmaxAVX2(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), R8
	MOVQ R8, R9
	ANDQ $7, R9
	ANDQ $-8, R8
	MOVQ R9, CX
	TAILMASK(CX, AX, Y3)

	VBROADCASTSS negInf<>(SB), Y0
	MOVQ         DI, SI
	MOVQ         R8, CX

smax8:
	TESTQ  CX, CX
	JZ     smaxtail
	VMAXPS (SI), Y0, Y0
	ADDQ   $32, SI
	SUBQ   $8, CX
	JMP    smax8

smaxtail:
	TESTQ        R9, R9
	JZ           smaxsum
	VMASKMOVPS   (SI), Y3, Y2
	VBROADCASTSS negInf<>(SB), Y4
	VBLENDVPS    Y3, Y2, Y4, Y2
	VMAXPS       Y2, Y0, Y0

smaxsum:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXPS       X1, X0, X0
	VBROADCASTSS X0, Y0

	VXORPS Y1, Y1, Y1
	MOVQ   DI, SI
	MOVQ   R8, CX

sexp8:
	TESTQ   CX, CX
	JZ      sexptail
	VMOVUPS (SI), Y2
	VSUBPS  Y0, Y2, Y2
	EXP8(Y2)
	VMOVUPS Y2, (SI)
	VADDPS  Y2, Y1, Y1
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     sexp8

sexptail:
	TESTQ      R9, R9
	JZ         ssum
	VMASKMOVPS (SI), Y3, Y2
	VSUBPS     Y0, Y2, Y2
	EXP8(Y2)
	VANDPS     Y3, Y2, Y2
	VMASKMOVPS Y2, Y3, (SI)
	VADDPS     Y2, Y1, Y1

ssum:
	VEXTRACTF128 $1, Y1, X2
	VADDPS       X2, X1, X1
	VPERMILPS    $0x4e, X1, X2
	VADDPS       X2, X1, X1
	VPERMILPS    $0xb1, X1, X2
	VADDSS       X2, X1, X1
	VMOVSS       expOne<>(SB), X2
	VDIVSS       X1, X2, X2
	VBROADCASTSS X2, Y2
	MOVQ         DI, SI
	MOVQ         R8, CX

sscale8:
	TESTQ   CX, CX
	JZ      sscaletail
	VMULPS  (SI), Y2, Y4
	VMOVUPS Y4, (SI)
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     sscale8

sscaletail:
	TESTQ      R9, R9
	JZ         sdone
	VMASKMOVPS (SI), Y3, Y4
	VMULPS     Y2, Y4, Y4
	VMASKMOVPS Y4, Y3, (SI)

sdone:
	VZEROUPPER
	RET

// func siluMulAVX2(gate, up *float32, n int)
// gate = gate/(1+e^−gate)·up, rounded as the portable version.
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-24
	MOVQ gate+0(FP), DI
	MOVQ up+8(FP), SI
	MOVQ n+16(FP), CX

silu8:
	CMPQ    CX, $8
	JB      silutail
	VMOVUPS (DI), Y0
	VXORPS  signBit<>(SB), Y0, Y1
	EXP8(Y1)
	VADDPS  expOne<>(SB), Y1, Y1
	VDIVPS  Y1, Y0, Y0
	VMULPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     silu8

silutail:
	TESTQ      CX, CX
	JZ         siludone
	TAILMASK(CX, AX, Y3)
	VMASKMOVPS (DI), Y3, Y0
	VMASKMOVPS (SI), Y3, Y2
	VXORPS     signBit<>(SB), Y0, Y1
	EXP8(Y1)
	VADDPS     expOne<>(SB), Y1, Y1
	VDIVPS     Y1, Y0, Y0
	VMULPS     Y2, Y0, Y0
	VMASKMOVPS Y0, Y3, (DI)

siludone:
	VZEROUPPER
	RET

// func attnScoresAVX2(out, q, keys *float32, stride, hs, n int, scale float32)
// out[t] = scale·Σ_i q[i]·keys[t·stride+i], hs a multiple of 8. Eight
// positions at a time: one accumulator each, reduced together by a tree of
// horizontal adds whose order, ((0+1)+(2+3))+((4+5)+(6+7)) over the lanes,
// the one-position tail repeats.
// Registers: DI out, SI q, DX row of position t, R10 row of t+4, BX stride
// in bytes, R9 3·stride, R8 hs in bytes, CX positions left, AX column offset,
// Y11 scale.
TEXT ·attnScoresAVX2(SB), NOSPLIT, $0-52
	MOVQ         out+0(FP), DI
	MOVQ         q+8(FP), SI
	MOVQ         keys+16(FP), DX
	MOVQ         stride+24(FP), BX
	MOVQ         hs+32(FP), R8
	MOVQ         n+40(FP), CX
	VBROADCASTSS scale+48(FP), Y11
	SHLQ         $2, BX
	SHLQ         $2, R8
	LEAQ         (BX)(BX*2), R9
	LEAQ         (DX)(BX*4), R10

scores8:
	CMPQ   CX, $8
	JB     scores1
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ   AX, AX

scoreschunk:
	VMOVUPS     (SI)(AX*1), Y8
	LEAQ        (DX)(AX*1), R11
	LEAQ        (R10)(AX*1), R12
	VFMADD231PS (R11), Y8, Y0
	VFMADD231PS (R11)(BX*1), Y8, Y1
	VFMADD231PS (R11)(BX*2), Y8, Y2
	VFMADD231PS (R11)(R9*1), Y8, Y3
	VFMADD231PS (R12), Y8, Y4
	VFMADD231PS (R12)(BX*1), Y8, Y5
	VFMADD231PS (R12)(BX*2), Y8, Y6
	VFMADD231PS (R12)(R9*1), Y8, Y7
	ADDQ        $32, AX
	CMPQ        AX, R8
	JB          scoreschunk

	VHADDPS    Y1, Y0, Y0
	VHADDPS    Y3, Y2, Y2
	VHADDPS    Y5, Y4, Y4
	VHADDPS    Y7, Y6, Y6
	VHADDPS    Y2, Y0, Y0
	VHADDPS    Y6, Y4, Y4
	VPERM2F128 $0x20, Y4, Y0, Y1
	VPERM2F128 $0x31, Y4, Y0, Y2
	VADDPS     Y2, Y1, Y0
	VMULPS     Y11, Y0, Y0
	VMOVUPS    Y0, (DI)
	ADDQ       $32, DI
	LEAQ       (DX)(BX*8), DX
	LEAQ       (R10)(BX*8), R10
	SUBQ       $8, CX
	JMP        scores8

scores1:
	TESTQ  CX, CX
	JZ     scoresdone
	VXORPS Y0, Y0, Y0
	XORQ   AX, AX

scores1chunk:
	VMOVUPS     (SI)(AX*1), Y8
	VFMADD231PS (DX)(AX*1), Y8, Y0
	ADDQ        $32, AX
	CMPQ        AX, R8
	JB          scores1chunk

	VHADDPS      Y0, Y0, Y0
	VHADDPS      Y0, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDSS       X1, X0, X0
	VMULSS       X11, X0, X0
	VMOVSS       X0, (DI)
	ADDQ         $4, DI
	ADDQ         BX, DX
	DECQ         CX
	JMP          scores1

scoresdone:
	VZEROUPPER
	RET

// func attnMixAVX2(out, w, vals *float32, stride, hs, n int)
// out[i] = Σ_t w[t]·vals[t·stride+i], hs a multiple of 8: for each 8 columns,
// four accumulators take the positions in turn.
// Registers: DI out, SI w, DX vals, BX stride in bytes, R9 3·stride, R8 hs in
// bytes, CX n, AX column offset, R11 weight, R12 row, R13 positions left.
TEXT ·attnMixAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ vals+16(FP), DX
	MOVQ stride+24(FP), BX
	MOVQ hs+32(FP), R8
	MOVQ n+40(FP), CX
	SHLQ $2, BX
	SHLQ $2, R8
	LEAQ (BX)(BX*2), R9
	XORQ AX, AX

mixcol:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   SI, R11
	LEAQ   (DX)(AX*1), R12
	MOVQ   CX, R13

mix4:
	CMPQ         R13, $4
	JB           mix1
	VBROADCASTSS (R11), Y4
	VBROADCASTSS 4(R11), Y5
	VBROADCASTSS 8(R11), Y6
	VBROADCASTSS 12(R11), Y7
	VFMADD231PS  (R12), Y4, Y0
	VFMADD231PS  (R12)(BX*1), Y5, Y1
	VFMADD231PS  (R12)(BX*2), Y6, Y2
	VFMADD231PS  (R12)(R9*1), Y7, Y3
	ADDQ         $16, R11
	LEAQ         (R12)(BX*4), R12
	SUBQ         $4, R13
	JMP          mix4

mix1:
	TESTQ        R13, R13
	JZ           mixstore
	VBROADCASTSS (R11), Y4
	VFMADD231PS  (R12), Y4, Y0
	ADDQ         $4, R11
	ADDQ         BX, R12
	DECQ         R13
	JMP          mix1

mixstore:
	VADDPS  Y1, Y0, Y0
	VADDPS  Y3, Y2, Y2
	VADDPS  Y2, Y0, Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ    $32, AX
	CMPQ    AX, R8
	JB      mixcol
	VZEROUPPER
	RET

// SCORES8 sets Y0 to the scaled scores of the 8 key rows at rowA, rowA+BX,
// rowA+2BX, rowA+R9 (= 3BX), rowB, rowB+BX, ... against the query at SI, R8
// bytes long; Y11 holds the scale. Clobbers Y1–Y8, AX, R11, R12.
#define SCORES8(rowA, rowB, loop) \
	VXORPS      Y0, Y0, Y0;             \
	VXORPS      Y1, Y1, Y1;             \
	VXORPS      Y2, Y2, Y2;             \
	VXORPS      Y3, Y3, Y3;             \
	VXORPS      Y4, Y4, Y4;             \
	VXORPS      Y5, Y5, Y5;             \
	VXORPS      Y6, Y6, Y6;             \
	VXORPS      Y7, Y7, Y7;             \
	XORQ        AX, AX;                 \
	PCALIGN     $16;                    \
	loop:                               \
	VMOVUPS     (SI)(AX*1), Y8;         \
	LEAQ        (rowA)(AX*1), R11;      \
	LEAQ        (rowB)(AX*1), R12;      \
	VFMADD231PS (R11), Y8, Y0;          \
	VFMADD231PS (R11)(BX*1), Y8, Y1;    \
	VFMADD231PS (R11)(BX*2), Y8, Y2;    \
	VFMADD231PS (R11)(R9*1), Y8, Y3;    \
	VFMADD231PS (R12), Y8, Y4;          \
	VFMADD231PS (R12)(BX*1), Y8, Y5;    \
	VFMADD231PS (R12)(BX*2), Y8, Y6;    \
	VFMADD231PS (R12)(R9*1), Y8, Y7;    \
	ADDQ        $32, AX;                \
	CMPQ        AX, R8;                 \
	JB          loop;                   \
	VHADDPS     Y1, Y0, Y0;             \
	VHADDPS     Y3, Y2, Y2;             \
	VHADDPS     Y5, Y4, Y4;             \
	VHADDPS     Y7, Y6, Y6;             \
	VHADDPS     Y2, Y0, Y0;             \
	VHADDPS     Y6, Y4, Y4;             \
	VPERM2F128  $0x20, Y4, Y0, Y1;      \
	VPERM2F128  $0x31, Y4, Y0, Y2;      \
	VADDPS      Y2, Y1, Y0;             \
	VMULPS      Y11, Y0, Y0

// func attendAVX2(out, q, keys, vals, att *float32, stride, hs, n int, scale float32)
// One attention head over n ≥ 8 positions, hs a multiple of 8:
// out = Σ_t e^(s_t − max s)·v_t / Σ_t e^(s_t − max s), s_t = scale·q·k_t.
// Whole groups of 8 positions keep their scores and then weights in att;
// the last n%8 positions are done as the group of the last 8, whose lanes
// already counted are zeroed after the exponential, kept in the frame.
// Registers: SI q (then a count), BX stride in bytes, R9 3·stride, R8 hs in
// bytes, R13 n%8, Y9 mask of the last group's new lanes, Y10 max, Y11 scale then 1/sum.
TEXT ·attendAVX2(SB), NOSPLIT, $32-68
	MOVQ         q+8(FP), SI
	MOVQ         keys+16(FP), DX
	MOVQ         stride+40(FP), BX
	MOVQ         hs+48(FP), R8
	MOVQ         n+56(FP), CX
	VBROADCASTSS scale+64(FP), Y11
	SHLQ         $2, BX
	SHLQ         $2, R8
	LEAQ         (BX)(BX*2), R9
	LEAQ         (DX)(BX*4), R10
	MOVQ         CX, R13
	ANDQ         $7, R13
	SHRQ         $3, CX
	LEAQ         tailMaskHi<>(SB), AX
	VMOVUPS      (AX)(R13*4), Y9
	VBROADCASTSS negInf<>(SB), Y10
	MOVQ         att+32(FP), DI

	// Scores of the whole groups, and their maximum.
agroup:
	SCORES8(DX, R10, agroupchunk)
	VMOVUPS Y0, (DI)
	VMAXPS  Y0, Y10, Y10
	ADDQ    $32, DI
	LEAQ    (DX)(BX*8), DX
	LEAQ    (R10)(BX*8), R10
	DECQ    CX
	JNZ     agroup

	// The last group: rows n-8 .. n-1.
	TESTQ   R13, R13
	JZ      amax
	MOVQ    n+56(FP), DX
	SUBQ    $8, DX
	IMULQ   BX, DX
	ADDQ    keys+16(FP), DX
	LEAQ    (DX)(BX*4), R10
	SCORES8(DX, R10, alastchunk)
	VMOVUPS Y0, (SP)
	VMAXPS  Y0, Y10, Y10

amax:
	VEXTRACTF128 $1, Y10, X1
	VMAXPS       X1, X10, X10
	VPERMILPS    $0x4e, X10, X1
	VMAXPS       X1, X10, X10
	VPERMILPS    $0xb1, X10, X1
	VMAXPS       X1, X10, X10
	VBROADCASTSS X10, Y10

	// Weights e^(s−max) and their sum.
	VXORPS Y1, Y1, Y1
	MOVQ   att+32(FP), DI
	MOVQ   n+56(FP), CX
	SHRQ   $3, CX

aexp:
	VMOVUPS (DI), Y2
	VSUBPS  Y10, Y2, Y2
	EXP8(Y2)
	VMOVUPS Y2, (DI)
	VADDPS  Y2, Y1, Y1
	ADDQ    $32, DI
	DECQ    CX
	JNZ     aexp

	TESTQ   R13, R13
	JZ      asum
	VMOVUPS (SP), Y2
	VSUBPS  Y10, Y2, Y2
	EXP8(Y2)
	VANDPS  Y9, Y2, Y2
	VMOVUPS Y2, (SP)
	VADDPS  Y2, Y1, Y1

asum:
	VEXTRACTF128 $1, Y1, X2
	VADDPS       X2, X1, X1
	VPERMILPS    $0x4e, X1, X2
	VADDPS       X2, X1, X1
	VPERMILPS    $0xb1, X1, X2
	VADDSS       X2, X1, X1
	VMOVSS       expOne<>(SB), X11
	VDIVSS       X1, X11, X11
	VBROADCASTSS X11, Y11

	// out = Σ weight·value / sum, 8 columns at a time. DX: vals, R10: row
	// of the last group's first new position, CX: positions in whole groups.
	MOVQ  out+0(FP), DI
	MOVQ  vals+24(FP), DX
	MOVQ  n+56(FP), R10
	SUBQ  R13, R10
	MOVQ  R10, CX
	IMULQ BX, R10
	ADDQ  DX, R10
	XORQ  AX, AX

	// 64 columns at a time while there are as many: eight accumulators, one
	// weight broadcast per position.
a64:
	MOVQ  R8, R11
	SUBQ  AX, R11
	CMPQ  R11, $256
	JB    acol
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   att+32(FP), R11
	LEAQ   (DX)(AX*1), R12
	MOVQ   CX, SI

a64pos:
	VBROADCASTSS (R11), Y8
	VFMADD231PS  (R12), Y8, Y0
	VFMADD231PS  32(R12), Y8, Y1
	VFMADD231PS  64(R12), Y8, Y2
	VFMADD231PS  96(R12), Y8, Y3
	VFMADD231PS  128(R12), Y8, Y4
	VFMADD231PS  160(R12), Y8, Y5
	VFMADD231PS  192(R12), Y8, Y6
	VFMADD231PS  224(R12), Y8, Y7
	ADDQ         $4, R11
	ADDQ         BX, R12
	DECQ         SI
	JNZ          a64pos

	// The last group's new positions, as in amix1.
	MOVQ  R13, SI
	TESTQ SI, SI
	JZ    a64store
	LEAQ  32(SP), R11
	SHLQ  $2, SI
	SUBQ  SI, R11
	SHRQ  $2, SI
	LEAQ  (R10)(AX*1), R12

a64last:
	VBROADCASTSS (R11), Y8
	VFMADD231PS  (R12), Y8, Y0
	VFMADD231PS  32(R12), Y8, Y1
	VFMADD231PS  64(R12), Y8, Y2
	VFMADD231PS  96(R12), Y8, Y3
	VFMADD231PS  128(R12), Y8, Y4
	VFMADD231PS  160(R12), Y8, Y5
	VFMADD231PS  192(R12), Y8, Y6
	VFMADD231PS  224(R12), Y8, Y7
	ADDQ         $4, R11
	ADDQ         BX, R12
	DECQ         SI
	JNZ          a64last

a64store:
	VMULPS  Y11, Y0, Y0
	VMULPS  Y11, Y1, Y1
	VMULPS  Y11, Y2, Y2
	VMULPS  Y11, Y3, Y3
	VMULPS  Y11, Y4, Y4
	VMULPS  Y11, Y5, Y5
	VMULPS  Y11, Y6, Y6
	VMULPS  Y11, Y7, Y7
	VMOVUPS Y0, (DI)(AX*1)
	VMOVUPS Y1, 32(DI)(AX*1)
	VMOVUPS Y2, 64(DI)(AX*1)
	VMOVUPS Y3, 96(DI)(AX*1)
	VMOVUPS Y4, 128(DI)(AX*1)
	VMOVUPS Y5, 160(DI)(AX*1)
	VMOVUPS Y6, 192(DI)(AX*1)
	VMOVUPS Y7, 224(DI)(AX*1)
	ADDQ    $256, AX
	CMPQ    AX, R8
	JB      a64
	VZEROUPPER
	RET

acol:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   att+32(FP), R11
	LEAQ   (DX)(AX*1), R12
	MOVQ   CX, SI

amix4:
	VBROADCASTSS (R11), Y4
	VBROADCASTSS 4(R11), Y5
	VBROADCASTSS 8(R11), Y6
	VBROADCASTSS 12(R11), Y7
	VFMADD231PS  (R12), Y4, Y0
	VFMADD231PS  (R12)(BX*1), Y5, Y1
	VFMADD231PS  (R12)(BX*2), Y6, Y2
	VFMADD231PS  (R12)(R9*1), Y7, Y3
	ADDQ         $16, R11
	LEAQ         (R12)(BX*4), R12
	SUBQ         $4, SI
	JNZ          amix4

	// The last group's new positions: weights in the frame's top R13 lanes.
	MOVQ  R13, SI
	TESTQ SI, SI
	JZ    astore
	LEAQ  32(SP), R11
	SHLQ  $2, SI
	SUBQ  SI, R11
	SHRQ  $2, SI
	LEAQ  (R10)(AX*1), R12

amix1:
	VBROADCASTSS (R11), Y4
	VFMADD231PS  (R12), Y4, Y0
	ADDQ         $4, R11
	ADDQ         BX, R12
	DECQ         SI
	JNZ          amix1

astore:
	VADDPS  Y1, Y0, Y0
	VADDPS  Y3, Y2, Y2
	VADDPS  Y2, Y0, Y0
	VMULPS  Y11, Y0, Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ    $32, AX
	CMPQ    AX, R8
	JB      acol
	VZEROUPPER
	RET

DATA expLog2e<>+0(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+4(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+8(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+12(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+16(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+20(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+24(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+28(SB)/4, $0x3fb8aa3b
GLOBL expLog2e<>(SB), RODATA|NOPTR, $32

DATA expC1<>+0(SB)/4, $0x3f318000
DATA expC1<>+4(SB)/4, $0x3f318000
DATA expC1<>+8(SB)/4, $0x3f318000
DATA expC1<>+12(SB)/4, $0x3f318000
DATA expC1<>+16(SB)/4, $0x3f318000
DATA expC1<>+20(SB)/4, $0x3f318000
DATA expC1<>+24(SB)/4, $0x3f318000
DATA expC1<>+28(SB)/4, $0x3f318000
GLOBL expC1<>(SB), RODATA|NOPTR, $32

DATA expC2<>+0(SB)/4, $0xb95e8083
DATA expC2<>+4(SB)/4, $0xb95e8083
DATA expC2<>+8(SB)/4, $0xb95e8083
DATA expC2<>+12(SB)/4, $0xb95e8083
DATA expC2<>+16(SB)/4, $0xb95e8083
DATA expC2<>+20(SB)/4, $0xb95e8083
DATA expC2<>+24(SB)/4, $0xb95e8083
DATA expC2<>+28(SB)/4, $0xb95e8083
GLOBL expC2<>(SB), RODATA|NOPTR, $32

DATA expP0<>+0(SB)/4, $0x39506967
DATA expP0<>+4(SB)/4, $0x39506967
DATA expP0<>+8(SB)/4, $0x39506967
DATA expP0<>+12(SB)/4, $0x39506967
DATA expP0<>+16(SB)/4, $0x39506967
DATA expP0<>+20(SB)/4, $0x39506967
DATA expP0<>+24(SB)/4, $0x39506967
DATA expP0<>+28(SB)/4, $0x39506967
GLOBL expP0<>(SB), RODATA|NOPTR, $32

DATA expP1<>+0(SB)/4, $0x3ab743ce
DATA expP1<>+4(SB)/4, $0x3ab743ce
DATA expP1<>+8(SB)/4, $0x3ab743ce
DATA expP1<>+12(SB)/4, $0x3ab743ce
DATA expP1<>+16(SB)/4, $0x3ab743ce
DATA expP1<>+20(SB)/4, $0x3ab743ce
DATA expP1<>+24(SB)/4, $0x3ab743ce
DATA expP1<>+28(SB)/4, $0x3ab743ce
GLOBL expP1<>(SB), RODATA|NOPTR, $32

DATA expP2<>+0(SB)/4, $0x3c088908
DATA expP2<>+4(SB)/4, $0x3c088908
DATA expP2<>+8(SB)/4, $0x3c088908
DATA expP2<>+12(SB)/4, $0x3c088908
DATA expP2<>+16(SB)/4, $0x3c088908
DATA expP2<>+20(SB)/4, $0x3c088908
DATA expP2<>+24(SB)/4, $0x3c088908
DATA expP2<>+28(SB)/4, $0x3c088908
GLOBL expP2<>(SB), RODATA|NOPTR, $32

DATA expP3<>+0(SB)/4, $0x3d2aa9c1
DATA expP3<>+4(SB)/4, $0x3d2aa9c1
DATA expP3<>+8(SB)/4, $0x3d2aa9c1
DATA expP3<>+12(SB)/4, $0x3d2aa9c1
DATA expP3<>+16(SB)/4, $0x3d2aa9c1
DATA expP3<>+20(SB)/4, $0x3d2aa9c1
DATA expP3<>+24(SB)/4, $0x3d2aa9c1
DATA expP3<>+28(SB)/4, $0x3d2aa9c1
GLOBL expP3<>(SB), RODATA|NOPTR, $32

DATA expP4<>+0(SB)/4, $0x3e2aaaaa
DATA expP4<>+4(SB)/4, $0x3e2aaaaa
DATA expP4<>+8(SB)/4, $0x3e2aaaaa
DATA expP4<>+12(SB)/4, $0x3e2aaaaa
DATA expP4<>+16(SB)/4, $0x3e2aaaaa
DATA expP4<>+20(SB)/4, $0x3e2aaaaa
DATA expP4<>+24(SB)/4, $0x3e2aaaaa
DATA expP4<>+28(SB)/4, $0x3e2aaaaa
GLOBL expP4<>(SB), RODATA|NOPTR, $32

DATA expP5<>+0(SB)/4, $0x3f000000
DATA expP5<>+4(SB)/4, $0x3f000000
DATA expP5<>+8(SB)/4, $0x3f000000
DATA expP5<>+12(SB)/4, $0x3f000000
DATA expP5<>+16(SB)/4, $0x3f000000
DATA expP5<>+20(SB)/4, $0x3f000000
DATA expP5<>+24(SB)/4, $0x3f000000
DATA expP5<>+28(SB)/4, $0x3f000000
GLOBL expP5<>(SB), RODATA|NOPTR, $32

DATA expOne<>+0(SB)/4, $0x3f800000
DATA expOne<>+4(SB)/4, $0x3f800000
DATA expOne<>+8(SB)/4, $0x3f800000
DATA expOne<>+12(SB)/4, $0x3f800000
DATA expOne<>+16(SB)/4, $0x3f800000
DATA expOne<>+20(SB)/4, $0x3f800000
DATA expOne<>+24(SB)/4, $0x3f800000
DATA expOne<>+28(SB)/4, $0x3f800000
GLOBL expOne<>(SB), RODATA|NOPTR, $32

DATA expLo<>+0(SB)/4, $0xc2d00000
DATA expLo<>+4(SB)/4, $0xc2d00000
DATA expLo<>+8(SB)/4, $0xc2d00000
DATA expLo<>+12(SB)/4, $0xc2d00000
DATA expLo<>+16(SB)/4, $0xc2d00000
DATA expLo<>+20(SB)/4, $0xc2d00000
DATA expLo<>+24(SB)/4, $0xc2d00000
DATA expLo<>+28(SB)/4, $0xc2d00000
GLOBL expLo<>(SB), RODATA|NOPTR, $32

DATA expHi<>+0(SB)/4, $0x42b20000
DATA expHi<>+4(SB)/4, $0x42b20000
DATA expHi<>+8(SB)/4, $0x42b20000
DATA expHi<>+12(SB)/4, $0x42b20000
DATA expHi<>+16(SB)/4, $0x42b20000
DATA expHi<>+20(SB)/4, $0x42b20000
DATA expHi<>+24(SB)/4, $0x42b20000
DATA expHi<>+28(SB)/4, $0x42b20000
GLOBL expHi<>(SB), RODATA|NOPTR, $32

DATA expBias<>+0(SB)/4, $0x0000007f
DATA expBias<>+4(SB)/4, $0x0000007f
DATA expBias<>+8(SB)/4, $0x0000007f
DATA expBias<>+12(SB)/4, $0x0000007f
DATA expBias<>+16(SB)/4, $0x0000007f
DATA expBias<>+20(SB)/4, $0x0000007f
DATA expBias<>+24(SB)/4, $0x0000007f
DATA expBias<>+28(SB)/4, $0x0000007f
GLOBL expBias<>(SB), RODATA|NOPTR, $32

DATA negInf<>+0(SB)/4, $0xff800000
DATA negInf<>+4(SB)/4, $0xff800000
DATA negInf<>+8(SB)/4, $0xff800000
DATA negInf<>+12(SB)/4, $0xff800000
DATA negInf<>+16(SB)/4, $0xff800000
DATA negInf<>+20(SB)/4, $0xff800000
DATA negInf<>+24(SB)/4, $0xff800000
DATA negInf<>+28(SB)/4, $0xff800000
GLOBL negInf<>(SB), RODATA|NOPTR, $32

DATA signBit<>+0(SB)/4, $0x80000000
DATA signBit<>+4(SB)/4, $0x80000000
DATA signBit<>+8(SB)/4, $0x80000000
DATA signBit<>+12(SB)/4, $0x80000000
DATA signBit<>+16(SB)/4, $0x80000000
DATA signBit<>+20(SB)/4, $0x80000000
DATA signBit<>+24(SB)/4, $0x80000000
DATA signBit<>+28(SB)/4, $0x80000000
GLOBL signBit<>(SB), RODATA|NOPTR, $32

DATA tailMask<>+0(SB)/4, $0xffffffff
DATA tailMask<>+4(SB)/4, $0xffffffff
DATA tailMask<>+8(SB)/4, $0xffffffff
DATA tailMask<>+12(SB)/4, $0xffffffff
DATA tailMask<>+16(SB)/4, $0xffffffff
DATA tailMask<>+20(SB)/4, $0xffffffff
DATA tailMask<>+24(SB)/4, $0xffffffff
DATA tailMask<>+28(SB)/4, $0xffffffff
DATA tailMask<>+32(SB)/4, $0x00000000
DATA tailMask<>+36(SB)/4, $0x00000000
DATA tailMask<>+40(SB)/4, $0x00000000
DATA tailMask<>+44(SB)/4, $0x00000000
DATA tailMask<>+48(SB)/4, $0x00000000
DATA tailMask<>+52(SB)/4, $0x00000000
DATA tailMask<>+56(SB)/4, $0x00000000
DATA tailMask<>+60(SB)/4, $0x00000000
GLOBL tailMask<>(SB), RODATA|NOPTR, $64

DATA tailMaskHi<>+0(SB)/4, $0x00000000
DATA tailMaskHi<>+4(SB)/4, $0x00000000
DATA tailMaskHi<>+8(SB)/4, $0x00000000
DATA tailMaskHi<>+12(SB)/4, $0x00000000
DATA tailMaskHi<>+16(SB)/4, $0x00000000
DATA tailMaskHi<>+20(SB)/4, $0x00000000
DATA tailMaskHi<>+24(SB)/4, $0x00000000
DATA tailMaskHi<>+28(SB)/4, $0x00000000
DATA tailMaskHi<>+32(SB)/4, $0xffffffff
DATA tailMaskHi<>+36(SB)/4, $0xffffffff
DATA tailMaskHi<>+40(SB)/4, $0xffffffff
DATA tailMaskHi<>+44(SB)/4, $0xffffffff
DATA tailMaskHi<>+48(SB)/4, $0xffffffff
DATA tailMaskHi<>+52(SB)/4, $0xffffffff
DATA tailMaskHi<>+56(SB)/4, $0xffffffff
DATA tailMaskHi<>+60(SB)/4, $0xffffffff
GLOBL tailMaskHi<>(SB), RODATA|NOPTR, $64
