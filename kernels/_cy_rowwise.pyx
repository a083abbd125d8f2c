# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: infer_types=True, initializedcheck=False
"""Cython (OpenMP) kernels: softmax family, losses, PReLU, RReLU, maxout.

Hand-written counterparts of ``kernels/numba_rowwise.py`` and
``kernels/numba_special.py`` with the same arguments and the same formulas (see
there for the math). Rows are C-contiguous ``(rows, classes)`` arrays; sums
accumulate in double; rows run in parallel with OpenMP.
"""

from cython.parallel cimport prange
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, malloc

include "_cy_math.pxi"
include "_cy_pointwise.pxi"

cdef double NEG_INF = -INFINITY
cdef double NAN_ = float("nan")
cdef double EXP_UNIT = 18446744073709551616.0  # 2^64: the factor of fa_exp_sc
cdef double EXP_UNIT_INV = 1.0 / 18446744073709551616.0


cdef extern from "fa_rows.h" nogil:
    double fa_max_f(const float* x, Py_ssize_t n)
    double fa_max_d(const double* x, Py_ssize_t n)
    double fa_sum_f(const float* x, Py_ssize_t n)
    double fa_sum_d(const double* x, Py_ssize_t n)
    double fa_dot_f(const float* a, const float* b, Py_ssize_t n)
    double fa_dot_d(const double* a, const double* b, Py_ssize_t n)
    double fa_sqdiff_f(const float* a, const float* b, Py_ssize_t n)
    double fa_sqdiff_d(const double* a, const double* b, Py_ssize_t n)
    double fa_negdot_f(const float* a, const float* b, Py_ssize_t n)
    double fa_negdot_d(const double* a, const double* b, Py_ssize_t n)
    double fa_negprod(double a, double b)
    void fa_exp_sc_block_f(const float* x, float* buf, Py_ssize_t n, float sh)
    void fa_exp_sc_block_d(const double* x, double* buf, Py_ssize_t n, double sh)
    void fa_exp_row_pf_f(const float* x, float* buf, Py_ssize_t n, float sh, const float* xn, float* bn)
    void fa_exp_row_pf_d(const double* x, double* buf, Py_ssize_t n, double sh, const double* xn,
                         double* bn)
    void fa_maxout_f_fwd(const float* x, float* out, Py_ssize_t K, Py_ssize_t pieces)
    void fa_maxout_d_fwd(const double* x, double* out, Py_ssize_t K, Py_ssize_t pieces)
    void fa_maxout_f_bwd(const float* x, const float* g, float* gx, Py_ssize_t K, Py_ssize_t pieces)
    void fa_maxout_d_bwd(const double* x, const double* g, double* gx, Py_ssize_t K,
                         Py_ssize_t pieces)


cdef inline double row_max(const floating* x, Py_ssize_t n) noexcept nogil:
    # max_j x_j (integer max over order keys, vectorized; see fa_rows.h)
    if floating is float:
        return fa_max_f(x, n)
    else:
        return fa_max_d(x, n)


cdef inline double row_sum(const floating* x, Py_ssize_t n) noexcept nogil:
    # sum_j x_j in double (16 partial sums, vectorized)
    if floating is float:
        return fa_sum_f(x, n)
    else:
        return fa_sum_d(x, n)


cdef inline double row_dot(const floating* a, const floating* b, Py_ssize_t n) noexcept nogil:
    # sum_j a_j b_j in double (16 partial sums, vectorized)
    if floating is float:
        return fa_dot_f(a, b, n)
    else:
        return fa_dot_d(a, b, n)


cdef inline double row_sumexp(const floating* x, floating* buf, Py_ssize_t n, double shift) noexcept nogil:
    # buf_j = exp(x_j - shift); returns sum_j buf_j (double)
    cdef Py_ssize_t j
    cdef floating sh = <floating>shift
    cdef double s = 0.0
    for j in range(n):
        buf[j] = m_exp(x[j] - sh)
    return row_sum(buf, n)


