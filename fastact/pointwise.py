"""Per-element formulas of the kernels outside the activation table, written once.

The BCE-with-logits and MSE element and gradient, the maxout scan rule, the
SplitMix64 uniform and the RReLU slope drawn from it, and the row-shift rules of
the softmax family. Each is a function in the restricted style of
:mod:`fastact.table`: straight-line float64 arithmetic, math through ``_p.``
(``exp``, ``log1p_unit`` (log1p of t in [0, 1]), ``select(cond, a, b)``
in place of ``if``, ``mul_add``, ``u64``, ``to_f64``), no loops and no early returns.
``python -m fastact._codegen`` compiles them into every backend:

* Numba CPU: ``kernels/numba_pointwise.py`` (``@njit(inline="always")``),
* Numba CUDA: ``kernels/cuda_pointwise.py`` (``@cuda.jit(device=True)``),
* Cython: ``kernels/_cy_pointwise.pxi`` (``cdef inline``; the annotations give the C
  types: ``F64`` double, ``U64`` uint64_t, ``Bool`` bint; unannotated locals are double),

and the NumPy backend evaluates them here on whole arrays (``_p`` is NumPy below).
The hand-written kernels around them (loops, reductions, threads) call them by name.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, TypeAlias

import numpy as np

#: The C types of arguments and locals, by name, for the code generator (double,
#: uint64_t, bint); for Python they are Any: the formulas take scalars or arrays
F64: TypeAlias = Any
U64: TypeAlias = Any
Bool: TypeAlias = Any

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
ONE = np.uint64(1)
S11 = np.uint64(11)
S27 = np.uint64(27)
S30 = np.uint64(30)
S31 = np.uint64(31)
INV_2_53 = 1.0 / 9007199254740992.0
INF = math.inf


def _u64(a: Any) -> Any:
    return np.asarray(a, dtype=np.uint64)


def _to_f64(a: Any) -> Any:
    return np.asarray(a).astype(np.float64)


#: the math of the NumPy evaluation; each backend's generated module defines the same names
_p = SimpleNamespace(
    exp=np.exp,
    log1p_unit=np.log1p,  # log1p of t in [0, 1]: the compiled backends reduce it cheaper
    select=np.where,
    mul_add=lambda a, b, c: a * b + c,
    u64=_u64,
    to_f64=_to_f64,
    INF=INF,
)


def bce_exp(x: F64) -> F64:
    """e = exp(-|x|), in (0, 1]: the one exponential that bce_loss and bce_grad share."""
    return _p.exp(-abs(x))


def bce_loss(x: F64, t: F64, w: F64, pw: F64, e: F64) -> F64:
    """BCE-with-logits of one element (PyTorch's ``pos_weight`` form), stable, with
    e = bce_exp(x) = exp(-|x|):

    l = w ((1 - t) x + (1 + (pw - 1) t) (log1p(e) + max(-x, 0)))
    """
    lw = 1.0 + (pw - 1.0) * t
    return w * ((1.0 - t) * x + lw * (_p.log1p_unit(e) + _p.select(x < 0.0, -x, 0.0)))


def bce_grad(x: F64, t: F64, w: F64, pw: F64, e: F64) -> F64:
    """dl/dx = w ((1 + (pw - 1) t) sigmoid(x) - pw t); sigmoid from e = exp(-|x|)
    (1 / (1 + e) or e / (1 + e)), no overflow."""
    lw = 1.0 + (pw - 1.0) * t
    sg = _p.select(x >= 0.0, 1.0, e) / (1.0 + e)
    return w * (lw * sg - pw * t)


def mse_loss(x: F64, t: F64) -> F64:
    """l = (x - t)^2"""
    d = x - t
    return d * d


def mse_grad(x: F64, t: F64) -> F64:
    """dl/dx = 2 (x - t)"""
    return 2.0 * (x - t)


def maxout_wins(v: F64, best: F64) -> Bool:
    """Whether ``v`` replaces the running maximum of a maxout group scanned in order:
    it is greater, or the first NaN (a NaN in a group gives NaN; ties keep the first)."""
    return (v > best) | ((v != v) & (best == best))


def splitmix64_uniform(seed: U64, i: U64) -> F64:
    """u_i in [0, 1): SplitMix64 of ``z = seed + (i + 1) golden``; u = (mix(z) >> 11) 2^-53.

    A counter-based generator: the value depends only on the seed and the index, so
    every backend (and every thread split) draws the same slopes."""
    z: U64 = _p.u64(seed) + (_p.u64(i) + ONE) * GOLDEN
    z = (z ^ (z >> S30)) * MIX1
    z = (z ^ (z >> S27)) * MIX2
    z = z ^ (z >> S31)
    return _p.to_f64(z >> S11) * INV_2_53


def rrelu_slope(v: F64, lower: F64, upper: F64, u: F64) -> F64:
    """RReLU's training slope: 1 for v >= 0, lower + (upper - lower) u otherwise
    (rounded twice, never fused, so every backend gives the same bits)."""
    return _p.select(v >= 0.0, 1.0, _p.mul_add(upper - lower, u, lower))


def softmax_shift(m: F64) -> F64:
    """The shift of a softmax row whose maximum is m: m; 0 for an all -inf row (no
    -inf - -inf); +inf stays (the row gives NaN, as PyTorch); NaN gives 0."""
    return _p.select(abs(m) < _p.INF, m, _p.select(m == _p.INF, m, 0.0))


def lse_shift(m: F64) -> F64:
    """The shift of a log-sum-exp row: m when finite, else 0 (so +inf gives +inf)."""
    return _p.select(abs(m) < _p.INF, m, 0.0)


#: every formula, in the order the generated modules define them
FORMULAS = (
    bce_exp,
    bce_loss,
    bce_grad,
    mse_loss,
    mse_grad,
    maxout_wins,
    splitmix64_uniform,
    rrelu_slope,
    softmax_shift,
    lse_shift,
)

#: module constants the formulas read (copied into every generated module)
CONSTANTS = ("GOLDEN", "MIX1", "MIX2", "ONE", "S11", "S27", "S30", "S31", "INV_2_53")
