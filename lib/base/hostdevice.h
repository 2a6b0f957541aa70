// hostdevice.h: marks small inline functions that both the CPU code and the
// CUDA kernels call, so that the two backends share one definition of, e.g.,
// the dropout generator or an activation's derivative.
#ifndef DEAL_HOSTDEVICE_H
#define DEAL_HOSTDEVICE_H

#ifdef __CUDACC__
#define HOSTDEVICE __host__ __device__
#define SIMD_LOOP
#else
#define HOSTDEVICE
// Before a loop in such a function: vectorise it (the CPU build compiles with OpenMP).
#define SIMD_LOOP _Pragma("omp simd")
#endif

#endif
