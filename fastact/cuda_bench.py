"""GPU timings for ``fastact bench``: fastact's CUDA kernels, PyTorch CUDA and a
device-to-device copy of the same bytes, on device-resident arrays.

Every timed loop is synchronised (``cuda.synchronize()`` before reading the
clock) and each callable runs once first, so compilation is never timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np


def time_synced(
    f: Callable[[], Any], sync: Callable[[], Any], min_time: float = 0.2, repeat: int = 5
) -> float:
    """Best mean seconds per call of ``f`` over ``repeat`` rounds, ``sync()`` before
    every clock read (GPU work is asynchronous); the first call is not timed."""
    f()
    sync()
    t0 = time.perf_counter()
    f()
    sync()
    one = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(min_time / one))
    best = float("inf")
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        for _ in range(number):
            f()
        sync()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def time_case(case: Any, n: int, dtype: str, min_time: float, repeat: int) -> dict[str, float]:
    """t_cuda (fastact), t_cuda_copy (device copy of the same bytes), t_torch_cuda."""
    from numba import cuda

    d = case.setup(n, np.dtype(dtype), 0)
    dev = {k: cuda.to_device(v) for k, v in d.items() if isinstance(v, np.ndarray)}
    dd = dict(d)
    dd.update(dev)
    sync = cuda.synchronize
    res = {"t_cuda": time_synced(lambda: case.run(dd, "cuda"), sync, min_time, repeat)}
    src, dst = dev["x"], cuda.device_array_like(dev["x"])
    res["t_cuda_copy"] = time_synced(lambda: dst.copy_to_device(src), sync, min_time, repeat)
    try:
        import torch

        if torch.cuda.is_available() and case.torch is not None:
            td = dict(d)
            for k, v in d.items():
                if k.startswith("t_") and hasattr(v, "cuda"):
                    td[k] = v.cuda()
            tsync = torch.cuda.synchronize
            res["t_torch_cuda"] = time_synced(lambda: case.torch(td), tsync, min_time, repeat)
    except ImportError:
        pass
    return res
