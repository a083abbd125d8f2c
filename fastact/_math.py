"""Scalar math used by every compiled kernel: accuracy and speed decided here.

Numba lowers ``math.exp`` to a scalar libm call, which stops LLVM from
vectorizing the loop around it (``tanh`` ran at about 1 GB/s). The functions
here are branch-free polynomials whose ``2**n`` factor is built by an integer
bit-cast (an LLVM ``bitcast`` through :func:`numba.extending.intrinsic`), so a
``prange`` loop that calls them compiles to AVX-512/AVX2 code.

Accuracy (measured by ``tests/test_math.py`` against float64 / mpmath over dense
samples and the edge values): ``exp``, ``expm1``, ``log1p`` and ``tanh`` are
within 2 ulp in float32 and float64, with IEEE behaviour at overflow, underflow
(subnormal results), ``+-inf`` and NaN. ``erfc`` calls glibc's vector math
library where it exists (:mod:`fastact._mvec`: libm's erfc/erfcf, vectorized by
LLVM through libmvec); elsewhere, in float32 it is evaluated in float64
(Numerical Recipes' Chebyshev fit, relative error < 1.2e-7) and in float64 it
calls libm (scalar).

Each public function has a plain-Python fallback (used outside compiled code)
and an ``@overload`` choosing the float32 or float64 kernel by argument type.
``like(v, x)`` returns the constant ``v`` in the floating type of ``x``, so that a
float32 kernel is not silently promoted to float64 by a Python float literal.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload
from numba.np.numpy_support import as_dtype

from fastact import _mvec

INF = math.inf

#: The math helpers the table's formulas call as ``_m.<name>``: declared once here.
#: Numba gets them from this module, CUDA from ``fastact._cuda_math`` (same names),
#: Cython as ``m_<name>`` from ``kernels/_cy_math.pxi`` (``like`` keeps its name; the
#: code generator's renames come from this list); ``tests/test_math.py`` checks that
#: every backend defines each one and that the table calls nothing else.
HELPERS = (
    "like", "exp", "expm1", "log1p", "log1pexp", "tanh", "erfc", "sigmoid", "isnan", "isinf",
    "gelu_erf", "gelu_erf_deriv", "gelu_tanh", "gelu_tanh_deriv", "silu_deriv", "mish_deriv",
    "sigmoid_deriv", "tanh_deriv",
)  # fmt: skip
#: libm functions with a SIMD (libmvec) declaration in ``kernels/fa_simd.h``, float
#: (``expf``) and double (``exp``) each; ``tests/test_math.py`` checks the header
LIBMVEC = ("exp", "expm1", "log1p", "tanh", "erfc")

#: Fast-math flags kernels may use: no ``nnan``/``ninf`` (they would break NaN
#: propagation and -inf masking).
FASTMATH = frozenset({"contract", "afn", "arcp", "nsz", "reassoc"})
#: What the kernels use: fused multiply-add and signless zeros only, so that the
#: error analysis of every formula (Cody-Waite reduction, compensated terms) holds.
FASTMATH_STRICT = frozenset({"contract", "nsz"})
#: For reductions (row sums): ``reassoc`` lets LLVM keep several partial sums.
FASTMATH_REDUCE = frozenset({"contract", "nsz", "reassoc"})

_FM = set(FASTMATH_STRICT)
_J: dict[str, Any] = {"fastmath": _FM, "error_model": "numpy", "inline": "always"}


def like(v, x):
    """Return the constant ``v`` in the floating type of ``x``."""
    return type(x)(v) if isinstance(x, np.floating) else float(v)


@overload(like, inline="always")
def _like_overload(v, x):
    if isinstance(x, types.Float):
        cast = as_dtype(x).type

        def impl(v, x):
            return cast(v)

        return impl
    raise TypingError(f"like(): {x} is not a float type")


# --------------------------------------------------------------------------- #
# Vector width                                                                #
# --------------------------------------------------------------------------- #

#: LLVM's function attribute asking the loop vectorizer for 512-bit vectors
WIDE_ATTR = '"prefer-vector-width"="512"'
#: LLVM's function attribute realigning the stack in the prologue. A loop with more
#: constants and temporaries than the 32 vector registers spills 64-byte vectors to
#: the stack; the x86-64 ABI aligns it to 16 bytes only, so without the realignment
#: 3 in 4 call sites put each spill slot across two cache lines, and the same
#: kernel ran up to 1.7x slower depending on its caller's stack depth (float64
#: softmax rows: 1.3 or 2.1 ms on 256 x 4096, per process; see wide_vectors)
REALIGN_ATTR = '"stackrealign"'


@intrinsic
def wide_vectors(typingctx):
    """Let LLVM vectorize the function being compiled with the CPU's full width.

    LLVM tunes the Intel AVX-512 CPUs (Skylake-SP to Emerald Rapids) for 256-bit
    vectors (``prefer-256-bit``), so a Numba loop over float32 runs 8 lanes where
    PyTorch's AVX512 kernels run 16: the transcendental kernels were 1.4-1.6x slower
    for it (float32 tanh 1.29 -> 0.86 ns per element in L1, one thread). This call
    emits no instruction: it sets ``prefer-vector-width=512`` on the function it is
    inlined into (the parallel loop's outlined body included), as clang's
    ``-mprefer-vector-width=512`` does; on CPUs without AVX-512 LLVM keeps the widest
    legal width. Every primitive below calls it, so a kernel that calls one of them
    is widened; memory-bound kernels (no math) keep LLVM's choice. It also realigns
    the function's stack to the vectors' 64 bytes (``REALIGN_ATTR``).
    """

    def codegen(context, builder, sig, args):
        # llvmlite's FunctionAttributes admits only enum attributes by name; the
        # string attributes are printed as given into the function's definition
        set.add(builder.function.attributes, WIDE_ATTR)
        set.add(builder.function.attributes, REALIGN_ATTR)
        return context.get_dummy_value()

    return types.none(), codegen


# --------------------------------------------------------------------------- #
# Bit casts                                                                   #
# --------------------------------------------------------------------------- #


@intrinsic
def _i32_as_f32(typingctx, i):
    """Reinterpret the bits of an int32 as a float32."""
    if i != types.int32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def _f32_as_i32(typingctx, f):
    """Reinterpret the bits of a float32 as an int32."""
    if f != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def _i64_as_f64(typingctx, i):
    """Reinterpret the bits of an int64 as a float64."""
    if i != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _f64_as_i64(typingctx, f):
    """Reinterpret the bits of a float64 as an int64."""
    if f != types.float64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


# --------------------------------------------------------------------------- #
# exp                                                                         #
# --------------------------------------------------------------------------- #
# exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln2 (two-part ln 2, |r| <= ln2/2);
# exp(r) by its Taylor polynomial (degree 7 for float32, 13 for float64: the
# truncation error is below 0.05 ulp); 2^n = 2^(n//2) 2^(n - n//2) so that
# results in the subnormal range are rounded once.

_F = np.float32
_LOG2E_F = _F(1.4426950408889634)
_LN2HI_F = _F(0.693145751953125)
_LN2LO_F = _F(1.4286068202862268e-06)
_EXP_HI_F = _F(88.72283935546875)  # above: +inf
_EXP_LO_F = _F(-103.97208)  # below: 0
_HALF_F = _F(0.5)
_ONE_F = _F(1.0)
_C_F = tuple(_F(1.0 / math.factorial(k)) for k in range(8))

_LOG2E_D = 1.4426950408889634
_SHIFT_D = 6755399441055744.0  # 1.5 * 2^52: x log2(e) + shifter rounds to n in the low bits
_ONE_D = 1.0
_LN2HI_D = 6.93147180369123816490e-01
_LN2LO_D = 1.90821492927058770002e-10
_EXP_HI_D = 709.782712893384
_EXP_LO_D = -745.1332191019412
_C_D = tuple(1.0 / math.factorial(k) for k in range(14))


@njit(**_J)
def _scale_f32(p, n):
    # p * 2^n for n in [-252, 254], rounding once
    n1 = n >> 1
    n2 = n - n1
    s1 = _i32_as_f32(np.int32((n1 + 127) << 23))
    s2 = _i32_as_f32(np.int32((n2 + 127) << 23))
    return p * s1 * s2


@njit(**_J)
def _expm1_poly_f32(r):
    # e^r - 1 = r + r^2/2! + ... + r^7/7!  (|r| <= ln2/2), by fma:
    # written r + r^2 P(r) so that the leading term r carries no rounding error
    c = _C_F
    q = fma(c[7], r, c[6])
    q = fma(q, r, c[5])
    q = fma(q, r, c[4])
    q = fma(q, r, c[3])
    q = fma(q, r, c[2])
    return fma(r * r, q, r)


@njit(**_J)
def _reduce_ln2_f32(xc):
    # n = round(x / ln 2) by the 1.5 * 2^23 shifter (vn's low bits hold n) and
    # r = x - n ln 2 in two parts: (vn, r)
    vn = fma(xc, _LOG2E_F, _SHIFT_F)
    z = vn - _SHIFT_F
    r = fma(z, -_LN2HI_F, xc)
    return vn, fma(z, -_LN2LO_F, r)


# e^r = 1 + r P(r) on |r| <= ln2/2 (weighted least squares, relative error 1.1e-8)
_EXPU_F = tuple(_F(c) for c in (
    1.0, 0.4999998211860657, 0.16666486859321594, 0.04167179763317108,
    0.008370374329388142, 0.0013608185108751059,
))  # fmt: skip
_MAGIC64_F = _F(12582976.0)  # 1.5 * 2^23 + 64
_TWO64_F = _F(2.0**64)
_SHIFT_F = _F(12582912.0)  # 1.5 * 2^23: x log2(e) + shifter rounds to n in the low bits


@njit(**_J)
def _exp_poly_f32(r):
    # e^r = 1 + r P(r) on |r| <= ln2/2 (_EXPU_F: degree 6, relative error 1.1e-8)
    c = _EXPU_F
    q = c[5]
    q = fma(q, r, c[4])
    q = fma(q, r, c[3])
    q = fma(q, r, c[2])
    q = fma(q, r, c[1])
    q = fma(q, r, c[0])
    return fma(q, r, _ONE_F)


@njit(**_J)
def _reduce64_f32(h):
    # _reduce_ln2_f32 with the 1.5 * 2^23 + 64 shifter: (vn, r), vn's low bits hold
    # n + 64, so that 2^(n + 64) is vn's bits shifted into the exponent field
    vn = fma(h, _LOG2E_F, _MAGIC64_F)
    n = vn - _MAGIC64_F
    r = fma(n, -_LN2HI_F, h)
    return vn, fma(n, -_LN2LO_F, r)


@njit(**_J)
def _exp_f32(x):
    # x clamped to [-104, 89]; n = round(x / ln 2) by the shifter (no round or convert
    # instruction), r = x - n ln 2 in two parts, e^r = 1 + r P(r) (degree 6, relative
    # error 1.1e-8), 2^n applied in two halves so that a subnormal result is rounded
    # once and 2^128 p overflows to +inf by itself (no overflow or underflow select)
    wide_vectors()
    xc = x if x > _F(-104.0) else _F(-104.0)
    xc = xc if xc < _F(89.0) else _F(89.0)
    vn, r = _reduce_ln2_f32(xc)
    p = _exp_poly_f32(r)
    y = _scale_f32(p, _f32_as_i32(vn) - _f32_as_i32(_SHIFT_F))
    return y if x == x else x


@njit(**_J)
def _scale_f64(p, n):
    n1 = n >> 1
    n2 = n - n1
    s1 = _i64_as_f64(np.int64((n1 + 1023) << 52))
    s2 = _i64_as_f64(np.int64((n2 + 1023) << 52))
    return p * s1 * s2


@njit(**_J)
def _expm1_poly_f64(r):
    # e^r - 1 = sum_{k=1}^{13} r^k / k!  (|r| <= ln2/2), by fma
    c = _C_D
    q = fma(c[13], r, c[12])
    q = fma(q, r, c[11])
    q = fma(q, r, c[10])
    q = fma(q, r, c[9])
    q = fma(q, r, c[8])
    q = fma(q, r, c[7])
    q = fma(q, r, c[6])
    q = fma(q, r, c[5])
    q = fma(q, r, c[4])
    q = fma(q, r, c[3])
    q = fma(q, r, c[2])
    return fma(r * r, q, r)


@njit(**_J)
def _reduce_ln2_f64(xc):
    # as _reduce_ln2_f32, with the 1.5 * 2^52 shifter: (vn, r)
    vn = fma(xc, _LOG2E_D, _SHIFT_D)
    z = vn - _SHIFT_D
    r = fma(z, -_LN2HI_D, xc)
    return vn, fma(z, -_LN2LO_D, r)


@njit(**_J)
def _exp_f64(x):
    # x clamped to [-746, 710] (0 and inf come out of the scaling by themselves: no
    # overflow or underflow select); n = round(x / ln 2) by the 1.5 * 2^52 shifter;
    # r = x - n ln 2 in two parts by fma; e^r = 1 + (e^r - 1), Taylor of degree 13 by
    # fma; 2^n in two halves (a subnormal result is rounded once)
    wide_vectors()
    xc = x if x > -746.0 else -746.0
    xc = xc if xc < 710.0 else 710.0
    vn, r = _reduce_ln2_f64(xc)
    p = _ONE_D + _expm1_poly_f64(r)
    y = _scale_f64(p, _f64_as_i64(vn) - _f64_as_i64(_SHIFT_D))
    return y if x == x else x


# --------------------------------------------------------------------------- #
# expm1(x) = 2^n (e^r - 1) + (2^n - 1), n = round(x / ln 2): the polynomial gives #
# e^r - 1 to full precision and 2^n - 1 is exact while |n| < 24 (53 for double); #
# beyond that exp(x) - 1 loses nothing. |x| <= ln2/2 is n = 0: the polynomial.   #
# --------------------------------------------------------------------------- #


# float32: e^x - 1 = 2 (h (e^r - 1) + (h - 1/2)), h = 2^(n-1), one fma rounding:
# h - 1/2 is exact for -24 <= n < 24 (beyond, the smaller term is below the result's
# half ulp: the result is still within 1 ulp, e.g. -1 at x = -16.98, 0.71 ulp), the
# doubling is exact, and h = 2^(n-1) is a normal float for every n of the clamped
# range [-26, 128] (x <= -18 rounds to -1; n = 128 near 88.7 and x > 88.72 overflow
# to inf through the doubling: no overflow select). n by the shifter, 2^(n-1) as
# exponent bits; e^r - 1 = r + r^2 P(r) (Taylor, degree 7) by fma. 19 operations.
_EXPM1_LO_F = _F(-18.0)
_TINY_EXPM1_F = _F(2.0**-100)
_HALF_SHIFT_BITS = np.int32(126 - 0x4B400000)  # bits of 2^(n-1) = vn bits + this << 23


@njit(**_J)
def _expm1_f32(x):
    wide_vectors()
    xc = x if x > _EXPM1_LO_F else _EXPM1_LO_F
    xc = xc if xc < _F(89.0) else _F(89.0)
    vn, r = _reduce_ln2_f32(xc)
    em = _expm1_poly_f32(r)
    h = _i32_as_f32(np.int32((_f32_as_i32(vn) + _HALF_SHIFT_BITS) << np.int32(23)))
    y = _F(2.0) * fma(h, em, h - _HALF_F)
    # |x| < 2^-100: e^x - 1 rounds to x (h em would lose a subnormal em's last bit,
    # and -0.0 its sign); NaN passes
    return y if abs(x) >= _TINY_EXPM1_F else x


# float64: the same form (x <= -40 rounds to -1, n in [-58, 1024], h = 2^(n-1)
# normal); the Taylor polynomial of degree 13 by fma.
_EXPM1_LO_D = -40.0
_TINY_EXPM1_D = 2.0**-1000
_HALF_SHIFT_BITS_D = np.int64(1022 - 0x4338000000000000)  # 2^(n-1) = vn bits + this << 52


@njit(**_J)
def _expm1_f64(x):
    wide_vectors()
    xc = x if x > _EXPM1_LO_D else _EXPM1_LO_D
    xc = xc if xc < 710.0 else 710.0
    vn, r = _reduce_ln2_f64(xc)
    em = _expm1_poly_f64(r)
    h = _i64_as_f64(np.int64((_f64_as_i64(vn) + _HALF_SHIFT_BITS_D) << np.int64(52)))
    y = 2.0 * fma(h, em, h - 0.5)
    return y if abs(x) >= _TINY_EXPM1_D else x


# --------------------------------------------------------------------------- #
# log1p: u = 1 + y = 2^k m, m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s),     #
# s = (m - 1) / (m + 1); the rounding error of 1 + y is added back as c / u.   #
# --------------------------------------------------------------------------- #


@njit(**_J)
def _log1p_f32(y):
    wide_vectors()
    u = _ONE_F + y
    bits = _f32_as_i32(u)
    k = ((bits >> 23) & 0xFF) - 127
    m = _i32_as_f32(np.int32((bits & 0x007FFFFF) | 0x3F800000))
    big = m > _F(1.4142135)
    m = m * _HALF_F if big else m
    k = k + 1 if big else k
    f = m - _ONE_F
    s = f / (_F(2.0) + f)
    z = s * s
    # log(1 + f) = f - (f^2/2 - s (f^2/2 + R)),  R = 2 s^2/3 + 2 s^4/5 + ... (fdlibm's form)
    R = z * (_F(2 / 3) + z * (_F(2 / 5) + z * (_F(2 / 7) + z * _F(2 / 9))))
    hfsq = _HALF_F * f * f
    logm = f - (hfsq - s * (hfsq + R))
    c = (y - (u - _ONE_F)) / u  # rounding error of 1 + y (0 when exact)
    kf = _F(k)
    r = kf * _LN2HI_F + (logm + (c + kf * _LN2LO_F))
    r = r if y < _F(INF) else y
    r = r if y != _F(-1.0) else _F(-INF)
    return r if y >= _F(-1.0) else _F(math.nan)


@njit(**_J)
def _log1p_reduced_f64(f):
    # log1p(f) for f in [sqrt(2)/2 - 1, sqrt(2) - 1] (exact f): fdlibm's series in
    # s = f / (2 + f), log1p(f) = f - (f^2/2 - s (f^2/2 + R(s^2)))
    s = f / (2.0 + f)
    z = s * s
    R = 2.0 / 23.0
    R = 2.0 / 21.0 + z * R
    R = 2.0 / 19.0 + z * R
    R = 2.0 / 17.0 + z * R
    R = 2.0 / 15.0 + z * R
    R = 2.0 / 13.0 + z * R
    R = 2.0 / 11.0 + z * R
    R = 2.0 / 9.0 + z * R
    R = 2.0 / 7.0 + z * R
    R = 2.0 / 5.0 + z * R
    R = 2.0 / 3.0 + z * R
    R = z * R
    hfsq = 0.5 * f * f
    return f - (hfsq - s * (hfsq + R))


@njit(**_J)
def _log1p_f64(y):
    wide_vectors()
    u = 1.0 + y
    bits = _f64_as_i64(u)
    k = ((bits >> 52) & 0x7FF) - 1023
    m = _i64_as_f64((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > 1.4142135623730951
    m = m * 0.5 if big else m
    k = k + 1 if big else k
    f = m - 1.0
    logm = _log1p_reduced_f64(f)
    c = (y - (u - 1.0)) / u
    kf = np.float64(k)
    r = kf * _LN2HI_D + (logm + (c + kf * _LN2LO_D))
    r = r if y < INF else y
    r = r if y != -1.0 else -INF
    return r if y >= -1.0 else math.nan


# --------------------------------------------------------------------------- #
# tanh: an odd polynomial for |x| < 0.5625; beyond, 1 - 2 / (exp(2|x|) + 1)     #
# (no overflow, exactly 1 at infinity, no cancellation).                        #
# --------------------------------------------------------------------------- #


# (tanh(x) - x) / x^3 as a polynomial in u = x^2 on |x| <= 0.5625 (mpmath
# chebyfit; error 4.9e-10 and 3.7e-19), highest degree first
_TANH_P_F = tuple(_F(c) for c in (
    0.002487614648031548, -0.008499247828795086, 0.021811902608433444,
    -0.05396406382647735, 0.1333332207319158, -0.33333333283938266,
))  # fmt: skip
_TANH_P_D = (
    7.634414185118713e-06, -3.333062013997152e-05, 9.427778828319503e-05,
    -0.00023836459039376214, 0.0005898788187502341, -0.0014558149436249654,
    0.003592126352822234, -0.008863235437120377, 0.02186948853313033,
    -0.05396825396820291, 0.133333333333333, -0.3333333333333333,
)  # fmt: skip


@njit(**_J)
def _exp64_neg_f32(t):
    # 2^64 e^t for -120 <= t <= 0 (not NaN: the caller selects x for NaN, whose payload
    # bits the shift below would move into the exponent): a normal float32 down to t = -120, so
    # that E / (2^64 + E) rounds a subnormal quotient once. n by the 1.5 * 2^23 (+64)
    # shifter, 2^(n + 64) added into the exponent bits (no clamp, round or convert);
    # e^r by _exp_hl_f32's polynomial (relative error 1.1e-8). 12 operations per lane.
    wide_vectors()
    vn, r = _reduce64_f32(t)
    p = _exp_poly_f32(r)
    return _i32_as_f32(np.int32(_f32_as_i32(p) + (_f32_as_i32(vn) << np.int32(23))))


@njit(**_J)
def _exp64_neg_abs_f32(x):
    # 2^64 e^-|x| with |x| clamped at 120 (a normal float32 for every x; NaN gives a
    # finite value, so callers select x back for NaN)
    a = abs(x)
    a = _F(120.0) if a > _F(120.0) else a
    return _exp64_neg_f32(-a)


@njit(**_J)
def _tanh_f32(x):
    # |x| < 0.5625: x + x^3 P(x^2); else sign(x) (2^64 - E) / (2^64 + E), E = 2^64 e^(-2|x|)
    # (|x| clamped at 9.5: tanh rounds to +-1 from 9.01; no overflow, no cancellation:
    # E <= 0.33 2^64). One division; 1.5 ulp (tests/test_math.py)
    wide_vectors()
    a = abs(x)
    u = x * x
    c = _TANH_P_F
    p = c[0]
    p = c[1] + u * p
    p = c[2] + u * p
    p = c[3] + u * p
    p = c[4] + u * p
    p = c[5] + u * p
    small = x + x * u * p
    ac = _F(9.5) if a > _F(9.5) else a  # NaN passes
    E = _exp64_neg_f32(_F(-2.0) * ac)
    large = (_TWO64_F - E) / (_TWO64_F + E)
    large = large if x >= _F(0.0) else -large
    y = small if a < _F(0.5625) else large
    # a NaN's payload bits reach E's exponent field through the shifter: keep x
    return y if x == x else x


@njit(**_J)
def _tanh_f64(x):
    a = abs(x)
    u = x * x
    c = _TANH_P_D
    p = c[0]
    p = c[1] + u * p
    p = c[2] + u * p
    p = c[3] + u * p
    p = c[4] + u * p
    p = c[5] + u * p
    p = c[6] + u * p
    p = c[7] + u * p
    p = c[8] + u * p
    p = c[9] + u * p
    p = c[10] + u * p
    p = c[11] + u * p
    small = x + x * u * p
    large = 1.0 - 2.0 / (_exp_f64(2.0 * a) + 1.0)
    large = large if x >= 0.0 else -large
    return small if a < 0.5625 else large


# --------------------------------------------------------------------------- #
# erfc: float32 through float64 with Numerical Recipes' erfcc (relative error   #
# < 1.2e-7 everywhere); float64 through libm.                                   #
# --------------------------------------------------------------------------- #


@njit(**_J)
def _erfc_f32(x):
    wide_vectors()
    xd = np.float64(x)
    z = abs(xd)
    t = 1.0 / (1.0 + 0.5 * z)
    p = 0.17087277
    p = -0.82215223 + t * p
    p = 1.48851587 + t * p
    p = -1.13520398 + t * p
    p = 0.27886807 + t * p
    p = -0.18628806 + t * p
    p = 0.09678418 + t * p
    p = 0.37409196 + t * p
    p = 1.00002368 + t * p
    p = -1.26551223 + t * p
    a = t * _exp_f64(-z * z + p)
    r = a if xd >= 0.0 else 2.0 - a
    return np.float32(r)


@njit(**_J)
def _erfc_f64(x):
    return math.erfc(x)


# --------------------------------------------------------------------------- #
# Fused multiply-add: llvm.fma (one rounding). Without fast-math LLVM never     #
# contracts a*b + c by itself, and the error-free product a*a = hi + lo needs it. #
# --------------------------------------------------------------------------- #


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with one rounding (``llvm.fma``; a vfmadd instruction with FMA)."""
    if not (a == b == c and a in (types.float32, types.float64)):
        return None

    def codegen(context, builder, sig, args):
        ty = args[0].type
        name = "llvm.fma.f32" if isinstance(ty, ir.FloatType) else "llvm.fma.f64"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty] * 3), name)
        return builder.call(fn, args)

    return a(a, a, a), codegen


