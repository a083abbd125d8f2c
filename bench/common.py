"""Shared parameters for the asv suite."""

from __future__ import annotations

import os

import fastact
from fastact import bench

SMALL = os.environ.get("FASTACT_ASV_SMALL") == "1"

#: sizes: small (per-call overhead), cache-sized, memory-sized
SIZES = [1 << 10] if SMALL else [1 << 10, 1 << 16, 1 << 22]
DTYPES = ["float32"] if SMALL else ["float32", "float64"]
CASES = bench.cases()
ELEMENTWISE = [n for n, c in CASES.items() if c.group == "elementwise"]
if SMALL:  # the CI pass: every benchmark class, a representative set of activations
    ELEMENTWISE = ["relu", "gelu", "softplus_backward"]
ROWWISE = [n for n, c in CASES.items() if c.group != "elementwise"]
#: the fastact backends plus the baselines: PyTorch and NumPy as users write it
IMPLS = [b for b in ("numba", "cython", "numpy") if b in fastact.available_backends()] + [
    "torch",
    "numpy_user",
]


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
