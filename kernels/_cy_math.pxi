# The Cython side of fastact's math module (fastact/_math.py): the same function
# names, over the fused type ``floating``. float32 exp, expm1, sigmoid, log1pexp and
# the derivatives are the C twins of the Numba kernels in fa_simd.h (bit-identical);
# the rest, and float64, call libm, vectorized through libmvec by the declarations
# in fa_simd.h.

cdef extern from "fa_simd.h" nogil:
    float fa_gelu_erff(float x)
    float fa_gelu_erf_derivf(float x)
    double fa_gelu_erf_d(double x)
    double fa_gelu_erf_deriv_d(double x)
    float fa_gelu_tanhf(float x)
    float fa_gelu_tanh_derivf(float x)
    float fa_log1pexpf(float x)
    float fa_silu_derivf(float u, float a, float x)
    float fa_mish_derivf(float x)
    float fa_sigmoidf(float x)
    float fa_expm1f(float x)
    float fa_expf(float x)
    float fa_sigmoid_derivf(float x)
    float fa_tanh_derivf(float x)
    double fa_sigmoid_deriv_d(double x)
    double fa_tanh_deriv_d(double x)

from libc.math cimport (
    INFINITY, erfc, erfcf, exp, expf, expm1, expm1f, fabs, fabsf, log, log1p, log1pf, tanh, tanhf,
)

ctypedef fused floating:
    float
    double


cdef inline floating like(double v, floating x) noexcept nogil:
    # the constant v in x's type
    return <floating>v


cdef inline floating m_exp(floating x) noexcept nogil:
    if floating is float:
        return fa_expf(x)  # fa_simd.h: the twin of _math._exp_f32, inline
    else:
        return exp(x)


cdef inline floating m_expm1(floating x) noexcept nogil:
    if floating is float:
        return fa_expm1f(x)  # fa_simd.h: the twin of _math._expm1_f32, inline
    else:
        return expm1(x)


cdef inline floating m_log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating m_tanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating m_erfc(floating x) noexcept nogil:
    if floating is float:
        return erfcf(x)
    else:
        return erfc(x)


cdef inline bint m_isnan(floating x) noexcept nogil:
    return x != x


cdef inline bint m_isinf(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x) == INFINITY
    else:
        return fabs(x) == INFINITY


cdef inline floating m_sigmoid(floating x) noexcept nogil:
    # e / (1 + e) or 1 / (1 + e), e = exp(-|x|): exact limits 0 and 1 at -inf and +inf,
    # and the subnormal results below x = -87.3 (-709.8) where 1 / (1 + exp(-x)) is 0
    # (float32: fa_simd.h, the 2^64-scaled inline exponential instead of libmvec's expf)
    cdef floating nabs, e
    if floating is float:
        return fa_sigmoidf(x)
    nabs = -x if x > 0 else x
    e = m_exp(nabs)
    return (e if x < 0 else <floating>1.0) / (<floating>1.0 + e)


cdef inline floating m_sigmoid_deriv(floating x) noexcept nogil:
    # s (1 - s) = e / (1 + e (e + 2)), e = exp(-|x|) (fa_simd.h: float32 2^64-scaled,
    # float64 the twin of _exp_f64; libm's exp without hardware FMA)
    if floating is float:
        return fa_sigmoid_derivf(x)
    else:
        return fa_sigmoid_deriv_d(x)


cdef inline floating m_tanh_deriv(floating x) noexcept nogil:
    # 1 - tanh^2 = 4 e / (1 + e (e + 2)), e = exp(-2|x|) (fa_simd.h, as m_sigmoid_deriv)
    if floating is float:
        return fa_tanh_derivf(x)
    else:
        return fa_tanh_deriv_d(x)


cdef inline floating m_log1pexp(floating x) noexcept nogil:
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|) (softplus / log-sigmoid core;
    # float32: fa_simd.h, one exp and a division-free log1p on (0, 1]; float64:
    # libmvec's exp and log1p, 17% faster here than the fused form with its division)
    cdef floating nabs
    if floating is float:
        return fa_log1pexpf(x)
    else:
        nabs = -x if x > 0 else x
        return m_log1p(m_exp(nabs)) + (x if x > 0 else <floating>0.0)


cdef inline floating m_silu_deriv(floating u, floating a, floating x) noexcept nogil:
    # d/du u sigmoid(u) = s (1 + u (1 - s)) at u = a x (float32: fa_simd.h, factored
    # near the zero with a x's rounding error)
    cdef floating e, r, er, s, oms
    if floating is float:
        return fa_silu_derivf(u, a, x)
    else:
        e = m_exp(-fabs(u))
        r = 1.0 / (1.0 + e)
        er = e * r
        s = r if u >= 0 else er
        oms = er if u >= 0 else r
        return s * (1.0 + u * oms)


cdef inline floating m_mish_deriv(floating x) noexcept nogil:
    # d/dx x tanh(softplus(x)) as one quotient in m = e^-|x| (fastact._math.mish_deriv;
    # float32: fa_simd.h, factored near the zero at x = -1.19243)
    cdef floating m, k, xc
    if floating is float:
        return fa_mish_derivf(x)
    else:
        m = m_exp(-fabs(x))
        xc = x if x > -800.0 else -800.0  # (0 * finite in the 4 x term, not 0 * inf)
        xc = 800.0 if xc > 800.0 else xc
        if x < 0:
            k = m * (m + 2.0) + 2.0
            return m * ((m + 2.0) * k + 4.0 * xc * (1.0 + m)) / (k * k)
        k = 2.0 * m * (m + 1.0) + 1.0
        return ((1.0 + 2.0 * m) * k + 4.0 * xc * (m * m) * (1.0 + m)) / (k * k)


cdef inline floating m_gelu_erf(floating x) noexcept nogil:
    # x Phi(x) = x erfc(-x / sqrt 2) / 2 (float32: fa_simd.h, 6 ulp everywhere)
    if floating is float:
        return fa_gelu_erff(x)
    else:
        return fa_gelu_erf_d(x)


cdef inline floating m_gelu_erf_deriv(floating x) noexcept nogil:
    # Phi(x) + x phi(x)
    if floating is float:
        return fa_gelu_erf_derivf(x)
    else:
        return fa_gelu_erf_deriv_d(x)


cdef inline floating m_gelu_tanh(floating x) noexcept nogil:
    # x sigmoid(z), z = 2 sqrt(2/pi) (x + 0.044715 x^3) (float32: fa_simd.h)
    cdef double z, e, y
    if floating is float:
        return fa_gelu_tanhf(x)
    else:
        z = 1.5957691216057308 * (x + 0.044715 * x * x * x)
        e = exp(-fabs(z))
        y = x * ((e if z < 0.0 else 1.0) / (1.0 + e))
        return y if fabs(x) != INFINITY else (x if x > 0.0 else 0.0)


cdef inline floating m_gelu_tanh_deriv(floating x) noexcept nogil:
    # s (1 + x z' (1 - s)), s = sigmoid(z)
    cdef double z, e, r, s, oms, zp, d
    if floating is float:
        return fa_gelu_tanh_derivf(x)
    else:
        z = 1.5957691216057308 * (x + 0.044715 * x * x * x)
        e = exp(-fabs(z))
        r = 1.0 / (1.0 + e)
        s = e * r if z < 0.0 else r
        oms = r if z < 0.0 else e * r
        zp = 1.5957691216057308 * (1.0 + 3.0 * 0.044715 * x * x)
        d = s * (1.0 + x * zp * oms)
        return d if not fabs(x) >= 1e6 else (1.0 if x > 0.0 else 0.0)
