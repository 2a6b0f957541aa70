// bf16.c: products with frozen weights in bf16 through oneDNN's matmul
// primitive (its AVX512-BF16 brgemm kernels where the CPU has them):
//   forward   out[N,OC] = beta * out + bf16(inp) @ bf16(w)^T
//   backward  dinp[N,IC] += bf16(dout) @ bf16(w)
// accumulated in fp32. The weights are converted once (cpu_pack_bf16), the
// inputs at each call. On this project's machine (AVX512-BF16) the products
// run about 2x faster than fp32 (bench/bf16_gemm.c); the price is bf16's
// 8-bit mantissa in the products' inputs, as under PyTorch's bf16 autocast.
//
// A primitive is made for each shape (oneDNN keeps recent ones in its
// primitive cache, so a repeated shape costs a lookup); the token count N
// is fixed in it because oneDNN's fast kernels want every size known.
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "nn/cpu/cpu.h"
#include "nn/scalar_kernels.h"

typedef struct {
    int OC, IC;
    uint16_t *w;  // [OC, IC] bf16
} packed_weight;

#define CHECK_DNNL(call, what)                                                                   \
    do {                                                                                         \
        dnnl_status_t status_ = (call);                                                          \
        if (status_ != dnnl_success) die_internal("oneDNN: %s failed (status %d)", what, status_); \
    } while (0)

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static void start(void) {
    if (engine) return;
    CHECK_DNNL(dnnl_engine_create(&engine, dnnl_cpu, 0), "CPU engine");
    CHECK_DNNL(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), "stream");
}

CPU_CLONES static void to_bf16(uint16_t *out, const float *in, size_t n) {
#pragma omp parallel for simd if (n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = bf16_of(in[i]);
}

void *cpu_pack_bf16(const float *w, int OC, int IC) {
    packed_weight *p = xmalloc(sizeof *p);
    *p = (packed_weight){.OC = OC, .IC = IC, .w = xmalloc((size_t)OC * IC * sizeof *p->w + 1)};
    to_bf16(p->w, w, (size_t)OC * IC);
    return p;
}

void cpu_release_bf16(void *packed) {
    packed_weight *p = packed;
    if (!p) return;
    free(p->w);
    free(p);
}

// The activations converted to bf16, in a buffer kept between calls.
static uint16_t *bf16_inputs(const float *x, size_t n) {
    static uint16_t *buf;
    static size_t cap;
    if (n > cap) {
        free(buf);
        cap = n > 2 * cap ? n : 2 * cap;
        buf = xmalloc(cap * sizeof *buf);
    }
    to_bf16(buf, x, n);
    return buf;
}

static dnnl_memory_desc_t matrix(int rows, int cols, int row_stride, int col_stride, dnnl_data_type_t type) {
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {rows, cols}, strides = {row_stride, col_stride};
    CHECK_DNNL(dnnl_memory_desc_init_by_strides(&md, 2, dims, type, strides), "memory descriptor");
    return md;
}

// dst[M,N] (+)= src[M,K] @ weights[K,N], the weights given by their
// descriptor (a view of the packed [OC,IC] matrix); accumulate adds to dst.
static void run(float *dst, const uint16_t *src, const uint16_t *weights, dnnl_memory_desc_t w_md, int M, int K,
                int N, int accumulate) {
    start();
    dnnl_memory_desc_t src_md = matrix(M, K, K, 1, dnnl_bf16), dst_md = matrix(M, N, N, 1, dnnl_f32);
    dnnl_matmul_desc_t desc;
    CHECK_DNNL(dnnl_matmul_desc_init(&desc, &src_md, &w_md, NULL, &dst_md), "matmul descriptor");
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    if (accumulate) {
        CHECK_DNNL(dnnl_primitive_attr_create(&attr), "attributes");
        CHECK_DNNL(dnnl_post_ops_create(&ops), "post-ops");
        CHECK_DNNL(dnnl_post_ops_append_sum(ops, 1.0f), "sum post-op");
        CHECK_DNNL(dnnl_primitive_attr_set_post_ops(attr, ops), "post-ops");
    }
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_status_t status = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
    if (status == dnnl_unimplemented)  // oneDNN does bf16 only from AVX-512 on
        die("bf16 products: oneDNN has none for this CPU (they need AVX-512); run without --bf16");
    CHECK_DNNL(status, "matmul primitive descriptor");
    CHECK_DNNL(dnnl_primitive_create(&prim, pd), "matmul primitive");
    dnnl_memory_t m_src, m_w, m_dst;
    CHECK_DNNL(dnnl_memory_create(&m_src, &src_md, engine, (void *)src), "source memory");
    CHECK_DNNL(dnnl_memory_create(&m_w, &w_md, engine, (void *)weights), "weights memory");
    CHECK_DNNL(dnnl_memory_create(&m_dst, &dst_md, engine, dst), "destination memory");
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, m_src}, {DNNL_ARG_WEIGHTS, m_w}, {DNNL_ARG_DST, m_dst}};
    CHECK_DNNL(dnnl_primitive_execute(prim, stream, 3, args), "matmul");
    CHECK_DNNL(dnnl_stream_wait(stream), "matmul");
    dnnl_memory_destroy(m_src), dnnl_memory_destroy(m_w), dnnl_memory_destroy(m_dst);
    dnnl_primitive_destroy(prim);
    dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr), dnnl_post_ops_destroy(ops);
}

static const packed_weight *check(const void *packed, int IC, int OC) {
    const packed_weight *p = packed;
    if (p->IC != IC || p->OC != OC)
        die_internal("bf16 product: weight packed as [%d, %d], used as [%d, %d]", p->OC, p->IC, OC, IC);
    return p;
}

void cpu_matmul_bf16(float *out, const float *inp, const void *packed, int N, int IC, int OC, float beta) {
    const packed_weight *p = check(packed, IC, OC);
    if (N <= 0 || OC <= 0) return;
    if (beta != 0.0f && beta != 1.0f) die_internal("bf16 product: beta %g (0 or 1 only)", beta);
    if (IC <= 0) {  // nothing to multiply
        if (beta == 0.0f) cpu_zero(out, (size_t)N * OC);
        return;
    }
    // weights [IC, OC]: w^T, a strided view of the packed [OC, IC]
    run(out, bf16_inputs(inp, (size_t)N * IC), p->w, matrix(IC, OC, 1, IC, dnnl_bf16), N, IC, OC, beta != 0.0f);
}

void cpu_matmul_bf16_backward(float *dinp, const float *dout, const void *packed, int N, int IC, int OC) {
    const packed_weight *p = check(packed, IC, OC);
    if (!dinp || N <= 0 || IC <= 0 || OC <= 0) return;
    // weights [OC, IC]: the packed matrix itself
    run(dinp, bf16_inputs(dout, (size_t)N * OC), p->w, matrix(OC, IC, IC, 1, dnnl_bf16), N, OC, IC, 1);
}
