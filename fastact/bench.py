"""``fastact bench``: fastact against NumPy and PyTorch (and CPU against CUDA).

For every operation it times fastact (each requested backend), PyTorch and NumPy
as users write it on the same arrays in the same run, and a plain stream over the
same bytes (a parallel copy for 1-in-1-out operations, ``out = a + b`` for 2-in-
1-out ones), then prints time, GB/s, the share of that stream's bandwidth and the
speed-ups. Compile time is never timed: every callable runs once before timing.

The operation list is generated from the activation table, so a new activation
is benchmarked without touching this file. The same cases drive the asv suite in
``bench/`` and the pytest-benchmark tests.

Run ``fastact bench --help`` (or ``python -m fastact.bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import fastact
from fastact import table

# --------------------------------------------------------------------------- #
# Cases                                                                       #
# --------------------------------------------------------------------------- #


@dataclass
class Case:
    """One benchmarked operation: data factory and the callables to time."""

    name: str
    #: "copy" (1 array in, 1 out) or "add" (2 in, 1 out): the stream it is compared with
    stream: str
    setup: Callable[[int, np.dtype, int], dict[str, Any]]
    run: Callable[[dict[str, Any], str], Any]
    numpy: Callable[[dict[str, Any]], Any] | None = None
    torch: Callable[[dict[str, Any]], Any] | None = None
    group: str = "elementwise"
    tags: tuple[str, ...] = field(default_factory=tuple)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is in the bench extra
        return None
    return torch


def _to_torch(d: dict[str, Any], names: tuple[str, ...]) -> None:
    torch = _torch()
    if torch is None:
        return
    for n in names:
        a = d[n]
        # float16 tensors on the CPU: torch computes many ops natively in half
        d["t_" + n] = torch.from_numpy(a)


_A = None


def _aten():
    global _A
    if _A is None:
        torch = _torch()
        _A = torch.ops.aten if torch is not None else False
    return _A


def _torch_fwd(e: table.Elementwise, a: float, b: float) -> Callable[[dict], Any] | None:
    """PyTorch forward with a preallocated output where ATen has an ``out`` overload."""
    A = _aten()
    if not A:
        return None
    F = _torch().nn.functional
    p = [v for v in (a, b)][: len(e.params)]
    direct: dict[str, Callable[[dict], Any]] = {
        "identity": lambda d: d["t_out"].copy_(d["t_x"]),
        "sigmoid": lambda d: A.sigmoid.out(d["t_x"], out=d["t_out"]),
        "tanh": lambda d: A.tanh.out(d["t_x"], out=d["t_out"]),
        "hardtanh": lambda d: A.hardtanh.out(d["t_x"], a, b, out=d["t_out"]),
        "relu6": lambda d: A.hardtanh.out(d["t_x"], 0.0, 6.0, out=d["t_out"]),
        "relu": lambda d: A.clamp_min.out(d["t_x"], 0.0, out=d["t_out"]),
        "leaky_relu": lambda d: A.leaky_relu.out(d["t_x"], a, out=d["t_out"]),
        "elu": lambda d: A.elu.out(d["t_x"], a, 1.0, 1.0, out=d["t_out"]),
        "selu": lambda d: A.elu.out(
            d["t_x"], table.SELU_ALPHA, table.SELU_SCALE, 1.0, out=d["t_out"]
        ),
        "celu": lambda d: A.elu.out(d["t_x"], a, 1.0, 1.0 / a, out=d["t_out"]),
        "softplus": lambda d: A.softplus.out(d["t_x"], a, b, out=d["t_out"]),
        "silu": lambda d: A.silu.out(d["t_x"], out=d["t_out"]),
        "gelu": lambda d: A.gelu.out(d["t_x"], approximate="tanh" if a else "none", out=d["t_out"]),
        "mish": lambda d: A.mish.out(d["t_x"], out=d["t_out"]),
        "hardsigmoid": lambda d: A.hardsigmoid.out(d["t_x"], out=d["t_out"]),
        "hardswish": lambda d: A.hardswish.out(d["t_x"], out=d["t_out"]),
    }
    if e.name in direct:
        return direct[e.name]
    user = [e.params[i].default if e.params[i].choices else p[i] for i in range(len(p))]
    return lambda d: e.torch(F, d["t_x"], *user)


def _torch_bwd(e: table.Elementwise, a: float, b: float) -> Callable[[dict], Any] | None:
    """PyTorch's ATen backward kernel (``grad_input=`` preallocated where it exists)."""
    A = _aten()
    if not A:
        return None
    g = "t_g"
    direct: dict[str, Callable[[dict], Any]] = {
        "sigmoid": lambda d: A.sigmoid_backward.grad_input(d[g], d["t_y"], grad_input=d["t_out"]),
        "tanh": lambda d: A.tanh_backward.grad_input(d[g], d["t_y"], grad_input=d["t_out"]),
        "relu": lambda d: A.threshold_backward.grad_input(
            d[g], d["t_x"], 0.0, grad_input=d["t_out"]
        ),
        "hardtanh": lambda d: A.hardtanh_backward.grad_input(
            d[g], d["t_x"], a, b, grad_input=d["t_out"]
        ),
        "leaky_relu": lambda d: A.leaky_relu_backward.grad_input(
            d[g], d["t_x"], a, False, grad_input=d["t_out"]
        ),
        "elu": lambda d: A.elu_backward.grad_input(
            d[g], a, 1.0, 1.0, False, d["t_x"], grad_input=d["t_out"]
        ),
        "softplus": lambda d: A.softplus_backward.grad_input(
            d[g], d["t_x"], a, b, grad_input=d["t_out"]
        ),
        "silu": lambda d: A.silu_backward.grad_input(d[g], d["t_x"], grad_input=d["t_out"]),
        "gelu": lambda d: A.gelu_backward.grad_input(
            d[g], d["t_x"], approximate="tanh" if a else "none", grad_input=d["t_out"]
        ),
        "mish": lambda d: A.mish_backward(d[g], d["t_x"]),
        "hardsigmoid": lambda d: A.hardsigmoid_backward.grad_input(
            d[g], d["t_x"], grad_input=d["t_out"]
        ),
        "hardswish": lambda d: A.hardswish_backward.out(d[g], d["t_x"], out=d["t_out"]),
    }
    if e.name in direct:
        return direct[e.name]
    torch = _torch()
    F = torch.nn.functional
    user = [p.default for p in e.params]

    def autograd(d: dict) -> Any:  # no ATen backward: autograd, forward included
        t = d["t_x"].detach().requires_grad_(True)
        return torch.autograd.grad(e.torch(F, t, *user), t, d[g])

    return autograd


