"""The plain NumPy reference backend.

Elementwise activations evaluate the table's float64 reference formulas
(``Elementwise.ref`` / ``ref_deriv``) and round to the output dtype; the losses,
RReLU, maxout and the row shifts evaluate the formulas of :mod:`fastact.pointwise`
on whole arrays (the ones every compiled backend is generated from). It is the
slowest backend and the one every other backend must agree with.
"""

from __future__ import annotations

import numpy as np

from fastact import pointwise as _pw
from fastact import table

NAME = "numpy"
#: a host backend: NumPy arrays in and out (the dispatch layer reads this on every call)
DEVICE = False


def unary(name: str, x: np.ndarray, out: np.ndarray, a: float, b: float) -> None:
    with np.errstate(all="ignore"):
        out[...] = table.BY_NAME[name].ref(x.astype(np.float64), float(a), float(b))


def unary_backward(
    name: str, g: np.ndarray, x: np.ndarray, out: np.ndarray, a: float, b: float
) -> None:
    with np.errstate(all="ignore"):
        d = table.BY_NAME[name].ref_deriv(x.astype(np.float64), float(a), float(b))
        out[...] = g.astype(np.float64) * d


def unary_backward_from_output(
    name: str, g: np.ndarray, y: np.ndarray, out: np.ndarray, a: float, b: float
) -> None:
    fo = table.BY_NAME[name].from_output
    assert fo is not None, name
    with np.errstate(all="ignore"):
        out[...] = g.astype(np.float64) * fo.ref_deriv(y.astype(np.float64), float(a), float(b))


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
    with np.errstate(over="ignore"):
        return _pw.splitmix64_uniform(seed, np.arange(n, dtype=np.uint64))


def rrelu_train(
    x: np.ndarray, out: np.ndarray, slopes: np.ndarray, lower: float, upper: float, seed: int
) -> None:
    slopes[...] = _pw.rrelu_slope(x, float(lower), float(upper), uniforms(seed, x.shape[0]))
    out[...] = x * slopes


def multiply(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    with np.errstate(all="ignore"):
        np.multiply(a, b, out=out)


def _group_argmax(x3: np.ndarray) -> np.ndarray:
    """The index each group's scan keeps (``pointwise.maxout_wins``): the first NaN if
    any, else the first maximum."""
    best = x3[..., 0]
    arg = np.zeros(best.shape, dtype=np.intp)
    for p in range(1, x3.shape[-1]):
        v = x3[..., p]
        win = _pw.maxout_wins(v, best)
        best = np.where(win, v, best)
        arg = np.where(win, p, arg)
    return arg


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


# --------------------------------------------------------------------------- #
# Row-wise kernels: rows of a C-contiguous (M, C) array, float64 arithmetic.  #
# --------------------------------------------------------------------------- #


def _shift(m: np.ndarray, inf_too: bool) -> np.ndarray:
    """Row max, 0 where it is -inf (and where it is +inf when ``inf_too``)."""
    return _pw.lse_shift(m) if inf_too else _pw.softmax_shift(m)


def _rowmax(x: np.ndarray) -> np.ndarray:
    if x.shape[1] == 0:
        return np.full(x.shape[0], -np.inf)
    return np.max(np.where(np.isnan(x), -np.inf, x), axis=1)


def _log_sum(e: np.ndarray) -> np.ndarray:
    """log(sum_j e_j) per row, as log1p(c - 1 + t) with c the terms equal to 1 (the
    shifted maxima) and t the others: the tiny t survives (log-sum-exp of [0, -40])."""
    ones = e == 1.0
    c = ones.sum(axis=1, keepdims=True)
    t = np.where(ones, 0.0, e).sum(axis=1, keepdims=True)
    s = c + t
    return np.where((c >= 1) & (s < 2), np.log1p((c - 1) + t), np.log(s))


def softmax(x: np.ndarray, out: np.ndarray, mode: int, zero_masked: bool) -> None:
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        sh = _shift(_rowmax(x), False)[:, None]
        e = np.exp(x - sh)
        s = e.sum(axis=1, keepdims=True)
        if mode == 0:
            r = e / s
            fill = 0.0
        else:
            r = x - sh - _log_sum(e)
            fill = -np.inf
        if zero_masked:
            r = np.where(s == 0, fill, r)
    out[...] = r


def logsumexp(x: np.ndarray, out: np.ndarray) -> None:
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        sh = _shift(_rowmax(x), True)
        out[...] = sh + _log_sum(np.exp(x - sh[:, None]))[:, 0]


def softmax_backward(g: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    g, y = g.astype(np.float64), y.astype(np.float64)
    with np.errstate(all="ignore"):
        out[...] = y * (g - (g * y).sum(axis=1, keepdims=True))


def log_softmax_backward(g: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    g, y = g.astype(np.float64), y.astype(np.float64)
    with np.errstate(all="ignore"):
        out[...] = g - np.exp(y) * g.sum(axis=1, keepdims=True)


def _log_softmax64(x: np.ndarray) -> np.ndarray:
    r = np.empty(x.shape)
    softmax(x, r, 1, False)
    return r


def cross_entropy_index(x, target, weight, ignore_index, eps, scale, want_grad, grad) -> np.ndarray:
    M, C = x.shape
    w = np.ones(C) if weight is None else weight
    valid = (target != ignore_index) & (target >= 0) & (target < C)
    t = np.where(valid, target, 0)
    with np.errstate(all="ignore"):
        logp = _log_softmax64(x)
        lt = -np.take_along_axis(logp, t[:, None], axis=1)[:, 0] * w[t]
        loss = (1 - eps) * lt
        if eps:
            loss = loss + eps / C * -(logp * w).sum(axis=1)
        loss = np.where(valid, loss, np.where(target == ignore_index, 0.0, np.nan))
        if want_grad:
            p = np.exp(logp)
            a = (1 - eps) * w[t] + (eps / C * w.sum() if eps else 0.0)
            gr = p * a[:, None] - (eps / C * w[None, :] if eps else 0.0)
            gr[np.arange(M), t] -= (1 - eps) * w[t]
            grad[...] = np.where(valid[:, None], scale * gr, 0.0)
    return loss


def cross_entropy_prob(x, q, weight, eps, scale, want_grad, grad) -> np.ndarray:
    C = x.shape[1]
    w = np.ones(C) if weight is None else weight
    qq = (1 - eps) * q.astype(np.float64) + eps / C
    with np.errstate(all="ignore"):
        logp = _log_softmax64(x)
        loss = -(w * qq * logp).sum(axis=1)
        if want_grad:
            grad[...] = scale * (np.exp(logp) * (w * qq).sum(axis=1, keepdims=True) - w * qq)
    return loss


def bce_with_logits(x, t, w, pw, scale, want_grad, grad, per_element) -> np.ndarray:
    # always the per-element losses (each its own partial sum)
    x, t = x.astype(np.float64), t.astype(np.float64)
    w = 1.0 if w is None else w
    pw = 1.0 if pw is None else pw
    with np.errstate(all="ignore"):
        e = _pw.bce_exp(x)
        if want_grad:
            grad[...] = scale * _pw.bce_grad(x, t, w, pw, e)
        return _pw.bce_loss(x, t, w, pw, e)


def mse(x, t, scale, want_grad, grad, per_element) -> np.ndarray:
    x, t = x.astype(np.float64), t.astype(np.float64)
    with np.errstate(all="ignore"):
        if want_grad:
            grad[...] = scale * _pw.mse_grad(x, t)
        return _pw.mse_loss(x, t)