cdef inline double row_sumexp_chunked(const floating* x, Py_ssize_t n, double shift) noexcept nogil:
    # sum_j exp(x_j - shift) without a row buffer: exponentials of 256 elements at a
    # time in a stack buffer (vectorized), each chunk summed with row_sum
    cdef floating buf[256]
    cdef floating sh = <floating>shift
    cdef Py_ssize_t j0, j, k
    cdef double s = 0.0
    for j0 in range(0, n, 256):
        k = min(256, n - j0)
        for j in range(k):
            buf[j] = m_exp(x[j0 + j] - sh)
        s += row_sum(buf, k)
    return s


cdef inline double log_sum(const floating* buf, Py_ssize_t n, double s, double unit=1.0) noexcept nogil:
    # log(s) for s = sum_j buf_j / unit, buf_j = unit exp(x_j - shift) (unit: 1, or
    # EXP_UNIT for fa_exp_sc): when the shift is the row's maximum, s = c + t (c terms
    # equal to 1, t the others) and log1p(c - 1 + t) keeps the tiny t that 1 + t rounds
    # away (float64 logsumexp([0, -40]) = 4.25e-18, not 0)
    cdef Py_ssize_t j
    cdef double t = 0.0, c = 0.0, v
    if not s < 2.0 or n <= 0:
        return log(s)
    for j in range(n):
        v = buf[j] / unit
        if v == 1.0:
            c = c + 1.0
        else:
            t = t + v
    if c < 1.0:
        return log(s)
    return log1p((c - 1.0) + t)


cdef inline void exp_chunk(const floating* x, floating* buf, Py_ssize_t k, floating sh,
                           bint sc) noexcept nogil:
    # buf_j = 2^64 exp(x_j - sh) (sc: fa_exp_sc, for x_j - sh <= 0 or NaN), else exp(x_j - sh)
    cdef Py_ssize_t j
    if sc:
        if floating is float:
            fa_exp_sc_block_f(x, buf, k, sh)
        else:
            fa_exp_sc_block_d(x, buf, k, sh)
    else:
        for j in range(k):
            buf[j] = m_exp(x[j] - sh)


cdef inline double log_sumexp_chunked(const floating* x, Py_ssize_t n, double shift,
                                      bint sc=False) noexcept nogil:
    # log(sum_j exp(x_j - shift)) without a row buffer, with log_sum's log1p rule, whose
    # split of the terms (ones and the rest) takes a second pass only when the sum is
    # below 2. sc: the shift is the row's finite maximum (every x_j - shift <= 0 or NaN),
    # so the exponentials can be fa_exp_sc's 2^64 e^t (an infinite maximum's shift is 0,
    # and x_j - 0 may be positive)
    cdef floating buf[256]
    cdef floating sh = <floating>shift
    cdef Py_ssize_t j0, j, k
    cdef double s = 0.0, t = 0.0, c = 0.0, v
    cdef double unit = EXP_UNIT if sc else 1.0
    for j0 in range(0, n, 256):
        k = min(256, n - j0)
        exp_chunk(x + j0, buf, k, sh, sc)
        s = s + row_sum(buf, k)
    s = s / unit  # exact
    if not (s > 0.0 or s != s):
        return NEG_INF
    if not s < 2.0:
        return log(s)
    for j0 in range(0, n, 256):
        k = min(256, n - j0)
        exp_chunk(x + j0, buf, k, sh, sc)
        for j in range(k):
            v = buf[j] / unit
            if v == 1.0:
                c = c + 1.0
            else:
                t = t + v
    if c < 1.0:
        return log(s)
    return log1p((c - 1.0) + t)




cdef inline double row_sumexp_pf(const floating* x, floating* buf, Py_ssize_t n, double shift,
                                 const floating* xn, floating* bn) noexcept nogil:
    # buf_j = 2^64 exp(x_j - shift) (fa_exp_sc; x_j - shift <= 0 or NaN) while the next
    # row (xn, bn) is prefetched (fa_rows.h); returns sum_j buf_j (double)
    if floating is float:
        fa_exp_row_pf_f(x, buf, n, <float>shift, xn, bn)
    else:
        fa_exp_row_pf_d(x, buf, n, shift, xn, bn)
    return row_sum(buf, n)


