"""Speed ratios against PyTorch and a stream, as medians with intervals over interleaved rounds.

    python bench/tools/speed_ratio.py --ops gelu,gelu_backward --sizes 65536,1048576,16777216

For each (op, size): every contender (fastact's numba and cython backends, PyTorch's
ATen kernel, the parallel stream over the same bytes: copy for 1-in-1-out, add for
2-in-1-out) is warmed, then timed in ``--rounds`` interleaved rounds (each round
times every contender once, about ``--min-time`` seconds each, in a rotated order).
A ratio is formed within each round, so that load from other tenants of a shared
machine lands on both sides; the report gives the median ratio and the 10-90%
interval over rounds. "vs torch" is PyTorch's time over fastact's (higher is
faster); "x stream" is fastact's time over the stream's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastact
from fastact import bench


def _per_call(f, number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        f()
    return (time.perf_counter() - t0) / number


def measure(calls: dict, rounds: int, min_time: float) -> dict[str, np.ndarray]:
    numbers = {}
    for k, f in calls.items():
        f()
        f()
        t = _per_call(f, 1)
        numbers[k] = max(1, int(min_time / max(t, 1e-7)))
    keys = list(calls)
    out = {k: np.empty(rounds) for k in keys}
    for r in range(rounds):
        order = keys[r % len(keys) :] + keys[: r % len(keys)]
        for k in order:
            out[k][r] = _per_call(calls[k], numbers[k])
    return out


def _fmt(v: np.ndarray) -> str:
    lo, med, hi = np.percentile(v, [10, 50, 90])
    return f"{med:5.2f}x [{lo:.2f}, {hi:.2f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", default="gelu,gelu_backward")
    ap.add_argument("--sizes", default="65536,1048576,16777216")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backends", default="numba,cython")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--min-time", type=float, default=0.03)
    args = ap.parse_args()
    fastact.set_num_threads(args.threads)
    torch = bench._torch()
    torch.set_num_threads(args.threads)
    cases = bench.cases()
    backends = args.backends.split(",")
    print(f"# {bench.describe(bench.machine())}; {args.rounds} interleaved rounds, "
          "median [10%, 90%] of per-round ratios")  # fmt: skip
    hdr = "| op | n |" + "".join(f" {b} vs torch | {b} x stream |" for b in backends)
    if "cython" in backends and "numba" in backends:
        hdr += " cython / numba time |"
    print(hdr)
    print("|---|---|" + "---|---|" * len(backends) + ("---|" if "cython" in backends else ""))
    for op in args.ops.split(","):
        case = cases[op]
        for n in (int(eval(s.replace("^", "**"))) for s in args.sizes.split(",")):
            d = case.setup(n, np.dtype(args.dtype), 0)
            calls = {
                "stream": bench.stream_call(case.stream, d),
                "torch": lambda d=d, c=case: c.torch(d),
            }
            for b in backends:
                calls[b] = lambda d=d, b=b, c=case: c.run(d, b)
            t = measure(calls, args.rounds, args.min_time)
            row = f"| {op} | {n} |"
            for b in backends:
                row += f" {_fmt(t['torch'] / t[b])} | {_fmt(t[b] / t['stream'])} |"
            if "cython" in backends and "numba" in backends:
                row += f" {_fmt(t['cython'] / t['numba'])} |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
