"""Kernel sources, installed as ``fastact.kernels``: Numba CPU, Numba CUDA and Cython."""

from pathlib import Path as _Path

from fastact import _numba_setup as _ns

# Numba's cache of these modules also depends on the shared math (see there); before
# any kernel module is imported
_ns.stamp_kernel_caches(_Path(__file__).parent)
