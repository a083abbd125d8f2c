"""Numba CPU kernels for the row-wise operations: softmax, log-softmax,
log-sum-exp, their backward passes, and the fused cross-entropy.

All kernels work on C-contiguous 2-d arrays ``(rows, classes)`` (the public
functions move the reduced axis last). Row sums accumulate in float64 whatever
the input dtype, so float32 rows of 100,000+ classes keep full accuracy.

Stability: every row is shifted by its maximum ``m`` (or by 0 when ``m`` is
``-inf``, so that a row of ``-inf`` gives a sum of 0 and not ``-inf - -inf``):

    s = sum_j exp(x_j - m)
    softmax_j = exp(x_j - m) / s
    log_softmax_j = x_j - m - log(s)
    logsumexp = m + log(s)

Rows run in parallel; a row too long for the others to keep every thread busy
is split into chunks whose maxima and sums are combined (``*_split``).
"""

import math

import numpy as np
from fastact.kernels.numba_pointwise import (
    bce_exp,
    bce_grad,
    bce_loss,
    lse_shift,
    mse_grad,
    mse_loss,
    softmax_shift,
)
from llvmlite import ir
from numba import get_thread_id, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from fastact import _math as _m
from fastact._math import (
    FASTMATH_REDUCE,
    FASTMATH_STRICT,
    _dispatch,
    _expm1_poly_f32,
    _expm1_poly_f64,
    _f32_as_i32,
    _f64_as_i64,
    _scale_f32,
    _scale_f64,
)

_FM = set(FASTMATH_STRICT)
_FR = set(FASTMATH_REDUCE)  # reductions only: lets LLVM keep several partial sums
NEG_INF = -math.inf
MODE_SOFTMAX = 0
MODE_LOG_SOFTMAX = 1


# --------------------------------------------------------------------------- #
# exp of a shifted row element, t = x_j - max <= 0 (or NaN)                   #
# --------------------------------------------------------------------------- #
# (The softmax rows now take exp_sc below; exp_neg stays the core of exp_row, the
# log_softmax backward's exponential.)
# _math.exp's reduction and polynomial (the same results, within 2 ulp), without
# what t <= 0 never needs: no overflow clamp or +inf select, and no underflow select
# (t is clamped at -104 / -746, where 2^n p rounds to 0 by itself). n = round(t / ln 2)
# by the shifter 1.5 * 2^23 (2^52): t log2(e) + shifter rounds to an integer held in
# the low bits, read back by a bit cast (no round or convert instruction). Fewer
# constants matter: AVX2 has 16 vector registers, and _math.exp's loop reloaded its
# constants every iteration (62 instructions per 8 floats, now 45).

_F32 = np.float32
_SHIFT_F = _F32(12582912.0)
_SHIFT_D = 6755399441055744.0
_LOG2E_F = _F32(1.4426950408889634)
_LN2HI_F = _F32(0.693145751953125)
_LN2LO_F = _F32(1.4286068202862268e-06)
_LN2HI_D = 6.93147180369123816490e-01
_LN2LO_D = 1.90821492927058770002e-10
_J = {"fastmath": _FM, "error_model": "numpy", "inline": "always"}


@njit(**_J)
def _exp_neg_f32(t):
    _m.wide_vectors()
    tc = t if t > _F32(-104.0) else _F32(-104.0)
    k = tc * _LOG2E_F + _SHIFT_F
    z = k - _SHIFT_F
    r = (tc - z * _LN2HI_F) - z * _LN2LO_F
    y = _scale_f32(_F32(1.0) + _expm1_poly_f32(r), _f32_as_i32(k) - _f32_as_i32(_SHIFT_F))
    return y if t == t else t


@njit(**_J)
def _exp_neg_f64(t):
    _m.wide_vectors()
    tc = t if t > -746.0 else -746.0
    k = tc * 1.4426950408889634 + _SHIFT_D
    z = k - _SHIFT_D
    r = (tc - z * _LN2HI_D) - z * _LN2LO_D
    y = _scale_f64(1.0 + _expm1_poly_f64(r), _f64_as_i64(k) - _f64_as_i64(_SHIFT_D))
    return y if t == t else t


