// embedding.c: token embeddings (one kernel for both CPU backends: a copy per
// row, memory-bound).
//   forward   out[n,:] = scale * table[ids[n],:]        out [N,C], table [V,C]
//   backward  dtable[ids[n],:] += scale * dout[n,:]   (serial: ids repeat)
#include "nn/cpu/cpu.h"

void cpu_embedding(float *out, const int32_t *ids, const float *table, int N, int C, float scale) {
    for (int n = 0; n < N; n++) {
        const float *row = table + (size_t)ids[n] * C;
        float *o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = scale * row[c];
    }
}

void cpu_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C, float scale) {
    for (int n = 0; n < N; n++) {
        float *row = dtable + (size_t)ids[n] * C;
        const float *d = dout + (size_t)n * C;
        for (int c = 0; c < C; c++) row[c] += scale * d[c];
    }
}
