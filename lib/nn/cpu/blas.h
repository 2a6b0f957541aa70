// blas.h: single-precision matrix products from OpenBLAS, loaded at run time.
//
// Why not link it: Debian's OpenBLAS 0.3.21 does not recognise newer
// processors and silently falls back to kernels several times slower, unless
// OPENBLAS_CORETYPE names a core when the library initialises, which happens
// as it loads. So we read the CPU's features, set the best core type the CPU
// really supports (never one it does not), and only then load the library.
// DEAL_BLAS_CORETYPE overrides the choice (any OpenBLAS core name).
#ifndef DEAL_BLAS_H
#define DEAL_BLAS_H

#include <cblas.h>

void blas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
                const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
// "OpenBLAS 0.3.21 ... SkylakeX (chosen from avx512)": the kernel in use, for logs.
const char *blas_kernel(void);

#endif
