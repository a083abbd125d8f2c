"""The Numba CPU backend: ``@njit(parallel=True, cache=True)`` kernels.

Elementwise kernels are generated from the activation table into
``kernels/numba_elementwise.py``; the others are in ``kernels/numba_special.py``
and ``kernels/numba_rowwise.py``. Arrays below ``SERIAL_BELOW`` elements, or a
thread count of 1, run the serial variant so small calls skip the thread pool.
"""

from __future__ import annotations

import threading

import numpy as np

from fastact import _numba_setup, _threads, table
from fastact.backends.interface import LOSS_BLOCK, MODE_LOGSUMEXP, loss_slots

_numba_setup.configure()

import numba  # noqa: E402

from fastact.kernels import numba_elementwise as _ew  # noqa: E402
from fastact.kernels import numba_special as _sp  # noqa: E402

NAME = "numba"
#: a host backend: NumPy arrays in and out (the dispatch layer reads this on every call)
DEVICE = False
SERIAL_BELOW = _threads.SERIAL_BELOW
_tls = threading.local()
#: Numba's own limit (its thread pool size), which may be below fastact's
_NUMBA_MAX = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]


def _set_threads(n: int) -> None:
    if getattr(_tls, "n", None) != n:  # numba's thread count is per Python thread
        numba.set_num_threads(n)
        _tls.n = n


def _parallel(n: int) -> bool:
    """Whether to run the parallel variant; sets this thread's Numba thread count.

    Kernels without a serial variant run on one thread when this returns False
    (small inputs, ``set_num_threads(1)``)."""
    want = min(_threads.get_num_threads(), _NUMBA_MAX)
    if want == 1 or n < SERIAL_BELOW:
        _set_threads(1)
        return False
    _set_threads(want)
    return True


def _has_serial(n: int) -> bool:
    """For kernels with a serial variant: run it (and leave Numba's threads alone)."""
    return n < SERIAL_BELOW or _threads.get_num_threads() == 1


#: the table's cheap activations: serial below SERIAL_BELOW_CHEAP elements
_CHEAP = frozenset(e.name for e in table.ENTRIES if e.cheap)


def _elementwise_parallel(name: str, n: int) -> bool:
    if name in _CHEAP and n < _threads.SERIAL_BELOW_CHEAP:
        return False
    return not _has_serial(n) and _parallel(n)


def unary(name: str, x: np.ndarray, out: np.ndarray, a, b) -> None:  # type: ignore[no-untyped-def]
    _ew.FWD[name][_elementwise_parallel(name, x.shape[0])](x, out, a, b)


def unary_backward(name: str, g: np.ndarray, x: np.ndarray, out: np.ndarray, a, b) -> None:  # type: ignore[no-untyped-def]
    _ew.BWD[name][_elementwise_parallel(name, x.shape[0])](g, x, out, a, b)


def unary_backward_from_output(  # type: ignore[no-untyped-def]
    name: str, g: np.ndarray, y: np.ndarray, out: np.ndarray, a, b
) -> None:
    # a few arithmetic instructions per element: serial below SERIAL_BELOW_CHEAP as the
    # table's cheap activations
    n = y.shape[0]
    par = n >= _threads.SERIAL_BELOW_CHEAP and not _has_serial(n) and _parallel(n)
    _ew.BWD_Y[name][par](g, y, out, a, b)


def prelu(x: np.ndarray, w: np.ndarray, out: np.ndarray, C: int, inner: int) -> None:
    chunks = _threads.get_num_threads() * 4 if _parallel(x.shape[0]) else 1
    _sp.prelu_fwd(x, w, out, C, inner, chunks)


def prelu_backward(
    g: np.ndarray, x: np.ndarray, w: np.ndarray, gx: np.ndarray, C: int, inner: int
) -> np.ndarray:
    chunks = _threads.get_num_threads() * 4 if _parallel(x.shape[0]) else 1
    partial = np.zeros((chunks, C), dtype=np.float64)
    _sp.prelu_bwd(g, x, w, gx, partial, C, inner)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf across chunks: NaN
        return partial.sum(axis=0)


def rrelu_train(
    x: np.ndarray, out: np.ndarray, slopes: np.ndarray, lower: float, upper: float, seed: int
) -> None:
    _parallel(x.shape[0])
    _sp.rrelu_train(x, out, slopes, float(lower), float(upper), np.uint64(seed))


