// blas.c: single-precision matrix products through oneDNN (see blas.h).
#include "nn/cpu/blas.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>

#include "base/util.h"

void blas_sgemm(char trans_a, char trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                int ldb, float beta, float *C, int ldc) {
    dnnl_status_t status = dnnl_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (status != dnnl_success)
        die_internal("oneDNN sgemm %c%c M %d N %d K %d (lda %d ldb %d ldc %d) failed (status %d)", trans_a, trans_b,
                     M, N, K, lda, ldb, ldc, status);
}

// The name of an instruction set oneDNN reports, or its code.
static const char *isa_name(dnnl_cpu_isa_t isa, char *buf, size_t size) {
    static const struct { dnnl_cpu_isa_t isa; const char *name; } names[] = {
        {dnnl_cpu_isa_sse41, "sse41"},
        {dnnl_cpu_isa_avx, "avx"},
        {dnnl_cpu_isa_avx2, "avx2"},
        {dnnl_cpu_isa_avx2_vnni, "avx2_vnni"},
        {dnnl_cpu_isa_avx512_core, "avx512_core"},
        {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"},
        {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
        {dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"},
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (names[i].isa == isa) return names[i].name;
    snprintf(buf, size, "isa 0x%x", (unsigned)isa);
    return buf;
}

static char kernel[128];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void describe(void) {
    const dnnl_version_t *v = dnnl_version();
    char buf[32];
    snprintf(kernel, sizeof kernel, "oneDNN %d.%d.%d, kernels for %s", v->major, v->minor, v->patch,
             isa_name(dnnl_get_effective_cpu_isa(), buf, sizeof buf));
}

const char *blas_kernel(void) {
    pthread_once(&once, describe);
    return kernel;
}
