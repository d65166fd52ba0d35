//go:build amd64 && !noasm

#include "textflag.h"

// AVX2+FMA+F16C kernels. Tails shorter than a vector are done with scalar
// instructions after the vector accumulators have been reduced (a VEX scalar
// op clears the upper lanes of its destination).

// HSUM8 reduces Y0 to its horizontal sum in the low lane of X0; clobbers X1.
#define HSUM8 \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VPERMILPS    $0x4e, X0, X1; \
	VADDPS       X1, X0, X0; \
	VPERMILPS    $0xb1, X0, X1; \
	VADDSS       X1, X0, X0

// SUM8ACC adds Y0..Y7 into Y0.
#define SUM8ACC \
	VADDPS Y1, Y0, Y0; \
	VADDPS Y3, Y2, Y2; \
	VADDPS Y5, Y4, Y4; \
	VADDPS Y7, Y6, Y6; \
	VADDPS Y2, Y0, Y0; \
	VADDPS Y6, Y4, Y4; \
	VADDPS Y4, Y0, Y0

#define ZERO8ACC \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7

// func dotAVX2(a, b *float32, n int) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	ZERO8ACC

dot64:
	CMPQ        CX, $64
	JB          dot8
	VMOVUPS     (SI), Y8
	VMOVUPS     32(SI), Y9
	VMOVUPS     64(SI), Y10
	VMOVUPS     96(SI), Y11
	VMOVUPS     128(SI), Y12
	VMOVUPS     160(SI), Y13
	VMOVUPS     192(SI), Y14
	VMOVUPS     224(SI), Y15
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	VFMADD231PS 64(DI), Y10, Y2
	VFMADD231PS 96(DI), Y11, Y3
	VFMADD231PS 128(DI), Y12, Y4
	VFMADD231PS 160(DI), Y13, Y5
	VFMADD231PS 192(DI), Y14, Y6
	VFMADD231PS 224(DI), Y15, Y7
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         dot64

dot8:
	CMPQ        CX, $8
	JB          dotsum
	VMOVUPS     (SI), Y8
	VFMADD231PS (DI), Y8, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         dot8

dotsum:
	SUM8ACC
	HSUM8

dottail:
	TESTQ       CX, CX
	JZ          dotdone
	VMOVSS      (SI), X8
	VFMADD231SS (DI), X8, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         dottail

dotdone:
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func axpyAVX2(a float32, x, y *float32, n int)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Y0
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX

axpy32:
	CMPQ        CX, $32
	JB          axpy8
	VMOVUPS     (SI), Y1
	VMOVUPS     32(SI), Y2
	VMOVUPS     64(SI), Y3
	VMOVUPS     96(SI), Y4
	VFMADD213PS (DI), Y0, Y1
	VFMADD213PS 32(DI), Y0, Y2
	VFMADD213PS 64(DI), Y0, Y3
	VFMADD213PS 96(DI), Y0, Y4
	VMOVUPS     Y1, (DI)
	VMOVUPS     Y2, 32(DI)
	VMOVUPS     Y3, 64(DI)
	VMOVUPS     Y4, 96(DI)
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         axpy32

axpy8:
	CMPQ        CX, $8
	JB          axpytail
	VMOVUPS     (SI), Y1
	VFMADD213PS (DI), Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         axpy8

axpytail:
	TESTQ       CX, CX
	JZ          axpydone
	VMOVSS      (SI), X1
	VFMADD213SS (DI), X0, X1
	VMOVSS      X1, (DI)
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         axpytail

axpydone:
	VZEROUPPER
	RET

// func scaleAVX2(a float32, x *float32, n int)
TEXT ·scaleAVX2(SB), NOSPLIT, $0-24
	VBROADCASTSS a+0(FP), Y0
	MOVQ         x+8(FP), DI
	MOVQ         n+16(FP), CX

scale32:
	CMPQ    CX, $32
	JB      scale8
	VMULPS  (DI), Y0, Y1
	VMULPS  32(DI), Y0, Y2
	VMULPS  64(DI), Y0, Y3
	VMULPS  96(DI), Y0, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     scale32

scale8:
	CMPQ    CX, $8
	JB      scaletail
	VMULPS  (DI), Y0, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     scale8

scaletail:
	TESTQ  CX, CX
	JZ     scaledone
	VMULSS (DI), X0, X1
	VMOVSS X1, (DI)
	ADDQ   $4, DI
	DECQ   CX
	JMP    scaletail

scaledone:
	VZEROUPPER
	RET

