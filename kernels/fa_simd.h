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
 * -ffp-contract=off). With a = |x| clamped to 15:
 *   x Phi(x)          = max(x, 0) - e N / (N sqrt(2 pi) + P),  N = a C Q(a)
 *   Phi(x) + x phi(x) = 1 + e w (x >= 0), -e w (x < 0),  w = (a - r0) (C + P2/Q2)
 * e = 2^64 exp(-a^2/2) with a^2 = hi + lo (an FMA gives lo), the 2^64 taken back
 * by the 2^64 folded into P and sqrt(2 pi) (forward) and P2, C (derivative). */
#include <stdint.h>
static inline float fa_bits_f(int32_t i) { union { int32_t i; float f; } u; u.i = i; return u.f; }
static inline int32_t fa_f_bits(float f) { union { int32_t i; float f; } u; u.f = f; return u.i; }

static inline float fa_exp_half_sq_f(float a) {
    /* 2^64 exp(-a^2/2), 0 <= a <= 15: n = round(-hi/2 log2 e) by the shifter, whose
     * low bits hold n + 64; r2 = hi + 2 n ln2 + lo = -2 r; e^r = 1 + r2 P2(r2) */
    const float magic = 0x1.80008p+23f; /* 1.5 * 2^23 + 64 */
    float hi = a * a;
    float lo = fmaf(a, a, -hi);
    float vn = fmaf(hi, -0x1.715476p-1f, magic);
    float n = vn - magic;
    float r = fmaf(n, 0x1.62e4p+0f, hi);
    r = fmaf(n, 0x1.7f7d1cp-19f, r) + lo;
    float q = 0x1.64bafcp-16f;
    q = fmaf(q, r, -0x1.1247cap-12f);
    q = fmaf(q, r, 0x1.556018p-9f);
    q = fmaf(q, r, -0x1.555464p-6f);
    q = fmaf(q, r, 0x1.fffff4p-4f);
    q = fmaf(q, r, -0x1p-1f);
    float p = fmaf(q, r, 1.0f);
    return fa_bits_f((int32_t)((uint32_t)fa_f_bits(p) + ((uint32_t)fa_f_bits(vn) << 23)));
}

static inline float fa_gelu_erff(float x) {
    float a = fabsf(x);
    a = a > 15.0f ? 15.0f : a; /* NaN passes */
    float e = fa_exp_half_sq_f(a);
    float P = 0x1.799e3ep+57f;
    P = fmaf(P, a, 0x1.a43fb6p+60f);
    P = fmaf(P, a, 0x1.978598p+62f);
    P = fmaf(P, a, 0x1.988452p+63f);
    float Q = 0x1.2d8c0ep-8f;
    Q = fmaf(Q, a, 0x1.4e2466p-5f);
    Q = fmaf(Q, a, 0x1.5c85a4p-3f);
    Q = fmaf(Q, a, 0x1.85cf7cp-2f);
    Q = fmaf(Q, a, 0x1.988454p-2f);
    float N = a * Q;
    float t = (e * N) / fmaf(N, 0x1.40d932p+65f, P);
    return (x > 0.0f ? x : 0.0f) - t;
}

static inline float fa_gelu_erf_derivf(float x) {
    float a = fabsf(x);
    a = a > 15.0f ? 15.0f : a;
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
    float w = ((a - 0x1.80ead2p-1f) - -0x1.a03fd4p-27f) * (0x1.988454p-66f + P / Q);
    /* 1 + e w or -e w, each rounded once (NaN: the second) */
    int pos = x >= 0.0f;
    return fmaf(pos ? e : -e, w, pos ? 1.0f : 0.0f);
}

/* float64 GELU: x erfc(z)/2, z = -x/sqrt 2 carried as zh + zl (rounding z would cost
 * erfc about 2 z^2 ulp): erfc(zh + zl) = erfc(zh) - zl 2/sqrt(pi) e^(-zh^2). The twin
 * of _gelu_erf_f64 / _gelu_erf_deriv_f64 in fastact/_math.py. */
