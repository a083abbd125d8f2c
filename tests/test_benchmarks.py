"""pytest-benchmark: every benchmark case, also a correctness check.

In the normal test run (``--benchmark-disable`` in pyproject) each case runs once
and its result is checked against an independent reference; to measure, run
``python -m pytest tests/test_benchmarks.py --benchmark-enable``.
"""

from __future__ import annotations

import numpy as np
import pytest
from util import assert_close

from fastact import bench, table

CASES = bench.cases()
N = 1 << 16


def _reference(name: str, d: dict) -> np.ndarray:
    """The float64 value the case's fastact call must produce."""
    base = name.removesuffix("_backward")
    x = d["x"].astype(np.float64)
    with np.errstate(all="ignore"):
        if base in table.BY_NAME:
            e = table.BY_NAME[base]
            a, b = e.encode(d["params"])
            if name.endswith("_backward"):
                return d["g"].astype(np.float64) * e.ref_deriv(x, a, b)
            return e.ref(x, a, b)
        from scipy import special

        if name == "softmax":
            return special.softmax(x, axis=-1)
        if name == "log_softmax":
            return special.log_softmax(x, axis=-1)
        if name == "logsumexp":
            return special.logsumexp(x, axis=-1)
        g = d["g"].astype(np.float64)
        if name == "softmax_backward":
            y = special.softmax(x, axis=-1)
            return y * (g - (g * y).sum(-1, keepdims=True))
        if name == "log_softmax_backward":
            y = special.softmax(x, axis=-1)
            return g - y * g.sum(-1, keepdims=True)
        if name == "cross_entropy":
            p = special.softmax(x, axis=-1)
            p[np.arange(len(d["t"])), d["t"]] -= 1
            return p / len(d["t"])
    raise KeyError(name)


@pytest.mark.parametrize("name", list(CASES))
def test_benchmark_case(benchmark, name):
    case = CASES[name]
    d = case.setup(N, np.dtype(np.float32), 0)
    result = benchmark(case.run, d, "numba")
    got = result[1] if name == "cross_entropy" else result
    assert_close(got, _reference(name, d).astype(np.float32), 2e-5, 2e-6, name)
