"""First-call latency of one kernel in a fresh process, warm and cold Numba cache.

    python bench/tools/first_call.py

Each measurement is a new interpreter timing ``import fastact`` plus the first
``fastact.gelu`` call on 1,000 float32 elements (compile or cache load included),
and the second call. "cold": ``NUMBA_CACHE_DIR`` points at an empty directory;
"warm": the same directory again, now filled. Compile time is measured here on
its own, never inside a benchmark.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

CODE = """
import time
t0 = time.perf_counter()
import numpy as np, fastact
t1 = time.perf_counter()
x = np.linspace(-3, 3, 1000, dtype=np.float32)
fastact.gelu(x)
t2 = time.perf_counter()
fastact.gelu(x)
t3 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {(t3 - t2) * 1e6:.1f}")
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=d)
        for label in ("cold cache", "warm cache", "warm cache"):
            out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True,
                                 text=True, check=True).stdout.split()  # fmt: skip
            print(f"{label}: import {out[0]} s, first gelu call {out[1]} s, "
                  f"second call {out[2]} us")  # fmt: skip


if __name__ == "__main__":
    main()
