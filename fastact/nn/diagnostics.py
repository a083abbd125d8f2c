"""Per-layer diagnostics: activation statistics and gradient norms.

- ``activation_stats(model, x)`` runs ``model`` over a dataset (evaluation mode,
  in batches) and, for every activation module, reports the mean and standard
  deviation of its outputs, the *dead fraction* (units whose input is ``<= 0`` for
  every sample of the dataset: a ReLU unit that outputs 0 everywhere and gets no
  gradient; for leaky ReLU / ELU / PReLU such a unit is inactive but still gets a
  gradient) and the *saturated fraction* (outputs within 1% of a bound of a
  bounded activation, where the derivative is close to 0: sigmoid ``y < 0.01`` or
  ``y > 0.99``, tanh ``|y| > 0.99``; hardtanh/relu6/hardsigmoid at their bounds).
- ``gradient_norms(model)`` gives the Frobenius norm of each ``Linear`` weight's
  accumulated gradient (call it after ``backward``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fastact.nn.layers import Activation, Linear, Maxout, PReLU
from fastact.nn.module import Module

#: activations whose units can die (no positive input on the whole dataset)
RELU_FAMILY = ("relu", "relu6", "leaky_relu", "elu", "selu", "celu", "prelu")

_SATURATED: dict[str, Callable[[np.ndarray, tuple[Any, ...]], np.ndarray]] = {
    "sigmoid": lambda y, p: (y < 0.01) | (y > 0.99),
    "tanh": lambda y, p: np.abs(y) > 0.99,
    "softsign": lambda y, p: np.abs(y) > 0.99,
    "hardsigmoid": lambda y, p: (y <= 0.0) | (y >= 1.0),
    "hardtanh": lambda y, p: (y <= (p[0] if p else -1.0)) | (y >= (p[1] if len(p) > 1 else 1.0)),
    "relu6": lambda y, p: y >= 6.0,
}


def _kind(m: Module) -> str | None:
    if isinstance(m, Activation):
        return m.name
    if isinstance(m, PReLU):
        return "prelu"
    if isinstance(m, Maxout):
        return "maxout"
    return None


def activation_stats(model: Module, x: np.ndarray, batch_size: int = 1024) -> list[dict[str, Any]]:
    """Statistics of every activation module's output over the dataset ``x``.

    One dict per activation (in forward order): ``layer`` (its index among the
    activations), ``kind``, ``mean``, ``std``, ``dead_fraction`` (ReLU family and
    PReLU, else ``None``), ``saturated_fraction`` (bounded activations, else
    ``None``) and ``zero_fraction`` (outputs exactly 0).
    """
    acts = [m for m in model.modules() if _kind(m) is not None]
    if not acts:
        return []
    was_training = model.training
    model.eval()
    n = len(x)
    s1 = [0.0] * len(acts)
    s2 = [0.0] * len(acts)
    cnt = [0] * len(acts)
    zeros = [0] * len(acts)
    sat = [0] * len(acts)
    alive: list[np.ndarray | None] = [None] * len(acts)
    try:
        for lo in range(0, n, batch_size):
            model.forward(x[lo : lo + batch_size])
            for i, m in enumerate(acts):
                y = np.asarray(getattr(m, "y"), dtype=np.float64)  # noqa: B009
                s1[i] += float(y.sum())
                s2[i] += float((y * y).sum())
                cnt[i] += y.size
                zeros[i] += int(np.count_nonzero(y == 0))
                kind = _kind(m)
                if kind in _SATURATED:
                    sat[i] += int(np.count_nonzero(_SATURATED[kind](y, getattr(m, "params", ()))))
                if kind in RELU_FAMILY:
                    pre = m.x  # type: ignore[attr-defined]
                    pos = (pre > 0).reshape(-1, pre.shape[-1]).any(axis=0)
                    alive[i] = pos if alive[i] is None else (alive[i] | pos)
    finally:
        model.train(was_training)
    out = []
    for i, m in enumerate(acts):
        kind = _kind(m)
        mean = s1[i] / cnt[i]
        a = alive[i]
        out.append(
            {
                "layer": i,
                "kind": kind,
                "mean": mean,
                "std": float(np.sqrt(max(s2[i] / cnt[i] - mean * mean, 0.0))),
                "dead_fraction": None if a is None else float(1.0 - a.mean()),
                "saturated_fraction": sat[i] / cnt[i] if kind in _SATURATED else None,
                "zero_fraction": zeros[i] / cnt[i],
            }
        )
    return out


def gradient_norms(model: Module) -> list[float]:
    """``||dL/dW||_F`` of every ``Linear`` layer of ``model``, input side first."""
    return [
        float(np.linalg.norm(m.weight.grad.astype(np.float64)))
        for m in model.modules()
        if isinstance(m, Linear)
    ]