# --------------------------------------------------------------------------- #
# float32 GELU (erf form) and its derivative, branch-free:                      #
#   a = |x| (clamped to 15),  x Phi(x) = max(x, 0) - a Phi(-a),                  #
#   a Phi(-a) = a V(a) e^(-a^2/2),  V(a) = Phi(-a) e^(a^2/2) = erfcx(a/sqrt 2)/2 #
#   Phi(x) + x phi(x) = 1 + u (x >= 0), -u (x < 0),                             #
#   u = e^(-a^2/2) (a/sqrt(2 pi) - V(a)) = e^(-a^2/2) (a - r0) S(a)             #
# V = C / (a + g(a)) with g a 3/4 rational (C = 1/sqrt(2 pi)); S = C + h(a), h a  #
# 3/4 rational; r0 = 0.7518 (the zero of the derivative, x = -r0) is held in two #
# parts so the derivative keeps its relative accuracy there. a^2 is carried as  #
# hi + lo (lo = fma(a, a, -hi)) and lo enters the reduced argument, so           #
# e^(-a^2/2) keeps full relative accuracy in the tail (rounding -x/sqrt 2 first, #
# as x erfc(-x/sqrt 2)/2 does, costs up to 85 ulp there). e^(-hi/2): n by the    #
# 1.5*2^23 shifter, whose low bits give 2^(n+64) as an exponent-field add; the   #
# 2^-64 is folded into the rationals, so a subnormal result is rounded once.     #
# Every multiply-add is an explicit fma. 21 multiply/fma + 1 division per lane.  #
# Max error over every float32 input: bench/tools/ulp_sweep.py (README).        #
# --------------------------------------------------------------------------- #

