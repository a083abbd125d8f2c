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
    check_same_shape,
    compute_dtype,
    fast_path,
    fast_path_pair,
    host_driver,
    host_out,
    normalize_axes,
    resolve,
    run_op,
)
from fastact.backends.interface import MODE_LOG_SOFTMAX, MODE_SOFTMAX

__all__ = [
    "log_softmax",
    "log_softmax_backward",
    "logsumexp",
    "softmax",
    "softmax_backward",
    "softmin",
    "softmin_backward",
]

_MASKED = ("nan", "zero")


def to_rows(a: np.ndarray, ax: int | tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``a`` with the axis (or axes) ``ax`` moved last, as a C-contiguous
    (rows, classes) array (a view if it can)."""
    axes = (ax,) if isinstance(ax, int) else ax
    k = len(axes)
    am = np.moveaxis(a, axes, range(a.ndim - k, a.ndim))
    C = math.prod(am.shape[a.ndim - k :])
    return np.ascontiguousarray(am, dtype=dtype).reshape(math.prod(am.shape[: a.ndim - k]), C)


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
    buf: np.ndarray,
    out: np.ndarray | None,
    shape: tuple[int, ...],
    ax: int | tuple[int, ...],
    dtype: np.dtype,
) -> np.ndarray:
    axes = (ax,) if isinstance(ax, int) else ax
    nd, k = len(shape), len(axes)
    moved = tuple(n for i, n in enumerate(shape) if i not in axes) + tuple(shape[i] for i in axes)
    res = np.moveaxis(buf.reshape(moved), range(nd - k, nd), axes)
    if out is not None:
        if not np.shares_memory(buf, out) or buf.size == 0:
            out[...] = res
        return out
    return res.astype(dtype, copy=False)


def _softmax_like(x: Any, axis: Any, all_masked: str, out: Any, backend: Any, mode: int,
                  negate: bool = False) -> Any:  # fmt: skip
    if all_masked not in _MASKED:
        raise ValueError(f"all_masked must be 'nan' or 'zero', got {all_masked!r}")
    # fast path: C-contiguous float32/float64 NumPy rows along the last axis
    nd = x.ndim if type(x) is np.ndarray else 0
    last = nd > 0 and type(axis) is int and (axis == -1 or axis == nd - 1) and not negate
    fast = fast_path(x, out, backend) if last else None
    if fast is not None:
        be, o = fast
        if x.size:
            C = x.shape[-1]
            be.softmax(x.reshape(-1, C), o.reshape(-1, C), mode, all_masked == "zero")
        return o
    be = resolve(backend, x)
    axes = normalize_axes(axis, np.ndim(x))
    return run_op("softmax", be, x, axes, mode, all_masked == "zero", out, negate)


@host_driver("softmax")
def _host_softmax(be: Any, x: Any, axes: tuple[int, ...], mode: int, zero_masked: bool,
                  out: Any, negate: bool) -> Any:  # fmt: skip
    """The softmax family on NumPy arrays: ``axes`` moved last as C-contiguous rows in
    the compute dtype, one ``be.softmax`` call, the rows moved back."""
    x = as_float_array(x)
    o = host_out(out, x.shape, x.dtype)
    shape = x.shape
    if x.ndim == 0:  # one element: one row
        x, axes = x.reshape(1), (0,)
        o = None if o is None else o.reshape(1)  # type: ignore[assignment]
    cdt = compute_dtype(x.dtype)
    ax = axes[0] if len(axes) == 1 else axes
    x2 = to_rows(x, ax, cdt)
    if negate:  # softmin(x) = softmax(-x): one extra pass
        x2 = np.negative(x2, out=np.empty_like(x2) if np.shares_memory(x2, x) else x2)
    buf = _row_target(o, x.shape, ax, cdt, [x]) if isinstance(ax, int) else None
    if buf is None:
        buf = np.empty(x2.shape, dtype=cdt)
    if x2.size:
        be.softmax(x2, buf, mode, zero_masked)
    res = _finish_rows(buf, o, x.shape, ax, x.dtype)
    return res.reshape(shape) if out is None else out


def softmax(
    x: ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    *,
    all_masked: str = "nan",
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Numerically stable softmax along ``axis`` (an int, a tuple of ints, or None for
    all axes, as ``scipy.special.softmax``).

        y_j = exp(x_j - m) / sum_k exp(x_k - m),   m = max_k x_k

    Derivative: ``dy_i/dx_j = y_i (delta_ij - y_j)`` (see :func:`softmax_backward`).

    A row of all ``-inf`` (every class masked) gives NaN, as in PyTorch; with
    ``all_masked="zero"`` it gives zeros, as attention code wants. NaN anywhere in a
    row makes the whole row NaN.

    Examples
    --------
    >>> import fastact
    >>> fastact.softmax([1.0, 2.0, 3.0])
    array([0.09003057, 0.24472847, 0.66524096])
    """
    return _softmax_like(x, axis, all_masked, out, backend, MODE_SOFTMAX)


def log_softmax(
    x: ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
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
    return _softmax_like(x, axis, all_masked, out, backend, MODE_LOG_SOFTMAX)


def logsumexp(
    x: ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    keepdims: bool = False,
    *,
    b: ArrayLike | None = None,
    return_sign: bool = False,
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Numerically stable log-sum-exp along ``axis`` (an int, a tuple of ints, or None
    for all axes), with SciPy's signature (``scipy.special.logsumexp``).

        y = m + log(sum_k b_k exp(x_k - m)),   m = max_k x_k   (b = 1 by default)

    Derivative: ``dy/dx_j = b_j exp(x_j - y)`` (``softmax(x)_j`` for ``b = 1``).

    A row of all ``-inf`` (and an empty row) gives ``-inf``; ``+inf`` gives ``+inf``;
    NaN gives NaN (as PyTorch). ``b`` (broadcast to ``x``) may hold zeros and negative
    weights; with ``return_sign=True`` the result is ``(log|s|, sign(s))`` for
    ``s = sum_k b_k exp(x_k)``, otherwise a negative ``s`` gives NaN (as SciPy). With
    ``b`` the sum is evaluated by NumPy in float64 (no compiled kernel).

    Examples
    --------
    >>> import fastact, numpy as np
    >>> float(fastact.logsumexp(np.array([0.0, -40.0])))
    4.248354255291589e-18
    """
    if not isinstance(return_sign, (bool, np.bool_)):
        raise TypeError(f"return_sign must be a bool, got {return_sign!r}")
    be = resolve(backend, x)
    axes = normalize_axes(axis, np.ndim(x))
    return run_op("logsumexp", be, x, axes, keepdims, b, bool(return_sign), out)


def _lse_shapes(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[tuple, tuple]:
    rshape = tuple(n for i, n in enumerate(shape) if i not in axes)
    kshape = tuple(1 if i in axes else n for i, n in enumerate(shape))
    return rshape, kshape


@host_driver("logsumexp")
def _host_logsumexp(be: Any, x: Any, axes: tuple[int, ...], keepdims: bool, b: Any,
                    return_sign: bool, out: Any) -> Any:  # fmt: skip
    x = as_float_array(x)
    rshape, kshape = _lse_shapes(x.shape, axes)
    shape = kshape if keepdims else rshape
    if b is not None:
        bw = as_float_array(b, "b")
        try:
            bb = np.broadcast_to(bw, x.shape)
        except ValueError:
            msg = f"b has shape {bw.shape}; it must broadcast to x's {x.shape}"
            raise ValueError(msg) from None
    o = host_out(out, shape, x.dtype)
    if return_sign and out is not None:
        raise ValueError("out is not supported with return_sign=True")
    cdt = compute_dtype(x.dtype)
    xr = x.reshape(1) if x.ndim == 0 else x
    ax = axes if len(axes) != 1 else axes[0]
    x2 = to_rows(xr, ax if x.ndim else 0, cdt)
    if b is None:
        res = np.empty(x2.shape[0], dtype=cdt)
        if res.size:
            be.logsumexp(x2, res)
        sign = np.ones(x2.shape[0], dtype=cdt)
    else:
        res, sign = _weighted_lse(x2, to_rows(bb.reshape(xr.shape), ax if x.ndim else 0,
                                              np.dtype(np.float64)), return_sign)  # fmt: skip
    r = res.reshape(shape)
    if o is not None:
        o[...] = r
        return out
    r = r.astype(x.dtype, copy=False)
    r = r[()] if r.ndim == 0 else r
    if return_sign:
        sg = sign.reshape(shape).astype(x.dtype, copy=False)
        return r, (sg[()] if sg.ndim == 0 else sg)
    return r


def _weighted_lse(x2: np.ndarray, b2: np.ndarray, return_sign: bool) -> tuple[Any, Any]:
    """Rows of log|sum_k b_k exp(x_k)| and the sum's sign, in float64 (SciPy's rules)."""
    xd = x2.astype(np.float64)
    with np.errstate(all="ignore"):
        live = np.where(b2 != 0, xd, -np.inf)  # b = 0 removes a term, even an infinite one
        m = live.max(axis=1, keepdims=True) if xd.shape[1] else np.full((xd.shape[0], 1), -np.inf)
        m = np.where(np.isfinite(m), m, np.where(np.isnan(m), m, np.where(m > 0, m, 0.0)))
        s = np.where(b2 != 0, b2 * np.exp(xd - m), 0.0).sum(axis=1)
        sign = np.sign(s)
        res = m[:, 0] + np.log(np.abs(s) if return_sign else s)
    if not return_sign:
        return res, sign
    return res, np.where(np.isnan(s), np.nan, sign)


def _softmax_bwd(grad_output: Any, y: Any, axis: Any, out: Any, backend: Any, log: bool,
                 negate: bool = False) -> Any:  # fmt: skip
    # fast path: C-contiguous float32/float64 NumPy rows along the last axis (the row
    # kernels reduce a row before writing it, so out may be grad_output or y itself)
    nd = y.ndim if type(y) is np.ndarray else 0
    last = nd > 0 and type(axis) is int and (axis == -1 or axis == nd - 1) and not negate
    fast = fast_path_pair(grad_output, y, out, backend) if last else None
    if fast is not None:
        be, o = fast
        if y.size:
            C = y.shape[-1]
            run = be.log_softmax_backward if log else be.softmax_backward
            run(grad_output.reshape(-1, C), y.reshape(-1, C), o.reshape(-1, C))
        return o
    be = resolve(backend, y)
    axes = normalize_axes(axis, np.ndim(y))
    return run_op("softmax_backward", be, grad_output, y, axes, log, out, negate)


@host_driver("softmax_backward")
def _host_softmax_backward(be: Any, grad_output: Any, y: Any, axes: tuple[int, ...], log: bool,
                           out: Any, negate: bool) -> Any:  # fmt: skip
    g = as_float_array(grad_output, "grad_output")
    y = as_float_array(y, "y")
    check_same_shape(g, y, "grad_output", "y")
    dt = np.promote_types(g.dtype, y.dtype)
    o: Any = host_out(out, y.shape, dt)
    shape = y.shape
    if y.ndim == 0:
        g, y, axes = g.reshape(1), y.reshape(1), (0,)
        o = None if o is None else o.reshape(1)
    ax = axes[0] if len(axes) == 1 else axes
    cdt = compute_dtype(dt)
    g2 = to_rows(g, ax, cdt)
    y2 = to_rows(y, ax, cdt)
    if negate:  # softmin: d softmax(-x)/dx = -J(y), i.e. the softmax backward of -g
        g2 = np.negative(g2, out=np.empty_like(g2) if np.shares_memory(g2, g) else g2)
    buf = _row_target(o, y.shape, ax, cdt, [g, y]) if isinstance(ax, int) else None
    if buf is None:
        buf = np.empty(y2.shape, dtype=cdt)
    if y2.size:
        (be.log_softmax_backward if log else be.softmax_backward)(g2, y2, buf)
    res = _finish_rows(buf, o, y.shape, ax, dt)
    return res.reshape(shape) if out is None else out


def softmax_backward(
    grad_output: ArrayLike,
    y: ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
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
    axis: int | tuple[int, ...] | None = -1,
    *,
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Gradient of :func:`log_softmax` from its output ``y``.

    grad_input_j = grad_output_j - exp(y_j) sum_k grad_output_k
    """
    return _softmax_bwd(grad_output, y, axis, out, backend, True)


def softmin(
    x: ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    *,
    all_masked: str = "nan",
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Softmin along ``axis`` (``torch.softmin``): the softmax of ``-x``.

        y_j = exp(m - x_j) / sum_k exp(m - x_k),   m = min_k x_k

    Derivative: ``dy_i/dx_j = -y_i (delta_ij - y_j)`` (see :func:`softmin_backward`).

    A row of all ``+inf`` gives NaN, or zeros with ``all_masked="zero"``.

    Examples
    --------
    >>> import fastact, numpy as np
    >>> fastact.softmin(np.array([1.0, 2.0, 3.0])).round(4)
    array([0.6652, 0.2447, 0.09  ])
    """
    return _softmax_like(x, axis, all_masked, out, backend, MODE_SOFTMAX, negate=True)


def softmin_backward(
    grad_output: ArrayLike,
    y: ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    *,
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Gradient of :func:`softmin` from its output ``y``.

    grad_input_j = -y_j (grad_output_j - sum_k grad_output_k y_k)
    """
    return _softmax_bwd(grad_output, y, axis, out, backend, False, negate=True)
