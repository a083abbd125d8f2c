/* Row reductions for the Cython row-wise kernels, written so that gcc vectorizes
 * them without -ffast-math (IEEE semantics kept):
 *
 * - the maximum over an order-preserving integer image of the floats,
 *   key = bits ^ ((bits >> (w - 1)) & (2^(w-1) - 1)): an integer max reduction
 *   (a NaN with the sign bit clear comes out as the maximum; the row's sum is
 *   NaN either way);
 * - sums and dot products in double with 16 independent partial sums (the lanes
 *   of one vector), added up at the end;
 * - the exponentials of a softmax row, t = x_j - shift, scaled by 2^64
 *   (fa_exp_sc_f/_d, inline) while the next row's input
 *   and output are prefetched into L2: a row of 4096 floats is 16 KiB, its passes
 *   run from L1, and without the prefetch the memory system idles while the
 *   exponentials are computed (compute and memory time add up). */
#ifndef FA_ROWS_H
#define FA_ROWS_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fa_simd.h"

/* E = 2^64 e^t for t = x_j - max <= 0 (or NaN): the C twin of numba_rowwise's
 * exp_sc (same constants and operations). 2^(n + 64) is normal (or +0) for every t
 * down to the clamp -(127 + 64) ln 2 (float; 1023 + 64 for double), where its exponent field
 * is 0 and E = +0; so it is built from the shifter's low bits (n + 64) by one shift
 * and one add and applied by one multiply, and NaN passes through p. The row's sum
 * S and the outputs y_j = E_j / S do not see the factor. Like fa_simd.h's twins it
 * needs a hardware fma (fa_bits_d is defined there under the same condition):
 * without one, 2^64 times libm's (libmvec's) exp, whose e^t is subnormal below
 * -87.3 (float) and rounded there before the exact scaling. */
#if defined(__FMA__) || defined(__aarch64__)
static inline float fa_exp_sc_f(float t) {
    const float lo = -0x1.08c84p+7f; /* -191 ln 2 */
    float tc = t < lo ? lo : t;
    float r;
    float vn = fa_reduce64_f(tc, &r); /* vn's low bits hold n + 64 */
    float p = fa_exp_poly_f(r);
    return p * fa_bits_f((int32_t)(((uint32_t)fa_f_bits(vn) << 23) + (127u << 23)));
}

static inline double fa_exp_sc_d(double t) {
    const double magic = 6755399441055808.0; /* 1.5 * 2^52 + 64 */
    const double lo = -0x1.78b9b9e2a1effp+9; /* -1087 ln 2 */
    double tc = t < lo ? lo : t;
    double vn = fma(tc, 1.4426950408889634, magic);
    double z = vn - magic;
    double r = fma(z, -0x1.62e42fee00000p-1, tc);
    r = fma(z, -0x1.a39ef35793c76p-33, r);
    /* e^r - 1 = r + r^2 (1/2! + r/3! + ... + r^11/13!) (numba: _expm1_poly_f64) */
    double q = fma(1.0 / 6227020800.0, r, 1.0 / 479001600.0);
    q = fma(q, r, 1.0 / 39916800.0);
    q = fma(q, r, 1.0 / 3628800.0);
    q = fma(q, r, 1.0 / 362880.0);
    q = fma(q, r, 1.0 / 40320.0);
    q = fma(q, r, 1.0 / 5040.0);
    q = fma(q, r, 1.0 / 720.0);
    q = fma(q, r, 1.0 / 120.0);
    q = fma(q, r, 1.0 / 24.0);
    q = fma(q, r, 1.0 / 6.0);
    q = fma(q, r, 1.0 / 2.0);
    double p = 1.0 + fma(r * r, q, r);
    return p * fa_bits_d((int64_t)(((uint64_t)fa_d_bits(vn) << 52) + (1023ull << 52)));
}
#else
static inline float fa_exp_sc_f(float t) { return 0x1p64f * expf(t); }
static inline double fa_exp_sc_d(double t) { return 0x1p64 * exp(t); }
#endif

/* buf_j = 2^64 exp(x_j - sh) over a short block (no prefetch) */
static inline void fa_exp_sc_block_f(const float* x, float* buf, ptrdiff_t n, float sh) {
    for (ptrdiff_t j = 0; j < n; j++) buf[j] = fa_exp_sc_f(x[j] - sh);
}
static inline void fa_exp_sc_block_d(const double* x, double* buf, ptrdiff_t n, double sh) {
    for (ptrdiff_t j = 0; j < n; j++) buf[j] = fa_exp_sc_d(x[j] - sh);
}

