"""Activations with structure beyond one scalar function: PReLU, RReLU, maxout."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fastact import _contract
from fastact._dispatch import (
    as_float_array,
    c_finish,
    c_flat,
    c_output,
    check_out,
    check_same_shape,
    compute_dtype,
    elementwise_forward,
    fast_path_pair,
    host_driver,
    host_out,
    normalize_axis,
    resolve,
    run_map,
    run_op,
)

__all__ = [
    "maxout",
    "maxout_backward",
    "prelu",
    "prelu_backward",
    "rrelu",
    "rrelu_backward",
]


def _prelu_layout(x: np.ndarray, w: np.ndarray, axis: int) -> tuple[int, int]:
    """(C, inner): the channel count and the number of elements after the channel axis."""
    if w.ndim != 1:
        raise ValueError(f"weight must be 1-d, got shape {w.shape}")
    if x.ndim == 0 or w.shape[0] == 1:
        if w.shape[0] != 1:
            raise ValueError(f"weight has {w.shape[0]} elements; a 0-d input needs 1")
        return 1, max(x.size, 1)
    ax = 0 if x.ndim == 1 else normalize_axis(axis, x.ndim)
    C = x.shape[ax]
    if w.shape[0] != C:
        raise ValueError(f"weight has {w.shape[0]} elements; it needs 1 or x.shape[{ax}] = {C}")
    return C, math.prod(x.shape[ax + 1 :])


def prelu(
    x: ArrayLike, weight: ArrayLike, axis: int = 1, *, out: Any = None, backend: str | None = None
) -> Any:
    """Parametric ReLU with a learnable slope per channel.

        y = x for x > 0, weight[c] * x otherwise   (c: index along ``axis``)

    Derivative: ``dy/dx = 1 for x > 0, weight[c] otherwise``;
    ``dy/dweight[c] = x for x <= 0, 0 otherwise``.

    ``weight`` has shape ``(1,)`` (one shared slope) or ``(x.shape[axis],)``; for
    1-d ``x`` the channel axis is 0.

    Examples
    --------
    >>> import fastact, numpy as np
    >>> fastact.prelu(np.array([[-2.0, 3.0]]), np.array([0.25, 0.5]))
    array([[-0.5,  3. ]])
    """
    return run_op("prelu", resolve(backend, x), x, weight, axis, out, _prelu_layout)


@host_driver("prelu")
def _host_prelu(be: Any, x: Any, weight: Any, axis: int, out: Any, layout: Any) -> Any:
    xa = as_float_array(x)
    w = as_float_array(weight, "weight")
    C, inner = layout(xa, w, axis)
    o = host_out(out, xa.shape, xa.dtype)
    cdt = compute_dtype(xa.dtype)
    buf, dest = c_output(o, xa.shape, xa.dtype, [xa, w])
    if buf.size:
        be.prelu(c_flat(xa, cdt), c_flat(w, cdt), buf, C, inner)
    res = c_finish(buf, dest)
    return res if out is None else out


def prelu_backward(
    grad_output: ArrayLike,
    x: ArrayLike,
    weight: ArrayLike,
    axis: int = 1,
    *,
    out: Any = None,
    backend: str | None = None,
) -> tuple[Any, Any]:
    """Gradients of :func:`prelu`: ``(grad_input, grad_weight)``.

        grad_input = grad_output for x > 0, weight[c] * grad_output otherwise
        grad_weight[c] = sum of grad_output * x over the elements of channel c with x <= 0

    The weight gradient is accumulated in float64 and has ``weight``'s shape and
    dtype; ``out`` receives ``grad_input``.
    """
    be = resolve(backend, x)
    return run_op("prelu_backward", be, grad_output, x, weight, axis, out, _prelu_layout)


@host_driver("prelu_backward")
def _host_prelu_backward(be: Any, grad_output: Any, x: Any, weight: Any, axis: int, out: Any,
                         layout: Any) -> tuple[Any, Any]:  # fmt: skip
    xa = as_float_array(x)
    w = as_float_array(weight, "weight")
    C, inner = layout(xa, w, axis)
    g = as_float_array(grad_output, "grad_output")
    check_same_shape(g, xa, "grad_output", "x")
    dt = np.promote_types(g.dtype, xa.dtype)
    o = host_out(out, xa.shape, dt)
    cdt = compute_dtype(dt)
    buf, dest = c_output(o, xa.shape, dt, [xa, g, w])
    if buf.size:
        gw = be.prelu_backward(c_flat(g, cdt), c_flat(xa, cdt), c_flat(w, cdt), buf, C, inner)
    else:
        gw = np.zeros(C, dtype=np.float64)
    gw_out = np.asarray(gw.sum() if w.shape[0] == 1 else gw, dtype=w.dtype).reshape(w.shape)
    gx = c_finish(buf, dest)
    return (gx if out is None else out), gw_out


def _check_bounds(lower: Any, upper: Any) -> tuple[float, float]:
    lo, up = _contract.real(lower, "lower"), _contract.real(upper, "upper")
    if not (math.isfinite(lo) and math.isfinite(up)) or lo > up:
        raise ValueError(f"rrelu needs finite lower <= upper, got lower={lower!r}, upper={upper!r}")
    return lo, up


def rrelu(
    x: ArrayLike,
    lower: float = 1.0 / 8.0,
    upper: float = 1.0 / 3.0,
    training: bool = False,
    seed: int | None = None,
    *,
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Randomized leaky ReLU.

    Evaluation (``training=False``): leaky ReLU with slope ``(lower + upper) / 2``;
    returns ``y``.

    Training: ``y = x for x >= 0, a_i x otherwise`` with ``a_i ~ U(lower, upper)``
    drawn per element; returns ``(y, slopes)`` where ``slopes`` is 1 where
    ``x >= 0``. The same ``seed`` gives the same slopes on every backend.

    Derivative: ``dy/dx = slopes`` (see :func:`rrelu_backward`).
    """
    lo, up = _check_bounds(lower, upper)
    if not training:
        return elementwise_forward("leaky_relu", x, ((lo + up) / 2.0,), out, backend)
    be = resolve(backend, x)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    try:
        s = operator.index(seed) % (1 << 64)
    except TypeError:
        raise TypeError(f"seed must be an integer or None, got {seed!r}") from None
    return run_op("rrelu_train", be, x, lo, up, s, out)