def _elementwise_cases() -> list[Case]:
    cases = []
    for e in table.ENTRIES:
        a, b = e.encode(())
        params = tuple(p.default for p in e.params)

        def setup(n, dtype, seed, e=e, a=a, b=b, params=params):
            rng = _rng(seed)
            x = (rng.normal(0.0, 3.0, n)).astype(dtype)
            d = {"x": x, "out": np.empty_like(x), "params": params}
            d["y"] = getattr(fastact, e.name)(x, *params)
            d["g"] = rng.normal(0.0, 1.0, n).astype(dtype)
            _to_torch(d, ("x", "out", "y", "g"))
            return d

        def run_fwd(d, backend, e=e):
            return getattr(fastact, e.name)(d["x"], *d["params"], out=d["out"], backend=backend)

        def run_bwd(d, backend, e=e):
            f = getattr(fastact, e.name + "_backward")
            return f(d["g"], d["x"], *d["params"], out=d["out"], backend=backend)

        def np_fwd(d, e=e, a=a, b=b):
            with np.errstate(all="ignore"):
                return e.ref(d["x"], a, b)

        def np_bwd(d, e=e, a=a, b=b):
            with np.errstate(all="ignore"):
                return d["g"] * e.ref_deriv(d["x"], a, b)

        cases.append(Case(e.name, "copy", setup, run_fwd, np_fwd, _torch_fwd(e, a, b)))
        cases.append(Case(e.name + "_backward", "add", setup, run_bwd, np_bwd, _torch_bwd(e, a, b)))
    return cases


