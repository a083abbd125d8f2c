"""CPU thread count shared by the Numba and Cython backends."""

from __future__ import annotations

import os

_MAX = max(1, int(os.environ.get("NUMBA_NUM_THREADS", 0) or (os.cpu_count() or 1)))
_num_threads = _MAX


def max_threads() -> int:
    """The largest thread count :func:`set_num_threads` accepts."""
    return _MAX


def set_num_threads(n: int) -> None:
    """Use ``n`` CPU threads in the parallel kernels (1 <= n <= the core count)."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int):
        try:
            import operator

            n = operator.index(n)
        except TypeError:
            raise TypeError(f"set_num_threads() needs an integer, got {n!r}") from None
    if not 1 <= n <= _MAX:
        raise ValueError(f"set_num_threads({n}): the number must be between 1 and {_MAX}")
    _num_threads = n


def get_num_threads() -> int:
    """The number of CPU threads the parallel kernels use."""
    return _num_threads