/* elements per block of the prefetching loop (one prefetch per 64-byte line) */
#define FA_PF_BLOCK 64
#define FA_EXP_ROW_PF(NAME, T, EXP)                                                   \
    static inline void NAME(const T* x, T* buf, ptrdiff_t n, T sh, const T* xn, T* bn) { \
        ptrdiff_t j = 0;                                                              \
        for (; j + FA_PF_BLOCK <= n; j += FA_PF_BLOCK) {                              \
            for (int p = 0; p < FA_PF_BLOCK; p += (int)(64 / sizeof(T))) {          \
                __builtin_prefetch(xn + j + p, 0, 2);                                 \
                __builtin_prefetch(bn + j + p, 1, 2);                                 \
            }                                                                         \
            for (int k = 0; k < FA_PF_BLOCK; k++) buf[j + k] = EXP(x[j + k] - sh);   \
        }                                                                             \
        for (; j < n; j++) buf[j] = EXP(x[j] - sh);                                   \
    }
/* buf_j = 2^64 exp(x_j - sh) */
FA_EXP_ROW_PF(fa_exp_row_pf_f, float, fa_exp_sc_f)
FA_EXP_ROW_PF(fa_exp_row_pf_d, double, fa_exp_sc_d)
#undef FA_EXP_ROW_PF

static inline int32_t fa_key_f(float v) {
    int32_t b;
    memcpy(&b, &v, sizeof b);
    return b ^ ((b >> 31) & 0x7FFFFFFF);
}

static inline int64_t fa_key_d(double v) {
    int64_t b;
    memcpy(&b, &v, sizeof b);
    return b ^ ((b >> 63) & 0x7FFFFFFFFFFFFFFFLL);
}

