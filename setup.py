"""Build the optional Cython/OpenMP extension (everything else is in pyproject.toml).

Flags: ``-O3 -fno-math-errno -fno-trapping-math -fopenmp`` keep IEEE semantics (no
``-ffinite-math-only``); ``kernels/fa_simd.h`` declares SIMD variants of libm's
functions so gcc vectorizes through glibc's libmvec. By default the code is
tuned for the building machine (``-march=native``, as an install from source
runs where it is built); set ``FASTACT_PORTABLE=1`` for a baseline build. If the
compiler or OpenMP is missing the extension is skipped with a warning and
``backend="cython"`` raises ``BackendUnavailable``.
"""

from __future__ import annotations

import os
import platform
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """Never fail the install because the compiled fallback cannot be built."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            self._warn(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(exc, ext.name)

    @staticmethod
    def _warn(exc: Exception, name: str = "the Cython extension") -> None:
        print(
            f"WARNING: fastact could not build {name} ({exc}); the 'cython' backend "
            "will be unavailable, numba and numpy still work.",
            file=sys.stderr,
        )


def extensions() -> list[Extension]:
    if os.environ.get("FASTACT_NO_CYTHON") == "1":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("WARNING: Cython is not installed: skipping the cython backend", file=sys.stderr)
        return []
    # -ffp-contract=off: no FMA contraction, so results match NumPy bit for bit where they
    # should (RReLU slopes from the same seed)
    # -fno-trapping-math: floating-point exceptions are never observed, so gcc may
    # evaluate both sides of a select (without it, a clamp such as ``a > c ? c : a``
    # followed by arithmetic becomes a branch and the loop does not vectorize: the
    # float32 GELU in fa_simd.h); values, NaN and infinities are unchanged
    cflags = ["-O3", "-fno-math-errno", "-ffp-contract=off", "-fno-trapping-math", "-fopenmp"]
    if os.environ.get("FASTACT_PORTABLE") != "1":
        # gcc tunes the AVX-512 Intel CPUs for 256-bit vectors; the transcendental
        # loops run 1.3-1.6x faster with 512 (PyTorch's AVX512 kernels use 512)
        cflags.append("-march=native")
        if platform.machine() in ("x86_64", "AMD64"):  # an x86-only gcc flag
            cflags.append("-mprefer-vector-width=512")
    common = dict(
        include_dirs=["kernels"],
        extra_compile_args=cflags,
        extra_link_args=["-fopenmp"],
        libraries=["mvec", "m"] if sys.platform.startswith("linux") else ["m"],
    )
    exts = [
        Extension("fastact.kernels._cy_elementwise", ["kernels/_cy_elementwise.pyx"], **common),
        Extension("fastact.kernels._cy_rowwise", ["kernels/_cy_rowwise.pyx"], **common),
    ]
    try:
        return cythonize(exts, compiler_directives={"language_level": 3}, quiet=True)
    except Exception as exc:
        print(f"WARNING: cythonize failed ({exc}): skipping the cython backend", file=sys.stderr)
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
