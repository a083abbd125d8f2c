"""CPU thread count shared by the Numba and Cython backends.

One rule for every kernel: the default and the maximum are the CPUs this process
may run on (``os.sched_getaffinity``: a ``taskset``, Docker ``--cpuset-cpus``,
Slurm or Kubernetes CPU set), capped by ``NUMBA_NUM_THREADS`` when it is set, never
``os.cpu_count()``, which counts CPUs the process cannot use.

A child forked after the parent ran a GNU OpenMP parallel region cannot start
OpenMP threads (libgomp's pool does not survive ``fork``; the first parallel call
would hang), so :func:`omp_threads` gives 1 in such a child; the Numba backend
uses TBB, which is fork-safe, and keeps its threads.
"""

from __future__ import annotations

import contextlib
import operator
import os


def usable_cpus() -> int:
    """The number of CPUs this process may run on (its affinity mask)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, n)


def _max_threads() -> int:
    n = usable_cpus()
    env = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    if env:
        with contextlib.suppress(ValueError):
            n = min(n, max(1, int(env)))
    return n


#: Calls over fewer elements than this run on one thread (the pool costs more than it saves).
SERIAL_BELOW = 1 << 15
#: The same for the table's cheap activations (relu, hardtanh, ...: a few instructions
#: per element) on the Numba backend, whose TBB launch costs 8-10 us: relu over 2^17
#: float32 took 22 us serial against 24 us on two threads, over 2^18 64 against 37
#: (``bench/tools/overhead.py``-style timing, 2 threads, 2026-11-28)
SERIAL_BELOW_CHEAP = 1 << 18

_MAX = _max_threads()
_num_threads = _MAX
#: set in a child forked after the parent used an OpenMP parallel region
_omp_forked = False
_omp_used = False


def _after_fork_in_child() -> None:
    global _omp_forked
    if _omp_used:
        _omp_forked = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def max_threads() -> int:
    """The largest thread count :func:`set_num_threads` accepts (the usable CPUs)."""
    return _MAX


def set_num_threads(n: int) -> None:
    """Use ``n`` CPU threads in the parallel kernels (1 <= n <= the usable CPUs)."""
    global _num_threads
    if isinstance(n, bool):
        raise TypeError(f"set_num_threads() needs an integer, got {n!r}")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"set_num_threads() needs an integer, got {n!r}") from None
    if not 1 <= n <= _MAX:
        raise ValueError(
            f"set_num_threads({n}): the number must be between 1 and {_MAX} "
            "(the CPUs this process may run on)"
        )
    _num_threads = n


def get_num_threads() -> int:
    """The number of CPU threads the parallel kernels use."""
    return _num_threads


def omp_threads(n_elements: int, serial_below: int) -> int:
    """Threads for an OpenMP (Cython) kernel over ``n_elements``: 1 for small calls,
    after :func:`set_num_threads(1) <set_num_threads>` and in a forked child."""
    global _omp_used
    if n_elements < serial_below or _omp_forked:
        return 1
    n = _num_threads
    if n > 1:
        _omp_used = True
    return n