// Row kernels: func(out *float32, w *byte, stride int, x *float32, k, rows int)
// out[i] = Σ_{c<k} W[i,c]·x[c], row i at w + i*stride.
// Registers: DI out, SI row, BX stride, DX x, R8 k, R9 rows left,
// R10/R11 running w/x pointers, CX count.

// ROWS_NEXT stores X0 to out[i] and moves to the next row.
#define ROWS_NEXT \
	VMOVSS X0, (DI); \
	ADDQ   $4, DI; \
	ADDQ   BX, SI; \
	DECQ   R9

// func matvecF32AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)
TEXT ·matvecF32AVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ x+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ rows+40(FP), R9

f32row:
	TESTQ R9, R9
	JZ    f32done
	ZERO8ACC
	MOVQ  SI, R10
	MOVQ  DX, R11
	MOVQ  R8, CX

f32loop64:
	CMPQ        CX, $64
	JB          f32loop8
	VMOVUPS     (R10), Y8
	VMOVUPS     32(R10), Y9
	VMOVUPS     64(R10), Y10
	VMOVUPS     96(R10), Y11
	VMOVUPS     128(R10), Y12
	VMOVUPS     160(R10), Y13
	VMOVUPS     192(R10), Y14
	VMOVUPS     224(R10), Y15
	VFMADD231PS (R11), Y8, Y0
	VFMADD231PS 32(R11), Y9, Y1
	VFMADD231PS 64(R11), Y10, Y2
	VFMADD231PS 96(R11), Y11, Y3
	VFMADD231PS 128(R11), Y12, Y4
	VFMADD231PS 160(R11), Y13, Y5
	VFMADD231PS 192(R11), Y14, Y6
	VFMADD231PS 224(R11), Y15, Y7
	ADDQ        $256, R10
	ADDQ        $256, R11
	SUBQ        $64, CX
	JMP         f32loop64

f32loop8:
	CMPQ        CX, $8
	JB          f32sum
	VMOVUPS     (R10), Y8
	VFMADD231PS (R11), Y8, Y0
	ADDQ        $32, R10
	ADDQ        $32, R11
	SUBQ        $8, CX
	JMP         f32loop8

f32sum:
	SUM8ACC
	HSUM8

f32tail:
	TESTQ       CX, CX
	JZ          f32next
	VMOVSS      (R10), X8
	VFMADD231SS (R11), X8, X0
	ADDQ        $4, R10
	ADDQ        $4, R11
	DECQ        CX
	JMP         f32tail

f32next:
	ROWS_NEXT
	JMP f32row

f32done:
	VZEROUPPER
	RET

// func matvecF16AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)
TEXT ·matvecF16AVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ x+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ rows+40(FP), R9

f16row:
	TESTQ R9, R9
	JZ    f16done
	ZERO8ACC
	MOVQ  SI, R10
	MOVQ  DX, R11
	MOVQ  R8, CX

f16loop64:
	CMPQ        CX, $64
	JB          f16loop8
	PREFETCHT0  1024(R10)
	PREFETCHT0  1088(R10)
	VCVTPH2PS   (R10), Y8
	VCVTPH2PS   16(R10), Y9
	VCVTPH2PS   32(R10), Y10
	VCVTPH2PS   48(R10), Y11
	VCVTPH2PS   64(R10), Y12
	VCVTPH2PS   80(R10), Y13
	VCVTPH2PS   96(R10), Y14
	VCVTPH2PS   112(R10), Y15
	VFMADD231PS (R11), Y8, Y0
	VFMADD231PS 32(R11), Y9, Y1
	VFMADD231PS 64(R11), Y10, Y2
	VFMADD231PS 96(R11), Y11, Y3
	VFMADD231PS 128(R11), Y12, Y4
	VFMADD231PS 160(R11), Y13, Y5
	VFMADD231PS 192(R11), Y14, Y6
	VFMADD231PS 224(R11), Y15, Y7
	ADDQ        $128, R10
	ADDQ        $256, R11
	SUBQ        $64, CX
	JMP         f16loop64

f16loop8:
	CMPQ        CX, $8
	JB          f16sum
	VCVTPH2PS   (R10), Y8
	VFMADD231PS (R11), Y8, Y0
	ADDQ        $16, R10
	ADDQ        $32, R11
	SUBQ        $8, CX
	JMP         f16loop8

f16sum:
	SUM8ACC
	HSUM8

f16tail:
	TESTQ       CX, CX
	JZ          f16next
	MOVWLZX     (R10), AX
	VMOVD       AX, X8
	VCVTPH2PS   X8, X8
	VFMADD231SS (R11), X8, X0
	ADDQ        $2, R10
	ADDQ        $4, R11
	DECQ        CX
	JMP         f16tail

