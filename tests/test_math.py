"""Max ulp error of every function in the math module, over dense samples and edge values.

float32 against float64 NumPy/SciPy (exact to well below a float32 ulp), float64
against mpmath at 120 bits. Run with ``-s`` to see the report.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from numba import njit

from fastact import _math as m

mpmath = pytest.importorskip("mpmath")
mpmath.mp.prec = 120
special = pytest.importorskip("scipy.special")

RANGES = {
    "exp": [(-110, 90), (-1, 1), (-750, 710)],
    "expm1": [(-1, 1), (-40, 89), (-1e-4, 1e-4), (-750, 710)],
    "log1p": [(-0.999, 10), (-1e-4, 1e-4), (0, 1e30)],
    "tanh": [(-10, 10), (-1e-3, 1e-3), (-30, 30)],
    "erfc": [(-5, 10), (-0.5, 0.5), (10, 26)],
    "log1pexp": [(-30, 30), (-104, 0), (-1e-3, 1e-3), (0, 1e30)],
    # log1p of t = exp(-|x|) in [0, 1] (the BCE loss): both sides of the 1/2 switch
    "log1p_unit": [(0, 1), (0, 1e-3), (0.49, 0.51), (0.99, 1)],
    # (-104, -87): float32 results below the normal range (1 / (1 + exp(-x)) was 0 there)
    "sigmoid": [(-20, 20), (-104, -87), (-1e-3, 1e-3), (-750, 40)],
    # (-104, -87) / (-52, -43): float32 results below the normal range
    "sigmoid_deriv": [(-20, 20), (-104, -87), (-1e-3, 1e-3), (-750, 750)],
    "tanh_deriv": [(-10, 10), (-52, -43), (-1e-3, 1e-3), (-380, 380)],
}
NP_REF = {
    "exp": np.exp,
    "expm1": np.expm1,
    "log1p": np.log1p,
    "tanh": np.tanh,
    "erfc": special.erfc,
    "log1pexp": lambda x: np.logaddexp(0.0, x),
    "log1p_unit": np.log1p,
    "sigmoid": lambda x: np.exp(-np.logaddexp(0.0, -x)),
    "sigmoid_deriv": lambda x: np.exp(-np.abs(x) - 2.0 * np.logaddexp(0.0, -np.abs(x))),
    "tanh_deriv": lambda x: 4.0 * np.exp(-2 * np.abs(x) - 2 * np.logaddexp(0.0, -2 * np.abs(x))),
}
MP_REF = {"exp": mpmath.exp, "expm1": mpmath.expm1, "log1p": mpmath.log1p, "tanh": mpmath.tanh,
          "erfc": mpmath.erfc, "log1pexp": lambda v: mpmath.log1p(mpmath.exp(v)),
          "log1p_unit": mpmath.log1p,
          "sigmoid": lambda v: 1 / (1 + mpmath.exp(-v)),
          "sigmoid_deriv": lambda v: mpmath.exp(-v) / (1 + mpmath.exp(-v)) ** 2,
          "tanh_deriv": lambda v: 1 / mpmath.cosh(v) ** 2}  # fmt: skip
EDGES = [0.0, -0.0, math.inf, -math.inf, math.nan, 1e-300, -1e-300, 5e-324, 1e-40, 88.72, 88.73,
         -87.3, -103.9, -104.1, 709.78, 709.79, -745.1, -745.2, -1.0, 1e30, -1e30]  # fmt: skip
# log1pexp is fused (one exp, a log1p polynomial on (0, 1], the add of max(x, 0)):
# several roundings, so a bound of its own (measured 1.5 ulp float32, 1.6 float64)
MAX_ULP = {"exp": 1.5, "expm1": 2.0, "log1p": 2.0, "tanh": 2.0, "erfc": 2.5, "log1pexp": 2.0,
           "log1p_unit": 2.0, "sigmoid": 2.5, "sigmoid_deriv": 2.5, "tanh_deriv": 2.5}
#: functions defined on part of the line: their edge values are those inside it (and NaN)
DOMAIN = {"log1p_unit": (0.0, 1.0)}
REPORT: dict[tuple[str, str], float] = {}


def _apply(f, x):
    # compiled as the kernels are: the math is inlined under the kernels' fast-math flags
    @njit(fastmath=set(m.FASTMATH_STRICT), error_model="numpy")
    def k(x, out):
        for i in range(x.size):
            out[i] = f(x[i])

    out = np.empty_like(x)
    k(x, out)
    return out


def _samples(lo, hi, dtype, n):
    rng = np.random.default_rng(0)
    return np.concatenate([rng.uniform(lo, hi, n), np.linspace(lo, hi, n)]).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(RANGES))
def test_max_ulp_error(name, dtype):
    f = getattr(m, name)
    worst = 0.0
    for lo, hi in RANGES[name]:
        if dtype == np.float32:
            x = _samples(lo, hi, dtype, 500_000)
            got = _apply(f, x).astype(np.float64)
            with np.errstate(all="ignore"):
                ref = NP_REF[name](x.astype(np.float64))
        else:
            x = _samples(lo, hi, dtype, 3000)
            got = _apply(f, x)
            mp = [MP_REF[name](mpmath.mpf(float(v))) for v in x]
            ref = np.array([float(v) for v in mp])
        with np.errstate(all="ignore"):
            rr = ref.astype(dtype)
        fin = np.isfinite(rr) & (rr != 0)
        # the spacing of the correctly rounded result is the ulp
        ulp = np.spacing(np.abs(rr[fin])).astype(np.float64)
        if dtype == np.float32:
            err = np.abs(got[fin] - ref[fin]) / ulp
        else:
            err = (
                np.array(
                    [
                        float(abs(mpmath.mpf(float(g)) - r))
                        for g, r in zip(got[fin], np.array(mp)[fin], strict=True)
                    ]
                )
                / ulp
            )
        worst = max(worst, float(err.max()))
        # outside the finite range: same infinities / zeros as the correctly rounded result
        np.testing.assert_array_equal(got[~fin].astype(dtype), rr[~fin])
    REPORT[(name, np.dtype(dtype).name)] = worst
    print(f"\n{name} {np.dtype(dtype).name}: max error {worst:.2f} ulp")
    assert worst <= MAX_ULP[name], f"{name} {dtype}: {worst:.2f} ulp"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(RANGES))
def test_edge_values(name, dtype):
    x = np.array(EDGES, dtype=np.float64)
    if name in DOMAIN:
        lo, hi = DOMAIN[name]
        x = x[np.isnan(x) | (x >= lo) & (x <= hi)]
    with np.errstate(all="ignore"):
        x = x.astype(dtype)
        ref = NP_REF[name](x.astype(np.float64)).astype(dtype)
    got = _apply(getattr(m, name), x)
    ok = (got == ref) | (np.isnan(got) & np.isnan(ref))
    # finite values: within the ulp bound
    with np.errstate(invalid="ignore"):
        close = np.isfinite(ref) & (np.abs(got - ref) <= MAX_ULP[name] * np.spacing(np.abs(ref)))
    assert np.all(ok | close), x[~(ok | close)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(RANGES))
def test_nan_payloads_stay_nan(name, dtype):
    """NaNs with payload bits (not only the default quiet NaN) give NaN: the shifter
    trick moves low mantissa bits into an exponent field, so a missing NaN select
    turned such inputs into finite numbers (float32 sigmoid and tanh did)."""
    if dtype == np.float32:
        bits = np.array([0x7FC00001, 0xFFC00001, 0x7FC000FF, 0x7F800001, 0x7FFFFFFF], np.uint32)
    else:
        bits = np.array([0x7FF8000000000001, 0xFFF80000000001FF, 0x7FF0000000000001], np.uint64)
    x = bits.view(dtype)
    assert np.all(np.isnan(_apply(getattr(m, name), x))), name


def test_erfc_without_libmvec_matches_scipy(tmp_path):
    """The fallbacks where libmvec is missing or FASTACT_NO_LIBMVEC=1 (the default path
    above uses libmvec if any): erfc (float32 through float64, libm float64) through
    GELU, and the module's own float32 tanh."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np, scipy.special as sp, fastact, fastact._mvec as mv\n"
        "assert not mv.HAVE_LIBMVEC\n"
        "x = np.linspace(-6, 9, 20001)\n"
        "for dt, tol in ((np.float32, 4e-6), (np.float64, 1e-14)):\n"
        "    xd = x.astype(dt)\n"
        "    ref = xd.astype(np.float64) * 0.5 * sp.erfc(-xd.astype(np.float64) / np.sqrt(2))\n"
        "    got = fastact.gelu(xd).astype(np.float64)\n"
        "    assert np.all(np.abs(got - ref) <= tol * np.abs(ref) + 1e-300), dt\n"
        "t = np.concatenate([np.linspace(-12, 12, 400001), [0.5625, -0.5625, 9.5, 1e-30]])\n"
        "t = t.astype(np.float32)\n"  # the module's own float32 tanh: 2 ulp
        "ref = np.tanh(t.astype(np.float64))\n"
        "got = fastact.tanh(t).astype(np.float64)\n"
        "ulp = np.spacing(np.abs(ref).astype(np.float32))\n"
        "assert np.all(np.abs(got - ref) <= 2 * ulp), 'tanh'\n"
        "print('ok')\n"
    )
    # a fresh Numba cache: kernels cached by a libmvec run would be loaded otherwise
    env = dict(os.environ, FASTACT_NO_LIBMVEC="1", NUMBA_CACHE_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=600)  # fmt: skip
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-2000:]


