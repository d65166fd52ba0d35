//go:build amd64 && !noasm

#include "textflag.h"

// Kernels of the packed MatMul path (gemmpack.go): a 6-row × 16-token tile
// that broadcasts weights and multiplies them with packed activations, and an
// 8×8 transpose that packs the activations and unpacks the results.

// PACKSTEP multiplies one column c: the 16 packed activations of c at xo(SI)
// (Y12, Y13) by the weight of each of the 6 rows at wo(R8) (rows 0..2, BX
// apart) and wo(R9) (rows 3..5), broadcast in turn into Y14 and Y15;
// accumulators Y(2i), Y(2i+1) for row i.
#define PACKSTEP(xo, wo) \
	VMOVUPS      xo(SI), Y12; \
	VMOVUPS      xo+32(SI), Y13; \
	VBROADCASTSS wo(R8), Y14; \
	VFMADD231PS  Y12, Y14, Y0; \
	VFMADD231PS  Y13, Y14, Y1; \
	VBROADCASTSS wo(R8)(BX*1), Y15; \
	VFMADD231PS  Y12, Y15, Y2; \
	VFMADD231PS  Y13, Y15, Y3; \
	VBROADCASTSS wo(R8)(BX*2), Y14; \
	VFMADD231PS  Y12, Y14, Y4; \
	VFMADD231PS  Y13, Y14, Y5; \
	VBROADCASTSS wo(R9), Y15; \
	VFMADD231PS  Y12, Y15, Y6; \
	VFMADD231PS  Y13, Y15, Y7; \
	VBROADCASTSS wo(R9)(BX*1), Y14; \
	VFMADD231PS  Y12, Y14, Y8; \
	VFMADD231PS  Y13, Y14, Y9; \
	VBROADCASTSS wo(R9)(BX*2), Y15; \
	VFMADD231PS  Y12, Y15, Y10; \
	VFMADD231PS  Y13, Y15, Y11

// func gemm6x16AVX2(ct *float32, ldc int, w *byte, ldw int, xp *float32, xgs int, k int, acc bool, groups int, pf *byte, pfs int, pfn int, pfe int)
// For each of groups groups j of 16 tokens, i < 6 rows, t < 16 tokens:
// ct[i*ldc+16j+t] (+)= Σ_{c<k} w[i*ldw+4c as float32]·xp[xgs/4*j+16c+t];
// ldw and xgs are in bytes. Along the way it prefetches the first pfn cache
// lines of each of 6 rows pfs bytes apart from pf on, one line of each row
// every pfe-th time it multiplies 16 columns.
TEXT ·gemm6x16AVX2(SB), NOSPLIT, $0-104
	MOVQ ct+0(FP), DI
	MOVQ groups+64(FP), AX
	MOVQ pf+72(FP), R13
	MOVQ pfs+80(FP), R12
	MOVQ pfn+88(FP), R10
	LEAQ (R13)(R12*2), R11
	ADDQ R12, R11
	MOVQ $1, DX

p616group:
	TESTQ  AX, AX
	JZ     p616done
	MOVQ   w+16(FP), R8
	MOVQ   ldw+24(FP), BX
	LEAQ   (R8)(BX*2), R9
	ADDQ   BX, R9
	MOVQ   xp+32(FP), SI
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

p616loop16:
	CMPQ       CX, $16
	JB         p616tail
	DECQ       DX
	JNZ        p616nopf
	MOVQ       pfe+96(FP), DX
	TESTQ      R10, R10
	JZ         p616nopf
	PREFETCHT0 (R13)
	PREFETCHT0 (R13)(R12*1)
	PREFETCHT0 (R13)(R12*2)
	PREFETCHT0 (R11)
	PREFETCHT0 (R11)(R12*1)
	PREFETCHT0 (R11)(R12*2)
	ADDQ       $64, R13
	ADDQ       $64, R11
	DECQ       R10

p616nopf:
	PACKSTEP(0, 0)
	PACKSTEP(64, 4)
	PACKSTEP(128, 8)
	PACKSTEP(192, 12)
	PACKSTEP(256, 16)
	PACKSTEP(320, 20)
	PACKSTEP(384, 24)
	PACKSTEP(448, 28)
	PACKSTEP(512, 32)
	PACKSTEP(576, 36)
	PACKSTEP(640, 40)
	PACKSTEP(704, 44)
	PACKSTEP(768, 48)
	PACKSTEP(832, 52)
	PACKSTEP(896, 56)
	PACKSTEP(960, 60)
	ADDQ $1024, SI
	ADDQ $64, R8
	ADDQ $64, R9
	SUBQ $16, CX
	JMP  p616loop16

p616tail:
	TESTQ CX, CX
	JZ    p616out
	PACKSTEP(0, 0)
	ADDQ  $64, SI
	ADDQ  $4, R8
	ADDQ  $4, R9
	DECQ  CX
	JMP   p616tail

