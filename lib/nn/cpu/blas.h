// blas.h: single-precision matrix products, row-major, from oneDNN's sgemm.
//
// Why oneDNN and not OpenBLAS: oneDNN picks its kernels from the CPU's
// instruction sets at run time (never one the CPU lacks, on any x86-64), and
// on this project's machine its sgemm runs the products a transformer makes
// 1.15x (square) to 4x (rank-16 LoRA factors, per-head attention) faster than
// Debian's OpenBLAS 0.3.21, which moreover does not recognise newer
// processors and falls back to generic kernels (bench/README.md). It is also
// the library of the bf16 products (bf16.c), so the CPU build needs one.
#ifndef DEAL_BLAS_H
#define DEAL_BLAS_H

// C[M,N] = alpha * op(A) @ op(B) + beta * C; trans_a / trans_b: 'N' or 'T';
// beta == 0 overwrites C, whatever it held (NaN included). Called inside an
// OpenMP parallel region it runs on the calling thread alone.
void blas_sgemm(char trans_a, char trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                int ldb, float beta, float *C, int ldc);
// "oneDNN 2.6.3, kernels for avx512_core_bf16": the library and the instruction
// set its kernels use on this CPU, for logs.
const char *blas_kernel(void);

#endif