def softmax_rows(const floating[:, ::1] x, floating[:, ::1] out, floating[:, ::1] buf, int mode,
                 bint zero_masked, int nthreads):
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], r, j, q
    cdef double sh, s
    cdef floating inv, shc, ls
    if C == 0:
        return
    with nogil:
        for r in prange(M, num_threads=max(nthreads, 1), schedule="static"):
            q = r + 1 if r + 1 < M else r
            sh = softmax_shift(row_max(&x[r, 0], C))
            # s = 2^64 sum_j exp(x_j - shift): y_j = buf_j (1/s), log(s 2^-64) exact scaling
            s = row_sumexp_pf(&x[r, 0], &buf[r, 0], C, sh, &x[q, 0], &buf[q, 0])
            if mode == 0:
                if s == 0.0 and zero_masked:
                    for j in range(C):
                        out[r, j] = 0
                else:
                    inv = <floating>(1.0 / s)
                    for j in range(C):
                        out[r, j] = buf[r, j] * inv
            else:
                if s == 0.0 and zero_masked:
                    for j in range(C):
                        out[r, j] = -INFINITY
                else:
                    shc = <floating>sh
                    ls = <floating>log_sum(&buf[r, 0], C, s * EXP_UNIT_INV, EXP_UNIT)
                    for j in range(C):
                        out[r, j] = (x[r, j] - shc) - ls


def logsumexp_rows(const floating[:, ::1] x, floating[::1] out, int nthreads):
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], r
    cdef double m, sh, s
    with nogil:
        for r in prange(M, num_threads=max(nthreads, 1), schedule="static"):
            m = row_max(&x[r, 0], C) if C > 0 else NEG_INF
            sh = m if fabs(m) < INFINITY else 0.0
            out[r] = sh + log_sumexp_chunked(&x[r, 0], C, sh, fabs(m) < INFINITY)


def softmax_backward_rows(const floating[:, ::1] g, const floating[:, ::1] y, floating[:, ::1] out,
                          int nthreads):
    # grad_j = y_j (g_j - sum_k g_k y_k)
    cdef Py_ssize_t M = y.shape[0], C = y.shape[1], r, j
    cdef double dot
    cdef floating d
    with nogil:
        for r in prange(M, num_threads=max(nthreads, 1), schedule="static"):
            dot = row_dot(&g[r, 0], &y[r, 0], C) if C > 0 else 0.0
            d = <floating>dot
            for j in range(C):
                out[r, j] = y[r, j] * (g[r, j] - d)


def log_softmax_backward_rows(const floating[:, ::1] g, const floating[:, ::1] y, floating[:, ::1] out,
                              int nthreads):
    # grad_j = g_j - exp(y_j) sum_k g_k
    cdef Py_ssize_t M = y.shape[0], C = y.shape[1], r, j
    cdef double tot
    cdef floating t
    with nogil:
        for r in prange(M, num_threads=max(nthreads, 1), schedule="static"):
            tot = row_sum(&g[r, 0], C) if C > 0 else 0.0
            t = <floating>tot
            for j in range(C):
                out[r, j] = g[r, j] - m_exp(y[r, j]) * t


def cross_entropy_index(const floating[:, ::1] x, const long long[::1] target, const double[::1] weight,
                        bint has_weight, long long ignore_index, double eps, double scale,
                        double[::1] loss, floating[:, ::1] grad, bint want_grad, int nthreads):
    # see kernels/numba_rowwise.py: cross_entropy_index
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], r, j
    cdef long long t
    cdef double wsum = 0.0, sh, s, ls, wt, xt, li, shift_sum, a, b
    cdef floating* buf
    cdef floating ac, bc
    if eps != 0.0:  # the class weights enter only through smoothing (a NaN stays local)
        for j in range(C):
            wsum += weight[j] if has_weight else 1.0
    with nogil:
        for r in prange(M, num_threads=max(nthreads, 1), schedule="static"):
            t = target[r]
            if t == ignore_index or t < 0 or t >= C:
                loss[r] = 0.0 if t == ignore_index else NAN_
                if want_grad:
                    for j in range(C):
                        grad[r, j] = 0
                continue
            sh = softmax_shift(row_max(&x[r, 0], C))
            wt = weight[t] if has_weight else 1.0
            xt = x[r, t]
            shift_sum = 0.0
            if eps != 0.0:
                for j in range(C):
                    shift_sum = shift_sum + (weight[j] if has_weight else 1.0) * (sh - x[r, j])
            if want_grad:
                buf = &grad[r, 0]
            else:
                buf = <floating*>malloc(C * sizeof(floating))
            s = row_sumexp(&x[r, 0], buf, C, sh)
            ls = log_sum(buf, C, s)  # log1p of a tiny sum at a dominant maximum
            li = (1.0 - eps) * wt * ((sh - xt) + ls)
            if eps != 0.0:
                li = li + eps / C * (shift_sum + ls * wsum)
            loss[r] = li
            if want_grad:
                a = scale * ((1.0 - eps) * wt + eps / C * wsum) / s
                b = scale * eps / C
                ac = <floating>a
                for j in range(C):
                    bc = <floating>(b * weight[j]) if (has_weight and eps != 0.0) else <floating>b
                    buf[j] = buf[j] * ac - bc
                buf[t] = buf[t] - <floating>(scale * (1.0 - eps) * wt)
            else:
                free(buf)


