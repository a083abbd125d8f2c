"""Max ulp error of float32 activations, fastact next to PyTorch, over every float32 input.

    python bench/tools/ulp_sweep.py                 # GELU exhaustively (all 2^32 patterns)
    python bench/tools/ulp_sweep.py --table         # the accuracy table of the README

``--exhaustive`` (default): ``gelu`` and ``gelu_backward`` (approximate="none") over
all 2^32 float32 bit patterns, in chunks of 2^24, against a float64 reference
compiled with Numba from libm (``x erfc(-x/sqrt 2)/2`` and
``erfc(-x/sqrt 2)/2 + x exp(-x^2/2)/sqrt(2 pi)``; near the derivative's zero at
x = -0.7518, where the float64 sum cancels, the reference is recomputed with mpmath
at 100 bits). ``--table``: every float32 in [-20, 20] with a stride giving about
``--points`` inputs, plus every float32 of the tails at a coarser stride, for each
table activation listed, against the table's float64 NumPy reference.

The ulp of a reference value is the spacing of its float32 rounding (2^-149 below the
normal range); a reference that rounds to 0 in float32 counts an error of
``|got| / 2^-149``. NaN must map to NaN and infinities to the reference's limit.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from numba import njit, prange

import fastact

SQRT1_2 = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327
ROOT = -0.7517915246935645  # gelu'(x) = 0


@njit(parallel=True, cache=True)
def _ref_gelu(x, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = np.float64(x[i])
        if math.isinf(v):
            out[i] = v if v > 0 else 0.0
        else:
            out[i] = 0.5 * v * math.erfc(-v * SQRT1_2)


@njit(parallel=True, cache=True)
def _ref_gelu_d(x, out):  # pragma: no cover - compiled
    for i in prange(x.size):
        v = np.float64(x[i])
        if math.isinf(v):
            out[i] = 1.0 if v > 0 else 0.0
        else:
            out[i] = 0.5 * math.erfc(-v * SQRT1_2) + v * (INV_SQRT_2PI * math.exp(-0.5 * v * v))


def _mp_gelu_d(x: np.ndarray) -> np.ndarray:
    import mpmath

    mpmath.mp.prec = 100
    out = []
    for v in x.astype(np.float64):
        m = mpmath.mpf(float(v))
        out.append(float(mpmath.ncdf(m) + m * mpmath.npdf(m)))
    return np.array(out)


def ulp_err(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|got - ref| in float32 ulps of ref (NaN/inf mismatches count as inf)."""
    got = got.astype(np.float64)
    with np.errstate(all="ignore"):
        r32 = ref.astype(np.float32)
        sp = np.maximum(np.spacing(np.abs(r32)).astype(np.float64), 2.0**-149)
        err = np.abs(got - ref) / sp
    fin = np.isfinite(ref)
    bad = ~fin & ~((got == ref) | (np.isnan(got) & np.isnan(ref)))
    err[~fin] = 0.0
    err[bad] = np.inf
    err[fin & ~np.isfinite(got)] = np.inf
    return err


class Worst:
    def __init__(self) -> None:
        self.err = -1.0
        self.x = math.nan
        self.got = math.nan
        self.ref = math.nan

    def update(self, x, got, ref, err) -> None:
        i = int(np.argmax(err))
        if err[i] > self.err:
            self.err, self.x = float(err[i]), float(x[i])
            self.got, self.ref = float(got[i]), float(ref[i])

    def __str__(self) -> str:
        return f"{self.err:.3g} ulp at x = {self.x!r} (got {self.got!r}, float64 ref {self.ref!r})"


def _torch_pair():
    import torch

    def fwd(x):
        return torch.nn.functional.gelu(torch.from_numpy(x)).numpy()

    def bwd(x):
        t = torch.from_numpy(x)
        return torch.ops.aten.gelu_backward(torch.ones_like(t), t).numpy()

    return fwd, bwd


def exhaustive(chunk_bits: int = 24, backends=("numba", "cython"), torch_too=True) -> None:
    n = 1 << chunk_bits
    worst = {(op, who): Worst() for op in ("gelu", "gelu_backward")
             for who in (*backends, "torch")}  # fmt: skip
    tf, tb = _torch_pair() if torch_too else (None, None)
    ones = np.ones(n, np.float32)
    ref = np.empty(n)
    t0 = time.time()
    for c in range(1 << (32 - chunk_bits)):
        bits = np.arange(c * n, (c + 1) * n, dtype=np.uint64).astype(np.uint32)
        x = bits.view(np.float32)
        _ref_gelu(x, ref)
        for be in backends:
            y = fastact.gelu(x, backend=be)
            worst[("gelu", be)].update(x, y, ref, ulp_err(y, ref))
        if tf is not None:
            y = tf(x)
            worst[("gelu", "torch")].update(x, y, ref, ulp_err(y, ref))
        _ref_gelu_d(x, ref)
        near = np.abs(x.astype(np.float64) - ROOT) < 1e-4
        if near.any():
            ref[near] = _mp_gelu_d(x[near])
        for be in backends:
            y = fastact.gelu_backward(ones, x, backend=be)
            worst[("gelu_backward", be)].update(x, y, ref, ulp_err(y, ref))
        if tb is not None:
            y = tb(x)
            worst[("gelu_backward", "torch")].update(x, y, ref, ulp_err(y, ref))
        if c % 16 == 15:
            done = f"{c + 1}/{1 << (32 - chunk_bits)}"
            print(f"  {done} chunks, {time.time() - t0:.0f} s", flush=True)
    print("\nfloat32, all 2^32 inputs, approximate='none':")
    for (op, who), w in worst.items():
        if w.err >= 0:
            print(f"  {op:14s} {who:7s} {w}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--table", action="store_true", help="dense sweep of the table activations")
    ap.add_argument("--chunk-bits", type=int, default=24)
    ap.add_argument("--backends", default="numba,cython")
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args()
    backends = tuple(b for b in args.backends.split(",") if b)
    fastact.set_num_threads(2)
    if args.table:
        from ulp_table import table_sweep  # type: ignore[import-not-found]

        table_sweep(backends)
    else:
        exhaustive(args.chunk_bits, backends, not args.no_torch)


if __name__ == "__main__":
    main()
