"""Layers of :mod:`fastact.nn`: ``Linear``, activations, ``PReLU``, ``Maxout``,
``Dropout``, ``BatchNorm1d`` and ``Sequential``.

Every activation module calls the fastact kernel pair ``fastact.<name>`` /
``fastact.<name>_backward``; ``Linear`` is a NumPy matrix product.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import fastact
from fastact import table
from fastact.nn.module import Module, Parameter, as_input, as_rng


class Linear(Module):
    """Affine map ``y = x W^T + b`` with ``W`` of shape ``(out_features, in_features)``.

    Backward: ``dx = g W``, ``dW += g^T x``, ``db += sum_rows g`` (over all leading axes).
    Default initialization is PyTorch's: ``W, b ~ U(+-1/sqrt(in_features))``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"Linear needs positive sizes, got in={in_features}, out={out_features}"
            )
        self.in_features, self.out_features = int(in_features), int(out_features)
        dt = np.dtype(dtype)
        self.weight = Parameter(np.zeros((out_features, in_features), dt), "weight")
        self.bias: Parameter | None = (
            Parameter(np.zeros(out_features, dt), "bias") if bias else None
        )
        self.x: np.ndarray | None = None
        self.reset_parameters(rng)

    def reset_parameters(self, rng: Any = None) -> None:
        g = as_rng(rng)
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight.data[...] = g.uniform(-bound, bound, self.weight.data.shape)
        if self.bias is not None:
            self.bias.data[...] = g.uniform(-bound, bound, self.out_features)

    def forward(self, x: Any) -> np.ndarray:
        x = as_input(x)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Linear expects {self.in_features} input features, got {x.shape}")
        self.x = x
        y = x @ self.weight.data.T
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x = self._need("x")
        g2 = grad_output.reshape(-1, self.out_features)
        self.weight.grad += g2.T @ x.reshape(-1, self.in_features)
        if self.bias is not None:
            self.bias.grad += g2.sum(axis=0)
        return grad_output @ self.weight.data

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


class Activation(Module):
    """Any activation of the table: ``Activation("elu", 0.5)`` is ELU with alpha 0.5.

    The named subclasses (``ELU(alpha=0.5)``, ``LeakyReLU(0.2)``, ...) fix the name and
    take the parameters positionally or by keyword, with PyTorch's defaults.
    Forward ``y = fastact.<name>(x, *params)``; backward
    ``fastact.<name>_backward(g, x, *params)``. The input and output of the last
    forward are kept (``.x``, ``.y``) for backward and for the diagnostics.
    """

    #: set by the named subclasses
    NAME: str | None = None

    def __init__(self, *args: Any, backend: str | None = None, **kw: Any) -> None:
        if self.NAME is None:
            if not args or not isinstance(args[0], str):
                raise TypeError("Activation needs the activation name as first argument")
            name, params = args[0], list(args[1:])
        else:
            name, params = self.NAME, list(args)
        if name not in table.BY_NAME:
            raise ValueError(f"unknown activation {name!r}; known: {', '.join(table.BY_NAME)}")
        spec = table.BY_NAME[name]
        names = [p.name for p in spec.params]
        for k, v in kw.items():
            if k not in names:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword {k!r}")
            i = names.index(k)
            if i < len(params):
                raise TypeError(f"{type(self).__name__}() got {k!r} twice")
            params += [p.default for p in spec.params[len(params) : i]] + [v]
        spec.encode(tuple(params))  # validates count and values now
        self.name, self.params, self.backend = name, tuple(params), backend
        self._fwd = getattr(fastact, name)
        self._bwd = getattr(fastact, name + "_backward")
        self.x: np.ndarray | None = None
        self.y: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        self.x = as_input(x, 0)
        self.y = self._fwd(self.x, *self.params, backend=self.backend)
        return self.y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return self._bwd(grad_output, self._need("x"), *self.params, backend=self.backend)

    def __repr__(self) -> str:
        args = ", ".join(repr(p) for p in self.params)
        if self.NAME is not None:
            return f"{type(self).__name__}({args})"
        return f"Activation({self.name!r}{', ' + args if args else ''})"


#: activation name -> PyTorch-style class name
CLASS_NAMES = {
    "identity": "Identity", "sigmoid": "Sigmoid", "tanh": "Tanh", "hardtanh": "Hardtanh",
    "relu6": "ReLU6", "softsign": "Softsign", "relu": "ReLU", "leaky_relu": "LeakyReLU",
    "elu": "ELU", "selu": "SELU", "celu": "CELU", "softplus": "Softplus",
    "logsigmoid": "LogSigmoid", "silu": "SiLU", "swish": "Swish", "gelu": "GELU",
    "mish": "Mish", "hardsigmoid": "Hardsigmoid", "hardswish": "Hardswish",
}  # fmt: skip


