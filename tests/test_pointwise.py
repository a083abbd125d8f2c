"""The per-element formulas of fastact/pointwise.py, against independent references.

They are compiled into every backend by ``python -m fastact._codegen`` (Numba, CUDA,
Cython; the NumPy backend evaluates them as they are), so a wrong formula here would
be wrong everywhere: each is checked on its own against a float64 formula written
differently (PyTorch's where it has one), and the generated Numba copy against the
Python one (to the last bit but NumPy's own exp/log1p).
"""

from __future__ import annotations

import numpy as np
import pytest

from fastact import pointwise as pw

RNG = np.random.default_rng(7)
X = np.concatenate([RNG.normal(scale=8, size=2000), [0.0, -0.0, 40.0, -40.0, 800.0, -800.0]])
T = RNG.random(X.size)
W = RNG.random(X.size) + 0.5
PW = RNG.random(X.size) * 3


def _bce_ref(x, t, w, p):
    # -w (p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), log sigmoid via logaddexp
    log_sig = -np.logaddexp(0.0, -x)
    log_1m_sig = -np.logaddexp(0.0, x)
    return -w * (p * t * log_sig + (1 - t) * log_1m_sig)


E = pw.bce_exp(X)  # the shared exponential, exp(-|x|)


def test_bce_exp():
    np.testing.assert_array_equal(pw.bce_exp(X), np.exp(-np.abs(X)))


def test_bce_loss_and_grad():
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(pw.bce_loss(X, T, W, PW, E), _bce_ref(X, T, W, PW),
                                   rtol=1e-12, atol=1e-300)  # fmt: skip
        h = 1e-6
        fd = (_bce_ref(X + h, T, W, PW) - _bce_ref(X - h, T, W, PW)) / (2 * h)
    ok = np.abs(X) < 30
    np.testing.assert_allclose(pw.bce_grad(X, T, W, PW, E)[ok], fd[ok], rtol=1e-6, atol=1e-8)


def test_bce_against_pytorch():
    torch = pytest.importorskip("torch")
    x = torch.tensor(X, requires_grad=True)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        x, torch.tensor(T), weight=torch.tensor(W), pos_weight=torch.tensor(PW), reduction="none"
    )
    loss.sum().backward()
    np.testing.assert_allclose(pw.bce_loss(X, T, W, PW, E), loss.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(pw.bce_grad(X, T, W, PW, E), x.grad.numpy(), rtol=1e-12,
                               atol=1e-300)  # fmt: skip


def test_mse():
    np.testing.assert_array_equal(pw.mse_loss(X, T), (X - T) ** 2)
    np.testing.assert_array_equal(pw.mse_grad(X, T), 2 * (X - T))


def test_maxout_scan_rule():
    nan = np.nan
    v = np.array([2.0, 1.0, 1.0, nan, nan, 3.0])
    best = np.array([1.0, 2.0, 1.0, 1.0, nan, nan])
    # greater wins; a tie keeps the first; the first NaN wins; after a NaN nothing does
    assert pw.maxout_wins(v, best).tolist() == [True, False, False, True, False, False]


def test_splitmix64_against_the_published_sequence():
    # SplitMix64 (Steele, Lea, Flood 2014; Vigna's splitmix64.c) from state 0: the
    # generator adds golden before mixing, so output k is mix((k + 1) golden)
    want = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    i = np.arange(3, dtype=np.uint64)
    with np.errstate(over="ignore"):
        u = pw.splitmix64_uniform(0, i)
    np.testing.assert_array_equal(u, [(w >> 11) * 2.0**-53 for w in want])


def test_rrelu_slope():
    v = np.array([-1.0, 0.0, 2.0, -0.0, np.nan])
    u = np.array([0.5, 0.5, 0.5, 0.25, 0.5])
    got = pw.rrelu_slope(v, 0.1, 0.3, u)
    np.testing.assert_allclose(got[:4], [0.2, 1.0, 1.0, 1.0], rtol=1e-15)
    assert got[4] == pytest.approx(0.2)  # NaN: not >= 0, a drawn slope (y = NaN anyway)


def test_shift_rules():
    m = np.array([1.5, -np.inf, np.inf, np.nan])
    np.testing.assert_array_equal(pw.softmax_shift(m), [1.5, 0.0, np.inf, 0.0])
    np.testing.assert_array_equal(pw.lse_shift(m), [1.5, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("fn", pw.FORMULAS, ids=lambda f: f.__name__)
def test_generated_numba_copy_agrees(fn):
    from fastact.kernels import numba_pointwise
    from numba import njit

    nb = getattr(numba_pointwise, fn.__name__)
    nargs = fn.__code__.co_argcount
    if fn is pw.splitmix64_uniform:
        call = njit(lambda s, i: nb(s, i))
        for s, i in ((0, 0), (12345, 77), (2**64 - 1, 2**40)):
            with np.errstate(over="ignore"):
                want = float(pw.splitmix64_uniform(s, np.array([i], dtype=np.uint64))[0])
            assert call(np.uint64(s), np.uint64(i)) == want
        return
    args = [X, T, W, PW, E][:nargs] if fn is not pw.rrelu_slope else [X, 0.1, 0.3, T]
    if fn in (pw.softmax_shift, pw.lse_shift):
        args = [np.array([1.5, -np.inf, np.inf, np.nan, -2.0])]
    with np.errstate(all="ignore"):
        want = np.asarray(fn(*args), dtype=np.float64)

    # one jitted caller per arity (an inlined function takes no *args)
    each = {
        1: njit(lambda a: nb(a)),
        2: njit(lambda a, b: nb(a, b)),
        4: njit(lambda a, b, c, d: nb(a, b, c, d)),
        5: njit(lambda a, b, c, d, e: nb(a, b, c, d, e)),
    }[nargs]
    n = len(want)
    got = np.array([float(each(*[a[k] if np.ndim(a) else a for a in args])) for k in range(n)])
    # Numba's copy calls fastact._math's exp/log1p_unit (within 2 ulp), NumPy its own: a few
    # ulp apart, absolute near a gradient's zero (O(1) terms cancel there)
    np.testing.assert_allclose(got, want, rtol=2e-15, atol=2e-15)
