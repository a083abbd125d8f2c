"""PReLU, RReLU and maxout against NumPy references and PyTorch autograd."""

from __future__ import annotations

import numpy as np
import pytest
from util import CPU_BACKENDS, assert_close

import fastact

torch = pytest.importorskip("torch")


def _ref_prelu(x, w, axis):
    shape = [1] * x.ndim
    if w.size > 1:
        shape[axis] = w.size
    wb = w.reshape(shape) if x.ndim else w.reshape(())
    return np.where(x > 0, x, wb * x)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=str)
@pytest.mark.parametrize(
    ("shape", "axis", "wsize"),
    [
        ((), 1, 1),
        ((7,), 1, 7),
        ((7,), 0, 1),
        ((8, 5), 1, 5),
        ((4, 3, 6, 5), 1, 3),
        ((4, 3, 6, 5), 2, 6),
        ((4, 3, 6, 5), -1, 5),
        ((300, 16, 20), 1, 16),  # large enough for the parallel path
        ((4001, 24), 1, 24),  # (N, C): the channel loop over whole rows, parallel path
        ((40000,), 0, 1),
        ((0, 4), 1, 4),
    ],
)
def test_prelu_forward_backward(backend, dtype, shape, axis, wsize):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(dtype)
    if x.size:
        x.flat[0] = 0.0
    w = rng.uniform(0.05, 0.5, size=wsize).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    ax = 0 if len(shape) <= 1 else axis % len(shape)
    y = fastact.prelu(x, w, axis=axis, backend=backend)
    assert y.dtype == dtype
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))
    tol = {np.float16: 1e-3, np.float32: 3e-7, np.float64: 1e-15}[dtype]
    assert_close(y, _ref_prelu(x64, w64, ax).astype(dtype), tol, 0, "prelu")
    gx, gw = fastact.prelu_backward(g, x, w, axis=axis, backend=backend)
    assert gw.shape == w.shape and gw.dtype == w.dtype
    want_gx = np.where(x64 > 0, g64, _ref_prelu(-np.ones_like(x64), w64, ax) * -g64)
    assert_close(gx, want_gx.astype(dtype), tol, 0, "prelu grad_input")
    # weight gradient against PyTorch autograd in float64 (prelu's channel axis is 1 there)
    if len(shape) >= 2 and wsize > 1:
        xt = torch.tensor(np.moveaxis(x64, ax, 1), requires_grad=True)
        wt = torch.tensor(w64, requires_grad=True)
        yt = torch.nn.functional.prelu(xt, wt)
        gxt, gwt = torch.autograd.grad(yt, (xt, wt), torch.tensor(np.moveaxis(g64, ax, 1)))
        assert_close(np.moveaxis(gx.astype(np.float64), ax, 1), gxt.numpy(), tol, tol)
        scale = np.abs(g64 * x64).sum() + 1e-300
        assert_close(gw, gwt.numpy(), tol, tol * scale, "prelu grad_weight")
    else:
        want = np.sum(np.where(x64 > 0, 0.0, g64 * x64))
        if wsize == 1:
            assert_close(gw, np.array([want]).astype(dtype), max(tol, 1e-12), 1e-6, "grad_weight")


def test_prelu_errors():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="weight has 2 elements"):
        fastact.prelu(x, np.ones(2))
    with pytest.raises(ValueError, match="1-d"):
        fastact.prelu(x, np.ones((3, 1)))
    with pytest.raises(np.exceptions.AxisError):
        fastact.prelu(x, np.ones(3), axis=5)
    with pytest.raises(TypeError, match="int64"):
        fastact.prelu(x, np.ones(3, dtype=np.int64))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=str)
def test_rrelu(backend, dtype):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 300)).astype(dtype)
    lo, up = 0.1, 0.3
    y_eval = fastact.rrelu(x, lo, up, backend=backend)
    want = np.where(x > 0, x, x * dtype((lo + up) / 2))
    assert_close(y_eval, want, 2e-3 if dtype == np.float16 else 1e-6, 0)
    y, s = fastact.rrelu(x, lo, up, training=True, seed=42, backend=backend)
    assert y.dtype == dtype and s.dtype == dtype and s.shape == x.shape
    neg = x < 0
    assert np.all(s[~neg] == 1)
    sn = s[neg].astype(np.float64)
    assert sn.min() >= lo - 1e-3 and sn.max() <= up + 1e-3
    # a uniform distribution on [lo, up]: mean and spread
    assert abs(sn.mean() - (lo + up) / 2) < 0.01
    assert abs(sn.std() - (up - lo) / np.sqrt(12)) < 0.01
    tol = 2e-3 if dtype == np.float16 else 1e-6
    assert_close(y, (x.astype(np.float64) * s).astype(dtype), tol, 0)
    # the same seed gives the same slopes, on every backend; another seed differs
    _, s2 = fastact.rrelu(x, lo, up, training=True, seed=42, backend="numpy")
    np.testing.assert_array_equal(s, s2)
    _, s3 = fastact.rrelu(x, lo, up, training=True, seed=43, backend=backend)
    assert not np.array_equal(s, s3)
    g = rng.normal(size=x.shape).astype(dtype)
    gx = fastact.rrelu_backward(g, s, backend=backend)
    assert_close(gx, (g.astype(np.float64) * s).astype(dtype), tol, 0)


