"""fastact for PyTorch: autograd-aware functions and ``nn.Module`` classes.

Each function runs fastact's kernels through a PyTorch custom operator
(``torch.ops.fastact.*``, see :mod:`fastact._torch_ops`) with its derivative
registered, so ``loss.backward()``, ``torch.autograd.gradcheck`` and
``torch.compile(fullgraph=True)`` work. Names and arguments follow
``torch.nn.functional`` and ``torch.nn``::

    import torch
    import fastact.torch as ft

    logits = model(x)                                   # (N, C)
    loss = ft.cross_entropy(logits, labels, label_smoothing=0.1)
    loss.backward()
    act = ft.GELU(approximate="tanh")                   # an nn.Module

Tensor in, tensor out: same device (CPU, or CUDA on the current stream) and dtype;
float16 and bfloat16 are computed in float32. torch is an optional dependency
(``pip install fastact[torch]``); ``import fastact`` does not import it.

Differences from ``torch.nn.functional``: no ``inplace=`` (results are always new
tensors); ``softmax``/``log_softmax`` default to ``dim=-1``; ``rrelu`` takes a
``seed`` (pass one under ``torch.compile``: drawing it from torch's generator reads a
tensor on the host); the loss options after ``weight`` are keyword-only; ``maxout``,
``swish`` and ``identity`` have no torch counterpart. Gradients with respect to
class weights and ``pos_weight`` are not implemented (as in PyTorch's
``cross_entropy``); probability targets (and MSE targets) do get gradients.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from fastact import _torch_ops as _ops
from fastact import table

__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "SELU",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "Identity",
    "LeakyReLU",
    "LogSigmoid",
    "LogSoftmax",
    "MSELoss",
    "Maxout",
    "Mish",
    "PReLU",
    "RReLU",
    "ReLU",
    "ReLU6",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softmin",
    "Softplus",
    "Softsign",
    "Swish",
    "Tanh",
    "binary_cross_entropy_with_logits",
    "celu",
    "cross_entropy",
    "elu",
    "gelu",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "identity",
    "leaky_relu",
    "log_softmax",
    "logsigmoid",
    "logsumexp",
    "maxout",
    "mish",
    "mse_loss",
    "prelu",
    "relu",
    "relu6",
    "rrelu",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "softmin",
    "softplus",
    "softsign",
    "swish",
    "tanh",
]


# --------------------------------------------------------------------------- #
# Functional forms                                                            #
# --------------------------------------------------------------------------- #


def _param(p: table.Param, v: Any) -> float | str:
    """A parameter value checked as :meth:`table.Param.encode` does (in plain Python,
    which torch.compile traces), in the op schema's type."""
    if p.choices is not None:
        if not isinstance(v, str) or v not in p.choices:
            raise ValueError(f"{p.name} must be one of {sorted(p.choices)}, got {v!r}")
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{p.name} must be a real number, got {v!r}")
    if math.isnan(v):
        raise ValueError(f"{p.name} must not be NaN")
    return float(v)


def _ew(name: str, input: Tensor, *params: Any) -> Tensor:
    """Run the elementwise op ``name`` with validated parameters."""
    _ops.check_tensor(input)
    spec = table.BY_NAME[name]
    vals = [_param(p, v) for p, v in zip(spec.params, params, strict=True)]
    return _ops.ELEMENTWISE[name][0](input, *vals)  # type: ignore[no-any-return]


def identity(input: Tensor) -> Tensor:
    """y = x (a copy). dy/dx = 1."""
    return _ew("identity", input)


def sigmoid(input: Tensor) -> Tensor:
    """y = 1 / (1 + exp(-x)). dy/dx = y (1 - y)."""
    return _ew("sigmoid", input)


def tanh(input: Tensor) -> Tensor:
    """y = tanh(x). dy/dx = 1 - y^2."""
    return _ew("tanh", input)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """y = min(max(x, min_val), max_val). dy/dx = 1 for min_val < x < max_val, else 0."""
    return _ew("hardtanh", input, min_val, max_val)


