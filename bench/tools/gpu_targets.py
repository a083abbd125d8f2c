"""The CUDA targets of the project (issue 17), measured on the GPU in one run.

    python bench/tools/gpu_targets.py                # on a machine with an NVIDIA GPU
    python bench/tools/gpu_targets.py --small        # tiny sizes (runs in the simulator)

The targets (for an H100), each printed and recorded with pass / fail:

1. elementwise forward and backward on 2^28 float32 (relu, sigmoid, tanh, gelu,
   silu): every one at least 90% of the device-to-device copy bandwidth (bytes
   moved: 2 streams forward, 3 backward; the copy counts read + write);
2. softmax over 16384 x 32768 float32: at least 80% of the copy bandwidth
   (2 streams) and at least 1.2x PyTorch's ``torch.softmax``;
3. fused cross-entropy forward + backward over 16384 x 128256 bfloat16 logits
   (index targets, gradient written into a preallocated buffer): at least 2x
   PyTorch eager ``F.cross_entropy`` + ``backward``, and no second logits-sized
   buffer (device memory allocated during the call, beyond the inputs and the
   preallocated gradient, under the logits' size);
4. per-call overhead: ``fastact.relu`` on 1,000 float32 elements at most 2x
   ``torch.relu`` (wall time per call, synchronised every 100 calls).

Every timed loop is synchronised (``fastact.cuda_bench.time_synced``) and each
callable runs once before timing, so compilation is never timed. Besides the
user-facing calls it times the bare kernels (launched directly on device arrays),
which tells a slow kernel from a slow wrapper. Arrays are PyTorch CUDA tensors
where PyTorch sees the GPU, else CuPy arrays, else Numba device arrays. A section
that raises is recorded with its error and the others still run; the JSON is
rewritten after every section. Exit status 1 if a section raised (or, with
``--strict``, a target failed).

Results go to ``bench/results/gpu-<device>-<date>.json`` (``--out`` to change,
``--out -`` for none). Under the simulator (``--small``) the figures mean nothing:
the run only proves the script.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from fastact.cuda_bench import time_synced

ELEMENTWISE = ("relu", "sigmoid", "tanh", "gelu", "silu")
#: (key, description, comparison, threshold)
TARGETS = [
    ("elementwise_pct_copy_bw", "elementwise fwd/bwd 2^28 f32, worst % of copy BW", ">=", 90.0),
    ("softmax_pct_copy_bw", "softmax 16384x32768 f32, % of copy BW", ">=", 80.0),
    ("softmax_vs_torch", "softmax 16384x32768 f32, PyTorch time / fastact time", ">=", 1.2),
    ("ce_vs_torch", "cross-entropy fwd+bwd 16384x128256 bf16, PyTorch / fastact", ">=", 2.0),
    ("ce_extra_logits_buffers", "cross-entropy: extra bytes allocated / logits bytes", "<", 1.0),
    ("overhead_vs_torch", "per-call time on 1,000 f32, fastact / PyTorch", "<=", 2.0),
]


class Arrays:
    """Device arrays of one library (torch, cupy or numba) and its synchronisation."""

    def __init__(self, prefer: str | None = None) -> None:
        from numba import cuda

        self.cuda = cuda
        self.kind = "numba"
        self.torch: Any = None
        self.cupy: Any = None
        try:
            import torch

            if torch.cuda.is_available() and prefer in (None, "torch"):
                self.kind, self.torch = "torch", torch
        except ImportError:
            pass
        if self.kind == "numba" and prefer in (None, "cupy"):
            try:
                import cupy

                if cupy.cuda.runtime.getDeviceCount() > 0:
                    self.kind, self.cupy = "cupy", cupy
            except Exception:  # ImportError, or no device / driver
                pass

    def sync(self) -> None:
        self.cuda.synchronize()  # the whole context: numba's, PyTorch's and CuPy's streams

    def put(self, a: np.ndarray) -> Any:
        if self.kind == "torch":
            return self.torch.from_numpy(np.ascontiguousarray(a)).cuda()
        if self.kind == "cupy":
            return self.cupy.asarray(a)
        return self.cuda.to_device(a)

    def numba(self, a: Any) -> Any:
        """A Numba view of ``a`` (no copy), for launching the bare kernels."""
        return a if hasattr(a, "copy_to_host") else self.cuda.as_cuda_array(a)

    def empty_like(self, a: Any) -> Any:
        if self.kind == "torch":
            return self.torch.empty_like(a)
        if self.kind == "cupy":
            return self.cupy.empty_like(a)
        return self.cuda.device_array_like(a)

    def copy_fn(self, src: Any, dst: Any) -> Callable[[], Any]:
        if self.kind == "torch":
            return lambda: dst.copy_(src)
        if self.kind == "cupy":
            return lambda: dst.__setitem__(Ellipsis, src)
        return lambda: dst.copy_to_device(src)

    def free(self) -> None:
        import gc

        gc.collect()
        if not _sim():  # Numba frees device memory late: free what is pending now
            self.cuda.current_context().deallocations.clear()
        if self.torch is not None:
            self.torch.cuda.empty_cache()
        if self.cupy is not None:
            self.cupy.get_default_memory_pool().free_all_blocks()


@contextlib.contextmanager
def allocations(arr: Arrays) -> Iterator[dict[str, int | None]]:
    """Device bytes allocated inside the block: PyTorch's peak above its level at
    entry, plus every Numba allocation (an upper bound on Numba's peak; Numba frees
    late). Under the simulator, device arrays are host arrays: tracemalloc's peak."""
    res: dict[str, int | None] = {"bytes": None}
    if _sim():
        tracemalloc.start()
        try:
            yield res
        finally:
            res["bytes"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return
    total = {"numba": 0}
    patched = None
    try:
        from numba.cuda.cudadrv import driver

        orig = driver.Context.memalloc

        def memalloc(self: Any, bytesize: int) -> Any:
            total["numba"] += int(bytesize)
            return orig(self, bytesize)

        driver.Context.memalloc = memalloc
        patched = (driver, orig)
    except (ImportError, AttributeError):
        pass
    torch = arr.torch
    if torch is not None:
        arr.sync()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    try:
        yield res
    finally:
        arr.sync()
        if patched is not None:
            patched[0].Context.memalloc = patched[1]
        if torch is not None and patched is not None:
            res["bytes"] = torch.cuda.max_memory_allocated() - base + total["numba"]
        elif patched is not None and arr.kind == "numba":
            res["bytes"] = total["numba"]


def _sim() -> bool:
    from numba import config

    return bool(config.ENABLE_CUDASIM)  # type: ignore[attr-defined]


def per_call(f: Callable[[], Any], sync: Callable[[], Any], calls: int, rounds: int) -> float:
    """Best over ``rounds`` of the wall seconds per call of ``calls`` calls, synchronised
    once per round (launch overhead, not kernel time, at small sizes)."""
    for _ in range(min(calls, 10)):
        f()
    sync()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            f()
        sync()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def judge(value: float | None, op: str, threshold: float) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    ok = {">=": value >= threshold, "<=": value <= threshold, "<": value < threshold}[op]
    return "pass" if ok else "fail"


def evaluate(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets' table from the measured sections (missing figures: n/a)."""
    ew = res.get("elementwise_2^28_f32", {})
    pcts = [v[k] for v in ew.values() if isinstance(v, dict)
            for k in ("fwd_pct_copy_bw", "bwd_pct_copy_bw") if k in v]  # fmt: skip
    sm = res.get("softmax_f32", {})
    ce = res.get("cross_entropy_fwd_bwd", {})
    oh = res.get("overhead_1000_f32", {})
    values = {
        "elementwise_pct_copy_bw": min(pcts) if len(pcts) == 2 * len(ELEMENTWISE) else None,
        "softmax_pct_copy_bw": sm.get("pct_copy_bw"),
        "softmax_vs_torch": sm.get("vs_torch"),
        "ce_vs_torch": ce.get("vs_torch"),
        "ce_extra_logits_buffers": ce.get("extra_logits_buffers"),
        "overhead_vs_torch": oh.get("ratio"),
    }
    return [
        {"target": key, "what": what, "value": values[key], "op": op, "threshold": thr,
         "status": judge(values[key], op, thr)}
        for key, what, op, thr in TARGETS
    ]  # fmt: skip


def format_targets(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'status':6}  {'value':>9}  {'target':>8}  what"]
    for r in rows:
        v = "-" if r["value"] is None else f"{r['value']:.3g}"
        lines.append(f"{r['status']:6}  {v:>9}  {r['op'] + format(r['threshold'], 'g'):>8}  "
                     f"{r['what']}")  # fmt: skip
    return "\n".join(lines)


def details(res: dict[str, Any]) -> str:
    """The figures behind the targets, one short line per measurement."""

    def f(v: Any, spec: str = ".3g") -> str:
        return "-" if v is None else format(v, spec)

    lines = [f"copy: {f(res.get('copy', {}).get('GBps'))} GB/s (read + write)"]
    for name, r in res.get("elementwise_2^28_f32", {}).items():
        keys = ("fwd_pct_copy_bw", "kernel_fwd_pct_copy_bw", "bwd_pct_copy_bw",
                "kernel_bwd_pct_copy_bw")  # fmt: skip
        pct = {k: f(r.get(k), ".0f") for k in keys}
        lines.append(
            f"{name}: fwd {pct['fwd_pct_copy_bw']}% of copy (bare kernel "
            f"{pct['kernel_fwd_pct_copy_bw']}%), bwd {pct['bwd_pct_copy_bw']}% "
            f"({pct['kernel_bwd_pct_copy_bw']}%); ms fwd {f(r.get('fwd_ms'))} bwd "
            f"{f(r.get('bwd_ms'))}, torch {f(r.get('torch_fwd_ms'))} / {f(r.get('torch_bwd_ms'))}"
        )
    sm = res.get("softmax_f32", {})
    lines.append(f"softmax: {f(sm.get('ms'))} ms, {f(sm.get('pct_copy_bw'), '.0f')}% of copy "
                 f"(bare {sm.get('kernel', '-')} {f(sm.get('kernel_pct_copy_bw'), '.0f')}%), "
                 f"torch {f(sm.get('torch_ms'))} ms")  # fmt: skip
    ce = res.get("cross_entropy_fwd_bwd", {})
    lines.append(f"cross-entropy {ce.get('dtype', '-')}: {f(ce.get('ms'))} ms, torch "
                 f"{f(ce.get('torch_ms'))} ms, allocated {f(ce.get('extra_bytes', 0) / 1e9)} GB "
                 f"= {f(ce.get('extra_logits_buffers'))} logits")  # fmt: skip
    oh = res.get("overhead_1000_f32", {})
    lines.append(
        f"per call, 1,000 f32: fastact {f(oh.get('fastact_us'))} us, bare launch "
        f"{f(oh.get('kernel_launch_us'))} us, torch {f(oh.get('torch_us'))} us"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--small", action="store_true", help="tiny sizes (a smoke run)")
    p.add_argument("--out", help="JSON path (default bench/results/gpu-<device>-<date>.json)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    p.add_argument("--arrays", choices=("torch", "cupy", "numba"),
                   help="array library (default: torch, else cupy, else numba)")  # fmt: skip
    a = p.parse_args(argv)

    from fastact.kernels import cuda_elementwise as kew
    from fastact.kernels import cuda_rowwise as krw

    import fastact
    from fastact import bench, table
    from fastact.backends import cuda_backend as cb

    arr = Arrays(a.arrays)
    sync = arr.sync
    small = a.small
    # small: rows past the simulator's SMEM_MAX_C (64), so that softmax takes the
    # global-memory kernel, as 32768 classes do on hardware
    n_ew = 256 if small else 1 << 28
    sm_shape = (2, 80) if small else (16384, 32768)
    ce_shape = (2, 80) if small else (16384, 128256)
    min_time, repeat = (0.0, 1) if small else (0.05, 5)
    calls, rounds = (3, 1) if small else (200, 5)
    rng = np.random.default_rng(0)
    device = cb.device_name()
    res: dict[str, Any] = {
        "device": device, "date": datetime.date.today().isoformat(), "small": small,
        "arrays": arr.kind, "torch_cuda": arr.torch is not None,
        "timing": f"time_synced: best of {repeat} rounds, each >= {min_time:g} s",
    }  # fmt: skip
    errors: dict[str, str] = {}
    out = a.out
    if out is None:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-").lower()
        out = os.path.join("bench", "results", f"gpu-{slug}-{res['date']}.json")

    def save() -> None:
        res["targets"] = evaluate(res)
        res["errors"] = errors
        if out != "-":
            os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
            with open(out, "w") as fh:
                json.dump(res, fh, indent=1)

    def t(f: Callable[[], Any]) -> float:
        return time_synced(f, sync, min_time, repeat)

    def section(name: str, body: Callable[[], None]) -> None:
        t0 = time.perf_counter()
        print(f"-- {name}", file=sys.stderr, flush=True)
        try:
            body()
        except Exception as e:  # keep the other sections' figures
            errors[name] = f"{type(e).__name__}: {e}"
            traceback.print_exc()
        finally:
            arr.free()
        print(f"-- {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        save()

    # 0. device-to-device copy bandwidth (the reference): the faster of the array
    #    library's copy and Numba's (cuMemcpyDtoD), bytes read + written
    def copy_bw() -> None:
        x = arr.put(rng.normal(0, 3, n_ew).astype(np.float32))
        y = arr.empty_like(x)
        tc = t(arr.copy_fn(x, y))
        xs, ys = arr.numba(x), arr.numba(y)
        tn = t(lambda: ys.copy_to_device(xs))
        res["copy"] = {"n": n_ew, "lib_ms": tc * 1e3, "numba_ms": tn * 1e3,
                       "GBps": 2 * 4 * n_ew / min(tc, tn) / 1e9}  # fmt: skip

    # 1. elementwise at 2^28 float32: the user call (no out=), the bare kernel, PyTorch
    def elementwise() -> None:
        bw = res["copy"]["GBps"] * 1e9
        x = arr.put(rng.normal(0, 3, n_ew).astype(np.float32))
        g = arr.put(rng.normal(0, 1, n_ew).astype(np.float32))
        xs, gs = arr.numba(x), arr.numba(g)
        ys = arr.cuda.device_array(n_ew, np.float32)
        grid, threads = cb._grid(n_ew), cb.THREADS
        ew: dict[str, dict[str, float]] = {}
        res["elementwise_2^28_f32"] = ew
        for name in ELEMENTWISE:
            e = table.BY_NAME[name]
            ca, cb_ = (np.float32(v) for v in e.encode(()))
            f, b = getattr(fastact, name), getattr(fastact, name + "_backward")
            kf, kb = kew.FWD[name], kew.BWD[name]
            tf = t(lambda f=f: f(x))
            tb = t(lambda b=b: b(g, x))
            tkf = t(lambda kf=kf, ca=ca, cb_=cb_: kf[grid, threads](xs, ys, ca, cb_))
            tkb = t(lambda kb=kb, ca=ca, cb_=cb_: kb[grid, threads](gs, xs, ys, ca, cb_))
            r = {
                "fwd_ms": tf * 1e3, "fwd_pct_copy_bw": 100 * 8 * n_ew / tf / bw,
                "bwd_ms": tb * 1e3, "bwd_pct_copy_bw": 100 * 12 * n_ew / tb / bw,
                "kernel_fwd_pct_copy_bw": 100 * 8 * n_ew / tkf / bw,
                "kernel_bwd_pct_copy_bw": 100 * 12 * n_ew / tkb / bw,
            }  # fmt: skip
            if arr.torch is not None:
                d = {"t_x": x, "t_g": g, "t_out": arr.empty_like(x)}
                d["t_y"] = getattr(arr.torch, name, None)(x) if name in ("sigmoid", "tanh") else x
                tf_t, tb_t = bench._torch_fwd(e, *e.encode(())), bench._torch_bwd(e, *e.encode(()))
                if tf_t is not None and tb_t is not None:
                    r["torch_fwd_ms"] = t(lambda tf_t=tf_t, d=d: tf_t(d)) * 1e3
                    r["torch_bwd_ms"] = t(lambda tb_t=tb_t, d=d: tb_t(d)) * 1e3
            ew[name] = r

    # 2. softmax 16384 x 32768 float32 (2 streams: read x, write y)
    def softmax() -> None:
        bw = res["copy"]["GBps"] * 1e9
        xs = arr.put(rng.normal(0, 4, sm_shape).astype(np.float32))
        ts = t(lambda: fastact.softmax(xs))
        x2 = arr.numba(xs)
        o2 = arr.cuda.device_array(sm_shape, np.float32)
        M, C = sm_shape
        if C <= krw.WARP_MAX_C:
            k, grid = krw.softmax_rows_warp, cb._warp_grid(M)
        elif C <= krw.SMEM_MAX_C:
            k, grid = krw.softmax_rows_smem, cb._row_grid(M)
        else:
            k, grid = krw.softmax_rows, cb._row_grid(M)
        tk = t(lambda: k[grid, krw.BLOCK](x2, o2, 0, False))
        nbytes = 2 * 4 * M * C
        sm: dict[str, Any] = {"shape": list(sm_shape), "ms": ts * 1e3,
                              "pct_copy_bw": 100 * nbytes / ts / bw,
                              "kernel": getattr(k, "py_func", k).__name__,
                              "kernel_pct_copy_bw": 100 * nbytes / tk / bw}  # fmt: skip
        res["softmax_f32"] = sm
        if arr.torch is not None:
            tt = t(lambda: arr.torch.softmax(xs, -1))
            sm["torch_ms"] = tt * 1e3
            sm["vs_torch"] = tt / ts

    # 3. cross-entropy forward + backward (bfloat16 logits where PyTorch has the GPU)
    def cross_entropy() -> None:
        M, C = ce_shape
        tc_np = rng.integers(0, C, M)
        if arr.torch is not None:
            torch = arr.torch
            xc = torch.randn(M, C, device="cuda", dtype=torch.bfloat16) * 2
            tc = torch.from_numpy(tc_np).cuda()
            dtype, itemsize = "bfloat16", 2
        else:
            xc = arr.put(rng.normal(0, 2, ce_shape).astype(np.float32))
            tc = arr.put(tc_np)
            dtype, itemsize = "float32", 4
        gbuf = arr.empty_like(xc)

        def run() -> Any:
            return fastact.cross_entropy(xc, tc, return_grad=True, grad_out=gbuf)

        ce: dict[str, Any] = {"shape": list(ce_shape), "dtype": dtype}
        res["cross_entropy_fwd_bwd"] = ce
        run()
        with allocations(arr) as al:
            run()
        ce["ms"] = t(run) * 1e3
        if al["bytes"] is not None:
            ce["extra_bytes"] = al["bytes"]
            ce["extra_logits_buffers"] = al["bytes"] / (M * C * itemsize)
        if arr.torch is not None:
            arr.free()
            torch = arr.torch
            xr = xc.detach().requires_grad_(True)

            def torch_ce() -> None:
                xr.grad = None
                torch.nn.functional.cross_entropy(xr, tc).backward()

            ce["torch_ms"] = t(torch_ce) * 1e3
            ce["vs_torch"] = ce["torch_ms"] / ce["ms"]

    # 4. per-call overhead on 1,000 float32 elements (kernel time is negligible)
    def overhead() -> None:
        xo = arr.put(rng.normal(size=1000).astype(np.float32))
        xn = arr.numba(xo)
        yn = arr.cuda.device_array(1000, np.float32)
        k = kew.FWD["relu"]
        grid, threads = cb._grid(1000), cb.THREADS
        z = np.float32(0)
        oh: dict[str, Any] = {
            "calls_per_round": calls,
            "fastact_us": per_call(lambda: fastact.relu(xo), sync, calls, rounds) * 1e6,
            "kernel_launch_us": per_call(lambda: k[grid, threads](xn, yn, z, z), sync, calls,
                                         rounds) * 1e6,
        }  # fmt: skip
        res["overhead_1000_f32"] = oh
        if arr.torch is not None:
            oh["torch_us"] = per_call(lambda: arr.torch.relu(xo), sync, calls, rounds) * 1e6
            oh["ratio"] = oh["fastact_us"] / oh["torch_us"]

    section("copy", copy_bw)
    for name, body in (("elementwise", elementwise), ("softmax", softmax),
                       ("cross_entropy", cross_entropy), ("overhead", overhead)):  # fmt: skip
        if "copy" in errors and name in ("elementwise", "softmax"):
            errors[name] = "skipped: no copy bandwidth"
            continue
        section(name, body)

    print(json.dumps(res, indent=1))
    note = ", simulator: figures mean nothing" if _sim() else ""
    print(f"# gpu targets on {device} ({arr.kind} arrays{note})")
    print(format_targets(res["targets"]))
    print(details(res))
    if errors:
        print("errors:", json.dumps(errors, indent=1))
    if out != "-":
        print(f"wrote {out}", file=sys.stderr)
    failed = any(r["status"] == "fail" for r in res["targets"])
    return 1 if errors or (a.strict and failed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