def test_rrelu_errors():
    with pytest.raises(ValueError, match="lower"):
        fastact.rrelu(np.ones(3), 0.5, 0.1)
    with pytest.raises(TypeError, match="seed"):
        fastact.rrelu(np.ones(3), training=True, seed="x")
    with pytest.raises(ValueError, match="shape"):
        fastact.rrelu_backward(np.ones(3), np.ones(4))


def _ref_maxout(x, k, axis):
    xm = np.moveaxis(x, axis, -1)
    r = xm.reshape(*xm.shape[:-1], xm.shape[-1] // k, k)
    return np.moveaxis(r.max(axis=-1), -1, axis)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=str)
@pytest.mark.parametrize(
    ("shape", "k", "axis"),
    [
        ((12,), 3, -1),
        ((5, 8), 2, -1),
        ((6, 4), 3, 0),
        ((3, 6, 5), 2, 1),
        ((0, 4), 2, 1),
        ((3, 0), 2, 1),
        ((300, 256), 4, 1),
    ],
)
def test_maxout(backend, dtype, shape, k, axis):
    rng = np.random.default_rng(2)
    x = rng.normal(size=shape).astype(dtype)
    y = fastact.maxout(x, k, axis=axis, backend=backend)
    np.testing.assert_array_equal(y, _ref_maxout(x, k, axis))
    g = rng.normal(size=y.shape).astype(dtype)
    gx = fastact.maxout_backward(g, x, k, axis=axis, backend=backend)
    assert gx.shape == x.shape
    # the gradient goes to the first maximum of each group
    xm = np.moveaxis(x, axis, -1)
    x3 = xm.reshape(*xm.shape[:-1], xm.shape[-1] // k, k)
    arg = x3.argmax(axis=-1) if x3.size else np.zeros(x3.shape[:-1], dtype=np.intp)
    ref = np.zeros(x3.shape)
    gm = np.moveaxis(g, axis, -1).astype(np.float64)
    np.put_along_axis(ref, arg[..., None], gm[..., None], axis=-1)
    ref = np.moveaxis(ref.reshape(xm.shape), -1, axis)
    np.testing.assert_array_equal(gx, ref.astype(dtype))


def test_maxout_ties_nan_and_errors():
    x = np.array([[1.0, 3.0, 3.0, 2.0], [np.nan, 1.0, 5.0, np.nan]])
    assert fastact.maxout(x, 2).tolist()[0] == [3.0, 3.0]
    assert np.isnan(fastact.maxout(x, 2)[1]).all()
    gx = fastact.maxout_backward(np.ones((2, 2)), x, 2)
    assert gx[0].tolist() == [0.0, 1.0, 1.0, 0.0]  # the first maximum of each group
    assert gx[1].tolist() == [1.0, 0.0, 0.0, 1.0]  # NaN is the maximum
    with pytest.raises(ValueError, match="not divisible"):
        fastact.maxout(np.ones((2, 5)), 2)
    with pytest.raises(ValueError, match="positive"):
        fastact.maxout(np.ones((2, 4)), 0)
    with pytest.raises(ValueError, match="grad_output"):
        fastact.maxout_backward(np.ones((2, 3)), np.ones((2, 4)), 2)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("shape", [(2, 3, 50), (1, 4, 40000), (9000, 5)])
@pytest.mark.parametrize("into", ["grad_output", "x"])
def test_prelu_backward_into_an_input(backend, shape, into):
    # out= may be grad_output or x itself: the weight gradient is still that of the
    # values passed in (each run's sum is taken before its gradient is written)
    rng = np.random.default_rng(4)
    x = rng.normal(size=shape)
    g = rng.normal(size=shape)
    w = rng.uniform(0.1, 0.9, shape[1])
    cshape = (1, shape[1]) + (1,) * (len(shape) - 2)
    want_gx = np.where(x > 0, g, w.reshape(cshape) * g)
    axes = tuple(i for i in range(len(shape)) if i != 1)
    want_gw = np.where(x > 0, 0.0, g * x).sum(axis=axes)
    buf = {"grad_output": g, "x": x}[into]
    gx, gw = fastact.prelu_backward(g, x, w, out=buf, backend=backend)
    assert gx is buf
    assert_close(gx, want_gx, 1e-15, 0, f"prelu grad_input into {into}")
    assert_close(gw, want_gw, 1e-12, 1e-12 * np.abs(g * x).sum(), f"prelu grad_weight, out={into}")
