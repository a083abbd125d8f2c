"""Backend registry: load each backend once, remember why one cannot run.

Backends are modules exposing the same raw-kernel functions over flat,
contiguous arrays (see :mod:`fastact.backends.numpy_backend` for the
reference list). Loading is lazy: importing :mod:`fastact` compiles nothing and
does not import Numba until a kernel is first called.
"""

from __future__ import annotations

import importlib
import os
import threading
from types import ModuleType


class BackendUnavailable(RuntimeError):
    """An explicitly requested backend cannot run on this machine."""


#: Every backend name, in the order the automatic choice tries the CPU ones.
NAMES: tuple[str, ...] = ("numba", "cython", "numpy", "cuda")
CPU_AUTO_ORDER: tuple[str, ...] = ("numba", "cython", "numpy")

_MODULES = {
    "numba": "fastact.backends.numba_backend",
    "cython": "fastact.backends.cython_backend",
    "numpy": "fastact.backends.numpy_backend",
    "cuda": "fastact.backends.cuda_backend",
}

_lock = threading.Lock()
_loaded: dict[str, ModuleType] = {}
_failed: dict[str, str] = {}
_auto_cpu: ModuleType | None = None


def _disabled() -> set[str]:
    # FASTACT_DISABLE=numba,cython lets users (and tests) simulate a missing backend.
    return {s.strip() for s in os.environ.get("FASTACT_DISABLE", "").split(",") if s.strip()}


def load(name: str) -> ModuleType:
    """Return the backend module ``name`` or raise :class:`BackendUnavailable`."""
    mod = _loaded.get(name)
    if mod is not None:
        return mod
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(NAMES)} or None")
    with _lock:
        if name in _loaded:
            return _loaded[name]
        if name in _failed:
            raise BackendUnavailable(f"backend {name!r} is unavailable: {_failed[name]}")
        if name in _disabled():
            _failed[name] = "disabled by the FASTACT_DISABLE environment variable"
            raise BackendUnavailable(f"backend {name!r} is unavailable: {_failed[name]}")
        try:
            mod = importlib.import_module(_MODULES[name])
            check = getattr(mod, "check_available", None)
            if check is not None:
                check()
        except (ImportError, OSError, RuntimeError) as exc:
            _failed[name] = f"{type(exc).__name__}: {exc}"
            raise BackendUnavailable(f"backend {name!r} is unavailable: {_failed[name]}") from exc
        _loaded[name] = mod
        return mod


def is_available(name: str) -> bool:
    try:
        load(name)
    except BackendUnavailable:
        return False
    return True


def available_backends() -> list[str]:
    """Names of the backends that work on this machine, fastest CPU one first."""
    return [n for n in NAMES if is_available(n)]


def auto_cpu() -> ModuleType:
    """The fastest CPU backend that loads (numba, then cython, then numpy)."""
    global _auto_cpu
    if _auto_cpu is None:
        for n in CPU_AUTO_ORDER:
            if is_available(n):
                _auto_cpu = load(n)
                break
        else:  # pragma: no cover - numpy always loads
            raise BackendUnavailable("no CPU backend could be loaded")
        if _auto_cpu.NAME == "numpy" and not _disabled() >= {"numba", "cython"}:
            import warnings

            why = "; ".join(f"{n}: {_failed.get(n, '?')}" for n in ("numba", "cython"))
            warnings.warn(
                "fastact fell back to its NumPy reference backend, which is much slower "
                f"({why}); see fastact.show_config()",
                RuntimeWarning,
                stacklevel=3,
            )
    return _auto_cpu
