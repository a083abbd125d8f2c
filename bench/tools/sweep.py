"""Every forward and backward kernel of the registry against PyTorch, at several sizes.

    python bench/tools/sweep.py --sizes 2^16,2^20,2^24 --dtypes float32,float64 \\
        --threads 1 --json bench/results/sweep-DATE.json --md bench/results/sweep-DATE.md
    python bench/tools/sweep.py --from-json bench/results/sweep-DATE.json   # the table again

For each operation of :data:`fastact.registry.OPS` (by its benchmark case in
:func:`fastact.bench_cases.cases`), each size and dtype: the stream over the same
bytes (copy, or ``a + b`` for 2-in-1-out kernels), PyTorch's ATen kernel and the
fastact backends are timed by :func:`fastact.timing.measure` (interleaved rounds,
an untimed warm-up call before each timed block, compile time never timed). Each
ratio is formed per round and given as the median with its bootstrap 95% interval
(:func:`fastact.timing.summarize`):

* ``vs torch``: PyTorch's time over fastact's (higher is faster; below 1 is behind);
* ``x stream``: fastact's time over the stream's (1.00 is the memory-bandwidth limit).

A row is *behind* when the upper end of the interval of ``vs torch`` is below 1
(clearly slower), *behind?* when only the median is. What bounds such a row is read
off ``x stream``: near 1 the kernel already moves its bytes at stream speed (bounded
by memory traffic: PyTorch moves fewer bytes or uses the cache better), well above 1
it is bounded by compute. The JSON keeps every per-round sample and the machine
(load, threads, library versions).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import fastact
from fastact import bench, registry, timing
from fastact.bench_cases import cases


def _size(s: str) -> int:
    s = s.strip()
    if "^" in s:
        b, e = s.split("^")
        return int(b) ** int(e)
    return int(s)


def _summ(num: list[float], den: list[float]) -> dict[str, float]:
    return timing.summarize(timing.ratios(num, den))


def bench_names(ops: str | None) -> list[str]:
    """The benchmark cases of the registry's operations, in registry order."""
    have = cases()
    names: list[str] = []
    for info in registry.OPS:
        if info.bench in have and info.bench not in names:
            names.append(info.bench)
    if ops:
        want = ops.split(",")
        unknown = [o for o in want if o not in have]
        if unknown:
            raise SystemExit(f"unknown operation(s): {', '.join(unknown)}")
        names = want
    return names


def measure_row(case: Any, n: int, dtype: np.dtype, backends: list[str], rounds: int,
                min_time: float) -> dict[str, Any]:  # fmt: skip
    d = case.setup(n, dtype, 0)
    calls: dict[str, Any] = {"stream": bench.stream_call(case.stream, d)}
    if case.torch is not None:
        calls["torch"] = lambda: case.torch(d)
    for b in backends:
        calls[b] = lambda b=b: case.run(d, b)
    s = timing.measure(calls, rounds=rounds, min_time=min_time)
    row: dict[str, Any] = {"op": case.name, "dtype": dtype.name, "n": n, "samples": s}
    for b in backends:
        row[f"{b}_x_stream"] = _summ(s[b], s["stream"])
        if "torch" in s:
            row[f"{b}_vs_torch"] = _summ(s["torch"], s[b])
    if "cython" in s and "numba" in s:
        row["cython_over_numba"] = _summ(s["cython"], s["numba"])
    return row


def _fmt(v: dict[str, float] | None, suffix: str = "") -> str:
    if v is None:
        return "-"
    return f"{v['median']:.2f}{suffix} [{v['ci_lo']:.2f}-{v['ci_hi']:.2f}]"


def verdict(v: dict[str, float] | None) -> str:
    if v is None:
        return ""
    if v["ci_hi"] < 1.0:
        return "behind"
    if v["median"] < 1.0:
        return "behind?"
    return ""


def markdown(result: dict[str, Any]) -> str:
    bks = result["backends"]
    both = "numba" in bks and "cython" in bks
    out = [
        f"{result['describe']}; {result['rounds']} interleaved rounds; "
        "median [bootstrap 95% interval] of per-round ratios",
        "",
        "| op | dtype | n | "
        + " | ".join(f"{b} vs torch | {b} x stream" for b in bks)
        + (" | cython / numba time" if both else "")
        + " | behind |",
        "|---|---|---|" + "---|---|" * len(bks) + ("---|" if both else "") + "---|",
    ]
    for r in result["rows"]:
        cells = []
        flags = []
        for b in bks:
            vt = r.get(f"{b}_vs_torch")
            cells += [_fmt(vt, "x"), _fmt(r.get(f"{b}_x_stream"))]
            if verdict(vt):
                flags.append(f"{b}: {verdict(vt)}")
        if both:
            cells.append(_fmt(r.get("cython_over_numba")))
        out.append(f"| {r['op']} | {r['dtype']} | {r['n']} | " + " | ".join(cells)
                   + f" | {'; '.join(flags)} |")  # fmt: skip
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", default=None, help="comma-separated case names (default: all)")
    ap.add_argument("--sizes", default="2^16,2^20,2^24")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--backends", default="numba,cython")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.02)
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    ap.add_argument("--from-json", default=None, help="write the markdown of a saved run")
    args = ap.parse_args(argv)
    if args.from_json:
        md = markdown(json.loads(Path(args.from_json).read_text()))
        if args.md:
            Path(args.md).write_text(md)
        print(md)
        return
    fastact.set_num_threads(args.threads)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    backends = [b for b in args.backends.split(",") if b in fastact.available_backends()]
    names = bench_names(args.ops)
    all_cases = cases()
    sizes = [_size(s) for s in args.sizes.split(",")]
    dtypes = [np.dtype(s) for s in args.dtypes.split(",")]
    info = bench.machine()
    result: dict[str, Any] = {
        "command": " ".join(["python", "bench/tools/sweep.py", *(argv or sys.argv[1:])]),
        "machine": info,
        "describe": bench.describe(info).lstrip("# "),
        "backends": backends,
        "rounds": args.rounds,
        "min_time": args.min_time,
        "rows": [],
    }
    t0 = time.perf_counter()
    for name in names:
        for dt in dtypes:
            for n in sizes:
                row = measure_row(all_cases[name], n, dt, backends, args.rounds, args.min_time)
                result["rows"].append(row)
                print(markdown({**result, "rows": [row]}).splitlines()[-1], flush=True)
    info_after = bench.machine()
    result["load_after"] = info_after.get("load_avg")
    result["seconds"] = round(time.perf_counter() - t0, 1)
    md = markdown(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if args.md:
        Path(args.md).write_text(md)
    print(md)


if __name__ == "__main__":
    main()
