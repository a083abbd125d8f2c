"""Reference streams for the benchmarks: the memory-bandwidth ceiling of a kernel.

``copy`` reads one array and writes one (an elementwise forward moves the same
bytes); ``add`` reads two and writes one (an elementwise backward).
"""

from numba import njit, prange


@njit(parallel=True, cache=True)
def copy(x, out):
    # out = x
    for i in prange(x.shape[0]):
        out[i] = x[i]


@njit(parallel=True, cache=True)
def add(a, b, out):
    # out = a + b (a 2-in-1-out stream)
    for i in prange(a.shape[0]):
        out[i] = a[i] + b[i]
