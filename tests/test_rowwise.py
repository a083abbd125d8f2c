"""Softmax, log-softmax and log-sum-exp against SciPy (float64) and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sp
from util import CPU_BACKENDS, assert_close

import fastact

torch = pytest.importorskip("torch")

DTYPES = [np.float16, np.float32, np.float64]
TOL = {np.float16: (2e-3, 1e-4), np.float32: (2e-6, 1e-7), np.float64: (1e-13, 1e-300)}
CASES = {
    "vec": ((1023,), -1),
    "rows": ((64, 129), -1),
    "cols": ((64, 129), 0),
    "mid": ((3, 40, 5), 1),
    "one_class": ((7, 1), -1),
    "long_row": ((1, 131072), -1),  # fewer rows than threads: split across threads
    "empty_batch": ((0, 5), -1),
    "empty_row": ((4, 0), -1),
}


def _data(shape, dtype, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * scale).astype(dtype)


def _ref(op, x, ax):
    x = x.astype(np.float64)
    if x.shape[ax] == 0:  # empty rows: nothing, or log(0) = -inf
        return x.copy() if op != "logsumexp" else np.full(x.sum(axis=ax).shape, -np.inf)
    with np.errstate(all="ignore"):
        if op == "softmax":
            return sp.softmax(x, axis=ax)
        if op == "log_softmax":
            return sp.log_softmax(x, axis=ax)
        return sp.logsumexp(x, axis=ax)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_forward_against_scipy(op, backend, dtype, case):
    shape, ax = CASES[case]
    x = _data(shape, dtype)
    y = getattr(fastact, op)(x, axis=ax, backend=backend)
    ref = _ref(op, x, ax)
    assert y.dtype == dtype and y.shape == ref.shape
    rtol, atol = TOL[dtype]
    if op == "log_softmax":  # absolute error of x - lse scales with |lse|
        atol = rtol * (np.abs(ref) + 1)
    assert_close(y, ref.astype(dtype), rtol, atol, f"{op} {case}")
    if x.ndim >= 2:  # transposed input: same values
        yt = getattr(fastact, op)(np.asfortranarray(x), axis=ax, backend=backend)
        np.testing.assert_array_equal(yt, y)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_backward_against_torch(op, backend, dtype, case):
    shape, ax = CASES[case]
    x = _data(shape, dtype)
    g = _data(shape, dtype, seed=1, scale=1.0)
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch, op)(xt, ax)
    (gxt,) = torch.autograd.grad(yt, xt, torch.tensor(g))
    y = getattr(fastact, op)(x, axis=ax, backend=backend)
    gx = getattr(fastact, op + "_backward")(g, y, axis=ax, backend=backend)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    scale = np.abs(g).max(initial=0) + 1
    assert_close(y, yt.detach().numpy(), rtol, rtol * 10, f"{op} forward vs torch")
    assert_close(gx, gxt.numpy(), rtol, rtol * scale, f"{op} backward vs torch")


def test_softmax_backward_float64_reference():
    """softmax_backward = J^T g with J = diag(y) - y y^T, checked by finite differences."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 6))
    g = rng.normal(size=(3, 6))
    h = 1e-6
    fd = np.zeros_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            e = np.zeros_like(x)
            e[i, j] = h
            fd[i, j] = ((fastact.softmax(x + e) - fastact.softmax(x - e)) * g).sum() / (2 * h)
    assert_close(fastact.softmax_backward(g, fastact.softmax(x)), fd, 1e-7, 1e-9)


