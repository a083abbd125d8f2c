"""Max ulp error of float32 activations, fastact next to PyTorch, over every float32 input.

    python bench/tools/ulp_sweep.py                 # GELU: every float32 with |x| in [2^-24, 16]
    python bench/tools/ulp_sweep.py --outside-stride 1   # all 2^32 patterns (hours here)
    python bench/tools/ulp_sweep.py --table         # the accuracy table of the README

Default: ``gelu`` and ``gelu_backward`` (approximate="none") over every float32 with
2^-24 <= |x| <= 16 (where the kernels compute anything but x/2, 1/2, x or 0), every
257th pattern outside (NaN and infinities included), in chunks of 2^24, against a float64 reference
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


def _pattern_blocks(chunk: int, lo: float, hi: float, outside_stride: int):
    """Float32 inputs in blocks: every pattern with lo <= |x| <= hi (both signs), and
    every ``outside_stride``-th pattern elsewhere (all 2^32 when it is 1)."""
    a, b = (int(v) for v in np.array([lo, hi], np.float32).view(np.int32))
    spans = [(a, b + 1, 1), (0, a, outside_stride), (b + 1, 1 << 31, outside_stride)]
    for start, stop, step in spans:
        for sign in (0, 1 << 31):
            for c in range(start, stop, chunk * step):
                bits = np.arange(c, min(c + chunk * step, stop), step, dtype=np.uint64)
                yield (bits + sign).astype(np.uint32).view(np.float32)


def exhaustive(
    chunk_bits: int = 24,
    backends=("numba", "cython"),
    torch_too=True,
    lo: float = 2.0**-24,
    hi: float = 16.0,
    outside_stride: int = 1,
) -> None:
    n = 1 << chunk_bits
    worst = {(op, who): Worst() for op in ("gelu", "gelu_backward")
             for who in (*backends, "torch")}  # fmt: skip
    tf, tb = _torch_pair() if torch_too else (None, None)
    t0 = time.time()
    total = 0
    for k, x in enumerate(_pattern_blocks(n, lo, hi, outside_stride)):
        total += x.size
        ones = np.ones_like(x)
        ref = np.empty(x.size)
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
        if k % 8 == 7:
            print(f"  {total} inputs, {time.time() - t0:.0f} s", flush=True)
    every = "every" if outside_stride == 1 else f"every {outside_stride}th"
    print(f"\nfloat32, approximate='none', {total} inputs: every float32 with {lo!r} <= |x| <= "
          f"{hi!r}, {every} other bit pattern (NaN, infinities included):")  # fmt: skip
    for (op, who), w in worst.items():
        if w.err >= 0:
            print(f"  {op:14s} {who:7s} {w}")


def dense_f32(stride: int = 97) -> np.ndarray:
    """Every ``stride``-th float32 with 1e-6 <= |x| <= 20, every float32 pattern
    between at a coarser stride below 1e-6 and from 20 to 1e30 (finite inputs only)."""

    def rng(lo: float, hi: float, step: int) -> np.ndarray:
        a, b = np.array([lo, hi], np.float32).view(np.int32)
        return np.arange(a, b + 1, step, dtype=np.int64).astype(np.int32).view(np.float32)

    parts = [rng(1e-6, 20.0, stride), rng(1e-45, 1e-6, 10_007), rng(20.0, 1e30, 10_007)]
    pos = np.concatenate(parts)
    return np.concatenate([-pos[::-1], np.zeros(1, np.float32), pos])


def table_sweep(backends, names=None, stride: int = 97) -> None:
    """Markdown rows: max ulp of fastact's float32 kernels and of PyTorch's, over
    :func:`dense_f32`, against the table's float64 references."""
    import torch

    from fastact import table

    torch.set_num_threads(2)
    x = dense_f32(stride)
    xd = x.astype(np.float64)
    ones = np.ones_like(x)
    F = torch.nn.functional
    print(f"float32, {x.size} inputs (every {stride}th float32 with 1e-6 <= |x| <= 20, "
          "coarser below and up to 1e30); max ulp (at x)\n")  # fmt: skip
    cols = " | ".join(f"fastact {b}" for b in backends)
    print(f"| activation | {cols} | PyTorch |")
    print("|---|" + "---|" * (len(backends) + 1))
    for e in table.ENTRIES:
        if names and e.name not in names:
            continue
        variants = [(p.name, v) for p in e.params if p.choices for v in p.choices] or [(None, None)]
        for pname, val in variants:
            user = tuple(val if p.choices else p.default for p in e.params)
            a, b = e.encode(user)
            label = e.name + (f" ({pname}={val!r})" if pname and val != e.params[0].default else "")
            with np.errstate(all="ignore"):
                ref_f = e.ref(xd, a, b)
                ref_d = e.ref_deriv(xd, a, b)
            if e.name == "gelu" and a == 0.0:
                near = np.abs(xd - ROOT) < 1e-4
                ref_d[near] = _mp_gelu_d(x[near])
            tx = torch.from_numpy(x).requires_grad_(True)
            ty = e.torch(F, tx, *user)
            (tg,) = torch.autograd.grad(ty, tx, torch.ones_like(ty))
            pairs = (("", ref_f, ty.detach().numpy()), (" backward", ref_d, tg.numpy()))
            for kind, ref, tor in pairs:
                row = f"| {label}{kind} |"
                for be in backends:
                    if kind:
                        got = getattr(fastact, e.name + "_backward")(ones, x, *user, backend=be)
                    else:
                        got = getattr(fastact, e.name)(x, *user, backend=be)
                    w = Worst()
                    w.update(x, got, ref, ulp_err(got, ref))
                    row += f" {w.err:.3g} ({w.x:.6g}) |"
                w = Worst()
                w.update(x, tor, ref, ulp_err(tor, ref))
                row += f" {w.err:.3g} ({w.x:.6g}) |"
                print(row, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--table", action="store_true", help="dense sweep of the table activations")
    ap.add_argument("--ops", default="", help="with --table: comma-separated activations")
    ap.add_argument("--stride", type=int, default=97, help="with --table: float32 stride")
    ap.add_argument("--chunk-bits", type=int, default=24)
    ap.add_argument("--lo", type=float, default=2.0**-24, help="every float32 from |x| = lo")
    ap.add_argument("--hi", type=float, default=16.0, help="... to |x| = hi")
    ap.add_argument("--outside-stride", type=int, default=257, help="1: all 2^32 patterns")
    ap.add_argument("--backends", default="numba,cython")
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args()
    backends = tuple(b for b in args.backends.split(",") if b)
    fastact.set_num_threads(2)
    if args.table:
        table_sweep(backends, [o for o in args.ops.split(",") if o], args.stride)
    else:
        exhaustive(
            args.chunk_bits, backends, not args.no_torch, args.lo, args.hi, args.outside_stride
        )


if __name__ == "__main__":
    main()