static inline double fa_erfc_neg_scaled_d(double x) {
    double xc = fabs(x) < 64.0 ? x : 0.0; /* beyond, erfc is 0 or 2 (no inf - inf) */
    double zh = -x * 0.7071067811865476;
    double zhc = -xc * 0.7071067811865476;
    double zl = fma(-xc, 0.7071067811865476, -zhc) - xc * -4.833646656726457e-17;
    return erfc(zh) - zl * (1.1283791670955126 * exp(-zhc * zhc));
}

static inline double fa_gelu_erf_d(double x) {
    double y = 0.5 * x * fa_erfc_neg_scaled_d(x);
    double lim = x > 0.0 ? x : 0.0;
    return fabs(x) != INFINITY ? y : lim;
}

static inline double fa_gelu_erf_deriv_d(double x) {
    double xc = fabs(x) < 64.0 ? x : 0.0; /* beyond, x phi(x) is 0 */
    double hi = xc * xc;
    double lo = fma(xc, xc, -hi);
    double e = exp(-0.5 * hi);
    double pdf = 0.3989422804014327 * (e - 0.5 * lo * e);
    return 0.5 * fa_erfc_neg_scaled_d(x) + xc * pdf;
}

/* e^r = 1 + r P(r) on |r| <= ln2/2 (degree 6, relative error 1.1e-8): the twin of
 * _exp_poly_f32 */
static inline float fa_exp_poly_f(float r) {
    float q = 0x1.64bafcp-10f;
    q = fmaf(q, r, 0x1.1247cap-7f);
    q = fmaf(q, r, 0x1.556018p-5f);
    q = fmaf(q, r, 0x1.555464p-3f);
    q = fmaf(q, r, 0x1.fffff4p-2f);
    q = fmaf(q, r, 1.0f);
    return fmaf(q, r, 1.0f);
}

/* n = round(h / ln 2) by the 1.5 * 2^23 + 64 shifter (returned: vn, whose low bits hold
 * n + 64) and *r = h - n ln 2 in two parts: the twin of _reduce64_f32 */
static inline float fa_reduce64_f(float h, float *r) {
    const float magic = 0x1.80008p+23f; /* 1.5 * 2^23 + 64 */
    float vn = fmaf(h, 0x1.715476p+0f, magic);
    float n = vn - magic;
    float rr = fmaf(n, -0x1.62e4p-1f, h);
    *r = fmaf(n, -0x1.7f7d1cp-20f, rr);
    return vn;
}

/* GELU, tanh form (the twin of _gelu_tanh_f32 / _gelu_tanh_deriv_f32): x sigmoid(z),
 * z = 2 sqrt(2/pi) (x + 0.044715 x^3) formed in double (a float z would cost |z| *
 * 1.5 ulp in the tail), split into float hi + lo; E = 2^64 e^(-|z|). */
static inline float fa_exp_hl_f(float h, float lo) {
    float r;
    float vn = fa_reduce64_f(h, &r);
    float p = fa_exp_poly_f(r + lo);
    return fa_bits_f((int32_t)((uint32_t)fa_f_bits(p) + ((uint32_t)fa_f_bits(vn) << 23)));
}

static inline float fa_gelu_tanh_E(float xc) {
    double xd = (double)xc;
    double z = xd * (1.5957691216057308 + 0.07135481627260025 * (xd * xd));
    double za = -fabs(z);
    za = za < -120.0 ? -120.0 : za; /* 2^64 e^-120 is still normal */
    float h = (float)za;
    float lo = (float)(za - (double)h);
    return fa_exp_hl_f(h, lo);
}

static inline float fa_gelu_tanh_clamp(float x) {
    /* results 0 below -11, x (1 for the derivative) above 20; NaN passes */
    float xc = x < -11.0f ? -11.0f : x;
    return xc > 20.0f ? 20.0f : xc;
}

static inline float fa_gelu_tanhf(float x) {
    float xc = fa_gelu_tanh_clamp(x);
    float E = fa_gelu_tanh_E(xc);
    int neg = x < 0.0f;
    float num = neg ? xc * E : x;
    float den = neg ? 0x1p64f + E : fmaf(E, 0x1p-64f, 1.0f);
    return num / den;
}

