"""The module protocol of :mod:`fastact.nn`: parameters, forward and backward.

A module caches what its backward pass needs during ``forward``; ``backward``
takes the gradient of the loss with respect to the module's output, accumulates
the gradients of its parameters into ``Parameter.grad`` and returns the gradient
with respect to its input. Modules run on NumPy arrays (any float dtype).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


class Parameter:
    """A learnable array with its accumulated gradient (same shape and dtype)."""

    def __init__(self, data: np.ndarray, name: str = "") -> None:
        self.data = np.asarray(data)
        if self.data.dtype.kind != "f":
            raise TypeError(f"parameter {name!r} must be a floating array, got {self.data.dtype}")
        self.grad = np.zeros_like(self.data)
        self.name = name

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: ``forward(x)``, ``backward(grad_output)``, parameters, train/eval."""

    training: bool = True

    def forward(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad_output: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x: Any) -> np.ndarray:
        return self.forward(x)

    def children(self) -> list[Module]:
        return []

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, depth first."""
        yield self
        for c in self.children():
            yield from c.modules()

    def own_parameters(self) -> list[Parameter]:
        return [v for v in vars(self).values() if isinstance(v, Parameter)]

    def parameters(self) -> Iterator[Parameter]:
        """This module's parameters, then its children's, in a fixed order."""
        yield from self.own_parameters()
        for c in self.children():
            yield from c.parameters()

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad[...] = 0

    def train(self, mode: bool = True) -> Module:
        self.training = mode
        for c in self.children():
            c.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def _need(self, attr: str) -> Any:
        v = getattr(self, attr, None)
        if v is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return v

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def as_rng(rng: Any) -> np.random.Generator:
    """``rng`` itself if it is a NumPy Generator, else ``np.random.default_rng(rng)``."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def as_input(x: Any, ndim_min: int = 1) -> np.ndarray:
    """``x`` as a floating NumPy array with at least ``ndim_min`` dimensions."""
    a = np.asarray(x)
    if a.dtype.kind != "f":
        raise TypeError(f"expected a floating array, got dtype {a.dtype}")
    if a.ndim < ndim_min:
        raise ValueError(f"expected at least {ndim_min} dimension(s), got shape {a.shape}")
    return a
