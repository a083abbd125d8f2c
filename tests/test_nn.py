"""fastact.nn: every module's backward against PyTorch autograd (same weights) and
against float64 central differences; BatchNorm in both modes; SGD against
torch.optim.SGD; initialization statistics; diagnostics on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastact.nn as nn
from fastact import table

torch = pytest.importorskip("torch")
F = torch.nn.functional
RNG = np.random.default_rng(1234)


def T(a, grad=False):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def fd_input_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at x (float64)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f(x)
        x[i] = old - eps
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def close(a, b, rtol=1e-9, atol=1e-11):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol, atol)


# --------------------------------------------------------------------------- Linear


@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 7)])
def test_linear_matches_torch(shape):
    lin = nn.Linear(7, 4, dtype=np.float64, rng=0)
    x = RNG.normal(size=shape)
    g = RNG.normal(size=shape[:-1] + (4,))
    y = lin(x)
    dx = lin.backward(g)
    xt, wt, bt = T(x, True), T(lin.weight.data, True), T(lin.bias.data, True)
    yt = F.linear(xt, wt, bt)
    yt.backward(T(g))
    close(y, yt.detach())
    close(dx, xt.grad)
    close(lin.weight.grad, wt.grad)
    close(lin.bias.grad, bt.grad)


def test_linear_default_init_bound_and_errors():
    lin = nn.Linear(400, 300, rng=0)
    b = 1 / math.sqrt(400)
    assert np.abs(lin.weight.data).max() <= b
    assert np.abs(lin.weight.data).max() > 0.95 * b
    assert lin.weight.data.dtype == np.float32
    with pytest.raises(ValueError, match="400 input features"):
        lin(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="floating"):
        lin(np.zeros((2, 400), np.int64))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Linear(2, 2).backward(np.zeros((1, 2)))


# --------------------------------------------------------------------------- activations

ACT_CASES = [
    (e.name, tuple(p.default for p in e.params))
    for e in table.ENTRIES
] + [("leaky_relu", (0.2,)), ("elu", (0.5,)), ("gelu", ("tanh",))]  # fmt: skip


@pytest.mark.parametrize("name,params", ACT_CASES, ids=[f"{n}{p}" for n, p in ACT_CASES])
def test_activation_network_matches_torch(name, params):
    """Linear -> activation -> Linear -> cross-entropy: all gradients equal PyTorch's."""
    entry = table.BY_NAME[name]
    l1 = nn.Linear(6, 9, dtype=np.float64, rng=1)
    l2 = nn.Linear(9, 4, dtype=np.float64, rng=2)
    act = nn.ACTIVATION_CLASSES[name](*params)
    net = nn.Sequential(l1, act, l2)
    x = RNG.normal(0, 2, size=(8, 6))
    t = RNG.integers(0, 4, size=8)
    loss_fn = nn.SoftmaxCrossEntropy()
    loss = loss_fn(net(x), t)
    dx = net.backward(loss_fn.backward())

    xt = T(x, True)
    w1, b1, w2, b2 = (T(p.data, True) for p in net.parameters())
    zt = entry.torch(F, F.linear(xt, w1, b1), *params)
    lt = F.cross_entropy(F.linear(zt, w2, b2), torch.tensor(t))
    lt.backward()
    # PyTorch's float64 hardsigmoid backward multiplies by the float32 constant 1.0f/6.0f
    # (its derivative is 1/6 + 5e-9)
    rtol = 1e-7 if name == "hardsigmoid" else 1e-9
    close(loss, lt.item(), rtol)
    close(dx, xt.grad, rtol)
    for p, tp in zip(net.parameters(), (w1, b1, w2, b2), strict=True):
        close(p.grad, tp.grad, rtol)


def test_activation_keywords_and_errors():
    assert nn.ELU(alpha=0.5).params == (0.5,)
    assert nn.Softplus(threshold=10.0).params == (1.0, 10.0)
    assert nn.GELU(approximate="tanh").params == ("tanh",)
    with pytest.raises(TypeError, match="unexpected keyword"):
        nn.ELU(beta=1.0)
    with pytest.raises(ValueError, match="unknown activation"):
        nn.Activation("nope")
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(0.2)"


# --------------------------------------------------------------------------- PReLU, Maxout


@pytest.mark.parametrize("num", [1, 5])
def test_prelu_module_matches_torch(num):
    m = nn.PReLU(num, init=0.3, dtype=np.float64)
    m.weight.data[:] = np.linspace(0.1, 0.5, num)
    x = RNG.normal(size=(7, 5))
    g = RNG.normal(size=(7, 5))
    y = m(x)
    dx = m.backward(g)
    xt, wt = T(x, True), T(m.weight.data, True)
    yt = F.prelu(xt, wt)
    yt.backward(T(g))
    close(y, yt.detach())
    close(dx, xt.grad)
    close(m.weight.grad, wt.grad)


