"""fastact.torch: custom ops with autograd, checked against torch.nn.functional.

Every reference is PyTorch's own implementation (``torch.nn.functional`` / autograd),
and every gradient is also checked by ``torch.autograd.gradcheck`` (finite
differences in float64).
"""

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastact  # noqa: E402
import fastact.torch as ft  # noqa: E402
from fastact import _torch_ops as ops  # noqa: E402
from fastact import table  # noqa: E402

F = torch.nn.functional

#: Non-default parameters per entry (defaults are tested too)
OTHER_PARAMS = {
    "hardtanh": (-0.5, 2.0),
    "leaky_relu": (0.2,),
    "elu": (0.7,),
    "celu": (1.5,),
    "softplus": (2.0, 5.0),
    "swish": (1.7,),
    "gelu": ("tanh",),
}
CASES = [(e.name, ()) for e in table.ENTRIES] + list(OTHER_PARAMS.items())
#: PyTorch's float64 hardsigmoid backward multiplies by a float32 1/6 (relative error 3e-8)
TORCH_F64_RTOL = {"hardsigmoid": 1e-7}


def _ids(c):
    return c[0] + ("-" + "-".join(map(str, c[1])) if c[1] else "")


def _sample(shape, spec=None, params=(), dtype=torch.float64, seed=0, scale=3.0):
    """Random values at least 1e-2 away from the entry's kinks (derivative jumps)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * scale
    if spec is not None:
        a, b = spec.encode(params)
        for k in spec.kinks(a, b):
            near = np.abs(x - k) < 1e-2
            x[near] = k + 0.05
    return torch.tensor(x, dtype=dtype)


def _ref(name, t, params):
    return table.BY_NAME[name].torch(F, t, *params)


def _fwd_bwd(fn, x, g):
    """(y, dL/dx) for L = sum(g * fn(x))."""
    x = x.detach().clone().requires_grad_(True)
    y = fn(x)
    (gx,) = torch.autograd.grad(y, x, g)
    return y.detach(), gx


# --------------------------------------------------------------------------- #
# Elementwise activations                                                     #
# --------------------------------------------------------------------------- #


def test_every_table_entry_has_a_function_and_a_module():
    for e in table.ENTRIES:
        assert callable(getattr(ft, e.name)), e.name
        assert e.name in ft.__all__
        assert e.name in ft.MODULES, f"no nn.Module for {e.name}"
        assert e.name in ops.ELEMENTWISE


@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_elementwise_matches_torch(case, dtype):
    name, params = case
    spec = table.BY_NAME[name]
    x = _sample((7, 9), spec, params, dtype)
    g = _sample((7, 9), dtype=dtype, seed=1)
    y, gx = _fwd_bwd(lambda t: getattr(ft, name)(t, *params), x, g)
    yr, gr = _fwd_bwd(lambda t: _ref(name, t, params), x, g)
    if dtype == torch.float64:
        tol = {"rtol": TORCH_F64_RTOL.get(name, 1e-12), "atol": 1e-14}
    else:
        tol = {"rtol": 2e-5, "atol": 1e-6}
    assert y.dtype == dtype and gx.dtype == dtype
    torch.testing.assert_close(y, yr, **tol)
    torch.testing.assert_close(gx, gr, **tol)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_elementwise_gradcheck(case):
    name, params = case
    x = _sample((2, 3), table.BY_NAME[name], params).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: getattr(ft, name)(t, *params), (x,))


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_elementwise_module(case):
    name, params = case
    spec = table.BY_NAME[name]
    kwargs = {p.name: v for p, v in zip(spec.params, params, strict=False)}
    m = ft.MODULES[name](**kwargs)
    assert isinstance(m, torch.nn.Module)
    x = _sample((4, 5), spec, params)
    torch.testing.assert_close(m(x), _ref(name, x, params), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["gelu", "silu", "tanh", "softplus", "hardswish"])
def test_elementwise_half_dtypes(name, dtype):
    """float16/bfloat16 in and out, computed in float32: within one rounding of the
    float32 torch result."""
    spec = table.BY_NAME[name]
    x = _sample((6, 8), spec, (), torch.float32).to(dtype)
    g = _sample((6, 8), seed=1).to(dtype)
    y, gx = _fwd_bwd(getattr(ft, name), x, g)
    yr, gr = _fwd_bwd(lambda t: _ref(name, t, ()), x.float(), g.float())
    assert y.dtype == dtype and gx.dtype == dtype
    tol = {"rtol": 1e-2, "atol": 1e-3} if dtype == torch.bfloat16 else {"rtol": 2e-3, "atol": 1e-4}
    torch.testing.assert_close(y.float(), yr, **tol)
    torch.testing.assert_close(gx.float(), gr, **tol)


def test_non_contiguous_inputs_and_grads():
    base = _sample((8, 10), table.BY_NAME["mish"])
    for x in (base.t(), base[:, ::2], base[:, :1].expand(8, 10)):
        assert not x.is_contiguous()
        g = _sample(tuple(x.shape), seed=4).t().contiguous().t()  # a strided upstream gradient
        y, gx = _fwd_bwd(ft.mish, x, g)
        yr, gr = _fwd_bwd(F.mish, x, g)
        torch.testing.assert_close(y, yr, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(gx, gr, rtol=1e-12, atol=1e-14)
    y, gx = _fwd_bwd(lambda t: ft.softmax(t, dim=0), base.t(), base.t())
    yr, gr = _fwd_bwd(lambda t: F.softmax(t, dim=0), base.t(), base.t())
    torch.testing.assert_close(y, yr)
    torch.testing.assert_close(gx, gr)


def test_result_is_new_tensor_same_device_dtype():
    x = _sample((3, 4), dtype=torch.float32)
    y = ft.identity(x)
    assert y.data_ptr() != x.data_ptr() and y.device == x.device and y.dtype == x.dtype
    assert ft.relu(x).requires_grad is False
    assert ft.relu(x.requires_grad_(True)).requires_grad is True


# --------------------------------------------------------------------------- #
# Row-wise                                                                    #
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax_log_softmax_logsumexp(dim):
    x = _sample((3, 5, 4))
    g = _sample((3, 5, 4), seed=2)
    for ours, ref in ((ft.softmax, F.softmax), (ft.log_softmax, F.log_softmax)):
        y, gx = _fwd_bwd(lambda t: ours(t, dim), x, g)
        yr, gr = _fwd_bwd(lambda t: ref(t, dim=dim), x, g)
        torch.testing.assert_close(y, yr, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(gx, gr, rtol=1e-12, atol=1e-14)
    for keepdim in (False, True):
        gl = torch.logsumexp(x, dim, keepdim) * 0 + _sample((1,), seed=3)
        y, gx = _fwd_bwd(lambda t: ft.logsumexp(t, dim, keepdim), x, gl)
        yr, gr = _fwd_bwd(lambda t: torch.logsumexp(t, dim, keepdim), x, gl)
        torch.testing.assert_close(y, yr, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(gx, gr, rtol=1e-12, atol=1e-14)
    assert ft.softmax(x.float(), dim, dtype=torch.float64).dtype == torch.float64
    torch.testing.assert_close(ft.Softmax(dim)(x), F.softmax(x, dim))
    torch.testing.assert_close(ft.LogSoftmax(dim)(x), F.log_softmax(x, dim))


def test_rowwise_gradcheck_and_half():
    x = _sample((3, 4)).requires_grad_(True)
    for fn in (ft.softmax, ft.log_softmax, ft.logsumexp):
        assert torch.autograd.gradcheck(lambda t: fn(t, 0), (x,))
        assert torch.autograd.gradcheck(lambda t: fn(t, -1), (x,))
    for dtype in (torch.float16, torch.bfloat16):
        xh = x.detach().to(dtype)
        tol = {"rtol": 1e-2, "atol": 2e-3}
        for ours, ref in ((ft.softmax, F.softmax), (ft.log_softmax, F.log_softmax)):
            y, gx = _fwd_bwd(lambda t: ours(t, -1), xh, xh)
            yr, gr = _fwd_bwd(lambda t: ref(t, -1), xh.float(), xh.float())
            assert y.dtype == dtype and gx.dtype == dtype
            torch.testing.assert_close(y.float(), yr, **tol)
            torch.testing.assert_close(gx.float(), gr, **tol)


# --------------------------------------------------------------------------- #
# PReLU, RReLU, maxout                                                        #
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("shape,nw", [((4, 3), 3), ((2, 3, 5), 3), ((2, 3, 2, 2), 1), ((5,), 1)])
def test_prelu_input_and_weight_gradients(shape, nw):
    x = _sample(shape)
    w0 = torch.linspace(0.1, 0.4, nw, dtype=torch.float64)
    g = _sample(shape, seed=5)
    got, ref = [], []
    for fn, out in ((ft.prelu, got), (F.prelu, ref)):
        xx = x.clone().requires_grad_(True)
        w = w0.clone().requires_grad_(True)
        y = fn(xx, w)
        y.backward(g)
        out += [y.detach(), xx.grad, w.grad]
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
    xx = x[:2].clone().requires_grad_(True)
    w = w0.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(ft.prelu, (xx, w))
    m = ft.PReLU(nw, init=0.3)
    m(x).sum().backward()
    assert m.weight.grad is not None and m.weight.grad.shape == (nw,)


def test_rrelu_training_and_eval():
    x = _sample((6, 7))
    y_eval = ft.rrelu(x, 0.1, 0.3)
    torch.testing.assert_close(y_eval, F.rrelu(x, 0.1, 0.3, training=False))
    xx = x.clone().requires_grad_(True)
    y = ft.rrelu(xx, 0.1, 0.3, training=True, seed=11)
    g = _sample((6, 7), seed=6)
    y.backward(g)
    slopes = torch.where(x >= 0, torch.ones_like(x), y.detach() / x)
    neg = x < 0
    assert ((slopes[neg] >= 0.1) & (slopes[neg] <= 0.3)).all()
    assert slopes[neg].std() > 0.01  # random, not the mean slope
    torch.testing.assert_close(y.detach()[~neg], x[~neg])
    torch.testing.assert_close(xx.grad, g * slopes)
    torch.testing.assert_close(ft.rrelu(x, 0.1, 0.3, True, seed=11), y.detach())
    assert not torch.equal(ft.rrelu(x, 0.1, 0.3, True, seed=12), y.detach())
    torch.manual_seed(0)
    a = ft.rrelu(x, training=True)
    torch.manual_seed(0)
    assert torch.equal(a, ft.rrelu(x, training=True))
    xg = x[:2, :3].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: ft.rrelu(t, 0.1, 0.3, True, seed=3), (xg,))
    m = ft.RReLU(0.1, 0.3, seed=11)
    torch.testing.assert_close(m(x), y.detach())
    torch.testing.assert_close(m.eval()(x), y_eval)


@pytest.mark.parametrize("dim,pieces", [(-1, 3), (0, 2), (1, 2)])
def test_maxout(dim, pieces):
    x = _sample((4, 6, 6))
    g = _sample(ft.maxout(x, pieces, dim).shape, seed=7)

    def ref(t):
        d = dim % t.dim()
        return t.unflatten(d, (-1, pieces)).max(d + 1).values

    y, gx = _fwd_bwd(lambda t: ft.maxout(t, pieces, dim), x, g)
    yr, gr = _fwd_bwd(ref, x, g)
    torch.testing.assert_close(y, yr, rtol=0, atol=0)
    torch.testing.assert_close(gx, gr, rtol=0, atol=0)
    xs = _sample((2, 4)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: ft.maxout(t, 2), (xs,))
    torch.testing.assert_close(ft.Maxout(pieces, dim)(x), yr)


# --------------------------------------------------------------------------- #
# Losses                                                                      #
# --------------------------------------------------------------------------- #


def _loss_pair(ours, ref, inputs, g):
    """Loss values and the gradients of sum(g * loss) for every input that requires grad."""
    res = []
    for fn in (ours, ref):
        ins = [t.detach().clone().requires_grad_(t.requires_grad) for t in inputs]
        y = fn(*ins)
        diff = [t for t in ins if t.requires_grad]
        grads = torch.autograd.grad(y, diff, g if y.dim() else g.reshape(()))
        res.append((y.detach(), grads))
    return res


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 4), (5,)])
def test_cross_entropy_index_targets(reduction, weighted, smoothing, shape):
    x = _sample(shape).requires_grad_(True)
    C = shape[1] if len(shape) > 1 else shape[0]
    tshape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    t = torch.randint(0, C, tshape, generator=torch.Generator().manual_seed(0))
    if t.dim():
        t.view(-1)[1] = -100  # ignored
    w = torch.linspace(0.5, 2.0, C, dtype=torch.float64) if weighted else None
    kw = {"reduction": reduction, "label_smoothing": smoothing}
    g = _sample(tshape if reduction == "none" else (), seed=8)
    (y, (gx,)), (yr, (gr,)) = _loss_pair(
        lambda a: ft.cross_entropy(a, t, w, **kw), lambda a: F.cross_entropy(a, t, w, **kw), [x], g
    )
    torch.testing.assert_close(y, yr, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(gx, gr, rtol=1e-12, atol=1e-13)
    xs = x.detach()[:3].clone().requires_grad_(True) if len(shape) > 1 else x
    ts = t[:3] if len(shape) > 1 else t
    assert torch.autograd.gradcheck(lambda a: ft.cross_entropy(a, ts, w, **kw), (xs,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets_and_their_gradient(reduction):
    x = _sample((4, 5)).requires_grad_(True)
    q = torch.softmax(_sample((4, 5), seed=9), -1).requires_grad_(True)
    w = torch.linspace(0.5, 2.0, 5, dtype=torch.float64)
    kw = {"reduction": reduction, "label_smoothing": 0.1}
    g = _sample((4,) if reduction == "none" else (), seed=10)
    (y, gs), (yr, grs) = _loss_pair(
        lambda a, b: ft.cross_entropy(a, b, w, **kw),
        lambda a, b: F.cross_entropy(a, b, w, **kw),
        [x, q],
        g,
    )
    torch.testing.assert_close(y, yr, rtol=1e-12, atol=1e-13)
    for a, b in zip(gs, grs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
    assert torch.autograd.gradcheck(lambda a, b: ft.cross_entropy(a, b, w, **kw), (x, q))


def test_cross_entropy_no_grad_and_recomputed_backward():
    """Without a gradient the op skips the fused gradient; the op's backward then
    recomputes it through cross_entropy_backward (what opcheck and replays exercise)."""
    x = _sample((5, 6))
    t = torch.randint(0, 6, (5,), generator=torch.Generator().manual_seed(1))
    loss, g = ops.cross_entropy(x, t, None, -100, "none", 0.0, 1, False)
    assert g.numel() == 0
    torch.testing.assert_close(loss, F.cross_entropy(x, t, reduction="none"))
    xx = x.clone().requires_grad_(True)
    gl = _sample((5,), seed=2)
    loss, _ = ops.cross_entropy(xx, t, None, -100, "none", 0.1, 1, False)
    loss.backward(gl)
    xr = x.clone().requires_grad_(True)
    F.cross_entropy(xr, t, reduction="none", label_smoothing=0.1).backward(gl)
    torch.testing.assert_close(xx.grad, xr.grad, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_cross_entropy_dtypes(dtype):
    x = _sample((8, 10), dtype=torch.float32).to(dtype)
    t = torch.randint(0, 10, (8,), generator=torch.Generator().manual_seed(2))
    (y, (gx,)), (yr, (gr,)) = _loss_pair(
        lambda a: ft.cross_entropy(a, t),
        lambda a: F.cross_entropy(a.float(), t),
        [x.requires_grad_(True)],
        torch.tensor(1.0),
    )
    assert y.dtype == dtype and gx.dtype == dtype
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-2, "atol": 1e-3}
    torch.testing.assert_close(y.float(), yr, **tol)
    torch.testing.assert_close(gx.float(), gr.float(), **tol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_with_logits(reduction, weighted):
    x = _sample((4, 3)).requires_grad_(True)
    t = torch.rand(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    t.requires_grad_(True)
    w = torch.linspace(0.5, 1.5, 4, dtype=torch.float64)[:, None] if weighted else None
    pw = torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64) if weighted else None
    g = _sample((4, 3) if reduction == "none" else (), seed=11)

    def run(fn):
        return lambda a, b: fn(a, b, w, reduction=reduction, pos_weight=pw)

    (y, gs), (yr, grs) = _loss_pair(
        run(ft.binary_cross_entropy_with_logits), run(F.binary_cross_entropy_with_logits), [x, t], g
    )
    torch.testing.assert_close(y, yr, rtol=1e-12, atol=1e-13)
    for a, b in zip(gs, grs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
    assert torch.autograd.gradcheck(run(ft.binary_cross_entropy_with_logits), (x, t))
    m = ft.BCEWithLogitsLoss(w, reduction, pw)
    torch.testing.assert_close(m(x, t), yr)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    x = _sample((3, 4)).requires_grad_(True)
    t = _sample((3, 4), seed=12).requires_grad_(True)
    g = _sample((3, 4) if reduction == "none" else (), seed=13)
    (y, gs), (yr, grs) = _loss_pair(
        lambda a, b: ft.mse_loss(a, b, reduction=reduction),
        lambda a, b: F.mse_loss(a, b, reduction=reduction),
        [x, t],
        g,
    )
    torch.testing.assert_close(y, yr, rtol=1e-12, atol=1e-13)
    for a, b in zip(gs, grs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
    assert torch.autograd.gradcheck(lambda a, b: ft.mse_loss(a, b, reduction=reduction), (x, t))
    # only the target requires grad
    (_, (gt,)), (_, (gtr,)) = _loss_pair(
        lambda b: ft.mse_loss(x.detach(), b, reduction=reduction),
        lambda b: F.mse_loss(x.detach(), b, reduction=reduction),
        [t],
        g,
    )
    torch.testing.assert_close(gt, gtr, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(ft.MSELoss(reduction)(x, t), yr)


def test_loss_modules():
    x = _sample((6, 4))
    t = torch.randint(0, 4, (6,), generator=torch.Generator().manual_seed(4))
    w = torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=torch.float64)
    m = ft.CrossEntropyLoss(w, ignore_index=2, reduction="sum", label_smoothing=0.1)
    ref = torch.nn.CrossEntropyLoss(w, ignore_index=2, reduction="sum", label_smoothing=0.1)
    torch.testing.assert_close(m(x, t), ref(x, t))
    assert "weight" in dict(m.named_buffers())


# --------------------------------------------------------------------------- #
# fastact.cross_entropy_backward (NumPy API) against torch autograd           #
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("axis", [-1, 1])
@pytest.mark.parametrize("prob", [False, True])
def test_cross_entropy_backward_numpy(reduction, axis, prob):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 5, 3))
    C = x.shape[axis]
    if prob:
        tgt = rng.random(x.shape)
    else:
        tshape = tuple(s for i, s in enumerate(x.shape) if i != axis % 3)
        tgt = rng.integers(0, C, tshape)
        tgt.reshape(-1)[0] = 7  # ignore_index
    w = rng.random(C) + 0.5
    rshape = tuple(s for i, s in enumerate(x.shape) if i != axis % 3)
    gl = rng.standard_normal(rshape) if reduction == "none" else np.float64(-1.3)
    kw = {"label_smoothing": 0.15, "reduction": reduction}
    got = fastact.cross_entropy_backward(gl, x, tgt, axis=axis, weight=w, ignore_index=7, **kw)
    xt = torch.tensor(np.moveaxis(x, axis, 1), requires_grad=True)
    tt = torch.tensor(np.moveaxis(tgt, axis, 1) if prob else tgt)
    ii = {} if prob else {"ignore_index": 7}  # torch refuses ignore_index with probabilities
    loss = F.cross_entropy(xt, tt, torch.tensor(w), **ii, **kw)
    loss.backward(torch.tensor(gl))
    np.testing.assert_allclose(got, np.moveaxis(xt.grad.numpy(), 1, axis), rtol=1e-12, atol=1e-14)
    out = np.empty_like(x.astype(np.float32))
    r = fastact.cross_entropy_backward(
        gl, x.astype(np.float32), tgt, axis=axis, weight=w, ignore_index=7, out=out, **kw
    )
    assert r is out
    np.testing.assert_allclose(out, got, rtol=2e-5, atol=1e-6)


def test_cross_entropy_backward_checks_grad_loss_shape():
    x = np.zeros((3, 4))
    t = np.array([0, 1, 2])
    with pytest.raises(ValueError, match="grad_loss has shape"):
        fastact.cross_entropy_backward(np.ones(4), x, t, reduction="none")
    with pytest.raises(ValueError, match="scalar"):
        fastact.cross_entropy_backward(np.ones(3), x, t)


# --------------------------------------------------------------------------- #
# torch.library.opcheck and torch.compile                                     #
# --------------------------------------------------------------------------- #


def _op_cases():
    x = _sample((3, 4)).requires_grad_(True)
    x3 = _sample((2, 3, 4)).requires_grad_(True)
    t = torch.tensor([0, 3, 1])
    q = torch.softmax(_sample((3, 4), seed=1), -1)
    w4 = torch.linspace(0.5, 2, 4, dtype=torch.float64)
    E = ops.ELEMENTWISE
    return {
        "gelu": (E["gelu"][0], (x, "tanh")),
        "hardtanh": (E["hardtanh"][0], (x, -0.5, 0.5)),
        "relu": (E["relu"][0], (x,)),
        "gelu_backward": (E["gelu"][1], (x.detach(), x.detach(), "none")),
        "softmax": (ops.softmax, (x3, 1)),
        "log_softmax": (ops.log_softmax, (x3, 2)),
        "logsumexp": (ops.logsumexp, (x3, 1, False)),
        "prelu": (ops.prelu, (x3, torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64))),
        "rrelu_train": (ops.rrelu_train, (x, 0.1, 0.3, 5)),
        "maxout": (ops.maxout, (x3, 2, 2)),
        "cross_entropy": (ops.cross_entropy, (x, t, w4, -100, "mean", 0.1, 1, True)),
        "cross_entropy_none": (ops.cross_entropy, (x, t, None, -100, "none", 0.0, 1, False)),
        "cross_entropy_prob": (ops.cross_entropy, (x, q, None, -100, "sum", 0.0, 1, True)),
        "cross_entropy_backward": (
            ops.cross_entropy_backward,
            (torch.ones(3, dtype=torch.float64), x.detach(), t, None, -100, "none", 0.0, 1),
        ),
        "bce": (ops.binary_cross_entropy_with_logits, (x, q, None, w4, "none", True)),
        "mse": (ops.mse_loss, (x, q, "mean", False)),
        "scale": (ops.scale, (x.detach(), torch.tensor([[2.0], [1.0], [0.5]], dtype=x.dtype))),
    }


@pytest.mark.parametrize("case", list(_op_cases()))
def test_opcheck(case):
    op, args = _op_cases()[case]
    torch.library.opcheck(op, args)


def _every_op(x, x3, t, q):
    """A scalar that depends on every fastact.torch operation."""
    total = x.new_zeros(())
    for name, params in CASES:
        total = total + getattr(ft, name)(x, *params).sum()
    total = total + ft.softmax(x3, 1).pow(2).sum() + ft.log_softmax(x3, -1).sum()
    total = total + ft.logsumexp(x3, 1).sum()
    total = total + ft.prelu(x3, x3.new_full((3,), 0.2)).sum()
    total = total + ft.rrelu(x, training=True, seed=7).sum() + ft.rrelu(x).sum()
    total = total + ft.maxout(x3, 2).sum()
    total = total + ft.cross_entropy(x, t, label_smoothing=0.1)
    total = total + ft.cross_entropy(x3, x3.detach().softmax(1), reduction="none").sum()
    total = total + ft.binary_cross_entropy_with_logits(x, q, pos_weight=q[0] + 1)
    return total + ft.mse_loss(x, q, reduction="sum")


def test_compile_fullgraph_every_op():
    """torch.compile(fullgraph=True) traces forward and backward of every op (aot_eager:
    the AOT autograd joint graph over the fake implementations, without inductor's
    code generation); values and gradients equal eager mode."""
    x = _sample((3, 4)).requires_grad_(True)
    x3 = _sample((2, 3, 4), seed=1).requires_grad_(True)
    t = torch.tensor([0, 3, 1])
    q = torch.rand(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    compiled = torch.compile(_every_op, fullgraph=True, backend="aot_eager")
    y = compiled(x, x3, t, q)
    gx, gx3 = torch.autograd.grad(y, (x, x3))
    ye = _every_op(x, x3, t, q)
    gex, gex3 = torch.autograd.grad(ye, (x, x3))
    torch.testing.assert_close(y, ye)
    torch.testing.assert_close(gx, gex)
    torch.testing.assert_close(gx3, gex3)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("FASTACT_SLOW") != "1",
    reason="inductor's C++ build takes 25-70 s on a shared 2-core machine; FASTACT_SLOW=1 runs it",
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit use inside inductor
def test_compile_inductor_training_step():
    """A real inductor compile of a small model with fastact ops around a matmul."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 6)
    t = torch.randint(0, 6, (5,))

    def step(x):
        return ft.cross_entropy(lin(ft.gelu(x, "tanh")), t)

    x = torch.randn(5, 8)
    compiled = torch.compile(step, fullgraph=True)
    y = compiled(x)
    y.backward()
    g = lin.weight.grad.clone()
    lin.weight.grad = None
    ye = F.cross_entropy(lin(F.gelu(x, approximate="tanh")), t)
    ye.backward()
    torch.testing.assert_close(y, ye)
    torch.testing.assert_close(g, lin.weight.grad)