f16next:
	ROWS_NEXT
	JMP f16row

f16done:
	VZEROUPPER
	RET

#define BF16LOAD(off, reg) \
	VPMOVZXWD off(R10), reg; \
	VPSLLD    $16, reg, reg

// func matvecBF16AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)
TEXT ·matvecBF16AVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ x+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ rows+40(FP), R9

bf16row:
	TESTQ R9, R9
	JZ    bf16done
	ZERO8ACC
	MOVQ  SI, R10
	MOVQ  DX, R11
	MOVQ  R8, CX

bf16loop64:
	CMPQ        CX, $64
	JB          bf16loop8
	BF16LOAD(0, Y8)
	BF16LOAD(16, Y9)
	BF16LOAD(32, Y10)
	BF16LOAD(48, Y11)
	BF16LOAD(64, Y12)
	BF16LOAD(80, Y13)
	BF16LOAD(96, Y14)
	BF16LOAD(112, Y15)
	VFMADD231PS (R11), Y8, Y0
	VFMADD231PS 32(R11), Y9, Y1
	VFMADD231PS 64(R11), Y10, Y2
	VFMADD231PS 96(R11), Y11, Y3
	VFMADD231PS 128(R11), Y12, Y4
	VFMADD231PS 160(R11), Y13, Y5
	VFMADD231PS 192(R11), Y14, Y6
	VFMADD231PS 224(R11), Y15, Y7
	ADDQ        $128, R10
	ADDQ        $256, R11
	SUBQ        $64, CX
	JMP         bf16loop64

bf16loop8:
	CMPQ        CX, $8
	JB          bf16sum
	BF16LOAD(0, Y8)
	VFMADD231PS (R11), Y8, Y0
	ADDQ        $16, R10
	ADDQ        $32, R11
	SUBQ        $8, CX
	JMP         bf16loop8

bf16sum:
	SUM8ACC
	HSUM8

bf16tail:
	TESTQ       CX, CX
	JZ          bf16next
	MOVWLZX     (R10), AX
	SHLL        $16, AX
	VMOVD       AX, X8
	VFMADD231SS (R11), X8, X0
	ADDQ        $2, R10
	ADDQ        $4, R11
	DECQ        CX
	JMP         bf16tail

bf16next:
	ROWS_NEXT
	JMP bf16row

bf16done:
	VZEROUPPER
	RET

// QBLOCK8 accumulates one block of 32 int8 at qoff(R10) against x at xoff(R11):
// acc += d · Σ q·x, with d the broadcast scale; t and u are temporaries.
// The products of a block form one chain (t); blocks are independent, so
// several in flight keep the converters and multipliers busy.
#define QBLOCK8(qoff, xoff, d, t, u, acc) \
	VPMOVSXBD   qoff(R10), t; \
	VCVTDQ2PS   t, t; \
	VMULPS      xoff(R11), t, t; \
	VPMOVSXBD   qoff+8(R10), u; \
	VCVTDQ2PS   u, u; \
	VFMADD231PS xoff+32(R11), u, t; \
	VPMOVSXBD   qoff+16(R10), u; \
	VCVTDQ2PS   u, u; \
	VFMADD231PS xoff+64(R11), u, t; \
	VPMOVSXBD   qoff+24(R10), u; \
	VCVTDQ2PS   u, u; \
	VFMADD231PS xoff+96(R11), u, t; \
	VFMADD231PS t, d, acc

// func matvecQ8_0AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)
// k counts blocks of 32.
TEXT ·matvecQ8_0AVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ x+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ rows+40(FP), R9

q80row:
	TESTQ  R9, R9
	JZ     q80done
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   SI, R10
	MOVQ   DX, R11
	MOVQ   R8, CX

q80loop4:
	CMPQ         CX, $4
	JB           q80loop1
	PREFETCHT0   1024(R10)
	PREFETCHT0   1088(R10)
	PREFETCHT0   1152(R10)
	VPBROADCASTW (R10), X4
	VPBROADCASTW 34(R10), X5
	VPBROADCASTW 68(R10), X6
	VPBROADCASTW 102(R10), X7
	VCVTPH2PS    X4, Y4
	VCVTPH2PS    X5, Y5
	VCVTPH2PS    X6, Y6
	VCVTPH2PS    X7, Y7
	QBLOCK8(2, 0, Y4, Y8, Y12, Y0)
	QBLOCK8(36, 128, Y5, Y9, Y13, Y1)
	QBLOCK8(70, 256, Y6, Y10, Y14, Y2)
	QBLOCK8(104, 384, Y7, Y11, Y15, Y3)
	ADDQ         $136, R10
	ADDQ         $512, R11
	SUBQ         $4, CX
	JMP          q80loop4