static inline double fa_max_f(const float* x, ptrdiff_t n) {
    if (n <= 0) return -INFINITY;
    int32_t k = fa_key_f(x[0]);
    for (ptrdiff_t j = 1; j < n; j++) {
        int32_t v = fa_key_f(x[j]);
        k = v > k ? v : k;
    }
    int32_t b = k ^ ((k >> 31) & 0x7FFFFFFF);
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static inline double fa_max_d(const double* x, ptrdiff_t n) {
    if (n <= 0) return -INFINITY;
    int64_t k = fa_key_d(x[0]);
    for (ptrdiff_t j = 1; j < n; j++) {
        int64_t v = fa_key_d(x[j]);
        k = v > k ? v : k;
    }
    int64_t b = k ^ ((k >> 63) & 0x7FFFFFFFFFFFFFFFLL);
    double f;
    memcpy(&f, &b, sizeof f);
    return f;
}

#define FA_SUM_BODY(EXPR)                                       \
    double acc[16] = {0};                                       \
    ptrdiff_t j = 0;                                            \
    for (; j + 16 <= n; j += 16)                                \
        for (int k = 0; k < 16; k++) acc[k] += (EXPR(j + k));   \
    double s = 0.0;                                             \
    for (int k = 0; k < 16; k++) s += acc[k];                   \
    for (; j < n; j++) s += (EXPR(j));                          \
    return s;

static inline double fa_sq(double d) { return d * d; }
#define FA_X(i) (double)x[i]
#define FA_AB(i) ((double)a[i] * (double)b[i])
#define FA_SQD(i) fa_sq((double)a[i] - (double)b[i])
/* a * b where b is not > 0, else +0, by a bit mask: written as a select (b > 0 ? 0.0 : a * b),
 * gcc 12.2 (-O3 -march=native, AVX-512) vectorized the float64 sum wrongly (0.13 summed as
 * -0.06 in a test program, and wrong weight gradients in the extension) */
static inline double fa_negprod(double a, double b) {
    double p = a * b;
    uint64_t bits;
    memcpy(&bits, &p, sizeof bits);
    bits &= (uint64_t)0 - (uint64_t)!(b > 0);
    memcpy(&p, &bits, sizeof p);
    return p;
}
#define FA_NEGDOT(i) fa_negprod((double)a[i], (double)b[i])
static inline double fa_sum_f(const float* x, ptrdiff_t n) { FA_SUM_BODY(FA_X) }
static inline double fa_sum_d(const double* x, ptrdiff_t n) { FA_SUM_BODY(FA_X) }
static inline double fa_dot_f(const float* a, const float* b, ptrdiff_t n) { FA_SUM_BODY(FA_AB) }
static inline double fa_dot_d(const double* a, const double* b, ptrdiff_t n) { FA_SUM_BODY(FA_AB) }
/* sum_j (a_j - b_j)^2 in double: the squared errors of mse_loss */
static inline double fa_sqdiff_f(const float* a, const float* b, ptrdiff_t n) { FA_SUM_BODY(FA_SQD) }
static inline double fa_sqdiff_d(const double* a, const double* b, ptrdiff_t n) { FA_SUM_BODY(FA_SQD) }
/* sum of g_j x_j over the x_j that are not > 0 (NaN included), in double: PReLU's
 * weight gradient over one run of a channel (a = g, b = x) */
static inline double fa_negdot_f(const float* a, const float* b, ptrdiff_t n) { FA_SUM_BODY(FA_NEGDOT) }
static inline double fa_negdot_d(const double* a, const double* b, ptrdiff_t n) { FA_SUM_BODY(FA_NEGDOT) }
#undef FA_X
#undef FA_AB
#undef FA_SQD
#undef FA_NEGDOT
#undef FA_SUM_BODY
/* maxout over one row: out[k] = max_p x[k pieces + p] (the first NaN wins, ties keep the
 * first: maxout_wins of _cy_pointwise.pxi), and its backward, gx[k pieces + p*] = g[k] for
 * the winning p*, 0 elsewhere. The pieces are the outer loop and the groups the inner one,
 * so that no running maximum is carried from one iteration to the next (the group-by-group
 * scan was a chain of compares and selects, or a branch that random data mispredicted:
 * 3.7 ms over 2^20 float32 on one thread, against 0.83 ms for zeros); the backward keeps
 * the maxima and (32-bit) indices of FA_MAXOUT_BLOCK groups on the stack and zeroes the
 * block before writing each group's gradient. */
#define FA_MAXOUT_BLOCK 256
#define FA_MAXOUT(NAME, T)                                                               \
    static inline void NAME##_fwd(const T* x, T* out, ptrdiff_t K, ptrdiff_t pieces) {   \
        for (ptrdiff_t k = 0; k < K; k++) out[k] = x[k * pieces];                        \
        for (ptrdiff_t p = 1; p < pieces; p++)                                           \
            for (ptrdiff_t k = 0; k < K; k++) {                                          \
                T v = x[k * pieces + p], b = out[k];                                     \
                int w = (v > b) | ((v != v) & (b == b));                                 \
                out[k] = w ? v : b;                                                      \
            }                                                                            \
    }                                                                                    \
    static inline void NAME##_bwd(const T* x, const T* g, T* gx, ptrdiff_t K,            \
                                  ptrdiff_t pieces) {                                    \
        T best[FA_MAXOUT_BLOCK];                                                         \
        int32_t arg[FA_MAXOUT_BLOCK];                                                    \
        if (pieces > INT32_MAX) { /* groups of over 2^31 elements: group by group */     \
            for (ptrdiff_t k = 0; k < K; k++) {                                          \
                const T* xk = x + k * pieces;                                            \
                T b = xk[0];                                                             \
                ptrdiff_t a = 0;                                                         \
                for (ptrdiff_t p = 1; p < pieces; p++)                                   \
                    if ((xk[p] > b) | ((xk[p] != xk[p]) & (b == b))) { b = xk[p]; a = p; } \
                for (ptrdiff_t p = 0; p < pieces; p++)                                   \
                    gx[k * pieces + p] = p == a ? g[k] : (T)0;                           \
            }                                                                            \
            return;                                                                      \
        }                                                                                \
        for (ptrdiff_t k0 = 0; k0 < K; k0 += FA_MAXOUT_BLOCK) {                          \
            ptrdiff_t n = K - k0 < FA_MAXOUT_BLOCK ? K - k0 : FA_MAXOUT_BLOCK;           \
            const T* xb = x + k0 * pieces;                                               \
            T* gb = gx + k0 * pieces;                                                    \
            for (ptrdiff_t j = 0; j < n; j++) { best[j] = xb[j * pieces]; arg[j] = 0; }  \
            for (ptrdiff_t p = 1; p < pieces; p++)                                       \
                for (ptrdiff_t j = 0; j < n; j++) {                                      \
                    T v = xb[j * pieces + p], b = best[j];                               \
                    int w = (v > b) | ((v != v) & (b == b));                             \
                    best[j] = w ? v : b;                                                 \
                    arg[j] = w ? (int32_t)p : arg[j];                                    \
                }                                                                        \
            memset(gb, 0, (size_t)(n * pieces) * sizeof(T));                            \
            for (ptrdiff_t j = 0; j < n; j++) gb[j * pieces + arg[j]] = g[k0 + j];       \
        }                                                                                \
    }
FA_MAXOUT(fa_maxout_f, float)
FA_MAXOUT(fa_maxout_d, double)

#endif
