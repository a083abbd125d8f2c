"""Every elementwise activation x backend x dtype against independent references, and
every layout (for the representative entries of ``LAYOUT_ENTRIES``)."""

from __future__ import annotations

import numpy as np
import pytest
from util import CPU_BACKENDS, DTYPES, SHAPES, assert_close, make, pool

import fastact
from fastact import table

ENTRIES = table.ENTRIES
# parameter sets: the defaults, and non-default values where an entry has parameters
PARAM_SETS = [(e, ()) for e in ENTRIES] + [
    (table.BY_NAME["hardtanh"], (-0.5, 2.0)),
    (table.BY_NAME["leaky_relu"], (0.2,)),
    (table.BY_NAME["elu"], (0.7,)),
    (table.BY_NAME["celu"], (1.5,)),
    (table.BY_NAME["softplus"], (2.0, 10.0)),
    (table.BY_NAME["swish"], (1.7,)),
    (table.BY_NAME["gelu"], ("tanh",)),
]
IDS = [f"{e.name}{'-' + '-'.join(map(str, p)) if p else ''}" for e, p in PARAM_SETS]

#: The layout handling (0-d, empty, strided, transposed, ...) is one code path shared by
#: every activation (``fastact._dispatch``): every layout runs for these entries (a
#: parameter-free one, one with a parameter, one with a choice); every entry runs the
#: serial ("1023": the special values) and the threaded ("large") kernel.
LAYOUT_ENTRIES = ("relu", "softplus", "gelu")
KERNEL_SHAPES = ("1023", "large")
VALUE_CASES = [
    pytest.param(e, p, shape, id=f"{ident}-{shape}")
    for (e, p), ident in zip(PARAM_SETS, IDS, strict=True)
    for shape in (SHAPES if e.name in LAYOUT_ENTRIES and not p else KERNEL_SHAPES)
]


def _tol(e: table.Elementwise, dtype) -> tuple[float, float]:
    return e.tol[np.dtype(dtype).name]


def _ref_fwd(e, x, a, b):
    with np.errstate(all="ignore"):
        return e.ref(np.asarray(x, dtype=np.float64), a, b)


def _ref_bwd(e, g, x, a, b):
    with np.errstate(all="ignore"):
        return np.asarray(g, np.float64) * e.ref_deriv(np.asarray(x, dtype=np.float64), a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize(("entry", "params", "shape"), VALUE_CASES)
def test_forward_matches_float64_reference(entry, params, shape, backend, dtype):
    a, b = entry.encode(params)
    x = make(shape, pool(dtype, entry, a, b))
    y = getattr(fastact, entry.name)(x, *params, backend=backend)
    assert isinstance(y, np.ndarray)
    assert y.dtype == dtype and y.shape == x.shape
    rtol, atol = _tol(entry, dtype)
    with np.errstate(over="ignore"):
        ref = _ref_fwd(entry, x, a, b).astype(dtype)  # rounded to the output dtype
    atol = max(atol, float(np.finfo(dtype).smallest_subnormal))
    assert_close(y, ref, rtol, atol, f"{entry.name} {backend} {np.dtype(dtype)}")
    # any layout gives the values of the contiguous case
    yc = getattr(fastact, entry.name)(np.ascontiguousarray(x), *params, backend=backend)
    np.testing.assert_array_equal(y, yc)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize(("entry", "params", "shape"), VALUE_CASES)
def test_backward_matches_float64_reference(entry, params, shape, backend, dtype):
    a, b = entry.encode(params)
    x = make(shape, pool(dtype, entry, a, b))
    g = make(shape, pool(dtype, entry, a, b, seed=1)[::-1].copy())
    g = np.where(np.isfinite(g), g, 1.5).astype(dtype)  # finite upstream gradients
    gx = getattr(fastact, entry.name + "_backward")(g, x, *params, backend=backend)
    assert gx.dtype == dtype and gx.shape == x.shape
    rtol, _ = _tol(entry, dtype)
    rtol = max(rtol, 1e-14)
    with np.errstate(over="ignore"):
        ref = _ref_bwd(entry, g, x, a, b).astype(dtype)
    # absolute slack relative to |g|: derivatives with a root (silu, gelu, mish)
    # lose relative accuracy there by cancellation of O(1) terms
    atol = rtol * np.abs(g.astype(np.float64)) + float(np.finfo(dtype).smallest_subnormal)
    assert_close(gx, ref, rtol, atol, f"{entry.name}_backward {backend} {np.dtype(dtype)}")


def _kink_free(e, x, a, b, h):
    far = np.ones(x.shape, bool)
    for k in e.kinks(a, b):
        far &= np.abs(x - k) > 10 * h
    return far


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize(("entry", "params"), PARAM_SETS, ids=IDS)
def test_backward_matches_central_differences(entry, params, backend):
    """float64 central differences of the kernel's own forward vs its backward."""
    a, b = entry.encode(params)
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(0, 2, 2000), rng.uniform(-12, 12, 2000)])
    h = 1e-6 * np.maximum(1.0, np.abs(x))
    x = x[_kink_free(entry, x, a, b, h.max())]
    h = 1e-6 * np.maximum(1.0, np.abs(x))
    f = getattr(fastact, entry.name)
    fd = (f(x + h, *params, backend=backend) - f(x - h, *params, backend=backend)) / (2 * h)
    gx = getattr(fastact, entry.name + "_backward")(np.ones_like(x), x, *params, backend=backend)
    assert_close(gx, fd, 1e-6, 1e-8, f"{entry.name} finite differences")


