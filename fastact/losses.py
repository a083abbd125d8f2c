"""Losses with fused gradients: cross-entropy, BCE-with-logits, MSE.

Semantics follow PyTorch (``torch.nn.functional``): reductions ``"mean"``,
``"sum"`` and ``"none"``; a weighted mean divides by the sum of the targets'
weights; every target ignored gives NaN. With ``return_grad=True`` the gradient of
the reduced loss (of the sum of the per-element losses for ``"none"``) with
respect to the logits comes back too, computed in the same pass.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fastact import _contract
from fastact._dispatch import (
    _same_view,
    as_float_array,
    c_flat,
    check_out,
    compute_dtype,
    host_driver,
    host_out,
    is_device_array,
    normalize_axis,
    refuse_torch,
    resolve,
    run_op,
)
from fastact.rowwise import _finish_rows, _row_target, to_rows

__all__ = [
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "cross_entropy_backward",
    "mse_loss",
]

def _total(loss: np.ndarray) -> float:
    """Sum of the float64 per-element losses, or of a reduced pointwise loss's block
    partial sums (one per ``LOSS_BLOCK`` elements): exactly rounded (``math.fsum``) for
    fewer than 4096 terms, pairwise above; inf and NaN propagate as in PyTorch (fsum
    would raise)."""
    if loss.size < 4096:
        try:
            return float(math.fsum(loss))
        except (OverflowError, ValueError):  # inf - inf, or an overflowing partial sum
            pass
    with np.errstate(all="ignore"):
        return float(loss.sum())


def _check_loss_out(out: Any, reduction: str, shape: tuple, dtype: Any) -> None:
    """Check ``out`` for the loss before any kernel writes (``grad_out`` may be the logits)."""
    check_out(out, shape if reduction == "none" else (), np.dtype(dtype))


def _reduce(loss: np.ndarray, reduction: str, denom: float, shape: tuple, dtype, out) -> Any:
    """Reduce the float64 per-element losses (or partial sums of them, for a reduced
    pointwise loss); ``out`` receives the result if given."""
    if reduction == "none":
        r = loss.reshape(shape)
    else:
        total = _total(loss)
        with np.errstate(all="ignore"):
            r = np.asarray(np.float64(total) / denom if reduction == "mean" else total)
    check_out(out, r.shape, np.dtype(dtype))
    with np.errstate(over="ignore"):  # a float16 loss may overflow to inf, as in PyTorch
        if out is not None:
            out[...] = r
            return out
        r = r.astype(dtype)
    return r[()] if r.ndim == 0 else r


def _grad_buffer(grad_out: Any, x: np.ndarray, name: str = "grad_out") -> Any:
    """Checked ``grad_out`` as a plain ndarray (base-class view of a subclass), or None."""
    return host_out(grad_out, x.shape, x.dtype, name)


def _class_weight(weight: Any, C: int) -> np.ndarray | None:
    if weight is None:
        return None
    w = as_float_array(weight, "weight")
    if w.shape != (C,):
        raise ValueError(f"weight has shape {w.shape}; it needs one entry per class, ({C},)")
    return np.ascontiguousarray(w, dtype=np.float64)


def cross_entropy(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    return_grad: bool = False,
    grad_out: Any = None,
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Softmax cross-entropy, fused through log-sum-exp in one pass.

    For class-index targets ``t`` (logits' shape without ``axis``), with class
    weights ``w`` (default 1), smoothing ``e`` and ``C`` classes::

        lse = log(sum_j exp(x_j))
        loss = (1 - e) w_t (lse - x_t) + (e / C) sum_j w_j (lse - x_j)
        dloss/dx_j = p_j ((1 - e) w_t + (e / C) sum_k w_k) - (1 - e) w_t [j = t] - (e / C) w_j

    with ``p = softmax(x)``. Targets equal to ``ignore_index`` add nothing; the
    mean divides by the sum of the targets' weights (NaN when every target is
    ignored). For probability targets ``q`` (logits' shape, floating)::

        q' = (1 - e) q + e / C
        loss = sum_j w_j q'_j (lse - x_j),   dloss/dx_j = p_j sum_k w_k q'_k - w_j q'_j

    and the mean divides by the number of rows.

    Parameters
    ----------
    logits : array_like
        Unnormalised scores, classes along ``axis`` (``axis=1`` for PyTorch's
        (N, C, d1, ...) layout).
    target : array_like
        Integer class indices, or floating class probabilities.
    return_grad : bool
        Also return the gradient of the (reduced) loss with respect to ``logits``.
    grad_out : array, optional
        Where to write that gradient (``logits``' shape and dtype); may be ``logits``
        itself, which is then overwritten.
    out : array, optional
        Where to write the loss (0-d for ``"mean"``/``"sum"``).

    Returns
    -------
    loss, or ``(loss, grad)`` with ``return_grad=True``.

    Raises
    ------
    IndexError
        A target outside ``[0, C)`` that is not ``ignore_index`` (no kernel reads it).
    """
    be = resolve(backend, logits)
    a = _contract.cross_entropy(logits, target, axis, weight, ignore_index, label_smoothing,
                                reduction, return_grad, grad_out, out)  # fmt: skip
    return run_op("cross_entropy", be, logits, target, weight, a, bool(return_grad), grad_out, out)