static inline float fa_gelu_tanh_derivf(float x) {
    float xc = fa_gelu_tanh_clamp(x);
    float E = fa_gelu_tanh_E(xc);
    float D = 0x1p64f + E;
    int neg = x < 0.0f;
    float zp = fmaf(0x1.b6676cp-3f, xc * xc, 0x1.988454p+0f);
    float oms = (neg ? 0x1p64f : E) / D;
    float f = fmaf(xc * zp, oms, 1.0f);
    /* near its zero r0 = -0.75246, F = 1 + x z' (1 - s) = d R(d), d = x - r0
     * (_gelu_tanh_deriv_f32's comment; the same float32 constants) */
    float d = (xc - (-0.75246143f)) - 1.1339628e-08f;
    float r = 0.00012880971189588308f;
    r = fmaf(r, d, 0.00034116391907446086f);
    r = fmaf(r, d, -0.0008938962710089982f);
    r = fmaf(r, d, -0.0017502002883702517f);
    r = fmaf(r, d, 0.010214276611804962f);
    r = fmaf(r, d, 0.002323162741959095f);
    r = fmaf(r, d, 0.061604633927345276f);
    r = fmaf(r, d, -0.8163185715675354f);
    r = fmaf(r, d, 1.9045990705490112f);
    /* x in (-2, -0.4) as two single-compare selects: gcc if-converts neither && nor &
     * of two compares here (the loop ran scalar, 10x slower) */
    float dr = d * r;
    float fr = xc < -0.4f ? dr : f;
    f = xc > -2.0f ? fr : f;
    return ((neg ? E : 0x1p64f) * f) / D;
}

/* 2^64 e^-|x|, |x| clamped at 120 (normal for every x; callers select NaN back):
 * the twin of _exp64_neg_abs_f32. */
static inline float fa_exp64_neg_abs_f(float x) {
    float a = fabsf(x);
    a = a > 120.0f ? 120.0f : a;
    return fa_exp_hl_f(-a, 0.0f);
}

/* The twins below need a hardware fma: without one (FASTACT_PORTABLE=1 on x86-64)
 * fmaf is a scalar libm call, gcc leaves the loop scalar and it runs 50x slower, so
 * they fall back to the libm (libmvec) formulas they replaced. */
#if defined(__FMA__) || defined(__aarch64__)
/* n = round(x / ln 2) by the 1.5 * 2^23 shifter (returned: vn, whose low bits hold n)
 * and *r = x - n ln 2 in two parts: the twin of _reduce_ln2_f32. */
static inline float fa_reduce_ln2_f(float xc, float *r) {
    float vn = fmaf(xc, 0x1.715476p+0f, 0x1.8p+23f);
    float z = vn - 0x1.8p+23f;
    *r = fmaf(z, -0x1.7f7d1cp-20f, fmaf(z, -0x1.62e4p-1f, xc));
    return vn;
}

/* e^x: the twin of _exp_f32. x clamped to [-104, 89]; n by the
 * 1.5 * 2^23 shifter, r = x - n ln 2 in two parts, e^r = 1 + r P(r) (degree 6); 2^n
 * applied in two halves (a subnormal result is rounded once, 2^128 p overflows to inf
 * by itself). NaN is selected back. */
static inline float fa_expf(float x) {
    float xc = x > -104.0f ? x : -104.0f;
    xc = xc < 89.0f ? xc : 89.0f;
    float r;
    float vn = fa_reduce_ln2_f(xc, &r);
    float p = fa_exp_poly_f(r);
    int32_t n = fa_f_bits(vn) - 0x4B400000; /* in [-150, 128] */
    int32_t n1 = n >> 1; /* floor(n / 2): gcc shifts signed integers arithmetically */
    int32_t n2 = n - n1;
    float s1 = fa_bits_f((int32_t)((uint32_t)(n1 + 127) << 23));
    float s2 = fa_bits_f((int32_t)((uint32_t)(n2 + 127) << 23));
    float y = p * s1 * s2;
    return x == x ? y : x;
}

