"""The activation table: one entry per elementwise activation.

Everything else is generated from this table: the Numba CPU kernels
(``kernels/numba_elementwise.py``), the Cython sources, the public functions
(``fastact/_api.py``), the tests, the benchmarks and the README rows. Adding an
activation means adding one :class:`Elementwise` entry here, then running
``python -m fastact._codegen``.

Each entry carries

* ``fwd(x, a, b)`` and ``deriv(x, a, b)``: scalar Python functions in a
  restricted style (math through :mod:`fastact._math` as ``_m``, constants
  through ``_m.like``) that the compiled backends inline into their loops. The
  backward kernel is always ``grad_output * deriv(x)``.
* ``ref`` and ``ref_deriv``: independent float64 NumPy formulas, the test oracle
  and the ``numpy`` backend.
* ``from_output`` (optional): the derivative written in the output ``y = f(x)``
  (:class:`FromOutput`), for ``NAME_backward_from_output(grad_output, y)``: the
  backward from the saved output, as PyTorch's autograd computes sigmoid's and
  tanh's. Its kernel is always ``grad_output * deriv(y)``.
* ``params``: up to two float parameters (``a``, ``b``) with PyTorch's defaults;
  a parameter with ``choices`` maps strings to floats (``gelu(approximate=)``).

Infinite inputs give the function's limit in the forward and the backward, also
where the naive formula gives ``inf * 0 = NaN``; NaN in gives NaN out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastact import _math as _m

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SQRT_2_OVER_PI = 0.7978845608028654  # sqrt(2/pi)
INV_SQRT_2 = 0.7071067811865476  # 1/sqrt(2)
INV_SQRT_2PI = 0.3989422804014327  # 1/sqrt(2*pi)
GELU_TANH_C = 0.044715

# Tolerances (rtol, atol) against the float64 reference, per computation dtype.
TOL_EXACT = {"float64": (0.0, 0.0), "float32": (0.0, 0.0), "float16": (0.0, 0.0)}
TOL_SMOOTH = {"float64": (1e-12, 1e-300), "float32": (4e-6, 1e-37), "float16": (1e-3, 6e-8)}


@dataclass(frozen=True)
class Param:
    """A scalar parameter of an activation (positional after ``x``)."""

    name: str
    default: float | str
    doc: str
    choices: Mapping[str, float] | None = None

    def encode(self, value: Any) -> float:
        """Map a user value to the float the kernels receive."""
        if self.choices is not None:
            if not isinstance(value, str) or value not in self.choices:
                raise ValueError(
                    f"{self.name} must be one of {sorted(self.choices)}, got {value!r}"
                )
            return float(self.choices[value])
        if isinstance(value, (bool, str)) or not np.isscalar(value):
            raise TypeError(f"{self.name} must be a real number, got {value!r}")
        v = float(value)  # type: ignore[arg-type]
        if math.isnan(v):
            raise ValueError(f"{self.name} must not be NaN")
        return v


@dataclass(frozen=True)
class FromOutput:
    """``dy/dx`` as a function of the output ``y = f(x)`` (the saved-output backward).

    ``deriv(y, a, b)`` is a scalar kernel in the restricted style (its argument is
    named ``x`` as every scalar kernel's, and holds ``y``); ``ref_deriv`` is the NumPy
    formula in ``y`` (the ``numpy`` backend; the tests evaluate it in extended
    precision, so that it is not the float64 kernel's own arithmetic). ``y`` is not
    checked against the range of ``f``: the formula is applied to whatever is passed.
    """

    derivative: str
    deriv: Callable[..., Any]
    ref_deriv: Callable[..., np.ndarray]
    #: what the saved-output form loses against the backward from x
    caveat: str = ""


@dataclass(frozen=True)
class Elementwise:
    """One elementwise activation ``y = f(x; a, b)`` with ``dy/dx = f'(x; a, b)``."""

    name: str
    summary: str
    formula: str
    derivative: str
    fwd: Callable[..., Any]
    deriv: Callable[..., Any]
    ref: Callable[..., np.ndarray]
    ref_deriv: Callable[..., np.ndarray]
    torch: Callable[..., Any]
    params: tuple[Param, ...] = ()
    #: points where the derivative jumps (central differences are invalid there)
    kinks: Callable[..., tuple[float, ...]] = lambda a, b: ()
    tol: Mapping[str, tuple[float, float]] = field(default_factory=lambda: TOL_SMOOTH)
    example: str = ""
    #: a rule across the encoded parameters: returns an error message, or None
    rule: Callable[[float, float], str | None] = lambda a, b: None
    #: a few arithmetic instructions per element (no transcendental): the Numba
    #: backend runs it on one thread below ``_threads.SERIAL_BELOW_CHEAP`` elements
    cheap: bool = False
    #: the derivative in the output y: generates ``NAME_backward_from_output``
    from_output: FromOutput | None = None

    def encode(self, values: tuple[Any, ...]) -> tuple[float, float]:
        """Encoded (a, b) for user parameter values (missing ones take defaults)."""
        if len(values) > len(self.params):
            raise TypeError(
                f"{self.name}() takes {len(self.params)} parameter(s) after x, got {len(values)}"
            )
        enc = [p.encode(v) for p, v in zip(self.params, values, strict=False)]
        enc += [p.encode(p.default) for p in self.params[len(enc) :]]
        enc += [0.0] * (2 - len(enc))
        msg = self.rule(enc[0], enc[1])
        if msg is not None:
            raise ValueError(f"{self.name}: {msg}")
        return enc[0], enc[1]


def _fix(y: np.ndarray, x: np.ndarray, pos: float, neg: float) -> np.ndarray:
    """Set the limits of a reference at x = +inf and x = -inf."""
    y = np.where(x == np.inf, pos, y)
    return np.where(x == -np.inf, neg, y)


def _nonpos(x: np.ndarray) -> np.ndarray:
    """min(x, 0) keeping -0.0 (np.minimum(-0.0, 0.0) may give +0.0: elu(-0.0) is -0.0,
    as the compiled kernels and PyTorch give)."""
    return np.where(x > 0, 0.0, x)


def _nanpass(d: np.ndarray, x: np.ndarray) -> np.ndarray:
    """NaN in gives NaN out (also for piecewise-constant derivatives)."""
    return np.where(np.isnan(x), np.nan, d)


def _erfc(z: np.ndarray) -> np.ndarray:
    try:
        from scipy.special import erfc
    except ImportError:  # pragma: no cover - scipy is optional
        return np.asarray(np.frompyfunc(math.erfc, 1, 1)(z), dtype=np.float64)
    return erfc(z)


# --------------------------------------------------------------------------- #
# Scalar kernels (compiled by every backend; keep to the restricted style).    #
# --------------------------------------------------------------------------- #


def identity_fwd(x, a, b):
    # y = x
    return x


def identity_deriv(x, a, b):
    # dy/dx = 1 (NaN stays NaN)
    return _m.like(1.0, x) if not _m.isnan(x) else x


def sigmoid_fwd(x, a, b):
    # y = 1 / (1 + exp(-x))
    return _m.sigmoid(x)


def sigmoid_deriv(x, a, b):
    # dy/dx = s (1 - s) = e / (1 + e)^2, e = exp(-|x|)  (no cancellation for large |x|)
    return _m.sigmoid_deriv(x)


def sigmoid_deriv_y(x, a, b):
    # dy/dx = y (1 - y), x holding y = sigmoid(input)  (1 - y is exact for y >= 1/2)
    return x * (_m.like(1.0, x) - x)


def tanh_fwd(x, a, b):
    # y = tanh(x)
    return _m.tanh(x)


def tanh_deriv(x, a, b):
    # dy/dx = 1 - tanh(x)^2 = 4 e / (1 + e)^2, e = exp(-2|x|)  (no cancellation)
    return _m.tanh_deriv(x)


def tanh_deriv_y(x, a, b):
    # dy/dx = 1 - y^2 = (1 - y) (1 + y), x holding y = tanh(input)  (no cancellation
    # near |y| = 1: 1 - |y| is exact for |y| >= 1/2)
    one = _m.like(1.0, x)
    return (one - x) * (one + x)


def hardtanh_fwd(x, a, b):
    # y = min(max(x, a), b); NaN passes through
    lo = _m.like(a, x)
    hi = _m.like(b, x)
    return lo if x < lo else (hi if x > hi else x)


def hardtanh_deriv(x, a, b):
    # dy/dx = 1 for a < x < b, else 0 (0 at the bounds, as PyTorch)
    lo = _m.like(a, x)
    hi = _m.like(b, x)
    one = _m.like(1.0, x)
    zero = _m.like(0.0, x)
    # nested selects, no `and`/`or`: gcc does not if-convert a short-circuit (NaN: x)
    return (one if x < hi else zero) if x > lo else (zero if x <= lo else x)


def softsign_fwd(x, a, b):
    # y = x / (1 + |x|)  (+-1 at +-inf)
    one = _m.like(1.0, x)
    return x / (one + abs(x)) if not _m.isinf(x) else (one if x > 0 else -one)


def softsign_deriv(x, a, b):
    # dy/dx = 1 / (1 + |x|)^2, as r r with r = 1 / (1 + |x|): (1 + |x|)^2 overflowed
    # to inf above |x| = 1.8e19 (float32), giving 0 where r^2 is still subnormal
    r = _m.like(1.0, x) / (_m.like(1.0, x) + abs(x))
    return r * r


def relu_fwd(x, a, b):
    # y = max(x, 0); NaN passes through
    return _m.like(0.0, x) if x <= 0 else x


def relu_deriv(x, a, b):
    # dy/dx = 1 for x > 0, else 0 (0 at x = 0, as PyTorch)
    one = _m.like(1.0, x)
    zero = _m.like(0.0, x)
    return one if x > 0 else (zero if x <= 0 else x)


def relu6_fwd(x, a, b):
    # y = min(max(x, 0), 6)
    return hardtanh_fwd(x, _m.like(0.0, x), _m.like(6.0, x))


def relu6_deriv(x, a, b):
    # dy/dx = 1 for 0 < x < 6, else 0
    return hardtanh_deriv(x, _m.like(0.0, x), _m.like(6.0, x))


def leaky_relu_fwd(x, a, b):
    # y = x for x > 0, a x otherwise (the limit -a * 0 at x = -inf for a = 0, not 0 * inf)
    r = x * _m.like(a, x)
    # nested selects, no `or`: the Cython loop did not vectorize (14x a copy)
    return x if x > 0 else (r if not _m.isnan(r) else (x if _m.isnan(x) else -_m.like(a, x)))


def leaky_relu_deriv(x, a, b):
    # dy/dx = 1 for x > 0, a otherwise (a at x = 0, as PyTorch)
    one = _m.like(1.0, x)
    return one if x > 0 else (_m.like(a, x) if x <= 0 else x)


def elu_fwd(x, a, b):
    # y = x for x > 0, a (exp(x) - 1) otherwise (expm1 for every x, then one select:
    # straight-line code, which gcc vectorizes where it does not if-convert a branch)
    e = _m.like(a, x) * _m.expm1(x)
    return x if x > 0 else e


def elu_deriv(x, a, b):
    # dy/dx = 1 for x > 0, a exp(x) otherwise (exp for every x, then one select)
    e = _m.like(a, x) * _m.exp(x)
    return _m.like(1.0, x) if x > 0 else e


def selu_fwd(x, a, b):
    # y = scale * (x for x > 0, alpha (exp(x) - 1) otherwise), as e + (scale - 1) e:
    # scale rounded to float32 (3.3e-8 high) rounded y to inf at x = 3.2386221e38,
    # where scale x is the largest float32; (scale - 1) e adds under 0.05 ulp
    e = elu_fwd(x, _m.like(SELU_ALPHA, x), b)
    return e + _m.like(SELU_SCALE - 1.0, x) * e


def selu_deriv(x, a, b):
    # dy/dx = scale * (1 for x > 0, alpha exp(x) otherwise)
    return _m.like(SELU_SCALE, x) * elu_deriv(x, _m.like(SELU_ALPHA, x), b)


def celu_fwd(x, a, b):
    # y = x for x > 0, a (exp(x / a) - 1) otherwise (computed for every x, then selected)
    al = _m.like(a, x)
    e = al * _m.expm1(x / al)
    return x if x > 0 else e


def celu_deriv(x, a, b):
    # dy/dx = 1 for x > 0, exp(x / a) otherwise (exp for every x, then one select)
    e = _m.exp(x / _m.like(a, x))
    return _m.like(1.0, x) if x > 0 else e


def softplus_fwd(x, a, b):
    # y = log(1 + exp(a x)) / a, and y = x where a x > b (threshold)
    bx = _m.like(a, x) * x
    return x if bx > _m.like(b, x) else _m.log1pexp(bx) / _m.like(a, x)


def softplus_deriv(x, a, b):
    # dy/dx = sigmoid(a x), and 1 where a x > b
    bx = _m.like(a, x) * x
    return _m.like(1.0, x) if bx > _m.like(b, x) else _m.sigmoid(bx)


def logsigmoid_fwd(x, a, b):
    # y = log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))
    m = x if x < 0 else _m.like(0.0, x)
    return m - _m.log1pexp(-abs(x))


def logsigmoid_deriv(x, a, b):
    # dy/dx = 1 - sigmoid(x) = sigmoid(-x)
    return _m.sigmoid(-x)


def swish_fwd(x, a, b):
    # y = x sigmoid(a x)  (0 at -inf for a > 0)
    ax = _m.like(a, x) * x
    # a = 0 at x = +-inf: a x is 0 (y = x / 2 for every x), not 0 * inf
    # (nested selects, no `or`: gcc does not if-convert a short-circuit on a runtime a)
    ax = ax if not _m.isnan(ax) else (x if _m.isnan(x) else _m.like(0.0, x))
    y = x * _m.sigmoid(ax)
    # the only NaN-from-inf case is a x = -inf (inf * 0): the limit there is 0
    return y if ax != -_m.INF else _m.like(0.0, x)


def swish_deriv(x, a, b):
    # dy/dx = s (1 + a x (1 - s)), s = sigmoid(a x)  (1 at +inf, 0 at -inf for a > 0)
    ax = _m.like(a, x) * x
    # (= silu'(a x); float32 Numba/Cython: factored near its zero a x = -1.27846)
    ax = ax if not _m.isnan(ax) else (x if _m.isnan(x) else _m.like(0.0, x))  # a = 0 at +-inf
    d = _m.silu_deriv(ax, _m.like(a, x), x)  # (a and x: a x's rounding error, float32)
    # a x = +-inf (x infinite, or a x overflowing for finite x): 1 where a x -> +inf,
    # 0 where a x -> -inf; 1/2 for a = 0 at x = +-inf (y = x / 2: a x is 0 above)
    lim = _m.like(1.0, x) if ax > 0 else _m.like(0.0, x)
    return d if not _m.isinf(ax) else lim


def silu_fwd(x, a, b):
    # y = x sigmoid(x)
    return swish_fwd(x, _m.like(1.0, x), b)


def silu_deriv(x, a, b):
    # dy/dx = s (1 + x (1 - s)), s = sigmoid(x)
    return swish_deriv(x, _m.like(1.0, x), b)


def gelu_fwd(x, a, b):
    # a = 0: y = x Phi(x) = x erfc(-x / sqrt 2) / 2
    # a = 1: y = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)  (= x (1 + tanh u) / 2)
    # (float32 erf form: a branch-free rational and exp, _math.gelu_erf, 6 ulp everywhere)
    # (float32 tanh form: 2u in float64, an exp taking hi + lo; _math.gelu_tanh)
    if a == 0:
        return _m.gelu_erf(x)
    return _m.gelu_tanh(x)


def gelu_deriv(x, a, b):
    # a = 0: dy/dx = Phi(x) + x phi(x)
    # a = 1: dy/dx = s + 2 x s (1 - s) u', s = sigmoid(2u), u' = sqrt(2/pi) (1 + 3 0.044715 x^2)
    if a == 0:
        return _m.gelu_erf_deriv(x)
    return _m.gelu_tanh_deriv(x)


def mish_fwd(x, a, b):
    # y = x tanh(softplus(x)); tanh(log(1 + e)) = n / (n + 2), n = e (e + 2), e = exp(x)
    e = _m.exp(x)
    n = e * (e + _m.like(2.0, x))
    t = n / (n + _m.like(2.0, x)) if x < _m.like(20.0, x) else _m.like(1.0, x)
    return x * t if x != -_m.INF else _m.like(0.0, x)


def mish_deriv(x, a, b):
    # dy/dx = t + x (1 - t^2) sigmoid(x), t = tanh(softplus(x)): one quotient in
    # e^-|x| (float32 Numba/Cython: factored near its zero x = -1.19243)
    d = _m.mish_deriv(x)
    return d if not _m.isinf(x) else (_m.like(1.0, x) if x > 0 else _m.like(0.0, x))


def hardsigmoid_fwd(x, a, b):
    # y = 0 for x <= -3, 1 for x >= 3, (x + 3) / 6 otherwise (x + 3 is exact near -3)
    zero = _m.like(0.0, x)
    one = _m.like(1.0, x)
    mid = (x + _m.like(3.0, x)) / _m.like(6.0, x)
    return zero if x <= -3 else (one if x >= 3 else mid)


def hardsigmoid_deriv(x, a, b):
    # dy/dx = 1/6 for -3 < x < 3, else 0
    zero = _m.like(0.0, x)
    sixth = _m.like(1.0 / 6.0, x)
    return (sixth if x < 3 else zero) if x > -3 else (zero if x <= -3 else x)


def hardswish_fwd(x, a, b):
    # y = 0 for x <= -3, x for x >= 3, x (x + 3) / 6 otherwise
    zero = _m.like(0.0, x)
    mid = x * (x + _m.like(3.0, x)) / _m.like(6.0, x)
    return zero if x <= -3 else (x if x >= 3 else mid)


def hardswish_deriv(x, a, b):
    # dy/dx = 0 for x <= -3, x / 3 + 1/2 for -3 < x < 3, 1 for x >= 3 (as PyTorch)
    zero = _m.like(0.0, x)
    one = _m.like(1.0, x)
    # (x + 3/2) / 3, not x / 3 + 1/2: no cancellation near x = -3/2 (x + 3/2 is exact
    # there), so the relative error stays within an ulp
    mid = (x + _m.like(1.5, x)) / _m.like(3.0, x)
    return zero if x <= -3 else (mid if x < 3 else (one if x >= 3 else x))


# --------------------------------------------------------------------------- #
# Float64 NumPy references (independent formulas: the test oracle).           #
# --------------------------------------------------------------------------- #


def _sig(z: np.ndarray) -> np.ndarray:
    # stable logistic without overflow warnings
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _ref_softplus(x, beta, thr):
    z = beta * x
    # log1p(exp(z)) = max(z, 0) + log1p(exp(-|z|))
    sp = (np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))) / beta
    return np.where(z > thr, x, sp)