_GELU_CLAMP_F = _F(15.0)  # beyond: results below half the least subnormal
_MAGIC_F = _F(12582976.0)  # 1.5 * 2^23 + 64: vn's low bits hold n + 64
_TWO_M64 = 2.0**-64
# e^r = 1 + r P(r) on |r| <= ln2/2 (weighted least squares, 1.1e-8 relative), written
# for r2 = -2 r (the scalings by powers of 2 are exact): e^(-r2/2) = 1 + r2 P2(r2)
_EXP6_F = tuple(_F(c * (-0.5) ** (k + 1)) for k, c in enumerate((
    1.0, 0.4999998211860657, 0.16666486859321594, 0.04167179763317108,
    0.008370374329388142, 0.0013608185108751059,
)))  # fmt: skip
_LN2HI2_F = _F(2.0 * 0.693145751953125)
_LN2LO2_F = _F(2.0 * 1.4286068202862268e-06)
# g(a) = C / V(a) - a ~ P/Q on [0, 14.5], C = 1/sqrt(2 pi) (lowest degree first;
# relative error of V through g: 4.4e-8). V = C / (a + g) = C Q / (a Q + P): the
# rounding errors of P and Q reach V damped by g / (a + g) (0.01 at a = 10).
# P carries the 2^64 of e, Q the factor C
_GV_P_F = tuple(_F(c * 2.0**64) for c in (
    0.7978845238685608, 0.3979705572128296, 0.10259982198476791, 0.011523990891873837,
))  # fmt: skip
_GV_Q_F = tuple(_F(c * 0.3989422804014327) for c in (
    1.0, 0.9542089700698853, 0.4265699088573456, 0.10224246233701706, 0.011533606797456741,
))  # fmt: skip
_GV_K_F = _F(2.5066282746310002 * 2.0**64)  # sqrt(2 pi) 2^64 (float32: 1.1e-10 relative)
# S(a) = C + h(a), h ~ P/Q (relative error of S: 2.1e-8; h/S -> r0/a damps the
# rounding of P/Q); P and C carry the 2^-64
_GD_C_F = _F(0.3989422804014327 * _TWO_M64)
_GD_P_F = tuple(_F(c * _TWO_M64) for c in (
    0.26613569259643555, 0.20485009253025055, 0.06685592234134674, 0.008958990685641766,
))  # fmt: skip
_GD_Q_F = tuple(_F(c) for c in (
    1.0, 1.433489441871643, 0.836158275604248, 0.2401106208562851, 0.029873114079236984,
))  # fmt: skip
_GD_R0HI_F = _F(0.7517915368080139)
_GD_R0LO_F = _F(-1.211444988769017e-08)


