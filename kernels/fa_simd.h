/* SIMD declarations for libm, so that gcc vectorizes loops that call these
 * functions with glibc's vector math library (libmvec: _ZGVeN16v_expf for
 * AVX-512, _ZGVdN8v_expf for AVX2) without -ffast-math, which would bring
 * -ffinite-math-only and break NaN / infinity handling. Needs -fopenmp(-simd).
 * libmvec has exp/expm1/log1p/tanh/erfc in both precisions since glibc 2.35. */
#ifndef FA_SIMD_H
#define FA_SIMD_H
#include <math.h>
#if defined(__x86_64__) && defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35)) && !defined(FA_NO_LIBMVEC)
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
double exp(double);
#pragma omp declare simd notinbranch
float expm1f(float);
#pragma omp declare simd notinbranch
double expm1(double);
#pragma omp declare simd notinbranch
float log1pf(float);
#pragma omp declare simd notinbranch
double log1p(double);
#pragma omp declare simd notinbranch
float tanhf(float);
#pragma omp declare simd notinbranch
double tanh(double);
#pragma omp declare simd notinbranch
float erfcf(float);
#pragma omp declare simd notinbranch
double erfc(double);
#endif

/* float32 GELU (erf form) and its derivative, branch-free so that gcc vectorizes the
 * loops around them: the C twin of fastact/_math.py (_gelu_erf_f32, same constants,
 * same operations, fused multiply-adds written out since the build uses
 * -ffp-contract=off). With a = |x| clamped to 14.5:
 *   x Phi(x)          = max(x, 0) - e N / (N sqrt(2 pi) + P),  N = a C Q(a)
 *   Phi(x) + x phi(x) = 1 + u (x >= 0), -u (x < 0),  u = e (a - r0) (C + P2/Q2)
 * e = 2^64 exp(-a^2/2) with a^2 = hi + lo (an FMA gives lo), the 2^64 taken back
 * by the 2^64 folded into P and sqrt(2 pi) (forward) and P2, C (derivative). */
#include <stdint.h>
static inline float fa_bits_f(int32_t i) { union { int32_t i; float f; } u; u.i = i; return u.f; }
static inline int32_t fa_f_bits(float f) { union { int32_t i; float f; } u; u.f = f; return u.i; }

static inline float fa_exp_half_sq_f(float a) {
    const float magic = 0x1.80017ep23f; /* 1.5 * 2^23 + 127 + 64 */
    float hi = a * a;
    float lo = fmaf(a, a, -hi);
    float z = hi * -0.5f;
    float vn = fmaf(z, 0x1.715476p+0f, magic);
    float s = fa_bits_f((int32_t)((uint32_t)fa_f_bits(vn) << 23)); /* 2^(n + 64) */
    float n = vn - magic;
    float r = fmaf(n, -0x1.62e4p-1f, z);
    r = fmaf(n, -0x1.7f7d1cp-20f, r);
    r = fmaf(lo, -0.5f, r);
    float q = 0x1.64bafcp-10f;
    q = fmaf(q, r, 0x1.1247cap-7f);
    q = fmaf(q, r, 0x1.556018p-5f);
    q = fmaf(q, r, 0x1.555464p-3f);
    q = fmaf(q, r, 0x1.fffff4p-2f);
    q = fmaf(q, r, 1.0f);
    float p = fmaf(q, r, 1.0f);
    return p * s;
}

static inline float fa_gelu_erff(float x) {
    float a = fabsf(x);
    a = a > 14.5f ? 14.5f : a; /* NaN passes */
    float e = fa_exp_half_sq_f(a);
    float P = 0x1.47c4acp+55f;
    P = fmaf(P, a, 0x1.e99d58p+58f);
    P = fmaf(P, a, 0x1.548af8p+61f);
    P = fmaf(P, a, 0x1.01a0bap+63f);
    P = fmaf(P, a, 0x1.988454p+63f);
    float Q = 0x1.057ee4p-10f;
    Q = fmaf(Q, a, 0x1.86d112p-7f);
    Q = fmaf(Q, a, 0x1.177222p-4f);
    Q = fmaf(Q, a, 0x1.cec6c8p-3f);
    Q = fmaf(Q, a, 0x1.bbadb6p-2f);
    Q = fmaf(Q, a, 0x1.988454p-2f);
    float N = a * Q;
    float t = (e * N) / fmaf(N, 0x1.40d932p+65f, P);
    return (x > 0.0f ? x : 0.0f) - t;
}

static inline float fa_gelu_erf_derivf(float x) {
    float a = fabsf(x);
    a = a > 14.5f ? 14.5f : a;
    float e = fa_exp_half_sq_f(a);
    float P = 0x1.259176p-71f;
    P = fmaf(P, a, 0x1.11d784p-68f);
    P = fmaf(P, a, 0x1.a38872p-67f);
    P = fmaf(P, a, 0x1.1085ep-66f);
    float Q = 0x1.e970ecp-6f;
    Q = fmaf(Q, a, 0x1.ebbf1ep-3f);
    Q = fmaf(Q, a, 0x1.ac1cf0p-1f);
    Q = fmaf(Q, a, 0x1.6ef92ap+0f);
    Q = fmaf(Q, a, 1.0f);
    float u = e * (((a - 0x1.80ead2p-1f) - -0x1.a03fd4p-27f) * (0x1.988454p-66f + P / Q));
    /* 1 + u or -u, as selected constants: gcc does not if-convert an addition it
     * could sink into a branch (it might trap) */
    float h = x >= 0.0f ? 1.0f : 0.0f, sg = x >= 0.0f ? 1.0f : -1.0f;
    return fmaf(sg, u, h);
}
#endif
