"""Weight initialization: Xavier/Glorot and He/Kaiming with a gain per activation.

For a weight of shape ``(fan_out, fan_in)`` (``Linear``'s layout):

- Xavier/Glorot: ``std = gain * sqrt(2 / (fan_in + fan_out))``
  (uniform on ``+-sqrt(3) * std``);
- He/Kaiming: ``std = gain / sqrt(fan)`` with ``fan = fan_in`` (forward) or
  ``fan_out`` (backward); uniform on ``+-sqrt(3) * std``.

:func:`calculate_gain` returns PyTorch's values (``torch.nn.init.calculate_gain``)
for the activations PyTorch knows, and for the others the gain that keeps the
second moment through the activation: ``1 / sqrt(E[f(z)^2])`` with
``z ~ N(0, 1)`` (this gives exactly PyTorch's ``sqrt(2)`` for ReLU).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastact import table
from fastact.nn.module import as_rng

_TORCH_LINEAR = ("linear", "identity", "conv1d", "conv2d", "conv3d", "sigmoid")


def _second_moment_gain(name: str, params: tuple[Any, ...]) -> float:
    spec = table.BY_NAME[name]
    a, b = spec.encode(params)
    # 80-point Gauss-Hermite quadrature of E[f(z)^2], z ~ N(0, 1)
    z, w = np.polynomial.hermite_e.hermegauss(80)
    f = spec.ref(z.astype(np.float64), a, b)
    m2 = float(np.dot(w, f * f) / math.sqrt(2.0 * math.pi))
    return 1.0 / math.sqrt(m2)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Recommended gain for ``nonlinearity`` (a fastact activation name or ``"linear"``).

    >>> round(calculate_gain("relu"), 6), round(calculate_gain("tanh"), 6)
    (1.414214, 1.666667)
    """
    if not isinstance(nonlinearity, str):
        raise TypeError(f"nonlinearity must be a string, got {nonlinearity!r}")
    if nonlinearity in _TORCH_LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope * slope))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    if nonlinearity in ("prelu", "rrelu"):
        slope = 0.25 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope * slope))
    if nonlinearity in table.BY_NAME:
        return _second_moment_gain(nonlinearity, () if param is None else (param,))
    known = sorted({*_TORCH_LINEAR, "prelu", "rrelu", *table.BY_NAME})
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}; known: {', '.join(known)}")


def _fans(w: np.ndarray) -> tuple[int, int]:
    if w.ndim < 2:
        raise ValueError(f"fan_in/fan_out need a weight with >= 2 dimensions, got {w.shape}")
    receptive = math.prod(w.shape[2:])
    return w.shape[1] * receptive, w.shape[0] * receptive


def _fill(w: np.ndarray, std: float, dist: str, rng: Any) -> np.ndarray:
    g = as_rng(rng)
    if dist == "normal":
        w[...] = g.normal(0.0, std, w.shape)
    elif dist == "uniform":
        bound = math.sqrt(3.0) * std
        w[...] = g.uniform(-bound, bound, w.shape)
    else:
        raise ValueError(f"distribution must be 'normal' or 'uniform', got {dist!r}")
    return w


def xavier_(w: np.ndarray, gain: float = 1.0, dist: str = "uniform", rng: Any = None) -> np.ndarray:
    """Xavier/Glorot initialization in place: ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(w)
    return _fill(w, gain * math.sqrt(2.0 / (fan_in + fan_out)), dist, rng)


def kaiming_(
    w: np.ndarray,
    gain: float = math.sqrt(2.0),
    mode: str = "fan_in",
    dist: str = "normal",
    rng: Any = None,
) -> np.ndarray:
    """He/Kaiming initialization in place: ``std = gain / sqrt(fan)``."""
    fan_in, fan_out = _fans(w)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return _fill(w, gain / math.sqrt(fan), dist, rng)


def normal_(w: np.ndarray, std: float, rng: Any = None) -> np.ndarray:
    """``w ~ N(0, std^2)`` in place (the "too small" / "too large" initializations)."""
    return _fill(w, float(std), "normal", rng)


def constant_(w: np.ndarray, value: float) -> np.ndarray:
    """Every weight equal (``0`` is the zero initialization)."""
    w[...] = value
    return w


def init_network(
    model: Any, scheme: str, activation: str = "relu", rng: Any = None, **kw: Any
) -> None:
    """Re-initialize every ``Linear`` weight of ``model`` (biases to 0) with one scheme.

    ``scheme``: ``"xavier"``, ``"he"``, ``"normal"`` (``std=``), ``"constant"``
    (``value=``, ``0`` for the zero initialization) or ``"default"`` (PyTorch's
    ``Linear`` default, ``U(+-1/sqrt(fan_in))``). The gain is
    ``calculate_gain(activation)``.
    """
    from fastact.nn.layers import Linear

    g = as_rng(rng)
    gain = calculate_gain(activation)
    for m in model.modules():
        if not isinstance(m, Linear):
            continue
        w = m.weight.data
        if scheme == "xavier":
            xavier_(w, gain, kw.get("dist", "normal"), g)
        elif scheme == "he":
            kaiming_(w, gain, kw.get("mode", "fan_in"), kw.get("dist", "normal"), g)
        elif scheme == "normal":
            normal_(w, kw["std"], g)
        elif scheme == "constant":
            constant_(w, kw.get("value", 0.0))
        elif scheme == "default":
            m.reset_parameters(g)
            continue
        else:
            raise ValueError(
                f"unknown scheme {scheme!r}; use xavier, he, normal, constant or default"
            )
        if m.bias is not None:
            m.bias.data[...] = 0
