"""The plain NumPy reference backend.

Elementwise activations evaluate the table's float64 reference formulas
(``Elementwise.ref`` / ``ref_deriv``) and round to the output dtype. It is the
slowest backend and the one every other backend must agree with.
"""

from __future__ import annotations

import numpy as np

from fastact import table

NAME = "numpy"

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def unary(name: str, x: np.ndarray, out: np.ndarray, a: float, b: float) -> None:
    with np.errstate(all="ignore"):
        out[...] = table.BY_NAME[name].ref(x.astype(np.float64), float(a), float(b))


def unary_backward(
    name: str, g: np.ndarray, x: np.ndarray, out: np.ndarray, a: float, b: float
) -> None:
    with np.errstate(all="ignore"):
        d = table.BY_NAME[name].ref_deriv(x.astype(np.float64), float(a), float(b))
        out[...] = g.astype(np.float64) * d


def prelu(x: np.ndarray, w: np.ndarray, out: np.ndarray, C: int, inner: int) -> None:
    xv = x.reshape(-1, C, inner)
    out.reshape(-1, C, inner)[...] = np.where(xv > 0, xv, w.reshape(1, C, 1) * xv)


def prelu_backward(
    g: np.ndarray, x: np.ndarray, w: np.ndarray, gx: np.ndarray, C: int, inner: int
) -> np.ndarray:
    xv = x.reshape(-1, C, inner)
    gv = g.reshape(-1, C, inner)
    neg = ~(xv > 0)
    with np.errstate(all="ignore"):
        gw = np.where(neg, gv.astype(np.float64) * xv, 0.0).sum(axis=(0, 2))
        gx.reshape(-1, C, inner)[...] = np.where(neg, w.reshape(1, C, 1) * gv, gv)
    return gw


def uniforms(seed: int, n: int) -> np.ndarray:
    """SplitMix64 uniforms in [0, 1): u_i from z = seed + (i + 1) * golden."""
    z = np.uint64(seed) + (np.arange(1, n + 1, dtype=np.uint64) * _GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def rrelu_train(
    x: np.ndarray, out: np.ndarray, slopes: np.ndarray, lower: float, upper: float, seed: int
) -> None:
    u = uniforms(seed, x.shape[0])
    slopes[...] = np.where(x >= 0, 1.0, lower + (upper - lower) * u)
    out[...] = x * slopes


def multiply(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    np.multiply(a, b, out=out)


def _group_argmax(x3: np.ndarray) -> np.ndarray:
    # first NaN if any, else the first maximum
    nan = np.isnan(x3)
    return np.where(nan.any(axis=-1), nan.argmax(axis=-1), np.argmax(x3, axis=-1))


def maxout(x: np.ndarray, out: np.ndarray, pieces: int) -> None:
    x3 = x.reshape(x.shape[0], -1, pieces)
    arg = _group_argmax(x3)
    out[...] = np.take_along_axis(x3, arg[..., None], axis=-1)[..., 0]


def maxout_backward(g: np.ndarray, x: np.ndarray, gx: np.ndarray, pieces: int) -> None:
    x3 = x.reshape(x.shape[0], -1, pieces)
    arg = _group_argmax(x3)
    gx3 = gx.reshape(x3.shape)
    gx3[...] = 0
    np.put_along_axis(gx3, arg[..., None], g[..., None], axis=-1)
