"""``fastact.show_config()``: what this installation can do, and why not.

As ``numpy.show_config()``: the backends and the reason any is unavailable, the
threading layer, the thread count and the CPUs this process may use, the SIMD
features, libmvec, and the GPU.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any


def config() -> dict[str, Any]:
    """The configuration as a dictionary (what :func:`show_config` prints)."""
    import numpy as np

    from fastact import __version__, _backends, _threads

    info: dict[str, Any] = {
        "fastact": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
    }
    backends: dict[str, str] = {}
    for name in _backends.NAMES:
        backends[name] = "available" if _backends.is_available(name) else (
            "unavailable: " + _backends._failed.get(name, "unknown reason")
        )
    info["backends"] = backends
    info["automatic CPU backend"] = _backends.auto_cpu().NAME
    info["threads"] = {
        "used": _threads.get_num_threads(),
        "usable CPUs (affinity mask)": _threads.usable_cpus(),
        "os.cpu_count()": os.cpu_count(),
        "serial below (elements)": _threads.SERIAL_BELOW,
    }
    try:
        import numba

        from fastact import _numba_setup

        _numba_setup.configure()
        layer: str = getattr(numba.config, "THREADING_LAYER", "default")
        try:
            layer = numba.threading_layer()  # set once a parallel kernel has run
        except ValueError:
            prio = getattr(numba.config, "THREADING_LAYER_PRIORITY", "?")
            layer = f"{layer} (priority {prio}, none started)"
        info["numba"] = {"version": numba.__version__, "threading layer": layer,
                         "tbb": _numba_setup.tbb_path or "not found"}  # fmt: skip
    except ImportError as exc:
        info["numba"] = f"not installed ({exc})"
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats

        simd = [k for k in ("AVX512F", "AVX512_SKX", "AVX2", "FMA3", "AVX", "SSE42", "ASIMD")
                if feats.get(k)]  # fmt: skip
        info["SIMD"] = ", ".join(simd) or "none detected"
    except ImportError:  # pragma: no cover - numpy < 2
        info["SIMD"] = "unknown"
    try:
        from fastact import _mvec

        info["libmvec"] = (
            f"yes ({', '.join(isa for isa, _ in _mvec.ISAS or [])})" if _mvec.HAVE_LIBMVEC
            else "no (own exp/log1p/erfc)"
        )  # fmt: skip
    except Exception as exc:
        info["libmvec"] = f"unknown ({type(exc).__name__}: {exc})"
    if _backends.is_available("cuda"):
        from fastact.backends import cuda_backend

        try:
            info["GPU"] = cuda_backend.device_name()
        except Exception as exc:
            info["GPU"] = f"unavailable ({type(exc).__name__}: {exc})"
    else:
        info["GPU"] = "none (" + _backends._failed.get("cuda", "cuda backend not loaded") + ")"
    return info


def _lines(d: dict[str, Any], indent: int = 0) -> list[str]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.append(" " * indent + f"{k}:")
            out += _lines(v, indent + 2)
        else:
            out.append(" " * indent + f"{k}: {v}")
    return out


def show_config(mode: str = "stdout") -> dict[str, Any] | None:
    """Print fastact's configuration (``mode="stdout"``) or return it (``"dicts"``).

    Backends and why any is unavailable, the automatic CPU backend, threads and the
    CPUs this process may run on, Numba's threading layer, SIMD, libmvec and the GPU.
    """
    if mode not in ("stdout", "dicts"):
        raise ValueError(f"mode must be 'stdout' or 'dicts', got {mode!r}")
    info = config()
    if mode == "dicts":
        return info
    print("\n".join(_lines(info)))
    return None