@njit(**_J)
def _exp_half_sq_f32(a):
    wide_vectors()
    # 2^64 e^(-a^2/2) for 0 <= a <= 15 (NaN passes), a^2 = hi + lo exactly:
    # n = round(-hi/2 log2 e), r2 = hi + 2 n ln2 + lo = -2 r (hi + 2 n ln2hi exact),
    # e^r by its polynomial, 2^(n + 64) added into the exponent bits
    hi = a * a
    lo = fma(a, a, -hi)
    vn = fma(hi, _F(-0.5 * 1.4426950408889634), _MAGIC_F)
    n = vn - _MAGIC_F
    r = fma(n, _LN2HI2_F, hi)
    r = fma(n, _LN2LO2_F, r) + lo
    c = _EXP6_F
    q = c[5]
    q = fma(q, r, c[4])
    q = fma(q, r, c[3])
    q = fma(q, r, c[2])
    q = fma(q, r, c[1])
    q = fma(q, r, c[0])
    p = fma(q, r, _ONE_F)
    return _i32_as_f32(np.int32(_f32_as_i32(p) + (_f32_as_i32(vn) << np.int32(23))))


@njit(**_J)
def _gelu_erf_f32(x):
    # x Phi(x) = max(x, 0) - t,  t = a V(a) e^(-a^2/2) = e N / (N / C + P)
    # with N = C a Q(a). The rounding of N reaches t damped by g / (a + g); the
    # undamped roundings are e, e N, the denominator and the division.
    # The denominator carries the 2^64 of e (2^64 K = 2^64 sqrt(2 pi): one fma).
    a = abs(x)
    a = _GELU_CLAMP_F if a > _GELU_CLAMP_F else a
    e = _exp_half_sq_f32(a)
    cp = _GV_P_F
    P = cp[3]
    P = fma(P, a, cp[2])
    P = fma(P, a, cp[1])
    P = fma(P, a, cp[0])
    cq = _GV_Q_F
    Q = cq[4]
    Q = fma(Q, a, cq[3])
    Q = fma(Q, a, cq[2])
    Q = fma(Q, a, cq[1])
    Q = fma(Q, a, cq[0])
    N = a * Q
    t = (e * N) / fma(N, _GV_K_F, P)
    return (x if x > _F(0.0) else _F(0.0)) - t


