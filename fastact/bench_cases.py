"""The benchmark cases: one :class:`Case` per public operation.

A case makes the data (``setup``) and says how fastact (``run``), PyTorch
(``torch``, ATen's kernel with a preallocated output where one exists) and NumPy
(``numpy``, as users write it) compute the operation on it, and which plain
stream over the same bytes it is compared with. The elementwise cases are
generated from the activation table, so a new activation is benchmarked without
touching this file. ``fastact bench``, the asv suite in ``bench/`` and
``tests/test_benchmarks.py`` all read :func:`cases`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import fastact
from fastact import table

#: the figure groups (``--plot`` writes one figure per group)
GROUPS = ("activations", "backward", "rowwise", "losses")


@dataclass
class Case:
    """One benchmarked operation: data factory and the callables to time."""

    name: str
    #: "copy" (1 array in, 1 out) or "add" (2 in, 1 out): the stream it is compared with
    stream: str
    setup: Callable[[int, np.dtype, int], dict[str, Any]]
    run: Callable[[dict[str, Any], str], Any]
    numpy: Callable[[dict[str, Any]], Any] | None = None
    torch: Callable[[dict[str, Any]], Any] | None = None
    #: one of :data:`GROUPS`
    group: str = "activations"
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: the arguments of the public call ``run`` makes, less ``out``/``grad_out``/
    #: ``backend``: ``(args, kwargs)`` for the registry's float64 reference of the
    #: operation (``tests/test_benchmarks.py`` checks ``run`` against it)
    args: Callable[[dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]]] | None = None
    #: bytes read and written by one call when they differ from the stream's
    #: (``2 * x.nbytes`` for "copy", ``3 * x.nbytes`` for "add")
    traffic: Callable[[dict[str, Any]], int] | None = None


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is in the bench extra
        return None
    return torch


def _to_torch(d: dict[str, Any], names: tuple[str, ...]) -> None:
    torch = _torch()
    if torch is None:
        return
    for n in names:
        a = d[n]
        # float16 tensors on the CPU: torch computes many ops natively in half
        d["t_" + n] = torch.from_numpy(a)


_A = None


def _aten():
    global _A
    if _A is None:
        torch = _torch()
        _A = torch.ops.aten if torch is not None else False
    return _A


def _torch_fwd(e: table.Elementwise, a: float, b: float) -> Callable[[dict], Any] | None:
    """PyTorch forward with a preallocated output where ATen has an ``out`` overload."""
    A = _aten()
    if not A:
        return None
    F = _torch().nn.functional
    p = [v for v in (a, b)][: len(e.params)]
    direct: dict[str, Callable[[dict], Any]] = {
        "identity": lambda d: d["t_out"].copy_(d["t_x"]),
        "sigmoid": lambda d: A.sigmoid.out(d["t_x"], out=d["t_out"]),
        "tanh": lambda d: A.tanh.out(d["t_x"], out=d["t_out"]),
        "hardtanh": lambda d: A.hardtanh.out(d["t_x"], a, b, out=d["t_out"]),
        "relu6": lambda d: A.hardtanh.out(d["t_x"], 0.0, 6.0, out=d["t_out"]),
        "relu": lambda d: A.clamp_min.out(d["t_x"], 0.0, out=d["t_out"]),
        "leaky_relu": lambda d: A.leaky_relu.out(d["t_x"], a, out=d["t_out"]),
        "elu": lambda d: A.elu.out(d["t_x"], a, 1.0, 1.0, out=d["t_out"]),
        "selu": lambda d: A.elu.out(
            d["t_x"], table.SELU_ALPHA, table.SELU_SCALE, 1.0, out=d["t_out"]
        ),
        "celu": lambda d: A.elu.out(d["t_x"], a, 1.0, 1.0 / a, out=d["t_out"]),
        "softplus": lambda d: A.softplus.out(d["t_x"], a, b, out=d["t_out"]),
        "silu": lambda d: A.silu.out(d["t_x"], out=d["t_out"]),
        "gelu": lambda d: A.gelu.out(d["t_x"], approximate="tanh" if a else "none", out=d["t_out"]),
        "mish": lambda d: A.mish.out(d["t_x"], out=d["t_out"]),
        "hardsigmoid": lambda d: A.hardsigmoid.out(d["t_x"], out=d["t_out"]),
        "hardswish": lambda d: A.hardswish.out(d["t_x"], out=d["t_out"]),
    }
    if e.name in direct:
        return direct[e.name]
    user = [e.params[i].default if e.params[i].choices else p[i] for i in range(len(p))]
    return lambda d: e.torch(F, d["t_x"], *user)


def _torch_bwd(e: table.Elementwise, a: float, b: float) -> Callable[[dict], Any] | None:
    """PyTorch's ATen backward kernel (``grad_input=`` preallocated where it exists)."""
    A = _aten()
    if not A:
        return None
    g = "t_g"
    direct: dict[str, Callable[[dict], Any]] = {
        "sigmoid": lambda d: A.sigmoid_backward.grad_input(d[g], d["t_y"], grad_input=d["t_out"]),
        "tanh": lambda d: A.tanh_backward.grad_input(d[g], d["t_y"], grad_input=d["t_out"]),
        "relu": lambda d: A.threshold_backward.grad_input(
            d[g], d["t_x"], 0.0, grad_input=d["t_out"]
        ),
        "hardtanh": lambda d: A.hardtanh_backward.grad_input(
            d[g], d["t_x"], a, b, grad_input=d["t_out"]
        ),
        "leaky_relu": lambda d: A.leaky_relu_backward.grad_input(
            d[g], d["t_x"], a, False, grad_input=d["t_out"]
        ),
        "elu": lambda d: A.elu_backward.grad_input(
            d[g], a, 1.0, 1.0, False, d["t_x"], grad_input=d["t_out"]
        ),
        "softplus": lambda d: A.softplus_backward.grad_input(
            d[g], d["t_x"], a, b, grad_input=d["t_out"]
        ),
        "silu": lambda d: A.silu_backward.grad_input(d[g], d["t_x"], grad_input=d["t_out"]),
        "gelu": lambda d: A.gelu_backward.grad_input(
            d[g], d["t_x"], approximate="tanh" if a else "none", grad_input=d["t_out"]
        ),
        "mish": lambda d: A.mish_backward(d[g], d["t_x"]),
        "hardsigmoid": lambda d: A.hardsigmoid_backward.grad_input(
            d[g], d["t_x"], grad_input=d["t_out"]
        ),
        "hardswish": lambda d: A.hardswish_backward.out(d[g], d["t_x"], out=d["t_out"]),
    }
    if e.name in direct:
        return direct[e.name]
    torch = _torch()
    F = torch.nn.functional
    user = [p.default for p in e.params]

    def autograd(d: dict) -> Any:  # no ATen backward: autograd, forward included
        t = d["t_x"].detach().requires_grad_(True)
        return torch.autograd.grad(e.torch(F, t, *user), t, d[g])

    return autograd