q80loop1:
	TESTQ        CX, CX
	JZ           q80sum
	VPBROADCASTW (R10), X4
	VCVTPH2PS    X4, Y4
	QBLOCK8(2, 0, Y4, Y8, Y12, Y0)
	ADDQ         $34, R10
	ADDQ         $128, R11
	DECQ         CX
	JMP          q80loop1

q80sum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM8
	ROWS_NEXT
	JMP    q80row

q80done:
	VZEROUPPER
	RET

// func matvecQ8F32AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)
// k counts blocks of 32.
TEXT ·matvecQ8F32AVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ x+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ rows+40(FP), R9

q8frow:
	TESTQ  R9, R9
	JZ     q8fdone
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   SI, R10
	MOVQ   DX, R11
	MOVQ   R8, CX

q8floop4:
	CMPQ         CX, $4
	JB           q8floop1
	VBROADCASTSS (R10), Y4
	VBROADCASTSS 36(R10), Y5
	VBROADCASTSS 72(R10), Y6
	VBROADCASTSS 108(R10), Y7
	QBLOCK8(4, 0, Y4, Y8, Y12, Y0)
	QBLOCK8(40, 128, Y5, Y9, Y13, Y1)
	QBLOCK8(76, 256, Y6, Y10, Y14, Y2)
	QBLOCK8(112, 384, Y7, Y11, Y15, Y3)
	ADDQ         $144, R10
	ADDQ         $512, R11
	SUBQ         $4, CX
	JMP          q8floop4

q8floop1:
	TESTQ        CX, CX
	JZ           q8fsum
	VBROADCASTSS (R10), Y4
	QBLOCK8(4, 0, Y4, Y8, Y12, Y0)
	ADDQ         $36, R10
	ADDQ         $128, R11
	DECQ         CX
	JMP          q8floop1

q8fsum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM8
	ROWS_NEXT
	JMP    q8frow

q8fdone:
	VZEROUPPER
	RET

// GEMM4X3STEP multiplies 8 columns: x of 3 tokens in Y12..Y14, each W row in
// turn in Y15; accumulators Y(4t+i) for token t, row i.
#define GEMM4X3STEP(off) \
	VMOVUPS     off(SI), Y12; \
	VMOVUPS     off(SI)(DX*1), Y13; \
	VMOVUPS     off(SI)(DX*2), Y14; \
	VMOVUPS     off(R8), Y15; \
	VFMADD231PS Y15, Y12, Y0; \
	VFMADD231PS Y15, Y13, Y4; \
	VFMADD231PS Y15, Y14, Y8; \
	VMOVUPS     off(R8)(BX*1), Y15; \
	VFMADD231PS Y15, Y12, Y1; \
	VFMADD231PS Y15, Y13, Y5; \
	VFMADD231PS Y15, Y14, Y9; \
	VMOVUPS     off(R8)(BX*2), Y15; \
	VFMADD231PS Y15, Y12, Y2; \
	VFMADD231PS Y15, Y13, Y6; \
	VFMADD231PS Y15, Y14, Y10; \
	VMOVUPS     off(R9), Y15; \
	VFMADD231PS Y15, Y12, Y3; \
	VFMADD231PS Y15, Y13, Y7; \
	VFMADD231PS Y15, Y14, Y11

// GEMMOUT reduces the four accumulators a..d of one token to [Σa Σb Σc Σd]
// and stores (AX == 0) or adds it to 16 bytes at (DI).
#define GEMMOUT(a, b, c, d, xa, t) \
	VHADDPS      b, a, a; \
	VHADDPS      d, c, c; \
	VHADDPS      c, a, a; \
	VEXTRACTF128 $1, a, t; \
	VADDPS       t, xa, xa; \
	TESTQ        AX, AX; \
	JZ           2(PC); \
	VADDPS       (DI), xa, xa; \
	VMOVUPS      xa, (DI)

// func gemm4x3AVX2(out *float32, ldo int, w *float32, ldw int, x *float32, ldx int, k int, acc bool, tiles int, pf *byte, pfn int)
// For each of tiles tiles j (tokens 3j..3j+2), i < 4 rows, t < 3 tokens:
// out[(3j+t)*ldo+i] (+)= Σ_{c<k} w[i*ldw+c]·x[(3j+t)*ldx+c]. k must be a multiple of 8.
// Along the way it prefetches pfn cache lines from pf on, two per 32 columns
// (an odd last one is left out).
TEXT ·gemm4x3AVX2(SB), NOSPLIT, $0-88
	MOVQ    ldw+24(FP), BX
	SHLQ    $2, BX
	MOVQ    x+32(FP), SI
	MOVQ    ldx+40(FP), DX
	SHLQ    $2, DX
	MOVQ    out+0(FP), DI
	MOVBQZX acc+56(FP), AX
	MOVQ    tiles+64(FP), R11
	MOVQ    pf+72(FP), R13
	MOVQ    pfn+80(FP), R10
	LEAQ    (SI)(DX*2), R12
	ADDQ    DX, R12            // next tile's x

