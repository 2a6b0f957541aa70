// svd.h: the thin SVD of a tall, thin factor (a LoRA factor: d x r, r small),
// through the eigen-decomposition of its r x r Gram matrix in double
// precision (cyclic Jacobi). DEAL takes it once per task.
#ifndef DEAL_SVD_H
#define DEAL_SVD_H

// Y [d, r] (row-major) = U diag(sig) V^T with U [d, r], sig [r] in decreasing
// order, V [r, r] orthogonal (row-major: V[i * r + k] is entry i of column k).
// sig[k] = |Y v_k| and U's column k = Y v_k / sig[k] (zero where sig[k] is 0),
// so U diag(sig) V^T = Y V V^T reconstructs Y to rounding even when Y is rank
// deficient. U may be NULL when only sig and V are wanted.
void svd_thin(const float *Y, int d, int r, double *U, double *sig, double *V);

#endif
