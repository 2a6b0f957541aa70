// blas.c: loading OpenBLAS with kernels chosen for this CPU.
#include "nn/cpu/blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"

#ifndef DEAL_LIBDIR  // the multiarch library folder, set by the Makefile
#define DEAL_LIBDIR "/usr/lib"
#endif

typedef void (*sgemm_fn)(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, int, int, int, float, const float *, int,
                         const float *, int, float, float *, int);
static sgemm_fn sgemm;
static char kernel[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

// The fastest OpenBLAS core whose instructions this CPU has, with why.
static const char *best_core(const char **why) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return *why = "avx512", "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return *why = "avx2", "Haswell";
    return *why = "OpenBLAS's own detection", NULL;
}

static void load(void) {
    const char *why = "DEAL_BLAS_CORETYPE", *core = getenv("DEAL_BLAS_CORETYPE");
    if (!core || !*core) core = best_core(&why);
    if (core) setenv("OPENBLAS_CORETYPE", core, 1);
    // The OpenMP build first: it shares our OpenMP threads, where the pthread
    // build's own pool and OpenMP's spinning threads would fight over the cores.
    const char *candidates[] = {getenv("DEAL_OPENBLAS"), DEAL_LIBDIR "/openblas-openmp/libopenblas.so.0",
                                "libopenblas.so.0", "libopenblas.so"};
    void *lib = NULL;
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates && !lib; i++)
        if (candidates[i] && *candidates[i]) lib = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) die_internal("cannot load OpenBLAS (%s): install libopenblas0-openmp", dlerror());
    sgemm = (sgemm_fn)dlsym(lib, "cblas_sgemm");
    char *(*corename)(void) = (char *(*)(void))dlsym(lib, "openblas_get_corename");
    char *(*config)(void) = (char *(*)(void))dlsym(lib, "openblas_get_config");
    if (!sgemm) die_internal("OpenBLAS has no cblas_sgemm");
    Dl_info where = {0};
    dladdr((void *)sgemm, &where);
    snprintf(kernel, sizeof kernel, "%s (%s), kernels %s (chosen from %s)", config ? config() : "OpenBLAS",
             where.dli_fname ? where.dli_fname : "?",
             corename ? corename() : "?", why);
}

void blas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
                const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    pthread_once(&once, load);
    sgemm(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char *blas_kernel(void) {
    pthread_once(&once, load);
    return kernel;
}
