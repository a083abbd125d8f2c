"""Stochastic gradient descent with momentum (PyTorch's ``torch.optim.SGD`` rule).

With gradient ``g``, weight decay ``wd``, momentum ``mu`` and dampening ``d``::

    g <- g + wd * p
    b <- g (first step),  b <- mu * b + (1 - d) * g (later steps)
    step = g + mu * b (Nesterov) or b
    p <- p - lr * step
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from fastact.nn.module import Parameter


class SGD:
    """SGD with (Nesterov) momentum and weight decay over a list of parameters."""

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("SGD got an empty parameter list")
        if not lr > 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        if momentum < 0 or weight_decay < 0:
            raise ValueError(
                f"momentum and weight_decay must be >= 0, got {momentum}, {weight_decay}"
            )
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening 0")
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self.dampening, self.nesterov = float(dampening), bool(nesterov)
        self._buf: list[np.ndarray | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad[...] = 0

    def step(self) -> None:
        for i, p in enumerate(self.params):
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if self.momentum:
                b = self._buf[i]
                if b is None:
                    b = self._buf[i] = g.copy()
                else:
                    b *= self.momentum
                    b += (1.0 - self.dampening) * g
                g = g + self.momentum * b if self.nesterov else b
            p.data -= (self.lr * g).astype(p.data.dtype, copy=False)


def clip_grad_norm(params: Iterable[Parameter], max_norm: float) -> float:
    """Scale all gradients so that their joint L2 norm is at most ``max_norm``
    (``torch.nn.utils.clip_grad_norm_``); returns the norm before clipping."""
    ps = list(params)
    if not max_norm > 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    total = float(np.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in ps)))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for p in ps:
            p.grad *= scale
    return total
