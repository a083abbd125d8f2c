"""``fastact bench``: fastact against NumPy and PyTorch (and CPU against CUDA).

For every operation it times fastact (each requested backend), PyTorch and NumPy
as users write it on the same arrays, and a plain stream over the same bytes (a
parallel copy for 1-in-1-out operations, ``out = a + b`` for 2-in-1-out ones), all
in the same interleaved rounds (:mod:`fastact.timing`: each contender warmed up
right before its timed block, compile time never timed). Every ratio is computed
per round and printed as the median with its interquartile range; a row whose
range is wider than ``--noise`` of the median is re-measured up to ``--budget``
seconds, then marked noisy.

The cases (:mod:`fastact.bench_cases`) are generated from the activation table,
so a new activation is benchmarked without touching this file. The same cases
drive the asv suite in ``bench/`` and ``tests/test_benchmarks.py``.

Run ``fastact bench --help`` (or ``python -m fastact.bench``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

import fastact
from fastact import bench_cases, timing
from fastact.bench_cases import GROUPS, Case, cases

__all__ = [
    "GROUPS",
    "LEGEND",
    "QUICK_OPS",
    "Case",
    "cases",
    "describe",
    "format_table",
    "machine",
    "main",
    "measure_row",
    "run",
    "time_call",
    "time_interleaved",
]

# --------------------------------------------------------------------------- #
# Timing (one loop: fastact.timing.measure)                                   #
# --------------------------------------------------------------------------- #


def time_call(f: Callable[[], Any], min_time: float = 0.05, repeat: int = 7) -> float:
    """Median seconds per call over ``repeat`` rounds (:func:`fastact.timing.measure`)."""
    return timing.median_time(f, None, min_time, repeat)


def time_interleaved(
    calls: Mapping[str, Callable[[], Any]], min_time: float = 0.05, repeat: int = 7
) -> dict[str, float]:
    """Median seconds per call of several callables timed in interleaved rounds."""
    samples = timing.measure(calls, repeat, min_time)
    return {k: float(np.median(v)) for k, v in samples.items()}


def stream_call(kind: str, d: dict[str, Any]) -> Callable[[], None]:
    """A parallel copy (1 in, 1 out) or add (2 in, 1 out) over the case's arrays."""
    from fastact import _numba_setup

    _numba_setup.configure()
    from fastact.kernels import numba_stream as ks

    x = d["x"].reshape(-1)
    out = d["out"].reshape(-1)
    if x.dtype == np.float16:
        x = x.view(np.int16)
        out = out.view(np.int16)
    if kind == "copy":
        return lambda: ks.copy(x, out)
    g = d["g"].reshape(-1)
    if g.dtype == np.float16:
        g = g.view(np.int16)
    return lambda: ks.add(x, g, out)


def nbytes(case: Case, d: dict[str, Any]) -> int:
    """Bytes read and written by one call (the stream's traffic unless the case says)."""
    if case.traffic is not None:
        return case.traffic(d)
    n = d["x"].nbytes
    return 2 * n if case.stream == "copy" else 3 * n


# --------------------------------------------------------------------------- #
# The machine                                                                 #
# --------------------------------------------------------------------------- #


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def _threads() -> dict[str, Any]:
    """Thread counts of every library that runs parallel code in a benchmark."""
    t: dict[str, Any] = {"fastact (numba and cython/OpenMP)": fastact.get_num_threads()}
    try:
        import numba

        t["numba"] = numba.get_num_threads()
        t["numba_max"] = getattr(numba.config, "NUMBA_NUM_THREADS", None)
        try:
            t["numba_threading_layer"] = numba.threading_layer()
        except ValueError:  # no parallel kernel has run yet
            t["numba_threading_layer"] = "not initialised yet"
    except ImportError:
        pass
    torch = bench_cases._torch()
    if torch is not None:
        t["torch"] = torch.get_num_threads()
        t["torch_interop"] = torch.get_num_interop_threads()
    try:
        from threadpoolctl import threadpool_info

        t["threadpoolctl"] = [
            {k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "prefix")}
            for p in threadpool_info()
        ]
    except ImportError:
        pass
    env = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
           "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER")  # fmt: skip
    t["env"] = {k: os.environ[k] for k in env if k in os.environ}
    return t


