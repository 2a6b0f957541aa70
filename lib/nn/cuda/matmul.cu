// matmul.cu: linear layers through cuBLAS (fp32; no TF32, so results match
// the CPU backend's to float rounding).
//   forward   out[N,OC]  = beta * out + alpha * inp[N,IC] @ w[OC,IC]^T
//   backward  dinp[N,IC] += alpha * dout[N,OC] @ w
//             dw[OC,IC]  += alpha * dout^T @ inp
// cuBLAS is column-major: a row-major [R,C] matrix is its column-major
// transpose, so each row-major product C = A B is computed as C^T = B^T A^T.
#include "nn/cuda/cuda.h"

static void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc, const char *what) {
    if (cublasSgemm(cuda_blas(), ta, tb, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc) != CUBLAS_STATUS_SUCCESS)
        die_internal("CUDA: cuBLAS sgemm failed (%s)", what);
    cuda_done(what);
}

void cuda_matmul(float *out, const float *inp, const float *w, int N, int IC, int OC, float alpha, float beta) {
    if (N <= 0 || OC <= 0) return;
    if (IC <= 0) {  // nothing to multiply: out = beta * out (0 overwrites, NaN included)
        if (beta == 0.0f) {
            cuda_zero(out, (size_t)N * OC);
        } else {
            if (cublasSscal(cuda_blas(), N * OC, &beta, out, 1) != CUBLAS_STATUS_SUCCESS)
                die_internal("CUDA: cuBLAS sscal failed (matmul)");
            cuda_done("matmul");
        }
        return;
    }
    // out^T [OC,N] = w [OC,IC] @ inp^T [IC,N]
    gemm(CUBLAS_OP_T, CUBLAS_OP_N, OC, N, IC, alpha, w, IC, inp, IC, beta, out, OC, "matmul");
}

void cuda_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int N, int IC,
                          int OC, float alpha) {
    if (N <= 0 || IC <= 0 || OC <= 0) return;
    if (dinp)  // dinp^T [IC,N] += w^T [IC,OC] @ dout^T [OC,N]
        gemm(CUBLAS_OP_N, CUBLAS_OP_N, IC, N, OC, alpha, w, IC, dout, OC, 1.0f, dinp, IC, "matmul backward (inputs)");
    if (dw)  // dw^T [IC,OC] += inp^T [IC,N] @ dout [N,OC]
        gemm(CUBLAS_OP_N, CUBLAS_OP_T, IC, OC, N, alpha, inp, IC, dout, OC, 1.0f, dw, IC, "matmul backward (weights)");
}