/* e^x - 1: the twin of _expm1_f32. 2 (h (e^r - 1) + (h - 1/2)), h = 2^(n-1) (normal
 * for x clamped to [-18, 89]: -1 below, inf above 88.72 through the doubling);
 * e^r - 1 = r + r^2 P(r), Taylor of degree 7; |x| < 2^-100 (and -0.0, NaN): x. */
static inline float fa_expm1f(float x) {
    float xc = x > -18.0f ? x : -18.0f;
    xc = xc < 89.0f ? xc : 89.0f;
    float r;
    float vn = fa_reduce_ln2_f(xc, &r);
    float q = fmaf(1.0f / 5040.0f, r, 1.0f / 720.0f);
    q = fmaf(q, r, 1.0f / 120.0f);
    q = fmaf(q, r, 1.0f / 24.0f);
    q = fmaf(q, r, 1.0f / 6.0f);
    q = fmaf(q, r, 0.5f);
    float em = fmaf(r * r, q, r);
    float h = fa_bits_f((int32_t)(((uint32_t)fa_f_bits(vn) + (uint32_t)(126 - 0x4B400000)) << 23));
    float y = 2.0f * fmaf(h, em, h - 0.5f);
    return fabsf(x) >= 0x1p-100f ? y : x;
}

/* 1 / (1 + e^-x): the twin of _sigmoid_f32. E = 2^64 e^-|x| (|x| clamped at 120,
 * a normal float): E / (2^64 + E) for x < 0, 2^64 / (2^64 + E) otherwise; one
 * division, the subnormal results (x < -87.3) rounded once. NaN is selected back. */
static inline float fa_sigmoidf(float x) {
    float E = fa_exp64_neg_abs_f(x);
    float y = (x < 0.0f ? E : 0x1p64f) / (0x1p64f + E);
    return x == x ? y : x;
}

/* sigmoid'(x) = e / (1 + e)^2 and tanh'(x) = 4 e' / (1 + e')^2 (e = e^-|x|, e' = e^-2|x|):
 * the twins of _sigmoid_deriv_f32 / _tanh_deriv_f32. E = 2^64 e (|x| clamped where the
 * result is 0), (1 + e)^2 = fma(e, e + 2, 1), the quotient scaled by 2^-64 at the end. */
static inline float fa_sigmoid_derivf(float x) {
    float a = fabsf(x);
    a = a > 120.0f ? 120.0f : a;
    float E = fa_exp_hl_f(-a, 0.0f);
    float e = E * 0x1p-64f;
    float y = (E / fmaf(e, e + 2.0f, 1.0f)) * 0x1p-64f;
    return x == x ? y : x;
}

static inline float fa_tanh_derivf(float x) {
    float a = fabsf(x);
    a = a > 60.0f ? 60.0f : a;
    float E = fa_exp_hl_f(-2.0f * a, 0.0f);
    float e = E * 0x1p-64f;
    float y = ((4.0f * E) / fmaf(e, e + 2.0f, 1.0f)) * 0x1p-64f;
    return x == x ? y : x;
}

/* e^x in float64: the twin of _exp_f64. x clamped to [-746, 710]; n by the 1.5 * 2^52
 * shifter, r = x - n ln 2 in two parts by fma, e^r = 1 + (e^r - 1) with the Taylor
 * polynomial of degree 13 by fma, 2^n applied in two halves. NaN is selected back. */
static inline double fa_bits_d(int64_t i) { union { int64_t i; double d; } u; u.i = i; return u.d; }
static inline int64_t fa_d_bits(double d) { union { int64_t i; double d; } u; u.d = d; return u.i; }

