"""PReLU over the channel axis of an (N, C, H, W) array against PyTorch.

The benchmark cases (``fastact bench``, ``bench/tools/sweep.py``) time PReLU on
(rows, C) arrays, where each channel is one element of a row; convolutional
networks put the channel before the spatial axes, where each channel is a run of
H * W elements. This script times that layout: fastact's numba and cython backends
and ATen's ``_prelu_kernel`` / ``_prelu_kernel_backward`` (the weight gradient is
reduced, as autograd does), each warmed before timing and interleaved round by
round. It prints PyTorch's time over fastact's (above 1: fastact is faster), the
median and the range over the rounds.

    python bench/tools/prelu_nchw.py [--shape 16,64,32,32] [--threads 2] [--rounds 7]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import fastact


def _median_call(f, calls: int) -> float:
    for _ in range(3):
        f()
    ts = []
    for _ in range(calls):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def _contenders(rng: np.random.Generator, shape: tuple[int, ...], dt: type) -> dict:
    """(pass, contender) -> a call: PyTorch's ATen kernels and fastact's two backends."""
    C = shape[1]
    A = torch.ops.aten
    x = rng.normal(0, 3, shape).astype(dt)
    g = rng.normal(size=shape).astype(dt)
    w = rng.uniform(0.05, 0.5, C).astype(dt)
    out = np.empty_like(x)
    tx, tg = torch.from_numpy(x), torch.from_numpy(g)
    tw = torch.from_numpy(w).reshape(1, C, *([1] * (len(shape) - 2)))
    dims = [0, *range(2, len(shape))]

    def t_backward():  # the weight gradient reduced over the batch and spatial axes
        gi, gw = A._prelu_kernel_backward(tg, tx, tw)
        return gi, gw.sum(dims)

    fns = {("forward", "torch"): lambda: A._prelu_kernel(tx, tw), ("backward", "torch"): t_backward}
    for be in ("numba", "cython"):
        fns["forward", be] = lambda be=be: fastact.prelu(x, w, axis=1, out=out, backend=be)
        fns["backward", be] = lambda be=be: fastact.prelu_backward(
            g, x, w, axis=1, out=out, backend=be)  # fmt: skip
    return fns


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="16,64,32,32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=30)
    a = ap.parse_args()
    shape = tuple(int(v) for v in a.shape.split(","))
    torch.set_num_threads(a.threads)
    fastact.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    print(f"prelu over axis 1 of {shape}, {a.threads} threads, {a.rounds} rounds of "
          f"{a.calls} calls: PyTorch time / fastact time, median [min-max] over rounds")
    for dt in (np.float32, np.float64):
        fns = _contenders(rng, shape, dt)
        for f in fns.values():  # compile and warm every contender first
            for _ in range(10):
                f()
        times: dict[tuple[str, str], list[float]] = {k: [] for k in fns}
        for _ in range(a.rounds):
            for k, f in fns.items():
                times[k].append(_median_call(f, a.calls))
        for d in ("forward", "backward"):
            for be in ("numba", "cython"):
                r = np.array(times[d, "torch"]) / np.array(times[d, be])
                print(f"  {np.dtype(dt).name} {d:8s} {be:6s}: {np.median(r):6.2f}x "
                      f"[{r.min():.2f}-{r.max():.2f}]")


if __name__ == "__main__":
    main()
