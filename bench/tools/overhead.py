"""Per-call overhead of fastact on 1,000 elements, against the raw compiled kernel.

    python bench/tools/overhead.py

Times (microseconds per call; the median over 9 interleaved rounds of the
project's timing loop, :func:`fastact.timing.measure`) an empty
compiled call, the raw serial Numba kernel that ``fastact.relu`` runs on small
arrays, ``fastact.relu`` with and without ``out=``, ``fastact.sigmoid``,
``fastact.softmax`` and the NumPy / PyTorch equivalents, all on the same 1,000
float32 elements. The figure the CPU issue targets (at most 3 us) is
``fastact.relu(x, out=o)`` minus the raw kernel; the part of it that the
array-type wrapper of ``fastact/_adapt.py`` adds is ``fastact.relu`` minus
``fastact.relu.__wrapped__``.
"""

from __future__ import annotations

import json

import numpy as np
from fastact.kernels import numba_elementwise, numba_stream

import fastact
from fastact import timing


def per_call(f):
    """The callable itself: every contender is timed together in :func:`main`."""
    return f


def wrapper_cost(rounds: int = 21) -> tuple[float, float, float]:
    """Nanoseconds the array-type wrapper of ``fastact/_adapt.py`` adds to a call,
    measured on a no-op function with relu's signature (so that kernel noise does not
    drown it): median and quartiles over ``rounds`` interleaved rounds."""
    from fastact import _adapt

    def relu(x, *, out=None, backend=None):  # type: ignore[no-untyped-def]
        return out

    wrapped = _adapt.adapt(relu, register=False)
    x = np.zeros(1000, np.float32)
    o = np.empty_like(x)
    # the project's timing loop: both in every round, warmed, per-round differences
    t = timing.measure(
        {"wrapped": lambda: wrapped(x, out=o), "plain": lambda: relu(x, out=o)},
        rounds=rounds,
        min_time=0.02,
    )
    d = np.sort((np.asarray(t["wrapped"]) - np.asarray(t["plain"])) * 1e9)
    return float(np.median(d)), float(np.percentile(d, 25)), float(np.percentile(d, 75))


def main() -> int:
    x = np.linspace(-3, 3, 1000).astype(np.float32)
    o = np.empty_like(x)
    a = np.float32(0.0)
    res = {
        "empty compiled call": per_call(lambda: numba_stream.copy(x[:0], o[:0])),
        "raw relu kernel": per_call(lambda: numba_elementwise.relu_fwd_ser(x, o, a, a)),
        "fastact.relu(x, out=o)": per_call(lambda: fastact.relu(x, out=o)),
        "unwrapped relu(x, out=o)": per_call(lambda: fastact.relu.__wrapped__(x, out=o)),
        "fastact.relu(x)": per_call(lambda: fastact.relu(x)),
        "fastact.sigmoid(x, out=o)": per_call(lambda: fastact.sigmoid(x, out=o)),
        "fastact.softmax(x, out=o)": per_call(lambda: fastact.softmax(x, out=o)),
        "np.maximum(x, 0, out=o)": per_call(lambda: np.maximum(x, 0, out=o)),
    }
    try:
        import torch

        tx, to = torch.from_numpy(x), torch.from_numpy(o)
        res["torch.clamp_min(x, 0, out=o)"] = per_call(lambda: torch.clamp_min(tx, 0, out=to))
        res["torch.relu(x)"] = per_call(lambda: torch.relu(tx))
    except ImportError:
        pass
    samples = timing.measure(res, rounds=9, min_time=0.02)
    res = {k: float(np.median(v)) * 1e6 for k, v in samples.items()}
    for k, v in res.items():
        print(f"{k:28s} {v:7.2f} us")
    over = res["fastact.relu(x, out=o)"] - res["raw relu kernel"]
    print(f"overhead of fastact.relu(x, out=o) over the raw kernel: {over:.2f} us")
    wrap = res["fastact.relu(x, out=o)"] - res["unwrapped relu(x, out=o)"]
    print(f"of which the array-type wrapper (fastact/_adapt.py): {wrap:.2f} us")
    med, q1, q3 = wrapper_cost()
    print(f"the wrapper alone, interleaved on a no-op function: {med:.0f} ns "
          f"(quartiles {q1:.0f}-{q3:.0f} ns)")  # fmt: skip
    print(json.dumps({"overhead_us": round(over, 3), "wrapper_ns": round(med, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
