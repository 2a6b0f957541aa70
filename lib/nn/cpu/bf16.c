// bf16.c: products with frozen weights in bf16 through oneDNN's matmul
// primitive (its AVX512-BF16 brgemm kernels where the CPU has them):
//   forward   out[N,OC] = beta * out + bf16(inp) @ bf16(w)^T
//   backward  dinp[N,IC] = beta * dinp + bf16(dout) @ bf16(w)
// accumulated in fp32. The weights are converted once, the inputs at each
// call. On this project's machine (AVX512-BF16) the products run about 2x
// faster than fp32 (bench/bf16_gemm.c); the price is bf16's 8-bit mantissa in
// the products' inputs, as under PyTorch's bf16 autocast.
//
// The weights are kept in the blocked layout oneDNN's matmul prefers for
// them (5-20% faster than a plain one; the layout depends on the weight's
// shape only, not on the number of rows): w^T [IC, OC] for the forward
// product, and w [OC, IC] for the backward one, made from the first at its
// first use (inference never needs it).
//
// A primitive is made for each shape and kept in a small cache, with its
// memory objects, so that a decoding step's many small products (the same
// shapes every step) pay no set-up; the token count N is fixed in it because
// oneDNN's fast kernels want every size known.
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "nn/cpu/cpu.h"
#include "nn/scalar_kernels.h"

#define CHECK_DNNL(call, what)                                                                   \
    do {                                                                                         \
        dnnl_status_t status_ = (call);                                                          \
        if (status_ != dnnl_success) die_internal("oneDNN: %s failed (status %d)", what, status_); \
    } while (0)

typedef struct {
    dnnl_memory_desc_t md;  // a [K, N] weights matrix in oneDNN's layout
    dnnl_memory_t mem;  // its buffer
} weights;

typedef struct {
    int OC, IC;
    weights fwd;  // w^T [IC, OC]
    weights bwd;  // w [OC, IC]; mem NULL until the first backward product
} packed_weight;

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

static dnnl_memory_desc_t matrix(int rows, int cols, int row_stride, int col_stride, dnnl_data_type_t type) {
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {rows, cols}, strides = {row_stride, col_stride};
    CHECK_DNNL(dnnl_memory_desc_init_by_strides(&md, 2, dims, type, strides), "memory descriptor");
    return md;
}

// The matmul primitive descriptor of src [M,K] bf16 @ weights [K,N] -> dst [M,N] f32.
static dnnl_primitive_desc_t matmul_pd(int M, int K, int N, const dnnl_memory_desc_t *w_md, int accumulate) {
    dnnl_memory_desc_t src_md = matrix(M, K, K, 1, dnnl_bf16), dst_md = matrix(M, N, N, 1, dnnl_f32);
    dnnl_matmul_desc_t desc;
    CHECK_DNNL(dnnl_matmul_desc_init(&desc, &src_md, w_md, NULL, &dst_md), "matmul descriptor");
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    if (accumulate) {
        CHECK_DNNL(dnnl_primitive_attr_create(&attr), "attributes");
        CHECK_DNNL(dnnl_post_ops_create(&ops), "post-ops");
        CHECK_DNNL(dnnl_post_ops_append_sum(ops, 1.0f), "sum post-op");
        CHECK_DNNL(dnnl_primitive_attr_set_post_ops(attr, ops), "post-ops");
    }
    dnnl_primitive_desc_t pd;
    dnnl_status_t status = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
    if (attr) dnnl_primitive_attr_destroy(attr), dnnl_post_ops_destroy(ops);
    if (status == dnnl_unimplemented)  // oneDNN does bf16 only from AVX-512 on
        die("bf16 products: oneDNN has none for this CPU (they need AVX-512); run without --bf16");
    CHECK_DNNL(status, "matmul primitive descriptor");
    return pd;
}

// Copies from (any layout) into a new buffer in the layout to.
static dnnl_memory_t reordered(dnnl_memory_t from, const dnnl_memory_desc_t *from_md, const dnnl_memory_desc_t *to) {
    dnnl_memory_t out;
    CHECK_DNNL(dnnl_memory_create(&out, to, engine, DNNL_MEMORY_ALLOCATE), "weights memory");
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t reorder;
    CHECK_DNNL(dnnl_reorder_primitive_desc_create(&pd, from_md, engine, to, engine, NULL), "reorder descriptor");
    CHECK_DNNL(dnnl_primitive_create(&reorder, pd), "reorder");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, out}};
    CHECK_DNNL(dnnl_primitive_execute(reorder, stream, 2, args), "reorder");
    CHECK_DNNL(dnnl_stream_wait(stream), "reorder");
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(pd);
    return out;
}