@host_driver("rrelu_train")
def _host_rrelu_train(be: Any, x: Any, lower: float, upper: float, seed: int,
                      out: Any) -> tuple[Any, Any]:  # fmt: skip
    xa = as_float_array(x)
    o = host_out(out, xa.shape, xa.dtype)
    cdt = compute_dtype(xa.dtype)
    buf, dest = c_output(o, xa.shape, xa.dtype, [xa])
    slopes = np.empty(xa.size, dtype=cdt)
    if buf.size:
        be.rrelu_train(c_flat(xa, cdt), buf, slopes, lower, upper, seed)
    y = c_finish(buf, dest)
    return (y if out is None else out), slopes.reshape(xa.shape).astype(xa.dtype, copy=False)


def rrelu_backward(
    grad_output: ArrayLike, slopes: ArrayLike, *, out: Any = None, backend: str | None = None
) -> Any:
    """Gradient of :func:`rrelu` in training: ``grad_input = grad_output * slopes``."""
    fast = fast_path_pair(grad_output, slopes, out, backend)
    if fast is not None:  # C-contiguous NumPy arrays of one dtype and shape
        be, o = fast
        if o.size:
            be.multiply(np.reshape(grad_output, -1), np.reshape(slopes, -1), o.reshape(-1))
        return o
    return run_op("rrelu_backward", resolve(backend, grad_output), grad_output, slopes, out)


@host_driver("rrelu_backward")
def _host_rrelu_backward(be: Any, grad_output: Any, slopes: Any, out: Any) -> Any:
    g = as_float_array(grad_output, "grad_output")
    s = as_float_array(slopes, "slopes")
    check_same_shape(g, s, "grad_output", "slopes")
    dt = np.promote_types(g.dtype, s.dtype)
    o = host_out(out, g.shape, dt)
    res = run_map(be.multiply, [g, s], o, dt)
    return res if out is None else out