def multiply(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    _parallel(a.shape[0])
    _sp.multiply(a, b, out)


def maxout(x: np.ndarray, out: np.ndarray, pieces: int) -> None:
    _parallel(x.size)
    _sp.maxout_fwd(x, out, pieces)


def maxout_backward(g: np.ndarray, x: np.ndarray, gx: np.ndarray, pieces: int) -> None:
    _parallel(x.size)
    _sp.maxout_bwd(g, x, gx, pieces)


# --------------------------------------------------------------------------- #
# Row-wise kernels                                                            #
# --------------------------------------------------------------------------- #

from fastact.kernels import numba_rowwise as _rw  # noqa: E402

#: rows at least this long are split across threads when there are fewer rows than threads
SPLIT_ROW_AT = 1 << 15


def _split_chunks(x: np.ndarray) -> int:
    """Chunks per row for the split kernels (0: rows in parallel, -1: one thread)."""
    M, C = x.shape
    if not _parallel(x.size):
        return -1
    t = _threads.get_num_threads()
    if t > M and C >= SPLIT_ROW_AT:
        return 4 * t
    return 0


def softmax(x: np.ndarray, out: np.ndarray, mode: int, zero_masked: bool) -> None:
    # the exponentials go to out, unless out is x and log_softmax still needs x
    buf = np.empty_like(out) if mode == 1 and (out is x or np.shares_memory(x, out)) else out
    k = _split_chunks(x)
    if k > 0:
        _rw.softmax_split(x, out, buf, mode, zero_masked, k)
    elif k == 0:
        _rw.softmax_rows(x, out, buf, mode, zero_masked)
    else:
        _rw.softmax_rows_ser(x, out, buf, mode, zero_masked)


def _scratch(x: np.ndarray, rows: int | None = None) -> np.ndarray:
    """One row of workspace per Numba thread (kernels index it by get_thread_id())."""
    return np.empty((numba.get_num_threads() if rows is None else rows, x.shape[1]), x.dtype)


def logsumexp(x: np.ndarray, out: np.ndarray) -> None:
    k = _split_chunks(x)
    if k > 0:
        _rw.softmax_split(x, out.reshape(-1, 1), _scratch(x, 1), MODE_LOGSUMEXP, False, k)
    elif k == 0:
        _rw.logsumexp_rows(x, out, _scratch(x))
    else:
        _rw.logsumexp_rows_ser(x, out, _scratch(x, 1))


def softmax_backward(g: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    _parallel(y.size)
    _rw.softmax_backward_rows(g, y, out)


def log_softmax_backward(g: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    _parallel(y.size)
    _rw.log_softmax_backward_rows(g, y, out)


_NO_W = np.empty(0, dtype=np.float64)


def cross_entropy_index(x, target, weight, ignore_index, eps, scale, want_grad, grad):  # type: ignore[no-untyped-def]
    _parallel(x.size)
    loss = np.empty(x.shape[0], dtype=np.float64)
    w = _NO_W if weight is None else weight
    g = grad if want_grad else np.empty((1, 1), dtype=x.dtype)
    ws = _scratch(x, 1 if want_grad else None)  # exponentials, when grad cannot hold them
    _rw.cross_entropy_index(
        x, target, w, weight is not None, ignore_index, eps, scale, loss, g, want_grad, ws
    )
    return loss


def cross_entropy_prob(x, q, weight, eps, scale, want_grad, grad):  # type: ignore[no-untyped-def]
    _parallel(x.size)
    loss = np.empty(x.shape[0], dtype=np.float64)
    w = _NO_W if weight is None else weight
    g = grad if want_grad else np.empty((1, 1), dtype=x.dtype)
    ws = _scratch(x)
    _rw.cross_entropy_prob(x, q, w, weight is not None, eps, scale, loss, g, want_grad, ws)
    return loss


_NO_SCRATCH = np.empty((1, 1), dtype=np.float64)


def bce_with_logits(x, t, w, pw, scale, want_grad, grad, per_element):  # type: ignore[no-untyped-def]
    _parallel(x.size)
    k = loss_slots(x.shape[0], per_element)
    loss = np.empty(k, dtype=np.float64)
    g = grad if want_grad else np.empty(1, dtype=x.dtype)
    wa = _NO_W if w is None else w
    pwa = _NO_W if pw is None else pw
    ws = _NO_SCRATCH if k == x.shape[0] else np.empty((numba.get_num_threads(), LOSS_BLOCK))
    _rw.bce_with_logits(x, t, wa, pwa, w is not None, pw is not None, scale, loss, g, want_grad,
                        ws, LOSS_BLOCK)  # fmt: skip
    return loss


def mse(x, t, scale, want_grad, grad, per_element):  # type: ignore[no-untyped-def]
    _parallel(x.size)
    loss = np.empty(loss_slots(x.shape[0], per_element), dtype=np.float64)
    g = grad if want_grad else np.empty(1, dtype=x.dtype)
    _rw.mse(x, t, scale, loss, g, want_grad, LOSS_BLOCK)
    return loss