@host_driver("cross_entropy")
def _host_cross_entropy(be: Any, logits: Any, target: Any, weight: Any,
                        a: _contract.CrossEntropyArgs, return_grad: bool, grad_out: Any,
                        out: Any) -> Any:  # fmt: skip
    """Cross-entropy on NumPy arrays (``a``: the checked arguments)."""
    red, ax, C, eps = a.reduction, a.axis, a.classes, a.eps
    x = as_float_array(logits, "logits")
    w = _class_weight(weight, C)
    refuse_torch(target, "target")
    t = target if isinstance(target, np.ndarray) else np.asarray(target)
    rshape = x.shape[:ax] + x.shape[ax + 1 :]
    cdt = compute_dtype(x.dtype)
    x2 = to_rows(x, ax, cdt)
    M = x2.shape[0]
    go = _grad_buffer(grad_out, x) if return_grad else None
    # every check runs before a kernel writes (grad_out may be the logits)
    _check_loss_out(out, red, rshape, x.dtype)
    if a.index_targets:
        ii = a.ignore_index
        tr = t.reshape(M)
        # compared in the target's own integer type: uint64 values >= 2**63 do not wrap
        valid = tr != ii if np.can_cast(np.min_scalar_type(ii), tr.dtype) else np.ones(M, bool)
        bad = valid & ((tr >= C) if t.dtype.kind == "u" else ((tr < 0) | (tr >= C)))
        if bad.any():
            v = tr[np.argmax(bad)]
            raise IndexError(f"target {v} is out of bounds for {C} classes (ignore_index={ii})")
        # kernels see int64 targets in [0, C) or -1 for an ignored one
        t1 = np.where(valid, tr, -1).astype(np.int64)
        ii_k = -1
    buf = None
    if return_grad:
        # grad_out may be the logits: each row is read before it is overwritten
        others = [arr for arr in (target, weight) if isinstance(arr, np.ndarray)]
        buf = _row_target(go, x.shape, ax, cdt, [x, *others])
        if buf is None:
            buf = np.empty(x2.shape, dtype=cdt)
    if a.index_targets:
        if red == "mean":
            denom = float(w[t1[valid]].sum()) if w is not None else float(valid.sum())
        else:
            denom = 1.0
        scale = (1.0 / denom if denom != 0 else 0.0) if red == "mean" else 1.0
        loss = be.cross_entropy_index(x2, t1, w, ii_k, eps, scale, return_grad, buf) if M else None
    else:
        q2 = to_rows(as_float_array(t, "target"), ax, cdt)
        denom = float(M)
        scale = 1.0 / denom if red == "mean" and M else 1.0
        loss = be.cross_entropy_prob(x2, q2, w, eps, scale, return_grad, buf) if M else None
    if loss is None:
        loss = np.zeros(0)
    result = _reduce(loss, red, denom, rshape, x.dtype, out)
    if not return_grad:
        return result
    assert buf is not None
    grad = _finish_rows(buf, go, x.shape, ax, x.dtype)
    return result, (grad if grad_out is None else grad_out)