def _pieces(pieces: Any) -> int:
    k = _contract.integer(pieces, "pieces")
    if k < 1:
        raise ValueError(f"pieces must be a positive integer, got {k}")
    return k


def _maxout_layout(x: np.ndarray, pieces: Any, axis: Any) -> tuple[int, int, np.ndarray]:
    if x.ndim == 0:
        raise ValueError("maxout needs an input with at least one dimension")
    k = _pieces(pieces)
    ax = normalize_axis(axis, x.ndim)
    L = x.shape[ax]
    if L % k:
        raise ValueError(f"maxout: size {L} along axis {ax} is not divisible by pieces={k}")
    return k, ax, np.moveaxis(x, ax, -1)


def maxout(
    x: ArrayLike, pieces: int, axis: int = -1, *, out: Any = None, backend: str | None = None
) -> Any:
    """Maxout: the maximum over groups of ``pieces`` consecutive inputs along ``axis``.

        y[..., j] = max(x[..., j*pieces], ..., x[..., (j+1)*pieces - 1])

    Derivative: 1 for the first maximal input of each group, 0 for the others.
    NaN in a group gives NaN.
    """
    return run_op("maxout", resolve(backend, x), x, pieces, axis, out, _maxout_layout)


@host_driver("maxout")
def _host_maxout(be: Any, x: Any, pieces: Any, axis: Any, out: Any, layout: Any) -> Any:
    xa = as_float_array(x)
    k, ax, xm = layout(xa, pieces, axis)
    oshape_m = xm.shape[:-1] + (xm.shape[-1] // k,)
    oshape = list(xa.shape)
    oshape[ax] = xa.shape[ax] // k
    check_out(out, tuple(oshape), xa.dtype)
    cdt = compute_dtype(xa.dtype)
    M = math.prod(xm.shape[:-1])
    x2 = np.ascontiguousarray(xm, dtype=cdt).reshape(M, xm.shape[-1])
    o2 = np.empty((M, xm.shape[-1] // k), dtype=cdt)
    if o2.size:
        be.maxout(x2, o2, k)
    res = np.moveaxis(o2.reshape(oshape_m), -1, ax)
    if out is not None:
        out[...] = res
        return out
    return res.astype(xa.dtype, copy=False)


def maxout_backward(
    grad_output: ArrayLike,
    x: ArrayLike,
    pieces: int,
    axis: int = -1,
    *,
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Gradient of :func:`maxout`: each ``grad_output`` element goes to the first
    maximal input of its group; the other inputs get 0."""
    be = resolve(backend, x)
    return run_op("maxout_backward", be, grad_output, x, pieces, axis, out, _maxout_layout)


@host_driver("maxout_backward")
def _host_maxout_backward(be: Any, grad_output: Any, x: Any, pieces: Any, axis: Any, out: Any,
                          layout: Any) -> Any:  # fmt: skip
    xa = as_float_array(x)
    g = as_float_array(grad_output, "grad_output")
    k, ax, xm = layout(xa, pieces, axis)
    oshape = list(xa.shape)
    oshape[ax] = xa.shape[ax] // k
    if g.shape != tuple(oshape):
        raise ValueError(f"grad_output has shape {g.shape}; maxout's output has {tuple(oshape)}")
    dt = np.promote_types(g.dtype, xa.dtype)
    check_out(out, xa.shape, dt)
    cdt = compute_dtype(dt)
    M = math.prod(xm.shape[:-1])
    x2 = np.ascontiguousarray(xm, dtype=cdt).reshape(M, xm.shape[-1])
    g2 = np.ascontiguousarray(np.moveaxis(g, ax, -1), dtype=cdt).reshape(M, xm.shape[-1] // k)
    gx2 = np.empty_like(x2)
    if gx2.size:
        be.maxout_backward(g2, x2, gx2, k)
    res = np.moveaxis(gx2.reshape(xm.shape), -1, ax)
    if out is not None:
        out[...] = res
        return out
    return res.astype(dt, copy=False)