def _from_output_case(e: table.Elementwise, a: float, b: float, setup: Any) -> Case:
    """``NAME_backward_from_output(g, y)``: the same ATen kernel as PyTorch's autograd
    (which saves the output), the like-for-like contender."""
    fo = e.from_output
    assert fo is not None
    name = e.name + "_backward_from_output"

    def run(d, backend):
        f = getattr(fastact, name)
        return f(d["g"], d["y"], *d["params"], out=d["out"], backend=backend)

    def np_run(d):
        with np.errstate(all="ignore"):
            return d["g"] * fo.ref_deriv(d["y"], a, b)

    return Case(name, "add", setup, run, np_run, _torch_bwd(e, a, b), group="backward",
                args=lambda d: ((d["g"], d["y"], *d["params"]), {}))  # fmt: skip


def _elementwise_cases() -> list[Case]:
    cases = []
    for e in table.ENTRIES:
        a, b = e.encode(())
        params = tuple(p.default for p in e.params)

        def setup(n, dtype, seed, e=e, a=a, b=b, params=params):
            rng = _rng(seed)
            x = (rng.normal(0.0, 3.0, n)).astype(dtype)
            d = {"x": x, "out": np.empty_like(x), "params": params}
            d["y"] = getattr(fastact, e.name)(x, *params)
            d["g"] = rng.normal(0.0, 1.0, n).astype(dtype)
            _to_torch(d, ("x", "out", "y", "g"))
            return d

        def run_fwd(d, backend, e=e):
            return getattr(fastact, e.name)(d["x"], *d["params"], out=d["out"], backend=backend)

        def run_bwd(d, backend, e=e):
            f = getattr(fastact, e.name + "_backward")
            return f(d["g"], d["x"], *d["params"], out=d["out"], backend=backend)

        def np_fwd(d, e=e, a=a, b=b):
            with np.errstate(all="ignore"):
                return e.ref(d["x"], a, b)

        def np_bwd(d, e=e, a=a, b=b):
            with np.errstate(all="ignore"):
                return d["g"] * e.ref_deriv(d["x"], a, b)

        cases.append(Case(e.name, "copy", setup, run_fwd, np_fwd, _torch_fwd(e, a, b),
                          args=lambda d: ((d["x"], *d["params"]), {})))
        if e.from_output is not None:
            cases.append(_from_output_case(e, a, b, setup))
        cases.append(
            Case(
                e.name + "_backward", "add", setup, run_bwd, np_bwd, _torch_bwd(e, a, b),
                group="backward", args=lambda d: ((d["g"], d["x"], *d["params"]), {}),
            )
        )  # fmt: skip
    return cases