def _torch_pair(entry, params, x, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    t = torch.tensor(x, dtype=getattr(torch, np.dtype(dtype).name), requires_grad=True)
    y = entry.torch(F, t, *params)
    g = torch.linspace(-2, 3, t.numel(), dtype=t.dtype).reshape(t.shape)
    (gx,) = torch.autograd.grad(y, t, g)
    return y.detach().numpy(), g.numpy(), gx.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize(("entry", "params"), PARAM_SETS, ids=IDS)
def test_matches_pytorch_autograd(entry, params, backend, dtype):
    """Forward and autograd gradient against PyTorch on finite inputs, kinks included."""
    a, b = entry.encode(params)
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [rng.normal(0, 3, 3000), [0.0, -0.0, 1e4, -1e4, 20.0, -20.0], list(entry.kinks(a, b))]
    ).astype(dtype)
    y_t, g, gx_t = _torch_pair(entry, params, x, dtype)
    y = getattr(fastact, entry.name)(x, *params, backend=backend)
    gx = getattr(fastact, entry.name + "_backward")(g, x, *params, backend=backend)
    # PyTorch's own float32 kernels carry a few ulp of error: compare with slack
    rtol, atol = (1e-12, 1e-15) if dtype == np.float64 else (2e-5, 1e-6)
    assert_close(y, y_t, rtol, atol, f"{entry.name} vs torch forward")
    if entry.name == "hardsigmoid":
        rtol = max(rtol, 1e-7)  # PyTorch's backward uses 1/6 rounded to float32 (1.0f / 6.0f)
    assert_close(gx, gx_t, rtol, atol * 10, f"{entry.name} vs torch backward")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_infinite_inputs_give_limits(entry, backend):
    x = np.array([-np.inf, np.inf, np.nan])
    y = getattr(fastact, entry.name)(x, backend=backend)
    d = getattr(fastact, entry.name + "_backward")(np.ones(3), x, backend=backend)
    assert np.isnan(y[2]) and np.isnan(d[2])
    assert not np.isnan(y[:2]).any(), y
    assert not np.isnan(d[:2]).any(), d
    assert_close(y, _ref_fwd(entry, x, *entry.encode(())), 0, 0, entry.name)


def test_documented_limits():
    assert fastact.silu(-np.inf) == 0
    assert fastact.softsign(np.inf) == 1
    assert fastact.gelu(-np.inf) == 0
    assert fastact.gelu(-np.inf, "tanh") == 0
    assert fastact.mish_backward(1.0, np.inf) == 1
    assert fastact.gelu_backward(1.0, -np.inf) == 0


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_out_and_in_place(backend, dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 40)).astype(dtype)
    want = fastact.tanh(x, backend=backend)
    out = np.empty_like(x)
    assert fastact.tanh(x, out=out, backend=backend) is out
    np.testing.assert_array_equal(out, want)
    # Fortran-ordered and strided outputs
    outf = np.empty(x.shape, dtype, order="F")
    fastact.tanh(x, out=outf, backend=backend)
    np.testing.assert_array_equal(outf, want)
    big = np.zeros((100, 40), dtype)
    fastact.tanh(x, out=big[::2], backend=backend)
    np.testing.assert_array_equal(big[::2], want)
    assert not big[1::2].any()
    # in place, forward and backward (out is the gradient or the input)
    xc = x.copy()
    assert fastact.tanh(xc, out=xc, backend=backend) is xc
    np.testing.assert_array_equal(xc, want)
    g = np.ones_like(x)
    gw = fastact.tanh_backward(g, x, backend=backend)
    fastact.tanh_backward(g, x, out=g, backend=backend)
    np.testing.assert_array_equal(g, gw)
    xc = x.copy()
    fastact.tanh_backward(np.ones_like(x), xc, out=xc, backend=backend)
    np.testing.assert_array_equal(xc, gw)
    # overlapping but shifted views still give the right answer
    v = rng.normal(size=200).astype(dtype)
    want = fastact.relu(v[1:], backend=backend)
    fastact.relu(v[1:], out=v[:-1], backend=backend)
    np.testing.assert_array_equal(v[:-1], want)


def test_array_likes_and_scalars():
    assert fastact.relu([-1.0, 2.0]).tolist() == [0.0, 2.0]
    y = fastact.sigmoid(0.0)
    assert y.shape == () and y == 0.5
    assert fastact.hardtanh([3.0], -2.0, 2.0)[0] == 2.0
    assert fastact.hardtanh([3.0], max_val=2.5)[0] == 2.5