def exp_neg(t):
    """e**t for t <= 0 or NaN (x_j - max of a row; wrong for t > 0)."""
    return math.exp(t)


_dispatch(exp_neg, _exp_neg_f32, _exp_neg_f64)


@njit(**_J)
def _exp_row_f32(t):
    # e^t for every t: exp_neg with t also clamped at 89 (2^128 p overflows to +inf)
    return _exp_neg_f32(t if t < _F32(89.0) else _F32(89.0)) if t == t else t


@njit(**_J)
def _exp_row_f64(t):
    return _exp_neg_f64(t if t < 710.0 else 710.0) if t == t else t


def exp_row(t):
    """e**t (a log-softmax output y <= 0 in the backward, but any t is right:
    +inf above the overflow threshold, 0 below the underflow one, NaN for NaN)."""
    return math.exp(t)


_dispatch(exp_row, _exp_row_f32, _exp_row_f64)


# --------------------------------------------------------------------------- #
# E = 2^64 e^t for a softmax row (t = x_j - max <= 0 or NaN)                  #
# --------------------------------------------------------------------------- #
# The row's sum S and its outputs y_j = E_j / S do not see the factor, and
# 2^(n + 64) is a normal number (or +0, near the clamp) for every t down to the
# clamp, so it is built from n's bits by one shift and one add and applied by one
# multiply (exp_neg applies 2^n in two halves so that a subnormal e^t is rounded
# once, then selects NaN: 9 instructions, here 3). A subnormal softmax output is
# rounded once, by y = E (1/S). t is clamped at -(127 + 64) ln 2 (float32; 1023 + 64
# for float64), where the scale's exponent field is 0: E = +0 exactly (an all -inf
# row still sums to 0). Between there and the old clamp (-104 / -746) E is tiny but
# not 0, and E / S rounds to 0 because S >= 2^64 when the shift is the row's
# maximum. The clamp keeps NaN (t < lo is false), and NaN p times the scale is NaN:
# no select on the way out.
#: the factor of the scaled exponentials (exp_sc), and its inverse
EXP_UNIT = 2.0**64
EXP_UNIT_INV = 2.0**-64
_SC_LO_F = _F32(-191.0 * 0.6931471805599453)
_SC_LO_D = -1087.0 * 0.6931471805599453
_MAGIC64_D = 6755399441055808.0  # 1.5 * 2^52 + 64
_BIAS_F = np.int32(127 << 23)
_BIAS_D = np.int64(1023 << 52)


@njit(**_J)
def _exp_sc_f32(t):
    _m.wide_vectors()
    tc = _SC_LO_F if t < _SC_LO_F else t
    vn, r = _m._reduce64_f32(tc)  # vn's low bits hold n + 64
    p = _m._exp_poly_f32(r)
    return p * _m._i32_as_f32(np.int32((_f32_as_i32(vn) << np.int32(23)) + _BIAS_F))


@njit(**_J)
def _exp_sc_f64(t):
    _m.wide_vectors()
    tc = _SC_LO_D if t < _SC_LO_D else t
    vn = _m.fma(tc, 1.4426950408889634, _MAGIC64_D)
    z = vn - _MAGIC64_D
    r = _m.fma(z, -_LN2HI_D, tc)
    r = _m.fma(z, -_LN2LO_D, r)
    p = 1.0 + _expm1_poly_f64(r)
    return p * _m._i64_as_f64(np.int64((_f64_as_i64(vn) << np.int64(52)) + _BIAS_D))


def exp_sc(t):
    """2^64 e**t for t <= 0 or NaN (x_j - max of a row; wrong for t > 0)."""
    return EXP_UNIT * math.exp(t)


_dispatch(exp_sc, _exp_sc_f32, _exp_sc_f64)


