"""The backend interface: every backend module satisfies :class:`Backend`, and each
raw kernel agrees with the NumPy backend's (the float64 reference formulas).

Conformance: every member of :data:`fastact.backends.interface.MEMBERS` is a callable
of each backend module (numba, cython, numpy, cuda) with the Protocol's parameter
names. Behaviour: each raw kernel is called directly (NumPy arrays for the CPU
backends, ``numba.cuda.to_device`` copies for cuda, which runs in Numba's simulator
here, see conftest.py) on small float32/float64 inputs, NaN/inf rows included, and
compared with the NumPy backend's kernel on the same inputs within the tolerances
of the registry (``TOL_ROWS``, ``TOL_ROWS_BWD``, ``TOL_LOSS``, the table's per-op
tolerances).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from util import assert_close, special_values

import fastact
from fastact import _backends, table
from fastact.backends import interface
from fastact.backends import numpy_backend as ref_be
from fastact.registry import TOL_LOSS, TOL_ROWS, TOL_ROWS_BWD

ALL = ("numba", "cython", "numpy", "cuda")
AVAILABLE = fastact.available_backends()
#: the backends compared with the NumPy backend (which is the reference)
COMPARED = [b for b in ALL if b != "numpy"]
DTYPES = [np.float32, np.float64]
EXACT = {"float64": (0.0, 0.0), "float32": (0.0, 0.0)}
#: float64 sums in another order (prelu's weight gradient)
SUM64 = {"float64": (1e-12, 1e-14), "float32": (1e-12, 1e-14)}


def _load(name: str) -> Any:
    if name not in AVAILABLE:
        pytest.skip(f"backend {name} is not available here")
    return _backends.load(name)


def _protocol_params(member: str) -> list[str]:
    params = list(inspect.signature(getattr(interface.Backend, member)).parameters)
    assert params[0] == "self"
    return params[1:]


@pytest.mark.parametrize("name", ALL)
def test_conformance(name):
    be = _load(name)
    assert name == be.NAME
    assert isinstance(be, interface.Backend)
    for member in interface.MEMBERS:
        fn = getattr(be, member, None)
        assert callable(fn), f"{name} backend lacks {member}"
        got = list(inspect.signature(fn).parameters)
        assert got == _protocol_params(member), f"{name}.{member}{tuple(got)}"


def test_members_cover_the_protocol():
    # the list the conformance test walks is the Protocol's kernels, not a subset
    assert len(interface.MEMBERS) == 17
    assert {"unary", "softmax", "cross_entropy_index", "mse"} <= set(interface.MEMBERS)


def test_device_drivers_match_the_host_drivers():
    # one driver interface: every operation a public function hands to
    # _dispatch.run_op has a host driver, and the device backend has dev_<op> with
    # the host driver's parameters (less the backend); nothing else is dev_
    from fastact import _dispatch

    be = _load("cuda")
    dev = {n[4:] for n in dir(be) if n.startswith("dev_") and callable(getattr(be, n))}
    dev.discard("host_fallback")
    assert dev == set(_dispatch.HOST_DRIVERS)
    for op, host in _dispatch.HOST_DRIVERS.items():
        want = list(inspect.signature(host).parameters)[1:]
        got = list(inspect.signature(getattr(be, "dev_" + op)).parameters)
        assert got == want, f"dev_{op}{tuple(got)} != host driver {op}{tuple(want)}"


def test_public_modules_hold_no_backend_branch():
    # the host and device paths part in _dispatch.run_op only
    import fastact.losses
    import fastact.rowwise
    import fastact.special

    for mod in (fastact.rowwise, fastact.losses, fastact.special):
        src = inspect.getsource(mod)
        assert "DEVICE" not in src and ".dev_" not in src, mod.__name__


# --------------------------------------------------------------------------- #
# Behaviour against the NumPy backend                                         #
# --------------------------------------------------------------------------- #


class Run:
    """Array handling for one backend: inputs to the kernel's array type, results back."""

    def __init__(self, be: Any) -> None:
        self.be = be
        self.dev = getattr(be, "DEVICE", False)

    def put(self, a: np.ndarray | None) -> Any:
        if a is None:
            return None
        if self.dev:
            from numba import cuda

            return cuda.to_device(np.ascontiguousarray(a))
        return np.ascontiguousarray(a).copy()

    def empty(self, shape: tuple, dtype: Any) -> Any:
        # filled with a sentinel so that an unwritten element shows
        return self.put(np.full(shape, 12345.0, dtype=dtype))

    @staticmethod
    def get(a: Any) -> np.ndarray:
        return a.copy_to_host() if hasattr(a, "copy_to_host") else np.asarray(a)