def _rows_shape(n: int, classes: int) -> tuple[int, int]:
    C = min(classes, n)
    return max(1, n // C), C


CLASSES = 4096


def _row_setup(n: int, dtype: np.dtype, seed: int) -> dict[str, Any]:
    M, C = _rows_shape(n, CLASSES)
    rng = _rng(seed)
    x = rng.normal(0.0, 3.0, (M, C)).astype(dtype)
    d = {"x": x, "out": np.empty_like(x), "g": rng.normal(size=(M, C)).astype(dtype)}
    d["y"] = fastact.softmax(x)
    d["ly"] = fastact.log_softmax(x)
    d["lse"] = np.empty(M, dtype)
    d["t"] = rng.integers(0, C, M)
    _to_torch(d, ("x", "out", "g", "y", "ly", "lse", "t"))
    return d


def _np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_log_softmax(x):
    s = x - x.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def _np_ce(x, t):
    lp = _np_log_softmax(x)
    loss = -lp[np.arange(len(t)), t].mean()
    g = np.exp(lp)
    g[np.arange(len(t)), t] -= 1
    return loss, g / len(t)


def _row_cases() -> list[Case]:
    A = _aten()
    torch = _torch()
    tf = torch is not None

    def ce_torch(d):
        t = d["t_x"].detach().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(t, d["t_t"])
        return torch.autograd.grad(loss, t)

    return [
        Case(
            "softmax", "copy", _row_setup,
            lambda d, be: fastact.softmax(d["x"], out=d["out"], backend=be),
            lambda d: _np_softmax(d["x"]),
            (lambda d: A._softmax.out(d["t_x"], -1, False, out=d["t_out"])) if tf else None,
            group="rowwise",
        ),
        Case(
            "log_softmax", "copy", _row_setup,
            lambda d, be: fastact.log_softmax(d["x"], out=d["out"], backend=be),
            lambda d: _np_log_softmax(d["x"]),
            (lambda d: A._log_softmax.out(d["t_x"], -1, False, out=d["t_out"])) if tf else None,
            group="rowwise",
        ),
        Case(
            "logsumexp", "copy", _row_setup,
            lambda d, be: fastact.logsumexp(d["x"], out=d["lse"], backend=be),
            lambda d: np.log(np.exp(d["x"] - (m := d["x"].max(-1, keepdims=True))).sum(-1))
            + m[:, 0],
            (lambda d: A.logsumexp.out(d["t_x"], [-1], False, out=d["t_lse"])) if tf else None,
            group="rowwise",
        ),
        Case(
            "softmax_backward", "add", _row_setup,
            lambda d, be: fastact.softmax_backward(d["g"], d["y"], out=d["out"], backend=be),
            lambda d: d["y"] * (d["g"] - (d["g"] * d["y"]).sum(-1, keepdims=True)),
            (lambda d: A._softmax_backward_data.out(
                d["t_g"], d["t_y"], -1, d["t_y"].dtype, grad_input=d["t_out"])) if tf else None,
            group="rowwise",
        ),
        Case(
            "log_softmax_backward", "add", _row_setup,
            lambda d, be: fastact.log_softmax_backward(d["g"], d["ly"], out=d["out"], backend=be),
            lambda d: d["g"] - np.exp(d["ly"]) * d["g"].sum(-1, keepdims=True),
            (lambda d: A._log_softmax_backward_data.out(
                d["t_g"], d["t_ly"], -1, d["t_ly"].dtype, out=d["t_out"])) if tf else None,
            group="rowwise",
        ),
        Case(
            "cross_entropy", "copy", _row_setup,
            lambda d, be: fastact.cross_entropy(
                d["x"], d["t"], return_grad=True, grad_out=d["out"], backend=be),
            lambda d: _np_ce(d["x"], d["t"]),
            ce_torch if tf else None,
            group="loss",
        ),
    ]  # fmt: skip


def cases() -> dict[str, Case]:
    """Every benchmarked operation by name, generated from the table."""
    return {c.name: c for c in _elementwise_cases() + _row_cases()}


# --------------------------------------------------------------------------- #
# Timing                                                                      #
# --------------------------------------------------------------------------- #


def time_call(f: Callable[[], Any], min_time: float = 0.05, repeat: int = 5) -> float:
    """Best mean seconds per call over ``repeat`` rounds of at least ``min_time`` each.

    The first call (compilation, page faults) is never timed.
    """
    return time_interleaved({"f": f}, min_time, repeat)["f"]


def time_interleaved(
    calls: dict[str, Callable[[], Any]], min_time: float = 0.05, repeat: int = 5
) -> dict[str, float]:
    """Best mean seconds per call of several callables, their rounds interleaved.

    Round k times every callable once (about ``min_time`` each) before round k+1
    starts, so that a burst of load from other tenants of a shared machine lands on
    all of them alike; each keeps its best round. Compilation is never timed.
    """
    numbers = {}
    for k, f in calls.items():
        f()
        t0 = time.perf_counter()
        f()
        numbers[k] = max(1, int(min_time / max(time.perf_counter() - t0, 1e-7)))
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(repeat):
        for k, f in calls.items():
            number = numbers[k]
            t0 = time.perf_counter()
            for _ in range(number):
                f()
            best[k] = min(best[k], (time.perf_counter() - t0) / number)
    return best


_STREAMS: dict[tuple, Callable[[], None]] = {}


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
    """Bytes read and written by one call: the stream's traffic over the same arrays."""
    n = d["x"].nbytes
    return 2 * n if case.stream == "copy" else 3 * n


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "threads": fastact.get_num_threads(),
        "numpy": np.__version__,
        "fastact": fastact.__version__,
    }
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:
        pass
    torch = _torch()
    if torch is not None:
        info["torch"] = torch.__version__
    return info


