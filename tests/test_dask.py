"""Dask arrays: lazy results equal to fastact's NumPy path and to float64 formulas.

Run on the default threaded scheduler and on a ``dask.distributed`` LocalCluster of
two worker processes (the kernels are pickled to and compiled in the workers).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

import fastact  # noqa: E402
from fastact._api import __all__ as ELEMENTWISE  # noqa: E402

FORWARD = [n for n in ELEMENTWISE if not n.endswith(("_backward", "_backward_from_output"))]
RNG = np.random.default_rng(7)


def _lazy(x: np.ndarray, chunks) -> tuple:
    """A Dask array of ``x`` and a list that counts the blocks computed from it."""
    seen: list[int] = []

    def touch(b):
        seen.append(1)
        return b

    meta = np.empty((0,) * x.ndim, x.dtype)
    return da.from_array(x, chunks=chunks).map_blocks(touch, dtype=x.dtype, meta=meta), seen


def _close(a, b, dtype, k=1.0):
    tol = {np.float16: 2e-3, np.float32: 2e-5, np.float64: 1e-12}[np.dtype(dtype).type] * k
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=tol, atol=tol, equal_nan=True)  # fmt: skip


# float64 references, written out independently of the kernels
def ref_softmax(x, ax):
    x = x.astype(np.float64)
    m = x.max(axis=ax, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=ax, keepdims=True)


def ref_lse(x, ax):
    x = x.astype(np.float64)
    m = x.max(axis=ax, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=ax, keepdims=True))).squeeze(ax)


def ref_ce(x, t, w=None, ii=-100, eps=0.0, reduction="mean"):
    """Per-row torch-style CE for 2-d (N, C) logits, and the gradient of the reduction."""
    x = x.astype(np.float64)
    N, C = x.shape
    w = np.ones(C) if w is None else w.astype(np.float64)
    lse = ref_lse(x, 1)
    logp = x - lse[:, None]
    p = np.exp(logp)
    valid = t != ii
    tt = np.where(valid, t, 0)
    wt = np.where(valid, w[tt], 0.0)
    loss = -(1 - eps) * wt * logp[np.arange(N), tt] - valid * (eps / C) * (w * logp).sum(1)
    g = p * ((1 - eps) * wt + valid * (eps / C) * w.sum())[:, None] - valid[:, None] * (eps / C) * w
    g[np.arange(N), tt] -= (1 - eps) * wt
    if reduction == "none":
        return loss, g
    if reduction == "sum":
        return loss.sum(), g
    d = wt.sum()
    return loss.sum() / d, g / d


def ref_bce(x, t, w=None, pw=None):
    x, t = x.astype(np.float64), t.astype(np.float64)
    w = 1.0 if w is None else w
    pw = 1.0 if pw is None else pw
    sp = np.logaddexp(0, -x)  # log(1 + exp(-x))
    loss = w * ((1 - t) * x + (1 + (pw - 1) * t) * sp)
    sig = 1 / (1 + np.exp(-x))
    return loss, w * ((1 + (pw - 1) * t) * sig - pw * t)


# ----------------------------------------------------------------------------- laziness


def test_every_operation_is_lazy():
    x = RNG.standard_normal((32, 24)).astype(np.float32)
    dx, seen = _lazy(x, (8, 8))
    t = da.from_array(RNG.integers(0, 24, 32), chunks=8)
    res = [getattr(fastact, n)(dx) for n in FORWARD]
    res += [getattr(fastact, n)(dx, dx) for n in ELEMENTWISE if n not in FORWARD]
    res += [fastact.softmax(dx), fastact.log_softmax(dx, axis=0), fastact.logsumexp(dx)]
    res += [fastact.softmax_backward(dx, dx), fastact.log_softmax_backward(dx, dx, axis=0)]
    res += [*fastact.cross_entropy(dx, t, return_grad=True), fastact.cross_entropy(dx, t)]
    res += [*fastact.binary_cross_entropy_with_logits(dx, dx, return_grad=True)]
    res += [*fastact.mse_loss(dx, dx, return_grad=True), fastact.maxout(dx, 4)]
    res += [fastact.prelu(dx, np.full(24, 0.25, np.float32)), fastact.rrelu(dx)]
    res += [*fastact.rrelu(dx, training=True, seed=1), fastact.maxout_backward(dx[:, :6], dx, 4)]
    res += [*fastact.prelu_backward(dx, dx, np.full(24, 0.25, np.float32))]
    assert all(isinstance(r, da.Array) for r in res)
    assert seen == []


# ----------------------------------------------------------------------------- elementwise


@pytest.mark.parametrize("name", FORWARD)
def test_elementwise_equals_numpy_path(name):
    x = (RNG.standard_normal((40, 30)) * 4).astype(np.float32)
    x[0, :4] = [np.nan, np.inf, -np.inf, 0.0]
    dx = da.from_array(x, chunks=(16, 13))
    f, b = getattr(fastact, name), getattr(fastact, name + "_backward")
    y = f(dx)
    assert y.chunks == dx.chunks and y.dtype == np.float32
    _close(y.compute(), f(x), np.float32)
    g = (RNG.standard_normal(x.shape)).astype(np.float32)
    _close(b(da.from_array(g, chunks=(8, 30)), dx).compute(), b(g, x), np.float32)
    if name + "_backward_from_output" in ELEMENTWISE:
        by = getattr(fastact, name + "_backward_from_output")
        yn = f(x)
        _close(by(da.from_array(g, chunks=(8, 30)), y).compute(), by(g, yn), np.float32)


def test_elementwise_against_float64_formulas():
    x = RNG.standard_normal(1000) * 5
    dx = da.from_array(x.astype(np.float32), chunks=300)
    x64 = x.astype(np.float32).astype(np.float64)
    from scipy.special import erf

    _close(fastact.gelu(dx).compute(), x64 * 0.5 * (1 + erf(x64 / np.sqrt(2))), np.float32)
    _close(fastact.silu(dx).compute(), x64 / (1 + np.exp(-x64)), np.float32)
    _close(fastact.softplus(dx).compute(), np.logaddexp(0, x64), np.float32)
    _close(fastact.leaky_relu(dx, 0.2).compute(), np.where(x64 > 0, x64, 0.2 * x64), np.float32)
    s = 1 / (1 + np.exp(-x64))
    _close(fastact.sigmoid_backward(dx, dx).compute(), x64 * s * (1 - s), np.float32)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtypes_kept(dtype):
    x = RNG.standard_normal((10, 12)).astype(dtype)
    dx = da.from_array(x, chunks=(5, 5))
    assert fastact.gelu(dx).dtype == dtype
    _close(fastact.gelu(dx).compute(), fastact.gelu(x), dtype)
    _close(fastact.softmax(dx).compute(), ref_softmax(x, -1), dtype)
    assert fastact.softmax(dx).compute().dtype == dtype


def test_bad_input_raises_on_call():
    dx = da.zeros((4, 4), dtype=np.int32, chunks=2)
    with pytest.raises(TypeError, match="int32"):
        fastact.relu(dx)
    xf = da.zeros((4, 4), dtype=np.float32, chunks=2)
    with pytest.raises(TypeError, match="out= is not supported"):
        fastact.relu(xf, out=np.empty((4, 4), np.float32))
    with pytest.raises(ValueError, match="approximate"):
        fastact.gelu(xf, "bogus")
    with pytest.raises(ValueError, match="shape"):
        fastact.relu_backward(xf, xf[:2])
    with pytest.raises(ValueError, match="all_masked"):
        fastact.softmax(xf, all_masked="x")
    with pytest.raises(ValueError, match="reduction"):
        fastact.mse_loss(xf, xf, reduction="avg")


# ----------------------------------------------------------------------------- row-wise


def _special_rows(C, dtype):
    x = RNG.standard_normal((12, C)) * 3
    x[0] = -np.inf
    x[1, 3] = np.nan
    x[2, ::2] = -np.inf
    x[3, :] = 1e4 if dtype != np.float16 else 6e4
    x[3, 1] = -1e4 if dtype != np.float16 else -6e4
    x[4, 5] = np.inf
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("chunks", [(5, 7), (12, 10), (3, 40)])
def test_softmax_split_axis(dtype, chunks):
    x = _special_rows(40, dtype)
    dx = da.from_array(x, chunks=chunks)
    for name in ("softmax", "log_softmax"):
        for am in ("nan", "zero"):
            f = getattr(fastact, name)
            y = f(dx, all_masked=am)
            assert y.chunks == dx.chunks
            assert not any("rechunk" in str(k) for k in dict(y.dask))
            _close(y.compute(), f(x, all_masked=am), dtype, 4)
    _close(fastact.logsumexp(dx).compute(), fastact.logsumexp(x), dtype)
    lk = fastact.logsumexp(dx, axis=1, keepdims=True)
    assert lk.shape == (12, 1)
    _close(lk.compute(), fastact.logsumexp(x, keepdims=True), dtype)
    ok = np.isfinite(x).all(axis=1)
    _close(fastact.softmax(dx).compute()[ok], ref_softmax(x[ok], 1), dtype, 4)
    _close(fastact.logsumexp(dx).compute()[ok], ref_lse(x[ok], 1), dtype)


def test_softmax_3d_other_axes():
    x = RNG.standard_normal((6, 20, 9)).astype(np.float32)
    dx = da.from_array(x, chunks=(2, 6, 4))
    for ax in (0, 1, 2, -2):
        _close(fastact.softmax(dx, axis=ax).compute(), ref_softmax(x, ax), np.float32)
        _close(fastact.logsumexp(dx, axis=ax).compute(), ref_lse(x, ax), np.float32)
        _close(fastact.log_softmax(dx, axis=ax).compute(), np.log(ref_softmax(x, ax)),
               np.float32, 4)  # fmt: skip


@pytest.mark.parametrize("chunks", [(4, 8), (10, 30)])
def test_softmax_backward_split_axis(chunks):
    x = RNG.standard_normal((10, 30))
    g = RNG.standard_normal((10, 30)).astype(np.float32)
    y = ref_softmax(x, 1).astype(np.float32)
    dg, dy = da.from_array(g, chunks=chunks), da.from_array(y, chunks=chunks)
    y64, g64 = y.astype(np.float64), g.astype(np.float64)
    want = y64 * (g64 - (g64 * y64).sum(1, keepdims=True))
    r = fastact.softmax_backward(dg, dy)
    assert r.chunks == dy.chunks
    _close(r.compute(), want, np.float32)
    _close(r.compute(), fastact.softmax_backward(g, y), np.float32)
    ly = np.log(y)
    want = g64 - np.exp(ly.astype(np.float64)) * g64.sum(1, keepdims=True)
    r = fastact.log_softmax_backward(dg, da.from_array(ly, chunks=chunks)).compute()
    _close(r, want, np.float32)
    _close(r, fastact.log_softmax_backward(g, ly), np.float32)


# ----------------------------------------------------------------------------- losses


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("chunks", [(7, 50), (8, 16)])  # class axis whole / split
def test_cross_entropy_index_targets(reduction, weighted, chunks):
    N, C = 40, 50
    x = (RNG.standard_normal((N, C)) * 2).astype(np.float32)
    t = RNG.integers(0, C, N)
    t[::5] = -100
    w = RNG.uniform(0.5, 2, C).astype(np.float32) if weighted else None
    dx = da.from_array(x, chunks=chunks)
    dt = da.from_array(t, chunks=chunks[0])
    kw = dict(weight=w, label_smoothing=0.1, reduction=reduction)
    loss, g = fastact.cross_entropy(dx, dt, return_grad=True, **kw)
    assert isinstance(loss, da.Array) and g.shape == x.shape and g.chunks == dx.chunks
    assert not any("rechunk" in str(k) for k in dict(g.dask))  # split class axis: no rechunk
    nl, ng = fastact.cross_entropy(x, t, return_grad=True, **kw)
    rl, rg = ref_ce(x, t, w, eps=0.1, reduction=reduction)
    loss, g = dask.compute(loss, g)
    assert loss.dtype == np.float32 and g.dtype == np.float32
    _close(loss, nl, np.float32, 5)
    _close(loss, rl, np.float32, 5)
    _close(g, ng, np.float32)
    _close(g, rg, np.float32)
    _close(fastact.cross_entropy(dx, dt, **kw).compute(), nl, np.float32, 5)


def test_cross_entropy_all_ignored_and_class_axis_1():
    x = RNG.standard_normal((6, 5, 7)).astype(np.float64)  # (N, C, d) as PyTorch
    t = RNG.integers(0, 5, (6, 7))
    dx, dt = da.from_array(x, chunks=(2, 2, 3)), da.from_array(t, chunks=(3, 7))
    loss, g = fastact.cross_entropy(dx, dt, axis=1, return_grad=True)
    nl, ng = fastact.cross_entropy(x, t, axis=1, return_grad=True)
    _close(loss.compute(), nl, np.float64)
    _close(g.compute(), ng, np.float64)
    x2 = np.moveaxis(x, 1, -1).reshape(-1, 5)
    _close(loss.compute(), ref_ce(x2, t.reshape(-1))[0], np.float64)
    ign = da.full((6, 7), -100, chunks=3)
    loss, g = fastact.cross_entropy(dx, ign, axis=1, return_grad=True)
    assert np.isnan(loss.compute())
    assert (g.compute() == 0).all()


@pytest.mark.parametrize("chunks", [(6, 9), (6, 4)])  # class axis whole / split
def test_cross_entropy_probability_targets_and_bad_target(chunks):
    x = RNG.standard_normal((20, 9)).astype(np.float32)
    q = ref_softmax(RNG.standard_normal((20, 9)), 1).astype(np.float32)
    w = RNG.uniform(0.5, 2, 9).astype(np.float32)
    dx, dq = da.from_array(x, chunks=chunks), da.from_array(q, chunks=(4, 9))
    for red in ("mean", "sum", "none"):
        for kw in ({}, {"weight": w, "label_smoothing": 0.2}):
            loss, g = fastact.cross_entropy(dx, dq, reduction=red, return_grad=True, **kw)
            nl, ng = fastact.cross_entropy(x, q, reduction=red, return_grad=True, **kw)
            _close(loss.compute(), nl, np.float32, 5)
            _close(g.compute(), ng, np.float32)
    p = ref_softmax(x, 1)
    _close(fastact.cross_entropy(dx, dq).compute(), -(q * np.log(p)).sum(1).mean(), np.float32)
    qs = 0.8 * q.astype(np.float64) + 0.2 / 9
    want = -(w * qs * np.log(p)).sum(1).mean()
    _close(fastact.cross_entropy(dx, dq, weight=w, label_smoothing=0.2).compute(), want,
           np.float32, 5)  # fmt: skip
    bad = da.from_array(np.array([0] * 19 + [9]), chunks=5)
    lazy = fastact.cross_entropy(dx, bad)  # raises when computed, in the block holding it
    with pytest.raises(IndexError, match="9"):
        lazy.compute()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_and_mse(reduction):
    x = (RNG.standard_normal((30, 8)) * 3).astype(np.float32)
    t = RNG.uniform(0, 1, (30, 8)).astype(np.float32)
    w = RNG.uniform(0.5, 1.5, (30, 1)).astype(np.float32)
    pw = RNG.uniform(0.5, 3, 8).astype(np.float32)
    dx, dt = da.from_array(x, chunks=(7, 3)), da.from_array(t, chunks=(10, 8))
    kw = dict(weight=w, pos_weight=pw, reduction=reduction)
    loss, g = fastact.binary_cross_entropy_with_logits(dx, dt, return_grad=True, **kw)
    nl, ng = fastact.binary_cross_entropy_with_logits(x, t, return_grad=True, **kw)
    rl, rg = ref_bce(x, t, w, pw)
    n = x.size if reduction == "mean" else 1
    rl = rl if reduction == "none" else rl.sum() / n
    _close(loss.compute(), nl, np.float32, 5)
    _close(loss.compute(), rl, np.float32, 5)
    _close(g.compute(), ng, np.float32)
    _close(g.compute(), rg / n, np.float32)
    loss, g = fastact.mse_loss(dx, dt, reduction=reduction, return_grad=True)
    d = x.astype(np.float64) - t
    _close(loss.compute(), d**2 if reduction == "none" else (d**2).sum() / n, np.float32, 5)
    _close(g.compute(), 2 * d / n, np.float32)
    _close(fastact.mse_loss(dx, dt, reduction=reduction).compute(),
           fastact.mse_loss(x, t, reduction=reduction), np.float32, 5)  # fmt: skip


# ----------------------------------------------------------------------------- special


def test_prelu_rrelu_maxout():
    x = RNG.standard_normal((6, 12, 5)).astype(np.float32)
    dx = da.from_array(x, chunks=(4, 5, 3))
    for w in (RNG.uniform(0, 0.5, 12).astype(np.float32), np.array([0.3], np.float32)):
        _close(fastact.prelu(dx, w).compute(), np.where(x > 0, x, w[None, :, None] * x)
               if w.size > 1 else np.where(x > 0, x, 0.3 * x), np.float32)  # fmt: skip
        g = RNG.standard_normal(x.shape).astype(np.float32)
        gi, gw = fastact.prelu_backward(da.from_array(g, chunks=3), dx, w)
        ngi, ngw = fastact.prelu_backward(g, x, w)
        _close(gi.compute(), ngi, np.float32)
        _close(gw.compute(), ngw, np.float32, 10)
        assert gw.shape == w.shape
    _close(fastact.rrelu(dx).compute(), fastact.rrelu(x), np.float32)
    y, s = fastact.rrelu(dx, training=True, seed=3)
    y, s = dask.compute(y, s)
    neg = x < 0
    assert ((s[neg] >= 1 / 8) & (s[neg] <= 1 / 3)).all() and (s[~neg] == 1).all()
    _close(y, x.astype(np.float64) * s, np.float32)
    y2, _ = fastact.rrelu(dx, training=True, seed=3)
    np.testing.assert_array_equal(y2.compute(), y)  # the same seed, the same draws
    _close(fastact.rrelu_backward(dx, s).compute(), x * s, np.float32)
    for ax in (1, -1):
        k = 4 if ax == 1 else 5
        _close(fastact.maxout(dx, k, ax).compute(), fastact.maxout(x, k, ax), np.float32)
        go = fastact.maxout(x, k, ax)
        _close(fastact.maxout_backward(da.from_array(go, chunks=2), dx, k, ax).compute(),
               fastact.maxout_backward(go, x, k, ax), np.float32)  # fmt: skip
    ref = x.reshape(6, 3, 4, 5).max(axis=2)
    _close(fastact.maxout(dx, 4, 1).compute(), ref, np.float32)


# ----------------------------------------------------------------------------- distributed


def test_wrapped_functions_pickle():
    for n in ("gelu", "softmax", "cross_entropy", "relu_backward"):
        f = getattr(fastact, n)
        assert pickle.loads(pickle.dumps(f)) is f
        assert f.__wrapped__.__name__ == n


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        memory_limit="1GiB",
    )  # fmt: skip
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_on_local_cluster(client):
    x = (RNG.standard_normal((400, 300)) * 3).astype(np.float32)
    t = RNG.integers(0, 300, 400)
    dx = da.from_array(x, chunks=(100, 75))
    dt = da.from_array(t, chunks=100)
    loss, g = fastact.cross_entropy(dx, dt, weight=np.linspace(0.5, 2, 300), return_grad=True)
    sm, lse, ge = fastact.softmax(dx), fastact.logsumexp(dx), fastact.gelu(dx)
    loss, g, sm, lse, ge = client.compute([loss, g, sm, lse, ge], sync=True)
    nl, ng = fastact.cross_entropy(x, t, weight=np.linspace(0.5, 2, 300), return_grad=True)
    _close(loss, nl, np.float32, 5)
    _close(g, ng, np.float32)
    _close(sm, ref_softmax(x, 1), np.float32)
    _close(lse, ref_lse(x, 1), np.float32)
    _close(ge, fastact.gelu(x), np.float32)
    # the wrapper itself travels to a worker and runs the NumPy path there
    _close(client.submit(fastact.gelu, x[:5]).result(), fastact.gelu(x[:5]), np.float32)
    pids = set(client.run(lambda: __import__("os").getpid()).values())
    assert len(pids) == 2