def _flat_pair(x: np.ndarray, target: Any, cdt: np.dtype, name: str = "target") -> np.ndarray:
    t = as_float_array(target, name)
    if t.shape != x.shape:
        raise ValueError(f"{name} has shape {t.shape}; it must match the input's shape {x.shape}")
    return c_flat(t, cdt)


def _grad_dest(go: Any, cdt: np.dtype, x: np.ndarray, inputs: list) -> np.ndarray:
    """A flat buffer for the gradient: the checked ``grad_out`` itself when the kernel
    can write it directly (C order, compute dtype, no partial overlap with an input)."""
    if go is not None:
        ok = go.dtype == cdt and go.flags.c_contiguous
        if ok and not any(
            isinstance(a, np.ndarray) and np.may_share_memory(go, a) and not _same_view(go, a)
            for a in inputs
        ):
            return go.reshape(-1)
    return np.empty(x.size, dtype=cdt)


def _finish_flat(buf: np.ndarray, go: Any, grad_out: Any, x: np.ndarray) -> Any:
    if go is not None:
        if not np.shares_memory(buf, go) or buf.size == 0:
            go[...] = buf.reshape(x.shape)
        return grad_out
    return buf.reshape(x.shape).astype(x.dtype, copy=False)


def _broadcast_weight(w: Any, shape: tuple, name: str) -> np.ndarray | None:
    if w is None:
        return None
    a = as_float_array(w, name)
    try:
        b = np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(f"{name} of shape {a.shape} does not broadcast to {shape}") from None
    return np.ascontiguousarray(b, dtype=np.float64).reshape(-1)


