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
from typing import Any

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


# --------------------------------------------------------------------------- #
# Numba's on-disk cache of the hand-written kernel modules                    #
# --------------------------------------------------------------------------- #
#: the sources every Numba kernel module compiles code from besides its own file
#: (Numba inlines the math at its IR level, so it lands in each kernel's object code):
#: files of the fastact package, then of the kernels package
CACHE_DEPENDENCIES = (("_math.py", "_mvec.py", "pointwise.py"), ("numba_pointwise.py",))
_stamped = False


def dependency_hash(kernels_dir: Path, package_dir: Path | None = None) -> str:
    """sha256 of the contents of :data:`CACHE_DEPENDENCIES` (OSError if one is missing)."""
    import hashlib

    h = hashlib.sha256()
    roots = (package_dir or Path(__file__).resolve().parent, kernels_dir)
    for root, names in zip(roots, CACHE_DEPENDENCIES, strict=True):
        for name in names:
            h.update((root / name).read_bytes())
    return h.hexdigest()


def stamp_kernel_caches(kernels_dir: Path) -> None:
    """Make Numba's cache of the ``numba_*`` modules in ``kernels_dir`` also depend on
    the shared math.

    Numba stamps a cached function by its own source file only. The row-wise,
    special and pointwise kernels compile ``_math.py``'s functions (inlined at Numba's
    IR level) into their object code, so after an edit of ``_math.py`` they went on
    loading the old machine code from ``__pycache__`` (measured: float64 softmax rows
    kept a layout the edit had fixed). The generated elementwise module carries a hash
    in its text for this; here, every kernel module's locator adds
    :func:`dependency_hash` to its stamp. Numba's locators are internal: if their
    interface differs, or a dependency cannot be read, or a locator fails, nothing is
    changed (the cache then works as Numba's own; so it does when the user names
    ``NUMBA_CACHE_LOCATOR_CLASSES``). Must run before the kernel modules are imported
    (kernels/__init__.py calls it).
    """
    global _stamped
    if _stamped:
        return
    _stamped = True
    try:
        from numba.core import caching

        impl: Any = caching.CacheImpl
        originals: list[Any] = list(impl._locator_classes)
    except (ImportError, AttributeError):
        return
    kdir = kernels_dir.resolve()
    try:
        dep = dependency_hash(kdir)
    except OSError:
        return

    def _stamped_locator(loc: Any) -> Any:
        own = loc.get_source_stamp
        loc.get_source_stamp = lambda: (own(), dep)
        return loc

    class _KernelLocator:
        @classmethod
        def from_function(cls, py_func: object, py_file: str) -> object:
            try:
                path = Path(py_file).resolve()
                if path.parent != kdir or not path.name.startswith("numba_"):
                    return None
                for k in originals:
                    loc = k.from_function(py_func, py_file)
                    if loc is not None:
                        return _stamped_locator(loc)
            except Exception:  # Numba's internals changed: its own locators follow
                return None
            return None

    impl._locator_classes = [_KernelLocator, *originals]
