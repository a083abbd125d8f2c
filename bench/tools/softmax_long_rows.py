"""Softmax and log_softmax of a few long rows (a language model's vocabulary at small
batch) against PyTorch.

The benchmark cases time rows of 4096 classes. With fewer rows than threads and
rows of 2^15 classes or more, the Numba backend splits each row across the threads
(``softmax_split``); this script times that shape (and, by default, 8 such rows,
which run row-parallel at 2 threads, for comparison): fastact's numba and cython
backends and ATen's ``_softmax`` / ``_log_softmax``, through :func:`fastact.timing.measure`
(every contender warmed, rounds interleaved). It prints PyTorch's time over fastact's
(above 1: fastact is faster), median [bootstrap 95% interval] over the rounds, and
NOISY where the interquartile range of the ratio exceeds 20% of its median.

    python bench/tools/softmax_long_rows.py [--shapes 1x131072,1x50257,8x50257] [--threads 2]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import fastact
from fastact.timing import measure, ratios, summarize


def _calls(x: np.ndarray) -> dict:
    """(op, contender) -> a call writing into a preallocated output."""
    A = torch.ops.aten
    out = np.empty_like(x)
    tx, to = torch.from_numpy(x), torch.from_numpy(np.empty_like(x))
    calls = {}
    for op, aten in (("softmax", A._softmax), ("log_softmax", A._log_softmax)):
        calls[op, "torch"] = lambda aten=aten: aten.out(tx, -1, False, out=to)
        for be in ("numba", "cython"):
            calls[op, be] = lambda op=op, be=be: getattr(fastact, op)(x, out=out, backend=be)
    return calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="1x131072,1x50257,8x50257")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--min-time", type=float, default=0.02)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    fastact.set_num_threads(a.threads)
    print(f"{a.threads} threads, {a.rounds} rounds: PyTorch time / fastact time, "
          "median [bootstrap 95% interval]")
    for shape in (tuple(int(v) for v in s.split("x")) for s in a.shapes.split(",")):
        for dt in a.dtypes.split(","):
            x = np.random.default_rng(0).normal(0, 3, shape).astype(dt)
            t = measure(_calls(x), rounds=a.rounds, min_time=a.min_time)
            for op in ("softmax", "log_softmax"):
                cols = []
                for be in ("numba", "cython"):
                    s = summarize(ratios(t[op, "torch"], t[op, be]))
                    noisy = " NOISY" if s["rel_iqr"] > 0.2 else ""
                    cols.append(
                        f"{be} {s['median']:.2f}x [{s['ci_lo']:.2f}-{s['ci_hi']:.2f}]{noisy}"
                    )
                print(f"  {'x'.join(map(str, shape)):>9s} {dt:7s} {op:11s} " + "  ".join(cols))


if __name__ == "__main__":
    main()