def cross_entropy_prob(const floating[:, ::1] x, const floating[:, ::1] q, const double[::1] weight,
                       bint has_weight, double eps, double scale, double[::1] loss,
                       floating[:, ::1] grad, bint want_grad, int nthreads):
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], r, j
    cdef double sh, s, ls, li, wq, wj, qj, p
    cdef floating shc
    if C == 0:
        for r in range(M):
            loss[r] = 0.0
        return
    with nogil:
        for r in prange(M, num_threads=max(nthreads, 1), schedule="static"):
            sh = softmax_shift(row_max(&x[r, 0], C))
            shc = <floating>sh
            s = row_sumexp_chunked(&x[r, 0], C, sh)
            # log1p of a tiny sum at a dominant maximum: a second pass only when s < 2
            ls = log(s) if not s < 2.0 else log_sumexp_chunked(&x[r, 0], C, sh)
            li = 0.0
            wq = 0.0
            for j in range(C):
                wj = weight[j] if has_weight else 1.0
                qj = (1.0 - eps) * q[r, j] + eps / C
                li = li + wj * qj * ((sh - x[r, j]) + ls)
                wq = wq + wj * qj
            loss[r] = li
            if want_grad:
                for j in range(C):
                    wj = weight[j] if has_weight else 1.0
                    qj = (1.0 - eps) * q[r, j] + eps / C
                    p = m_exp(x[r, j] - shc) / s
                    grad[r, j] = <floating>(scale * (p * wq - wj * qj))


# Pointwise losses: per-element losses (reduction="none"), or one double partial sum per
# block of LOSS_BLOCK elements (fastact.backends.interface.LOSS_BLOCK; the partition does
# not depend on the thread count).
cdef enum:
    LOSS_BLOCK = 4096
PY_LOSS_BLOCK = LOSS_BLOCK


cdef inline void _bce_span(const floating* x, const floating* t, const double* w, const double* pw,
                           bint has_w, bint has_pw, double scale, double* dst, floating* grad,
                           bint want_grad, Py_ssize_t m) noexcept nogil:
    # dst[i] = bce_loss(x_i, t_i, w_i, pw_i, e_i), grad[i] = scale bce_grad(...), i < m,
    # one exponential e_i = bce_exp(x_i) per element
    cdef Py_ssize_t i
    cdef double xi, ti, wi, pwi, e
    for i in range(m):
        xi = x[i]
        ti = t[i]
        wi = w[i] if has_w else 1.0
        pwi = pw[i] if has_pw else 1.0
        e = bce_exp(xi)
        dst[i] = bce_loss(xi, ti, wi, pwi, e)
        if want_grad:
            grad[i] = <floating>(scale * bce_grad(xi, ti, wi, pwi, e))


cdef double _bce_block_sum(const floating* x, const floating* t, const double* w, const double* pw,
                           bint has_w, bint has_pw, double scale, floating* grad, bint want_grad,
                           Py_ssize_t m) noexcept nogil:
    # the sum of a block's m <= LOSS_BLOCK losses (a buffer on this thread's stack)
    cdef double buf[LOSS_BLOCK]
    _bce_span(x, t, w, pw, has_w, has_pw, scale, buf, grad, want_grad, m)
    return fa_sum_d(buf, m)


