"""Numba CUDA kernels for softmax, log-softmax, log-sum-exp, their backward
passes and the fused cross-entropy.

One block per row (rows in a grid-stride loop), ``BLOCK`` threads striding over
the classes; block reductions use warp shuffles on real hardware and a
shared-memory tree under the CUDA simulator (which has no shuffles). Per-thread
partial sums are float64. The same math as ``kernels/numba_rowwise.py``:

    s = sum_j exp(x_j - m),   softmax_j = exp(x_j - m) / s,
    log_softmax_j = (x_j - m) - log(s),   logsumexp = m + log(s)
"""

import math

from fastact.kernels.cuda_pointwise import lse_shift, softmax_shift
from numba import config, cuda, float64

from fastact import _cuda_math as _m

SIM = bool(config.ENABLE_CUDASIM)
#: threads per block (a power of two); small under the simulator, where each
#: thread is a Python thread
BLOCK = 8 if SIM else 256
WARPS = max(1, BLOCK // 32)
#: short rows: one warp (LANES threads) per row, each lane keeping up to CACHE
#: elements of its row in registers, so the row is read from memory once
LANES = 4 if SIM else 32
CACHE = 8 if SIM else 32
ROWS_PER_BLOCK = BLOCK // LANES
#: rows up to this many classes take the warp-per-row kernels
WARP_MAX_C = LANES * CACHE
#: rows up to this many classes (and above WARP_MAX_C) are staged in shared memory
#: (float64: 44 KiB per block on hardware, under the 48 KiB static limit with the
#: reduction scratch) and read from global memory once
SMEM_MAX_C = 64 if SIM else 5632
USE_SHUFFLE = not SIM
FULL_MASK = 0xFFFFFFFF
NEG_INF = -math.inf


@cuda.jit(device=True)
def _warp_max(v):
    off = 16
    while off > 0:
        o = cuda.shfl_down_sync(FULL_MASK, v, off)
        v = o if o > v else v
        off //= 2
    return v


@cuda.jit(device=True)
def _warp_sum(v):
    off = 16
    while off > 0:
        v += cuda.shfl_down_sync(FULL_MASK, v, off)
        off //= 2
    return v


@cuda.jit(device=True)
def block_max(v, smem):
    """Max of ``v`` over the block, returned to every thread."""
    tid = cuda.threadIdx.x
    if USE_SHUFFLE:
        v = _warp_max(v)
        if tid % 32 == 0:
            smem[tid // 32] = v
        cuda.syncthreads()
        if tid < 32:
            v = smem[tid] if tid < WARPS else NEG_INF
            v = _warp_max(v)
            if tid == 0:
                smem[0] = v
    else:
        smem[tid] = v
        cuda.syncthreads()
        s = BLOCK // 2
        while s > 0:
            if tid < s and smem[tid + s] > smem[tid]:
                smem[tid] = smem[tid + s]
            cuda.syncthreads()
            s //= 2
    cuda.syncthreads()
    r = smem[0]
    cuda.syncthreads()
    return r


@cuda.jit(device=True)
def block_sum(v, smem):
    """Sum of ``v`` (float64) over the block, returned to every thread."""
    tid = cuda.threadIdx.x
    if USE_SHUFFLE:
        v = _warp_sum(v)
        if tid % 32 == 0:
            smem[tid // 32] = v
        cuda.syncthreads()
        if tid < 32:
            v = smem[tid] if tid < WARPS else 0.0
            v = _warp_sum(v)
            if tid == 0:
                smem[0] = v
    else:
        smem[tid] = v
        cuda.syncthreads()
        s = BLOCK // 2
        while s > 0:
            if tid < s:
                smem[tid] += smem[tid + s]
            cuda.syncthreads()
            s //= 2
    cuda.syncthreads()
    r = smem[0]
    cuda.syncthreads()
    return r


@cuda.jit(device=True)
def _log(s):
    # log(s) for s >= 0 (and NaN), -inf at 0 (the simulator's math.log would raise)
    if s > 0.0:
        return math.log(s)
    return NEG_INF if s == 0.0 else s


@cuda.jit(device=True)
def _shift(m, lse_mode):
    """The shift for a row whose maximum is ``m`` (``fastact/pointwise.py``): ``m`` itself
    when finite; +inf stays for softmax (NaN, as PyTorch) but is 0 for logsumexp (+inf);
    0 for all -inf rows."""
    return lse_shift(m) if lse_mode else softmax_shift(m)


@cuda.jit(device=True)
def _log_row_sum(x, row, sh, s, smem):
    """log(s) for s = sum_j exp(x_j - sh) of one row (``s`` is block-uniform).

    For 1 <= s < 2 it is log1p(c - 1 + t), c the terms equal to 1 (the maxima) and t
    the sum of the others, from a second pass over the row: the tiny t survives, as on
    the CPU backends (logsumexp([0, -40]) = 4.25e-18, not log(1 + 4.25e-18) = 0)."""
    if not (s >= 1.0 and s < 2.0):
        return _log(s)
    c = 0.0
    t = 0.0
    for j in range(cuda.threadIdx.x, x.shape[1], BLOCK):
        e = _m.exp(float64(x[row, j]) - sh)
        if e == 1.0:
            c += 1.0
        else:
            t += e
    c = block_sum(c, smem)
    t = block_sum(t, smem)
    if c >= 1.0 and c + t < 2.0:
        return _m.log1p((c - 1.0) + t)
    return _log(s)


@cuda.jit(device=True)
def _finish(d, inv, ls, mode, masked, xs):
    """softmax (mode 0) or log_softmax (mode 1) of an element with x - shift = d
    (float64), in the dtype of ``xs``; ``inv`` = 1/s, ``ls`` = log(s)."""
    if masked:
        return _m.like(0.0 if mode == 0 else NEG_INF, xs)
    if mode == 0:
        return _m.exp(_m.like(d, xs)) * _m.like(inv, xs)
    return _m.like(d, xs) - _m.like(ls, xs)


@cuda.jit(device=True)
def _row_max_sum(x, row, smem, lse_mode, stage):
    """(shift, s) for one row: the shifted max and sum_j exp(x_j - shift).

    One read of the row: each thread keeps a running max ``m`` and a sum ``s`` of
    ``exp(x - m)`` rescaled when ``m`` grows (online softmax); the block then
    combines them as ``S = sum_t s_t exp(m_t - M)``. NaN propagates through ``s``;
    -inf elements add nothing. Rows whose max is not finite (all -inf, or +inf)
    take a second pass with the conventional shift. ``stage`` (a float64 shared
    array, or None) receives the row, so that later passes need not read it again.
    """
    tid = cuda.threadIdx.x
    C = x.shape[1]
    m = NEG_INF
    s = 0.0
    for j in range(tid, C, BLOCK):
        xv = x[row, j]
        v = float64(xv)
        if stage is not None:
            stage[j] = v
        if v > m:
            s = s * float64(_m.exp(_m.like(m - v, xv))) + 1.0
            m = v
        elif v != NEG_INF:
            s += float64(_m.exp(xv - _m.like(m, xv)))
    M = block_max(m, smem)
    sh = _shift(M, lse_mode)
    if abs(M) < math.inf:
        xv = x[row, 0]
        part = s * float64(_m.exp(_m.like(m - M, xv))) if m != NEG_INF else s
        return sh, block_sum(part, smem)
    s = 0.0
    for j in range(tid, C, BLOCK):
        v = x[row, j]
        s += float64(_m.exp(v - _m.like(sh, v)))
    return sh, block_sum(s, smem)


@cuda.jit
def softmax_rows(x, out, mode, zero_masked):
    # mode 0: softmax, 1: log_softmax
    smem = cuda.shared.array(BLOCK, float64)
    tid = cuda.threadIdx.x
    C = x.shape[1]
    for row in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
        sh, s = _row_max_sum(x, row, smem, False, None)
        masked = s == 0.0 and zero_masked
        inv = 1.0 / s if s != 0.0 else math.nan
        ls = _log_row_sum(x, row, sh, s, smem) if mode != 0 else 0.0
        for j in range(tid, C, BLOCK):
            xv = x[row, j]
            out[row, j] = _finish(float64(xv) - sh, inv, ls, mode, masked, xv)


@cuda.jit
def logsumexp_rows(x, out):
    smem = cuda.shared.array(BLOCK, float64)
    for row in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
        sh, s = _row_max_sum(x, row, smem, True, None)
        ls = _log_row_sum(x, row, sh, s, smem)
        if cuda.threadIdx.x == 0:
            out[row] = sh + ls


@cuda.jit
def softmax_backward_rows(g, y, out, log):
    # softmax: grad_j = y_j (g_j - sum_k g_k y_k); log_softmax: grad_j = g_j - exp(y_j) sum_k g_k
    smem = cuda.shared.array(BLOCK, float64)
    tid = cuda.threadIdx.x
    C = y.shape[1]
    for row in range(cuda.blockIdx.x, y.shape[0], cuda.gridDim.x):
        acc = 0.0
        for j in range(tid, C, BLOCK):
            acc += float64(g[row, j]) * (1.0 if log else float64(y[row, j]))
        acc = block_sum(acc, smem)
        for j in range(tid, C, BLOCK):
            gv = g[row, j]
            yv = y[row, j]
            d = _m.like(acc, yv)
            if log:
                out[row, j] = gv - _m.exp(yv) * d
            else:
                out[row, j] = yv * (gv - d)


@cuda.jit
def target_weight_sum(target, weight, has_weight, ignore_index, C, out):
    # out[0] = sum of the valid targets' weights (count without weights); one block
    smem = cuda.shared.array(BLOCK, float64)
    acc = 0.0
    for r in range(cuda.threadIdx.x, target.shape[0], BLOCK):
        t = target[r]
        if t != ignore_index and t >= 0 and t < C:
            acc += weight[t] if has_weight else 1.0
    acc = block_sum(acc, smem)
    if cuda.threadIdx.x == 0:
        out[0] = acc


@cuda.jit
def cross_entropy_index(
    x, target, weight, has_weight, ignore_index, eps, wsum, mean, wtot, loss, grad, want_grad, bad
):
    """Fused forward + backward per row (see kernels/numba_rowwise.py for the math).

    ``scale`` is 1 / wtot[0] for the mean (computed on the device, no host round
    trip). A target outside [0, C) that is not ignore_index is never read: its
    row gets NaN, zero gradient, and ``bad[0]`` records the value + 1 for the host.
    """
    smem = cuda.shared.array(BLOCK, float64)
    tid = cuda.threadIdx.x
    C = x.shape[1]
    scale = 1.0
    if mean:
        scale = 1.0 / wtot[0] if wtot[0] != 0.0 else 0.0
    for row in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
        t = target[row]
        if t == ignore_index or t < 0 or t >= C:
            if tid == 0:
                loss[row] = 0.0 if t == ignore_index else math.nan
                if t != ignore_index:
                    cuda.atomic.max(bad, 0, 1)
            if want_grad:
                for j in range(tid, C, BLOCK):
                    grad[row, j] = 0.0
            continue
        sh, s = _row_max_sum(x, row, smem, False, None)
        ls = _log_row_sum(x, row, sh, s, smem)
        wt = weight[t] if has_weight else 1.0
        xt = float64(x[row, t])
        shift_sum = 0.0
        if eps != 0.0:
            for j in range(tid, C, BLOCK):
                shift_sum += (weight[j] if has_weight else 1.0) * (sh - float64(x[row, j]))
            shift_sum = block_sum(shift_sum, smem)
        if tid == 0:
            li = (1.0 - eps) * wt * ((sh - xt) + ls)
            if eps != 0.0:
                li += eps / C * (shift_sum + ls * wsum)
            loss[row] = li
        cuda.syncthreads()
        if want_grad:
            a = scale * ((1.0 - eps) * wt + eps / C * wsum) / s if s != 0.0 else math.nan
            b = scale * eps / C
            for j in range(tid, C, BLOCK):
                v = x[row, j]
                e = _m.exp(v - _m.like(sh, v))
                bj = b * weight[j] if (has_weight and eps != 0.0) else b
                gj = e * _m.like(a, v) - _m.like(bj, v)
                if j == t:
                    gj -= _m.like(scale * (1.0 - eps) * wt, v)
                grad[row, j] = gj


@cuda.jit
def sum_rows_1d(v, out):
    # out[0] = sum(v) (float64), one block
    smem = cuda.shared.array(BLOCK, float64)
    acc = 0.0
    for i in range(cuda.threadIdx.x, v.shape[0], BLOCK):
        acc += v[i]
    acc = block_sum(acc, smem)
    if cuda.threadIdx.x == 0:
        out[0] = acc


@cuda.jit
def cross_entropy_prob(x, q, weight, has_weight, eps, scale, loss, grad, want_grad):
    """Probability targets, fused forward + backward per row (smoothing eps, C classes):

    q'_j = (1 - eps) q_j + eps / C,   lse = sh + log(s)
    loss = sum_j w_j q'_j (lse - x_j) = sum_j w_j q'_j (sh - x_j) + lse' * sum_j w_j q'_j
    dloss/dx_j = scale (p_j sum_k w_k q'_k - w_j q'_j)
    """
    smem = cuda.shared.array(BLOCK, float64)
    tid = cuda.threadIdx.x
    C = x.shape[1]
    for row in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
        sh, s = _row_max_sum(x, row, smem, False, None)
        ls = _log_row_sum(x, row, sh, s, smem)
        a = 0.0
        b = 0.0
        for j in range(tid, C, BLOCK):
            wq = ((1.0 - eps) * float64(q[row, j]) + eps / C) * (
                float64(weight[j]) if has_weight else 1.0
            )
            a += wq * (sh - float64(x[row, j]))
            b += wq
        a = block_sum(a, smem)
        b = block_sum(b, smem)
        if tid == 0:
            loss[row] = a + ls * b
        if want_grad:
            ps = scale * b / s if s != 0.0 else math.nan
            for j in range(tid, C, BLOCK):
                v = x[row, j]
                e = _m.exp(v - _m.like(sh, v))
                wq = ((1.0 - eps) * float64(q[row, j]) + eps / C) * (
                    float64(weight[j]) if has_weight else 1.0
                )
                grad[row, j] = e * _m.like(ps, v) - _m.like(scale * wq, v)


@cuda.jit(device=True)
def _lane_max(v, smem):
    """Max over the LANES threads of this row's warp, returned to all of them."""
    if USE_SHUFFLE:
        v = _warp_max(v)
        return cuda.shfl_sync(FULL_MASK, v, 0)
    tid = cuda.threadIdx.x
    smem[tid] = v
    cuda.syncthreads()
    if tid % LANES == 0:
        r = smem[tid]
        for k in range(1, LANES):
            if smem[tid + k] > r:
                r = smem[tid + k]
        smem[tid] = r
    cuda.syncthreads()
    r = smem[tid - tid % LANES]
    cuda.syncthreads()
    return r


@cuda.jit(device=True)
def _lane_sum(v, smem):
    """Sum over the LANES threads of this row's warp, returned to all of them."""
    if USE_SHUFFLE:
        v = _warp_sum(v)
        return cuda.shfl_sync(FULL_MASK, v, 0)
    tid = cuda.threadIdx.x
    smem[tid] = v
    cuda.syncthreads()
    if tid % LANES == 0:
        r = smem[tid]
        for k in range(1, LANES):
            r += smem[tid + k]
        smem[tid] = r
    cuda.syncthreads()
    r = smem[tid - tid % LANES]
    cuda.syncthreads()
    return r


@cuda.jit(device=True)
def _warp_row_stats(x, row, active, lane, buf, smem, lse_mode):
    """(shift, s) of a short row held by one warp; each lane caches its elements in buf.

    Every thread of the block must call this (the simulator path synchronises)."""
    C = x.shape[1]
    m = NEG_INF
    nk = (C - lane + LANES - 1) // LANES  # this lane's elements: j = lane + k LANES
    if active:
        for k in range(nk):
            v = float64(x[row, lane + k * LANES])
            buf[k] = v
            if v > m:
                m = v
    sh = _shift(_lane_max(m, smem), lse_mode)
    s = 0.0
    if active:
        xs = x[row, 0]
        for k in range(nk):
            s += float64(_m.exp(_m.like(buf[k] - sh, xs)))
    return sh, _lane_sum(s, smem)


@cuda.jit(device=True)
def _warp_log_sum(x, active, lane, buf, sh, s, smem):
    """log(s) of a short row held by one warp (see ``_log_row_sum``): log1p(c - 1 + t)
    for 1 <= s < 2, from the lanes' cached elements. On hardware only such rows' warps
    take the extra sums (lane-uniform ``s``); the simulator's lane sums synchronise the
    block, so there every thread takes them."""
    if USE_SHUFFLE and not (s >= 1.0 and s < 2.0):
        return _log(s)
    c = 0.0
    t = 0.0
    if active:
        for k in range((x.shape[1] - lane + LANES - 1) // LANES):
            e = _m.exp(buf[k] - sh)
            if e == 1.0:
                c += 1.0
            else:
                t += e
    c = _lane_sum(c, smem)
    t = _lane_sum(t, smem)
    if s >= 1.0 and s < 2.0 and c >= 1.0 and c + t < 2.0:
        return _m.log1p((c - 1.0) + t)
    return _log(s)


@cuda.jit
def softmax_rows_warp(x, out, mode, zero_masked):
    """Short rows (C <= WARP_MAX_C): one warp per row, the row read once into registers.

    mode 0: softmax, 1: log_softmax; the semantics of ``softmax_rows``.
    """
    smem = cuda.shared.array(BLOCK, float64)
    buf = cuda.local.array(CACHE, float64)
    tid = cuda.threadIdx.x
    lane = tid % LANES
    C = x.shape[1]
    M = x.shape[0]
    # a block-uniform loop: every thread reaches every reduction
    for base in range(cuda.blockIdx.x * ROWS_PER_BLOCK, M, cuda.gridDim.x * ROWS_PER_BLOCK):
        row = base + tid // LANES
        active = row < M
        sh, s = _warp_row_stats(x, row, active, lane, buf, smem, False)
        ls = _warp_log_sum(x, active, lane, buf, sh, s, smem) if mode != 0 else 0.0
        if not active:
            continue
        xs = x[row, 0]
        masked = s == 0.0 and zero_masked
        inv = 1.0 / s if s != 0.0 else math.nan
        for k in range((C - lane + LANES - 1) // LANES):
            out[row, lane + k * LANES] = _finish(buf[k] - sh, inv, ls, mode, masked, xs)


@cuda.jit
def logsumexp_rows_warp(x, out):
    """Short rows: logsumexp with one warp per row (the row read once)."""
    smem = cuda.shared.array(BLOCK, float64)
    buf = cuda.local.array(CACHE, float64)
    tid = cuda.threadIdx.x
    lane = tid % LANES
    M = x.shape[0]
    for base in range(cuda.blockIdx.x * ROWS_PER_BLOCK, M, cuda.gridDim.x * ROWS_PER_BLOCK):
        row = base + tid // LANES
        active = row < M
        sh, s = _warp_row_stats(x, row, active, lane, buf, smem, True)
        ls = _warp_log_sum(x, active, lane, buf, sh, s, smem)
        if active and lane == 0:
            out[row] = sh + ls


@cuda.jit
def softmax_rows_smem(x, out, mode, zero_masked):
    """Mid-size rows (WARP_MAX_C < C <= SMEM_MAX_C): one block per row, the row staged
    in shared memory by the statistics pass, so global memory is read once.

    mode 0: softmax, 1: log_softmax; the semantics of ``softmax_rows``.
    """
    smem = cuda.shared.array(BLOCK, float64)
    row_buf = cuda.shared.array(SMEM_MAX_C, float64)
    tid = cuda.threadIdx.x
    C = x.shape[1]
    for row in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
        sh, s = _row_max_sum(x, row, smem, False, row_buf)
        xs = x[row, 0]
        masked = s == 0.0 and zero_masked
        inv = 1.0 / s if s != 0.0 else math.nan
        ls = _log_row_sum(x, row, sh, s, smem) if mode != 0 else 0.0
        # each thread reads back the elements it staged: no barrier needed before
        for j in range(tid, C, BLOCK):
            out[row, j] = _finish(row_buf[j] - sh, inv, ls, mode, masked, xs)
        cuda.syncthreads()  # row_buf is rewritten by the next row


@cuda.jit
def negate(x, out):
    # out = -x (softmin is the softmax of -x), grid-stride
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, x.shape[0], stride):
        out[i] = -x[i]
