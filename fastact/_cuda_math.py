"""Device-side math for the CUDA kernels (the GPU twin of :mod:`fastact._math`).

The same names as the CPU math module, so that the table's scalar functions
compile unchanged for the GPU: here ``math.exp`` and friends lower to libdevice
(``__nv_expf``...), which is what a GPU kernel should call. ``like`` is the
math module's overload (registered for every target).
"""

from __future__ import annotations

import math

import numpy as np
from numba import config, cuda

from fastact._math import like

INF = math.inf
#: Under the simulator device functions run as Python: NumPy's ufuncs give IEEE
#: results (inf, NaN) where ``math`` would raise OverflowError / ValueError.
_M = np if config.ENABLE_CUDASIM else math  # type: ignore[attr-defined]

__all__ = [
    "INF", "erfc", "exp", "expm1", "gelu_erf", "gelu_erf_deriv", "gelu_tanh",
    "gelu_tanh_deriv", "isinf", "isnan", "like",
    "log1p", "log1pexp", "mish_deriv", "sigmoid", "sigmoid_deriv", "silu_deriv", "tanh",
    "tanh_deriv",
]  # fmt: skip


@cuda.jit(device=True)
def exp(x):
    return _M.exp(x)


@cuda.jit(device=True)
def expm1(x):
    return _M.expm1(x)


@cuda.jit(device=True)
def log1p(x):
    return _M.log1p(x)


@cuda.jit(device=True)
def tanh(x):
    return _M.tanh(x)


@cuda.jit(device=True)
def erfc(x):
    return math.erfc(x)  # never overflows


@cuda.jit(device=True)
def isnan(x):
    return x != x


@cuda.jit(device=True)
def isinf(x):
    return abs(x) == INF


@cuda.jit(device=True)
def sigmoid(x):
    # 1 / (1 + exp(-x)): exact limits 0 and 1 at -inf and +inf
    return like(1.0, x) / (like(1.0, x) + _M.exp(-x))


@cuda.jit(device=True)
def sigmoid_deriv(x):
    # s (1 - s) = e / (1 + e)^2, e = exp(-|x|) (no cancellation at either end)
    e = _M.exp(-abs(x))
    d = like(1.0, x) + e
    return e / (d * d)


@cuda.jit(device=True)
def tanh_deriv(x):
    # 1 - tanh^2 = 4 e / (1 + e)^2, e = exp(-2|x|)
    e = _M.exp(like(-2.0, x) * abs(x))
    d = like(1.0, x) + e
    return like(4.0, x) * e / (d * d)


@cuda.jit(device=True)
def silu_deriv(u, a, x):
    # d/du u sigmoid(u) = s (1 + u (1 - s)) at u = a x; e = exp(-|u|), r = 1 / (1 + e)
    # give s, 1 - s (the plain formula: a and x, for the CPU's float32 correction, unused)
    e = _M.exp(-abs(u))
    r = like(1.0, u) / (like(1.0, u) + e)
    er = e * r
    s = r if u >= 0 else er
    oms = er if u >= 0 else r
    return s * (like(1.0, u) + u * oms)


@cuda.jit(device=True)
def mish_deriv(x):
    # d/dx x tanh(softplus(x)) as one quotient in m = e^-|x| (see fastact._math.mish_deriv)
    m = _M.exp(-abs(x))
    one = like(1.0, x)
    two = like(2.0, x)
    # x clamped to +-800 in the 4 x term (0 * finite there, not 0 * inf)
    xc = x if x > like(-800.0, x) else like(-800.0, x)
    xc = like(800.0, x) if xc > like(800.0, x) else xc
    if x < 0:
        k = m * (m + two) + two
        return m * ((m + two) * k + like(4.0, x) * xc * (one + m)) / (k * k)
    k = two * m * (m + one) + one
    return ((one + two * m) * k + like(4.0, x) * xc * (m * m) * (one + m)) / (k * k)


@cuda.jit(device=True)
def log1pexp(x):
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
    return _M.log1p(_M.exp(-abs(x))) + (x if x > 0 else like(0.0, x))


@cuda.jit(device=True)
def gelu_erf(x):
    # x Phi(x) = x erfc(-x / sqrt 2) / 2; limits x at +inf and 0 at -inf
    y = like(0.5, x) * x * math.erfc(-x * like(0.7071067811865476, x))
    return y if abs(x) != INF else (x if x > 0 else like(0.0, x))


@cuda.jit(device=True)
def gelu_erf_deriv(x):
    # Phi(x) + x phi(x); limits 1 at +inf and 0 at -inf
    cdf = like(0.5, x) * math.erfc(-x * like(0.7071067811865476, x))
    d = cdf + x * (like(0.3989422804014327, x) * _M.exp(like(-0.5, x) * x * x))
    return d if abs(x) != INF else (like(1.0, x) if x > 0 else like(0.0, x))


@cuda.jit(device=True)
def gelu_tanh(x):
    # x sigmoid(z), z = 2 sqrt(2/pi) (x + 0.044715 x^3), sigmoid from e = exp(-|z|)
    z = like(1.5957691216057308, x) * (x + like(0.044715, x) * x * x * x)
    e = _M.exp(-abs(z))
    y = x * ((e if z < 0 else like(1.0, x)) / (like(1.0, x) + e))
    return y if abs(x) != INF else (x if x > 0 else like(0.0, x))


@cuda.jit(device=True)
def gelu_tanh_deriv(x):
    # s (1 + x z' (1 - s)), s = sigmoid(z), z' = 2 sqrt(2/pi) (1 + 3 0.044715 x^2)
    z = like(1.5957691216057308, x) * (x + like(0.044715, x) * x * x * x)
    e = _M.exp(-abs(z))
    r = like(1.0, x) / (like(1.0, x) + e)
    s = e * r if z < 0 else r
    oms = r if z < 0 else e * r
    zp = like(1.5957691216057308, x) * (like(1.0, x) + like(0.134145, x) * x * x)
    d = s * (like(1.0, x) + x * zp * oms)
    big = abs(x) >= like(1e6, x)  # False for NaN
    return d if not big else (like(1.0, x) if x > 0 else like(0.0, x))