def bce_with_logits(const floating[::1] x, const floating[::1] t, const double[::1] w, const double[::1] pw, bint has_w,
                    bint has_pw, double scale, double[::1] loss, floating[::1] grad,
                    bint want_grad, int nthreads):
    # loss_i = bce_loss(x_i, t_i, w_i, pw_i, e_i), grad_i = scale bce_grad(...) (pointwise.py);
    # loss has x's size, or one entry per block (the block's sum)
    cdef Py_ssize_t n = x.shape[0], b, lo, m
    cdef Py_ssize_t nb = (n + LOSS_BLOCK - 1) // LOSS_BLOCK
    cdef bint per_element = loss.shape[0] == n
    if n == 0:
        return
    with nogil:
        for b in prange(nb, num_threads=max(nthreads, 1), schedule="static"):
            lo = b * LOSS_BLOCK
            m = min(LOSS_BLOCK, n - lo)
            if per_element:
                _bce_span(&x[lo], &t[lo], &w[lo] if has_w else &w[0], &pw[lo] if has_pw else &pw[0],
                          has_w, has_pw, scale, &loss[lo], &grad[lo] if want_grad else &grad[0],
                          want_grad, m)
            else:
                loss[b] = _bce_block_sum(&x[lo], &t[lo], &w[lo] if has_w else &w[0],
                                         &pw[lo] if has_pw else &pw[0], has_w, has_pw, scale,
                                         &grad[lo] if want_grad else &grad[0], want_grad, m)


def mse(const floating[::1] x, const floating[::1] t, double scale, double[::1] loss, floating[::1] grad,
        bint want_grad, int nthreads):
    # loss_i = mse_loss(x_i, t_i) = (x_i - t_i)^2, grad_i = scale mse_grad = 2 scale (x_i - t_i);
    # loss has x's size, or one entry per block (the block's sum)
    cdef Py_ssize_t n = x.shape[0], b, lo, hi, i
    cdef Py_ssize_t nb = (n + LOSS_BLOCK - 1) // LOSS_BLOCK
    cdef bint per_element = loss.shape[0] == n
    with nogil:
        for b in prange(nb, num_threads=max(nthreads, 1), schedule="static"):
            lo = b * LOSS_BLOCK
            hi = min(lo + LOSS_BLOCK, n)
            # the loss first: grad may be x or t itself (grad_out=input)
            if per_element:
                for i in range(lo, hi):
                    loss[i] = mse_loss(x[i], t[i])
            elif floating is float:
                loss[b] = fa_sqdiff_f(&x[lo], &t[lo], hi - lo)
            else:
                loss[b] = fa_sqdiff_d(&x[lo], &t[lo], hi - lo)
            if want_grad:
                for i in range(lo, hi):
                    grad[i] = <floating>(scale * mse_grad(x[i], t[i]))


