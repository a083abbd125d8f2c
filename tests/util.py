"""Test data: inputs with the values that break kernels, in every layout."""

from __future__ import annotations

import numpy as np

import fastact
from fastact import table

DTYPES = [np.float16, np.float32, np.float64]
CPU_BACKENDS = [b for b in fastact.available_backends() if b != "cuda"]

# name -> function making an array of that layout from a 1-d pool of values
SHAPES = {
    "0d": lambda v: np.asarray(v[0]),
    "empty": lambda v: v[:0].reshape(0, 5),
    "1": lambda v: v[:1].copy(),
    "1023": lambda v: v[:1023].copy(),
    "64x129": lambda v: v[: 64 * 129].reshape(64, 129).copy(),
    "transposed": lambda v: v[: 64 * 129].reshape(129, 64).T,
    "strided": lambda v: v[: 2 * 1023 : 2],
    "negstride": lambda v: v[1022::-1],
    "large": lambda v: v[:40000].copy(),
}


def tiny(dtype) -> float:
    """Smallest positive subnormal of dtype."""
    return float(np.finfo(dtype).smallest_subnormal)


def special_values(dtype, entry: table.Elementwise, a: float, b: float) -> list[float]:
    big = [1e4, -1e4] + ([1e30, -1e30] if dtype != np.float16 else [6e4, -6e4])
    vals = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, tiny(dtype), -tiny(dtype)]
    vals += [float(np.finfo(dtype).tiny), 20.0, -20.0, *big]
    vals += list(entry.kinks(a, b))
    return vals


def pool(dtype, entry: table.Elementwise, a: float, b: float, n: int = 41000, seed: int = 0):
    """A 1-d array: specials first, then normal(0, 3) samples, then uniform(-30, 30)."""
    rng = np.random.default_rng(seed)
    v = np.concatenate([rng.normal(0.0, 3.0, n // 2), rng.uniform(-30, 30, n - n // 2)])
    sp = special_values(dtype, entry, a, b)
    # spread specials through the array (they also land in strided / transposed views)
    for k, s in enumerate(sp):
        v[k] = s
        v[k * 37 + 5] = s
    with np.errstate(over="ignore"):
        return v.astype(dtype)


def make(shape: str, values: np.ndarray) -> np.ndarray:
    return SHAPES[shape](values)


def assert_close(got, ref, rtol, atol, what=""):
    """|got - ref| <= rtol |ref| + atol, NaN where ref is NaN, equal infinities."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    nan_r = np.isnan(ref)
    nan_g = np.isnan(got)
    bad_nan = nan_r != nan_g
    assert not bad_nan.any(), f"{what}: NaN mismatch at {np.argwhere(bad_nan)[:5].tolist()}"
    inf = np.isinf(ref) | np.isinf(got)
    bad_inf = inf & (got != ref)
    assert not bad_inf.any(), f"{what}: inf mismatch got {got[bad_inf][:5]} want {ref[bad_inf][:5]}"
    fin = ~(nan_r | inf)
    err = np.abs(got[fin] - ref[fin])
    atol = np.broadcast_to(atol, ref.shape)[fin]
    lim = rtol * np.abs(ref[fin]) + atol
    bad = err > lim
    if bad.any():
        i = np.argmax(err - lim)
        raise AssertionError(
            f"{what}: {bad.sum()} elements out of tolerance; worst got {got[fin][i]!r} "
            f"want {ref[fin][i]!r} (err {err[i]:.3g}, limit {lim[i]:.3g})"
        )