@njit(**_J)
def _gelu_erf_deriv_f32(x):
    # Phi(x) + x phi(x) = 1 + u (x >= 0), -u (x < 0); u = (a - r0) (C + P/Q) e^(-a^2/2)
    a = abs(x)
    a = _GELU_CLAMP_F if a > _GELU_CLAMP_F else a
    e = _exp_half_sq_f32(a)
    cp = _GD_P_F
    P = cp[3]
    P = fma(P, a, cp[2])
    P = fma(P, a, cp[1])
    P = fma(P, a, cp[0])
    cq = _GD_Q_F
    Q = cq[4]
    Q = fma(Q, a, cq[3])
    Q = fma(Q, a, cq[2])
    Q = fma(Q, a, cq[1])
    Q = fma(Q, a, cq[0])
    w = ((a - _GD_R0HI_F) - _GD_R0LO_F) * (_GD_C_F + P / Q)
    # 1 + e w or -e w, each rounded once (NaN: the second)
    pos = x >= _F(0.0)
    return fma(e if pos else -e, w, _ONE_F if pos else _F(0.0))


# GELU, tanh form: x sigmoid(z), z = 2 sqrt(2/pi) (x + 0.044715 x^3). In the      #
# negative tail sigmoid(z) ~ e^z with |z| up to 104, so a float32 z (three        #
# roundings) would cost |z| * 1.5 ulp; z is formed in float64 (x is exact there)  #
# and split into float32 hi + lo for an exp that takes both. Both signs from     #
# E = 2^64 e^(-|z|):  sigmoid(z) = E/(2^64 + E) (z < 0), 2^64/(2^64 + E) (z >= 0). #
# --------------------------------------------------------------------------- #
_GT_K1_D = 1.5957691216057308  # 2 sqrt(2/pi)
_GT_K3_D = 1.5957691216057308 * 0.044715


@njit(**_J)
def _exp_hl_f32(h, lo):
    wide_vectors()
    # 2^64 e^(h + lo) for -120 <= h <= 0, |lo| <= ulp(h)
    vn, r = _reduce64_f32(h)
    p = _exp_poly_f32(r + lo)
    return _i32_as_f32(np.int32(_f32_as_i32(p) + (_f32_as_i32(vn) << np.int32(23))))


@njit(**_J)
def _gelu_tanh_z_f32(x):
    # (E, xc): E = 2^64 e^(-|z|), z = xc (K1 + K3 xc^2) in float64, xc = x clamped to
    # [-11, 20] (NaN passes): below, the results are 0; above, y = x and y' = 1
    xc = _F(-11.0) if x < _F(-11.0) else x
    xc = _F(20.0) if xc > _F(20.0) else xc
    xd = np.float64(xc)
    z = xd * (_GT_K1_D + _GT_K3_D * (xd * xd))
    za = -abs(z)
    za = -120.0 if za < -120.0 else za  # 2^64 e^-120 is still normal
    h = np.float32(za)
    lo = np.float32(za - np.float64(h))
    return _exp_hl_f32(h, lo), xc


@njit(**_J)
def _gelu_tanh_f32(x):
    # x < 0: x E / (2^64 + E);  x >= 0: x / (1 + 2^-64 E)
    E, xc = _gelu_tanh_z_f32(x)
    neg = x < _F(0.0)
    num = xc * E if neg else x
    den = _TWO64_F + E if neg else fma(E, _F(2.0**-64), _ONE_F)
    return num / den


# The derivative's factor F(x) = 1 + x z' (1 - s) has its zero at r0 = -0.75246;
# evaluated as written it cancels there (8.8e4 ulp at the float32 next to r0, 87 at
# 0.01 from it). On [-2, -0.4] it is taken as F = d R(d), d = x - r0 (x - r0hi is exact
# for x in [-1.5, -0.38], Sterbenz; one rounding for r0lo), R a degree-8 polynomial
# (relative least squares against mpmath, 5.6e-9; 9.6e-8 with float32 Horner), so F keeps
# its relative accuracy up to the zero. Outside, |x z' (1 - s)| / |F| <= 1.3.
_GTD_R0HI_F = _F(-0.75246143)
_GTD_R0LO_F = _F(1.1339628e-08)
_GTD_LO_F = _F(-2.0)
_GTD_HI_F = _F(-0.4)
_GTD_R_F = tuple(_F(c) for c in (
    1.9045990705490112, -0.8163185715675354, 0.061604633927345276, 0.002323162741959095,
    0.010214276611804962, -0.0017502002883702517, -0.0008938962710089982,
    0.00034116391907446086, 0.00012880971189588308,
))  # fmt: skip


@njit(**_J)
def _gelu_tanh_deriv_f32(x):
    # s + x z' s (1 - s) = s F, F = 1 + x z' (1 - s), z' = K1 + 3 K3 x^2; with
    # D = 2^64 + E, s = E/D (x < 0) or 2^64/D, 1 - s the other. s's numerator times F,
    # then / D, so that a subnormal result is rounded once. Near F's zero, F = d R(d).
    E, xc = _gelu_tanh_z_f32(x)
    D = _TWO64_F + E
    neg = x < _F(0.0)
    zp = fma(_F(3.0 * _GT_K3_D), xc * xc, _F(_GT_K1_D))
    oms = (_TWO64_F if neg else E) / D
    f = fma(xc * zp, oms, _ONE_F)
    d = (xc - _GTD_R0HI_F) - _GTD_R0LO_F
    c = _GTD_R_F
    r = c[8]
    r = fma(r, d, c[7])
    r = fma(r, d, c[6])
    r = fma(r, d, c[5])
    r = fma(r, d, c[4])
    r = fma(r, d, c[3])
    r = fma(r, d, c[2])
    r = fma(r, d, c[1])
    r = fma(r, d, c[0])
    near = (xc > _GTD_LO_F) & (xc < _GTD_HI_F)
    f = d * r if near else f
    return ((E if neg else _TWO64_F) * f) / D


# float64 GELU: x erfc(z)/2 with z = -x/sqrt 2. Rounding z costs erfc a relative
# error of about 2 z^2 ulp (85 ulp at x = -9, 1500 at x = -38), so z is carried as
# zh + zl (zl from an fma and the tail of 1/sqrt 2) and erfc(zh + zl) =
# erfc(zh) - zl 2/sqrt(pi) e^(-zh^2) (the next term is below 1e-30 relative).
# The derivative's x phi(x) takes x^2 as hi + lo the same way. The derivative's
# zero at x = -0.7518 still cancels (0.23 - 0.23): up to ~600 ulp within 1e-13 of it.
_RSQRT2_HI_D = 0.7071067811865476
_RSQRT2_LO_D = -4.833646656726457e-17
_TWO_RSQRTPI_D = 1.1283791670955126
# libmvec's exp where present (an intrinsic: inlining the module's exp here trips a
# Numba IR check), else the module's
_exp_d = _mvec.vcall_exp if _mvec.HAVE_LIBMVEC else _exp_f64


@njit(**_J)
def _erfc_neg_scaled_f64(x):
    # erfc(-x / sqrt 2) with the rounding of -x / sqrt 2 corrected to first order
    xc = x if abs(x) < 64.0 else 0.0  # beyond, erfc is 0 or 2 (and no inf - inf)
    zh = -x * _RSQRT2_HI_D
    zhc = -xc * _RSQRT2_HI_D
    zl = fma(-xc, _RSQRT2_HI_D, -zhc) - xc * _RSQRT2_LO_D
    return erfc(zh) - zl * (_TWO_RSQRTPI_D * _exp_d(-zhc * zhc))


