"""Agreement of the row-wise kernels with PyTorch: max relative error, float32 and float64.

    python bench/tools/agreement.py

For rows of 4,096 and 131,072 classes (8 rows, normal(0, 4) logits), each
fastact kernel (numba backend) against PyTorch's on the same inputs, and both
against a float64 reference (SciPy / PyTorch in float64), so that a difference
can be attributed. Relative error: max |a - b| / max |b| over the output.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import special

import fastact


def rel(a, b) -> float:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def main() -> None:
    print(
        "| kernel | classes | dtype | fastact vs PyTorch | fastact vs float64 "
        "| PyTorch vs float64 |"
    )
    print("|---|---|---|---|---|---|")
    for C in (4096, 131072):
        rng = np.random.default_rng(0)
        x64 = rng.normal(0, 4, (8, C))
        g64 = rng.normal(0, 1, (8, C))
        t = rng.integers(0, C, 8)
        for dt in (np.float32, np.float64):
            x, g = x64.astype(dt), g64.astype(dt)
            tx, tg = torch.tensor(x), torch.tensor(g)
            xd = x.astype(np.float64)
            y64 = special.softmax(xd, -1)
            ly64 = special.log_softmax(xd, -1)
            res = {}
            res["softmax"] = (fastact.softmax(x), torch.softmax(tx, -1).numpy(), y64)
            res["log_softmax"] = (fastact.log_softmax(x), torch.log_softmax(tx, -1).numpy(), ly64)
            res["logsumexp"] = (fastact.logsumexp(x), torch.logsumexp(tx, -1).numpy(),
                                special.logsumexp(xd, -1))  # fmt: skip
            y = fastact.softmax(x)
            ty = torch.softmax(tx, -1)
            res["softmax_backward"] = (
                fastact.softmax_backward(g, y),
                torch.ops.aten._softmax_backward_data(tg, ty, -1, ty.dtype).numpy(),
                y64 * (g64 - (g64 * y64).sum(-1, keepdims=True)),
            )
            ly = fastact.log_softmax(x)
            tly = torch.log_softmax(tx, -1)
            res["log_softmax_backward"] = (
                fastact.log_softmax_backward(g, ly),
                torch.ops.aten._log_softmax_backward_data(tg, tly, -1, tly.dtype).numpy(),
                g64 - y64 * g64.sum(-1, keepdims=True),
            )
            loss, grad = fastact.cross_entropy(x, t, return_grad=True)
            txr = tx.clone().requires_grad_(True)
            tl = torch.nn.functional.cross_entropy(txr, torch.tensor(t))
            (tgr,) = torch.autograd.grad(tl, txr)
            ref_l = -ly64[np.arange(8), t].mean()
            ref_g = y64.copy()
            ref_g[np.arange(8), t] -= 1
            ref_g /= 8
            res["cross_entropy loss"] = (loss, tl.detach().numpy(), ref_l)
            res["cross_entropy grad"] = (grad, tgr.numpy(), ref_g)
            for k, (ours, theirs, ref) in res.items():
                print(f"| {k} | {C} | {np.dtype(dt).name} | {rel(ours, theirs):.2e} | "
                      f"{rel(ours, ref):.2e} | {rel(theirs, ref):.2e} |")  # fmt: skip


if __name__ == "__main__":
    main()