static inline double fa_exp_d(double x) {
    double xc = x > -746.0 ? x : -746.0;
    xc = xc < 710.0 ? xc : 710.0;
    double vn = fma(xc, 0x1.71547652b82fep+0, 0x1.8p+52);
    double z = vn - 0x1.8p+52;
    double r = fma(z, -0x1.a39ef35793c76p-33, fma(z, -0x1.62e42fee00000p-1, xc));
    double q = fma(0x1.6124613a86d09p-33, r, 0x1.1eed8eff8d898p-29);
    q = fma(q, r, 0x1.ae64567f544e4p-26);
    q = fma(q, r, 0x1.27e4fb7789f5cp-22);
    q = fma(q, r, 0x1.71de3a556c734p-19);
    q = fma(q, r, 0x1.a01a01a01a01ap-16);
    q = fma(q, r, 0x1.a01a01a01a01ap-13);
    q = fma(q, r, 0x1.6c16c16c16c17p-10);
    q = fma(q, r, 0x1.1111111111111p-7);
    q = fma(q, r, 0x1.5555555555555p-5);
    q = fma(q, r, 0x1.5555555555555p-3);
    q = fma(q, r, 0x1p-1);
    double p = 1.0 + fma(r * r, q, r);
    int64_t n = fa_d_bits(vn) - 0x4338000000000000LL; /* in [-1077, 1025] */
    int64_t n1 = n >> 1;
    int64_t n2 = n - n1;
    double s1 = fa_bits_d((int64_t)((uint64_t)(n1 + 1023) << 52));
    double s2 = fa_bits_d((int64_t)((uint64_t)(n2 + 1023) << 52));
    double y = p * s1 * s2;
    return x == x ? y : x;
}

/* float64 sigmoid'(x) = e / (1 + e (e + 2)), e = e^-|x|, and tanh'(x) = 4 e' / (...),
 * e' = e^-2|x|: the twins of _sigmoid_deriv_f64 / _tanh_deriv_f64. */
static inline double fa_sigmoid_deriv_d(double x) {
    double e = fa_exp_d(-fabs(x));
    return e / fma(e, e + 2.0, 1.0);
}

static inline double fa_tanh_deriv_d(double x) {
    double e = fa_exp_d(-2.0 * fabs(x));
    return 4.0 * e / fma(e, e + 2.0, 1.0);
}

#else
static inline double fa_sigmoid_deriv_d(double x) {
    double e = exp(-fabs(x));
    return e / (1.0 + e * (e + 2.0));
}
static inline double fa_tanh_deriv_d(double x) {
    double e = exp(-2.0 * fabs(x));
    return 4.0 * e / (1.0 + e * (e + 2.0));
}
static inline float fa_expf(float x) { return expf(x); }
static inline float fa_expm1f(float x) { return expm1f(x); }
static inline float fa_sigmoidf(float x) {
    float e = expf(-fabsf(x));
    return (x < 0.0f ? e : 1.0f) / (1.0f + e);
}
static inline float fa_sigmoid_derivf(float x) {
    float e = expf(-fabsf(x));
    float d = 1.0f + e;
    return e / (d * d);
}
static inline float fa_tanh_derivf(float x) {
    float e = expf(-2.0f * fabsf(x));
    float d = 1.0f + e;
    return 4.0f * e / (d * d);
}
#endif

/* log(1 + e^x) (softplus, log-sigmoid): the twin of _log1pexp_f32. t = e^-|x| =
 * 2^-64 E (|x| clamped at 120); t < 1/2: f = t, else f = (t - 1) / 2 exactly and ln 2
 * added; log1p(f) = f + f^2 (-1/2 + f P(f)) on [-1/4, 1/2], no division. */
static inline float fa_log1pexpf(float x) {
    float t = fa_exp64_neg_abs_f(x) * 0x1p-64f;
    int big = t >= 0.5f;
    float f = big ? (t - 1.0f) * 0.5f : t;
    float p = 0.038806408643722534f;
    p = fmaf(p, f, -0.09252528101205826f);
    p = fmaf(p, f, 0.11735878884792328f);
    p = fmaf(p, f, -0.12714794278144836f);
    p = fmaf(p, f, 0.1427052915096283f);
    p = fmaf(p, f, -0.16655564308166504f);
    p = fmaf(p, f, 0.19999843835830688f);
    p = fmaf(p, f, -0.2500016689300537f);
    p = fmaf(p, f, 0.3333333730697632f);
    float q = fmaf(p, f, -0.5f);
    float lg = fmaf(f * f, q, f);
    float kh = big ? 0x1.62e4p-1f : 0.0f;
    float kl = big ? 0x1.7f7d1cp-20f : 0.0f;
    float y = kh + (lg + kl);
    y = y + (x > 0.0f ? x : 0.0f);
    return x == x ? y : x;
}