g43tile:
	TESTQ  R11, R11
	JZ     g43done
	MOVQ   w+16(FP), R8
	LEAQ   (R8)(BX*2), R9
	ADDQ   BX, R9
	MOVQ   k+48(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

g43loop32:
	CMPQ       CX, $32
	JB         g43loop8
	CMPQ       R10, $2
	JB         5(PC)
	PREFETCHT0 (R13)
	PREFETCHT0 64(R13)
	ADDQ       $128, R13
	SUBQ       $2, R10
	GEMM4X3STEP(0)
	GEMM4X3STEP(32)
	GEMM4X3STEP(64)
	GEMM4X3STEP(96)
	ADDQ $128, SI
	ADDQ $128, R8
	ADDQ $128, R9
	SUBQ $32, CX
	JMP  g43loop32

g43loop8:
	TESTQ CX, CX
	JZ    g43out
	GEMM4X3STEP(0)
	ADDQ  $32, SI
	ADDQ  $32, R8
	ADDQ  $32, R9
	SUBQ  $8, CX
	JMP   g43loop8

g43out:
	MOVQ ldo+8(FP), R8         // R8 is free until the next tile
	SHLQ $2, R8
	GEMMOUT(Y0, Y1, Y2, Y3, X0, X12)
	ADDQ R8, DI
	GEMMOUT(Y4, Y5, Y6, Y7, X4, X12)
	ADDQ R8, DI
	GEMMOUT(Y8, Y9, Y10, Y11, X8, X12)
	ADDQ R8, DI
	MOVQ R12, SI
	LEAQ (SI)(DX*2), R12
	ADDQ DX, R12
	DECQ R11
	JMP  g43tile

g43done:
	VZEROUPPER
	RET

// Row-segment decoders for MatMul slabs.

// func deqF16AVX2(dst *float32, src *byte, n int)
TEXT ·deqF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

df16loop:
	CMPQ      CX, $8
	JB        df16tail
	VCVTPH2PS (SI), Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JMP       df16loop

df16tail:
	TESTQ     CX, CX
	JZ        df16done
	MOVWLZX   (SI), AX
	VMOVD     AX, X0
	VCVTPH2PS X0, X0
	VMOVSS    X0, (DI)
	ADDQ      $2, SI
	ADDQ      $4, DI
	DECQ      CX
	JMP       df16tail

df16done:
	VZEROUPPER
	RET

// func deqBF16AVX2(dst *float32, src *byte, n int)
TEXT ·deqBF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

dbf16loop:
	CMPQ      CX, $8
	JB        dbf16tail
	VPMOVZXWD (SI), Y0
	VPSLLD    $16, Y0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JMP       dbf16loop

dbf16tail:
	TESTQ   CX, CX
	JZ      dbf16done
	MOVWLZX (SI), AX
	SHLL    $16, AX
	MOVL    AX, (DI)
	ADDQ    $2, SI
	ADDQ    $4, DI
	DECQ    CX
	JMP     dbf16tail

dbf16done:
	VZEROUPPER
	RET

// DEQ8STORE writes d · float32(q) for the 32 int8 at qoff(SI) to (DI).
#define DEQ8STORE(qoff) \
	VPMOVSXBD qoff(SI), Y1; \
	VPMOVSXBD qoff+8(SI), Y2; \
	VPMOVSXBD qoff+16(SI), Y3; \
	VPMOVSXBD qoff+24(SI), Y4; \
	VCVTDQ2PS Y1, Y1; \
	VCVTDQ2PS Y2, Y2; \
	VCVTDQ2PS Y3, Y3; \
	VCVTDQ2PS Y4, Y4; \
	VMULPS    Y1, Y0, Y1; \
	VMULPS    Y2, Y0, Y2; \
	VMULPS    Y3, Y0, Y3; \
	VMULPS    Y4, Y0, Y4; \
	VMOVUPS   Y1, (DI); \
	VMOVUPS   Y2, 32(DI); \
	VMOVUPS   Y3, 64(DI); \
	VMOVUPS   Y4, 96(DI)

// func deqQ8_0AVX2(dst *float32, src *byte, nb int)
TEXT ·deqQ8_0AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ nb+16(FP), CX

dq80loop:
	TESTQ        CX, CX
	JZ           dq80done
	VPBROADCASTW (SI), X0
	VCVTPH2PS    X0, Y0
	DEQ8STORE(2)
	ADDQ         $34, SI
	ADDQ         $128, DI
	DECQ         CX
	JMP          dq80loop

dq80done:
	VZEROUPPER
	RET

// func deqQ8F32AVX2(dst *float32, src *byte, nb int)
TEXT ·deqQ8F32AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ nb+16(FP), CX

dq8floop:
	TESTQ        CX, CX
	JZ           dq8fdone
	VBROADCASTSS (SI), Y0
	DEQ8STORE(4)
	ADDQ         $36, SI
	ADDQ         $128, DI
	DECQ         CX
	JMP          dq8floop

dq8fdone:
	VZEROUPPER
	RET

// tailmask<>+4*(8-r) holds 8 int32 lanes of which the first r are all ones:
// a VMASKMOVPS mask for the last r < 8 elements of a row.
DATA tailmask<>+0(SB)/4, $0xffffffff
DATA tailmask<>+4(SB)/4, $0xffffffff
DATA tailmask<>+8(SB)/4, $0xffffffff
DATA tailmask<>+12(SB)/4, $0xffffffff
DATA tailmask<>+16(SB)/4, $0xffffffff
DATA tailmask<>+20(SB)/4, $0xffffffff
DATA tailmask<>+24(SB)/4, $0xffffffff
DATA tailmask<>+28(SB)/4, $0xffffffff
DATA tailmask<>+32(SB)/4, $0
DATA tailmask<>+36(SB)/4, $0
DATA tailmask<>+40(SB)/4, $0
DATA tailmask<>+44(SB)/4, $0
DATA tailmask<>+48(SB)/4, $0
DATA tailmask<>+52(SB)/4, $0
DATA tailmask<>+56(SB)/4, $0
DATA tailmask<>+60(SB)/4, $0
GLOBL tailmask<>(SB), RODATA|NOPTR, $64

// func matvecF32x4AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)
// The row kernel four rows at a time (rows must be a multiple of 4): x is
// loaded once for the four rows and their sums are reduced together, which
// pays on short rows. The k%8 tail uses VMASKMOVPS, which never touches
// masked-out memory.
TEXT ·matvecF32x4AVX2(SB), NOSPLIT, $0-48
	MOVQ    out+0(FP), DI
	MOVQ    w+8(FP), SI
	MOVQ    stride+16(FP), BX
	MOVQ    x+24(FP), DX
	MOVQ    k+32(FP), R8
	MOVQ    rows+40(FP), R9
	MOVQ    R8, AX
	ANDQ    $7, AX
	MOVQ    $8, CX
	SUBQ    AX, CX
	LEAQ    tailmask<>(SB), R12
	VMOVUPS (R12)(CX*4), Y15
	LEAQ    (BX)(BX*2), R13

x4row:
	TESTQ  R9, R9
	JZ     x4done
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   SI, R10
	MOVQ   DX, R11
	MOVQ   R8, CX

x4loop16:
	CMPQ        CX, $16
	JB          x4loop8
	VMOVUPS     (R11), Y8
	VMOVUPS     32(R11), Y9
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS (R10)(BX*1), Y8, Y1
	VFMADD231PS (R10)(BX*2), Y8, Y2
	VFMADD231PS (R10)(R13*1), Y8, Y3
	VFMADD231PS 32(R10), Y9, Y4
	VFMADD231PS 32(R10)(BX*1), Y9, Y5
	VFMADD231PS 32(R10)(BX*2), Y9, Y6
	VFMADD231PS 32(R10)(R13*1), Y9, Y7
	ADDQ        $64, R10
	ADDQ        $64, R11
	SUBQ        $16, CX
	JMP         x4loop16

x4loop8:
	CMPQ        CX, $8
	JB          x4tail
	VMOVUPS     (R11), Y8
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS (R10)(BX*1), Y8, Y1
	VFMADD231PS (R10)(BX*2), Y8, Y2
	VFMADD231PS (R10)(R13*1), Y8, Y3
	ADDQ        $32, R10
	ADDQ        $32, R11
	SUBQ        $8, CX

x4tail:
	TESTQ       CX, CX
	JZ          x4sum
	VMASKMOVPS  (R11), Y15, Y8
	VMASKMOVPS  (R10), Y15, Y9
	VMASKMOVPS  (R10)(BX*1), Y15, Y10
	VMASKMOVPS  (R10)(BX*2), Y15, Y11
	VMASKMOVPS  (R10)(R13*1), Y15, Y12
	VFMADD231PS Y9, Y8, Y4
	VFMADD231PS Y10, Y8, Y5
	VFMADD231PS Y11, Y8, Y6
	VFMADD231PS Y12, Y8, Y7

x4sum:
	VADDPS       Y4, Y0, Y0
	VADDPS       Y5, Y1, Y1
	VADDPS       Y6, Y2, Y2
	VADDPS       Y7, Y3, Y3
	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVUPS      X0, (DI)
	ADDQ         $16, DI
	LEAQ         (SI)(BX*4), SI
	SUBQ         $4, R9
	JMP          x4row

x4done:
	VZEROUPPER
	RET

// Four-row kernels for the converted types: rows must be a multiple of 4.
// Row i of the group is at (R10) + i*BX (R13 = 3*BX). The F16 and BF16
// kernels handle k rounded down to a multiple of 8; the caller adds the rest.

// X4STEP16 multiplies 8 columns: x in Y8, the four rows converted by CONV
// into Y9..Y12, accumulated into Y0..Y3.
#define X4STEP16(CONV, off, xoff) \
	VMOVUPS     xoff(R11), Y8; \
	CONV(off(R10), Y9); \
	CONV(off(R10)(BX*1), Y10); \
	CONV(off(R10)(BX*2), Y11); \
	CONV(off(R10)(R13*1), Y12); \
	VFMADD231PS Y9, Y8, Y0; \
	VFMADD231PS Y10, Y8, Y1; \
	VFMADD231PS Y11, Y8, Y2; \
	VFMADD231PS Y12, Y8, Y3

#define CVTF16(src, dst) VCVTPH2PS src, dst
#define CVTBF16(src, dst) VPMOVZXWD src, dst; VPSLLD $16, dst, dst

// X4NEXT reduces Y0..Y3 to [Σ0 Σ1 Σ2 Σ3], stores it and moves to the next 4 rows.
#define X4NEXT \
	VHADDPS      Y1, Y0, Y0; \
	VHADDPS      Y3, Y2, Y2; \
	VHADDPS      Y2, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVUPS      X0, (DI); \
	ADDQ         $16, DI; \
	LEAQ         (SI)(BX*4), SI; \
	SUBQ         $4, R9

// func matvecF16x4AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)
TEXT ·matvecF16x4AVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ x+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ rows+40(FP), R9
	LEAQ (BX)(BX*2), R13

h4row:
	TESTQ  R9, R9
	JZ     h4done
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   SI, R10
	MOVQ   DX, R11
	MOVQ   R8, CX

h4loop16:
	CMPQ       CX, $16
	JB         h4loop8
	PREFETCHT0 512(R10)
	PREFETCHT0 512(R10)(BX*1)
	PREFETCHT0 512(R10)(BX*2)
	PREFETCHT0 512(R10)(R13*1)
	X4STEP16(CVTF16, 0, 0)
	X4STEP16(CVTF16, 16, 32)
	ADDQ       $32, R10
	ADDQ       $64, R11
	SUBQ       $16, CX
	JMP        h4loop16

h4loop8:
	CMPQ CX, $8
	JB   h4sum
	X4STEP16(CVTF16, 0, 0)

h4sum:
	X4NEXT
	JMP h4row

h4done:
	VZEROUPPER
	RET

// func matvecBF16x4AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)
TEXT ·matvecBF16x4AVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ x+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ rows+40(FP), R9
	LEAQ (BX)(BX*2), R13

b4row:
	TESTQ  R9, R9
	JZ     b4done
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   SI, R10
	MOVQ   DX, R11
	MOVQ   R8, CX

b4loop16:
	CMPQ       CX, $16
	JB         b4loop8
	PREFETCHT0 512(R10)
	PREFETCHT0 512(R10)(BX*1)
	PREFETCHT0 512(R10)(BX*2)
	PREFETCHT0 512(R10)(R13*1)
	X4STEP16(CVTBF16, 0, 0)
	X4STEP16(CVTBF16, 16, 32)
	ADDQ       $32, R10
	ADDQ       $64, R11
	SUBQ       $16, CX
	JMP        b4loop16

b4loop8:
	CMPQ CX, $8
	JB   b4sum
	X4STEP16(CVTBF16, 0, 0)

b4sum:
	X4NEXT
	JMP b4row

b4done:
	VZEROUPPER
	RET

// X4QROW accumulates into acc one block at qoff(base), a row pointer, with
// its scale already in d: x of the block is in Y8..Y11; uses Y13, Y14.
#define X4QROW(qoff, base, d, acc) \
	VPMOVSXBD   qoff(base), Y13; \
	VCVTDQ2PS   Y13, Y13; \
	VMULPS      Y8, Y13, Y13; \
	VPMOVSXBD   qoff+8(base), Y14; \
	VCVTDQ2PS   Y14, Y14; \
	VFMADD231PS Y9, Y14, Y13; \
	VPMOVSXBD   qoff+16(base), Y14; \
	VCVTDQ2PS   Y14, Y14; \
	VFMADD231PS Y10, Y14, Y13; \
	VPMOVSXBD   qoff+24(base), Y14; \
	VCVTDQ2PS   Y14, Y14; \
	VFMADD231PS Y11, Y14, Y13; \
	VFMADD231PS Y13, d, acc

// X4ROWPTRS points R10, AX, R12, R13 at the four rows of the group at SI.
#define X4ROWPTRS \
	MOVQ SI, R10; \
	LEAQ (SI)(BX*1), AX; \
	LEAQ (SI)(BX*2), R12; \
	LEAQ (AX)(BX*2), R13

#define X4LOADX \
	VMOVUPS (R11), Y8; \
	VMOVUPS 32(R11), Y9; \
	VMOVUPS 64(R11), Y10; \
	VMOVUPS 96(R11), Y11

#define F16SCALE(base, d) VPBROADCASTW (base), X15; VCVTPH2PS X15, d

// func matvecQ8_0x4AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)
// k counts blocks of 32; rows must be a multiple of 4.
TEXT ·matvecQ8_0x4AVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ x+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ rows+40(FP), R9

q4row:
	TESTQ  R9, R9
	JZ     q4done
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	X4ROWPTRS
	MOVQ   DX, R11
	MOVQ   R8, CX

q4loop:
	TESTQ      CX, CX
	JZ         q4sum
	// Prefetch the same offset of the next group of four rows: Q8_0 rows
	// are short, so hardware prefetch alone stalls at every group start.
	LEAQ       (R10)(BX*4), R14
	PREFETCHT0 (R14)
	PREFETCHT0 (R14)(BX*1)
	PREFETCHT0 (R14)(BX*2)
	LEAQ       (R13)(BX*4), R14
	PREFETCHT0 (R14)
	X4LOADX
	F16SCALE(R10, Y12)
	X4QROW(2, R10, Y12, Y0)
	F16SCALE(AX, Y12)
	X4QROW(2, AX, Y12, Y1)
	F16SCALE(R12, Y12)
	X4QROW(2, R12, Y12, Y2)
	F16SCALE(R13, Y12)
	X4QROW(2, R13, Y12, Y3)
	ADDQ       $34, R10
	ADDQ       $34, AX
	ADDQ       $34, R12
	ADDQ       $34, R13
	ADDQ       $128, R11
	DECQ       CX
	JMP        q4loop

q4sum:
	X4NEXT
	JMP q4row

q4done:
	VZEROUPPER
	RET

// func matvecQ8F32x4AVX2(out *float32, w *byte, stride int, x *float32, k, rows int)
// k counts blocks of 32; rows must be a multiple of 4.
TEXT ·matvecQ8F32x4AVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ x+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ rows+40(FP), R9

p4row:
	TESTQ  R9, R9
	JZ     p4done
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	X4ROWPTRS
	MOVQ   DX, R11
	MOVQ   R8, CX

p4loop:
	TESTQ      CX, CX
	JZ         p4sum
	LEAQ       (R10)(BX*4), R14 // the next group of rows, as for Q8_0
	PREFETCHT0 (R14)
	PREFETCHT0 (R14)(BX*1)
	PREFETCHT0 (R14)(BX*2)
	LEAQ       (R13)(BX*4), R14
	PREFETCHT0 (R14)
	X4LOADX
	VBROADCASTSS (R10), Y12
	X4QROW(4, R10, Y12, Y0)
	VBROADCASTSS (AX), Y12
	X4QROW(4, AX, Y12, Y1)
	VBROADCASTSS (R12), Y12
	X4QROW(4, R12, Y12, Y2)
	VBROADCASTSS (R13), Y12
	X4QROW(4, R13, Y12, Y3)
	ADDQ       $36, R10
	ADDQ       $36, AX
	ADDQ       $36, R12
	ADDQ       $36, R13
	ADDQ       $128, R11
	DECQ       CX
	JMP        p4loop

p4sum:
	X4NEXT
	JMP p4row

p4done:
	VZEROUPPER
	RET