def relu6(input: Tensor) -> Tensor:
    """y = min(max(x, 0), 6). dy/dx = 1 for 0 < x < 6, else 0."""
    return _ew("relu6", input)


def softsign(input: Tensor) -> Tensor:
    """y = x / (1 + |x|). dy/dx = 1 / (1 + |x|)^2."""
    return _ew("softsign", input)


def relu(input: Tensor) -> Tensor:
    """y = max(x, 0). dy/dx = 1 for x > 0, else 0."""
    return _ew("relu", input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """y = x for x > 0, negative_slope x otherwise. dy/dx = 1 or negative_slope."""
    return _ew("leaky_relu", input, negative_slope)


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """y = x for x > 0, alpha (exp(x) - 1) otherwise. dy/dx = 1 or alpha exp(x)."""
    return _ew("elu", input, alpha)


def selu(input: Tensor) -> Tensor:
    """y = scale (x for x > 0, alpha (exp(x) - 1) otherwise), PyTorch's alpha and scale."""
    return _ew("selu", input)


def celu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """y = x for x > 0, alpha (exp(x / alpha) - 1) otherwise. dy/dx = 1 or exp(x / alpha)."""
    return _ew("celu", input, alpha)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """y = log(1 + exp(beta x)) / beta (x where beta x > threshold). dy/dx = sigmoid(beta x)."""
    return _ew("softplus", input, beta, threshold)


def logsigmoid(input: Tensor) -> Tensor:
    """y = log(sigmoid(x)). dy/dx = 1 - sigmoid(x)."""
    return _ew("logsigmoid", input)


def silu(input: Tensor) -> Tensor:
    """y = x sigmoid(x). dy/dx = s (1 + x (1 - s)), s = sigmoid(x)."""
    return _ew("silu", input)


def swish(input: Tensor, beta: float = 1.0) -> Tensor:
    """y = x sigmoid(beta x). dy/dx = s + beta x s (1 - s), s = sigmoid(beta x)."""
    return _ew("swish", input, beta)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """y = x Phi(x) (``approximate="none"``) or its tanh form (``"tanh"``)."""
    return _ew("gelu", input, approximate)


def mish(input: Tensor) -> Tensor:
    """y = x tanh(softplus(x))."""
    return _ew("mish", input)


def hardsigmoid(input: Tensor) -> Tensor:
    """y = clip(x / 6 + 1/2, 0, 1). dy/dx = 1/6 for -3 < x < 3, else 0."""
    return _ew("hardsigmoid", input)


def hardswish(input: Tensor) -> Tensor:
    """y = x clip(x + 3, 0, 6) / 6. dy/dx = x / 3 + 1/2 for -3 < x < 3, 0 below, 1 above."""
    return _ew("hardswish", input)


def softmax(input: Tensor, dim: int = -1, dtype: torch.dtype | None = None) -> Tensor:
    """Softmax along ``dim`` (``input`` cast to ``dtype`` first, if given).

    y_j = exp(x_j - m) / sum_k exp(x_k - m);  grad_x = y (grad_y - sum(grad_y y))
    """
    x = _ops.check_tensor(input if dtype is None else input.to(dtype))
    return _ops.softmax(x, _ops.norm_dim(dim, x.dim()))  # type: ignore[no-any-return]


def softmin(input: Tensor, dim: int = -1, dtype: torch.dtype | None = None) -> Tensor:
    """Softmin along ``dim`` (``torch.nn.functional.softmin``): the softmax of ``-input``.

    y_j = exp(m - x_j) / sum_k exp(m - x_k);  grad_x = -y (grad_y - sum(grad_y y))
    """
    x = _ops.check_tensor(input if dtype is None else input.to(dtype))
    return _ops.softmax(-x, _ops.norm_dim(dim, x.dim()))  # type: ignore[no-any-return]


def log_softmax(input: Tensor, dim: int = -1, dtype: torch.dtype | None = None) -> Tensor:
    """Log-softmax along ``dim``.

    y_j = x_j - m - log(sum_k exp(x_k - m));  grad_x = grad_y - exp(y) sum(grad_y)
    """
    x = _ops.check_tensor(input if dtype is None else input.to(dtype))
    return _ops.log_softmax(x, _ops.norm_dim(dim, x.dim()))  # type: ignore[no-any-return]


def logsumexp(input: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) along ``dim``, max-shifted; d/dx = softmax(x)."""
    _ops.check_tensor(input)
    if input.dim() == 0:
        raise ValueError("logsumexp needs an input with at least one dimension")
    d = _ops.norm_dim(dim, input.dim())
    return _ops.logsumexp(input, d, bool(keepdim))  # type: ignore[no-any-return]


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """y = x for x > 0, weight[c] x otherwise; c indexes dim 1 (dim 0 of a 1-d input).

    ``weight`` has 1 element or one per channel; it gets a gradient
    (sum of grad_y x over the elements with x <= 0 of each channel).
    """
    _ops.check_tensor(input)
    _ops.check_tensor(weight, "weight")
    return _ops.prelu(input, weight)  # type: ignore[no-any-return]


def rrelu(
    input: Tensor,
    lower: float = 1.0 / 8.0,
    upper: float = 1.0 / 3.0,
    training: bool = False,
    seed: int | None = None,
) -> Tensor:
    """Randomized leaky ReLU.

    Evaluation: leaky ReLU with slope (lower + upper) / 2. Training: y = x for x >= 0,
    a x otherwise with a ~ U(lower, upper) per element, dy/dx = a (1 for x >= 0). The
    same ``seed`` gives the same slopes; ``seed=None`` draws one from torch's generator
    (so ``torch.manual_seed`` makes runs repeatable).
    """
    _ops.check_tensor(input)
    lo, up = float(lower), float(upper)
    if not (math.isfinite(lo) and math.isfinite(up)) or lo > up:
        raise ValueError(f"rrelu needs finite lower <= upper, got lower={lower!r}, upper={upper!r}")
    if not training:
        return _ew("leaky_relu", input, (lo + up) / 2.0)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (), dtype=torch.int64).item())
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer or None, got {seed!r}")
    seed = (seed + 2**63) % 2**64 - 2**63  # the schema's int is signed 64-bit
    return _ops.rrelu_train(input, lo, up, seed)[0]  # type: ignore[no-any-return]


def maxout(input: Tensor, pieces: int, dim: int = -1) -> Tensor:
    """Maximum over groups of ``pieces`` consecutive entries along ``dim``; the gradient
    goes to the first maximal entry of each group."""
    _ops.check_tensor(input)
    if isinstance(pieces, bool) or not isinstance(pieces, int) or pieces < 1:
        raise ValueError(f"pieces must be a positive integer, got {pieces!r}")
    return _ops.maxout(input, pieces, _ops.norm_dim(dim, input.dim()))  # type: ignore[no-any-return]


def _reduction(reduction: Any) -> str:
    if reduction not in _ops.REDUCTIONS:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return str(reduction)


def _no_grad_for(t: Tensor | None, name: str) -> None:
    if t is not None and t.requires_grad and torch.is_grad_enabled():
        raise NotImplementedError(f"fastact.torch computes no gradient with respect to {name}")


def _wants_grad(*ts: Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in ts)


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy, classes along dim 1 (dim 0 of a 1-d input), as PyTorch.

    ``target`` holds class indices (integer, ``input``'s shape without the class dim)
    or class probabilities (floating, ``input``'s shape). With class weights ``w``,
    smoothing ``e`` and ``C`` classes, for an index target ``t``::

        loss = (1 - e) w_t (lse - x_t) + (e / C) sum_j w_j (lse - x_j),  lse = logsumexp(x)

    When ``input`` requires a gradient, the loss and its gradient come from one fused
    pass over the logits and the backward only scales that gradient.
    """
    _ops.check_tensor(input)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if weight is not None:
        _ops.check_tensor(weight, "weight")
    _no_grad_for(weight, "weight")
    red = _reduction(reduction)
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if input.dim() == 0:
        raise ValueError("input must have at least one dimension (the class dim)")
    axis = 1 if input.dim() >= 2 else 0
    if target.is_floating_point():
        if tuple(target.shape) != tuple(input.shape):
            raise ValueError(
                f"target has shape {tuple(target.shape)}; probability targets need input's "
                f"shape {tuple(input.shape)}"
            )
    elif target.dtype in (torch.bool, torch.complex64, torch.complex128):
        raise TypeError(f"target has dtype {target.dtype}; use integer class indices")
    loss, _ = _ops.cross_entropy(
        input, target, weight, int(ignore_index), red, eps, axis, _wants_grad(input)
    )
    return loss  # type: ignore[no-any-return]


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Binary cross-entropy on logits, in the stable form::

        l = w ((1 - t) x + (1 + (p - 1) t) log(1 + exp(-x)))
        dl/dx = w ((1 + (p - 1) t) sigmoid(x) - p t)

    ``weight`` broadcasts to ``input``; ``pos_weight`` along the last dim.
    """
    _ops.check_tensor(input)
    _ops.check_tensor(target, "target")
    for t, n in ((weight, "weight"), (pos_weight, "pos_weight")):
        if t is not None:
            _ops.check_tensor(t, n)
        _no_grad_for(t, n)
    red = _reduction(reduction)
    loss, _ = _ops.binary_cross_entropy_with_logits(
        input, target, weight, pos_weight, red, _wants_grad(input)
    )
    return loss  # type: ignore[no-any-return]


def mse_loss(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    """Mean squared error: l = (x - t)^2, dl/dx = 2 (x - t), dl/dt = -2 (x - t)."""
    _ops.check_tensor(input)
    _ops.check_tensor(target, "target")
    red = _reduction(reduction)
    loss, _ = _ops.mse_loss(input, target, red, _wants_grad(input, target))
    return loss  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- #
# Modules                                                                     #
# --------------------------------------------------------------------------- #


class _Activation(nn.Module):
    """An elementwise activation with fixed parameters."""

    _name = ""

    def __init__(self, **params: Any) -> None:
        super().__init__()
        spec = table.BY_NAME[self._name]
        self._params = tuple(_param(p, params[p.name]) for p in spec.params)

    def forward(self, input: Tensor) -> Tensor:
        return _ew(self._name, input, *self._params)

    def extra_repr(self) -> str:
        spec = table.BY_NAME[self._name]
        return ", ".join(f"{p.name}={v!r}" for p, v in zip(spec.params, self._params, strict=True))


class Identity(_Activation):
    """y = x (a copy; see :func:`identity`)."""

    _name = "identity"


class Sigmoid(_Activation):
    """y = 1 / (1 + exp(-x))."""

    _name = "sigmoid"


class Tanh(_Activation):
    """y = tanh(x)."""

    _name = "tanh"


class Hardtanh(_Activation):
    """y = min(max(x, min_val), max_val)."""

    _name = "hardtanh"

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__(min_val=min_val, max_val=max_val)


class ReLU6(_Activation):
    """y = min(max(x, 0), 6)."""

    _name = "relu6"


class Softsign(_Activation):
    """y = x / (1 + |x|)."""

    _name = "softsign"


class ReLU(_Activation):
    """y = max(x, 0)."""

    _name = "relu"


class LeakyReLU(_Activation):
    """y = x for x > 0, negative_slope x otherwise."""

    _name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__(negative_slope=negative_slope)


class ELU(_Activation):
    """y = x for x > 0, alpha (exp(x) - 1) otherwise."""

    _name = "elu"

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha=alpha)


class SELU(_Activation):
    """Scaled ELU with PyTorch's alpha and scale."""

    _name = "selu"


class CELU(_Activation):
    """y = x for x > 0, alpha (exp(x / alpha) - 1) otherwise."""

    _name = "celu"

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha=alpha)