def test_maxout_module_matches_torch_and_fd():
    m = nn.Maxout(4, 3, pieces=3, dtype=np.float64, rng=3)
    x = RNG.normal(size=(6, 4))
    g = RNG.normal(size=(6, 3))
    y = m(x)
    dx = m.backward(g)
    xt = T(x, True)
    wt, bt = T(m.linear.weight.data, True), T(m.linear.bias.data, True)
    yt = F.linear(xt, wt, bt).reshape(6, 3, 3).amax(-1)
    yt.backward(T(g))
    close(y, yt.detach())
    close(dx, xt.grad)
    close(m.linear.weight.grad, wt.grad)
    fd = fd_input_grad(lambda v: float((m.forward(v) * g).sum()), x.copy())
    close(dx, fd, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- Dropout


def test_dropout_train_eval():
    d = nn.Dropout(0.3, rng=0)
    x = RNG.normal(size=(200, 50))
    y = d(x)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    close(y[kept], x[kept] / 0.7)
    g = RNG.normal(size=x.shape)
    close(d.backward(g), np.where(kept, g / 0.7, 0.0))
    d.eval()
    assert d(x) is not None and np.array_equal(d(x), x)
    close(d.backward(g), g)
    d1 = nn.Dropout(1.0)
    assert not d1(x).any()
    with pytest.raises(ValueError, match="dropout probability"):
        nn.Dropout(1.5)


# --------------------------------------------------------------------------- BatchNorm


@pytest.mark.parametrize("shape", [(16, 5), (8, 5, 3)])
def test_batchnorm_train_and_eval_match_torch(shape):
    bn = nn.BatchNorm1d(5, momentum=0.2, dtype=np.float64)
    bn.weight.data[:] = RNG.normal(size=5)
    bn.bias.data[:] = RNG.normal(size=5)
    tbn = torch.nn.BatchNorm1d(5, momentum=0.2, dtype=torch.float64)
    with torch.no_grad():
        tbn.weight.copy_(T(bn.weight.data))
        tbn.bias.copy_(T(bn.bias.data))
    for step in range(3):
        x = RNG.normal(1.5, 3.0, size=shape)
        g = RNG.normal(size=shape)
        y = bn(x)
        dx = bn.backward(g)
        xt = T(x, True)
        yt = tbn(xt)
        yt.backward(T(g))
        close(y, yt.detach())
        close(dx, xt.grad)
        close(bn.weight.grad, tbn.weight.grad)
        close(bn.bias.grad, tbn.bias.grad)
        bn.zero_grad()
        tbn.zero_grad()
        close(bn.running_mean, tbn.running_mean)
        close(bn.running_var, tbn.running_var)
        assert step + 1 == bn.num_batches_tracked
    bn.eval()
    tbn.eval()
    x = RNG.normal(size=shape)
    g = RNG.normal(size=shape)
    y = bn(x)
    dx = bn.backward(g)
    xt = T(x, True)
    yt = tbn(xt)
    yt.backward(T(g))
    close(y, yt.detach())
    close(dx, xt.grad)
    close(bn.weight.grad, tbn.weight.grad)


def test_batchnorm_backward_finite_differences():
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    x = RNG.normal(size=(6, 3))
    g = RNG.normal(size=(6, 3))
    bn(x)
    dx = bn.backward(g)
    fd = fd_input_grad(lambda v: float((bn.forward(v) * g).sum()), x.copy())
    close(dx, fd, rtol=1e-6, atol=1e-8)


def test_batchnorm_errors():
    bn = nn.BatchNorm1d(4)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        bn(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="more than 1 value"):
        bn(np.zeros((1, 4), np.float32))


# --------------------------------------------------------------------------- losses


def test_softmax_cross_entropy_and_mse_match_torch():
    x = RNG.normal(size=(9, 5))
    t = RNG.integers(0, 5, 9)
    ce = nn.SoftmaxCrossEntropy(label_smoothing=0.1)
    loss = ce(x, t)
    xt = T(x, True)
    lt = F.cross_entropy(xt, torch.tensor(t), label_smoothing=0.1)
    lt.backward()
    close(loss, lt.item())
    close(ce.backward(), xt.grad)
    close(ce.backward(2.0), 2 * xt.grad.numpy())

    y = RNG.normal(size=(9, 5))
    mse = nn.MSELoss(reduction="sum")
    loss = mse(x, y)
    xt = T(x, True)
    lt = F.mse_loss(xt, T(y), reduction="sum")
    lt.backward()
    close(loss, lt.item())
    close(mse.backward(), xt.grad)
    with pytest.raises(RuntimeError, match="before forward"):
        nn.MSELoss().backward()
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss("none")


# --------------------------------------------------------------------------- SGD


@pytest.mark.parametrize(
    "kw",
    [
        {"momentum": 0.0},
        {"momentum": 0.9},
        {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
        {"momentum": 0.5, "dampening": 0.1},
    ],
)
def test_sgd_matches_torch(kw):
    net = nn.Sequential(nn.Linear(4, 6, dtype=np.float64, rng=5), nn.Tanh(),
                        nn.Linear(6, 3, dtype=np.float64, rng=6))  # fmt: skip
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    tnet = tnet.double()
    with torch.no_grad():
        for p, tp in zip(net.parameters(), tnet.parameters(), strict=True):
            tp.copy_(T(p.data))
    opt = nn.SGD(net.parameters(), lr=0.1, **kw)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.1, **kw)
    loss_fn = nn.SoftmaxCrossEntropy()
    for _ in range(4):
        x = RNG.normal(size=(10, 4))
        t = RNG.integers(0, 3, 10)
        opt.zero_grad()
        loss_fn(net(x), t)
        net.backward(loss_fn.backward())
        opt.step()
        topt.zero_grad()
        F.cross_entropy(tnet(T(x)), torch.tensor(t)).backward()
        topt.step()
    for p, tp in zip(net.parameters(), tnet.parameters(), strict=True):
        close(p.data, tp.detach())


def test_sgd_errors():
    p = [nn.Parameter(np.zeros(3))]
    with pytest.raises(ValueError, match="learning rate"):
        nn.SGD(p, lr=0)
    with pytest.raises(ValueError, match="Nesterov"):
        nn.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty"):
        nn.SGD([], lr=0.1)


# --------------------------------------------------------------------------- init


@pytest.mark.parametrize("name", ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"])
def test_calculate_gain_matches_torch(name):
    assert nn.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name), 1e-12)
    assert nn.calculate_gain("leaky_relu", 0.2) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", 0.2), 1e-12
    )