/* d/du u sigmoid(u) = s (1 + u (1 - s)): the twin of _silu_deriv_f32; near the zero
 * u0 = -1.27846 of the factor F = 1 + u (1 - s), F = (u - u0) R(u - u0). */
static inline float fa_silu_derivf(float u, float beta, float x) {
    float E = fa_exp64_neg_abs_f(u);
    float v = 1.0f / (0x1p64f + E);
    float r = v * 0x1p64f;
    float er = E * v;
    float s = u >= 0.0f ? r : er;
    float oms = u >= 0.0f ? er : r;
    float f = fmaf(u, oms, 1.0f);
    /* u - u0 with beta x's rounding error (u = beta x rounded; 0 for beta = 1) */
    float d = (u - -1.2784645557403564f) + (fmaf(beta, x, -u) - 1.2979282537628478e-08f);
    float q = 0.0010483535006642342f;
    q = fmaf(q, d, 0.0030356498900800943f);
    q = fmaf(q, d, -0.0047106207348406315f);
    q = fmaf(q, d, -0.04888216406106949f);
    q = fmaf(q, d, -0.10890615731477737f);
    q = fmaf(q, d, 1.0f);
    /* u in (-1.8, -0.75) by one compare: a short-circuit && blocks gcc's if-conversion */
    f = fabsf(u + 1.275f) < 0.525f ? d * q : f;
    float y = s * f;
    return u == u ? y : u;
}
/* d/dx x tanh(softplus(x)): the twin of _mish_deriv_f32. One quotient in m = e^-|x|,
 * E = 2^64 m; near the zero x0 = -1.19243, (x - x0) R(x - x0). */
static inline float fa_mish_derivf(float x) {
    /* S and k^2 expanded in m (A = 4 + 4x, B = 6 + 4x): x < 0: S = ((m + 4) m + B) m + A,
     * k^2 = (((m + 4) m + 8) m + 8) m + 4, mish' = 2^-64 E S / k^2; x >= 0:
     * S = ((A m + B) m + 4) m + 1, k^2 = (((4 m + 8) m + 8) m + 4) m + 1 */
    float E = fa_exp64_neg_abs_f(x);
    float m = E * 0x1p-64f;
    int neg = x < 0.0f;
    /* x clamped as |x| is: beyond 120 the x terms are finite, not inf * 0 */
    float xc = x > -120.0f ? x : -120.0f;
    xc = xc > 120.0f ? 120.0f : xc;
    float A = fmaf(4.0f, xc, 4.0f);
    float B = fmaf(4.0f, xc, 6.0f);
    float S = fmaf(neg ? 1.0f : A, m, neg ? 4.0f : B);
    S = fmaf(S, m, neg ? B : 4.0f);
    S = fmaf(S, m, neg ? A : 1.0f);
    float K = fmaf(neg ? 1.0f : 4.0f, m, neg ? 4.0f : 8.0f);
    K = fmaf(K, m, 8.0f);
    K = fmaf(K, m, neg ? 8.0f : 4.0f);
    K = fmaf(K, m, neg ? 4.0f : 1.0f);
    float num = neg ? E * S : S;
    float y = num / K;
    y = neg ? y * 0x1p-64f : y;
    float d = (x - -1.1924312114715576f) - -3.0439375464652585e-09f;
    float q = 0.00021734739129897207f;
    q = fmaf(q, d, 0.0009390150662511587f);
    q = fmaf(q, d, 0.0010930070420727134f);
    q = fmaf(q, d, -0.0033451945055276155f);
    q = fmaf(q, d, -0.015819072723388672f);
    q = fmaf(q, d, -0.020273476839065552f);
    q = fmaf(q, d, 0.041907597333192825f);
    q = fmaf(q, d, 0.2047313153743744f);
    q = fmaf(q, d, 0.2669479250907898f);
    /* x in (-2.1, -0.7) by one compare: a short-circuit && blocks gcc's if-conversion */
    y = fabsf(x + 1.4f) < 0.7f ? d * q : y;
    return x == x ? y : x;
}
#endif