class Softplus(_Activation):
    """y = log(1 + exp(beta x)) / beta, x where beta x > threshold."""

    _name = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__(beta=beta, threshold=threshold)


class LogSigmoid(_Activation):
    """y = log(sigmoid(x))."""

    _name = "logsigmoid"


class SiLU(_Activation):
    """y = x sigmoid(x)."""

    _name = "silu"


class Swish(_Activation):
    """y = x sigmoid(beta x)."""

    _name = "swish"

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__(beta=beta)


class GELU(_Activation):
    """y = x Phi(x), or its tanh form with ``approximate="tanh"``."""

    _name = "gelu"

    def __init__(self, approximate: str = "none") -> None:
        super().__init__(approximate=approximate)


class Mish(_Activation):
    """y = x tanh(softplus(x))."""

    _name = "mish"


class Hardsigmoid(_Activation):
    """y = clip(x / 6 + 1/2, 0, 1)."""

    _name = "hardsigmoid"


class Hardswish(_Activation):
    """y = x clip(x + 3, 0, 6) / 6."""

    _name = "hardswish"


#: table entry name -> module class (every entry has one; the tests check it)
MODULES: dict[str, type[_Activation]] = {
    c._name: c
    for c in (
        Identity, Sigmoid, Tanh, Hardtanh, ReLU6, Softsign, ReLU, LeakyReLU, ELU, SELU, CELU,
        Softplus, LogSigmoid, SiLU, Swish, GELU, Mish, Hardsigmoid, Hardswish,
    )
}  # fmt: skip