EDGE_ROWS = np.array(
    [
        [1e4, -1e4, 0.0, 1e4],
        [1e30, 1e30, -1e30, 0.0],
        [-np.inf, 1.0, 2.0, -np.inf],  # masked classes
        [-np.inf, -np.inf, -np.inf, -np.inf],  # every class masked
        [np.inf, 0.0, 1.0, 2.0],
        [np.nan, 0.0, 1.0, 2.0],
        [-1e4, -1e4, -1e4, -1e4],
    ]
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_edge_rows_match_torch(op, backend, dtype):
    x = EDGE_ROWS.astype(dtype)
    with np.errstate(over="ignore"):
        want = getattr(torch, op)(torch.tensor(x), -1).numpy()
    got = getattr(fastact, op)(x, backend=backend)
    assert_close(got, want, 1e-6, 1e-6, op)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_long_rows_with_special_values(backend, dtype):
    """One row of 40000 classes (Numba splits it across threads; its split kernel is
    also called directly, in 8 chunks, so that it runs on any CPU count): +inf, NaN,
    all -inf (both all_masked rules) and a dominant maximum, whose log_softmax is
    -log1p(39999 e^-40) = -1.7e-13 (the log1p rule across chunks), against PyTorch."""
    from fastact.kernels import numba_rowwise as rw

    n = 40_000
    rows = np.random.default_rng(4).normal(0, 3, (5, n))
    rows[0, 123] = np.inf
    rows[1, 31_000] = np.nan
    rows[2] = -np.inf
    rows[3] = -40.0
    rows[3, 20_001] = 0.0
    for i, r in enumerate(rows.astype(dtype)):
        x = r[None, :]
        with np.errstate(all="ignore"):
            for op in ("softmax", "log_softmax", "logsumexp"):
                want = getattr(torch, op)(torch.tensor(x), -1).numpy()
                if i == 3 and op != "softmax":  # PyTorch rounds 1 + 39999 e^-40 to 1
                    tiny = np.log1p(np.longdouble(n - 1) * np.exp(np.longdouble(-40)))
                    want = (x - tiny) if op == "log_softmax" else np.array([tiny])
                got = getattr(fastact, op)(x, backend=backend)
                # (float64: the 39999 equal terms of the log1p rule are summed in order,
                # 1e-12 relative, by the compiled backends)
                rtol, atol = TOL[dtype]
                rtol = 5e-12 if (i == 3 and dtype == np.float64) else rtol
                np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=op)
                if backend == "numba":  # the split kernel itself, whatever the CPU count
                    mode = ("softmax", "log_softmax", "logsumexp").index(op)
                    out = np.empty((1, n if mode < 2 else 1), dtype)
                    buf = out if mode < 2 else np.empty((1, n), dtype)
                    rw.softmax_split(x, out, buf, mode, False, 8)
                    got = out if mode < 2 else out[:, 0]
                    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=op)
        if np.all(r == -np.inf):
            assert np.all(fastact.softmax(x, all_masked="zero", backend=backend) == 0)
            assert np.all(fastact.log_softmax(x, all_masked="zero", backend=backend) == -np.inf)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_all_masked_option(backend):
    x = EDGE_ROWS[[2, 3]]
    y = fastact.softmax(x, all_masked="zero", backend=backend)
    assert np.all(y[1] == 0) and np.isclose(y[0].sum(), 1)
    ly = fastact.log_softmax(x, all_masked="zero", backend=backend)
    assert np.all(ly[1] == -np.inf) and np.isfinite(ly[0, 1:3]).all()
    assert np.isnan(fastact.softmax(x, backend=backend)[1]).all()
    with pytest.raises(ValueError, match="all_masked"):
        fastact.softmax(x, all_masked="ignore")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_out_in_place_keepdims_and_errors(backend):
    x = _data((8, 33), np.float32)
    want = fastact.softmax(x, backend=backend)
    xc = x.copy()
    assert fastact.softmax(xc, out=xc, backend=backend) is xc
    np.testing.assert_array_equal(xc, want)
    out = np.empty((33, 8), np.float32).T
    fastact.softmax(x, out=out, backend=backend)
    np.testing.assert_array_equal(out, want)
    lse = fastact.logsumexp(x, axis=1, keepdims=True, backend=backend)
    assert lse.shape == (8, 1)
    with pytest.raises(np.exceptions.AxisError):
        fastact.softmax(x, axis=2, backend=backend)
    with pytest.raises(np.exceptions.AxisError):
        fastact.logsumexp(np.float32(1.0), backend=backend)
    for flag in (True, np.True_):  # a bool is not an axis (True was taken as 1)
        with pytest.raises(TypeError, match="axis must be an integer"):
            fastact.softmax(x, axis=flag, backend=backend)
        with pytest.raises(TypeError, match="axis must be an integer"):
            fastact.softmax_backward(want, want, axis=flag, backend=backend)
        with pytest.raises(TypeError, match="axis must be an integer"):
            fastact.logsumexp(x, axis=(0, flag), backend=backend)
    with pytest.raises(TypeError, match="int64"):
        fastact.softmax(np.arange(4), backend=backend)
    with pytest.raises(ValueError, match="shape"):
        fastact.softmax(x, out=np.empty((8, 32), np.float32), backend=backend)
    with pytest.raises(ValueError, match="shape"):
        fastact.softmax_backward(np.ones((8, 32)), x, backend=backend)


def test_float32_accuracy_on_long_rows():
    """float32 sums over 131072 classes: at least as accurate as PyTorch's."""
    x = _data((4, 131072), np.float32, seed=9, scale=4.0)
    ref = sp.logsumexp(x.astype(np.float64), axis=-1)
    ours = np.abs(fastact.logsumexp(x).astype(np.float64) - ref).max()
    theirs = np.abs(torch.logsumexp(torch.tensor(x), -1).numpy().astype(np.float64) - ref).max()
    assert ours <= max(theirs, 1e-6)
    sref = sp.softmax(x.astype(np.float64), axis=-1)
    e_ours = np.abs(fastact.softmax(x) - sref).max()
    e_torch = np.abs(torch.softmax(torch.tensor(x), -1).numpy() - sref).max()
    assert e_ours <= max(e_torch, 1e-9)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", [(3, 7), (50_000,), (2, 40_000), (300, 200)])
