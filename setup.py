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
            report = _vec_report_flag(
                self.compiler, ext.name, self._will_compile(ext), ext.extra_compile_args
            )
        except OSError:  # a read-only tree: build without the report
            report = None
        if report:
            ext.extra_compile_args = [*ext.extra_compile_args, report]
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(exc, ext.name)

    def _will_compile(self, ext: Extension) -> bool:
        """build_ext's own test: a source newer than the built module (or --force)."""
        target = self.get_ext_fullpath(ext.name)
        if self.force or not os.path.exists(target):
            return True
        built = os.path.getmtime(target)
        files = [f for f in [*ext.sources, *ext.depends] if os.path.exists(f)]
        return any(os.path.getmtime(f) > built for f in files)

    @staticmethod
    def _warn(exc: Exception, name: str = "the Cython extension") -> None:
        print(
            f"WARNING: fastact could not build {name} ({exc}); the 'cython' backend "
            "will be unavailable, numba and numpy still work.",
            file=sys.stderr,
        )


#: gcc's list of the loops it vectorized, one file per extension (``tests/test_vectorized.py``
#: checks that every elementwise loop is in it: a loop that silently runs scalar is 10x slower)
VEC_REPORT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build", "vec-report")


def _vec_report_flag(compiler: object, name: str, fresh: bool, cflags: list[str]) -> str | None:
    cc = getattr(compiler, "compiler_so", None) or [""]
    if "gcc" not in os.path.basename(str(cc[0])) and os.path.basename(str(cc[0])) != "cc":
        return None
    try:
        import subprocess

        out = subprocess.run([cc[0], "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if "Free Software Foundation" not in out.stdout:  # gcc, not clang
        return None
    os.makedirs(VEC_REPORT_DIR, exist_ok=True)
    path = os.path.join(VEC_REPORT_DIR, name.rsplit(".", 1)[-1] + ".txt")
    if fresh:  # gcc appends to the file: a compile starts a fresh report
        with open(path, "w"):
            pass
        # the flags it was built with (tests/test_vectorized.py: a portable build lacks FMA)
        with open(os.path.join(VEC_REPORT_DIR, "cflags.txt"), "w") as f:
            f.write(" ".join(cflags) + "\n")
    return f"-fopt-info-vec-optimized={path}"


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