def prelu_fwd(const floating[::1] x, const floating[::1] w, floating[::1] out, Py_ssize_t C, Py_ssize_t inner,
              int nthreads):
    # y = x for x > 0, w[c] x otherwise, c = (i // inner) % C
    cdef Py_ssize_t n = x.shape[0], i, r, c, b, t, p, e, stop, nch
    cdef floating v, wc
    with nogil:
        if inner == 1 and C > 0:
            # (N, C) input: whole rows, the channel loop over contiguous w vectorizes (an
            # integer division per element did not)
            for r in prange(n // C, num_threads=max(nthreads, 1), schedule="static"):
                b = r * C
                for c in range(C):
                    v = x[b + c]
                    out[b + c] = v if v > 0 else w[c] * v
        elif n > 0:
            # chunks of the flat array, each walked run by run (a run: inner elements of
            # one channel), so that the inner loop has one slope and vectorizes; an
            # integer division and a modulo per element took 2.9 ms over 2^20 float32
            # (NCHW, inner 1024: 0.02x PyTorch)
            nch = min(max(nthreads, 1) * 4, n)
            for t in prange(nch, num_threads=max(nthreads, 1), schedule="static"):
                p = t * n // nch
                e = (t + 1) * n // nch
                while p < e:
                    r = p // inner
                    stop = min(e, (r + 1) * inner)
                    wc = w[r % C]
                    for i in range(p, stop):
                        v = x[i]
                        out[i] = v if v > 0 else wc * v
                    p = stop


def prelu_bwd(const floating[::1] g, const floating[::1] x, const floating[::1] w, floating[::1] gx,
              double[:, ::1] partial, Py_ssize_t C, Py_ssize_t inner, int nthreads):
    # gx = g for x > 0, w[c] g otherwise; partial[t, c] += g x over x <= 0 (race-free)
    cdef Py_ssize_t n = x.shape[0], nch = partial.shape[0], t, p, e, q, c, r, stop, rows, b
    cdef floating v, gv, wc
    with nogil:
        if inner == 1 and C > 0:
            # (N, C) input: whole rows per chunk; the channel loop runs over contiguous w
            # and partial[t] and vectorizes (no reduction inside it)
            rows = n // C
            for t in prange(nch, num_threads=max(nthreads, 1), schedule="static"):
                for r in range(t * rows // nch, (t + 1) * rows // nch):
                    b = r * C
                    for c in range(C):
                        v = x[b + c]
                        gv = g[b + c]
                        gx[b + c] = gv if v > 0 else w[c] * gv
                        partial[t, c] += fa_negprod(gv, v)
        else:
            for t in prange(nch, num_threads=max(nthreads, 1), schedule="static"):
                p = t * n // nch
                e = (t + 1) * n // nch
                # run by run (inner elements of one channel): one slope, a select loop and
                # a float64 sum (16 partial sums, vectorized) per run, no integer division per
                # element (see prelu_fwd); a chunk boundary may leave a run of one
                while p < e:
                    r = p // inner
                    c = r % C
                    stop = min(e, (r + 1) * inner)
                    wc = w[c]
                    # the sum first: gx may be g or x itself (out=grad_output or x)
                    if stop - p == 1:
                        v = x[p]
                        if not v > 0:
                            partial[t, c] += <double>g[p] * v
                    elif floating is float:
                        partial[t, c] += fa_negdot_f(&g[p], &x[p], stop - p)
                    else:
                        partial[t, c] += fa_negdot_d(&g[p], &x[p], stop - p)
                    for q in range(p, stop):
                        v = x[q]
                        gv = g[q]
                        gx[q] = gv if v > 0 else wc * gv
                    p = stop


def rrelu_train(const floating[::1] x, floating[::1] out, floating[::1] slopes, double lower,
                double upper, uint64_t seed, int nthreads):
    cdef Py_ssize_t n = x.shape[0], i
    with nogil:
        for i in prange(n, num_threads=max(nthreads, 1), schedule="static"):
            slopes[i] = <floating>rrelu_slope(x[i], lower, upper, splitmix64_uniform(seed, i))
            out[i] = x[i] * slopes[i]


def multiply(const floating[::1] a, const floating[::1] b, floating[::1] out, int nthreads):
    cdef Py_ssize_t n = a.shape[0], i
    with nogil:
        for i in prange(n, num_threads=max(nthreads, 1), schedule="static"):
            out[i] = a[i] * b[i]


def maxout_fwd(const floating[:, ::1] x, floating[:, ::1] out, Py_ssize_t pieces, int nthreads):
    # out[m, k] = max_p x[m, k * pieces + p] (NaN wins): one row per iteration, the groups
    # scanned by fa_rows.h's branch-free fa_maxout_*_fwd
    cdef Py_ssize_t M = out.shape[0], K = out.shape[1], m
    with nogil:
        for m in prange(M, num_threads=max(nthreads, 1), schedule="static"):
            if floating is float:
                fa_maxout_f_fwd(&x[m, 0], &out[m, 0], K, pieces)
            else:
                fa_maxout_d_fwd(&x[m, 0], &out[m, 0], K, pieces)


def maxout_bwd(const floating[:, ::1] g, const floating[:, ::1] x, floating[:, ::1] gx, Py_ssize_t pieces,
               int nthreads):
    # gx[m, k * pieces + p*] = g[m, k] for the first maximal p*, 0 elsewhere (fa_maxout_*_bwd)
    cdef Py_ssize_t M = g.shape[0], K = g.shape[1], m
    with nogil:
        for m in prange(M, num_threads=max(nthreads, 1), schedule="static"):
            if floating is float:
                fa_maxout_f_bwd(&x[m, 0], &g[m, 0], &gx[m, 0], K, pieces)
            else:
                fa_maxout_d_bwd(&x[m, 0], &g[m, 0], &gx[m, 0], K, pieces)