def describe(info: dict[str, Any]) -> str:
    """One line naming the machine and the library versions."""
    return (
        f"# fastact bench on {info.get('cpu', info['processor'])}, {info['threads']} threads, "
        f"numba {info.get('numba', '-')}, torch {info.get('torch', '-')}, numpy {info['numpy']}"
    )


def _progress(i: int, n: int, label: str) -> None:
    if not sys.stderr.isatty() and os.environ.get("FASTACT_PROGRESS") != "1":
        if i == n:
            print(f"[{n}/{n}] done", file=sys.stderr)
        return
    w = 30
    k = int(w * i / max(n, 1))
    sys.stderr.write(f"\r[{'#' * k}{'.' * (w - k)}] {i}/{n} {label[:40]:<40}")
    if i == n:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _bind(f: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """``f`` with its arguments fixed now (not at call time)."""
    return lambda: f(*args)


def run(
    ops: list[str],
    sizes: list[int],
    dtypes: list[str],
    backends: list[str],
    min_time: float = 0.05,
    repeat: int = 5,
    baselines: bool = True,
) -> list[dict[str, Any]]:
    """Time every combination; one result row per (op, dtype, size)."""
    all_cases = cases()
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(fastact.get_num_threads())
    rows = []
    total = len(ops) * len(sizes) * len(dtypes)
    k = 0
    for op in ops:
        case = all_cases[op]
        for dt in dtypes:
            for n in sizes:
                _progress(k, total, f"{op} {dt} {n}")
                d = case.setup(n, np.dtype(dt), 0)
                row: dict[str, Any] = {"op": op, "dtype": dt, "n": int(d["x"].size)}
                row["bytes"] = nbytes(case, d)
                row["stream"] = case.stream
                calls = {"t_stream": stream_call(case.stream, d)}
                for be in backends:
                    if be != "cuda":
                        calls[f"t_{be}"] = _bind(case.run, d, be)
                if baselines and case.torch is not None:
                    calls["t_torch"] = _bind(case.torch, d)
                if baselines and case.numpy is not None:
                    calls["t_numpy_user"] = _bind(case.numpy, d)
                row.update(time_interleaved(calls, min_time, repeat))
                if "cuda" in backends:
                    from fastact import cuda_bench

                    row.update(cuda_bench.time_case(case, n, dt, min_time, repeat))
                rows.append(row)
                k += 1
    _progress(total, total, "")
    return rows


# --------------------------------------------------------------------------- #
# Report                                                                      #
# --------------------------------------------------------------------------- #


def _fmt_t(t: float) -> str:
    return f"{t * 1e3:.3f}" if t >= 1e-4 else f"{t * 1e3:.4f}"


def table_rows(
    rows: list[dict[str, Any]], backends: list[str]
) -> tuple[list[str], list[list[str]]]:
    main = backends[0]
    head = ["op", "dtype", "n", f"{main} ms", "GB/s", "x stream", "% stream BW"]
    extra = [b for b in backends[1:] if f"t_{b}" in rows[0]] if rows else []
    head += [f"vs {b}" for b in extra]
    has_torch = any("t_torch" in r for r in rows)
    has_np = any("t_numpy_user" in r for r in rows)
    has_cuda = any("t_cuda" in r for r in rows)
    if has_np:
        head.append("vs NumPy")
    if has_torch:
        head.append("vs PyTorch")
    if has_cuda:
        head += ["cuda ms", "cuda % copy", "CPU/CUDA"]
        if any("t_torch_cuda" in r for r in rows):
            head.append("vs torch CUDA")
    out = []
    for r in rows:
        t = r[f"t_{main}"]
        line = [r["op"], r["dtype"], str(r["n"]), _fmt_t(t), f"{r['bytes'] / t / 1e9:.1f}"]
        line += [f"{t / r['t_stream']:.2f}", f"{100 * r['t_stream'] / t:.0f}%"]
        for b in extra:
            line.append(f"{r[f't_{b}'] / t:.2f}x")
        if has_np:
            line.append(f"{r['t_numpy_user'] / t:.2f}x" if "t_numpy_user" in r else "-")
        if has_torch:
            line.append(f"{r['t_torch'] / t:.2f}x" if "t_torch" in r else "-")
        if has_cuda:
            tc = r.get("t_cuda")
            if tc:
                line += [_fmt_t(tc), f"{100 * r['t_cuda_copy'] / tc:.0f}%", f"{t / tc:.1f}x"]
            else:
                line += ["-", "-", "-"]
            if "vs torch CUDA" in head:
                tt = r.get("t_torch_cuda")
                line.append(f"{tt / tc:.2f}x" if tt and tc else "-")
        out.append(line)
    return head, out


def format_table(rows: list[dict[str, Any]], backends: list[str], markdown: bool = False) -> str:
    head, body = table_rows(rows, backends)
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(head)
    ]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*head)] + [fmt.format(*r) for r in body])