# --------------------------------------------------------------------------- #
# The helpers are declared once (fastact._math.HELPERS) and every backend has them #
# --------------------------------------------------------------------------- #


def test_every_backend_defines_each_math_helper():
    import re
    from pathlib import Path

    from fastact import _cuda_math

    kernels = Path(__file__).resolve().parent.parent / "kernels"
    pxi = (kernels / "_cy_math.pxi").read_text()
    for name in m.HELPERS:
        assert callable(getattr(m, name, None)), f"fastact._math lacks {name}"
        assert name in _cuda_math.__all__ and callable(getattr(_cuda_math, name))
        cy = "like" if name == "like" else f"m_{name}"
        assert re.search(rf"cdef inline \w+ {cy}\(", pxi), f"_cy_math.pxi lacks {cy}"
    # the CUDA module exports nothing the list does not hold
    assert set(_cuda_math.__all__) == set(m.HELPERS) | {"INF"}


def test_the_table_calls_only_declared_helpers():
    import inspect
    import re

    from fastact import table

    used = set(re.findall(r"\b_m\.(\w+)", inspect.getsource(table)))
    assert used - {"INF"} <= set(m.HELPERS), sorted(used - set(m.HELPERS))


def test_libmvec_declarations_match_the_list():
    import re
    from pathlib import Path

    kernels = Path(__file__).resolve().parent.parent / "kernels"
    header = (kernels / "fa_simd.h").read_text()
    declared = re.findall(r"#pragma omp declare simd notinbranch\n(float|double) (\w+)\(", header)
    want = {("float", f + "f") for f in m.LIBMVEC} | {("double", f) for f in m.LIBMVEC}
    assert set(declared) == want


