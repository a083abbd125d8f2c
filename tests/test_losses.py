"""Cross-entropy, BCE-with-logits and MSE against PyTorch (loss and autograd gradient)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from util import CPU_BACKENDS, assert_close

import fastact
from fastact import _threads

torch = pytest.importorskip("torch")
F = torch.nn.functional

DT = [np.float32, np.float64]


def _tol(dtype):
    return (1e-12, 1e-13) if dtype == np.float64 else (3e-5, 1e-6)


def _torch_ce(x, t, ax, **kw):
    xt = torch.tensor(np.moveaxis(x, ax, 1) if x.ndim > 1 else x, requires_grad=True)
    tt = torch.tensor(t)
    loss = F.cross_entropy(xt, tt, **kw)
    if kw.get("reduction") == "none":
        (g,) = torch.autograd.grad(loss.sum(), xt)
    else:
        (g,) = torch.autograd.grad(loss, xt)
    g = g.numpy()
    return loss.detach().numpy(), (np.moveaxis(g, 1, ax) if x.ndim > 1 else g)


CE_CASES = {
    "plain": dict(),
    "ignore": dict(ignore=True),
    "weight": dict(weight=True),
    "smooth": dict(label_smoothing=0.1),
    "weight_smooth_ignore": dict(weight=True, label_smoothing=0.2, ignore=True),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", list(CE_CASES))
@pytest.mark.parametrize("layout", ["NC", "NCd", "C", "big"])
@pytest.mark.parametrize("dtype", DT, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_cross_entropy_index_targets(backend, dtype, layout, case, reduction):
    rng = np.random.default_rng(0)
    shape, ax = {"NC": ((32, 10), 1), "NCd": ((4, 10, 3, 5), 1), "C": ((10,), 0),
                 "big": ((8, 4096), 1)}[layout]  # fmt: skip
    x = (rng.normal(size=shape) * 3).astype(dtype)
    C = shape[ax]
    tshape = shape[:ax] + shape[ax + 1 :]
    t = rng.integers(0, C, size=tshape)
    opts = dict(CE_CASES[case])
    kw = {"reduction": reduction, "label_smoothing": opts.get("label_smoothing", 0.0)}
    if opts.get("ignore") and t.ndim:
        t.flat[::3] = -100
    if opts.get("weight"):
        kw["weight"] = rng.uniform(0.2, 2.0, C).astype(dtype)
    want_l, want_g = _torch_ce(
        x, t, ax, **{k: (torch.tensor(v) if k == "weight" else v) for k, v in kw.items()}
    )
    loss, g = fastact.cross_entropy(x, t, axis=ax, return_grad=True, backend=backend, **kw)
    rtol, atol = _tol(dtype)
    assert_close(loss, want_l, rtol, atol, "loss")
    assert_close(g, want_g, rtol, atol, "grad")
    assert g.dtype == dtype
    loss_only = fastact.cross_entropy(x, t, axis=ax, backend=backend, **kw)
    assert_close(loss_only, want_l, rtol, atol, "loss without grad")


@pytest.mark.parametrize("dtype", DT, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets(backend, dtype, reduction):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(6, 7, 3)) * 2).astype(dtype)
    q = rng.dirichlet(np.ones(7), size=(6, 3)).transpose(0, 2, 1).astype(dtype)
    w = rng.uniform(0.5, 1.5, 7).astype(dtype)
    want_l, want_g = _torch_ce(x, q, 1, reduction=reduction, weight=torch.tensor(w),
                               label_smoothing=0.05)  # fmt: skip
    kw = dict(axis=1, weight=w, label_smoothing=0.05, reduction=reduction, backend=backend)
    loss, g = fastact.cross_entropy(x, q, return_grad=True, **kw)
    rtol, atol = _tol(dtype)
    assert_close(loss, want_l, rtol, atol, "loss")
    assert_close(g, want_g, rtol, atol, "grad")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_cross_entropy_large_vocabulary_and_in_place(backend):
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(3, 131072)) * 4).astype(np.float32)
    t = rng.integers(0, 131072, 3)
    want_l, want_g = _torch_ce(x.astype(np.float64), t, 1)  # float64 reference
    xc = x.copy()
    loss, g = fastact.cross_entropy(xc, t, return_grad=True, grad_out=xc, backend=backend)
    assert g is xc  # the logits were overwritten by the gradient
    assert_close(loss, want_l, 1e-5, 1e-6)
    assert_close(g, want_g, 1e-5, 1e-9)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_cross_entropy_edge_cases(backend):
    x = np.array(
        [[0.0, -np.inf, 1.0], [1e4, -1e4, 0.0], [1e30, 0.0, -1e30], [-np.inf] * 3, [np.nan, 0, 0]]
    )
    t = np.array([0, 0, 1, 2, 1])
    with np.errstate(all="ignore"):
        want, _ = _torch_ce(x, t, 1, reduction="none")
    got = fastact.cross_entropy(x, t, reduction="none", backend=backend)
    assert_close(got, want, 1e-12, 1e-12)
    # every target ignored: NaN mean, 0 sum, zero gradient
    t_ign = np.full(5, -100)
    loss, g = fastact.cross_entropy(x[:3], t_ign[:3], return_grad=True, backend=backend)
    assert np.isnan(loss)
    assert not g.any()
    assert fastact.cross_entropy(x[:3], t_ign[:3], reduction="sum", backend=backend) == 0
    # empty batch
    assert np.isnan(fastact.cross_entropy(np.zeros((0, 4)), np.zeros(0, int), backend=backend))
    # one class: loss 0, gradient 0
    l1, g1 = fastact.cross_entropy(np.ones((3, 1)), np.zeros(3, int), return_grad=True)
    assert l1 == 0 and not g1.any()


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("return_grad", [False, True])
def test_cross_entropy_bad_targets(backend, return_grad):
    x = np.zeros((4, 5), np.float32)
    for bad in (5, -1, 10**12):
        t = np.array([0, 1, bad, 2])
        with pytest.raises(IndexError, match=str(bad)):
            fastact.cross_entropy(x, t, return_grad=return_grad, backend=backend)
    with pytest.raises(ValueError, match="shape"):
        fastact.cross_entropy(x, np.zeros(3, int), backend=backend)
    with pytest.raises(ValueError, match="shape"):
        fastact.cross_entropy(x, np.zeros((4, 4)), backend=backend)
    with pytest.raises(TypeError, match="int64"):
        fastact.cross_entropy(np.zeros((4, 5), np.int64), np.zeros(4, int), backend=backend)
    with pytest.raises(TypeError, match="bool"):
        fastact.cross_entropy(x, np.zeros(4, bool), backend=backend)
    with pytest.raises(np.exceptions.AxisError):
        fastact.cross_entropy(x, np.zeros(4, int), axis=2, backend=backend)
    with pytest.raises(ValueError, match="reduction"):
        fastact.cross_entropy(x, np.zeros(4, int), reduction="avg", backend=backend)
    with pytest.raises(ValueError, match="weight"):
        fastact.cross_entropy(x, np.zeros(4, int), weight=np.ones(4), backend=backend)
    with pytest.raises(ValueError, match="label_smoothing"):
        fastact.cross_entropy(x, np.zeros(4, int), label_smoothing=1.5, backend=backend)
    with pytest.raises(ValueError, match="grad_out"):
        fastact.cross_entropy(x, np.zeros(4, int), return_grad=True,
                              grad_out=np.zeros((4, 4), np.float32), backend=backend)  # fmt: skip


@pytest.mark.parametrize("dtype", DT, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits(backend, dtype, reduction):
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(40, 6)) * 5).astype(dtype)
    x[0, :3] = [1e4, -1e4, 0.0]
    t = rng.uniform(0, 1, size=x.shape).astype(dtype)
    w = rng.uniform(0.5, 2, size=(40, 1)).astype(dtype)
    pw = rng.uniform(0.5, 3, size=6).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    lt = F.binary_cross_entropy_with_logits(
        xt,
        torch.tensor(t),
        weight=torch.tensor(w),
        pos_weight=torch.tensor(pw),
        reduction=reduction,
    )
    (gt,) = torch.autograd.grad(lt.sum(), xt)
    loss, g = fastact.binary_cross_entropy_with_logits(
        x, t, weight=w, pos_weight=pw, reduction=reduction, return_grad=True, backend=backend
    )
    rtol, atol = _tol(dtype)
    assert_close(loss, lt.detach().numpy(), rtol, atol, "bce loss")
    assert_close(g, gt.numpy(), rtol, atol, "bce grad")
    with pytest.raises(ValueError, match="shape"):
        fastact.binary_cross_entropy_with_logits(x, t[:3], backend=backend)


@pytest.mark.parametrize("dtype", DT, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse(backend, dtype, reduction):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 7)).astype(dtype)
    t = rng.normal(size=(30, 7)).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    lt = F.mse_loss(xt, torch.tensor(t), reduction=reduction)
    (gt,) = torch.autograd.grad(lt.sum(), xt)
    loss, g = fastact.mse_loss(x, t, reduction=reduction, return_grad=True, backend=backend)
    rtol, atol = _tol(dtype)
    assert_close(loss, lt.detach().numpy(), rtol, atol, "mse")
    assert_close(g, gt.numpy(), rtol, atol, "mse grad")
    gbuf = np.empty_like(x)
    _, g2 = fastact.mse_loss(x, t, return_grad=True, grad_out=gbuf, backend=backend)
    assert g2 is gbuf


def _pointwise_ref(kind, x, t, w, pw):
    """Per-element float64 losses and d loss / dx, written differently from pointwise.py."""
    x, t = x.astype(np.float64), t.astype(np.float64)
    if kind == "mse":
        return (x - t) ** 2, 2.0 * (x - t)
    w = 1.0 if w is None else w.astype(np.float64)
    pw = 1.0 if pw is None else pw.astype(np.float64)
    with np.errstate(all="ignore"):
        log_sig, log_1m_sig = -np.logaddexp(0.0, -x), -np.logaddexp(0.0, x)
        sig = np.exp(log_sig)
    return -w * (pw * t * log_sig + (1 - t) * log_1m_sig), w * ((pw * t + 1 - t) * sig - pw * t)


def _call_pointwise(kind, x, t, w, pw, **kw):
    if kind == "mse":
        return fastact.mse_loss(x, t, **kw)
    return fastact.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, **kw)


@pytest.mark.parametrize("dtype", DT, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("kind", ["mse", "bce", "bce_weighted"])
def test_reduced_pointwise_loss_over_many_blocks(backend, dtype, kind):
    # more than one LOSS_BLOCK: the compiled kernels return one partial sum per block
    # (no per-element array); the reduced loss against math.fsum of the float64 losses,
    # the gradient against the float64 formula, and the same bits on 1 and 2 threads
    from fastact.backends.interface import LOSS_BLOCK

    rng = np.random.default_rng(11)
    # above SERIAL_BELOW, so that 2 threads do run in parallel (several blocks each)
    n = max(5 * LOSS_BLOCK, 2 * _threads.SERIAL_BELOW) + 123
    x = (rng.normal(size=n) * 4).astype(dtype)
    t = (rng.random(n) if kind != "mse" else rng.normal(size=n)).astype(dtype)
    w = pw = None
    if kind == "bce_weighted":
        w = rng.uniform(0.5, 2.0, n).astype(dtype)
        pw = rng.uniform(0.5, 3.0, n).astype(dtype)
    name = kind.split("_")[0]
    loss_ref, grad_ref = _pointwise_ref(name, x, t, w, pw)
    total = math.fsum(loss_ref.tolist())
    rtol = 1e-13 if dtype == np.float64 else 2.0**-23
    before = fastact.get_num_threads()
    try:
        got = {}
        for threads in sorted({1, min(2, _threads.max_threads())}):
            fastact.set_num_threads(threads)
            for red in ("sum", "mean"):
                loss, g = _call_pointwise(name, x, t, w, pw, reduction=red, return_grad=True,
                                          backend=backend)  # fmt: skip
                want = total / n if red == "mean" else total
                assert abs(float(loss) - want) <= rtol * abs(want), (red, float(loss), want)
                scale = 1.0 / n if red == "mean" else 1.0
                # absolute: sigmoid(x) - t cancels O(1) terms near the gradient's zero
                assert_close(g, grad_ref * scale, 1e-13 if dtype == np.float64 else 2e-7,
                             4e-15 * scale, f"{kind} grad {red}")  # fmt: skip
                lone = _call_pointwise(name, x, t, w, pw, reduction=red, backend=backend)
                assert lone.tobytes() == loss.tobytes(), (red, lone, loss)  # grad or not
                got[threads, red] = loss.tobytes()
        for red in ("sum", "mean"):
            assert len({v for (_, r), v in got.items() if r == red}) == 1, got
    finally:
        fastact.set_num_threads(before)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_reduced_pointwise_loss_propagates_inf_and_nan(backend, bad):
    # one non-finite input in the third block: the partial sums carry it to the total
    from fastact.backends.interface import LOSS_BLOCK

    n = 4 * LOSS_BLOCK
    x = np.linspace(-3, 3, n).astype(np.float32)
    t = np.full(n, 0.25, np.float32)
    x[2 * LOSS_BLOCK + 7] = bad
    want_mse = float(np.sum((x.astype(np.float64) - 0.25) ** 2))
    got = fastact.mse_loss(x, t, reduction="sum", backend=backend)
    assert (np.isnan(got) and np.isnan(want_mse)) or float(got) == pytest.approx(want_mse), got
    # PyTorch's value: -inf with t = 1/4 gives inf - inf there too
    want_bce = float(F.binary_cross_entropy_with_logits(
        torch.tensor(x, dtype=torch.float64), torch.tensor(t, dtype=torch.float64),
        reduction="sum"))  # fmt: skip
    got = fastact.binary_cross_entropy_with_logits(x, t, reduction="sum", backend=backend)
    assert (np.isnan(got) and np.isnan(want_bce)) or float(got) == pytest.approx(want_bce), got


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n", [7, 3 * 4096 + 5])
def test_pointwise_loss_gradient_into_an_input(backend, reduction, n):
    # grad_out may be the input or the target itself: the loss is still that of the
    # values passed in (the kernels read each element before its gradient overwrites it)
    rng = np.random.default_rng(2)
    x0 = rng.normal(size=n) * 3
    t0 = rng.normal(size=n)
    b0 = rng.random(n)
    for kind, dest in (("mse", 0), ("mse", 1), ("bce", 0), ("bce", 1)):
        x, t = x0.copy(), (t0 if kind == "mse" else b0).copy()
        loss_ref, grad_ref = _pointwise_ref(kind, x, t, None, None)
        want = loss_ref if reduction == "none" else math.fsum(loss_ref.tolist())
        if reduction == "mean":
            want = want / n
        scale = 1.0 / n if reduction == "mean" else 1.0
        buf = (x, t)[dest]
        loss, g = _call_pointwise(kind, x, t, None, None, reduction=reduction,
                                  return_grad=True, grad_out=buf, backend=backend)  # fmt: skip
        assert g is buf
        assert_close(loss, want, 1e-13, 1e-300, f"{kind} loss, grad_out={('x', 't')[dest]}")
        assert_close(g, grad_ref * scale, 1e-13, 4e-15 * scale, f"{kind} grad into an input")