LEGEND = (
    "x stream: time / time of a parallel stream over the same bytes (copy for 1-in-1-out, "
    "a + b for 2-in-1-out); vs X: X's time / fastact's time (higher means fastact is faster, "
    "1.00x means equal)."
)


def plot(rows: list[dict[str, Any]], backends: list[str], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = sorted({r["op"] for r in rows})
    ncol = min(3, len(ops))
    nrow = (len(ops) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(5 * ncol, 3.6 * nrow), squeeze=False)
    for ax, op in zip(axes.flat, ops, strict=False):
        for dt in sorted({r["dtype"] for r in rows if r["op"] == op}):
            rs = sorted(
                (r for r in rows if r["op"] == op and r["dtype"] == dt), key=lambda r: r["n"]
            )
            n = [r["n"] for r in rs]
            for key, label in [(f"t_{b}", f"fastact {b}") for b in backends] + [
                ("t_torch", "PyTorch"),
                ("t_numpy_user", "NumPy"),
                ("t_stream", "stream (copy)"),
                ("t_cuda", "fastact cuda"),
            ]:
                if all(key in r for r in rs) and rs:
                    style = "--" if key == "t_stream" else "-"
                    gbs = [r["bytes"] / r[key] / 1e9 for r in rs]
                    ax.plot(n, gbs, marker="o", label=f"{label} {dt}", linestyle=style)
        ax.set_xscale("log")
        ax.set_title(op)
        ax.set_xlabel("elements")
        ax.set_ylabel("GB/s")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(ops) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fastact bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--ops", help="comma-separated operations (default: all; 'list' lists them)")
    p.add_argument("--sizes", help="comma-separated element counts, e.g. 2^10,2^20,2^24")
    p.add_argument("--dtypes", default="float32", help="comma-separated: float16,float32,float64")
    p.add_argument("--backends", help="fastact backends to time (default: all available)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--classes", type=int, default=4096, help="row length for row-wise ops")
    p.add_argument("--quick", action="store_true", help="a few ops at 2^20 elements (< 1 min)")
    p.add_argument("--no-baselines", action="store_true", help="skip PyTorch and NumPy")
    p.add_argument("--json", metavar="PATH", help="write every figure and the machine as JSON")
    p.add_argument("--plot", metavar="PATH", help="write a PNG of GB/s against size")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    a = p.parse_args(argv)

    all_cases = cases()
    if a.ops == "list":
        print("\n".join(all_cases))
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
    if a.threads:
        fastact.set_num_threads(a.threads)
    global CLASSES
    CLASSES = a.classes
    repeat = 3 if a.quick else 5
    min_time = 0.02 if a.quick else 0.05
    t0 = time.perf_counter()
    rows = run(ops, sizes, dtypes, backends, min_time, repeat, not a.no_baselines)
    info = machine()
    print(describe(info))
    print(format_table(rows, backends, a.markdown))
    print(LEGEND)
    print(f"({time.perf_counter() - t0:.1f} s)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"machine": info, "backends": backends, "rows": rows}, fh, indent=1)
        print(f"wrote {a.json}")
    if a.plot:
        plot(rows, backends, a.plot)
        print(f"wrote {a.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
