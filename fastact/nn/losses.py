"""Loss modules: ``forward(input, target)`` returns the loss, ``backward()`` its gradient.

Both wrap the fused fastact kernels (the gradient is computed in the same pass
as the loss and kept until ``backward``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import fastact
from fastact.nn.module import as_input


class _Loss:
    reduction: str
    grad: np.ndarray | None = None

    def __call__(self, input: Any, target: Any) -> float:
        return self.forward(input, target)

    def forward(self, input: Any, target: Any) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad_output: float = 1.0) -> np.ndarray:
        """Gradient of ``grad_output * loss`` with respect to the input of the last forward."""
        if self.grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self.grad if grad_output == 1.0 else self.grad * grad_output


class SoftmaxCrossEntropy(_Loss):
    """Softmax + cross-entropy on logits ``(N, C)`` with class-index or probability targets.

        loss = mean_i (logsumexp(x_i) - x_{i,t_i}),   dloss/dx_i = (softmax(x_i) - onehot(t_i)) / N

    Keyword arguments are those of :func:`fastact.cross_entropy` (``weight``,
    ``ignore_index``, ``label_smoothing``, ``reduction`` ``"mean"`` or ``"sum"``).
    """

    def __init__(self, reduction: str = "mean", **kw: Any) -> None:
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction, self.kw = reduction, kw

    def forward(self, input: Any, target: Any) -> float:
        x = as_input(input)
        loss, self.grad = fastact.cross_entropy(
            x, target, axis=1 if x.ndim >= 2 else 0, reduction=self.reduction,
            return_grad=True, **self.kw,
        )  # fmt: skip
        return float(loss)


class MSELoss(_Loss):
    """Mean squared error: ``loss = mean (x - t)^2``, ``dloss/dx = 2 (x - t) / n``."""

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def forward(self, input: Any, target: Any) -> float:
        loss, self.grad = fastact.mse_loss(
            as_input(input, 0), target, reduction=self.reduction, return_grad=True
        )
        return float(loss)