def test_second_moment_gain_matches_monte_carlo():
    # the extension: for activations PyTorch has no gain for, 1/sqrt(E f(z)^2)
    z = np.random.default_rng(0).standard_normal(2_000_000)
    for name in ("gelu", "elu", "silu", "mish"):
        f = table.BY_NAME[name].ref(z, *table.BY_NAME[name].encode(()))
        assert nn.calculate_gain(name) == pytest.approx(1 / np.sqrt(np.mean(f * f)), rel=3e-3)
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        nn.calculate_gain("nope")


def test_init_schemes_have_the_stated_std():
    w = np.empty((400, 600))
    nn.xavier_(w, gain=2.0, dist="normal", rng=0)
    assert w.std() == pytest.approx(2.0 * math.sqrt(2 / 1000), rel=0.02)
    nn.xavier_(w, dist="uniform", rng=0)
    assert np.abs(w).max() <= math.sqrt(6 / 1000)
    assert w.std() == pytest.approx(math.sqrt(2 / 1000), rel=0.02)
    nn.kaiming_(w, rng=0)
    assert w.std() == pytest.approx(math.sqrt(2 / 600), rel=0.02)
    nn.kaiming_(w, mode="fan_out", dist="uniform", rng=0)
    assert w.std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    nn.constant_(w, 0.0)
    assert not w.any()
    net = nn.Sequential(nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 10))
    nn.init_network(net, "normal", std=0.5, rng=1)
    assert net[0].weight.data.std() == pytest.approx(0.5, rel=0.1)
    assert not net[0].bias.data.any()
    with pytest.raises(ValueError, match="unknown scheme"):
        nn.init_network(net, "magic")


# --------------------------------------------------------------------------- diagnostics