def binary_cross_entropy_with_logits(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    reduction: str = "mean",
    return_grad: bool = False,
    grad_out: Any = None,
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Binary cross-entropy on logits, in the stable form.

        l = w ((1 - t) x + (1 + (p - 1) t) (log(1 + exp(-|x|)) + max(-x, 0)))
        dl/dx = w ((1 + (p - 1) t) sigmoid(x) - p t)

    ``w`` (``weight``) broadcasts to the logits; ``p`` (``pos_weight``) broadcasts
    along the last axis (one weight per class), as in PyTorch. The mean divides
    by the number of elements.
    """
    be = resolve(backend, logits)
    red = _contract.pointwise_loss(logits, target, reduction, return_grad, grad_out, out,
                                   {"weight": weight, "pos_weight": pos_weight})  # fmt: skip
    return run_op("bce_with_logits", be, logits, target, weight, pos_weight, red,
                  bool(return_grad), grad_out, out)  # fmt: skip


@host_driver("bce_with_logits")
def _host_bce_with_logits(be: Any, logits: Any, target: Any, weight: Any, pos_weight: Any,
                          reduction: str, return_grad: bool, grad_out: Any,
                          out: Any) -> Any:  # fmt: skip
    red = reduction
    x = as_float_array(logits, "logits")
    cdt = compute_dtype(x.dtype)
    t1 = _flat_pair(x, target, cdt)
    w = _broadcast_weight(weight, x.shape, "weight")
    pw = _broadcast_weight(pos_weight, x.shape, "pos_weight")
    n = x.size
    scale = 1.0 / n if red == "mean" and n else 1.0
    go = _grad_buffer(grad_out, x) if return_grad else None
    _check_loss_out(out, red, x.shape, x.dtype)
    inputs = [x, target, weight, pos_weight]
    buf = _grad_dest(go, cdt, x, inputs) if return_grad else None
    x1 = c_flat(x, cdt)
    per_element = red == "none"  # else the kernel may return partial sums of the losses
    loss = (be.bce_with_logits(x1, t1, w, pw, scale, return_grad, buf, per_element) if n
            else np.zeros(0))  # fmt: skip
    result = _reduce(loss, red, float(n), x.shape, x.dtype, out)
    if not return_grad:
        return result
    assert buf is not None
    return result, _finish_flat(buf, go, grad_out, x)


def mse_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
    return_grad: bool = False,
    grad_out: Any = None,
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Mean squared error.

    l = (x - t)^2,   dl/dx = 2 (x - t)   (divided by the element count for "mean")
    """
    be = resolve(backend, input)
    red = _contract.pointwise_loss(input, target, reduction, return_grad, grad_out, out)
    return run_op("mse", be, input, target, red, bool(return_grad), grad_out, out)


@host_driver("mse")
def _host_mse(be: Any, input: Any, target: Any, reduction: str, return_grad: bool,
              grad_out: Any, out: Any) -> Any:  # fmt: skip
    red = reduction
    x = as_float_array(input, "input")
    cdt = compute_dtype(x.dtype)
    t1 = _flat_pair(x, target, cdt)
    n = x.size
    scale = 1.0 / n if red == "mean" and n else 1.0
    go = _grad_buffer(grad_out, x) if return_grad else None
    _check_loss_out(out, red, x.shape, x.dtype)
    buf = _grad_dest(go, cdt, x, [x, target]) if return_grad else None
    per_element = red == "none"  # else the kernel may return partial sums of the losses
    loss = be.mse(c_flat(x, cdt), t1, scale, return_grad, buf, per_element) if n else np.zeros(0)
    result = _reduce(loss, red, float(n), x.shape, x.dtype, out)
    if not return_grad:
        return result
    assert buf is not None
    return result, _finish_flat(buf, go, grad_out, x)


def cross_entropy_backward(
    grad_loss: Any,
    logits: Any,
    target: Any,
    *,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    out: Any = None,
    backend: str | None = None,
) -> Any:
    """Gradient of :func:`cross_entropy` for an upstream gradient ``grad_loss``.

    Returns ``d(sum(grad_loss * loss)) / d logits`` (``logits``' shape and dtype):

    * ``reduction="none"``: ``grad_loss`` has the per-row loss shape (``logits``' shape
      without ``axis``); row ``r`` of the result is ``grad_loss[r]`` times the gradient
      of that row's loss (each row's loss depends on its own logits only).
    * ``"mean"`` / ``"sum"``: ``grad_loss`` is a scalar; the result is ``grad_loss``
      times the gradient of the reduced loss.

    The gradient itself comes from ``cross_entropy(..., return_grad=True)`` (same
    formulas, same fused pass); the other arguments have its meaning. ``out`` receives
    the result (``logits``' shape and dtype) and may be ``logits`` itself.
    """
    red = _contract.reduction(reduction)
    # host grad_loss follows the host contract (dtype, masks, byte order, subclasses)
    gl = grad_loss if is_device_array(grad_loss) else as_float_array(grad_loss, "grad_loss")
    ax_shape: tuple[int, ...] | None = None
    gshape = tuple(int(s) for s in np.shape(gl))
    if red == "none":
        shape = tuple(int(s) for s in np.shape(logits))
        if not shape:
            raise ValueError("logits must have at least one dimension (the class axis)")
        ax = normalize_axis(axis, len(shape))
        rshape = shape[:ax] + shape[ax + 1 :]
        if gshape != rshape:
            raise ValueError(
                f"grad_loss has shape {gshape}; with reduction='none' it needs the per-row "
                f"loss shape {rshape}"
            )
        ax_shape = shape[:ax] + (1,) + shape[ax + 1 :]
    elif math.prod(gshape) != 1:
        raise ValueError(f"grad_loss must be a scalar with reduction={red!r}, got shape {gshape}")
    _, g = cross_entropy(
        logits, target, axis=axis, weight=weight, ignore_index=ignore_index,
        label_smoothing=label_smoothing, reduction=red, return_grad=True, grad_out=out,
        backend=backend,
    )  # fmt: skip
    if ax_shape is None:
        g *= float(gl.item() if hasattr(gl, "item") else gl)
    else:
        g *= gl.reshape(ax_shape)
    return g