def _prefetch_intrinsic(write):
    # llvm.prefetch(&a[i], rw, locality 2, data cache): prefetcht1 (into L2) for a read,
    # prefetchw for a write; a hint, so an address past the array is harmless (never
    # faults), but the kernels only prefetch inside the next row anyway
    @intrinsic
    def prefetch(typingctx, arr, idx):
        if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
            return None

        def codegen(context, builder, sig, args):
            ary = context.make_array(sig.args[0])(context, builder, args[0])
            ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), cgutils.voidptr_t)
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            rw = ir.Constant(i32, 1 if write else 0)
            builder.call(fn, [ptr, rw, ir.Constant(i32, 2), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(arr, idx), codegen

    return prefetch


prefetch_read = _prefetch_intrinsic(False)
prefetch_write = _prefetch_intrinsic(True)
#: elements per block of the prefetching loops (the inner loop over a block vectorizes)
PF_BLOCK = 64


# _span: the helpers below loop over a slice x[lo:hi] by j in range(len), not over
# x[j] for j in range(lo, hi). Numba wraps a negative index around (x[-1] is the
# last element), and an index that starts at an unknown lo may be negative, so the
# range(lo, hi) loop kept a select per element and ran scalar: row_sum64 over 2^20
# float32 took 510 us, against 72 us for the slice (AVX-512, one thread).


@njit(fastmath=_FM, cache=True, error_model="numpy")
def row_max(x, lo, hi):
    """m = max_j x_j over an order-preserving integer image of the floats.

    ``key = bits ^ ((bits >> (w - 1)) & (2^(w-1) - 1))`` is monotone in the float
    value, so the maximum is an integer max reduction, which LLVM vectorizes
    without fast-math (about 3x faster than a float compare-and-select loop on
    cached rows). A NaN with the sign bit clear sorts above +inf and comes out as
    the maximum; the row's sum is NaN either way, so every result of the row is
    NaN, as without the shift.
    """
    if hi <= lo:
        return NEG_INF
    xs = x[lo:hi]  # (see _span)
    k = _m.order_key(xs[0])
    for j in range(1, xs.shape[0]):
        key = _m.order_key(xs[j])
        k = key if key > k else k
    return np.float64(_m.from_order_key(k))


@njit(fastmath=_FR, cache=True, error_model="numpy")
def row_sum64(x, lo, hi):
    # sum_j x_j in float64
    s = 0.0
    xs = x[lo:hi]  # (see _span)
    for j in range(xs.shape[0]):
        s += np.float64(xs[j])
    return s


@njit(fastmath=_FR, cache=True, error_model="numpy")
def row_dot64(a, b, lo, hi):
    # sum_j a_j b_j in float64
    s = 0.0
    as_ = a[lo:hi]  # (see _span)
    bs = b[lo:hi]
    for j in range(min(as_.shape[0], bs.shape[0])):
        s += np.float64(as_[j]) * np.float64(bs[j])
    return s


@njit(fastmath=_FM, cache=True, error_model="numpy")
def row_shift_sum(x, w, has_w, shift):
    # sum_j w_j (shift - x_j) in float64 (w_j = 1 without weights)
    s = 0.0
    if has_w:
        for j in range(x.shape[0]):
            s += w[j] * (shift - np.float64(x[j]))
    else:
        for j in range(x.shape[0]):
            s += shift - np.float64(x[j])
    return s


@njit(fastmath=_FM, cache=True, error_model="numpy")
def row_exp(x, buf, lo, hi, shift):
    # buf_j = exp(x_j - shift)  (elementwise: vectorizes under strict flags)
    if hi <= lo:
        return
    sh = _m.like(shift, x[lo])
    xs = x[lo:hi]  # (see _span)
    bs = buf[lo:hi]
    for j in range(min(xs.shape[0], bs.shape[0])):
        bs[j] = _m.exp(xs[j] - sh)


@njit(fastmath=_FM, cache=True, error_model="numpy")
def row_exp_pf(x, buf, n, shift, xn, bn):
    """buf_j = 2^64 exp(x_j - shift) (``exp_sc``; shift: the row's maximum or +-inf, so
    x_j - shift <= 0 or NaN) over a whole row while the next row's input ``xn`` and
    output ``bn`` are prefetched into L2.

    A row of 4096 float32 is 16 KiB: the passes over it run from L1, and without the
    prefetch the memory system idles while the exponentials are computed (measured on
    4096 x 4096 float32: compute and memory time added up, 1.74x a copy). Blocks of
    ``PF_BLOCK`` elements: a few prefetches (one per 64-byte line of the same span of
    the next row), then a vectorized inner loop."""
    if n <= 0:
        return
    sh = _m.like(shift, x[0])
    step = max(1, 64 // x.itemsize)  # elements per cache line
    m = min(n, xn.shape[0], bn.shape[0])
    j = 0
    while j + PF_BLOCK <= n:
        if j + PF_BLOCK <= m:
            for p in range(j, j + PF_BLOCK, step):
                prefetch_read(xn, p)
                prefetch_write(bn, p)
        for k in range(j, j + PF_BLOCK):
            buf[k] = exp_sc(x[k] - sh)
        j += PF_BLOCK
    for k in range(j, n):
        buf[k] = exp_sc(x[k] - sh)


@njit(fastmath=_FM, cache=True, error_model="numpy")
def row_exp_sc(x, buf, lo, hi, shift):
    # buf_j = 2^64 exp(x_j - shift) (exp_sc: shift the row's maximum, or +-inf)
    if hi <= lo:
        return
    sh = _m.like(shift, x[lo])
    xs = x[lo:hi]  # (see _span)
    bs = buf[lo:hi]
    for j in range(min(xs.shape[0], bs.shape[0])):
        bs[j] = exp_sc(xs[j] - sh)


@njit(fastmath=_FM, cache=True, error_model="numpy")
def row_sumexp(x, buf, lo, hi, shift):
    # s = sum_j exp(x_j - shift): the exponentials land in buf (which may be x's
    # own row when x is not needed again), then a float64 sum of buf
    row_exp(x, buf, lo, hi, shift)
    return row_sum64(buf, lo, hi)


@njit(fastmath=_FM, cache=True, error_model="numpy")
def log_sum(buf, lo, hi, s, unit):
    # log(s) for s = sum_j buf_j / unit, buf_j = unit exp(x_j - shift) (unit: 1, or
    # EXP_UNIT for exp_sc): when the shift is the row's maximum, s = c + t (c terms
    # equal to 1, t the others) and log1p(c - 1 + t) keeps the tiny t that 1 + t rounds
    # away (float64 logsumexp([0, -40]) = 4.25e-18, not 0)
    if not s < 2.0 or hi <= lo:
        return math.log(s)
    t = 0.0
    c = 0.0
    bs = buf[lo:hi]  # (see _span)
    for j in range(bs.shape[0]):
        v = np.float64(bs[j]) / unit
        one = v == 1.0
        c += 1.0 if one else 0.0
        t += 0.0 if one else v
    if c < 1.0:
        return math.log(s)
    return math.log1p((c - 1.0) + t)


@njit(fastmath=_FM, cache=True, error_model="numpy")
def row_finish(x, out, lo, hi, shift, s, ls64, mode, zero_masked):
    # out holds u exp(x_j - shift) and s = u sum_j exp(x_k - shift) (u: any power of 2):
    # softmax: out_j *= 1 / s ; log_softmax: out_j = (x_j - shift) - log(s / u) (ls64)
    if hi <= lo:
        return
    xs = x[lo:hi]  # (see _span)
    os_ = out[lo:hi]
    n = min(xs.shape[0], os_.shape[0])
    if mode == MODE_SOFTMAX:
        if s == 0.0 and zero_masked:
            for j in range(n):
                os_[j] = 0.0
            return
        inv = _m.like(1.0 / s, xs[0])
        for j in range(n):
            os_[j] = os_[j] * inv
    else:
        if s == 0.0 and zero_masked:
            for j in range(n):
                os_[j] = NEG_INF
            return
        # (x_j - shift) - log(s): subtracting shift first keeps log(s) from being absorbed
        sh = _m.like(shift, xs[0])
        ls = _m.like(ls64, xs[0])  # log(s), from log_sum
        for j in range(n):
            os_[j] = (xs[j] - sh) - ls


@njit(fastmath=_FM, cache=True, error_model="numpy")
def softmax_row(xr, outr, bufr, mode, zero_masked, xn, bn):
    # bufr receives the exponentials: outr itself, unless out is x and x is needed
    # again (in-place log_softmax); xn, bn: the next row's input and buffer (prefetched)
    n = xr.shape[0]
    sh = softmax_shift(row_max(xr, 0, n))
    row_exp_pf(xr, bufr, n, sh, xn, bn)
    su = row_sum64(bufr, 0, n)  # 2^64 sum_j exp(x_j - shift), exact scaling
    ls = log_sum(bufr, 0, n, su * EXP_UNIT_INV, EXP_UNIT) if mode != MODE_SOFTMAX else 0.0
    row_finish(xr, outr, 0, n, sh, su, ls, mode, zero_masked)


@njit(parallel=True, fastmath=_FM, cache=True, error_model="numpy")
def softmax_rows(x, out, buf, mode, zero_masked):
    M = x.shape[0]
    for r in prange(M):
        q = min(np.int64(r) + 1, M - 1)  # (prange's index is unsigned: r + 1 would be float)
        softmax_row(x[r], out[r], buf[r], mode, zero_masked, x[q], buf[q])


@njit(fastmath=_FM, cache=True, error_model="numpy")
def softmax_rows_ser(x, out, buf, mode, zero_masked):
    # one thread (small inputs: no thread-pool launch)
    M = x.shape[0]
    for r in range(M):
        q = min(r + 1, M - 1)
        softmax_row(x[r], out[r], buf[r], mode, zero_masked, x[q], buf[q])


@njit(fastmath=_FM, cache=True, error_model="numpy")
def logsumexp_row(xr, scratch):
    # m + log(sum_j exp(x_j - m))
    n = xr.shape[0]
    sh = lse_shift(row_max(xr, 0, n))
    s = row_sumexp(xr, scratch, 0, n, sh)
    return sh + log_sum(scratch, 0, n, s, 1.0) if s > 0.0 or s != s else NEG_INF


@njit(parallel=True, fastmath=_FM, cache=True, error_model="numpy")
def logsumexp_rows(x, out, scratch):
    # scratch: one row of exponentials per thread (numba.get_thread_id()), allocated
    # once per call instead of once per row
    for r in prange(x.shape[0]):
        out[r] = logsumexp_row(x[r], scratch[get_thread_id()])


@njit(fastmath=_FM, cache=True, error_model="numpy")
def logsumexp_rows_ser(x, out, scratch):
    for r in range(x.shape[0]):
        out[r] = logsumexp_row(x[r], scratch[0])


@njit(parallel=True, fastmath=_FM, cache=True, error_model="numpy")
def _chunk_max(x, bounds, part):
    for t in prange(part.shape[0]):
        part[t] = row_max(x, bounds[t], bounds[t + 1])


@njit(parallel=True, fastmath=_FM, cache=True, error_model="numpy")
def _chunk_sumexp(x, buf, bounds, shift, part, scaled):
    # scaled: 2^64 exp (exp_sc; the softmax shift), else exp (logsumexp's shift may be 0
    # for a row holding +inf, where x_j - 0 > 0)
    for t in prange(part.shape[0]):
        lo, hi = bounds[t], bounds[t + 1]
        if scaled:
            row_exp_sc(x, buf, lo, hi, shift)
        else:
            row_exp(x, buf, lo, hi, shift)
        part[t] = row_sum64(buf, lo, hi)


@njit(parallel=True, fastmath=_FM, cache=True, error_model="numpy")
def _chunk_finish(x, out, bounds, shift, s, ls, mode, zero_masked):
    for t in prange(bounds.shape[0] - 1):
        row_finish(x, out, bounds[t], bounds[t + 1], shift, s, ls, mode, zero_masked)


@njit(cache=True, error_model="numpy")
def softmax_split(x, out, buf, mode, zero_masked, nchunks):
    """Rows one at a time, each split into ``nchunks`` parallel chunks (mode 2: logsumexp,
    ``out`` of shape (rows, 1), ``buf`` one scratch row)."""
    n = x.shape[1]
    bounds = np.empty(nchunks + 1, dtype=np.int64)
    for t in range(nchunks + 1):
        bounds[t] = t * n // nchunks
    pm = np.empty(nchunks, dtype=np.float64)
    ps = np.empty(nchunks, dtype=np.float64)
    for r in range(x.shape[0]):
        xr = x[r]
        _chunk_max(xr, bounds, pm)
        m = NEG_INF
        for t in range(nchunks):
            if pm[t] > m:
                m = pm[t]
        sh = lse_shift(m) if mode == 2 else softmax_shift(m)
        br = buf[0] if mode == 2 else buf[r]
        unit = 1.0 if mode == 2 else EXP_UNIT  # softmax rows: E = 2^64 e^t, as softmax_row
        _chunk_sumexp(xr, br, bounds, sh, ps, mode != 2)
        s = 0.0  # unit sum_j exp(x_j - shift)
        for t in range(nchunks):
            s += ps[t]
        ls = log_sum(br, 0, n, s / unit, unit) if mode != MODE_SOFTMAX else 0.0
        if mode == 2:
            out[r, 0] = sh + ls if s > 0.0 or s != s else NEG_INF
        else:
            _chunk_finish(xr, out[r], bounds, sh, s, ls, mode, zero_masked)


@njit(parallel=True, fastmath=_FM, cache=True, error_model="numpy")
def softmax_backward_rows(g, y, out):
    # grad_j = y_j (g_j - sum_k g_k y_k). The output pass does not prefetch the next rows
    # (as the forward's exponential pass does): it is a multiply-add per element, and
    # software prefetches made it slower than the hardware's (2026-12-07, 2 threads,
    # 2^20 float32: 175 -> 131 us; 2^24: 6.3-8.4 -> 5.0-6.1 ms)
    M = y.shape[0]
    for r in prange(M):
        gr = g[r]
        yr = y[r]
        n = yr.shape[0]
        dot = row_dot64(gr, yr, 0, n)
        if n == 0:
            continue
        d = _m.like(dot, yr[0])
        o = out[r]
        for k in range(n):
            o[k] = yr[k] * (gr[k] - d)


@njit(parallel=True, fastmath=_FM, cache=True, error_model="numpy")
def log_softmax_backward_rows(g, y, out):
    # grad_j = g_j - exp(y_j) sum_k g_k (no software prefetch either: 355 -> 321 us over
    # 2^20 float32 on 2 threads, within 3% at 2^24)
    M = y.shape[0]
    for r in prange(M):
        gr = g[r]
        yr = y[r]
        n = yr.shape[0]
        tot = row_sum64(gr, 0, n)
        if n == 0:
            continue
        t = _m.like(tot, yr[0])
        o = out[r]
        for k in range(n):
            o[k] = gr[k] - exp_row(yr[k]) * t


@njit(parallel=True, fastmath=_FM, cache=True, error_model="numpy")
def cross_entropy_index(
    x, target, weight, has_weight, ignore_index, eps, scale, loss, grad, want_grad, scratch
):
    """Fused cross-entropy with class-index targets, one row per iteration.

    loss_r = (1 - eps) w_t (lse - x_t) + (eps / C) sum_j w_j (lse - x_j)
    grad_rj = scale (p_j ((1 - eps) w_t + (eps / C) W) - (1 - eps) w_t [j = t] - (eps / C) w_j)
    with p_j = exp(x_j - lse), W = sum_j w_j; ignored rows have loss 0 and gradient 0.
    ``grad`` may be ``x`` itself: each row is read before it is overwritten.
    Targets outside [0, C) that are not ignore_index are never read (loss NaN); the
    caller checks them before the kernel.
    """
    M, C = x.shape
    wsum = 0.0
    if eps != 0.0:  # the class weights enter only through smoothing (a NaN stays local)
        for j in range(C):
            wsum += weight[j] if has_weight else 1.0
    for r in prange(M):
        xr = x[r]
        t = target[r]
        if t == ignore_index or t < 0 or t >= C:
            loss[r] = 0.0 if t == ignore_index else math.nan
            if want_grad:
                gr = grad[r]
                for j in range(C):
                    gr[j] = 0.0
            continue
        sh = softmax_shift(row_max(xr, 0, C))
        wt = weight[t] if has_weight else 1.0
        xt = np.float64(xr[t])
        # smoothing term before the row may be overwritten by exponentials (grad may be x)
        shift_sum = row_shift_sum(xr, weight, has_weight, sh) if eps != 0.0 else 0.0
        buf = grad[r] if want_grad else scratch[get_thread_id()]
        s = row_sumexp(xr, buf, 0, C, sh)
        ls = log_sum(buf, 0, C, s, 1.0)  # log1p of a tiny sum at a dominant maximum
        # lse - x_j = (shift - x_j) + log(s): exact for x_j = shift
        li = (1.0 - eps) * wt * ((sh - xt) + ls)
        if eps != 0.0:
            # sum_j w_j (lse - x_j) = sum_j w_j (shift - x_j) + log(s) sum_j w_j
            li += eps / C * (shift_sum + ls * wsum)
        loss[r] = li
        if want_grad:
            # buf_j = exp(x_j - shift) = s p_j
            a_c = _m.like(scale * ((1.0 - eps) * wt + eps / C * wsum) / s, buf[0])
            b = scale * eps / C
            if has_weight and eps != 0.0:
                for j in range(C):
                    buf[j] = buf[j] * a_c - _m.like(b * weight[j], buf[0])
            else:
                b_c = _m.like(b, buf[0])
                for j in range(C):
                    buf[j] = buf[j] * a_c - b_c
            buf[t] -= _m.like(scale * (1.0 - eps) * wt, buf[0])


@njit(parallel=True, fastmath=_FM, cache=True, error_model="numpy")
def cross_entropy_prob(x, q, weight, has_weight, eps, scale, loss, grad, want_grad, scratch):
    """Fused cross-entropy with class-probability targets.

    q'_j = (1 - eps) q_j + eps / C
    loss_r = sum_j w_j q'_j (lse - x_j)
    grad_rj = scale (p_j sum_k w_k q'_k - w_j q'_j)
    """
    M, C = x.shape
    for r in prange(M):
        xr = x[r]
        qr = q[r]
        sh = softmax_shift(row_max(xr, 0, C))
        ex = scratch[get_thread_id()]
        s = row_sumexp(xr, ex, 0, C, sh)
        ls = log_sum(ex, 0, C, s, 1.0)
        li = 0.0
        wq = 0.0
        for j in range(C):
            wj = weight[j] if has_weight else 1.0
            qj = (1.0 - eps) * np.float64(qr[j]) + eps / C
            li += wj * qj * ((sh - np.float64(xr[j])) + ls)
            wq += wj * qj
        loss[r] = li
        if want_grad and C > 0:
            gr = grad[r]
            for j in range(C):
                wj = weight[j] if has_weight else 1.0
                qj = (1.0 - eps) * np.float64(qr[j]) + eps / C
                p = np.float64(ex[j]) / s
                gr[j] = scale * (p * wq - wj * qj)


# --------------------------------------------------------------------------- #
# Pointwise losses: per-element losses (reduction="none") or one float64 partial #
# sum per block of LOSS_BLOCK elements (the reduced losses: no n-element float64  #
# array is written and read back). The blocks do not depend on the thread count, #
# so a reduced loss has the same bits on 1 or 2 threads.                         #
# --------------------------------------------------------------------------- #


@njit(fastmath=_FM, cache=True, error_model="numpy")
def _bce_span_weighted(x, t, w, pw, has_w, has_pw, scale, dst, grad, want_grad):
    # dst[i] = bce_loss(x_i, t_i, w_i, pw_i, e_i), grad[i] = scale bce_grad(...) over a
    # block's slices (see _span); e_i = bce_exp(x_i), one exponential per element
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        ti = np.float64(t[i])
        wi = np.float64(w[i]) if has_w else 1.0
        pwi = np.float64(pw[i]) if has_pw else 1.0
        e = bce_exp(xi)
        dst[i] = bce_loss(xi, ti, wi, pwi, e)
        if want_grad:
            grad[i] = scale * bce_grad(xi, ti, wi, pwi, e)


@njit(fastmath=_FM, cache=True, error_model="numpy")
def _bce_span_grad(x, t, scale, dst, grad):
    # the unweighted loss and gradient: no loads from the (dummy) weight arrays, so
    # the loop vectorizes (each loop in its own function: one function holding the
    # three loops ran 1.35x slower)
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        ti = np.float64(t[i])
        e = bce_exp(xi)
        dst[i] = bce_loss(xi, ti, 1.0, 1.0, e)
        grad[i] = scale * bce_grad(xi, ti, 1.0, 1.0, e)


@njit(fastmath=_FM, cache=True, error_model="numpy")
def _bce_span_loss(x, t, dst):
    # the unweighted loss alone
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        dst[i] = bce_loss(xi, np.float64(t[i]), 1.0, 1.0, bce_exp(xi))


@njit(parallel=True, fastmath=_FM, cache=True, error_model="numpy")
def bce_with_logits(x, t, w, pw, has_w, has_pw, scale, loss, grad, want_grad, scratch, block):
    """loss_i = bce_loss(x_i, t_i, w_i, pw_i, e_i), grad_i = scale bce_grad(...) in
    float64, e_i = exp(-|x_i|) (the formulas: ``fastact/pointwise.py``, PyTorch's
    pos_weight form). ``loss`` has x's size (per-element losses) or one entry per
    block of ``block`` elements (interface.LOSS_BLOCK, an argument: a constant would be
    frozen into the cached kernel) with their sum, through ``scratch`` (one row of
    ``block`` per thread)."""
    n = x.shape[0]
    per_element = loss.shape[0] == n
    for b in prange((n + block - 1) // block):
        lo = b * block
        hi = min(lo + block, n)
        ws = w[lo:hi] if has_w else w
        pws = pw[lo:hi] if has_pw else pw
        gs = grad[lo:hi] if want_grad else grad
        dst = loss[lo:hi] if per_element else scratch[get_thread_id()]
        xs = x[lo:hi]
        ts = t[lo:hi]
        if has_w or has_pw:
            _bce_span_weighted(xs, ts, ws, pws, has_w, has_pw, scale, dst, gs, want_grad)
        elif want_grad:
            _bce_span_grad(xs, ts, scale, dst, gs)
        else:
            _bce_span_loss(xs, ts, dst)
        if not per_element:
            loss[b] = row_sum64(dst, 0, hi - lo)


@njit(fastmath=_FR, cache=True, error_model="numpy")
def _sq_diff_sum(x, t):
    # sum of mse_loss(x_i, t_i) = (x_i - t_i)^2 in float64
    s = 0.0
    for i in range(min(x.shape[0], t.shape[0])):
        s += mse_loss(np.float64(x[i]), np.float64(t[i]))
    return s


@njit(parallel=True, fastmath=_FM, cache=True, error_model="numpy")
def mse(x, t, scale, loss, grad, want_grad, block):
    """loss_i = mse_loss(x_i, t_i) = (x_i - t_i)^2; grad_i = scale mse_grad = 2 scale
    (x_i - t_i). ``loss`` has x's size (per-element losses) or one entry per block of
    ``block`` elements (their sum)."""
    n = x.shape[0]
    per_element = loss.shape[0] == n
    for b in prange((n + block - 1) // block):
        lo = b * block
        hi = min(lo + block, n)
        xs = x[lo:hi]  # (see _span)
        ts = t[lo:hi]
        # the loss first: grad may be x or t itself (grad_out=input), and each gradient
        # element is written after its own x and t are read
        if per_element:
            ls = loss[lo:hi]
            for i in range(xs.shape[0]):
                ls[i] = mse_loss(np.float64(xs[i]), np.float64(ts[i]))
        else:
            loss[b] = _sq_diff_sum(xs, ts)
        if want_grad:
            gs = grad[lo:hi]
            for i in range(xs.shape[0]):
                gs[i] = scale * mse_grad(np.float64(xs[i]), np.float64(ts[i]))
