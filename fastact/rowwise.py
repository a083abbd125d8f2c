"""Row-wise kernels: softmax, log-softmax and log-sum-exp over any axis.

Each is max-shifted, so no finite input overflows (rows of +-1e4 or 1e30 are
fine), and sums accumulate in float64.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fastact._dispatch import (
    _same_view,
    as_float_array,
    check_out,
    check_same_shape,
    compute_dtype,
    fast_path,
    normalize_axis,
    resolve,
)

__all__ = [
    "log_softmax",
    "log_softmax_backward",
    "logsumexp",
    "softmax",
    "softmax_backward",
]

_MASKED = ("nan", "zero")


def to_rows(a: np.ndarray, ax: int, dtype: np.dtype) -> np.ndarray:
    """``a`` with ``ax`` moved last, as a C-contiguous (rows, classes) array (a view if it can)."""
    am = np.moveaxis(a, ax, -1)
    C = am.shape[-1]
    return np.ascontiguousarray(am, dtype=dtype).reshape(math.prod(am.shape[:-1]), C)


def _row_target(
    out: np.ndarray | None, shape: tuple[int, ...], ax: int, cdt: np.dtype, inputs: list
) -> np.ndarray | None:
    """``out`` as a (rows, classes) buffer the kernel can write directly, or None."""
    if out is None or ax != len(shape) - 1 or out.dtype != cdt or not out.flags.c_contiguous:
        return None
    if any(np.may_share_memory(out, a) and not _same_view(out, a) for a in inputs):
        return None
    return out.reshape(math.prod(shape[:-1]), shape[-1]) if shape else None


def _finish_rows(
    buf: np.ndarray, out: np.ndarray | None, shape: tuple[int, ...], ax: int, dtype: np.dtype
) -> np.ndarray:
    moved = shape[:ax] + shape[ax + 1 :] + (shape[ax],)
    res = np.moveaxis(buf.reshape(moved), -1, ax)
    if out is not None:
        if not np.shares_memory(buf, out) or buf.size == 0:
            out[...] = res
        return out
    return res.astype(dtype, copy=False)


def _softmax_like(x: Any, axis: Any, all_masked: str, out: Any, backend: Any, mode: int) -> Any:
    if all_masked not in _MASKED:
        raise ValueError(f"all_masked must be 'nan' or 'zero', got {all_masked!r}")
    # fast path: C-contiguous float32/float64 NumPy rows along the last axis
    nd = x.ndim if type(x) is np.ndarray else 0
    last = nd > 0 and type(axis) is int and (axis == -1 or axis == nd - 1)
    fast = fast_path(x, out, backend) if last else None
    if fast is not None:
        be, o = fast
        if x.size:
            C = x.shape[-1]
            be.softmax(x.reshape(-1, C), o.reshape(-1, C), mode, all_masked == "zero")
        return o
    be = resolve(backend, x)
    if getattr(be, "DEVICE", False):
        return be.softmax(x, axis, mode, all_masked == "zero", out)
    x = as_float_array(x)
    ax = normalize_axis(axis, x.ndim)
    check_out(out, x.shape, x.dtype)
    cdt = compute_dtype(x.dtype)
    x2 = to_rows(x, ax, cdt)
    buf = _row_target(out, x.shape, ax, cdt, [x])
    if buf is None:
        buf = np.empty(x2.shape, dtype=cdt)
    if x2.size:
        be.softmax(x2, buf, mode, all_masked == "zero")
    return _finish_rows(buf, out, x.shape, ax, x.dtype)


def softmax(
    x: ArrayLike,
    axis: int = -1,
    *,
    all_masked: str = "nan",
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Numerically stable softmax along ``axis``.

        y_j = exp(x_j - m) / sum_k exp(x_k - m),   m = max_k x_k

    Derivative: ``dy_i/dx_j = y_i (delta_ij - y_j)`` (see :func:`softmax_backward`).

    A row of all ``-inf`` (every class masked) gives NaN, as in PyTorch; with
    ``all_masked="zero"`` it gives zeros, as attention code wants. NaN anywhere in a
    row makes the whole row NaN.

    Examples
    --------
    >>> import fastact
    >>> fastact.softmax([1.0, 2.0, 3.0])  # doctest: +SKIP
    array([0.09003057, 0.24472847, 0.66524096])
    """
    return _softmax_like(x, axis, all_masked, out, backend, 0)


