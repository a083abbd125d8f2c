"""The Cython (OpenMP) backend: the compiled fallback when Numba is missing.

Kernels: ``kernels/_cy_elementwise.pyx`` (generated from the activation table)
and ``kernels/_cy_rowwise.pyx`` (hand-written), built by the package's own
install. If the build was skipped (no compiler or OpenMP), importing this
module raises ``ImportError`` and ``backend="cython"`` raises
``BackendUnavailable`` with the reason.
"""

from __future__ import annotations

import numpy as np

from fastact import _threads
from fastact.backends.interface import LOSS_BLOCK, loss_slots

try:
    from fastact.kernels import _cy_elementwise as _ew
    from fastact.kernels import _cy_rowwise as _rw
except ImportError as exc:  # pragma: no cover - depends on the build
    raise ImportError(
        "the Cython extension is not built (no C compiler or OpenMP when fastact was "
        f"installed; reinstall with one): {exc}"
    ) from exc

if _rw.PY_LOSS_BLOCK != LOSS_BLOCK:  # pragma: no cover - a stale build
    raise ImportError(
        f"the Cython extension's LOSS_BLOCK ({_rw.PY_LOSS_BLOCK}) is not {LOSS_BLOCK}: rebuild it"
    )

NAME = "cython"
#: a host backend: NumPy arrays in and out (the dispatch layer reads this on every call)
DEVICE = False
SERIAL_BELOW = _threads.SERIAL_BELOW


def _nt(n: int) -> int:
    """Threads for a call over n elements (1 below SERIAL_BELOW and in a forked child)."""
    return _threads.omp_threads(n, SERIAL_BELOW)


def unary(name: str, x: np.ndarray, out: np.ndarray, a, b) -> None:  # type: ignore[no-untyped-def]
    _ew.FWD[name](x, out, a, b, _nt(x.shape[0]))


def unary_backward(name: str, g: np.ndarray, x: np.ndarray, out: np.ndarray, a, b) -> None:  # type: ignore[no-untyped-def]
    _ew.BWD[name](g, x, out, a, b, _nt(x.shape[0]))


def unary_backward_from_output(  # type: ignore[no-untyped-def]
    name: str, g: np.ndarray, y: np.ndarray, out: np.ndarray, a, b
) -> None:
    _ew.BWD_Y[name](g, y, out, a, b, _nt(y.shape[0]))


def prelu(x: np.ndarray, w: np.ndarray, out: np.ndarray, C: int, inner: int) -> None:
    _rw.prelu_fwd(x, w, out, C, inner, _nt(x.shape[0]))


def prelu_backward(
    g: np.ndarray, x: np.ndarray, w: np.ndarray, gx: np.ndarray, C: int, inner: int
) -> np.ndarray:
    nt = _nt(x.shape[0])
    partial = np.zeros((4 * nt, C), dtype=np.float64)
    _rw.prelu_bwd(g, x, w, gx, partial, C, inner, nt)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf across chunks: NaN
        return partial.sum(axis=0)


def rrelu_train(x, out, slopes, lower, upper, seed) -> None:  # type: ignore[no-untyped-def]
    _rw.rrelu_train(x, out, slopes, float(lower), float(upper), int(seed), _nt(x.shape[0]))


def multiply(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    _rw.multiply(a, b, out, _nt(a.shape[0]))


def maxout(x: np.ndarray, out: np.ndarray, pieces: int) -> None:
    _rw.maxout_fwd(x, out, pieces, _nt(x.size))


def maxout_backward(g: np.ndarray, x: np.ndarray, gx: np.ndarray, pieces: int) -> None:
    _rw.maxout_bwd(g, x, gx, pieces, _nt(x.size))


def softmax(x: np.ndarray, out: np.ndarray, mode: int, zero_masked: bool) -> None:
    buf = np.empty_like(out) if mode == 1 and np.shares_memory(x, out) else out
    _rw.softmax_rows(x, out, buf, mode, zero_masked, _nt(x.size))


def logsumexp(x: np.ndarray, out: np.ndarray) -> None:
    _rw.logsumexp_rows(x, out, _nt(x.size))


def softmax_backward(g: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    _rw.softmax_backward_rows(g, y, out, _nt(y.size))


def log_softmax_backward(g: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    _rw.log_softmax_backward_rows(g, y, out, _nt(y.size))


_NO_W = np.zeros(1, dtype=np.float64)


def cross_entropy_index(x, target, weight, ignore_index, eps, scale, want_grad, grad):  # type: ignore[no-untyped-def]
    loss = np.empty(x.shape[0], dtype=np.float64)
    w = _NO_W if weight is None else weight
    g = grad if want_grad else np.empty((1, 1), dtype=x.dtype)
    _rw.cross_entropy_index(x, target, w, weight is not None, ignore_index, eps, scale, loss, g,
                            want_grad, _nt(x.size))  # fmt: skip
    return loss


def cross_entropy_prob(x, q, weight, eps, scale, want_grad, grad):  # type: ignore[no-untyped-def]
    loss = np.empty(x.shape[0], dtype=np.float64)
    w = _NO_W if weight is None else weight
    g = grad if want_grad else np.empty((1, 1), dtype=x.dtype)
    _rw.cross_entropy_prob(x, q, w, weight is not None, eps, scale, loss, g, want_grad,
                           _nt(x.size))  # fmt: skip
    return loss


def bce_with_logits(x, t, w, pw, scale, want_grad, grad, per_element):  # type: ignore[no-untyped-def]
    loss = np.empty(loss_slots(x.shape[0], per_element), dtype=np.float64)
    g = grad if want_grad else np.empty(1, dtype=x.dtype)
    wa = _NO_W if w is None else w
    pwa = _NO_W if pw is None else pw
    _rw.bce_with_logits(x, t, wa, pwa, w is not None, pw is not None, scale, loss, g, want_grad,
                        _nt(x.size))  # fmt: skip
    return loss


def mse(x, t, scale, want_grad, grad, per_element):  # type: ignore[no-untyped-def]
    loss = np.empty(loss_slots(x.shape[0], per_element), dtype=np.float64)
    g = grad if want_grad else np.empty(1, dtype=x.dtype)
    _rw.mse(x, t, scale, loss, g, want_grad, _nt(x.size))
    return loss
