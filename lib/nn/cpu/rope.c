// rope.c: rotary position embedding in the HF rotate_half layout.
//   x [B,T,H,hs] rotated in place; cos, sin [max_pos, hs/2]; the position of
//   token (b,t) is pos[b*T+t]. For i < hs/2, with c = cos[pos][i], s = sin[pos][i]:
//     (x[i], x[i+hs/2]) -> (x[i]*c - x[i+hs/2]*s*sign, x[i+hs/2]*c + x[i]*s*sign)
//   sign = -1 is the inverse rotation (= the transpose): the backward pass.
#include "base/util.h"
#include "nn/cpu/cpu.h"
#include "nn/backend_checks.h"
#include "nn/scalar_kernels.h"

CPU_CLONES void cpu_rope(float *x, const int *pos, const float *cos, const float *sin, int B, int T, int H, int hs, int sign) {
    check_rope_head_size(hs);
    long tokens = (long)B * T;
    size_t half = (size_t)hs / 2;
#pragma omp parallel for if ((size_t)tokens * H * hs >= CPU_PAR_MIN)
    for (long n = 0; n < tokens; n++)
        rope_token(x + (size_t)n * H * hs, cos + pos[n] * half, sin + pos[n] * half, H, hs, sign);
}

void ref_rope(float *x, const int *pos, const float *cos, const float *sin, int B, int T, int H, int hs, int sign) {
    check_rope_head_size(hs);
    size_t half = (size_t)hs / 2;
    for (long n = 0; n < (long)B * T; n++)
        rope_token(x + (size_t)n * H * hs, cos + pos[n] * half, sin + pos[n] * half, H, hs, sign);
}
