"""Numba CPU kernels for the activations with extra structure.

* PReLU: a slope per channel; the weight gradient is a reduction over every
  other axis, computed race-free as per-chunk float64 partial sums.
* RReLU (training): one slope per negative element drawn from U(lower, upper)
  by a counter-based generator (SplitMix64 of ``seed + (i + 1) * golden``), so
  the slopes depend only on the seed and the element's index, on every backend.
  The per-element formulas (slope, uniform, maxout's scan rule) are generated from
  ``fastact/pointwise.py`` into ``kernels/numba_pointwise.py``.
* Maxout: the max over groups of ``pieces`` consecutive inputs.
* ``multiply``: ``out = a * b`` (the RReLU backward).

Arrays are flat and contiguous unless stated; see the numpy reference backend
for the same operations written with NumPy.
"""

import numpy as np
from fastact.kernels.numba_pointwise import maxout_wins, rrelu_slope, splitmix64_uniform
from numba import njit, prange

from fastact._math import FASTMATH

_FM = set(FASTMATH)

@njit(parallel=True, cache=True, fastmath=_FM, error_model="numpy")
def prelu_fwd(x, w, out, C, inner, nchunks):
    # y = x for x > 0, w[c] x otherwise; c = (flat index // inner) % C
    n = x.shape[0]
    if inner == 1:
        # (rows, C) input: whole rows per chunk, the channel loop runs over contiguous
        # w[0:C] and vectorizes (a run per channel would be one element long)
        # (2-d row views: flat indices b + c kept LLVM from vectorizing, 8x slower)
        rows = n // C if C > 0 else 0
        x2 = x.reshape(rows, C)
        o2 = out.reshape(rows, C)
        for t in prange(nchunks):
            r0 = t * rows // nchunks
            r1 = (t + 1) * rows // nchunks
            for r in range(r0, r1):
                xr = x2[r]
                orow = o2[r]
                for c in range(C):
                    v = xr[c]
                    orow[c] = v if v > 0 else w[c] * v
        return
    for t in prange(nchunks):
        p = t * n // nchunks
        e = (t + 1) * n // nchunks
        while p < e:
            r = p // inner
            c = r % C
            stop = min(e, (r + 1) * inner)
            wc = w[c]
            # slices, not x[q] for q in range(p, stop): Numba wraps a possibly negative
            # index around, and that select per element kept the loop scalar (NCHW
            # float32, inner 1024: 480 -> 51 us over 2^20 elements)
            xs = x[p:stop]
            os_ = out[p:stop]
            for q in range(min(xs.shape[0], os_.shape[0])):
                v = xs[q]
                os_[q] = v if v > 0 else wc * v
            p = stop


@njit(parallel=True, cache=True, fastmath=_FM, error_model="numpy")
def prelu_bwd(g, x, w, gx, partial, C, inner):
    # dL/dx = g for x > 0, w[c] g otherwise
    # dL/dw[c] = sum over x <= 0 in channel c of g x   (float64 partial sums per chunk)
    n = x.shape[0]
    nchunks = partial.shape[0]
    if inner == 1:
        # (rows, C) input: whole rows per chunk, vectorized over the channels, each
        # chunk's sums in its own row of partial
        rows = n // C if C > 0 else 0
        x2 = x.reshape(rows, C)
        g2 = g.reshape(rows, C)
        gx2 = gx.reshape(rows, C)
        for t in prange(nchunks):
            r0 = t * rows // nchunks
            r1 = (t + 1) * rows // nchunks
            pt = partial[t]
            for r in range(r0, r1):
                xr = x2[r]
                gr = g2[r]
                gxr = gx2[r]
                for c in range(C):
                    v = xr[c]
                    gv = gr[c]
                    neg = not v > 0
                    gxr[c] = w[c] * gv if neg else gv
                    pt[c] += np.float64(gv) * np.float64(v) if neg else 0.0
        return
    for t in prange(nchunks):
        p = t * n // nchunks
        e = (t + 1) * n // nchunks
        while p < e:
            r = p // inner
            c = r % C
            stop = min(e, (r + 1) * inner)
            wc = w[c]
            acc = 0.0
            xs = x[p:stop]  # slices: see prelu_fwd
            gs = g[p:stop]
            gxs = gx[p:stop]
            for q in range(min(xs.shape[0], gs.shape[0], gxs.shape[0])):
                v = xs[q]
                gv = gs[q]
                neg = not v > 0
                gxs[q] = wc * gv if neg else gv
                acc += np.float64(gv) * np.float64(v) if neg else 0.0
            partial[t, c] += acc
            p = stop


@njit(parallel=True, cache=True, error_model="numpy")
def rrelu_train(x, out, slopes, lower, upper, seed):
    # slope = 1 for x >= 0, lower + (upper - lower) u_i otherwise; y = slope x
    for i in prange(x.shape[0]):
        v = x[i]
        slopes[i] = rrelu_slope(np.float64(v), lower, upper, splitmix64_uniform(seed, i))
        out[i] = v * slopes[i]


@njit(parallel=True, cache=True, fastmath=_FM, error_model="numpy")
def multiply(a, b, out):
    # out = a * b
    for i in prange(a.shape[0]):
        out[i] = a[i] * b[i]


@njit(parallel=True, cache=True, error_model="numpy")
def maxout_fwd(x, out, pieces):
    # out[m, k] = max_p x[m, k * pieces + p]  (NaN wins: NaN in gives NaN out)
    M, K = out.shape
    for m in prange(M):
        for k in range(K):
            base = k * pieces
            best = x[m, base]
            for p in range(1, pieces):
                v = x[m, base + p]
                if maxout_wins(v, best):
                    best = v
            out[m, k] = best


@njit(parallel=True, cache=True, error_model="numpy")
def maxout_bwd(g, x, gx, pieces):
    # gx[m, k * pieces + p*] = g[m, k] for the first maximal p*, 0 elsewhere: the group
    # zeroed, then one store (a select per element was 3.3x slower: 6.2 -> 1.8 ms over
    # 2^20 float32 on one thread)
    M, K = g.shape
    for m in prange(M):
        xr = x[m]
        gr = g[m]
        gxr = gx[m]
        for k in range(K):
            base = k * pieces
            best = xr[base]
            arg = 0
            for p in range(1, pieces):
                v = xr[base + p]
                w = maxout_wins(v, best)
                best = v if w else best
                arg = p if w else arg
            for p in range(pieces):
                gxr[base + p] = 0.0
            gxr[base + arg] = gr[k]