def _rows_shape(n: int, classes: int) -> tuple[int, int]:
    C = min(classes, n)
    return max(1, n // C), C


CLASSES = 4096


def _row_setup(n: int, dtype: np.dtype, seed: int) -> dict[str, Any]:
    M, C = _rows_shape(n, CLASSES)
    rng = _rng(seed)
    x = rng.normal(0.0, 3.0, (M, C)).astype(dtype)
    d = {"x": x, "out": np.empty_like(x), "g": rng.normal(size=(M, C)).astype(dtype)}
    d["y"] = fastact.softmax(x)
    d["ly"] = fastact.log_softmax(x)
    d["lse"] = np.empty(M, dtype)
    d["t"] = rng.integers(0, C, M)
    d["gl"] = rng.uniform(0.5, 1.5, M).astype(dtype)  # per-row upstream gradient
    _to_torch(d, ("x", "out", "g", "y", "ly", "lse", "t", "gl"))
    return d


def _np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_log_softmax(x):
    s = x - x.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def _np_ce(x, t):
    lp = _np_log_softmax(x)
    loss = -lp[np.arange(len(t)), t].mean()
    g = np.exp(lp)
    g[np.arange(len(t)), t] -= 1
    return loss, g / len(t)


def _row_cases() -> list[Case]:
    A = _aten()
    torch = _torch()
    tf = torch is not None

    def ce_torch(d):
        t = d["t_x"].detach().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(t, d["t_t"])
        return torch.autograd.grad(loss, t)

    def ce_none_torch(d):
        t = d["t_x"].detach().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(t, d["t_t"], reduction="none")
        return torch.autograd.grad(loss, t, grad_outputs=d["t_gl"])

    return [
        Case(
            "softmax", "copy", _row_setup,
            lambda d, be: fastact.softmax(d["x"], out=d["out"], backend=be),
            lambda d: _np_softmax(d["x"]),
            (lambda d: A._softmax.out(d["t_x"], -1, False, out=d["t_out"])) if tf else None,
            group="rowwise",
            args=lambda d: ((d["x"],), {}),
        ),
        Case(
            "log_softmax", "copy", _row_setup,
            lambda d, be: fastact.log_softmax(d["x"], out=d["out"], backend=be),
            lambda d: _np_log_softmax(d["x"]),
            (lambda d: A._log_softmax.out(d["t_x"], -1, False, out=d["t_out"])) if tf else None,
            group="rowwise",
            args=lambda d: ((d["x"],), {}),
        ),
        Case(
            "logsumexp", "copy", _row_setup,
            lambda d, be: fastact.logsumexp(d["x"], out=d["lse"], backend=be),
            lambda d: np.log(np.exp(d["x"] - (m := d["x"].max(-1, keepdims=True))).sum(-1))
            + m[:, 0],
            (lambda d: A.logsumexp.out(d["t_x"], [-1], False, out=d["t_lse"])) if tf else None,
            group="rowwise",
            args=lambda d: ((d["x"],), {}),
        ),
        Case(
            "softmax_backward", "add", _row_setup,
            lambda d, be: fastact.softmax_backward(d["g"], d["y"], out=d["out"], backend=be),
            lambda d: d["y"] * (d["g"] - (d["g"] * d["y"]).sum(-1, keepdims=True)),
            (lambda d: A._softmax_backward_data.out(
                d["t_g"], d["t_y"], -1, d["t_y"].dtype, grad_input=d["t_out"])) if tf else None,
            group="rowwise",
            args=lambda d: ((d["g"], d["y"]), {}),
        ),
        Case(
            "log_softmax_backward", "add", _row_setup,
            lambda d, be: fastact.log_softmax_backward(d["g"], d["ly"], out=d["out"], backend=be),
            lambda d: d["g"] - np.exp(d["ly"]) * d["g"].sum(-1, keepdims=True),
            (lambda d: A._log_softmax_backward_data.out(
                d["t_g"], d["t_ly"], -1, d["t_ly"].dtype, out=d["t_out"])) if tf else None,
            group="rowwise",
            args=lambda d: ((d["g"], d["ly"]), {}),
        ),
        Case(
            "cross_entropy", "copy", _row_setup,
            lambda d, be: fastact.cross_entropy(
                d["x"], d["t"], return_grad=True, grad_out=d["out"], backend=be),
            lambda d: _np_ce(d["x"], d["t"]),
            ce_torch if tf else None,
            group="losses",
            args=lambda d: ((d["x"], d["t"]), {"return_grad": True}),
        ),
        Case(
            # the upstream-gradient form (reduction="none", one weight per row)
            "cross_entropy_backward", "copy", _row_setup,
            lambda d, be: fastact.cross_entropy_backward(
                d["gl"], d["x"], d["t"], reduction="none", out=d["out"], backend=be),
            lambda d: _np_ce(d["x"], d["t"])[1] * len(d["t"]) * d["gl"][:, None],
            ce_none_torch if tf else None,
            group="losses",
            args=lambda d: ((d["gl"], d["x"], d["t"]), {"reduction": "none"}),
        ),
    ]  # fmt: skip


def _softmin_cases() -> list[Case]:
    """softmin(x) = softmax(-x) and its backward, where this fastact has them."""
    if not hasattr(fastact, "softmin"):
        return []
    fa: Any = fastact  # softmin is newer than this module's type check
    torch = _torch()
    A = _aten()
    tf = torch is not None

    def setup(n: int, dtype: np.dtype, seed: int) -> dict[str, Any]:
        d = _row_setup(n, dtype, seed)
        d["sy"] = fa.softmin(d["x"])
        _to_torch(d, ("sy",))
        return d

    def torch_bwd(d):  # softmin = softmax(-x): d/dx is minus softmax's backward
        A._softmax_backward_data.out(
            d["t_g"], d["t_sy"], -1, d["t_sy"].dtype, grad_input=d["t_out"]
        )
        return d["t_out"].neg_()

    return [
        Case(
            "softmin", "copy", setup,
            lambda d, be: fa.softmin(d["x"], out=d["out"], backend=be),
            lambda d: _np_softmax(-d["x"]),
            (lambda d: torch.nn.functional.softmin(d["t_x"], -1)) if tf else None,
            group="rowwise",
            args=lambda d: ((d["x"],), {}),
        ),
        Case(
            "softmin_backward", "add", setup,
            lambda d, be: fa.softmin_backward(d["g"], d["sy"], out=d["out"], backend=be),
            lambda d: -d["sy"] * (d["g"] - (d["g"] * d["sy"]).sum(-1, keepdims=True)),
            torch_bwd if tf else None,
            group="rowwise",
            args=lambda d: ((d["g"], d["sy"]), {}),
        ),
    ]  # fmt: skip


#: PReLU channels (rows of the (M, C) input) and maxout pieces
PRELU_CHANNELS = 64
MAXOUT_PIECES = 4
RRELU_LOWER, RRELU_UPPER = 1.0 / 8.0, 1.0 / 3.0


def _special_setup(n: int, dtype: np.dtype, seed: int) -> dict[str, Any]:
    """x of shape (n // C, C) with C = 64 PReLU channels along axis 1 (also maxout's
    groups of 4 along the last axis), its gradients and rrelu's training slopes."""
    C = PRELU_CHANNELS
    M = max(1, n // C)
    rng = _rng(seed)
    x = rng.normal(0.0, 3.0, (M, C)).astype(dtype)
    d: dict[str, Any] = {"x": x, "out": np.empty_like(x)}
    d["g"] = rng.normal(size=(M, C)).astype(dtype)
    d["w"] = rng.uniform(0.05, 0.5, C).astype(dtype)
    d["mo"] = np.empty((M, C // MAXOUT_PIECES), dtype)
    d["mg"] = rng.normal(size=(M, C // MAXOUT_PIECES)).astype(dtype)
    _, d["slopes"] = fastact.rrelu(x, RRELU_LOWER, RRELU_UPPER, training=True, seed=seed)
    d["noise"] = np.empty_like(x)
    _to_torch(d, ("x", "out", "g", "w", "mo", "mg", "slopes", "noise"))
    return d


def _maxout_traffic(d: dict[str, Any]) -> int:
    return d["x"].nbytes + d["mo"].nbytes


def _maxout_bwd_traffic(d: dict[str, Any]) -> int:
    return 2 * d["x"].nbytes + d["mg"].nbytes


def _np_maxout_backward(d: dict[str, Any]) -> np.ndarray:
    x, k = d["x"], MAXOUT_PIECES
    M, C = x.shape
    xg = x.reshape(M, C // k, k)
    gx = np.zeros_like(xg)
    np.put_along_axis(gx, xg.argmax(-1)[..., None], d["mg"][..., None], axis=-1)
    return gx.reshape(M, C)


def _np_rrelu_train(d: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    x = d["x"]
    s = np.random.default_rng(0).uniform(RRELU_LOWER, RRELU_UPPER, x.shape).astype(x.dtype)
    s[x >= 0] = 1
    return x * s, s


def _special_cases() -> list[Case]:
    """prelu, rrelu (training) and maxout, forward and backward."""
    torch = _torch()
    A = _aten()
    tf = torch is not None
    k = MAXOUT_PIECES

    def t_prelu_bwd(d):
        gi, gw = A._prelu_kernel_backward(d["t_g"], d["t_x"], d["t_w"])
        return gi, gw.sum(0)

    def t_maxout(d):
        M, C = d["t_x"].shape
        return A.amax.out(d["t_x"].view(M, C // k, k), [-1], False, out=d["t_mo"])

    def t_maxout_bwd(d):
        M, C = d["t_x"].shape
        xg = d["t_x"].view(M, C // k, k)
        gx = d["t_out"].view(M, C // k, k)
        gx.zero_()
        gx.scatter_(-1, xg.argmax(-1, keepdim=True), d["t_mg"].unsqueeze(-1))
        return d["t_out"]

    def t_rrelu(d):
        return A.rrelu_with_noise.out(
            d["t_x"], d["t_noise"], RRELU_LOWER, RRELU_UPPER, True, None, out=d["t_out"]
        )

    def t_rrelu_bwd(d):
        return A.mul.out(d["t_g"], d["t_slopes"], out=d["t_out"])

    ss = _special_setup
    return [
        Case(
            "prelu", "copy", ss,
            lambda d, be: fastact.prelu(d["x"], d["w"], out=d["out"], backend=be),
            lambda d: np.where(d["x"] > 0, d["x"], d["w"] * d["x"]),
            (lambda d: A._prelu_kernel(d["t_x"], d["t_w"])) if tf else None,
            args=lambda d: ((d["x"], d["w"]), {}),
        ),
        Case(
            "prelu_backward", "add", ss,
            lambda d, be: fastact.prelu_backward(d["g"], d["x"], d["w"], out=d["out"], backend=be),
            lambda d: (np.where(d["x"] > 0, d["g"], d["w"] * d["g"]),
                       np.where(d["x"] > 0, 0, d["g"] * d["x"]).sum(0)),
            t_prelu_bwd if tf else None,
            group="backward",
            args=lambda d: ((d["g"], d["x"], d["w"]), {}),
        ),
        Case(
            "rrelu_train", "copy", ss,
            lambda d, be: fastact.rrelu(d["x"], RRELU_LOWER, RRELU_UPPER, training=True,
                                        seed=0, out=d["out"], backend=be),
            _np_rrelu_train,
            t_rrelu if tf else None,
        ),
        Case(
            "rrelu_backward", "add", ss,
            lambda d, be: fastact.rrelu_backward(d["g"], d["slopes"], out=d["out"], backend=be),
            lambda d: d["g"] * d["slopes"],
            t_rrelu_bwd if tf else None,
            group="backward",
            args=lambda d: ((d["g"], d["slopes"]), {}),
        ),
        Case(
            "maxout", "copy", ss,
            lambda d, be: fastact.maxout(d["x"], k, out=d["mo"], backend=be),
            lambda d: d["x"].reshape(d["x"].shape[0], -1, k).max(-1),
            t_maxout if tf else None,
            traffic=_maxout_traffic,
            args=lambda d: ((d["x"], k), {}),
        ),
        Case(
            "maxout_backward", "add", ss,
            lambda d, be: fastact.maxout_backward(d["mg"], d["x"], k, out=d["out"], backend=be),
            _np_maxout_backward,
            t_maxout_bwd if tf else None,
            group="backward",
            traffic=_maxout_bwd_traffic,
            args=lambda d: ((d["mg"], d["x"], k), {}),
        ),
    ]  # fmt: skip


def _loss_setup(n: int, dtype: np.dtype, seed: int) -> dict[str, Any]:
    """Logits / predictions x, binary targets ``bt`` in {0, 1}, regression targets ``rt``."""
    rng = _rng(seed)
    x = rng.normal(0.0, 3.0, n).astype(dtype)
    d: dict[str, Any] = {"x": x, "out": np.empty_like(x)}
    d["bt"] = (rng.random(n) < 0.5).astype(dtype)
    d["rt"] = rng.normal(size=n).astype(dtype)
    d["g"] = d["rt"]  # the second stream of the "add" comparison
    _to_torch(d, ("x", "out", "bt", "rt"))
    return d


def _np_bce(d: dict[str, Any]) -> tuple[Any, np.ndarray]:
    x, t = d["x"], d["bt"]
    loss = (np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))).mean()
    return loss, (1.0 / (1.0 + np.exp(-x)) - t) / x.size


def _loss_cases() -> list[Case]:
    """binary_cross_entropy_with_logits and mse_loss: mean loss and its gradient."""
    torch = _torch()
    A = _aten()
    tf = torch is not None

    def t_bce(d):  # ATen has no backward kernel for it: autograd, as users run it
        x = d["t_x"].detach().requires_grad_(True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x, d["t_bt"])
        return loss, torch.autograd.grad(loss, x)[0]

    def t_mse(d):
        x, t = d["t_x"], d["t_rt"]
        loss = A.mse_loss(x, t, 1)
        one = torch.ones((), dtype=x.dtype)
        return loss, A.mse_loss_backward.grad_input(one, x, t, 1, grad_input=d["t_out"])

    def np_mse(d):
        r = d["x"] - d["rt"]
        return (r * r).mean(), r * (2.0 / r.size)

    return [
        Case(
            "binary_cross_entropy_with_logits", "add", _loss_setup,
            lambda d, be: fastact.binary_cross_entropy_with_logits(
                d["x"], d["bt"], return_grad=True, grad_out=d["out"], backend=be),
            _np_bce,
            t_bce if tf else None,
            group="losses",
            args=lambda d: ((d["x"], d["bt"]), {"return_grad": True}),
        ),
        Case(
            "mse_loss", "add", _loss_setup,
            lambda d, be: fastact.mse_loss(
                d["x"], d["rt"], return_grad=True, grad_out=d["out"], backend=be),
            np_mse,
            t_mse if tf else None,
            group="losses",
            args=lambda d: ((d["x"], d["rt"]), {"return_grad": True}),
        ),
    ]  # fmt: skip


def cases() -> dict[str, Case]:
    """Every benchmarked operation by name (the elementwise ones from the table)."""
    every = (
        _elementwise_cases() + _row_cases() + _softmin_cases() + _special_cases() + _loss_cases()
    )
    return {c.name: c for c in every}