def test_activation_stats_dead_and_saturated():
    lin = nn.Linear(2, 4, dtype=np.float64)
    lin.weight.data[:] = [[1, 0], [-1, 0], [0, 0], [0, 50]]
    lin.bias.data[:] = [0, -10, -1, 0]
    net = nn.Sequential(lin, nn.ReLU())
    x = RNG.uniform(-1, 1, size=(100, 2))
    (s,) = nn.activation_stats(net, x, batch_size=7)
    # unit 0 alive, unit 1 and 2 never positive (dead), unit 3 alive
    assert s["dead_fraction"] == 0.5
    assert s["saturated_fraction"] is None
    y = net(x)
    assert s["mean"] == pytest.approx(y.mean())
    assert s["std"] == pytest.approx(y.std())
    net2 = nn.Sequential(lin, nn.Tanh())
    (s2,) = nn.activation_stats(net2, x)
    sat = (np.abs(np.tanh(x @ lin.weight.data.T + lin.bias.data)) > 0.99).mean()
    assert s2["saturated_fraction"] == pytest.approx(sat) and sat > 0.3
    assert s2["dead_fraction"] is None


def test_gradient_norms_match_torch():
    """Per-layer weight-gradient norms against PyTorch autograd on the same net."""
    net = nn.Sequential(nn.Linear(3, 4, dtype=np.float64, rng=0), nn.Sigmoid(),
                        nn.Linear(4, 2, dtype=np.float64, rng=1))  # fmt: skip
    x = RNG.normal(size=(5, 3))
    t = np.array([0, 1, 0, 1, 1])
    ce = nn.SoftmaxCrossEntropy()
    ce(net(x), t)
    net.backward(ce.backward())
    norms = nn.gradient_norms(net)
    w1, b1, w2, b2 = (T(p.data, True) for p in net.parameters())
    F.cross_entropy(F.linear(torch.sigmoid(F.linear(T(x), w1, b1)), w2, b2),
                    torch.tensor(t)).backward()  # fmt: skip
    assert norms == pytest.approx([w1.grad.norm().item(), w2.grad.norm().item()], rel=1e-10)


# --------------------------------------------------------------------------- MDN


def _torch_mdn_nll(z, y, m, d, smin):
    a, u, s = z[:, :m], z[:, m : m + m * d].reshape(-1, m, d), z[:, m + m * d :].reshape(-1, m, d)
    sig = F.softplus(s) + smin
    comp = torch.distributions.Normal(u, sig).log_prob(y[:, None, :]).sum(-1)
    return -torch.logsumexp(F.log_softmax(a, 1) + comp, 1).mean()


@pytest.mark.parametrize("m,d", [(1, 1), (3, 1), (4, 2)])
def test_mdn_nll_and_gradient_match_torch(m, d):
    head = nn.MixtureDensity(m, d, sigma_min=1e-3)
    z = RNG.normal(size=(11, head.outputs))
    y = RNG.normal(size=(11, d))
    loss = head(z, y)
    gz = head.backward()
    zt = T(z, True)
    lt = _torch_mdn_nll(zt, T(y), m, d, 1e-3)
    lt.backward()
    close(loss, lt.item())
    close(gz, zt.grad)
    fd = fd_input_grad(lambda v: head.forward(v, y), z.copy())
    close(gz, fd, rtol=1e-5, atol=1e-8)


def test_mdn_params_and_sampling():
    head = nn.MixtureDensity(2, 1)
    z = np.zeros((20000, head.outputs))
    z[:, 0] = math.log(3.0)  # pi = (0.75, 0.25)
    z[:, 2:4] = [-5.0, 5.0]  # means
    z[:, 4:6] = math.log(math.e - 1)  # softplus -> sigma = 1 (+ sigma_min)
    pi, mu, sigma = head.params(z)
    close(pi[0], [0.75, 0.25])
    close(mu[0, :, 0], [-5.0, 5.0])
    close(sigma[0, :, 0], [1.001, 1.001])
    ys = head.sample(z, rng=0)[:, 0]
    assert (ys < 0).mean() == pytest.approx(0.75, abs=0.015)
    assert ys[ys < 0].mean() == pytest.approx(-5.0, abs=0.05)
    with pytest.raises(ValueError, match="outputs"):
        head(np.zeros((3, 5)), np.zeros(3))


def test_clip_grad_norm_matches_torch():
    ps = [nn.Parameter(RNG.normal(size=(3, 4))), nn.Parameter(RNG.normal(size=5))]
    tps = [T(p.data, True) for p in ps]
    for p, tp in zip(ps, tps, strict=True):
        p.grad[...] = RNG.normal(size=p.data.shape) * 3
        tp.grad = T(p.grad)
    total = nn.clip_grad_norm(ps, 1.5)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, 1.5)
    assert total == pytest.approx(ttotal.item(), 1e-12)
    for p, tp in zip(ps, tps, strict=True):
        close(p.grad, tp.grad, 1e-7)
    with pytest.raises(ValueError, match="max_norm"):
        nn.clip_grad_norm(ps, 0)