class Softmin(nn.Module):
    """Softmin along ``dim`` (default -1): the softmax of ``-input``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return softmin(input, self.dim)


class Softmax(nn.Module):
    """Softmax along ``dim`` (default -1)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """Log-softmax along ``dim`` (default -1)."""

    def forward(self, input: Tensor) -> Tensor:
        return log_softmax(input, self.dim)


class PReLU(nn.Module):
    """Parametric ReLU with a learnable slope: one shared (``num_parameters=1``) or one
    per channel (dim 1), initialised to ``init``."""

    def __init__(
        self,
        num_parameters: int = 1,
        init: float = 0.25,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = nn.Parameter(torch.full((num_parameters,), init, device=device, dtype=dtype))

    def forward(self, input: Tensor) -> Tensor:
        return prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class RReLU(nn.Module):
    """Randomized leaky ReLU: random slopes in training mode, their mean in eval mode.

    ``seed`` fixes the slopes of every call (useful under ``torch.compile``); ``None``
    draws a fresh seed per call from torch's generator.
    """

    def __init__(
        self, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0, seed: int | None = None
    ) -> None:
        super().__init__()
        self.lower, self.upper, self.seed = lower, upper, seed

    def forward(self, input: Tensor) -> Tensor:
        return rrelu(input, self.lower, self.upper, self.training, self.seed)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}"


class Maxout(nn.Module):
    """Maximum over groups of ``pieces`` consecutive entries along ``dim``."""

    def __init__(self, pieces: int, dim: int = -1) -> None:
        super().__init__()
        self.pieces, self.dim = pieces, dim

    def forward(self, input: Tensor) -> Tensor:
        return maxout(input, self.pieces, self.dim)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}, dim={self.dim}"


class CrossEntropyLoss(nn.Module):
    """:func:`cross_entropy` as a module (``weight`` is a buffer)."""

    weight: Tensor | None

    def __init__(
        self,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = _reduction(reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return cross_entropy(
            input,
            target,
            self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class BCEWithLogitsLoss(nn.Module):
    """:func:`binary_cross_entropy_with_logits` as a module (weights are buffers)."""

    weight: Tensor | None
    pos_weight: Tensor | None

    def __init__(
        self,
        weight: Tensor | None = None,
        reduction: str = "mean",
        pos_weight: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = _reduction(reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )


class MSELoss(nn.Module):
    """:func:`mse_loss` as a module."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction(reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return mse_loss(input, target, reduction=self.reduction)
