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
#endif