@njit(**_J)
def _gelu_erf_f64(x):
    wide_vectors()
    y = 0.5 * x * _erfc_neg_scaled_f64(x)
    return y if abs(x) != INF else (x if x > 0.0 else 0.0)


@njit(**_J)
def _gelu_erf_deriv_f64(x):
    wide_vectors()
    xc = x if abs(x) < 64.0 else 0.0  # beyond, x phi(x) is 0
    hi = xc * xc
    lo = fma(xc, xc, -hi)
    e = _exp_d(-0.5 * hi)
    pdf = 0.3989422804014327 * (e - 0.5 * lo * e)
    return 0.5 * _erfc_neg_scaled_f64(x) + xc * pdf


# --------------------------------------------------------------------------- #
# Public entry points: Python fallbacks plus overloads choosing by float type. #
# --------------------------------------------------------------------------- #


def _dispatch(py, f32, f64):
    """Make ``py`` callable from compiled code, using ``f32``/``f64`` by argument type."""

    @overload(py, inline="always")
    def _ol(x):
        if x == types.float32:
            return lambda x: f32(x)
        if x == types.float64:
            return lambda x: f64(x)
        if isinstance(x, (types.Integer, types.Float)):
            return lambda x: f64(np.float64(x))
        raise TypingError(f"{py.__name__}(): unsupported type {x}")

    return py


@njit(**_J)
def _key_f32(v):
    b = _f32_as_i32(v)
    return np.int32(b ^ ((b >> np.int32(31)) & np.int32(0x7FFFFFFF)))


@njit(**_J)
def _key_f64(v):
    b = _f64_as_i64(v)
    return np.int64(b ^ ((b >> np.int64(63)) & np.int64(0x7FFFFFFFFFFFFFFF)))


def order_key(v):
    """An integer (int32 / int64) image of a float, monotone in its value:
    ``bits ^ ((bits >> (w - 1)) & (2^(w-1) - 1))``. Integer max reductions
    vectorize without fast-math; a NaN with the sign bit clear sorts above +inf,
    with it set below -inf. :func:`from_order_key` inverts it."""
    raise NotImplementedError  # compiled code only


def from_order_key(k):
    """The float whose :func:`order_key` is ``k`` (the map is its own inverse)."""
    raise NotImplementedError  # compiled code only


@overload(order_key, inline="always")
def _ol_order_key(v):
    if v == types.float32:
        return lambda v: _key_f32(v)
    if v == types.float64:
        return lambda v: _key_f64(v)
    raise TypingError(f"order_key(): unsupported type {v}")


@overload(from_order_key, inline="always")
def _ol_from_order_key(k):
    if k == types.int32:
        return lambda k: _i32_as_f32(np.int32(k ^ ((k >> np.int32(31)) & np.int32(0x7FFFFFFF))))
    if k == types.int64:
        return lambda k: _i64_as_f64(
            np.int64(k ^ ((k >> np.int64(63)) & np.int64(0x7FFFFFFFFFFFFFFF)))
        )
    raise TypingError(f"from_order_key(): unsupported type {k}")


def exp(x):
    """e**x (inf -> inf, -inf -> 0, NaN -> NaN; subnormal results rounded once)."""
    return math.exp(x)


def expm1(x):
    """e**x - 1, accurate near 0."""
    return math.expm1(x)


def log1p(x):
    """log(1 + x), accurate near 0; -inf at -1, NaN below."""
    return math.log1p(x)


def tanh(x):
    """Hyperbolic tangent (exactly +-1 at +-inf)."""
    return math.tanh(x)


def erfc(x):
    """Complementary error function 1 - erf(x), accurate for large x."""
    return math.erfc(x)


def erf(x):
    """Error function."""
    return math.erf(x)


_dispatch(exp, _exp_f32, _exp_f64)
_dispatch(expm1, _expm1_f32, _expm1_f64)
_dispatch(log1p, _log1p_f32, _log1p_f64)
# (libmvec's tanhf is faster, 0.62 against 0.86 ns per element, but the vector and the
# scalar libm tanhf differ in the last bit, so a result would depend on where an
# element falls in the loop: the remainder iterations call the scalar one)
_dispatch(tanh, _tanh_f32, _tanh_f64)


