"""GPU timings for ``fastact bench``: fastact's CUDA kernels, PyTorch CUDA and a
device-to-device copy of the same bytes, on device-resident arrays.

The timing loop is :func:`fastact.timing.measure` with a device synchronisation
before every clock read (GPU work is asynchronous); every callable runs once
first, so compilation is never timed. :func:`cuda_calls` gives the CUDA
contenders of a case so that ``fastact bench`` times them in the same
interleaved rounds as the CPU ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fastact import timing


def time_synced(
    f: Callable[[], Any], sync: Callable[[], Any], min_time: float = 0.2, repeat: int = 5
) -> float:
    """Median seconds per call of ``f`` over ``repeat`` interleaved-loop rounds,
    ``sync()`` before every clock read; the first call is not timed."""
    return timing.median_time(f, sync, min_time, repeat)


def cuda_calls(
    case: Any, d: dict[str, Any], baselines: bool = True
) -> tuple[dict[str, Callable[[], Any]], dict[str, Callable[[], Any]]]:
    """The CUDA contenders of a case on a copy of its data on the device.

    ``cuda`` (fastact), ``cuda_copy`` (a device copy of the same bytes) and, with
    a CUDA build of PyTorch, ``torch_cuda``; and the synchronisation of each.
    """
    from numba import cuda

    dev = {k: cuda.to_device(v) for k, v in d.items() if isinstance(v, np.ndarray)}
    dd = dict(d)
    dd.update(dev)
    src, dst = dev["x"], cuda.device_array_like(dev["x"])
    calls: dict[str, Callable[[], Any]] = {
        "cuda": lambda: case.run(dd, "cuda"),
        "cuda_copy": lambda: dst.copy_to_device(src),
    }
    sync: dict[str, Callable[[], Any]] = {"cuda": cuda.synchronize, "cuda_copy": cuda.synchronize}
    try:
        import torch

        if baselines and torch.cuda.is_available() and case.torch is not None:
            td = dict(d)
            for k, v in d.items():
                if k.startswith("t_") and hasattr(v, "cuda"):
                    td[k] = v.cuda()
            calls["torch_cuda"] = lambda: case.torch(td)
            sync["torch_cuda"] = torch.cuda.synchronize
    except ImportError:
        pass
    return calls, sync


def time_case(case: Any, n: int, dtype: str, min_time: float, repeat: int) -> dict[str, float]:
    """t_cuda (fastact), t_cuda_copy (device copy of the same bytes), t_torch_cuda:
    median seconds per call, timed in the same interleaved rounds."""
    d = case.setup(n, np.dtype(dtype), 0)
    calls, sync = cuda_calls(case, d)
    samples = timing.measure(calls, repeat, min_time, sync=sync)
    return {f"t_{k}": float(np.median(v)) for k, v in samples.items()}
