"""The CUDA targets of the project, measured on the GPU in one run.

    python bench/tools/gpu_targets.py                # on a machine with an NVIDIA GPU
    python bench/tools/gpu_targets.py --small        # tiny sizes (runs in the simulator)

Measures, with every timed loop synchronised and each callable run once before
timing (compilation is never timed):

1. elementwise forward and backward on 2^28 float32 (relu, sigmoid, tanh, gelu,
   silu): time and share of the device-to-device copy bandwidth (bytes moved:
   2 streams forward, 3 backward);
2. softmax over 16384 x 32768 float32: share of copy bandwidth, ratio to PyTorch;
3. fused cross-entropy forward + backward over 16384 x 128256 bfloat16 logits
   (index targets, gradient written into a preallocated buffer) against PyTorch
   eager ``F.cross_entropy`` + ``backward``;
4. per-call overhead: ``fastact.relu`` on 1,000 float32 elements against
   ``torch.relu`` (wall time per call, synchronised every 100 calls).

Results go to ``bench/results/gpu-<device>-<date>.json`` (``--out`` to change)
and are printed as a table. PyTorch columns need a CUDA build of PyTorch.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fastact.cuda_bench import time_synced as timeit


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", action="store_true", help="tiny sizes (a smoke run)")
    p.add_argument("--out", help="JSON path (default bench/results/gpu-<device>-<date>.json)")
    a = p.parse_args(argv)

    from numba import cuda

    import fastact
    from fastact.backends import cuda_backend

    try:
        import torch

        has_torch = torch.cuda.is_available()
    except ImportError:
        has_torch = False
    sync = cuda.synchronize
    tsync = torch.cuda.synchronize if has_torch else sync
    small = a.small
    n_ew = 4096 if small else 1 << 28
    sm_shape = (8, 64) if small else (16384, 32768)
    ce_shape = (8, 96) if small else (16384, 128256)
    min_time, repeat = (0.0, 1) if small else (0.2, 5)
    rng = np.random.default_rng(0)
    device = cuda_backend.device_name()
    res: dict[str, Any] = {"device": device, "date": datetime.date.today().isoformat(),
                           "small": small, "torch_cuda": has_torch}  # fmt: skip

    def dev(x: np.ndarray) -> Any:
        return torch.from_numpy(x).cuda() if has_torch else cuda.to_device(x)

    # 1. elementwise at 2^28 float32
    x = dev(rng.normal(0, 3, n_ew).astype(np.float32))
    g = dev(rng.normal(0, 1, n_ew).astype(np.float32))
    y = dev(np.empty(n_ew, np.float32))
    src = cuda.as_cuda_array(x) if has_torch else x
    dst = cuda.device_array_like(src)
    t_copy = timeit(lambda: dst.copy_to_device(src), sync, min_time, repeat)
    copy_bw = 2 * 4 * n_ew / t_copy
    res["copy_GBps"] = copy_bw / 1e9
    ew = {}
    for name in ("relu", "sigmoid", "tanh", "gelu", "silu"):
        f, b = getattr(fastact, name), getattr(fastact, name + "_backward")
        tf = timeit(lambda f=f: f(x, out=y), sync, min_time, repeat)
        tb = timeit(lambda b=b: b(g, x, out=y), sync, min_time, repeat)
        ew[name] = {
            "fwd_ms": tf * 1e3,
            "fwd_pct_copy_bw": 100 * 2 * 4 * n_ew / tf / copy_bw,
            "bwd_ms": tb * 1e3,
            "bwd_pct_copy_bw": 100 * 3 * 4 * n_ew / tb / copy_bw,
        }
        if has_torch:
            tt = getattr(torch, name, None) or getattr(torch.nn.functional, name)
            ew[name]["torch_fwd_ms"] = timeit(lambda tt=tt: tt(x), tsync, min_time, repeat) * 1e3
    res["elementwise_2^28_f32"] = ew

    # 2. softmax 16384 x 32768 float32
    xs = dev(rng.normal(0, 4, sm_shape).astype(np.float32))
    t_sm = timeit(lambda: fastact.softmax(xs), sync, min_time, repeat)
    nbytes = 2 * 4 * int(np.prod(sm_shape))
    sm = {"ms": t_sm * 1e3, "pct_copy_bw": 100 * nbytes / t_sm / copy_bw}
    if has_torch:
        t_t = timeit(lambda: torch.softmax(xs, -1), tsync, min_time, repeat)
        sm["torch_ms"] = t_t * 1e3
        sm["vs_torch"] = t_t / t_sm
    res["softmax_f32"] = {"shape": sm_shape, **sm}

    # 3. cross-entropy fwd+bwd on bfloat16 logits (float32 where PyTorch CUDA is missing)
    xc_np = rng.normal(0, 2, ce_shape).astype(np.float32)
    tc_np = rng.integers(0, ce_shape[1], ce_shape[0])
    if has_torch:
        xc = torch.from_numpy(xc_np).cuda().to(torch.bfloat16)
        tc = torch.from_numpy(tc_np).cuda()
        gbuf = torch.empty_like(xc)
    else:
        xc, tc = cuda.to_device(xc_np), cuda.to_device(tc_np)
        gbuf = cuda.device_array_like(xc)
    t_ce = timeit(lambda: fastact.cross_entropy(xc, tc, return_grad=True, grad_out=gbuf),
                  sync, min_time, repeat)  # fmt: skip
    ce = {"dtype": "bfloat16" if has_torch else "float32", "ms": t_ce * 1e3}
    if has_torch:
        xr = xc.detach().requires_grad_(True)

        def torch_ce() -> None:
            xr.grad = None
            torch.nn.functional.cross_entropy(xr, tc).backward()

        t_t = timeit(torch_ce, tsync, min_time, repeat)
        ce["torch_ms"] = t_t * 1e3
        ce["vs_torch"] = t_t / t_ce
    res["cross_entropy_fwd_bwd"] = {"shape": ce_shape, **ce}

    # 4. per-call overhead on 1,000 elements
    xo = dev(rng.normal(size=1000).astype(np.float32))

    def calls(f: Callable[[], Any], s: Callable[[], Any]) -> float:
        for _ in range(10):
            f()
        s()
        t0 = time.perf_counter()
        for _ in range(100):
            f()
        s()
        return (time.perf_counter() - t0) / 100

    oh = {"fastact_us": calls(lambda: fastact.relu(xo), sync) * 1e6}
    if has_torch:
        oh["torch_us"] = calls(lambda: torch.relu(xo), tsync) * 1e6
        oh["ratio"] = oh["fastact_us"] / oh["torch_us"]
    res["overhead_1000_f32"] = oh

    print(json.dumps(res, indent=1))
    out = a.out
    if out is None:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-").lower()
        out = os.path.join("bench", "results", f"gpu-{slug}-{res['date']}.json")
    if out != "-":
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "w") as f:
            json.dump(res, f, indent=1)
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
