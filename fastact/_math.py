"""Scalar math used by every compiled kernel.

Every transcendental function a kernel needs (``exp``, ``expm1``, ``log1p``,
``tanh``, ``erf``, ``erfc``) is called through this module, so that accuracy and
speed are decided in one place. The functions are written so that they work:

* in plain Python on Python/NumPy scalars (used by the code generator's tests),
* inside Numba ``@njit`` and ``@cuda.jit`` kernels (they are compiled with
  ``inline="always"``), where ``math.exp`` on a float32 lowers to ``expf``.

``like(v, x)`` returns the constant ``v`` in the floating type of ``x``, so that a
float32 kernel is not silently promoted to float64 by a Python float literal.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.core.errors import TypingError
from numba.extending import overload
from numba.np.numpy_support import as_dtype

INF = math.inf

#: Fast-math flags every kernel may use: no ``nnan``/``ninf`` (they would break
#: NaN propagation and -inf masking).
FASTMATH = frozenset({"contract", "afn", "arcp", "nsz", "reassoc"})
#: Flags without ``afn`` (approximate functions) and ``reassoc``, for kernels whose
#: accuracy tests are tight (row reductions keep a deterministic order).
FASTMATH_STRICT = frozenset({"contract", "nsz"})


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


@njit(inline="always", error_model="numpy")
def exp(x):
    """e**x (inf -> inf, -inf -> 0, NaN -> NaN)."""
    return math.exp(x)


@njit(inline="always", error_model="numpy")
def expm1(x):
    """e**x - 1, accurate near 0."""
    return math.expm1(x)


@njit(inline="always", error_model="numpy")
def log(x):
    """Natural logarithm."""
    return math.log(x)


@njit(inline="always", error_model="numpy")
def log1p(x):
    """log(1 + x), accurate near 0."""
    return math.log1p(x)


@njit(inline="always", error_model="numpy")
def tanh(x):
    """Hyperbolic tangent (saturates to +-1)."""
    return math.tanh(x)


@njit(inline="always", error_model="numpy")
def erf(x):
    """Error function."""
    return math.erf(x)


@njit(inline="always", error_model="numpy")
def erfc(x):
    """Complementary error function 1 - erf(x), accurate for large x."""
    return math.erfc(x)


@njit(inline="always", error_model="numpy")
def isnan(x):
    return x != x


@njit(inline="always", error_model="numpy")
def isinf(x):
    return abs(x) == INF


@njit(inline="always", error_model="numpy")
def sigmoid(x):
    """1 / (1 + e**-x): exact limits 0 and 1 at -inf and +inf."""
    return like(1.0, x) / (like(1.0, x) + exp(-x))