# The float32 kernels whose Cython loops call C twins of this module's functions
# (kernels/fa_simd.h): Numba and Cython give the same bits. (selu is not here: Numba
# contracts its e + (scale - 1) e into an fma, the C build compiles with
# -ffp-contract=off.)
def _skip_unless_twins() -> None:
    """The twins need the extension, built with hardware FMA: a portable build
    (``FASTACT_PORTABLE=1``, no ``-march=native``) falls back to libm's formulas."""
    import fastact

    if "cython" not in fastact.available_backends():
        pytest.skip("the Cython extension is not built")
    flags = Path(__file__).resolve().parent.parent / "build" / "vec-report" / "cflags.txt"
    if flags.exists() and "-march=native" not in flags.read_text():
        pytest.skip("a portable build: the C twins fall back to libm without hardware FMA")


TWIN_OPS = [
    ("sigmoid", ()), ("silu", ()), ("swish", (0.7,)), ("elu", ()), ("celu", (0.7,)),
    ("softplus", ()), ("logsigmoid", ()), ("mish", ()), ("gelu", ()), ("gelu", ("tanh",)),
    ("sigmoid_backward", ()), ("tanh_backward", ()), ("elu_backward", ()),
    ("celu_backward", (0.7,)), ("softplus_backward", ()), ("logsigmoid_backward", ()),
    ("silu_backward", ()), ("mish_backward", ()), ("gelu_backward", ()),
    ("gelu_backward", ("tanh",)),
]  # fmt: skip


@pytest.mark.parametrize(("op", "params"), TWIN_OPS, ids=[f"{o}{p}" for o, p in TWIN_OPS])
def test_cython_twins_bit_identical(op, params):
    import fastact

    _skip_unless_twins()
    bits = np.arange(0, 2**32, 4093, dtype=np.uint64).astype(np.uint32)
    x = np.concatenate([bits.view(np.float32), np.float32([0.0, -0.0, np.inf, -np.inf, np.nan])])
    f = getattr(fastact, op)
    args = (np.ones_like(x), x) if op.endswith("_backward") else (x,)
    a = f(*args, *params, backend="numba")
    c = f(*args, *params, backend="cython")
    # (the sign of a zero result may differ: the Numba kernels compile with ``nsz``)
    same = (a.view(np.uint32) == c.view(np.uint32)) | (np.isnan(a) & np.isnan(c))
    same |= (a == 0) & (c == 0)
    assert same.all(), f"{op}{params}: numba and cython differ at x = {x[~same][:5]}"


# The float64 kernels whose Cython loops call C twins (fa_exp_d: the twin of _exp_f64):
# the same bits as Numba, whose float64 sigmoid'/tanh' test_max_ulp_error bounds (libmvec's
# exp had given the Cython loops 3.65 ulp)
@pytest.mark.parametrize("op", ["sigmoid_backward", "tanh_backward"])
def test_cython_float64_twins_bit_identical(op):
    import fastact

    _skip_unless_twins()
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2**64, 1 << 18, dtype=np.uint64, endpoint=False)
    x = np.concatenate([bits.view(np.float64), rng.uniform(-750, 750, 1 << 18),
                        rng.uniform(-2, 2, 1 << 18), np.array(EDGES)])  # fmt: skip
    f = getattr(fastact, op)
    a = f(np.ones_like(x), x, backend="numba")
    c = f(np.ones_like(x), x, backend="cython")
    same = (a.view(np.uint64) == c.view(np.uint64)) | (np.isnan(a) & np.isnan(c))
    same |= (a == 0) & (c == 0)
    assert same.all(), f"{op}: numba and cython differ at x = {x[~same][:5]}"
