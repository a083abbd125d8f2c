"""Independent float64 NumPy references for the operations beyond the activation table.

Written from the formulas, not from any backend: the test oracle of the registry
(:mod:`fastact.registry`). Inputs are converted to float64; results are float64.
The elementwise activations' references live with their table entries
(:mod:`fastact.table`, ``Elementwise.ref`` / ``ref_deriv``).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _f64(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, tuple):
        return tuple(a % ndim for a in axis)
    return (axis % ndim,)


def logsumexp(x: Any, axis: Any = -1, keepdims: bool = False, b: Any = None,
              return_sign: bool = False) -> Any:  # fmt: skip
    """log(sum_k b_k exp(x_k)), through ``scipy.special.logsumexp`` (float64)."""
    from scipy.special import logsumexp as lse

    x = _f64(x)
    ax = _axes(axis, x.ndim) if x.ndim else None
    with np.errstate(all="ignore"):
        return lse(x, axis=ax, keepdims=keepdims, b=None if b is None else _f64(b),
                   return_sign=return_sign)  # fmt: skip


def softmax(x: Any, axis: Any = -1, all_masked: str = "nan") -> np.ndarray:
    """exp(x_j - m) / sum_k exp(x_k - m) over ``axis`` (an int, a tuple or None)."""
    x = _f64(x)
    if x.ndim == 0:
        x = x.reshape(1)
        return softmax(x, -1, all_masked).reshape(())
    ax = _axes(axis, x.ndim)
    with np.errstate(all="ignore"):
        m = np.max(x, axis=ax, keepdims=True) if x.size else x
        e = np.exp(x - m)
        y = e / np.sum(e, axis=ax, keepdims=True)
        if all_masked == "zero" and x.size:
            masked = np.all(x == -np.inf, axis=ax, keepdims=True)
            y = np.where(masked, 0.0, y)
    return y


def log_softmax(x: Any, axis: Any = -1, all_masked: str = "nan") -> np.ndarray:
    """x_j - m - log(sum_k exp(x_k - m))."""
    x = _f64(x)
    if x.ndim == 0:
        return log_softmax(x.reshape(1), -1, all_masked).reshape(())
    ax = _axes(axis, x.ndim)
    with np.errstate(all="ignore"):
        # x - logsumexp(x) with SciPy's logsumexp, which keeps log1p of a tiny sum
        # (log_softmax([0, -40])[0] = -4.25e-18, not 0)
        if x.size:
            m = np.max(x, axis=ax, keepdims=True)
            naive = x - m - np.log(np.sum(np.exp(x - m), axis=ax, keepdims=True))
            # +inf or all -inf rows: the naive form's NaN (as PyTorch)
            y = np.where(np.isfinite(m), x - logsumexp(x, axis=ax, keepdims=True), naive)
        else:
            y = x.copy()
        if all_masked == "zero" and x.size:
            masked = np.all(x == -np.inf, axis=ax, keepdims=True)
            y = np.where(masked, -np.inf, y)
    return y


def softmin(x: Any, axis: Any = -1, all_masked: str = "nan") -> np.ndarray:
    """softmax(-x)."""
    return softmax(-_f64(x), axis, all_masked)


def softmax_backward(g: Any, y: Any, axis: Any = -1) -> np.ndarray:
    """y_j (g_j - sum_k g_k y_k)."""
    g, y = _f64(g), _f64(y)
    if y.ndim == 0:
        return softmax_backward(g.reshape(1), y.reshape(1)).reshape(())
    ax = _axes(axis, y.ndim)
    return y * (g - np.sum(g * y, axis=ax, keepdims=True))


def softmin_backward(g: Any, y: Any, axis: Any = -1) -> np.ndarray:
    """-y_j (g_j - sum_k g_k y_k): softmin(x) = softmax(-x)."""
    return -softmax_backward(g, y, axis)


def log_softmax_backward(g: Any, y: Any, axis: Any = -1) -> np.ndarray:
    """g_j - exp(y_j) sum_k g_k."""
    g, y = _f64(g), _f64(y)
    if y.ndim == 0:
        return log_softmax_backward(g.reshape(1), y.reshape(1)).reshape(())
    ax = _axes(axis, y.ndim)
    with np.errstate(all="ignore"):
        return g - np.exp(y) * np.sum(g, axis=ax, keepdims=True)


def _reduce(loss: np.ndarray, reduction: str, denom: float) -> Any:
    if reduction == "none":
        return loss
    with np.errstate(all="ignore"):
        s = np.sum(loss)
        return s / denom if reduction == "mean" else s


def cross_entropy(
    logits: Any,
    target: Any,
    *,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    return_grad: bool = False,
) -> Any:
    """Softmax cross-entropy (PyTorch's definition) and its gradient, float64."""
    x = np.moveaxis(_f64(logits), axis, -1)
    C = x.shape[-1]
    e = float(label_smoothing)
    w = np.ones(C) if weight is None else _f64(weight)
    lp = log_softmax(x, -1)
    p = np.exp(lp)
    t = np.asarray(target)
    if t.dtype.kind in "iu":
        valid = t != ignore_index
        ti = np.where(valid, t, 0).astype(np.int64)
        wt = np.where(valid, w[ti], 0.0)
        nll = -np.take_along_axis(lp, ti[..., None], -1)[..., 0]
        smooth = -(lp * w).sum(-1)
        loss = np.where(valid, (1 - e) * wt * nll + (e / C) * smooth, 0.0)
        denom = float(wt.sum())
        onehot = np.zeros_like(x)
        np.put_along_axis(onehot, ti[..., None], 1.0, -1)
        coef = (1 - e) * wt[..., None] * onehot + np.where(valid, e / C, 0.0)[..., None] * w
    else:
        q = np.moveaxis(_f64(t), axis, -1)
        q = (1 - e) * q + e / C
        coef = w * q
        loss = -(coef * lp).sum(-1)
        denom = float(np.prod(x.shape[:-1]))
    grad = p * coef.sum(-1, keepdims=True) - coef
    if reduction == "mean":
        grad = grad / denom
    res = _reduce(loss, reduction, denom)
    if not return_grad:
        return res
    return res, np.moveaxis(grad, -1, axis)


def cross_entropy_backward(grad_loss: Any, logits: Any, target: Any, **kw: Any) -> np.ndarray:
    """d(sum grad_loss * loss)/d logits from the reference gradient."""
    kw = dict(kw)
    red = kw.get("reduction", "mean")
    axis = kw.get("axis", -1)
    _, g = cross_entropy(logits, target, return_grad=True, **kw)
    gl = _f64(grad_loss)
    if red == "none":
        return g * np.expand_dims(gl, axis)
    return g * gl


def binary_cross_entropy_with_logits(
    logits: Any,
    target: Any,
    *,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
    return_grad: bool = False,
) -> Any:
    """w [p t softplus(-x) + (1 - t) softplus(x)], gradient w [(p t + 1 - t) sigmoid(x) - p t]."""
    x, t = _f64(logits), _f64(target)
    w = 1.0 if weight is None else _f64(weight)
    p = 1.0 if pos_weight is None else _f64(pos_weight)
    with np.errstate(all="ignore"):
        sp_neg = np.logaddexp(0.0, -x)  # softplus(-x) = -log sigmoid(x)
        sp_pos = np.logaddexp(0.0, x)
        loss = w * (p * t * sp_neg + (1 - t) * sp_pos) * np.ones_like(x)
        sig = np.exp(-sp_neg)
        grad = w * ((p * t + 1 - t) * sig - p * t) * np.ones_like(x)
    n = x.size
    if reduction == "mean":
        grad = grad / n
    res = _reduce(loss, reduction, n)
    return (res, grad) if return_grad else res


def mse_loss(input: Any, target: Any, *, reduction: str = "mean", return_grad: bool = False) -> Any:
    """(x - t)^2, gradient 2 (x - t)."""
    x, t = _f64(input), _f64(target)
    with np.errstate(all="ignore"):
        d = x - t
        loss = d * d
    grad = 2 * d / (x.size if reduction == "mean" else 1)
    res = _reduce(loss, reduction, x.size)
    return (res, grad) if return_grad else res


def _channel(x: np.ndarray, w: np.ndarray, axis: int) -> np.ndarray:
    """``w`` broadcast along the channel axis of ``x``."""
    if w.size == 1 or x.ndim == 0:
        return np.broadcast_to(w.reshape(()), x.shape) if x.ndim else w.reshape(())
    ax = 0 if x.ndim == 1 else axis % x.ndim
    shape = [1] * x.ndim
    shape[ax] = w.size
    return np.broadcast_to(w.reshape(shape), x.shape)


def prelu(x: Any, weight: Any, axis: int = 1) -> np.ndarray:
    """x for x > 0, w_c x otherwise."""
    x, w = _f64(x), _f64(weight)
    return np.where(x > 0, x, _channel(x, w, axis) * x)


def prelu_backward(g: Any, x: Any, weight: Any, axis: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(g for x > 0 else w_c g, sum over channel c of g x where x <= 0)."""
    g, x, w = _f64(g), _f64(x), _f64(weight)
    wc = _channel(x, w, axis)
    gx = np.where(x > 0, g, wc * g)
    contrib = np.where(x > 0, 0.0, g * x)
    if w.size == 1 or x.ndim == 0:
        gw = np.asarray(contrib.sum()).reshape(w.shape)
    else:
        ax = 0 if x.ndim == 1 else axis % x.ndim
        gw = np.moveaxis(contrib, ax, 0).reshape(w.size, -1).sum(1)
    return gx, gw


def leaky(x: Any, slope: float) -> np.ndarray:
    x = _f64(x)
    return np.where(x >= 0, x, slope * x)


def rrelu(x: Any, lower: float = 1 / 8, upper: float = 1 / 3, training: bool = False,
          seed: Any = None) -> Any:  # fmt: skip
    """Evaluation: leaky ReLU with slope (lower + upper) / 2 (training is checked by
    its own property test: random slopes)."""
    return leaky(x, (lower + upper) / 2)


def rrelu_backward(g: Any, slopes: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        return _f64(g) * _f64(slopes)


def maxout(x: Any, pieces: int, axis: int = -1) -> np.ndarray:
    """max over groups of ``pieces`` consecutive entries along ``axis``."""
    x = np.moveaxis(_f64(x), axis, -1)
    r = x.reshape(*x.shape[:-1], x.shape[-1] // pieces, pieces)
    with np.errstate(all="ignore"):
        m = np.where(np.isnan(r).any(-1), np.nan, np.max(r, -1))
    return np.moveaxis(m, -1, axis)


def maxout_backward(g: Any, x: Any, pieces: int, axis: int = -1) -> np.ndarray:
    """g to the first maximal entry of each group, 0 elsewhere."""
    xm = np.moveaxis(_f64(x), axis, -1)
    gm = np.moveaxis(_f64(g), axis, -1)
    r = xm.reshape(*xm.shape[:-1], xm.shape[-1] // pieces, pieces)
    arg = np.argmax(np.where(np.isnan(r), -np.inf, r), -1)
    out = np.zeros_like(r)
    np.put_along_axis(out, arg[..., None], gm[..., None], -1)
    return np.moveaxis(out.reshape(xm.shape), -1, axis)