// The weights [K, N] given by (from, from_md), in the layout the matmul prefers.
static weights prefer(dnnl_memory_t from, const dnnl_memory_desc_t *from_md, int K, int N) {
    weights w;
    dnnl_dims_t dims = {K, N};
    CHECK_DNNL(dnnl_memory_desc_init_by_tag(&w.md, 2, dims, dnnl_bf16, dnnl_format_tag_any), "memory descriptor");
    dnnl_primitive_desc_t pd = matmul_pd(256, K, N, &w.md, 0);  // any row count: the layout is the same
    w.md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_desc_destroy(pd);
    w.mem = reordered(from, from_md, &w.md);
    return w;
}

void *cpu_pack_bf16(const float *w, int OC, int IC) {
    start();
    packed_weight *p = xcalloc(1, sizeof *p);
    p->OC = OC, p->IC = IC;
    uint16_t *plain = xmalloc((size_t)OC * IC * sizeof *plain + 1);
    to_bf16(plain, w, (size_t)OC * IC);
    dnnl_memory_desc_t transposed = matrix(IC, OC, 1, IC, dnnl_bf16);  // w^T: a view of w [OC, IC]
    dnnl_memory_t m;
    CHECK_DNNL(dnnl_memory_create(&m, &transposed, engine, plain), "weights memory");
    p->fwd = prefer(m, &transposed, IC, OC);
    dnnl_memory_destroy(m);
    free(plain);
    return p;
}

void cpu_release_bf16(void *packed) {
    packed_weight *p = packed;
    if (!p) return;
    dnnl_memory_destroy(p->fwd.mem);
    if (p->bwd.mem) dnnl_memory_destroy(p->bwd.mem);
    free(p);
}

// ---- the primitive cache -------------------------------------------------------------------

typedef struct {
    int M, K, N, accumulate;
    dnnl_memory_desc_t w_md;
    dnnl_primitive_t prim;  // NULL: empty slot
    dnnl_memory_t src, w, dst;  // their data pointers are set at each call
} cached;

#define CACHE_SLOTS 64  // a model's distinct product shapes, forward and backward, with room
static cached cache[CACHE_SLOTS];
static int next_slot;  // replaced round-robin when full

static cached *primitive_for(int M, int K, int N, const dnnl_memory_desc_t *w_md, int accumulate) {
    for (int i = 0; i < CACHE_SLOTS; i++) {
        cached *c = &cache[i];
        if (c->prim && c->M == M && c->K == K && c->N == N && c->accumulate == accumulate &&
            dnnl_memory_desc_equal(&c->w_md, w_md))
            return c;
    }
    cached *c = &cache[next_slot];
    next_slot = (next_slot + 1) % CACHE_SLOTS;
    if (c->prim) {
        dnnl_primitive_destroy(c->prim);
        dnnl_memory_destroy(c->src), dnnl_memory_destroy(c->w), dnnl_memory_destroy(c->dst);
    }
    *c = (cached){.M = M, .K = K, .N = N, .accumulate = accumulate, .w_md = *w_md};
    dnnl_primitive_desc_t pd = matmul_pd(M, K, N, w_md, accumulate);
    CHECK_DNNL(dnnl_primitive_create(&c->prim, pd), "matmul primitive");
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_desc_t src_md = matrix(M, K, K, 1, dnnl_bf16), dst_md = matrix(M, N, N, 1, dnnl_f32);
    CHECK_DNNL(dnnl_memory_create(&c->src, &src_md, engine, DNNL_MEMORY_NONE), "source memory");
    CHECK_DNNL(dnnl_memory_create(&c->w, w_md, engine, DNNL_MEMORY_NONE), "weights memory");
    CHECK_DNNL(dnnl_memory_create(&c->dst, &dst_md, engine, DNNL_MEMORY_NONE), "destination memory");
    return c;
}

// ---- the products ---------------------------------------------------------------------------

// The activations converted to bf16, in a buffer kept between calls.
static uint16_t *bf16_inputs(const float *x, size_t n) {
    static void *buf;
    static size_t cap;
    uint16_t *out = cpu_scratch(&buf, &cap, n * sizeof *out);
    to_bf16(out, x, n);
    return out;
}