def machine() -> dict[str, Any]:
    """The machine, its load, and the versions and thread counts of every library."""
    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "threads": fastact.get_num_threads(),
        "numpy": np.__version__,
        "fastact": fastact.__version__,
    }
    cpuinfo = _read("/proc/cpuinfo") or ""
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            info["cpu"] = line.split(":", 1)[1].strip()
            break
    gov = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    info["governor"] = gov if gov is not None else "not readable"
    with contextlib.suppress(OSError):
        info["load_avg"] = [round(v, 2) for v in os.getloadavg()]
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:
        pass
    torch = bench_cases._torch()
    if torch is not None:
        info["torch"] = torch.__version__
    info["thread_counts"] = _threads()
    return info


def describe(info: dict[str, Any]) -> str:
    """One line naming the machine, its load and the library versions."""
    load = info.get("load_avg")
    return (
        f"# fastact bench on {info.get('cpu', info['processor'])}, {info['threads']} threads, "
        f"numba {info.get('numba', '-')}, torch {info.get('torch', '-')}, numpy {info['numpy']}"
        + (f", load {load[0]:.2f}" if load else "")
    )


# --------------------------------------------------------------------------- #
# Measuring one row                                                           #
# --------------------------------------------------------------------------- #


def _bind(f: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """``f`` with its arguments fixed now (not at call time)."""
    return lambda: f(*args)


def _ratio_keys(calls: Mapping[str, Any], backends: list[str]) -> list[tuple[str, str]]:
    """(numerator, denominator) pairs of every ratio a row reports.

    ``torch/numba`` is PyTorch's time over fastact-numba's (its speed-up);
    ``numba/stream`` is numba's time in units of the stream's.
    """
    impls = [b for b in backends if b in calls]
    main = impls[0]
    keys = [(main, "stream")] + [(b, main) for b in impls[1:]]
    for base in ("torch", "numpy_user"):
        if base in calls:
            keys += [(base, i) for i in [*impls, "stream"]]
    if "cuda" in calls:
        keys += [(main, "cuda"), ("cuda", "cuda_copy")]
        if "torch_cuda" in calls:
            keys.append(("torch_cuda", "cuda"))
    return keys


def _judged(keys: list[tuple[str, str]], backends: list[str]) -> list[tuple[str, str]]:
    """The ratios the table prints: the ones a row is judged noisy by."""
    main = backends[0]
    return [(a, b) for a, b in keys if main in (a, b) or (a, b) in (("torch_cuda", "cuda"),)]


def _summarise(
    row: dict[str, Any], samples: dict[str, list[float]], keys: list[tuple[str, str]]
) -> None:
    row["rounds"] = len(next(iter(samples.values())))
    row["samples"] = {k: [float(t) for t in v] for k, v in samples.items()}
    row["times"] = {k: timing.summarize(v) for k, v in samples.items()}
    for k, v in samples.items():
        row[f"t_{k}"] = float(np.median(v))
    row["ratios"] = {
        f"{a}/{b}": timing.summarize(timing.ratios(samples[a], samples[b])) for a, b in keys
    }


def measure_row(
    case: Case,
    n: int,
    dtype: str,
    backends: list[str],
    min_time: float = 0.02,
    rounds: int = 7,
    baselines: bool = True,
    noise: float = 0.10,
    budget: float = 5.0,
) -> dict[str, Any]:
    """Time one (operation, dtype, size) row: every contender in the same rounds.

    After the first ``rounds`` rounds, while the widest interquartile range of the
    printed ratios exceeds ``noise`` times its median and less than ``budget``
    seconds went into re-measuring, ``rounds`` more rounds are added. A row still
    that wide is marked ``noisy``.
    """
    d = case.setup(n, np.dtype(dtype), 0)
    calls: dict[str, Callable[[], Any]] = {"stream": stream_call(case.stream, d)}
    sync: dict[str, Callable[[], Any]] = {}
    for be in backends:
        if be != "cuda":
            calls[be] = _bind(case.run, d, be)
    if baselines and case.torch is not None:
        calls["torch"] = _bind(case.torch, d)
    if baselines and case.numpy is not None:
        calls["numpy_user"] = _bind(case.numpy, d)
    if "cuda" in backends:
        from fastact import cuda_bench

        c_calls, c_sync = cuda_bench.cuda_calls(case, d, baselines)
        calls.update(c_calls)
        sync.update(c_sync)
    cpu_backends = [b for b in backends if b != "cuda"] or ["cuda"]
    keys = _ratio_keys(calls, cpu_backends)
    judged = _judged(keys, cpu_backends)
    row: dict[str, Any] = {
        "op": case.name,
        "group": case.group,
        "dtype": dtype,
        "n": int(d["x"].size),
        "bytes": nbytes(case, d),
        "stream": case.stream,
    }
    numbers = timing.calibrate(calls, min_time, sync)
    samples = timing.measure(calls, rounds, min_time, sync=sync, numbers=numbers)
    _summarise(row, samples, keys)
    spent = 0.0
    while _spread(row, judged) > noise and spent < budget:
        t0 = time.perf_counter()
        more = timing.measure(calls, rounds, min_time, sync=sync, numbers=numbers)
        for k, v in more.items():
            samples[k].extend(v)
        _summarise(row, samples, keys)
        spent += time.perf_counter() - t0
    row["spread"] = _spread(row, judged)
    row["noisy"] = bool(row["spread"] > noise)
    row["remeasure_s"] = round(spent, 3)
    return row


def _spread(row: dict[str, Any], judged: list[tuple[str, str]]) -> float:
    """The widest relative interquartile range among the printed ratios."""
    return max((row["ratios"][f"{a}/{b}"]["rel_iqr"] for a, b in judged), default=0.0)


# --------------------------------------------------------------------------- #
# Output: table rows, streamed as they finish, and progress                   #
# --------------------------------------------------------------------------- #


def _fmt_t(t: float) -> str:
    return f"{t * 1e3:.3f}" if t >= 1e-4 else f"{t * 1e3:.4f}"


def _fmt_ratio(s: dict[str, float] | None, suffix: str = "x") -> str:
    """``1.02x [0.98-1.05]``: the median and the interquartile range."""
    if s is None:
        return "-"
    return f"{s['median']:.2f}{suffix} [{s['q25']:.2f}-{s['q75']:.2f}]"


class Columns:
    """The table's columns, fixed before the first row so rows can stream."""

    def __init__(
        self, backends: list[str], baselines: bool, cuda: bool, ops: list[str], markdown: bool
    ) -> None:
        self.main = backends[0]
        self.extra = backends[1:]
        self.baselines = baselines
        self.cuda = cuda
        self.markdown = markdown
        head = ["op", "dtype", "n", f"{self.main} ms", "GB/s", "x stream"]
        head += [f"vs {b}" for b in self.extra]
        if baselines:
            head += ["vs NumPy", "vs PyTorch"]
        if cuda:
            head += ["cuda ms", "CPU/CUDA", "vs torch CUDA"]
        head.append("spread")
        self.head = head
        width = {"op": max([2, *map(len, ops)]) + 2, "dtype": 7, "n": 9, "GB/s": 6}
        self.widths = [max(len(h), width.get(h, 18)) for h in head]

    def cells(self, r: dict[str, Any]) -> list[str]:
        m = self.main
        rt = r["ratios"]
        t = r[f"t_{m}"]
        line = [r["op"], r["dtype"], str(r["n"]), _fmt_t(t), f"{r['bytes'] / t / 1e9:.1f}"]
        line.append(_fmt_ratio(rt.get(f"{m}/stream"), ""))
        line += [_fmt_ratio(rt.get(f"{b}/{m}")) for b in self.extra]
        if self.baselines:
            line += [_fmt_ratio(rt.get(f"numpy_user/{m}")), _fmt_ratio(rt.get(f"torch/{m}"))]
        if self.cuda:
            tc = r.get("t_cuda")
            line.append(_fmt_t(tc) if tc else "-")
            line += [_fmt_ratio(rt.get(f"{m}/cuda")), _fmt_ratio(rt.get("torch_cuda/cuda"))]
        line.append(f"{100 * r['spread']:.0f}%" + (" NOISY" if r["noisy"] else ""))
        return line

    def header(self) -> str:
        if self.markdown:
            return "| " + " | ".join(self.head) + " |\n|" + "---|" * len(self.head)
        return self._fixed(self.head)

    def line(self, r: dict[str, Any]) -> str:
        c = self.cells(r)
        return "| " + " | ".join(c) + " |" if self.markdown else self._fixed(c)

    def _fixed(self, cells: list[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, self.widths, strict=True))


def table_rows(
    rows: list[dict[str, Any]], backends: list[str]
) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the table of finished rows."""
    cols = _columns_for(rows, backends, False)
    return cols.head, [cols.cells(r) for r in rows]


def _columns_for(rows: list[dict[str, Any]], backends: list[str], markdown: bool) -> Columns:
    cpu = [b for b in backends if b != "cuda" and rows and f"t_{b}" in rows[0]] or backends[:1]
    baselines = any("t_torch" in r or "t_numpy_user" in r for r in rows)
    cuda = any("t_cuda" in r for r in rows)
    return Columns(cpu, baselines, cuda, [r["op"] for r in rows], markdown)


def format_table(rows: list[dict[str, Any]], backends: list[str], markdown: bool = False) -> str:
    cols = _columns_for(rows, backends, markdown)
    return "\n".join([cols.header()] + [cols.line(r) for r in rows])


LEGEND = (
    "Each figure is the median over interleaved rounds and, in brackets, its interquartile "
    "range (25th-75th percentile of the per-round values). x stream: time / time of a "
    "parallel stream over the same bytes (copy for 1-in-1-out, a + b for 2-in-1-out); "
    "vs X: X's time / fastact's time in the same round (higher means fastact is faster, "
    "1.00x means equal). spread: the widest interquartile range relative to its median; "
    "NOISY: still wider than the --noise fraction after re-measuring."
)


BAR = "{l_bar}{bar}| {n}/{total} rows [{elapsed} elapsed, ETA {remaining}]"


class Progress:
    """A bar with elapsed time and ETA in a terminal (tqdm); otherwise one line per
    finished row on stderr (CI logs). Table rows go to stdout as they finish."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total = total
        self.done = 0
        self.t0 = time.perf_counter()
        self.bar = None
        self.enabled = enabled
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                size = shutil.get_terminal_size((0, 0))
                sized = size.columns > 0 and size.lines > 0  # a pty may report 0 x 0
                self.bar = tqdm(
                    total=total, unit="row", file=sys.stderr, dynamic_ncols=sized,
                    ncols=None if sized else 100, nrows=None if sized else 40,
                    bar_format=BAR,
                )  # fmt: skip
            except ImportError:  # pragma: no cover - tqdm is in the bench extra
                self.bar = None

    def start(self, label: str) -> None:
        if self.bar is not None:
            self.bar.set_description(label)

    def emit(self, text: str) -> None:
        """A line of the table on stdout (above the bar in a terminal)."""
        if self.bar is not None:
            self.bar.write(text, file=sys.stdout)
        else:
            print(text, flush=True)

    def finish(self, label: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            return
        if not self.enabled:
            return
        el = time.perf_counter() - self.t0
        eta = el / self.done * (self.total - self.done)
        print(
            f"[{self.done}/{self.total}] {label} done; elapsed {el:.0f} s, ETA {eta:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(
    ops: list[str],
    sizes: list[int],
    dtypes: list[str],
    backends: list[str],
    min_time: float = 0.02,
    repeat: int = 7,
    baselines: bool = True,
    noise: float = 0.10,
    budget: float = 5.0,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Time every combination; one result row per (op, dtype, size), in that order.

    ``on_row`` is called with each row as it finishes.
    """
    all_cases = cases()
    torch = bench_cases._torch()
    if torch is not None:
        torch.set_num_threads(fastact.get_num_threads())
    rows = []
    for op in ops:
        for dt in dtypes:
            for n in sizes:
                label = f"{op} {dt} {n}"
                if progress is not None:
                    progress.start(label)
                row = measure_row(
                    all_cases[op], n, dt, backends, min_time, repeat, baselines, noise, budget
                )
                rows.append(row)
                if on_row is not None:
                    on_row(row)
                if progress is not None:
                    progress.finish(label)
    return rows


# --------------------------------------------------------------------------- #
# Command line                                                                #
# --------------------------------------------------------------------------- #

QUICK_OPS = [
    "relu", "sigmoid", "tanh", "gelu", "silu", "mish",
    "gelu_backward", "silu_backward", "softmax", "softmax_backward", "cross_entropy",
]  # fmt: skip


def _parse_sizes(s: str) -> list[int]:
    out = []
    for part in s.split(","):
        part = part.strip().lower()
        if part.startswith("2^"):
            out.append(1 << int(part[2:]))
        else:
            out.append(int(float(part)))
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fastact bench",
        description=(__doc__ or "").split("\n\n")[0],
        epilog=LEGEND,
    )
    p.add_argument("--ops", help="comma-separated operations (default: all; 'list' lists them)")
    p.add_argument("--sizes", help="comma-separated element counts, e.g. 2^10,2^20,2^24")
    p.add_argument("--dtypes", default="float32", help="comma-separated: float16,float32,float64")
    p.add_argument("--backends", help="fastact backends to time (default: all available)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--classes", type=int, default=4096, help="row length for row-wise ops")
    p.add_argument(
        "--quick",
        action="store_true",
        help="11 ops at 2^20 elements (under a minute on an idle machine)",
    )
    p.add_argument("--no-baselines", action="store_true", help="skip PyTorch and NumPy")
    p.add_argument("--rounds", type=int, help="interleaved rounds per row (default 11)")
    p.add_argument(
        "--min-time", type=float,
        help="seconds per timed block (default 0.01; 0.005 with --quick)",
    )  # fmt: skip
    p.add_argument(
        "--noise", type=float, default=0.10,
        help="re-measure a row while a ratio's interquartile range exceeds this fraction "
        "of its median (default 0.10)",
    )  # fmt: skip
    p.add_argument(
        "--budget", type=float, default=5.0,
        help="seconds of re-measuring per row before it is marked noisy (default 5)",
    )  # fmt: skip
    p.add_argument("--json", metavar="PATH", help="write every sample, figure and the machine")
    p.add_argument(
        "--plot", metavar="PATH",
        help="PNG(s) of the speed-ups over PyTorch and NumPy; one per group (PATH-<group>.png) "
        "when the run spans several groups",
    )  # fmt: skip
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or lines")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    a = p.parse_args(argv)

    all_cases = cases()
    if a.ops == "list":
        for name, c in all_cases.items():
            print(f"{name:34s} {c.group}")
        return 0
    if a.ops:
        ops = [o.strip() for o in a.ops.split(",") if o.strip()]
        unknown = [o for o in ops if o not in all_cases]
        if unknown:
            p.error(f"unknown operation(s) {', '.join(unknown)}; known: {', '.join(all_cases)}")
    else:
        ops = QUICK_OPS if a.quick else list(all_cases)
    sizes = (
        _parse_sizes(a.sizes)
        if a.sizes
        else ([1 << 20] if a.quick else [1 << 12, 1 << 18, 1 << 24])
    )
    dtypes = [d.strip() for d in a.dtypes.split(",")]
    for d in dtypes:
        if d not in ("float16", "float32", "float64"):
            p.error(f"unknown dtype {d!r}; choose float16, float32 or float64")
    avail = fastact.available_backends()
    if a.backends:
        backends = [b.strip() for b in a.backends.split(",")]
        for b in backends:
            if b not in avail:
                p.error(f"backend {b!r} is not available here (available: {', '.join(avail)})")
    else:
        backends = [b for b in avail if b != "numpy"] or ["numpy"]
        if "cuda" in backends and os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
            backends.remove("cuda")  # the simulator is for tests, not for timings
    if a.rounds is not None and a.rounds < 2:
        p.error(f"--rounds must be at least 2 (an interval needs rounds), got {a.rounds}")
    if not a.noise > 0:
        p.error(f"--noise must be positive, got {a.noise}")
    if a.threads:
        fastact.set_num_threads(a.threads)
    bench_cases.CLASSES = a.classes
    rounds = a.rounds or 11
    min_time = a.min_time or (0.005 if a.quick else 0.01)
    t0 = time.perf_counter()
    info = machine()
    print(describe(info), flush=True)
    cpu = [b for b in backends if b != "cuda"] or backends
    cols = Columns(cpu, not a.no_baselines, "cuda" in backends, ops, a.markdown)
    prog = Progress(len(ops) * len(sizes) * len(dtypes), enabled=not a.no_progress)
    prog.emit(cols.header())
    try:
        rows = run(
            ops, sizes, dtypes, backends, min_time, rounds, not a.no_baselines,
            a.noise, a.budget, on_row=lambda r: prog.emit(cols.line(r)), progress=prog,
        )  # fmt: skip
    finally:
        prog.close()
    info["thread_counts_after"] = _threads()  # the threading layer is known by now
    with contextlib.suppress(OSError):
        info["load_avg_after"] = [round(v, 2) for v in os.getloadavg()]
    print(LEGEND)
    noisy = [f"{r['op']} {r['dtype']} {r['n']}" for r in rows if r["noisy"]]
    print(f"{len(noisy)} of {len(rows)} rows noisy" + (f": {', '.join(noisy)}" if noisy else ""))
    print(f"({time.perf_counter() - t0:.1f} s)")
    settings = {
        "rounds": rounds, "min_time": min_time, "noise": a.noise, "budget": a.budget,
        "interval": "interquartile range of the per-round values",
        "argv": sys.argv[1:] if argv is None else list(argv),
    }  # fmt: skip
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(
                {"machine": info, "settings": settings, "backends": backends, "rows": rows},
                fh,
                indent=1,
            )
        print(f"wrote {a.json}")
    if a.plot:
        from fastact import bench_plot

        for path in bench_plot.plot(rows, info, backends, a.plot):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
