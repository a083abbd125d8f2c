"""Every elementwise loop of the Cython backend is vectorized by gcc.

A loop that gcc leaves scalar still gives the right answer, ten times slower: a
short-circuit ``&&`` (the float32 tanh-GELU derivative), a branch on a runtime
parameter (leaky_relu, swish) or a branch around an inlined function (elu in the
serial loop) have each done so. ``setup.py`` has gcc list the loops it vectorized
(``-fopt-info-vec-optimized``, ``build/vec-report/``); this test finds the loop of
every forward and backward kernel in the generated C and looks it up there.
Skipped where the extension was not built with gcc in this checkout.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fastact import table

ROOT = Path(__file__).resolve().parent.parent
C_SOURCE = ROOT / "kernels" / "_cy_elementwise.c"
REPORT = ROOT / "build" / "vec-report" / "_cy_elementwise.txt"

# out[i] = NAME_fwd(x[i], ...) / out[i] = g[i] * NAME_deriv(x[i], ...) /
# out[i] = g[i] * NAME_deriv_y(y[i], ...) in Cython's C
_CALL = re.compile(r"__pyx_fuse_(\d)__pyx_f_\w+?_cy_elementwise_(\w+?)_(fwd|deriv|deriv_y)\(\(\*")


def _loops() -> dict[tuple[str, str, str], list[range]]:
    """(activation, fwd|deriv|deriv_y, float32|float64) -> the lines of each loop calling it
    (from its ``for`` to the store: gcc names one of them)."""
    lines = C_SOURCE.read_text().split("\n")
    found: dict[tuple[str, str, str], list[int]] = {}
    for i, line in enumerate(lines):
        m = _CALL.search(line)
        if not m or "out.data" not in line:
            continue
        j = i
        while j > 0 and not lines[j].lstrip().startswith("for ("):
            j -= 1
        key = (m.group(2), m.group(3), "float32" if m.group(1) == "0" else "float64")
        found.setdefault(key, []).append(range(j + 1, i + 2))
    return found


#: float32 twins built on fmaf (error-free products, fused polynomials): without hardware
#: FMA (``FASTACT_PORTABLE=1`` on x86-64) gcc calls libm's scalar fmaf and leaves these
#: loops scalar, a known cost of the portable build
NEEDS_FMA = {"softplus", "logsigmoid", "silu", "swish", "gelu", "mish"}


def _portable() -> bool:
    flags = REPORT.parent / "cflags.txt"
    return flags.exists() and "-march=native" not in flags.read_text()


def _report() -> set[int]:
    if not (C_SOURCE.exists() and REPORT.exists()) or REPORT.stat().st_size == 0:
        pytest.skip("no gcc vectorization report for this build (built without gcc?)")
    if REPORT.stat().st_mtime < C_SOURCE.stat().st_mtime:
        pytest.skip("the vectorization report predates the generated C (rebuild)")
    text = REPORT.read_text()
    hit = re.findall(r"_cy_elementwise\.c:(\d+):\d+: optimized: loop vectorized", text)
    return {int(n) for n in hit}


@pytest.mark.parametrize("name", [e.name for e in table.ENTRIES])
def test_every_elementwise_loop_is_vectorized(name):
    vectorized = _report()
    if name in NEEDS_FMA and _portable():
        pytest.skip(f"{name}: its float32 twin needs hardware FMA (portable build)")
    loops = _loops()
    kinds = ("fwd", "deriv") + (("deriv_y",) if table.BY_NAME[name].from_output else ())
    for kind in kinds:
        for dtype in ("float32", "float64"):
            at = loops.get((name, kind, dtype))
            # the parallel (OpenMP) and the serial loop of each kernel (gelu: per form)
            assert at and len(at) >= 2, f"{name}_{kind} {dtype}: loops not found in {C_SOURCE.name}"
            scalar = [r.start for r in at if not vectorized.intersection(r)]
            assert not scalar, (
                f"{name}_{kind} {dtype}: gcc left the loop at {C_SOURCE.name}:{scalar} scalar "
                f"(see {REPORT.relative_to(ROOT)}; -fopt-info-vec-missed says why)"
            )
