// bf16_gemm.c: would bf16 matrix products pay on this CPU? The products of
// SmolLM2-135M over N tokens, out[N,OC] = x[N,IC] @ w[OC,IC]^T, in fp32
// through the CPU backend (oneDNN sgemm) and in bf16 (inputs and weights bf16,
// fp32 accumulation and output) through oneDNN's matmul primitive, with the
// weights in their plain layout and in oneDNN's preferred blocked layout
// (reordered once, as frozen weights could be). The conversion of x to bf16
// is not timed, so the bf16 column is an upper bound.
//
//   make build/bench/bf16_gemm && build/bench/bf16_gemm [N]     (needs libdnnl-dev)
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "nn/backend.h"
#include "nn/scalar_kernels.h"
#include "timing.h"

#define CHECK_DNNL(call)                                                                \
    do {                                                                                \
        dnnl_status_t status_ = (call);                                                 \
        if (status_ != dnnl_success) die_internal("oneDNN: %s: status %d", #call, status_); \
    } while (0)

typedef struct {
    int N, IC, OC;
    const backend *be;
    float *x, *w, *y;
    dnnl_primitive_t prim;
    dnnl_stream_t stream;
    dnnl_exec_arg_t args[3];
} product;

static void run_fp32(void *ctx) {
    product *p = ctx;
    p->be->matmul(p->y, p->x, p->w, p->N, p->IC, p->OC, 1.0f, 0.0f);
}

static void run_bf16(void *ctx) {
    product *p = ctx;
    CHECK_DNNL(dnnl_primitive_execute(p->prim, p->stream, 3, p->args));
    CHECK_DNNL(dnnl_stream_wait(p->stream));
}

static dnnl_memory_desc_t plain(int rows, int cols, int row_stride, int col_stride, dnnl_data_type_t type) {
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {rows, cols}, strides = {row_stride, col_stride};
    CHECK_DNNL(dnnl_memory_desc_init_by_strides(&md, 2, dims, type, strides));
    return md;
}

// GFLOP/s of the bf16 product; blocked: let oneDNN choose the weights' layout.
static double bf16_gflops(product *p, dnnl_engine_t engine, int blocked, const char **impl) {
    size_t nx = (size_t)p->N * p->IC, nw = (size_t)p->OC * p->IC;
    uint16_t *xb = xmalloc(nx * sizeof *xb), *wb = xmalloc(nw * sizeof *wb);
    for (size_t i = 0; i < nx; i++) xb[i] = bf16_of(p->x[i]);
    for (size_t i = 0; i < nw; i++) wb[i] = bf16_of(p->w[i]);
    dnnl_memory_desc_t src = plain(p->N, p->IC, p->IC, 1, dnnl_bf16), dst = plain(p->N, p->OC, p->OC, 1, dnnl_f32);
    dnnl_memory_desc_t w_plain = plain(p->IC, p->OC, 1, p->IC, dnnl_bf16), w_md = w_plain;  // w^T [IC,OC]
    if (blocked) {
        dnnl_dims_t dims = {p->IC, p->OC};
        CHECK_DNNL(dnnl_memory_desc_init_by_tag(&w_md, 2, dims, dnnl_bf16, dnnl_format_tag_any));
    }
    dnnl_matmul_desc_t desc;
    CHECK_DNNL(dnnl_matmul_desc_init(&desc, &src, &w_md, NULL, &dst));
    dnnl_primitive_desc_t pd;
    CHECK_DNNL(dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL));
    CHECK_DNNL(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, impl));
    CHECK_DNNL(dnnl_primitive_create(&p->prim, pd));
    dnnl_memory_t m_src, m_w, m_dst, m_w_plain = NULL;
    CHECK_DNNL(dnnl_memory_create(&m_src, &src, engine, xb));
    CHECK_DNNL(dnnl_memory_create(&m_dst, &dst, engine, p->y));
    CHECK_DNNL(dnnl_memory_create(&m_w_plain, &w_plain, engine, wb));
    m_w = m_w_plain;
    if (blocked) {  // reorder the weights once into the primitive's layout
        w_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        CHECK_DNNL(dnnl_memory_create(&m_w, &w_md, engine, DNNL_MEMORY_ALLOCATE));
        dnnl_primitive_desc_t rpd;
        dnnl_primitive_t reorder;
        CHECK_DNNL(dnnl_reorder_primitive_desc_create(&rpd, &w_plain, engine, &w_md, engine, NULL));
        CHECK_DNNL(dnnl_primitive_create(&reorder, rpd));
        dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, m_w_plain}, {DNNL_ARG_TO, m_w}};
        CHECK_DNNL(dnnl_primitive_execute(reorder, p->stream, 2, rargs));
        CHECK_DNNL(dnnl_stream_wait(p->stream));
        dnnl_primitive_destroy(reorder);
        dnnl_primitive_desc_destroy(rpd);
    }
    p->args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, m_src};
    p->args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, m_w};
    p->args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, m_dst};
    double t = median_time(run_bf16, p);
    dnnl_memory_destroy(m_src), dnnl_memory_destroy(m_dst), dnnl_memory_destroy(m_w_plain);
    if (blocked) dnnl_memory_destroy(m_w);
    dnnl_primitive_destroy(p->prim);
    dnnl_primitive_desc_destroy(pd);
    free(xb), free(wb);
    return 2.0 * p->N * p->IC * (double)p->OC / t / 1e9;
}

int main(int argc, char **argv) {
    deal_set_tool("bf16_gemm");
    int N = argc > 1 ? atoi(argv[1]) : 2048;
    if (N <= 0) die("usage: bf16_gemm [N tokens > 0]");
    const backend *be = backend_cpu();
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    CHECK_DNNL(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK_DNNL(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    const dnnl_version_t *v = dnnl_version();
    printf("fp32: %s; bf16: oneDNN %d.%d.%d\n\n", be->describe(), v->major, v->minor, v->patch);
    printf("| product (N = %d tokens) | in | out | fp32 GFLOP/s | bf16 GFLOP/s, plain | bf16, blocked | bf16 kernel |\n"
           "| --- | ---: | ---: | ---: | ---: | ---: | --- |\n",
           N);
    const struct {
        const char *name;
        int in, out;
    } shapes[] = {{"q / o projection", 576, 576},  {"k / v projection", 576, 192},
                  {"MLP gate / up", 576, 1536},    {"MLP down", 1536, 576},
                  {"LM head (tied embeddings)", 576, 49152}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        product p = {.N = N, .IC = shapes[s].in, .OC = shapes[s].out, .be = be, .stream = stream};
        p.x = be->alloc((size_t)N * p.IC), p.w = be->alloc((size_t)p.OC * p.IC), p.y = be->alloc((size_t)N * p.OC);
        for (size_t i = 0; i < (size_t)N * p.IC; i++) p.x[i] = (float)(i % 17) * 0.01f;
        for (size_t i = 0; i < (size_t)p.OC * p.IC; i++) p.w[i] = (float)(i % 13) * 0.01f;
        double fp32 = 2.0 * N * p.IC * (double)p.OC / median_time(run_fp32, &p) / 1e9;
        const char *impl;
        double bf_plain = bf16_gflops(&p, engine, 0, &impl), bf_blocked = bf16_gflops(&p, engine, 1, &impl);
        printf("| %s | %d | %d | %.1f | %.1f | %.1f | %s |\n", shapes[s].name, p.IC, p.OC, fp32, bf_plain, bf_blocked,
               impl);
        be->release(p.x), be->release(p.w), be->release(p.y);
    }
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
    return 0;
}