def _activation_class(name: str) -> type[Activation]:
    spec = table.BY_NAME[name]
    doc = f"{spec.summary}\n\n    y = {spec.formula}\n\nDerivative: {spec.derivative}."
    if spec.params:
        doc += "\n\nParameters (positional or keyword, PyTorch defaults): " + ", ".join(
            f"{p.name}={p.default!r}" for p in spec.params
        )
    return type(CLASS_NAMES[name], (Activation,), {"NAME": name, "__doc__": doc})


ACTIVATION_CLASSES: dict[str, type[Activation]] = {n: _activation_class(n) for n in CLASS_NAMES}
Identity = ACTIVATION_CLASSES["identity"]
Sigmoid = ACTIVATION_CLASSES["sigmoid"]
Tanh = ACTIVATION_CLASSES["tanh"]
Hardtanh = ACTIVATION_CLASSES["hardtanh"]
ReLU6 = ACTIVATION_CLASSES["relu6"]
Softsign = ACTIVATION_CLASSES["softsign"]
ReLU = ACTIVATION_CLASSES["relu"]
LeakyReLU = ACTIVATION_CLASSES["leaky_relu"]
ELU = ACTIVATION_CLASSES["elu"]
SELU = ACTIVATION_CLASSES["selu"]
CELU = ACTIVATION_CLASSES["celu"]
Softplus = ACTIVATION_CLASSES["softplus"]
LogSigmoid = ACTIVATION_CLASSES["logsigmoid"]
SiLU = ACTIVATION_CLASSES["silu"]
Swish = ACTIVATION_CLASSES["swish"]
GELU = ACTIVATION_CLASSES["gelu"]
Mish = ACTIVATION_CLASSES["mish"]
Hardsigmoid = ACTIVATION_CLASSES["hardsigmoid"]
Hardswish = ACTIVATION_CLASSES["hardswish"]


