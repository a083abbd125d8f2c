"""Choose Numba's threading layer before any parallel kernel runs.

fastact prefers Intel TBB: it is safe when several Python threads call parallel
kernels at once *and* in a child forked after the parent used them (PyTorch
DataLoader workers, ``multiprocessing`` on Linux). GNU OpenMP terminates such a
child ("fork() called from a process already using GNU OpenMP") and the
``workqueue`` layer aborts on concurrent calls.

The ``tbb`` wheel installs ``libtbb.so.12`` into the environment's ``lib/``,
which Numba's extension loader does not search, so it is loaded here first
(``RTLD_GLOBAL``) from the places a wheel may put it. Without TBB, Numba's own
priority order (OpenMP, then workqueue) applies. A user who sets
``NUMBA_THREADING_LAYER`` keeps their choice.
"""

from __future__ import annotations

import ctypes
import os
import sys
import sysconfig
from pathlib import Path

_done = False
tbb_path: str | None = None


def _candidates() -> list[Path]:
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sysconfig.get_path("data"))}
    return [r / "lib" / "libtbb.so.12" for r in roots]


def configure() -> None:
    global _done, tbb_path
    if _done:
        return
    _done = True
    for cand in _candidates():
        if cand.exists():
            try:
                ctypes.CDLL(str(cand), mode=ctypes.RTLD_GLOBAL)
            except OSError:
                continue
            tbb_path = str(cand)
            break
    import warnings

    import numba
    from numba.core.errors import NumbaIRAssumptionWarning

    # Numba's pedantic IR check fires on variables that its own IR inliner renames
    # (the math module is inlined with inline="always"); the code is correct.
    warnings.filterwarnings("ignore", category=NumbaIRAssumptionWarning)

    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER_PRIORITY = ["tbb", "omp", "workqueue"]  # type: ignore[attr-defined]
        numba.config.THREADING_LAYER = "default"  # type: ignore[attr-defined]
