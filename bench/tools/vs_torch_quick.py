"""fastact (numba) against PyTorch and a copy for a few elementwise ops, in one process.

    T=1 python bench/tools/vs_torch_quick.py sigmoid,tanh,gelu_backward 2^16 [f32|f64]

Each op: fastact through its public API with ``out=``, the PyTorch call a user would
write, and a NumPy copy of the same bytes, timed by ``fastact.timing.measure`` (15
interleaved rounds, an untimed warm-up before every timed block). Prints the median
and interquartile range of the per-round ratios. ``T`` sets the thread count of both
libraries. Backward ops pass ``x`` to PyTorch's ``*_backward`` kernels (sigmoid and
tanh take the saved output there: the same bytes, a different formula).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import fastact
from fastact.timing import measure


def main() -> None:
    threads = int(os.environ.get("T", "1"))
    torch.set_num_threads(threads)
    fastact.set_num_threads(threads)
    ops = sys.argv[1].split(",")
    size = sys.argv[2] if len(sys.argv) > 2 else "2^16"
    n = 2 ** int(size[2:]) if size.startswith("2^") else int(size)
    dt = np.float64 if len(sys.argv) > 3 and sys.argv[3] == "f64" else np.float32
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n) * 3).astype(dt)
    g = rng.standard_normal(n).astype(dt)
    out = np.empty_like(x)
    tx, tg = torch.from_numpy(x), torch.from_numpy(g)
    tout = torch.empty_like(tx)
    F = torch.nn.functional
    aten = torch.ops.aten
    ref: dict[str, Callable[[], Any]] = {
        "sigmoid": lambda: torch.sigmoid(tx, out=tout),
        "tanh": lambda: torch.tanh(tx, out=tout),
        "silu": lambda: tout.copy_(F.silu(tx)),
        "gelu": lambda: tout.copy_(F.gelu(tx)),
        "softplus": lambda: tout.copy_(F.softplus(tx)),
        "elu": lambda: tout.copy_(F.elu(tx)),
        "mish": lambda: tout.copy_(F.mish(tx)),
        "logsigmoid": lambda: tout.copy_(F.logsigmoid(tx)),
        "relu": lambda: torch.relu(tx),
        "sigmoid_backward": lambda: aten.sigmoid_backward(tg, tx),
        "tanh_backward": lambda: aten.tanh_backward(tg, tx),
        "gelu_backward": lambda: aten.gelu_backward(tg, tx),
        "silu_backward": lambda: aten.silu_backward(tg, tx),
    }
    for op in ops:
        f = getattr(fastact, op)
        if op.endswith("_backward"):

            def fa(f: Any = f) -> Any:
                return f(g, x, out=out)
        else:

            def fa(f: Any = f) -> Any:
                return f(x, out=out)

        s = measure(
            {"fa": fa, "torch": ref[op], "copy": lambda: np.copyto(out, x)},
            rounds=15,
            min_time=0.02,
        )
        r = np.array(s["torch"]) / np.array(s["fa"])
        c = np.array(s["fa"]) / np.array(s["copy"])
        print(
            f"{op:18s} n={n} vs torch {np.median(r):.2f}x "
            f"[{np.percentile(r, 25):.2f}-{np.percentile(r, 75):.2f}]  "
            f"x copy {np.median(c):.2f}  ns/elem {np.median(s['fa']) / n * 1e9:.3f}"
        )


if __name__ == "__main__":
    main()