p616out:
	MOVQ ldc+8(FP), BX         // R8, R9 and BX are free until the next group
	SHLQ $2, BX
	LEAQ (DI)(BX*2), R9
	ADDQ BX, R9
	CMPB acc+56(FP), $0
	JEQ  p616store
	VADDPS (DI), Y0, Y0
	VADDPS 32(DI), Y1, Y1
	VADDPS (DI)(BX*1), Y2, Y2
	VADDPS 32(DI)(BX*1), Y3, Y3
	VADDPS (DI)(BX*2), Y4, Y4
	VADDPS 32(DI)(BX*2), Y5, Y5
	VADDPS (R9), Y6, Y6
	VADDPS 32(R9), Y7, Y7
	VADDPS (R9)(BX*1), Y8, Y8
	VADDPS 32(R9)(BX*1), Y9, Y9
	VADDPS (R9)(BX*2), Y10, Y10
	VADDPS 32(R9)(BX*2), Y11, Y11

p616store:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, (DI)(BX*1)
	VMOVUPS Y3, 32(DI)(BX*1)
	VMOVUPS Y4, (DI)(BX*2)
	VMOVUPS Y5, 32(DI)(BX*2)
	VMOVUPS Y6, (R9)
	VMOVUPS Y7, 32(R9)
	VMOVUPS Y8, (R9)(BX*1)
	VMOVUPS Y9, 32(R9)(BX*1)
	VMOVUPS Y10, (R9)(BX*2)
	VMOVUPS Y11, 32(R9)(BX*2)
	ADDQ    $64, DI
	MOVQ    xp+32(FP), SI
	ADDQ    xgs+40(FP), SI
	MOVQ    SI, xp+32(FP)
	DECQ    AX
	JMP     p616group

p616done:
	VZEROUPPER
	RET

// func transpose8AVX2(dst *float32, ldd int, src *float32, lds int, rb, cb int)
// For i < 8·rb, j < 8·cb: dst[j*ldd+i] = src[i*lds+j], in 8×8 blocks.
TEXT ·transpose8AVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), DX
	SHLQ $2, DX
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), BX
	SHLQ $2, BX
	MOVQ cb+40(FP), R8

	// Blocks are visited along the rows of dst, which are written whole
	// while those of src, often far apart, are read a block at a time.
tr8cols:
	TESTQ R8, R8
	JZ    tr8done
	MOVQ  SI, R10            // src block: rows 8bi.., columns 8bj..
	MOVQ  DI, R11            // dst block: rows 8bj.., columns 8bi..
	MOVQ  rb+32(FP), CX

tr8rows:
	TESTQ      CX, CX
	JZ         tr8next
	VMOVUPS    (R10), Y0
	VMOVUPS    (R10)(BX*1), Y1
	VMOVUPS    (R10)(BX*2), Y2
	LEAQ       (R10)(BX*2), R12
	ADDQ       BX, R12
	VMOVUPS    (R12), Y3
	VMOVUPS    (R12)(BX*1), Y4
	VMOVUPS    (R12)(BX*2), Y5
	LEAQ       (R12)(BX*2), R12
	ADDQ       BX, R12
	VMOVUPS    (R12), Y6
	VMOVUPS    (R12)(BX*1), Y7
	VUNPCKLPS  Y1, Y0, Y8        // r0 r1 interleaved, columns 0,1 | 4,5
	VUNPCKHPS  Y1, Y0, Y9        // columns 2,3 | 6,7
	VUNPCKLPS  Y3, Y2, Y10
	VUNPCKHPS  Y3, Y2, Y11
	VUNPCKLPS  Y5, Y4, Y12
	VUNPCKHPS  Y5, Y4, Y13
	VUNPCKLPS  Y7, Y6, Y14
	VUNPCKHPS  Y7, Y6, Y15
	VSHUFPS    $0x44, Y10, Y8, Y0  // rows 0..3 of column 0 | 4
	VSHUFPS    $0xEE, Y10, Y8, Y1  // column 1 | 5
	VSHUFPS    $0x44, Y11, Y9, Y2  // column 2 | 6
	VSHUFPS    $0xEE, Y11, Y9, Y3  // column 3 | 7
	VSHUFPS    $0x44, Y14, Y12, Y4 // rows 4..7
	VSHUFPS    $0xEE, Y14, Y12, Y5
	VSHUFPS    $0x44, Y15, Y13, Y6
	VSHUFPS    $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	VMOVUPS    Y8, (R11)
	VMOVUPS    Y9, (R11)(DX*1)
	VMOVUPS    Y10, (R11)(DX*2)
	LEAQ       (R11)(DX*2), R13
	ADDQ       DX, R13
	VMOVUPS    Y11, (R13)
	VMOVUPS    Y12, (R13)(DX*1)
	VMOVUPS    Y13, (R13)(DX*2)
	LEAQ       (R13)(DX*2), R13
	ADDQ       DX, R13
	VMOVUPS    Y14, (R13)
	VMOVUPS    Y15, (R13)(DX*1)
	LEAQ       (R10)(BX*8), R10
	ADDQ       $32, R11
	DECQ       CX
	JMP        tr8rows

tr8next:
	ADDQ $32, SI
	LEAQ (DI)(DX*8), DI
	DECQ R8
	JMP  tr8cols

tr8done:
	VZEROUPPER
	RET