def test_in_place_every_kernel_path(op, shape):
    """out=x in place through the serial, row-parallel and split-row kernels."""
    x = np.random.default_rng(3).normal(0, 3, size=shape).astype(np.float32)
    ref = getattr(sp, op)(x.astype(np.float64), axis=-1)
    y = getattr(fastact, op)(x, out=x)
    assert y is x
    np.testing.assert_allclose(y, ref, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_exponentials_against_float64_exp(dtype):
    # the numba row kernels' exp_neg (t = x - max <= 0) and exp_row (any t, the
    # log_softmax backward) against float64 np.exp: within 2 ulp of the correctly
    # rounded value, subnormal results included, specials exact
    from fastact.kernels import numba_rowwise as rw
    from numba import njit

    @njit
    def run(t, tn, a, b, c):
        # (tn in the array's dtype: min(t[i], 0.0) would be a float64)
        for i in range(t.shape[0]):
            a[i] = rw.exp_row(t[i])
            b[i] = rw.exp_neg(tn[i])
            c[i] = rw.exp_sc(tn[i])

    lo, hi = (-110.0, 95.0) if dtype == np.float32 else (-750.0, 715.0)
    specials = [np.inf, -np.inf, np.nan, 0.0, -0.0, 88.72, 88.73, 709.78, 709.79, -103.97]
    t = np.concatenate([np.random.default_rng(0).uniform(lo, hi, 200_000), specials])
    t = t.astype(dtype)
    a, b, c = np.empty_like(t), np.empty_like(t), np.empty_like(t)
    # t <= 0 for exp_neg / exp_sc, down past both clamps (float32: -104, -132.4)
    lo_n = -140.0 if dtype == np.float32 else -760.0
    tn = np.random.default_rng(1).uniform(lo_n, 0.0, 200_000)
    tn = np.concatenate([tn, np.minimum(specials, 0.0)]).astype(dtype)
    run(t, tn, a, b, c)
    for got, arg in ((a, t), (b, tn)):
        want = np.exp(arg.astype(np.longdouble))
        with np.errstate(over="ignore"):
            w = want.astype(dtype)
        fin = np.isfinite(w) & (w > 0)
        ulp = np.abs(got[fin] - want[fin]) / np.spacing(w[fin]).astype(np.longdouble)
        assert float(ulp.max()) <= 2.0
        np.testing.assert_array_equal(got[~fin], w[~fin])
    # exp_sc = 2^64 e^t (the softmax rows): within 2 ulp while 2^64 e^t is normal
    # (float32: t down to -(126 + 64) ln 2 = -131.7; t is sampled down to -140),
    # +0 below the clamp -(bias + 64) ln 2 and for -inf, NaN kept, 2^64 at t = 0
    want = np.exp(tn.astype(np.longdouble)) * np.longdouble(2.0) ** 64
    w = want.astype(dtype)
    nrm = w >= np.finfo(dtype).tiny
    ulp = np.abs(c[nrm] - want[nrm]) / np.spacing(w[nrm]).astype(np.longdouble)
    assert float(ulp.max()) <= 2.0
    assert np.all(c[~nrm & ~np.isnan(tn)] < 2 * np.finfo(dtype).tiny)
    assert np.isnan(c[np.isnan(tn)]).all() and c[tn == -np.inf].tolist() == [0.0]
    assert set(c[tn == 0].tolist()) == {2.0**64}
    below = np.array([-1087.0 if dtype == np.float64 else -191.0, -1e30]) * np.log(2)
    below = below.astype(dtype)
    d = np.empty(2, dtype)
    run(below, below, np.empty(2, dtype), np.empty(2, dtype), d)
    assert d.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_softmax_outputs_down_to_the_subnormals(backend, dtype):
    """Rows spanning exp's whole range (0 down to below the underflow threshold): every
    softmax output within 4.5 ulp of the extended-precision value (the inline
    exponentials reach 2.3; libm's expf, which a Cython build without FMA uses, 4.0),
    subnormal ones within 1.5 least subnormals (float64: 8 ulp and 3, as a few ulp of
    error in the float64 sum reach the outputs; NumPy's own float64 formula reaches
    4.9 and 1.4 over seeds 0-29, the backends 6.3 and 2.0), log_softmax within 1e-6
    relative (float64: 1e-14)."""
    lo = -120.0 if dtype == np.float32 else -760.0
    rng = np.random.default_rng(5)
    x = rng.uniform(lo, 0.0, (40, 257))
    x[:, 0] = 0.0
    x[:3, 1:] = lo  # a row of one 1 and underflowing rest
    x = x.astype(dtype)
    xl = x.astype(np.longdouble)
    e = np.exp(xl - xl.max(-1, keepdims=True))
    want = e / e.sum(-1, keepdims=True)
    w = want.astype(dtype)
    got = fastact.softmax(x, backend=backend)
    ulp = np.abs(got - want) / np.spacing(np.abs(w)).astype(np.longdouble)
    nrm = w >= np.finfo(dtype).tiny
    assert float(ulp[nrm].max()) <= (4.5 if dtype == np.float32 else 8.0)
    assert float(ulp[~nrm].max()) <= (1.5 if dtype == np.float32 else 3.0)
    lwant = np.log(want)
    lgot = fastact.log_softmax(x, backend=backend)
    rel = np.abs(lgot - lwant) / np.maximum(np.abs(lwant), 1.0)
    assert float(rel.max()) <= 1e-6 if dtype == np.float32 else float(rel.max()) <= 1e-14
