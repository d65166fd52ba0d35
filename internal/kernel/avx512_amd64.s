//go:build amd64 && !noasm

#include "textflag.h"

// AVX-512 kernels (F, BW, VL, DQ). Element tails shorter than a vector use
// zeroing-masked loads, which never touch memory outside the masked lanes.

// TAILMASK sets K1 to the low (n & 15) bits, n in CX; clobbers AX and CX.
#define TAILMASK \
	ANDQ  $15, CX; \
	MOVL  $1, AX; \
	SHLL  CX, AX; \
	DECL  AX; \
	KMOVW AX, K1

// HSUM16 reduces Z0 to its horizontal sum in the low lane of X0; clobbers Z1.
#define HSUM16 \
	VEXTRACTF64X4 $1, Z0, Y1; \
	VADDPS        Y1, Y0, Y0; \
	VEXTRACTF128  $1, Y0, X1; \
	VADDPS        X1, X0, X0; \
	VPERMILPS     $0x4e, X0, X1; \
	VADDPS        X1, X0, X0; \
	VPERMILPS     $0xb1, X0, X1; \
	VADDSS        X1, X0, X0

// func dotAVX512(a, b *float32, n int) float32
TEXT ·dotAVX512(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3

dot64:
	CMPQ        CX, $64
	JB          dot16
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMOVUPS     128(SI), Z6
	VMOVUPS     192(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         dot64

dot16:
	CMPQ        CX, $16
	JB          dottail
	VMOVUPS     (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         dot16

dottail:
	TESTQ       CX, CX
	JZ          dotsum
	TAILMASK
	VMOVUPS.Z   (SI), K1, Z4
	VMOVUPS.Z   (DI), K1, Z5
	VFMADD231PS Z5, Z4, Z1

dotsum:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	HSUM16
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// func axpyAVX512(a float32, x, y *float32, n int)
TEXT ·axpyAVX512(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Z0
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX

axpy64:
	CMPQ        CX, $64
	JB          axpy16
	VMOVUPS     (SI), Z1
	VMOVUPS     64(SI), Z2
	VMOVUPS     128(SI), Z3
	VMOVUPS     192(SI), Z4
	VFMADD213PS (DI), Z0, Z1
	VFMADD213PS 64(DI), Z0, Z2
	VFMADD213PS 128(DI), Z0, Z3
	VFMADD213PS 192(DI), Z0, Z4
	VMOVUPS     Z1, (DI)
	VMOVUPS     Z2, 64(DI)
	VMOVUPS     Z3, 128(DI)
	VMOVUPS     Z4, 192(DI)
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         axpy64

axpy16:
	CMPQ        CX, $16
	JB          axpytail
	VMOVUPS     (SI), Z1
	VFMADD213PS (DI), Z0, Z1
	VMOVUPS     Z1, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         axpy16

axpytail:
	TESTQ       CX, CX
	JZ          axpydone
	TAILMASK
	VMOVUPS.Z   (SI), K1, Z1
	VMOVUPS.Z   (DI), K1, Z2
	VFMADD231PS Z1, Z0, Z2
	VMOVUPS     Z2, K1, (DI)

axpydone:
	VZEROUPPER
	RET

// func scaleAVX512(a float32, x *float32, n int)
TEXT ·scaleAVX512(SB), NOSPLIT, $0-24
	VBROADCASTSS a+0(FP), Z0
	MOVQ         x+8(FP), DI
	MOVQ         n+16(FP), CX

scale64:
	CMPQ    CX, $64
	JB      scale16
	VMULPS  (DI), Z0, Z1
	VMULPS  64(DI), Z0, Z2
	VMULPS  128(DI), Z0, Z3
	VMULPS  192(DI), Z0, Z4
	VMOVUPS Z1, (DI)
	VMOVUPS Z2, 64(DI)
	VMOVUPS Z3, 128(DI)
	VMOVUPS Z4, 192(DI)
	ADDQ    $256, DI
	SUBQ    $64, CX
	JMP     scale64

scale16:
	CMPQ    CX, $16
	JB      scaletail
	VMULPS  (DI), Z0, Z1
	VMOVUPS Z1, (DI)
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     scale16

scaletail:
	TESTQ     CX, CX
	JZ        scaledone
	TAILMASK
	VMOVUPS.Z (DI), K1, Z1
	VMULPS    Z1, Z0, Z1
	VMOVUPS   Z1, K1, (DI)

scaledone:
	VZEROUPPER
	RET

// Row kernels: func(out *float32, w *byte, stride int, x *float32, k, rows int)
// out[i] = Σ_{c<k} W[i,c]·x[c], row i at w + i*stride.
// Registers: DI out, SI row, BX stride, DX x, R8 k, R9 rows left,
// R10/R11 running w/x pointers, CX count.

// ROWS_NEXT sums Z0..Z3 into out[i] and moves to the next row.
#define ROWS_NEXT \
	VADDPS Z1, Z0, Z0; \
	VADDPS Z3, Z2, Z2; \
	VADDPS Z2, Z0, Z0; \
	HSUM16; \
	VMOVSS X0, (DI); \
	ADDQ   $4, DI; \
	ADDQ   BX, SI; \
	DECQ   R9

#define ZERO4 \
	VXORPS Z0, Z0, Z0; \
	VXORPS Z1, Z1, Z1; \
	VXORPS Z2, Z2, Z2; \
	VXORPS Z3, Z3, Z3

// func matvecF32AVX512(out *float32, w *byte, stride int, x *float32, k, rows int)
TEXT ·matvecF32AVX512(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ x+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ rows+40(FP), R9
	MOVQ R8, CX
	TAILMASK

f32row:
	TESTQ R9, R9
	JZ    f32done
	ZERO4
	MOVQ  SI, R10
	MOVQ  DX, R11
	MOVQ  R8, CX

f32loop64:
	CMPQ        CX, $64
	JB          f32loop16
	VMOVUPS     (R10), Z4
	VMOVUPS     64(R10), Z5
	VMOVUPS     128(R10), Z6
	VMOVUPS     192(R10), Z7
	VFMADD231PS (R11), Z4, Z0
	VFMADD231PS 64(R11), Z5, Z1
	VFMADD231PS 128(R11), Z6, Z2
	VFMADD231PS 192(R11), Z7, Z3
	ADDQ        $256, R10
	ADDQ        $256, R11
	SUBQ        $64, CX
	JMP         f32loop64

f32loop16:
	CMPQ        CX, $16
	JB          f32tail
	VMOVUPS     (R10), Z4
	VFMADD231PS (R11), Z4, Z0
	ADDQ        $64, R10
	ADDQ        $64, R11
	SUBQ        $16, CX
	JMP         f32loop16

f32tail:
	TESTQ       CX, CX
	JZ          f32sum
	VMOVUPS.Z   (R10), K1, Z4
	VMOVUPS.Z   (R11), K1, Z5
	VFMADD231PS Z5, Z4, Z1

f32sum:
	ROWS_NEXT
	JMP f32row

f32done:
	VZEROUPPER
	RET

// func matvecF16AVX512(out *float32, w *byte, stride int, x *float32, k, rows int)
TEXT ·matvecF16AVX512(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ x+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ rows+40(FP), R9
	MOVQ R8, CX
	TAILMASK

f16row:
	TESTQ R9, R9
	JZ    f16done
	ZERO4
	MOVQ  SI, R10
	MOVQ  DX, R11
	MOVQ  R8, CX

f16loop64:
	CMPQ        CX, $64
	JB          f16loop16
	VCVTPH2PS   (R10), Z4
	VCVTPH2PS   32(R10), Z5
	VCVTPH2PS   64(R10), Z6
	VCVTPH2PS   96(R10), Z7
	VFMADD231PS (R11), Z4, Z0
	VFMADD231PS 64(R11), Z5, Z1
	VFMADD231PS 128(R11), Z6, Z2
	VFMADD231PS 192(R11), Z7, Z3
	ADDQ        $128, R10
	ADDQ        $256, R11
	SUBQ        $64, CX
	JMP         f16loop64

f16loop16:
	CMPQ        CX, $16
	JB          f16tail
	VCVTPH2PS   (R10), Z4
	VFMADD231PS (R11), Z4, Z0
	ADDQ        $32, R10
	ADDQ        $64, R11
	SUBQ        $16, CX
	JMP         f16loop16

f16tail:
	TESTQ       CX, CX
	JZ          f16sum
	VMOVDQU16.Z (R10), K1, Y4
	VCVTPH2PS   Y4, Z4
	VMOVUPS.Z   (R11), K1, Z5
	VFMADD231PS Z5, Z4, Z1

f16sum:
	ROWS_NEXT
	JMP f16row

f16done:
	VZEROUPPER
	RET

// BF16LOAD widens 16 bfloat16 values to float32: zero-extend, shift left 16.
#define BF16LOAD(off, reg) \
	VPMOVZXWD off(R10), reg; \
	VPSLLD    $16, reg, reg

// func matvecBF16AVX512(out *float32, w *byte, stride int, x *float32, k, rows int)
TEXT ·matvecBF16AVX512(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ x+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ rows+40(FP), R9
	MOVQ R8, CX
	TAILMASK

bf16row:
	TESTQ R9, R9
	JZ    bf16done
	ZERO4
	MOVQ  SI, R10
	MOVQ  DX, R11
	MOVQ  R8, CX

bf16loop64:
	CMPQ        CX, $64
	JB          bf16loop16
	BF16LOAD(0, Z4)
	BF16LOAD(32, Z5)
	BF16LOAD(64, Z6)
	BF16LOAD(96, Z7)
	VFMADD231PS (R11), Z4, Z0
	VFMADD231PS 64(R11), Z5, Z1
	VFMADD231PS 128(R11), Z6, Z2
	VFMADD231PS 192(R11), Z7, Z3
	ADDQ        $128, R10
	ADDQ        $256, R11
	SUBQ        $64, CX
	JMP         bf16loop64

bf16loop16:
	CMPQ        CX, $16
	JB          bf16tail
	BF16LOAD(0, Z4)
	VFMADD231PS (R11), Z4, Z0
	ADDQ        $32, R10
	ADDQ        $64, R11
	SUBQ        $16, CX
	JMP         bf16loop16

bf16tail:
	TESTQ       CX, CX
	JZ          bf16sum
	VMOVDQU16.Z (R10), K1, Y4
	VPMOVZXWD   Y4, Z4
	VPSLLD      $16, Z4, Z4
	VMOVUPS.Z   (R11), K1, Z5
	VFMADD231PS Z5, Z4, Z1

bf16sum:
	ROWS_NEXT
	JMP bf16row

bf16done:
	VZEROUPPER
	RET

// Q8 blocks: acc += d · (q[0:16]·x[0:16] + q[16:32]·x[16:32]).
// QBLOCK(qoff, xoff, d, t1, t2, acc): the 32 int8 at qoff(R10), x at xoff(R11),
// the broadcast scale already in d.
#define QBLOCK(qoff, xoff, d, t1, t2, acc) \
	VPMOVSXBD   qoff(R10), t1; \
	VPMOVSXBD   qoff+16(R10), t2; \
	VCVTDQ2PS   t1, t1; \
	VCVTDQ2PS   t2, t2; \
	VMULPS      xoff(R11), t1, t1; \
	VFMADD231PS xoff+64(R11), t2, t1; \
	VFMADD231PS t1, d, acc

// func matvecQ8_0AVX512(out *float32, w *byte, stride int, x *float32, nb, rows int)
TEXT ·matvecQ8_0AVX512(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ x+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ rows+40(FP), R9

q80row:
	TESTQ R9, R9
	JZ    q80done
	ZERO4
	MOVQ  SI, R10
	MOVQ  DX, R11
	MOVQ  R8, CX

q80loop4:
	CMPQ         CX, $4
	JB           q80loop1
	VPBROADCASTW (R10), Y8
	VPBROADCASTW 34(R10), Y9
	VPBROADCASTW 68(R10), Y10
	VPBROADCASTW 102(R10), Y11
	VCVTPH2PS    Y8, Z8
	VCVTPH2PS    Y9, Z9
	VCVTPH2PS    Y10, Z10
	VCVTPH2PS    Y11, Z11
	QBLOCK(2, 0, Z8, Z12, Z13, Z0)
	QBLOCK(36, 128, Z9, Z14, Z15, Z1)
	QBLOCK(70, 256, Z10, Z16, Z17, Z2)
	QBLOCK(104, 384, Z11, Z18, Z19, Z3)
	ADDQ         $136, R10
	ADDQ         $512, R11
	SUBQ         $4, CX
	JMP          q80loop4

q80loop1:
	TESTQ        CX, CX
	JZ           q80sum
	VPBROADCASTW (R10), Y8
	VCVTPH2PS    Y8, Z8
	QBLOCK(2, 0, Z8, Z12, Z13, Z0)
	ADDQ         $34, R10
	ADDQ         $128, R11
	DECQ         CX
	JMP          q80loop1

q80sum:
	ROWS_NEXT
	JMP q80row

q80done:
	VZEROUPPER
	RET

// func matvecQ8F32AVX512(out *float32, w *byte, stride int, x *float32, nb, rows int)
TEXT ·matvecQ8F32AVX512(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ x+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ rows+40(FP), R9

q8frow:
	TESTQ R9, R9
	JZ    q8fdone
	ZERO4
	MOVQ  SI, R10
	MOVQ  DX, R11
	MOVQ  R8, CX

q8floop4:
	CMPQ         CX, $4
	JB           q8floop1
	VBROADCASTSS (R10), Z8
	VBROADCASTSS 36(R10), Z9
	VBROADCASTSS 72(R10), Z10
	VBROADCASTSS 108(R10), Z11
	QBLOCK(4, 0, Z8, Z12, Z13, Z0)
	QBLOCK(40, 128, Z9, Z14, Z15, Z1)
	QBLOCK(76, 256, Z10, Z16, Z17, Z2)
	QBLOCK(112, 384, Z11, Z18, Z19, Z3)
	ADDQ         $144, R10
	ADDQ         $512, R11
	SUBQ         $4, CX
	JMP          q8floop4

q8floop1:
	TESTQ        CX, CX
	JZ           q8fsum
	VBROADCASTSS (R10), Z8
	QBLOCK(4, 0, Z8, Z12, Z13, Z0)
	ADDQ         $36, R10
	ADDQ         $128, R11
	DECQ         CX
	JMP          q8floop1

q8fsum:
	ROWS_NEXT
	JMP q8frow

q8fdone:
	VZEROUPPER
	RET

// GEMM4X6STEP multiplies 16 columns (or the K1-masked tail, with mask
// ".Z" loads via LD): W rows in Z24..Z27, x of each of 6 tokens in turn in
// Z28..Z31; accumulator Z(4t+i) for token t, row i.
#define GEMM4X6STEP(off) \
	VMOVUPS     off(R8), Z24; \
	VMOVUPS     off(R8)(BX*1), Z25; \
	VMOVUPS     off(R8)(BX*2), Z26; \
	VMOVUPS     off(R9), Z27; \
	VMOVUPS     off(SI), Z28; \
	VMOVUPS     off(SI)(DX*1), Z29; \
	VMOVUPS     off(SI)(DX*2), Z30; \
	VMOVUPS     off(R12), Z31; \
	VFMADD231PS Z24, Z28, Z0; \
	VFMADD231PS Z25, Z28, Z1; \
	VFMADD231PS Z26, Z28, Z2; \
	VFMADD231PS Z27, Z28, Z3; \
	VFMADD231PS Z24, Z29, Z4; \
	VFMADD231PS Z25, Z29, Z5; \
	VFMADD231PS Z26, Z29, Z6; \
	VFMADD231PS Z27, Z29, Z7; \
	VMOVUPS     off(R12)(DX*1), Z28; \
	VMOVUPS     off(R12)(DX*2), Z29; \
	VFMADD231PS Z24, Z30, Z8; \
	VFMADD231PS Z25, Z30, Z9; \
	VFMADD231PS Z26, Z30, Z10; \
	VFMADD231PS Z27, Z30, Z11; \
	VFMADD231PS Z24, Z31, Z12; \
	VFMADD231PS Z25, Z31, Z13; \
	VFMADD231PS Z26, Z31, Z14; \
	VFMADD231PS Z27, Z31, Z15; \
	VFMADD231PS Z24, Z28, Z16; \
	VFMADD231PS Z25, Z28, Z17; \
	VFMADD231PS Z26, Z28, Z18; \
	VFMADD231PS Z27, Z28, Z19; \
	VFMADD231PS Z24, Z29, Z20; \
	VFMADD231PS Z25, Z29, Z21; \
	VFMADD231PS Z26, Z29, Z22; \
	VFMADD231PS Z27, Z29, Z23

// GEMM4X6TAIL is GEMM4X6STEP(0) with K1-masked, zeroing loads.
#define GEMM4X6TAIL \
	VMOVUPS.Z   (R8), K1, Z24; \
	VMOVUPS.Z   (R8)(BX*1), K1, Z25; \
	VMOVUPS.Z   (R8)(BX*2), K1, Z26; \
	VMOVUPS.Z   (R9), K1, Z27; \
	VMOVUPS.Z   (SI), K1, Z28; \
	VMOVUPS.Z   (SI)(DX*1), K1, Z29; \
	VMOVUPS.Z   (SI)(DX*2), K1, Z30; \
	VMOVUPS.Z   (R12), K1, Z31; \
	VFMADD231PS Z24, Z28, Z0; \
	VFMADD231PS Z25, Z28, Z1; \
	VFMADD231PS Z26, Z28, Z2; \
	VFMADD231PS Z27, Z28, Z3; \
	VFMADD231PS Z24, Z29, Z4; \
	VFMADD231PS Z25, Z29, Z5; \
	VFMADD231PS Z26, Z29, Z6; \
	VFMADD231PS Z27, Z29, Z7; \
	VMOVUPS.Z   (R12)(DX*1), K1, Z28; \
	VMOVUPS.Z   (R12)(DX*2), K1, Z29; \
	VFMADD231PS Z24, Z30, Z8; \
	VFMADD231PS Z25, Z30, Z9; \
	VFMADD231PS Z26, Z30, Z10; \
	VFMADD231PS Z27, Z30, Z11; \
	VFMADD231PS Z24, Z31, Z12; \
	VFMADD231PS Z25, Z31, Z13; \
	VFMADD231PS Z26, Z31, Z14; \
	VFMADD231PS Z27, Z31, Z15; \
	VFMADD231PS Z24, Z28, Z16; \
	VFMADD231PS Z25, Z28, Z17; \
	VFMADD231PS Z26, Z28, Z18; \
	VFMADD231PS Z27, Z28, Z19; \
	VFMADD231PS Z24, Z29, Z20; \
	VFMADD231PS Z25, Z29, Z21; \
	VFMADD231PS Z26, Z29, Z22; \
	VFMADD231PS Z27, Z29, Z23

// GEMMOUT4 reduces the accumulators a..d of one token to [Σa Σb Σc Σd] and
// stores (AX == 0) or adds it to 16 bytes at (DI), then moves DI on by R8;
// uses Z24..Z26.
#define GEMMOUT4(a, b, c, d) \
	VUNPCKLPS     b, a, Z24; \
	VUNPCKHPS     b, a, Z25; \
	VADDPS        Z25, Z24, Z24; \
	VUNPCKLPS     d, c, Z25; \
	VUNPCKHPS     d, c, Z26; \
	VADDPS        Z26, Z25, Z25; \
	VSHUFPS       $0x44, Z25, Z24, Z26; \
	VSHUFPS       $0xee, Z25, Z24, Z24; \
	VADDPS        Z26, Z24, Z24; \
	VEXTRACTF64X4 $1, Z24, Y25; \
	VADDPS        Y25, Y24, Y24; \
	VEXTRACTF32X4 $1, Y24, X25; \
	VADDPS        X25, X24, X24; \
	TESTQ         AX, AX; \
	JZ            2(PC); \
	VADDPS        (DI), X24, X24; \
	VMOVUPS       X24, (DI); \
	ADDQ          R8, DI

// func gemm4x6AVX512(out *float32, ldo int, w *float32, ldw int, x *float32, ldx int, k int, acc bool, tiles int, pf *byte, pfn int)
// For each of tiles tiles j (tokens 6j..6j+5), i < 4 rows, t < 6 tokens:
// out[(6j+t)*ldo+i] (+)= Σ_{c<k} w[i*ldw+c]·x[(6j+t)*ldx+c]. Any k.
// Along the way it prefetches pfn cache lines from pf on, two per 32 columns
// (an odd last one is left out).
TEXT ·gemm4x6AVX512(SB), NOSPLIT, $0-88
	MOVQ    ldw+24(FP), BX
	SHLQ    $2, BX
	MOVQ    x+32(FP), SI
	MOVQ    ldx+40(FP), DX
	SHLQ    $2, DX
	MOVQ    out+0(FP), DI
	MOVQ    k+48(FP), CX
	TAILMASK
	MOVBQZX acc+56(FP), AX
	MOVQ    tiles+64(FP), R11
	MOVQ    pf+72(FP), R13
	MOVQ    pfn+80(FP), R10
	LEAQ    (SI)(DX*2), R12
	ADDQ    DX, R12            // this tile's tokens 3..5

g46tile:
	TESTQ  R11, R11
	JZ     g46done
	MOVQ   w+16(FP), R8
	LEAQ   (R8)(BX*2), R9
	ADDQ   BX, R9
	MOVQ   k+48(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z12, Z12, Z12
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15
	VXORPS Z16, Z16, Z16
	VXORPS Z17, Z17, Z17
	VXORPS Z18, Z18, Z18
	VXORPS Z19, Z19, Z19
	VXORPS Z20, Z20, Z20
	VXORPS Z21, Z21, Z21
	VXORPS Z22, Z22, Z22
	VXORPS Z23, Z23, Z23

g46loop32:
	CMPQ       CX, $32
	JB         g46loop16
	CMPQ       R10, $2
	JB         5(PC)
	PREFETCHT0 (R13)
	PREFETCHT0 64(R13)
	ADDQ       $128, R13
	SUBQ       $2, R10
	GEMM4X6STEP(0)
	GEMM4X6STEP(64)
	ADDQ $128, SI
	ADDQ $128, R12
	ADDQ $128, R8
	ADDQ $128, R9
	SUBQ $32, CX
	JMP  g46loop32

g46loop16:
	CMPQ CX, $16
	JB   g46tail
	GEMM4X6STEP(0)
	ADDQ $64, SI
	ADDQ $64, R12
	ADDQ $64, R8
	ADDQ $64, R9
	SUBQ $16, CX
	JMP  g46loop16

g46tail:
	TESTQ CX, CX
	JZ    g46out
	GEMM4X6TAIL

g46out:
	MOVQ ldo+8(FP), R8         // R8 is free until the next tile
	SHLQ $2, R8
	GEMMOUT4(Z0, Z1, Z2, Z3)
	GEMMOUT4(Z4, Z5, Z6, Z7)
	GEMMOUT4(Z8, Z9, Z10, Z11)
	GEMMOUT4(Z12, Z13, Z14, Z15)
	GEMMOUT4(Z16, Z17, Z18, Z19)
	GEMMOUT4(Z20, Z21, Z22, Z23)
	MOVQ x+32(FP), SI          // the x argument slot holds the tile's x
	LEAQ (SI)(DX*4), SI
	LEAQ (SI)(DX*2), SI
	MOVQ SI, x+32(FP)
	LEAQ (SI)(DX*2), R12
	ADDQ DX, R12
	DECQ R11
	JMP  g46tile

g46done:
	VZEROUPPER
	RET