# --------------------------------------------------------------------------- #
# Errors, import isolation                                                    #
# --------------------------------------------------------------------------- #


def test_bad_inputs_raise_clear_errors():
    x = _sample((3, 4))
    with pytest.raises(TypeError, match="int64"):
        ft.relu(torch.ones(3, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        ft.relu(np.ones(3))
    with pytest.raises(ValueError, match="approximate"):
        ft.gelu(x, "fast")
    with pytest.raises(ValueError, match="reduction"):
        ft.cross_entropy(x, torch.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(IndexError, match="out of bounds"):
        ft.cross_entropy(x, torch.tensor([0, 9, 2]))
    with pytest.raises(IndexError, match="dim 5"):
        ft.softmax(x, 5)
    with pytest.raises(ValueError, match="divisible"):
        ft.maxout(x, 3)
    with pytest.raises(NotImplementedError, match="weight"):
        ft.cross_entropy(x, torch.tensor([0, 1, 2]), torch.ones(4, requires_grad=True))
    with pytest.raises(ValueError, match="lower"):
        ft.rrelu(x, 0.5, 0.1)


def test_import_fastact_does_not_import_torch():
    code = "import sys, fastact; fastact.relu([1.0]); assert 'torch' not in sys.modules"
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300)


# --------------------------------------------------------------------------- #
# CUDA tensors (real GPU only: the simulator cannot take torch tensors)       #
# --------------------------------------------------------------------------- #

needs_gpu = pytest.mark.skipif(
    not torch.cuda.is_available() or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1",
    reason="needs a CUDA GPU (set FASTACT_CUDA_HW=1; the simulator takes no torch tensors)",
)


@pytest.mark.cuda_hw
@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_cuda_tensors_match_cpu(dtype):
    x = _sample((64, 33), dtype=torch.float32).to(dtype)
    xc = x.cuda()
    t = torch.randint(0, 33, (64,))
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-2, "atol": 1e-2}

    def both(fn, *args):
        a = x.clone().requires_grad_(True)
        b = xc.clone().requires_grad_(True)
        ya, yb = fn(a, *args), fn(b, *args)
        assert yb.device.type == "cuda" and yb.dtype == ya.dtype
        ya.float().sum().backward()
        yb.float().sum().backward()
        torch.testing.assert_close(yb.cpu().float(), ya.float(), **tol)
        torch.testing.assert_close(b.grad.cpu().float(), a.grad.float(), **tol)

    for name, params in CASES:
        both(getattr(ft, name), *params)
    both(ft.softmax, -1)
    both(ft.log_softmax, 0)
    both(ft.logsumexp, 1)
    both(ft.maxout, 3)
    both(lambda a: ft.prelu(a, torch.full((33,), 0.2, device=a.device, dtype=a.dtype)))
    both(lambda a: ft.cross_entropy(a, t.to(a.device), label_smoothing=0.1))
    both(lambda a: ft.cross_entropy(a, t.to(a.device), reduction="none"))
    both(lambda a: ft.mse_loss(a, torch.zeros_like(a)))
    both(lambda a: ft.binary_cross_entropy_with_logits(a, torch.full_like(a, 0.3)))


@pytest.mark.cuda_hw
@needs_gpu
def test_cuda_gradcheck_and_compile():
    x = _sample((3, 4)).cuda().requires_grad_(True)
    t = torch.tensor([0, 3, 1], device="cuda")
    assert torch.autograd.gradcheck(lambda a: ft.gelu(a), (x,))
    assert torch.autograd.gradcheck(lambda a: ft.cross_entropy(a, t, reduction="none"), (x,))
    compiled = torch.compile(lambda a: ft.cross_entropy(ft.silu(a), t), fullgraph=True)
    y = compiled(x)
    torch.testing.assert_close(y, F.cross_entropy(F.silu(x), t))


def test_softmin_values_gradcheck_and_module():
    x = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    y = ft.softmin(x, dim=1)
    torch.testing.assert_close(y, torch.nn.functional.softmin(x, dim=1), rtol=1e-12, atol=1e-15)
    g = torch.randn(4, 7, dtype=torch.float64)
    (gx,) = torch.autograd.grad(y, x, g)
    xr = x.detach().clone().requires_grad_(True)
    (gr,) = torch.autograd.grad(torch.nn.functional.softmin(xr, dim=1), xr, g)
    torch.testing.assert_close(gx, gr, rtol=1e-12, atol=1e-15)
    assert torch.autograd.gradcheck(lambda t: ft.softmin(t, dim=0), (x,))
    torch.testing.assert_close(ft.Softmin(dim=1)(x), y)
