"""Shared parameters for the asv suite."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import fastact
from fastact import bench

SMALL = os.environ.get("FASTACT_ASV_SMALL") == "1"

#: sizes: small (per-call overhead), cache-sized, memory-sized
SIZES = [1 << 10] if SMALL else [1 << 10, 1 << 16, 1 << 22]
DTYPES = ["float32"] if SMALL else ["float32", "float64"]
CASES = bench.cases()
ELEMENTWISE = [n for n, c in CASES.items() if c.group in ("activations", "backward")]
if SMALL:  # the CI pass: every benchmark class, a representative set of activations
    ELEMENTWISE = ["relu", "softplus_backward", "prelu"]
ROWWISE = [n for n, c in CASES.items() if c.group in ("rowwise", "losses")]
if SMALL:
    ROWWISE = ["softmax", "log_softmax_backward", "cross_entropy", "mse_loss"]
#: the fastact backends plus the baselines: PyTorch and NumPy as users write it
IMPLS = [b for b in ("numba", "cython", "numpy") if b in fastact.available_backends()] + [
    "torch",
    "numpy_user",
]

#: CPU against CUDA: the same operations on the CPU (fastact numba, PyTorch) and the
#: GPU (fastact cuda, PyTorch CUDA), all timed by the same synchronised loop
DEVICE_OPS = ["relu", "gelu", "gelu_backward", "softmax", "cross_entropy"]
if SMALL:
    DEVICE_OPS = ["relu", "softmax"]
DEVICE_IMPLS = ["numba", "torch", "cuda", "torch_cuda"]
DEVICE_SIZES = [1 << 10] if SMALL else [1 << 16, 1 << 22]


def make_call(case: bench.Case, impl: str, data: dict):
    """A zero-argument callable for one implementation, or NotImplementedError (asv skips)."""
    if impl == "torch":
        if case.torch is None:
            raise NotImplementedError("no PyTorch baseline")
        return lambda: case.torch(data)
    if impl == "numpy_user":
        if case.numpy is None:
            raise NotImplementedError("no NumPy baseline")
        return lambda: case.numpy(data)
    if impl not in fastact.available_backends():
        raise NotImplementedError(f"backend {impl} unavailable")
    return lambda: case.run(data, impl)


def gpu_present() -> bool:
    """A real NVIDIA GPU (not the CUDA simulator) with fastact's cuda backend."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False
    if "cuda" not in fastact.available_backends():
        return False
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # pragma: no cover - a broken driver counts as no GPU
        return False


def make_synced_call(
    case: bench.Case, impl: str, data: dict
) -> tuple[Callable[[], Any], Callable[[], Any] | None]:
    """(callable, sync) for the CPU-against-CUDA benchmark; NotImplementedError skips."""
    if impl in ("numba", "torch"):
        return make_call(case, impl, data), None
    if not gpu_present():
        raise NotImplementedError("no GPU")
    from fastact import cuda_bench

    calls, sync = cuda_bench.cuda_calls(case, data)
    if impl not in calls:
        raise NotImplementedError(f"{impl} unavailable (PyTorch without CUDA?)")
    return calls[impl], sync[impl]
