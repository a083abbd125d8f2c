"""asv: every operation x implementation x dtype x size (forward and backward).

``time_*`` is what asv gates on (smaller is better); GB/s is reported by
``fastact bench``. ``setup`` makes the data and calls once, so JIT compilation is
never timed; an unavailable backend or baseline raises ``NotImplementedError``
there and asv skips it.

``CpuVsCuda.track_seconds`` times fastact and PyTorch on the CPU and, when a GPU is
present, fastact's CUDA backend and PyTorch CUDA, all with the project's timing
loop (:func:`fastact.timing.measure`, synchronised for the GPU), so ``asv compare``
shows CPU and CUDA history side by side. Without a GPU the CUDA parameters are
skipped.
"""

from __future__ import annotations

import numpy as np

from fastact import timing

from .common import (
    CASES,
    DEVICE_IMPLS,
    DEVICE_OPS,
    DEVICE_SIZES,
    DTYPES,
    ELEMENTWISE,
    IMPLS,
    ROWWISE,
    SIZES,
    make_call,
    make_synced_call,
)


class Elementwise:
    params = (ELEMENTWISE, IMPLS, DTYPES, SIZES)
    param_names = ["op", "impl", "dtype", "n"]
    timeout = 120

    def setup(self, op, impl, dtype, n):
        self.data = CASES[op].setup(n, np.dtype(dtype), 0)
        self.call = make_call(CASES[op], impl, self.data)
        self.call()  # compile / warm up outside the timed region

    def time_op(self, op, impl, dtype, n):
        self.call()


class Rowwise:
    params = (ROWWISE, IMPLS, DTYPES, SIZES)
    param_names = ["op", "impl", "dtype", "n"]
    timeout = 120

    def setup(self, op, impl, dtype, n):
        self.data = CASES[op].setup(n, np.dtype(dtype), 0)
        self.call = make_call(CASES[op], impl, self.data)
        self.call()

    def time_op(self, op, impl, dtype, n):
        self.call()


class Allocating:
    """Peak memory of the allocating forms (no ``out=``): one result array, no temporaries."""

    params = (["sigmoid", "gelu", "softmax", "cross_entropy"], ["float32"], [1 << 20])
    param_names = ["op", "dtype", "n"]

    def setup(self, op, dtype, n):
        import fastact

        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(n // 1024, 1024)).astype(dtype)
        self.t = rng.integers(0, 1024, n // 1024)
        self.f = {
            "sigmoid": lambda: fastact.sigmoid(self.x),
            "gelu": lambda: fastact.gelu(self.x),
            "softmax": lambda: fastact.softmax(self.x),
            "cross_entropy": lambda: fastact.cross_entropy(self.x, self.t, return_grad=True),
        }[op]
        self.f()

    def peakmem_call(self, op, dtype, n):
        self.f()


class SmallArrayOverhead:
    """Per-call overhead on 1,000 elements (numpy's UFuncSmall idea), against an empty call."""

    params = (["relu", "sigmoid", "softmax", "empty_jit_call"],)
    param_names = ["op"]

    def setup(self, op):
        from fastact.kernels import numba_stream

        import fastact

        self.x = np.linspace(-3, 3, 1000).astype(np.float32)
        self.out = np.empty_like(self.x)
        if op == "empty_jit_call":
            self.f = lambda: numba_stream.copy(self.x[:0], self.out[:0])
        elif op == "softmax":
            self.f = lambda: fastact.softmax(self.x, out=self.out)
        else:
            fn = getattr(fastact, op)
            self.f = lambda: fn(self.x, out=self.out)
        self.f()

    def time_call(self, op):
        self.f()


class CpuVsCuda:
    """Median synchronised seconds per call (the project's loop), CPU and GPU alike."""

    params = (DEVICE_OPS, DEVICE_IMPLS, ["float32"], DEVICE_SIZES)
    param_names = ["op", "impl", "dtype", "n"]
    timeout = 300

    def setup(self, op, impl, dtype, n):
        self.data = CASES[op].setup(n, np.dtype(dtype), 0)
        self.call, self.sync = make_synced_call(CASES[op], impl, self.data)
        self.call()  # compile outside any timed region

    def track_seconds(self, op, impl, dtype, n):
        return timing.median_time(self.call, self.sync, min_time=0.02, rounds=7)

    track_seconds.unit = "seconds"  # type: ignore[attr-defined]