def log_softmax(
    x: ArrayLike,
    axis: int = -1,
    *,
    all_masked: str = "nan",
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Numerically stable log-softmax along ``axis``.

        y_j = x_j - m - log(sum_k exp(x_k - m)),   m = max_k x_k

    Derivative: ``dy_i/dx_j = delta_ij - exp(y_j)`` (see :func:`log_softmax_backward`).

    A row of all ``-inf`` gives NaN (PyTorch), or ``-inf`` with ``all_masked="zero"``.
    """
    return _softmax_like(x, axis, all_masked, out, backend, 1)


def logsumexp(
    x: ArrayLike,
    axis: int = -1,
    keepdims: bool = False,
    *,
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Numerically stable log-sum-exp along ``axis``.

        y = m + log(sum_k exp(x_k - m)),   m = max_k x_k

    Derivative: ``dy/dx_j = softmax(x)_j``.

    A row of all ``-inf`` (and an empty row) gives ``-inf``; ``+inf`` gives ``+inf``;
    NaN gives NaN (as PyTorch).
    """
    be = resolve(backend, x)
    if getattr(be, "DEVICE", False):
        return be.logsumexp(x, axis, keepdims, out)
    x = as_float_array(x)
    ax = normalize_axis(axis, x.ndim)
    rshape = x.shape[:ax] + x.shape[ax + 1 :]
    kshape = x.shape[:ax] + (1,) + x.shape[ax + 1 :]
    check_out(out, kshape if keepdims else rshape, x.dtype)
    cdt = compute_dtype(x.dtype)
    x2 = to_rows(x, ax, cdt)
    res = np.empty(x2.shape[0], dtype=cdt)
    if res.size:
        be.logsumexp(x2, res)
    r = res.reshape(kshape if keepdims else rshape)
    if out is not None:
        out[...] = r
        return out
    return r.astype(x.dtype, copy=False)


def _softmax_bwd(grad_output: Any, y: Any, axis: Any, out: Any, backend: Any, log: bool) -> Any:
    be = resolve(backend, y)
    if getattr(be, "DEVICE", False):
        return be.softmax_backward(grad_output, y, axis, log, out)
    g = as_float_array(grad_output, "grad_output")
    y = as_float_array(y, "y")
    check_same_shape(g, y, "grad_output", "y")
    ax = normalize_axis(axis, y.ndim)
    dt = np.promote_types(g.dtype, y.dtype)
    check_out(out, y.shape, dt)
    cdt = compute_dtype(dt)
    g2 = to_rows(g, ax, cdt)
    y2 = to_rows(y, ax, cdt)
    buf = _row_target(out, y.shape, ax, cdt, [g, y])
    if buf is None:
        buf = np.empty(y2.shape, dtype=cdt)
    if y2.size:
        (be.log_softmax_backward if log else be.softmax_backward)(g2, y2, buf)
    return _finish_rows(buf, out, y.shape, ax, dt)


def softmax_backward(
    grad_output: ArrayLike,
    y: ArrayLike,
    axis: int = -1,
    *,
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Gradient of :func:`softmax` from its output ``y``.

    grad_input_j = y_j (grad_output_j - sum_k grad_output_k y_k)
    """
    return _softmax_bwd(grad_output, y, axis, out, backend, False)


def log_softmax_backward(
    grad_output: ArrayLike,
    y: ArrayLike,
    axis: int = -1,
    *,
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Gradient of :func:`log_softmax` from its output ``y``.

    grad_input_j = grad_output_j - exp(y_j) sum_k grad_output_k
    """
    return _softmax_bwd(grad_output, y, axis, out, backend, True)