def _ref_gelu(x, approx):
    if approx == 0:
        return 0.5 * x * _erfc(-x / math.sqrt(2.0))
    u = math.sqrt(2.0 / math.pi) * (x + GELU_TANH_C * x**3)
    return x * _sig(2.0 * u)  # 0.5 x (1 + tanh u) without cancellation


def _ref_gelu_d(x, approx):
    if approx == 0:
        return 0.5 * _erfc(-x / math.sqrt(2.0)) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    k = math.sqrt(2.0 / math.pi)
    u = k * (x + GELU_TANH_C * x**3)
    # 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) u'
    return _sig(2 * u) + 2 * x * _sig(2 * u) * _sig(-2 * u) * k * (1 + 3 * GELU_TANH_C * x * x)


def _ref_mish(x):
    sp = np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))
    return x * np.tanh(sp)


def _ref_mish_d(x):
    t = np.tanh(np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))))
    return t + x * (1 - t * t) * _sig(x)


def _where_nan(cond_val, x):
    return _nanpass(cond_val.astype(np.float64), x)


ENTRIES: tuple[Elementwise, ...] = (
    Elementwise(
        "identity",
        "Identity (linear) activation.",
        "y = x",
        "dy/dx = 1",
        identity_fwd,
        identity_deriv,
        lambda x, a, b: x.copy(),
        lambda x, a, b: _nanpass(np.ones_like(x), x),
        lambda F, t: t * 1.0,
        tol=TOL_EXACT,
        cheap=True,
    ),
    Elementwise(
        "sigmoid",
        "Logistic sigmoid.",
        "y = 1 / (1 + exp(-x))",
        "dy/dx = y (1 - y)",
        sigmoid_fwd,
        sigmoid_deriv,
        lambda x, a, b: _sig(x),
        lambda x, a, b: _sig(x) * _sig(-x),
        lambda F, t: t.sigmoid(),
        from_output=FromOutput(
            "dy/dx = y (1 - y)",
            sigmoid_deriv_y,
            lambda y, a, b: y * (1.0 - y),
            "y (1 - y) loses relative accuracy as y nears 1 (5e-4 at x = 10 in float32) "
            "and is 0 from x ~ 17 (float32) / 37 (float64), where the backward from x "
            "gives e^-x",
        ),
    ),
    Elementwise(
        "tanh",
        "Hyperbolic tangent.",
        "y = tanh(x)",
        "dy/dx = 1 - y^2",
        tanh_fwd,
        tanh_deriv,
        lambda x, a, b: np.tanh(x),
        lambda x, a, b: 1.0 / np.cosh(x) ** 2,
        lambda F, t: t.tanh(),
        from_output=FromOutput(
            "dy/dx = 1 - y^2",
            tanh_deriv_y,
            # 1 - y^2 as (1 - y)(1 + y): no cancellation near |y| = 1
            lambda y, a, b: (1.0 - y) * (1.0 + y),
            "1 - y^2 loses relative accuracy as |y| nears 1 and is 0 from |x| ~ 9 "
            "(float32) / 19 (float64), where the backward from x gives 4 e^(-2|x|)",
        ),
    ),
    Elementwise(
        "hardtanh",
        "Hard tanh: x clipped to [min_val, max_val].",
        "y = min(max(x, min_val), max_val)",
        "dy/dx = 1 for min_val < x < max_val, else 0",
        hardtanh_fwd,
        hardtanh_deriv,
        lambda x, a, b: np.where(x < a, a, np.where(x > b, b, x)),
        lambda x, a, b: _where_nan((x > a) & (x < b), x),
        lambda F, t, a=-1.0, b=1.0: F.hardtanh(t, a, b),
        params=(
            Param("min_val", -1.0, "lower bound"),
            Param("max_val", 1.0, "upper bound"),
        ),
        rule=lambda a, b: (
            f"min_val must not exceed max_val, got min_val={a!r}, max_val={b!r}" if a > b else None
        ),
        kinks=lambda a, b: (a, b),
        tol=TOL_EXACT,
        cheap=True,
    ),
    Elementwise(
        "relu6",
        "ReLU capped at 6 (hardtanh with bounds 0 and 6).",
        "y = min(max(x, 0), 6)",
        "dy/dx = 1 for 0 < x < 6, else 0",
        relu6_fwd,
        relu6_deriv,
        lambda x, a, b: np.where(x < 0, 0.0, np.where(x > 6, 6.0, x)),
        lambda x, a, b: _where_nan((x > 0) & (x < 6), x),
        lambda F, t: F.relu6(t),
        kinks=lambda a, b: (0.0, 6.0),
        tol=TOL_EXACT,
        cheap=True,
    ),
    Elementwise(
        "softsign",
        "Softsign.",
        "y = x / (1 + |x|)",
        "dy/dx = 1 / (1 + |x|)^2",
        softsign_fwd,
        softsign_deriv,
        lambda x, a, b: _fix(x / (1.0 + np.abs(x)), x, 1.0, -1.0),
        lambda x, a, b: 1.0 / (1.0 + np.abs(x)) ** 2,
        lambda F, t: F.softsign(t),
    ),
    Elementwise(
        "relu",
        "Rectified linear unit.",
        "y = max(x, 0)",
        "dy/dx = 1 for x > 0, else 0 (0 at x = 0)",
        relu_fwd,
        relu_deriv,
        lambda x, a, b: np.where(x <= 0, 0.0, x),
        lambda x, a, b: _where_nan(x > 0, x),
        lambda F, t: F.relu(t),
        kinks=lambda a, b: (0.0,),
        tol=TOL_EXACT,
        cheap=True,
    ),
    Elementwise(
        "leaky_relu",
        "Leaky ReLU.",
        "y = x for x > 0, negative_slope * x otherwise",
        "dy/dx = 1 for x > 0, negative_slope otherwise",
        leaky_relu_fwd,
        leaky_relu_deriv,
        lambda x, a, b: np.where(x > 0, x, np.where(np.isinf(x) & (a == 0), -a, a * x)),
        lambda x, a, b: _nanpass(np.where(x > 0, 1.0, a), x),
        lambda F, t, a=0.01: F.leaky_relu(t, a),
        params=(Param("negative_slope", 0.01, "slope for x < 0"),),
        kinks=lambda a, b: (0.0,),
        tol={"float64": (2.3e-16, 0.0), "float32": (2.4e-7, 0.0), "float16": (1e-3, 6e-8)},
        cheap=True,
    ),
    Elementwise(
        "elu",
        "Exponential linear unit.",
        "y = x for x > 0, alpha (exp(x) - 1) otherwise",
        "dy/dx = 1 for x > 0, alpha exp(x) otherwise",
        elu_fwd,
        elu_deriv,
        lambda x, a, b: np.where(x > 0, x, a * np.expm1(_nonpos(x))),
        lambda x, a, b: np.where(x > 0, 1.0, a * np.exp(np.minimum(x, 0.0))),
        lambda F, t, a=1.0: F.elu(t, a),
        params=(Param("alpha", 1.0, "saturation value -alpha for x -> -inf"),),
        kinks=lambda a, b: (0.0,),
    ),
    Elementwise(
        "selu",
        "Scaled exponential linear unit (self-normalising).",
        "y = scale (x for x > 0, alpha (exp(x) - 1) otherwise)",
        "dy/dx = scale (1 for x > 0, alpha exp(x) otherwise)",
        selu_fwd,
        selu_deriv,
        lambda x, a, b: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(_nonpos(x))),
        lambda x, a, b: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0))),
        lambda F, t: F.selu(t),
        kinks=lambda a, b: (0.0,),
    ),
    Elementwise(
        "celu",
        "Continuously differentiable ELU.",
        "y = x for x > 0, alpha (exp(x / alpha) - 1) otherwise",
        "dy/dx = 1 for x > 0, exp(x / alpha) otherwise",
        celu_fwd,
        celu_deriv,
        lambda x, a, b: np.where(x > 0, x, a * np.expm1(_nonpos(x) / a)),
        lambda x, a, b: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0) / a)),
        lambda F, t, a=1.0: F.celu(t, a),
        params=(Param("alpha", 1.0, "saturation value -alpha for x -> -inf"),),
        kinks=lambda a, b: (0.0,),
        rule=lambda a, b: "alpha must not be 0 (x / alpha)" if a == 0.0 else None,
    ),
    Elementwise(
        "softplus",
        "Softplus, linear above the threshold.",
        "y = log(1 + exp(beta x)) / beta, y = x where beta x > threshold",
        "dy/dx = sigmoid(beta x), 1 where beta x > threshold",
        softplus_fwd,
        softplus_deriv,
        _ref_softplus,
        lambda x, a, b: np.where(a * x > b, 1.0, _sig(a * x)),
        lambda F, t, a=1.0, b=20.0: F.softplus(t, a, b),
        params=(
            Param("beta", 1.0, "sharpness"),
            Param("threshold", 20.0, "beta * x above which y = x"),
        ),
        rule=lambda a, b: "beta must not be 0 (log(1 + exp(beta x)) / beta)" if a == 0.0 else None,
        kinks=lambda a, b: (b / a,),
    ),
    Elementwise(
        "logsigmoid",
        "Log of the logistic sigmoid.",
        "y = log(1 / (1 + exp(-x))) = min(x, 0) - log(1 + exp(-|x|))",
        "dy/dx = 1 - sigmoid(x)",
        logsigmoid_fwd,
        logsigmoid_deriv,
        lambda x, a, b: -(np.maximum(-x, 0.0) + np.log1p(np.exp(-np.abs(x)))),
        lambda x, a, b: _sig(-x),
        lambda F, t: F.logsigmoid(t),
    ),
    Elementwise(
        "silu",
        "Sigmoid linear unit (swish with beta = 1).",
        "y = x sigmoid(x)",
        "dy/dx = s (1 + x (1 - s)), s = sigmoid(x)",
        silu_fwd,
        silu_deriv,
        lambda x, a, b: _fix(x * _sig(x), x, np.inf, 0.0),
        lambda x, a, b: _fix(_sig(x) * (1 + x * _sig(-x)), x, 1.0, 0.0),
        lambda F, t: F.silu(t),
    ),
    Elementwise(
        "swish",
        "Swish with a slope parameter.",
        "y = x sigmoid(beta x)",
        "dy/dx = s + beta x s (1 - s), s = sigmoid(beta x)",
        swish_fwd,
        swish_deriv,
        lambda x, a, b: (
            _fix(x * _sig(a * x), x, np.inf, 0.0) if a > 0
            else _fix(x * _sig(a * x), x, 0.0, -np.inf) if a < 0
            else x / 2
        ),
        lambda x, a, b: (
            _fix(_sig(a * x) * (1 + a * x * _sig(-a * x)), x, 1.0, 0.0) if a > 0
            else _fix(_sig(a * x) * (1 + a * x * _sig(-a * x)), x, 0.0, 1.0) if a < 0
            else _nanpass(np.full_like(x, 0.5), x)
        ),
        lambda F, t, a=1.0: t * (a * t).sigmoid(),
        params=(Param("beta", 1.0, "slope inside the sigmoid"),),
    ),
    Elementwise(
        "gelu",
        "Gaussian error linear unit, exact or tanh-approximated.",
        "y = x Phi(x) (approximate='none'); "
        "y = x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 (approximate='tanh')",
        "dy/dx = Phi(x) + x phi(x) (approximate='none'); the derivative of the tanh form",
        gelu_fwd,
        gelu_deriv,
        lambda x, a, b: _fix(_ref_gelu(x, a), x, np.inf, 0.0),
        lambda x, a, b: _fix(_ref_gelu_d(x, a), x, 1.0, 0.0),
        lambda F, t, a="none": F.gelu(t, approximate=a),
        params=(
            Param("approximate", "none", "'none' (erf) or 'tanh'", {"none": 0.0, "tanh": 1.0}),
        ),
        # float32: the tanh form's u = sqrt(2/pi) (x + 0.044715 x^3) is ill-conditioned in the tail
        tol={"float64": (1e-12, 1e-300), "float32": (2e-5, 1e-37), "float16": (1e-3, 6e-8)},
    ),
    Elementwise(
        "mish",
        "Mish.",
        "y = x tanh(softplus(x))",
        "dy/dx = t + x (1 - t^2) sigmoid(x), t = tanh(softplus(x))",
        mish_fwd,
        mish_deriv,
        lambda x, a, b: _fix(_ref_mish(x), x, np.inf, 0.0),
        lambda x, a, b: _fix(_ref_mish_d(x), x, 1.0, 0.0),
        lambda F, t: F.mish(t),
        tol={"float64": (1e-12, 1e-300), "float32": (1e-5, 1e-37), "float16": (1e-3, 6e-8)},
    ),
    Elementwise(
        "hardsigmoid",
        "Hard sigmoid.",
        "y = 0 for x <= -3, 1 for x >= 3, x / 6 + 1/2 otherwise",
        "dy/dx = 1/6 for -3 < x < 3, else 0",
        hardsigmoid_fwd,
        hardsigmoid_deriv,
        lambda x, a, b: np.clip((x + 3.0) / 6.0, 0.0, 1.0),
        lambda x, a, b: _where_nan((x > -3) & (x < 3), x) / 6.0,
        lambda F, t: F.hardsigmoid(t),
        kinks=lambda a, b: (-3.0, 3.0),
        tol={"float64": (4.5e-16, 0.0), "float32": (2.4e-7, 1e-37), "float16": (1e-3, 6e-8)},
        cheap=True,
    ),
    Elementwise(
        "hardswish",
        "Hard swish.",
        "y = 0 for x <= -3, x for x >= 3, x (x + 3) / 6 otherwise",
        "dy/dx = 0 for x <= -3, x / 3 + 1/2 for -3 < x < 3, 1 for x >= 3",
        hardswish_fwd,
        hardswish_deriv,
        lambda x, a, b: np.where(x <= -3, 0.0, np.where(x >= 3, x, x * (x + 3.0) / 6.0)),
        lambda x, a, b: _nanpass(np.where(x <= -3, 0.0, np.where(x < 3, (2 * x + 3) / 6, 1.0)), x),
        lambda F, t: F.hardswish(t),
        kinks=lambda a, b: (-3.0, 3.0),
        tol={"float64": (1e-15, 0.0), "float32": (2e-7, 1e-37), "float16": (1e-3, 6e-8)},
        cheap=True,
    ),
)

BY_NAME: dict[str, Elementwise] = {e.name: e for e in ENTRIES}
