"""Numba CUDA kernels for PReLU, randomized leaky ReLU (training), maxout, an
elementwise product, and the pointwise losses (BCE-with-logits, MSE).

Elementwise kernels are grid-stride loops over flat arrays. Reductions (the PReLU
weight gradient, the loss sums) are float64: one block per channel for PReLU, a
block sum plus one float64 atomic add per block for the losses. The same math as
``kernels/numba_special.py`` and ``kernels/numba_rowwise.py``; the rrelu slopes use
the same SplitMix64 counter RNG, so one seed gives the same slopes on every backend.
The per-element formulas come from ``fastact/pointwise.py`` (``kernels/cuda_pointwise.py``).
"""

from fastact.kernels.cuda_pointwise import (
    bce_exp,
    bce_grad,
    bce_loss,
    maxout_wins,
    mse_grad,
    mse_loss,
    rrelu_slope,
    splitmix64_uniform,
)
from fastact.kernels.cuda_rowwise import BLOCK, block_sum
from numba import cuda, float64


@cuda.jit
def prelu_fwd(x, w, out, C, inner):
    # y = x for x > 0, w[c] x otherwise; c = (i // inner) % C
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        v = x[i]
        out[i] = v if v > 0 else w[(i // inner) % C] * v


@cuda.jit
def prelu_bwd_input(g, x, w, gx, C, inner):
    # dL/dx = g for x > 0, w[c] g otherwise
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        gx[i] = g[i] if x[i] > 0 else w[(i // inner) % C] * g[i]


@cuda.jit
def prelu_bwd_weight(g, x, gw, C, inner):
    # dL/dw[c] = sum over x <= 0 in channel c of g x; one block per channel (float64)
    smem = cuda.shared.array(BLOCK, float64)
    outer = x.shape[0] // (C * inner)
    per = outer * inner
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        acc = 0.0
        for k in range(cuda.threadIdx.x, per, BLOCK):
            i = (k // inner) * C * inner + c * inner + k % inner
            v = x[i]
            if not v > 0:
                acc += float64(g[i]) * float64(v)
        acc = block_sum(acc, smem)
        if cuda.threadIdx.x == 0:
            gw[c] = acc


@cuda.jit
def rrelu_train(x, out, slopes, lower, upper, seed):
    # slope = 1 for x >= 0, lower + (upper - lower) u_i otherwise; y = slope x
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        v = x[i]
        slopes[i] = rrelu_slope(float64(v), lower, upper, splitmix64_uniform(seed, i))
        out[i] = v * slopes[i]


@cuda.jit
def multiply(a, b, out):
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        out[i] = a[i] * b[i]


@cuda.jit
def maxout_fwd(x, out, pieces):
    # out[m, k] = max_p x[m, k * pieces + p]  (NaN in a group gives NaN)
    M, K = out.shape
    for i in range(cuda.grid(1), M * K, cuda.gridsize(1)):
        m = i // K
        k = i % K
        base = k * pieces
        best = x[m, base]
        for p in range(1, pieces):
            v = x[m, base + p]
            if maxout_wins(v, best):
                best = v
        out[m, k] = best


@cuda.jit
def maxout_bwd(g, x, gx, pieces):
    # the gradient goes to the first maximal (or first NaN) input of each group
    M, K = g.shape
    for i in range(cuda.grid(1), M * K, cuda.gridsize(1)):
        m = i // K
        k = i % K
        base = k * pieces
        arg = 0
        best = x[m, base]
        for p in range(1, pieces):
            v = x[m, base + p]
            if maxout_wins(v, best):
                best = v
                arg = p
        for p in range(pieces):
            gx[m, base + p] = g[m, k] if p == arg else 0.0


@cuda.jit
def bce_with_logits(x, t, w, pw, has_w, has_pw, scale, loss, want_loss, total, grad, want_grad):
    """l = bce_loss(x, t, w, pw, e), dl/dx = scale bce_grad(x, t, w, pw, e), e = exp(-|x|)
    (fastact/pointwise.py);
    ``total[0]`` += sum of l (float64)."""
    smem = cuda.shared.array(BLOCK, float64)
    acc = 0.0
    n = x.shape[0]
    stride = cuda.gridDim.x * BLOCK
    # every thread of a block runs the same number of sweeps (block_sum syncs)
    for base in range(cuda.blockIdx.x * BLOCK, n, stride):
        i = base + cuda.threadIdx.x
        if i < n:
            xi = float64(x[i])
            ti = float64(t[i])
            wi = float64(w[i]) if has_w else 1.0
            pwi = float64(pw[i]) if has_pw else 1.0
            e = bce_exp(xi)
            li = bce_loss(xi, ti, wi, pwi, e)
            acc += li
            if want_loss:
                loss[i] = li
            if want_grad:
                grad[i] = scale * bce_grad(xi, ti, wi, pwi, e)
    acc = block_sum(acc, smem)
    if cuda.threadIdx.x == 0:
        cuda.atomic.add(total, 0, acc)


@cuda.jit
def mse(x, t, scale, loss, want_loss, total, grad, want_grad):
    # l = (x - t)^2, dl/dx = 2 (x - t) scale; total[0] += sum of l (float64)
    smem = cuda.shared.array(BLOCK, float64)
    acc = 0.0
    n = x.shape[0]
    stride = cuda.gridDim.x * BLOCK
    for base in range(cuda.blockIdx.x * BLOCK, n, stride):
        i = base + cuda.threadIdx.x
        if i < n:
            xi = float64(x[i])
            ti = float64(t[i])
            li = mse_loss(xi, ti)
            acc += li
            if want_loss:
                loss[i] = li
            if want_grad:
                grad[i] = scale * mse_grad(xi, ti)
    acc = block_sum(acc, smem)
    if cuda.threadIdx.x == 0:
        cuda.atomic.add(total, 0, acc)