class PReLU(Module):
    """Parametric ReLU with a learnable slope (one, or one per feature on axis 1).

    y = x for x > 0, a_c x otherwise;  dy/dx = 1 or a_c,  dL/da_c = sum_{x<=0} g x
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, dtype: Any = np.float32):
        if num_parameters < 1:
            raise ValueError(f"num_parameters must be >= 1, got {num_parameters}")
        self.weight = Parameter(np.full(num_parameters, init, dtype=dtype), "weight")
        self.x: np.ndarray | None = None
        self.y: np.ndarray | None = None

    def _axis(self, x: np.ndarray) -> int:
        return 1 if x.ndim >= 2 else 0

    def forward(self, x: Any) -> np.ndarray:
        self.x = as_input(x)
        self.y = fastact.prelu(self.x, self.weight.data, self._axis(self.x))
        return self.y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x = self._need("x")
        gx, gw = fastact.prelu_backward(grad_output, x, self.weight.data, self._axis(x))
        self.weight.grad += gw
        return gx


class Maxout(Module):
    """Maxout unit layer: ``k`` linear pieces per output, ``y_j = max_i (x W_i^T + b_i)_j``.

    A ``Linear(in_features, out_features * pieces)`` followed by
    ``fastact.maxout(z, pieces)`` (groups of ``pieces`` consecutive outputs).
    Derivative: the gradient goes to the piece that attained the maximum.
    """

    def __init__(
        self, in_features: int, out_features: int, pieces: int = 2, *,
        dtype: Any = np.float32, rng: Any = None,
    ) -> None:  # fmt: skip
        if pieces < 1:
            raise ValueError(f"pieces must be >= 1, got {pieces}")
        self.pieces = int(pieces)
        self.linear = Linear(in_features, out_features * pieces, dtype=dtype, rng=rng)
        self.z: np.ndarray | None = None
        self.y: np.ndarray | None = None

    def children(self) -> list[Module]:
        return [self.linear]

    def forward(self, x: Any) -> np.ndarray:
        self.z = self.linear.forward(x)
        self.y = fastact.maxout(self.z, self.pieces)
        return self.y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        gz = fastact.maxout_backward(grad_output, self._need("z"), self.pieces)
        return self.linear.backward(gz)


class Dropout(Module):
    """Inverted dropout: in training ``y = x * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)``;
    identity in evaluation. Derivative: ``m / (1 - p)``."""

    def __init__(self, p: float = 0.5, *, rng: Any = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = float(p)
        self.rng = as_rng(rng)
        self.mask: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        x = as_input(x, 0)
        if not self.training or self.p == 0.0:
            self.mask = None
            return x
        keep = self.rng.random(x.shape) >= self.p
        scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
        self.mask = (keep * scale).astype(x.dtype)
        return x * self.mask

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output if self.mask is None else grad_output * self.mask


class BatchNorm1d(Module):
    """Batch normalization over the batch (and length) axes of ``(N, C)`` or ``(N, C, L)``.

    Training: ``xh = (x - mean_B) / sqrt(var_B + eps)``, ``y = gamma xh + beta``, with
    the biased batch variance; the running statistics move by ``momentum`` (unbiased
    variance, as PyTorch). Evaluation uses the running statistics.

    Backward (training), ``n`` values per channel, ``gh = g gamma``::

        dx = (n gh - sum(gh) - xh sum(gh xh)) / (n sqrt(var_B + eps))

    evaluation: ``dx = g gamma / sqrt(running_var + eps)``;
    ``dgamma = sum(g xh)``, ``dbeta = sum(g)``.
    """

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
        affine: bool = True, *, dtype: Any = np.float32,
    ) -> None:  # fmt: skip
        if num_features < 1:
            raise ValueError(f"num_features must be >= 1, got {num_features}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        dt = np.dtype(dtype)
        self.weight: Parameter | None = (
            Parameter(np.ones(num_features, dt), "weight") if affine else None
        )
        self.bias: Parameter | None = (
            Parameter(np.zeros(num_features, dt), "bias") if affine else None
        )
        self.running_mean = np.zeros(num_features, dt)
        self.running_var = np.ones(num_features, dt)
        self.num_batches_tracked = 0
        self._cache: tuple[np.ndarray, np.ndarray, tuple[int, ...], bool] | None = None

    def _axes(self, x: np.ndarray) -> tuple[int, ...]:
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm1d({self.num_features}) expects (N, {self.num_features}) or "
                f"(N, {self.num_features}, L), got {x.shape}"
            )
        return (0,) if x.ndim == 2 else (0, 2)

    def _shape(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return v if x.ndim == 2 else v[:, None]

    def forward(self, x: Any) -> np.ndarray:
        x = as_input(x)
        axes = self._axes(x)
        if self.training:
            n = x.size // self.num_features
            if n < 2:
                raise ValueError(f"BatchNorm1d needs more than 1 value per channel, got {x.shape}")
            mean = x.mean(axis=axes, dtype=np.float64)
            var = x.var(axis=axes, dtype=np.float64)
            m = self.momentum
            self.running_mean[...] = (1 - m) * self.running_mean + m * mean
            self.running_var[...] = (1 - m) * self.running_var + m * var * n / (n - 1)
            self.num_batches_tracked += 1
        else:
            mean = self.running_mean.astype(np.float64)
            var = self.running_var.astype(np.float64)
        inv = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)
        xh = (x - self._shape(x, mean.astype(x.dtype))) * self._shape(x, inv)
        self._cache = (xh, inv, axes, self.training)
        if self.weight is None or self.bias is None:
            return xh
        return xh * self._shape(x, self.weight.data) + self._shape(x, self.bias.data)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        xh, inv, axes, training = self._need("_cache")
        g = grad_output
        if self.weight is not None and self.bias is not None:
            self.weight.grad += (g * xh).sum(axis=axes)
            self.bias.grad += g.sum(axis=axes)
            gh = g * self._shape(xh, self.weight.data)
        else:
            gh = g
        if not training:
            return gh * self._shape(xh, inv)
        n = xh.size // self.num_features
        s1 = self._shape(xh, gh.sum(axis=axes))
        s2 = self._shape(xh, (gh * xh).sum(axis=axes))
        return (n * gh - s1 - xh * s2) * self._shape(xh, inv / n)


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse."""

    def __init__(self, *layers: Module) -> None:
        for i, m in enumerate(layers):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential item {i} is not a Module: {m!r}")
        self.layers = list(layers)

    def children(self) -> list[Module]:
        return self.layers

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def forward(self, x: Any) -> np.ndarray:
        for m in self.layers:
            x = m.forward(x)
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        for m in reversed(self.layers):
            grad_output = m.backward(grad_output)
        return grad_output

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(m) for m in self.layers)
        return f"Sequential(\n  {inner}\n)"