def _compare(name: str, case: Callable[[Run], list], tol: dict | list[dict], dtype: Any,
             what: str) -> None:  # fmt: skip
    """``case`` on backend ``name`` against ``case`` on the NumPy backend; ``tol``: one
    tolerance table, or one per output."""
    be = _load(name)
    got = case(Run(be))
    want = case(Run(ref_be))
    tols = tol[: len(want)] if isinstance(tol, list) else [tol] * len(want)
    for k, (g, w, t) in enumerate(zip(got, want, tols, strict=True)):
        rtol, atol = t[np.dtype(dtype).name]
        assert_close(Run.get(g), Run.get(w), rtol, atol, f"{name} {what} output {k}")


# --- elementwise --------------------------------------------------------------


def _elementwise_input(dtype: Any, entry: table.Elementwise, a: float, b: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    v = np.concatenate([special_values(dtype, entry, a, b), rng.normal(0.0, 3.0, 24)])
    with np.errstate(over="ignore"):
        return v.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", COMPARED)
def test_unary(name, dtype):
    for entry in table.ENTRIES:
        a, b = entry.encode(())
        x = _elementwise_input(dtype, entry, a, b)
        ca, cb = dtype(a), dtype(b)
        g = np.random.default_rng(3).normal(size=x.size).astype(dtype)

        def fwd(r: Run, e: str = entry.name) -> list:
            out = r.empty(x.shape, dtype)
            r.be.unary(e, r.put(x), out, ca, cb)
            return [out]

        def bwd(r: Run, e: str = entry.name) -> list:
            out = r.empty(x.shape, dtype)
            r.be.unary_backward(e, r.put(g), r.put(x), out, ca, cb)
            return [out]

        _compare(name, fwd, entry.tol, dtype, f"unary {entry.name}")
        eps = float(np.finfo(dtype).eps)
        btol = {k: (rt + 2 * eps, at) for k, (rt, at) in entry.tol.items()}
        _compare(name, bwd, btol, dtype, f"unary_backward {entry.name}")
        if entry.from_output is None:
            continue
        with np.errstate(all="ignore"):
            y = np.asarray(entry.ref(x.astype(np.float64), a, b)).astype(dtype)

        def bwd_y(r: Run, e: str = entry.name, y: np.ndarray = y) -> list:
            out = r.empty(y.shape, dtype)
            r.be.unary_backward_from_output(e, r.put(g), r.put(y), out, ca, cb)
            return [out]

        _compare(name, bwd_y, btol, dtype, f"unary_backward_from_output {entry.name}")


# --- prelu, rrelu, multiply, maxout -------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", COMPARED)
def test_prelu_rrelu_multiply(name, dtype):
    rng = np.random.default_rng(11)
    C, inner = 3, 4
    x = rng.normal(size=(2, C, inner)).astype(dtype).reshape(-1)
    x[[0, 5, 9]] = [0.0, -np.inf, np.nan]
    w = np.array([0.25, -0.5, 1.5], dtype=dtype)
    g = rng.normal(size=x.size).astype(dtype)

    def fwd(r: Run) -> list:
        out = r.empty(x.shape, dtype)
        r.be.prelu(r.put(x), r.put(w), out, C, inner)
        return [out]

    def bwd(r: Run) -> list:
        gx = r.empty(x.shape, dtype)
        gw = r.be.prelu_backward(r.put(g), r.put(x), r.put(w), gx, C, inner)
        return [gx, gw]

    xs = np.where(np.isfinite(x), x, 0.0).astype(dtype)  # finite weight gradient

    def bwd_finite(r: Run) -> list:
        gx = r.empty(x.shape, dtype)
        gw = r.be.prelu_backward(r.put(g), r.put(xs), r.put(w), gx, C, inner)
        assert gw.shape == (C,) and gw.dtype == np.float64
        return [gw]

    def rrelu(r: Run) -> list:
        out, slopes = r.empty(x.shape, dtype), r.empty(x.shape, dtype)
        r.be.rrelu_train(r.put(x), out, slopes, 0.125, 1 / 3, 2**63 + 12345)
        return [out, slopes]

    def mul(r: Run) -> list:
        out = r.empty(x.shape, dtype)
        r.be.multiply(r.put(g), r.put(x), out)
        return [out]

    _compare(name, fwd, EXACT, dtype, "prelu")
    _compare(name, lambda r: bwd(r)[:1], EXACT, dtype, "prelu_backward grad_input")
    _compare(name, bwd_finite, SUM64, dtype, "prelu_backward grad_weight")
    _compare(name, rrelu, EXACT, dtype, "rrelu_train")
    _compare(name, mul, EXACT, dtype, "multiply")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", COMPARED)
@pytest.mark.parametrize(("C", "inner"), [(3, 37), (5, 1), (2, 1000)])
def test_prelu_weight_gradient_runs(name, dtype, C, inner):
    # runs longer than the Cython sum's 16 lanes (and (N, C) rows, inner 1): NaN,
    # infinities and -0 in x and in g, every channel; a NaN or an infinite term where
    # x <= 0 reaches the channel's sum, none where x > 0 (an infinite g there included)
    rng = np.random.default_rng(5)
    x = rng.normal(size=6 * C * inner).astype(dtype)
    g = rng.normal(size=x.size).astype(dtype)
    chan = np.arange(x.size) // inner % C
    first = np.flatnonzero(chan == 0)[:4]  # channel 0: NaN, -0, and an inf g at x > 0
    x[first] = [np.nan, -0.0, 2.0, -1.0]
    g[first] = [1.0, 3.0, np.inf, 0.5]  # the inf meets x = 2 > 0: no term
    last = np.flatnonzero(chan == C - 1)  # channel C - 1: an infinite term
    x[last[-1]] = -np.inf
    if C > 2:  # channel 1: an infinite g at x <= 0
        g[np.flatnonzero(chan == 1)[-2]] = -np.inf
        x[np.flatnonzero(chan == 1)[-2]] = -0.5
    w = rng.uniform(0.1, 0.9, C).astype(dtype)

    def bwd(r: Run) -> list:
        gx = r.empty(x.shape, dtype)
        gw = r.be.prelu_backward(r.put(g), r.put(x), r.put(w), gx, C, inner)
        return [gx, gw]

    _compare(name, lambda r: bwd(r)[:1], EXACT, dtype, f"prelu_backward grad_input C={C}")
    _compare(name, lambda r: bwd(r)[1:], SUM64, dtype, f"prelu_backward grad_weight C={C}")


def _maxout_runs(x: np.ndarray, g: np.ndarray, pieces: int, dtype: Any) -> tuple:
    """The maxout forward and backward of one backend (``Run``), for :func:`_compare`."""

    def fwd(r: Run) -> list:
        out = r.empty(g.shape, dtype)
        r.be.maxout(r.put(x), out, pieces)
        return [out]

    def bwd(r: Run) -> list:
        gx = r.empty(x.shape, dtype)
        r.be.maxout_backward(r.put(g), r.put(x), gx, pieces)
        return [gx]

    return fwd, bwd


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", COMPARED)
def test_maxout(name, dtype):
    pieces = 3
    x = np.random.default_rng(5).normal(size=(4, 4 * pieces)).astype(dtype)
    x[0, :3] = [1.0, np.nan, 2.0]  # NaN wins its group
    x[1, 3:6] = [2.0, 2.0, 1.0]  # a tie: the first maximum
    x[2, 6:9] = [-np.inf, -np.inf, -np.inf]
    x[3, 9:12] = [np.inf, 0.0, np.nan]
    g = np.random.default_rng(6).normal(size=(4, 4)).astype(dtype)

    fwd, bwd = _maxout_runs(x, g, pieces, dtype)
    _compare(name, fwd, EXACT, dtype, "maxout")
    _compare(name, bwd, EXACT, dtype, "maxout_backward")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", COMPARED)
@pytest.mark.parametrize("pieces", [1, 2, 5])
def test_maxout_long_rows(name, dtype, pieces):
    # rows of 601 groups (the Cython kernel works in blocks of 256 groups, pieces outer):
    # ties, NaN (the first wins) and infinities at random places
    rng = np.random.default_rng(pieces)
    x = rng.integers(-3, 4, size=(3, 601 * pieces)).astype(dtype)
    x[rng.random(x.shape) < 0.03] = np.nan
    x[rng.random(x.shape) < 0.03] = np.inf
    x[rng.random(x.shape) < 0.03] = -np.inf
    g = rng.normal(size=(3, 601)).astype(dtype)

    fwd, bwd = _maxout_runs(x, g, pieces, dtype)
    _compare(name, fwd, EXACT, dtype, f"maxout pieces={pieces}")
    _compare(name, bwd, EXACT, dtype, f"maxout_backward pieces={pieces}")


# --- row-wise -----------------------------------------------------------------


def _rows(dtype: Any, C: int) -> np.ndarray:
    """Rows with NaN, +inf, -inf, all -inf and ordinary values."""
    x = np.random.default_rng(C).normal(0.0, 4.0, size=(5, C))
    x[1, 1] = np.nan
    x[2, 0] = np.inf
    x[3, :] = -np.inf
    x[4, ::2] = -np.inf
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", COMPARED)
def _dominant_rows(dtype: Any) -> list[np.ndarray]:
    """Rows whose maximum dominates (s = 1 + t, t tiny), padded with -inf to the short,
    mid-size and long row kernels' sizes."""
    x3 = np.array([[0.0, -40.0, -45.0], [60.0, 1.0, 2.0], [9.0, 0.5, -1.0]])
    return [
        np.pad(x3, ((0, 0), (0, p)), constant_values=-np.inf).astype(dtype) for p in (0, 37, 67)
    ]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", COMPARED)
def test_log_sum_of_a_dominant_row(name, dtype):
    # log(s) is log1p(t) (logsumexp([0, -40]) = 4.25e-18, the README's example;
    # log(1 + t) would give 0)
    for x in _dominant_rows(dtype):

        def lse(r: Run, x: np.ndarray = x) -> list:
            out = r.empty((3,), dtype)
            r.be.logsumexp(r.put(x), out)
            return [out]

        def log_sm(r: Run, x: np.ndarray = x) -> list:
            out = r.empty(x.shape, dtype)
            r.be.softmax(r.put(x), out, interface.MODE_LOG_SOFTMAX, False)
            return [out]

        C = x.shape[1]
        _compare(name, lse, TOL_ROWS, dtype, f"logsumexp of a dominant row, C={C}")
        _compare(name, log_sm, TOL_ROWS, dtype, f"log_softmax of a dominant row, C={C}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", COMPARED)
def test_cross_entropy_at_a_dominant_maximum(name, dtype):
    # the loss log1p(t) of a target at a dominant maximum (was 0 on numba and cython)
    t = np.zeros(3, dtype=np.int64)
    for x in _dominant_rows(dtype):

        def ce(r: Run, x: np.ndarray = x) -> list:
            return [r.be.cross_entropy_index(r.put(x), r.put(t), None, -1, 0.0, 1.0, False, None)]

        _compare(name, ce, TOL_LOSS, dtype, f"cross_entropy_index at the maximum, C={x.shape[1]}")

        def ce_prob(r: Run, x: np.ndarray = x) -> list:
            q = r.put(np.eye(x.shape[1], dtype=dtype)[:3])
            return [r.be.cross_entropy_prob(r.put(x), q, None, 0.0, 1.0, False, None)]

        _compare(
            name, ce_prob, TOL_LOSS, dtype, f"cross_entropy_prob at the maximum, C={x.shape[1]}"
        )


# C = 5: warp-per-row kernels; 40 and 70: the shared-memory and two-pass kernels of
# the simulator's block sizes (WARP_MAX_C = 32, SMEM_MAX_C = 64 there)
ROW_C = [5, 40, 70]


@pytest.mark.parametrize("C", ROW_C)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", COMPARED)
def test_softmax_logsumexp(name, dtype, C):
    x = _rows(dtype, C)
    for mode in (interface.MODE_SOFTMAX, interface.MODE_LOG_SOFTMAX):
        for zero_masked in (False, True):

            def sm(r: Run, mode: int = mode, zm: bool = zero_masked) -> list:
                out = r.empty(x.shape, dtype)
                r.be.softmax(r.put(x), out, mode, zm)
                return [out]

            _compare(name, sm, TOL_ROWS, dtype, f"softmax mode={mode} zero_masked={zero_masked}")

    def lse(r: Run) -> list:
        out = r.empty((x.shape[0],), dtype)
        r.be.logsumexp(r.put(x), out)
        return [out]

    _compare(name, lse, TOL_ROWS, dtype, "logsumexp")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", COMPARED)
def test_logsumexp_no_classes(name, dtype):
    x = np.zeros((3, 0), dtype=dtype)

    def lse(r: Run) -> list:
        out = r.empty((3,), dtype)
        r.be.logsumexp(r.put(x), out)
        return [out]

    _compare(name, lse, TOL_ROWS, dtype, "logsumexp of empty rows")


@pytest.mark.parametrize("C", [5, 70])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", COMPARED)
def test_softmax_backward(name, dtype, C):
    rng = np.random.default_rng(C + 1)
    z = rng.normal(size=(6, C))
    y = np.exp(z - z.max(axis=1, keepdims=True))
    y /= y.sum(axis=1, keepdims=True)
    g = rng.normal(size=(6, C)).astype(dtype)
    for log, yv in ((False, y.astype(dtype)), (True, np.log(y).astype(dtype))):

        def bwd(r: Run, log: bool = log, yv: np.ndarray = yv) -> list:
            out = r.empty(yv.shape, dtype)
            kernel = r.be.log_softmax_backward if log else r.be.softmax_backward
            kernel(r.put(g), r.put(yv), out)
            return [out]

        _compare(name, bwd, TOL_ROWS_BWD, dtype, f"{'log_' if log else ''}softmax_backward")


# --- losses -------------------------------------------------------------------

#: the loss, then its gradient: p_j sum_k w_k q_k - w_j q_j cancels, so the gradient's
#: error is absolute in the scale of its terms (as for the softmax backward)
LOSS_GRAD = [
    TOL_LOSS,
    {k: (TOL_LOSS[k][0], TOL_ROWS_BWD[k][1]) for k in ("float32", "float64")},
]


def _loss_and_grad(r: Run, call: Callable[..., Any], shape: tuple, dtype: Any,
                   want_grad: bool) -> list:  # fmt: skip
    grad = r.empty(shape, dtype) if want_grad else None
    loss = call(grad)
    assert loss.dtype == np.float64, loss.dtype
    return [loss, grad] if want_grad else [loss]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", COMPARED)
def test_cross_entropy(name, dtype):
    rng = np.random.default_rng(21)
    M, C = 6, 5
    x = rng.normal(0.0, 3.0, size=(M, C)).astype(dtype)
    t = np.array([0, 4, -1, 2, 1, 3], dtype=np.int64)  # -1: ignored
    q = rng.dirichlet(np.ones(C), size=M).astype(dtype)
    wc = rng.uniform(0.5, 2.0, C)
    cases = [(None, 0.0, False), (None, 0.0, True), (wc, 0.0, True), (None, 0.1, True),
             (wc, 0.1, True)]  # fmt: skip
    for weight, eps, want_grad in cases:
        scale = 1.0 / 5.0 if want_grad else 1.0
        what = f"weight={weight is not None} eps={eps} grad={want_grad}"

        def idx(r: Run, w: Any = weight, e: float = eps, wg: bool = want_grad,
                s: float = scale) -> list:  # fmt: skip
            xd, td, wd = r.put(x), r.put(t), r.put(w)
            return _loss_and_grad(
                r, lambda gr: r.be.cross_entropy_index(xd, td, wd, -1, e, s, wg, gr),
                x.shape, dtype, wg,
            )  # fmt: skip

        def prob(r: Run, w: Any = weight, e: float = eps, wg: bool = want_grad,
                 s: float = scale) -> list:  # fmt: skip
            xd, qd, wd = r.put(x), r.put(q), r.put(w)
            return _loss_and_grad(
                r, lambda gr: r.be.cross_entropy_prob(xd, qd, wd, e, s, wg, gr),
                x.shape, dtype, wg,
            )  # fmt: skip

        _compare(name, idx, LOSS_GRAD, dtype, f"cross_entropy_index {what}")
        _compare(name, prob, LOSS_GRAD, dtype, f"cross_entropy_prob {what}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", COMPARED)
def test_pointwise_losses(name, dtype):
    rng = np.random.default_rng(31)
    n = 20
    x = rng.normal(0.0, 4.0, n).astype(dtype)
    x[:4] = [0.0, 40.0, -40.0, -0.0]
    t = rng.uniform(0.0, 1.0, n).astype(dtype)
    w = rng.uniform(0.5, 2.0, n)
    pw = rng.uniform(0.5, 3.0, n)
    for weights in ((None, None), (w, None), (None, pw), (w, pw)):
        for want_grad in (False, True):
            what = f"w={weights[0] is not None} pw={weights[1] is not None} grad={want_grad}"

            def bce(r: Run, ws: tuple = weights, wg: bool = want_grad) -> list:
                xd, td, wd, pd = r.put(x), r.put(t), r.put(ws[0]), r.put(ws[1])
                return _loss_and_grad(
                    r, lambda gr: r.be.bce_with_logits(xd, td, wd, pd, 1.0 / n, wg, gr, True),
                    x.shape, dtype, wg,
                )  # fmt: skip

            _compare(name, bce, TOL_LOSS, dtype, f"bce_with_logits {what}")
    for want_grad in (False, True):

        def mse(r: Run, wg: bool = want_grad) -> list:
            xd, td = r.put(x), r.put(t)
            return _loss_and_grad(r, lambda gr: r.be.mse(xd, td, 0.5, wg, gr, True), x.shape, dtype,
                                  wg)  # fmt: skip

        _compare(name, mse, TOL_LOSS, dtype, f"mse grad={want_grad}")


def test_cuda_raw_kernels_take_the_current_stream():
    be = _load("cuda")
    from numba import cuda

    s = cuda.stream()
    assert be.current_stream() == 0
    x = np.array([[0.0, 1.0, -2.0]])
    with be.on_stream(s):
        assert be.current_stream() is s
        out = cuda.device_array((1,))
        be.logsumexp(cuda.to_device(x), out)
        s.synchronize()
    assert be.current_stream() == 0
    assert_close(out.copy_to_host(), np.log(np.exp(x).sum(axis=1)), 1e-15, 0.0, "logsumexp")
