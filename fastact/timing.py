"""The one timing loop of the project, and the statistics of its samples.

Every benchmark number fastact prints comes from :func:`measure`: ``fastact
bench``, the asv ``track_*`` benchmarks in ``bench/``, ``bench/tools/*`` and the
synchronised GPU timings of :mod:`fastact.cuda_bench`.

How it times (the method of ``pyperf`` and ``asv``, not a best-of):

* every callable runs once before anything is timed (compilation, page faults);
* timing runs in *rounds*; round ``k`` times every callable once, so a burst of
  load from another tenant of a shared machine lands on all of them alike; the
  order of the callables rotates from round to round;
* inside a round each callable gets an untimed warm-up call (repeated until
  ``warm`` seconds have passed) right before its timed block of ``number`` calls.
  This matters: PyTorch's OpenMP threads keep spinning for a while after each
  parallel region, so whatever runs right after PyTorch would run on stolen
  cores (measured: fastact's softmax timed right after ATen's read 0.58x
  PyTorch, 0.97x with the warm-up);
* ``sync`` (GPU work is asynchronous) is called before every clock read.

A ratio of two callables is computed per round (both were timed within the same
round) and summarised by :func:`summarize`: median, interquartile range and a
bootstrap 95% confidence interval of the median.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

Sync = Callable[[], Any]


def _noop() -> None:
    return None


def calibrate(
    calls: Mapping[str, Callable[[], Any]],
    min_time: float,
    sync: Sync | Mapping[str, Sync] | None = None,
) -> dict[str, int]:
    """Calls per timed block so that one block lasts about ``min_time`` seconds.

    Each callable runs once untimed (compilation), then once timed.
    """
    numbers = {}
    for k, f in calls.items():
        s = _sync_of(sync, k)
        f()
        s()
        t0 = time.perf_counter()
        f()
        s()
        one = max(time.perf_counter() - t0, 1e-7)
        numbers[k] = max(1, int(min_time / one))
    return numbers


def _sync_of(sync: Sync | Mapping[str, Sync] | None, key: str) -> Sync:
    if sync is None:
        return _noop
    if isinstance(sync, Mapping):
        return sync.get(key, _noop)
    return sync


def measure(
    calls: Mapping[str, Callable[[], Any]],
    rounds: int = 7,
    min_time: float = 0.02,
    *,
    sync: Sync | Mapping[str, Sync] | None = None,
    numbers: Mapping[str, int] | None = None,
    warm: float | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of every callable, one sample per round (see the module doc).

    ``sync`` is one callable for all, or a mapping name -> callable (GPU callables
    next to CPU ones in the same rounds). ``numbers`` (calls per timed block) comes
    from :func:`calibrate` when not given. ``warm``: seconds of untimed calls
    before each timed block (at least one call; default ``min_time / 10``).
    Returns ``{name: [seconds per call in round 0, round 1, ...]}``.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    if not calls:
        return {}
    if numbers is None:
        numbers = calibrate(calls, min_time, sync)
    warm_s = min_time / 10 if warm is None else warm
    names = list(calls)
    samples: dict[str, list[float]] = {k: [] for k in names}
    enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            shift = r % len(names)
            for k in names[shift:] + names[:shift]:
                f, s, number = calls[k], _sync_of(sync, k), numbers[k]
                t_w = time.perf_counter()
                f()  # warm-up: at least one untimed call right before the timed block
                s()
                while time.perf_counter() - t_w < warm_s:
                    f()
                    s()
                t0 = time.perf_counter()
                for _ in range(number):
                    f()
                s()
                samples[k].append((time.perf_counter() - t0) / number)
    finally:
        if enabled:
            gc.enable()
    return samples


def ratios(num: Sequence[float], den: Sequence[float]) -> np.ndarray:
    """Per-round ratios ``num[k] / den[k]`` (both timed in round ``k``)."""
    a = np.asarray(num, dtype=np.float64)
    b = np.asarray(den, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"sample counts differ: {a.shape} and {b.shape}")
    return a / b


def summarize(values: Sequence[float] | np.ndarray, seed: int = 0) -> dict[str, float]:
    """Median, quartiles and a bootstrap 95% CI of the median (1,000 resamples).

    ``rel_iqr`` is ``(q75 - q25) / median``: the spread a row is judged noisy by.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("no samples to summarize")
    med = float(np.median(v))
    q25, q75 = (float(q) for q in np.percentile(v, [25, 75]))
    rng = np.random.default_rng(seed)
    boot = np.median(v[rng.integers(0, v.size, (1000, v.size))], axis=1)
    lo, hi = (float(q) for q in np.percentile(boot, [2.5, 97.5]))
    return {
        "median": med,
        "q25": q25,
        "q75": q75,
        "ci_lo": lo,
        "ci_hi": hi,
        "rel_iqr": (q75 - q25) / med if med else float("inf"),
        "rounds": int(v.size),
    }


def median_time(
    f: Callable[[], Any],
    sync: Sync | None = None,
    min_time: float = 0.02,
    rounds: int = 7,
) -> float:
    """Median seconds per call of one callable over ``rounds`` rounds."""
    return float(np.median(measure({"f": f}, rounds, min_time, sync=sync)["f"]))