def log1pexp(x):
    """log(1 + e**x) = max(x, 0) + log1p(e**-|x|): the core of softplus and log-sigmoid."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


# log(1 + e^x) = max(x, 0) + log1p(t), t = e^-|x| in (0, 1], without a second      #
# transcendental call: t < 1/2 gives f = t, t >= 1/2 gives f = (t - 1) / 2 (exact, #
# Sterbenz) and log1p(t) = ln 2 + log1p(f), so f lies in [-1/4, 1/2) exactly and   #
# log1p(f) needs no correction for a rounded 1 + t.                               #
# float32: log1p(f) = f + f^2 (-1/2 + f P(f)), P of degree 8 (weighted minimax on  #
# [-1/4, 1/2], 0.04 ulp), no division; t = 2^-64 E from _exp64_neg_f32 (one        #
# rounding into the subnormal range). float64: fdlibm's s = f / (2 + f) series.    #
# --------------------------------------------------------------------------- #
_L1P_P_F = tuple(_F(c) for c in (
    0.3333333730697632, -0.2500016689300537, 0.19999843835830688, -0.16655564308166504,
    0.1427052915096283, -0.12714794278144836, 0.11735878884792328, -0.09252528101205826,
    0.038806408643722534,
))  # fmt: skip
_TWO_M64_F = _F(2.0**-64)


@njit(**_J)
def _log1p_unit_f32(t):
    # log1p(t) for t in [0, 1] (NaN passes): f = t or (t - 1) / 2, see above
    big = t >= _HALF_F
    f = (t - _ONE_F) * _HALF_F if big else t
    c = _L1P_P_F
    p = c[8]
    p = fma(p, f, c[7])
    p = fma(p, f, c[6])
    p = fma(p, f, c[5])
    p = fma(p, f, c[4])
    p = fma(p, f, c[3])
    p = fma(p, f, c[2])
    p = fma(p, f, c[1])
    p = fma(p, f, c[0])
    q = fma(p, f, -_HALF_F)
    lg = fma(f * f, q, f)
    kh = _LN2HI_F if big else _F(0.0)
    kl = _LN2LO_F if big else _F(0.0)
    return kh + (lg + kl)


@njit(**_J)
def _log1pexp_f32(x):
    # |x| clamped at 120 (t = 2^-64 E underflows to 0 beyond; NaN passes, and is
    # selected back at the end: its payload would reach E's exponent field)
    wide_vectors()
    y = _log1p_unit_f32(_exp64_neg_abs_f32(x) * _TWO_M64_F)
    y = y + (x if x > _F(0.0) else _F(0.0))
    return y if x == x else x


@njit(**_J)
def _log1p_unit_f64(t):
    # log1p(t) for t in [0, 1] (NaN passes): f = t or (t - 1) / 2, see above; one
    # division (log1p's general path has two, and the exponent split)
    big = t >= 0.5
    f = (t - 1.0) * 0.5 if big else t
    lg = _log1p_reduced_f64(f)
    kh = _LN2HI_D if big else 0.0
    kl = _LN2LO_D if big else 0.0
    return kh + (lg + kl)


@njit(**_J)
def _log1pexp_f64(x):
    wide_vectors()
    y = _log1p_unit_f64(exp(-abs(x)))
    return y + (x if x > 0.0 else 0.0)


# (libmvec's expf/log1pf composed took 0.8 ns per float32 element where the pair of
# this module's exp and log1p took 1.4: the fused functions above replace both)
_dispatch(log1pexp, _log1pexp_f32, _log1pexp_f64)


def log1p_unit(t):
    """log(1 + t) for t in [0, 1], such as t = e**-|x| (NaN passes): the reduction of
    :func:`log1pexp` (no rounded 1 + t to correct, one division for float64)."""
    return math.log1p(t)


_dispatch(log1p_unit, _log1p_unit_f32, _log1p_unit_f64)
if _mvec.HAVE_LIBMVEC:

    @njit(**_J)
    def _erfc_f32_mvec(x):
        wide_vectors()
        return _mvec.vcall_erfc(x)

    @njit(**_J)
    def _erfc_f64_mvec(x):
        wide_vectors()
        return _mvec.vcall_erfc(x)

    _dispatch(erfc, _erfc_f32_mvec, _erfc_f64_mvec)
else:
    _dispatch(erfc, _erfc_f32, _erfc_f64)


@njit(**_J)
def _erf_libm(x):
    # erf has no kernel user yet: libm (scalar), accurate near 0 where 1 - erfc is not
    return math.erf(x)


_dispatch(erf, _erf_libm, _erf_libm)


@njit(**_J)
def log(x):
    """Natural logarithm (libm)."""
    return math.log(x)


@njit(**_J)
def isnan(x):
    return x != x


@njit(**_J)
def isinf(x):
    return abs(x) == INF


def sigmoid(x):
    """1 / (1 + exp(-x)): exact limits 0 and 1 at -inf and +inf."""
    e = math.exp(-abs(x))
    return (1.0 if x >= 0 else e) / (1.0 + e)


@njit(**_J)
def _sigmoid_f32(x):
    # E = 2^64 e^(-|x|) (|x| clamped at 120: 0 or 1 beyond, NaN passes):
    # E / (2^64 + E) for x < 0, 2^64 / (2^64 + E) otherwise. One division and no
    # overflow or underflow handling: E stays normal, and a subnormal sigmoid(x)
    # (x < -87.3) is the quotient rounded once
    E = _exp64_neg_abs_f32(x)
    y = (E if x < _F(0.0) else _TWO64_F) / (_TWO64_F + E)
    return y if x == x else x  # (a NaN payload would reach E's exponent field)


@njit(**_J)
def _sigmoid_f64(x):
    # e / (1 + e) or 1 / (1 + e), e = exp(-|x|): 1 / (1 + exp(-x)) overflowed to 0
    # below x = -709.8, where sigmoid(x) = e^x is still a subnormal double
    e = exp(-abs(x))
    return (e if x < 0.0 else 1.0) / (1.0 + e)


_dispatch(sigmoid, _sigmoid_f32, _sigmoid_f64)


def sigmoid_deriv(x):
    """d/dx sigmoid(x) = s (1 - s) = e / (1 + e)^2 = e / (1 + e (e + 2)), e = exp(-|x|)
    (no cancellation at either end; the square as one multiply-add)."""
    e = math.exp(-abs(x))
    return e / (1.0 + e * (e + 2.0))


def tanh_deriv(x):
    """d/dx tanh(x) = 1 - tanh(x)^2 = 4 e / (1 + e)^2, e = exp(-2|x|) (no cancellation)."""
    e = math.exp(-2.0 * abs(x))
    return 4.0 * e / (1.0 + e * (e + 2.0))


# float32: E = 2^64 e (|x| clamped where the result is 0: 120 for sigmoid', 60 for tanh'),
# (1 + e)^2 = fma(e, e + 2, 1) with e = 2^-64 E, and the quotient E / (1 + e)^2 scaled by
# 2^-64 at the end (one rounding into the subnormal tail): one exp (no overflow or
# underflow handling) and one division; 2.3 ulp over every 61st float32 (3.9 for
# e / (d * d) with the general exp)
@njit(**_J)
def _sigmoid_deriv_f32(x):
    a = abs(x)
    a = _F(120.0) if a > _F(120.0) else a  # NaN passes
    E = _exp64_neg_f32(-a)
    e = E * _TWO_M64_F
    y = (E / fma(e, e + _F(2.0), _ONE_F)) * _TWO_M64_F
    return y if x == x else x  # (a NaN payload would reach E's exponent field)


@njit(**_J)
def _sigmoid_deriv_f64(x):
    e = exp(-abs(x))
    return e / fma(e, e + 2.0, 1.0)


@njit(**_J)
def _tanh_deriv_f32(x):
    a = abs(x)
    a = _F(60.0) if a > _F(60.0) else a
    E = _exp64_neg_f32(_F(-2.0) * a)
    e = E * _TWO_M64_F
    y = ((_F(4.0) * E) / fma(e, e + _F(2.0), _ONE_F)) * _TWO_M64_F
    return y if x == x else x


@njit(**_J)
def _tanh_deriv_f64(x):
    e = exp(-2.0 * abs(x))
    return 4.0 * e / fma(e, e + 2.0, 1.0)


_dispatch(sigmoid_deriv, _sigmoid_deriv_f32, _sigmoid_deriv_f64)
_dispatch(tanh_deriv, _tanh_deriv_f32, _tanh_deriv_f64)


def silu_deriv(u, a, x):
    """d/du u sigmoid(u) = s (1 + u (1 - s)), s = sigmoid(u), at u = a x (finite u; the
    swish derivative). u is a x as rounded; float32 adds its rounding error fma(a, x, -u)
    near the zero, where it would otherwise be amplified (a and x in u's type)."""
    e = math.exp(-abs(u))
    r = 1.0 / (1.0 + e)
    s, oms = (r, e * r) if u >= 0 else (e * r, r)
    return s * (1.0 + u * oms)


# The factor F(u) = 1 + u (1 - s) vanishes at u0 = -1.27846454276107 (silu's minimum),
# where 1 + u (1 - s) cancels (3e6 ulp in float32). On (-1.8, -0.75) float32 uses
# F = (u - u0) R(u - u0), u0 as hi + lo, R of degree 5 (Lawson minimax of the relative
# error against mpmath; F within 2.3 ulp there); F'(u0) = 1 exactly, so R(0) = 1.
# Degree 8 on (-2.2, -0.4) was as accurate and 3 fmas slower.
_SD_U0HI_F = _F(-1.2784645557403564)
_SD_U0LO_F = _F(1.2979282537628478e-08)
_SD_R_F = tuple(_F(c) for c in (
    1.0, -0.10890615731477737, -0.04888216406106949, -0.0047106207348406315,
    0.0030356498900800943, 0.0010483535006642342,
))  # fmt: skip


@njit(**_J)
def _silu_deriv_f32(u, beta, x):
    # one exp and one division, inline: E = 2^64 e^-|u| (|u| clamped at 120, as in
    # _sigmoid_f32), v = 1 / (2^64 + E) (sum and quotient rounded); r = 2^64 v and
    # e r = E v give s and 1 - s without cancellation (swapped for u < 0); F by one
    # fma, or (u - u0) R near u0. NaN is selected back (its payload would reach E)
    wide_vectors()
    E = _exp64_neg_abs_f32(u)
    v = _ONE_F / (_TWO64_F + E)
    r = v * _TWO64_F
    er = E * v
    s = r if u >= _F(0.0) else er
    oms = er if u >= _F(0.0) else r
    f = fma(u, oms, _ONE_F)
    # u - u0 with beta x's rounding error (u = beta x rounded; 0 for beta = 1; u - hi
    # is exact in the window)
    d = (u - _SD_U0HI_F) + (fma(beta, x, -u) - _SD_U0LO_F)
    c = _SD_R_F
    q = c[5]
    q = fma(q, d, c[4])
    q = fma(q, d, c[3])
    q = fma(q, d, c[2])
    q = fma(q, d, c[1])
    q = fma(q, d, c[0])
    # u in (-1.8, -0.75) by one compare (a short-circuit `and` blocks if-conversion)
    f = d * q if abs(u + _F(1.275)) < _F(0.525) else f
    y = s * f
    return y if u == u else u


@njit(**_J)
def _silu_deriv_f64(u):
    e = exp(-abs(u))
    r = 1.0 / (1.0 + e)
    er = e * r
    s = r if u >= 0.0 else er
    oms = er if u >= 0.0 else r
    return s * (1.0 + u * oms)


@overload(silu_deriv, inline="always")
def _ol_silu_deriv(u, a, x):
    if u == types.float32:
        return lambda u, a, x: _silu_deriv_f32(u, a, x)
    if u == types.float64:
        return lambda u, a, x: _silu_deriv_f64(u)
    raise TypingError(f"silu_deriv(): unsupported type {u}")


def mish_deriv(x):
    """d/dx x tanh(softplus(x)) = t + x (1 - t^2) sigmoid(x), t = tanh(softplus(x)).

    With m = e^-|x| it is one quotient, exact algebra (t = n / (n + 2), n = e (e + 2),
    e = e^x): x < 0: m S / k^2, S = (m + 2) k + 4 x (1 + m), k = m^2 + 2 m + 2;
    x >= 0: S' / k'^2, S' = (1 + 2 m) k' + 4 x m^2 (1 + m), k' = 2 m^2 + 2 m + 1
    (no overflow at either end: 1 at +inf, 0 at -inf; x is clamped to +-800 in the
    4 x term, which is then 0 * finite rather than 0 * inf)."""
    m = math.exp(-abs(x))
    xc = min(max(x, -800.0), 800.0)  # (4 x would overflow, 0 * inf; the term is 0 there)
    if x < 0:
        k = m * m + 2.0 * m + 2.0
        return m * ((m + 2.0) * k + 4.0 * xc * (1.0 + m)) / (k * k)
    k = 2.0 * m * m + 2.0 * m + 1.0
    return ((1.0 + 2.0 * m) * k + 4.0 * xc * m * m * (1.0 + m)) / (k * k)


# mish'(x) vanishes at x0 = -1.19243121451550, where S cancels (1.6e5 ulp in float32).
# On (-2.1, -0.7) float32 uses mish' = (x - x0) R(x - x0), x0 as hi + lo, R of degree 8
# (Lawson minimax of the relative error against mpmath, 0.28 ulp); the quotient's
# cancellation reaches 7 ulp at x = -1.75, hence the wider left side.
_MD_X0HI_F = _F(-1.1924312114715576)
_MD_X0LO_F = _F(-3.0439375464652585e-09)
_MD_R_F = tuple(_F(c) for c in (
    0.2669479250907898, 0.2047313153743744, 0.041907597333192825,
    -0.020273476839065552, -0.015819072723388672, -0.0033451945055276155,
    0.0010930070420727134, 0.0009390150662511587, 0.00021734739129897207,
))  # fmt: skip


@njit(**_J)
def _mish_deriv_f32(x):
    # E = 2^64 m (|x| clamped at 120, as in _sigmoid_f32). S and k^2 expanded in m,
    # with A = 4 + 4x and B = 6 + 4x (each one rounding; x clamped to +-120):
    #   x < 0:  S = ((m + 4) m + B) m + A,  k^2 = (((m + 4) m + 8) m + 8) m + 4,
    #           mish' = E S / k^2 scaled by 2^-64 at the end (one rounding into the
    #           subnormal tail)
    #   x >= 0: S = ((A m + B) m + 4) m + 1,  k^2 = (((4 m + 8) m + 8) m + 4) m + 1
    # Horner in m <= 1 damps the roundings of the higher terms: 7.9 -> 3.x ulp for
    # x < -2 (S and k^2 had been formed from rounded factors). One exp, one division.
    # NaN is selected back (its payload would reach E)
    wide_vectors()
    E = _exp64_neg_abs_f32(x)
    m = E * _TWO_M64_F
    neg = x < _F(0.0)
    xc = x if x > _F(-120.0) else _F(-120.0)
    xc = _F(120.0) if xc > _F(120.0) else xc
    A = fma(_F(4.0), xc, _F(4.0))
    B = fma(_F(4.0), xc, _F(6.0))
    S = fma(_ONE_F if neg else A, m, _F(4.0) if neg else B)
    S = fma(S, m, B if neg else _F(4.0))
    S = fma(S, m, A if neg else _ONE_F)
    K = fma(_ONE_F if neg else _F(4.0), m, _F(4.0) if neg else _F(8.0))
    K = fma(K, m, _F(8.0))
    K = fma(K, m, _F(8.0) if neg else _F(4.0))
    K = fma(K, m, _F(4.0) if neg else _ONE_F)
    num = E * S if neg else S
    y = num / K
    y = y * _TWO_M64_F if neg else y
    d = (x - _MD_X0HI_F) - _MD_X0LO_F
    r = _MD_R_F
    q = r[8]
    q = fma(q, d, r[7])
    q = fma(q, d, r[6])
    q = fma(q, d, r[5])
    q = fma(q, d, r[4])
    q = fma(q, d, r[3])
    q = fma(q, d, r[2])
    q = fma(q, d, r[1])
    q = fma(q, d, r[0])
    # x in (-2.1, -0.7) by one compare (a short-circuit `and` blocks if-conversion)
    y = d * q if abs(x + _F(1.4)) < _F(0.7) else y
    return y if x == x else x


@njit(**_J)
def _mish_deriv_f64(x):
    m = exp(-abs(x))
    neg = x < 0.0
    xc = x if x > -800.0 else -800.0  # (4 x would overflow: 0 * inf at x = -1e308)
    xc = 800.0 if xc > 800.0 else xc
    k = m * (m + 2.0) + 2.0 if neg else 2.0 * m * (m + 1.0) + 1.0
    c = 4.0 * xc * (1.0 + m)
    c = c if neg else c * (m * m)
    S = (m + 2.0 if neg else 1.0 + 2.0 * m) * k + c
    y = (m * S if neg else S) / (k * k)
    return y


_dispatch(mish_deriv, _mish_deriv_f32, _mish_deriv_f64)


def gelu_erf(x):
    """x Phi(x) = x erfc(-x / sqrt 2) / 2 (GELU, erf form); float32 within 6 ulp everywhere."""
    return 0.5 * x * math.erfc(-x / math.sqrt(2.0))


def gelu_erf_deriv(x):
    """Phi(x) + x phi(x): the derivative of :func:`gelu_erf`."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0)) + x * math.exp(-0.5 * x * x) / math.sqrt(
        2.0 * math.pi
    )


_dispatch(gelu_erf, _gelu_erf_f32, _gelu_erf_f64)
_dispatch(gelu_erf_deriv, _gelu_erf_deriv_f32, _gelu_erf_deriv_f64)


def gelu_tanh(x):
    """x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)) (GELU, tanh form)."""
    z = 2.0 * math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
    return x / (1.0 + math.exp(-z)) if z > -700 else 0.0


def gelu_tanh_deriv(x):
    """The derivative of :func:`gelu_tanh`."""
    k = 2.0 * math.sqrt(2.0 / math.pi)
    z = k * (x + 0.044715 * x**3)
    s = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
    return s + x * s * (1.0 - s) * k * (1.0 + 3 * 0.044715 * x * x)


@njit(**_J)
def _gelu_tanh_f64(x):
    # x sigmoid(z) with sigmoid from e = exp(-|z|) (no overflow)
    z = 1.5957691216057308 * (x + 0.044715 * x * x * x)
    e = exp(-abs(z))
    y = x * ((e if z < 0.0 else 1.0) / (1.0 + e))
    return y if abs(x) != INF else (x if x > 0.0 else 0.0)


@njit(**_J)
def _gelu_tanh_deriv_f64(x):
    z = 1.5957691216057308 * (x + 0.044715 * x * x * x)
    e = exp(-abs(z))
    r = 1.0 / (1.0 + e)
    s = e * r if z < 0.0 else r
    oms = r if z < 0.0 else e * r
    zp = 1.5957691216057308 * (1.0 + 3.0 * 0.044715 * x * x)
    d = s * (1.0 + x * zp * oms)
    big = abs(x) >= 1e6  # False for NaN
    return d if not big else (1.0 if x > 0.0 else 0.0)


_dispatch(gelu_tanh, _gelu_tanh_f32, _gelu_tanh_f64)
_dispatch(gelu_tanh_deriv, _gelu_tanh_deriv_f32, _gelu_tanh_deriv_f64)