// dst[M,N] (+)= src[M,K] @ w[K,N], src in bf16; accumulate adds to dst.
static void run(float *dst, const uint16_t *src, const weights *w, int M, int K, int N, int accumulate) {
    cached *c = primitive_for(M, K, N, &w->md, accumulate);
    void *w_data;
    CHECK_DNNL(dnnl_memory_get_data_handle(w->mem, &w_data), "weights memory");
    CHECK_DNNL(dnnl_memory_set_data_handle(c->src, (void *)src), "source memory");
    CHECK_DNNL(dnnl_memory_set_data_handle(c->w, w_data), "weights memory");
    CHECK_DNNL(dnnl_memory_set_data_handle(c->dst, dst), "destination memory");
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, c->src}, {DNNL_ARG_WEIGHTS, c->w}, {DNNL_ARG_DST, c->dst}};
    CHECK_DNNL(dnnl_primitive_execute(c->prim, stream, 3, args), "matmul");
    CHECK_DNNL(dnnl_stream_wait(stream), "matmul");
}

static packed_weight *check(const void *packed, int IC, int OC, float beta) {
    packed_weight *p = (packed_weight *)packed;  // the backward layout is made on first use
    if (p->IC != IC || p->OC != OC)
        die_internal("bf16 product: weight packed as [%d, %d], used as [%d, %d]", p->OC, p->IC, OC, IC);
    if (beta != 0.0f && beta != 1.0f) die_internal("bf16 product: beta %g (0 or 1 only)", beta);
    return p;
}

// The forward product's weights, or NULL when there is nothing to multiply
// (out then done).
static const weights *forward_weights(float *out, const void *packed, int N, int IC, int OC, float beta) {
    const packed_weight *p = check(packed, IC, OC, beta);
    if (N <= 0 || OC <= 0) return NULL;
    if (IC <= 0) {
        if (beta == 0.0f) cpu_zero(out, (size_t)N * OC);
        return NULL;
    }
    return &p->fwd;
}

// The backward product's weights (made on first use), or NULL as above.
static const weights *backward_weights(float *dinp, const void *packed, int N, int IC, int OC, float beta) {
    packed_weight *p = check(packed, IC, OC, beta);
    if (!dinp || N <= 0 || IC <= 0) return NULL;
    if (OC <= 0) {
        if (beta == 0.0f) cpu_zero(dinp, (size_t)N * IC);
        return NULL;
    }
    if (!p->bwd.mem) {  // w [OC, IC] from w^T: the forward weights seen with their axes swapped
        dnnl_memory_desc_t swapped;
        int perm[2] = {1, 0};
        CHECK_DNNL(dnnl_memory_desc_permute_axes(&swapped, &p->fwd.md, perm), "permuted descriptor");
        void *data;
        dnnl_memory_t view;
        CHECK_DNNL(dnnl_memory_get_data_handle(p->fwd.mem, &data), "weights memory");
        CHECK_DNNL(dnnl_memory_create(&view, &swapped, engine, data), "weights memory");
        p->bwd = prefer(view, &swapped, OC, IC);
        dnnl_memory_destroy(view);
    }
    return &p->bwd;
}

void cpu_matmul_bf16(float *out, const float *inp, const void *packed, int N, int IC, int OC, float beta) {
    const weights *w = forward_weights(out, packed, N, IC, OC, beta);
    if (w) run(out, bf16_inputs(inp, (size_t)N * IC), w, N, IC, OC, beta != 0.0f);
}

void cpu_matmul_bf16_from(float *out, const uint16_t *inp, const void *packed, int N, int IC, int OC, float beta) {
    const weights *w = forward_weights(out, packed, N, IC, OC, beta);
    if (w) run(out, inp, w, N, IC, OC, beta != 0.0f);
}

void cpu_matmul_bf16_backward(float *dinp, const float *dout, const void *packed, int N, int IC, int OC, float beta) {
    const weights *w = backward_weights(dinp, packed, N, IC, OC, beta);
    if (w) run(dinp, bf16_inputs(dout, (size_t)N * OC), w, N, OC, IC, beta != 0.0f);
}

void cpu_matmul_bf16_backward_from(float *dinp, const uint16_t *dout, const void *packed, int N, int IC, int OC,
                                   float beta) {
    const weights *w = backward_weights(dinp, packed, N, IC, OC, beta);
    if (w) run(dinp, dout, w, N, OC, IC, beta != 0.0f);
}
