"""The CUDA backend: Numba CUDA kernels on CuPy arrays, PyTorch CUDA tensors and
Numba device arrays (anything with ``__cuda_array_interface__``).

Results have the input's array type, device and stream (kernels are launched on
the library's current stream: ``torch.cuda.current_stream()``,
``cupy.cuda.get_current_stream()``, Numba's default stream). A NumPy array with
``backend="cuda"`` is copied to the device and the result back. float16 (and
bfloat16 for PyTorch) is computed in float32: the elementwise kernels read and
write float16 directly (``FWD_H``/``BWD_H``), the row-wise kernels and bfloat16
go through a float32 copy made by the array library. Under
``NUMBA_ENABLE_CUDASIM=1`` everything runs in Numba's simulator (small sizes
only), which is how CI tests it.

Every operation of the CPU backends runs here: the table's activations, prelu
(weight gradient reduced per channel in float64), rrelu training (the same
SplitMix64 slopes as the CPU for a seed), maxout, the softmax family, cross-entropy
with index or probability targets, BCE-with-logits and MSE.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

try:
    from numba import config as _nbconfig
    from numba import cuda
except ImportError as exc:  # pragma: no cover - numba-cuda missing
    raise ImportError(f"numba-cuda is not installed (pip install 'fastact[cuda]'): {exc}") from exc

from fastact.kernels import cuda_elementwise as _ew
from fastact.kernels import cuda_rowwise as _rw
from fastact.kernels import cuda_special as _sp

NAME = "cuda"
DEVICE = True
SIM = bool(_nbconfig.ENABLE_CUDASIM)  # type: ignore[attr-defined]
THREADS = 32 if SIM else 256
ILP = 4  # elements per thread per grid-stride sweep


def check_available() -> None:
    if not cuda.is_available():
        raise RuntimeError(
            "no CUDA GPU or driver found (set NUMBA_ENABLE_CUDASIM=1 for the simulator)"
        )


def device_name() -> str:
    if SIM:
        return "CUDA simulator"
    return (
        cuda.get_current_device().name.decode()
        if isinstance(cuda.get_current_device().name, bytes)
        else str(cuda.get_current_device().name)
    )


# --------------------------------------------------------------------------- #
# Array interop                                                               #
# --------------------------------------------------------------------------- #


def _kind(a: Any) -> str:
    mod = type(a).__module__.split(".")[0]
    if isinstance(a, np.ndarray):
        return "numpy"
    if mod == "torch":
        return "torch"
    if mod == "cupy":
        return "cupy"
    if hasattr(a, "__cuda_array_interface__") or hasattr(a, "copy_to_host"):
        return "numba"
    return "numpy"


def _stream(a: Any, kind: str):  # type: ignore[no-untyped-def]
    if SIM:
        return 0
    if kind == "torch":
        import torch

        return cuda.external_stream(torch.cuda.current_stream(a.device).cuda_stream)
    if kind == "cupy":
        import cupy

        return cuda.external_stream(cupy.cuda.get_current_stream().ptr)
    return 0


_F = {"float32": np.float32, "float64": np.float64}


class _Arr:
    """An input as a contiguous device array in a compute dtype, and how to give results back."""

    def __init__(self, a: Any, name: str = "x", keep_half: bool = False) -> None:
        # keep_half: float16 stays float16 on the device (the kernel converts per element)
        self.kind = _kind(a)
        self.orig = a
        half = "float16" if keep_half else "float32"
        if self.kind == "numpy":
            # host arrays follow the host contract: subclasses, byte order, masks
            from fastact._dispatch import as_float_array

            host = as_float_array(a, name)
            self.dtype = str(host.dtype)
            self.cdtype = half if self.dtype == "float16" else self.dtype
            self.shape = host.shape
            self.dev = cuda.to_device(np.ascontiguousarray(host, dtype=self.cdtype))
            self.kind = "numpy"
            self.stream = 0
            return
        if self.kind == "torch":
            self.dtype = str(a.dtype).replace("torch.", "")
            _check_dtype(self.dtype, name, bf16=True)
            self.cdtype = (
                half if self.dtype == "float16"
                else "float32" if self.dtype == "bfloat16" else self.dtype
            )  # fmt: skip
            t = a.detach()
            if self.cdtype != self.dtype:
                t = t.float()
            t = t.contiguous()
            self.keep = t
            self.shape = tuple(t.shape)
            self.dev = cuda.as_cuda_array(t)
        elif self.kind == "cupy":
            import cupy

            self.dtype = str(a.dtype)
            _check_dtype(self.dtype, name)
            self.cdtype = half if self.dtype == "float16" else self.dtype
            c = cupy.ascontiguousarray(a, dtype=self.cdtype)
            self.keep = c
            self.shape = tuple(c.shape)
            self.dev = cuda.as_cuda_array(c)
        else:
            dev = a if hasattr(a, "copy_to_host") else cuda.as_cuda_array(a)
            self.dtype = str(dev.dtype)
            _check_dtype(self.dtype, name)
            self.cdtype = half if self.dtype == "float16" else self.dtype
            self.shape = tuple(int(s) for s in dev.shape)
            if self.cdtype != self.dtype or not dev.is_c_contiguous():
                dev = cuda.to_device(np.ascontiguousarray(dev.copy_to_host(), dtype=self.cdtype))
            self.dev = dev
        self.stream = _stream(a, self.kind)

    def like(self, **changes: Any) -> _Arr:
        """The same array kind, device and stream with some attributes replaced (a
        float64 ``cdtype`` for losses and weight gradients, another ``shape``)."""
        other = _Arr.__new__(_Arr)
        other.__dict__.update(self.__dict__)
        other.__dict__.update(changes)
        return other

    def cast_dev(self, cdtype: str) -> Any:
        """The device data in ``cdtype`` (the array itself when it already is)."""
        if self.cdtype == cdtype:
            return self.dev
        return cuda.to_device(self.dev.copy_to_host().astype(cdtype))

    def empty(self, shape: tuple, cdtype: str | None = None):  # type: ignore[no-untyped-def]
        """A device array for a result (in the compute dtype)."""
        dt = cdtype or self.cdtype
        if self.kind == "torch":
            import torch

            t = torch.empty(shape, dtype=getattr(torch, dt), device=self.orig.device)
            return t, cuda.as_cuda_array(t) if t.numel() else cuda.device_array(shape, dt)
        if self.kind == "cupy":
            import cupy

            c = cupy.empty(shape, dtype=dt)
            return c, cuda.as_cuda_array(c)
        d = cuda.device_array(shape, dtype=dt)
        return d, d

    def give_back(self, res: Any, res_dev: Any, out: Any) -> Any:
        """The result in the input's array type and dtype (into ``out`` if given)."""
        if self.kind == "numpy":
            with np.errstate(over="ignore"):  # float16 results overflow to inf
                host = res_dev.copy_to_host().astype(self.dtype, copy=False)
            if out is not None:
                out[...] = host
                return out
            return host
        if self.kind == "torch":
            import torch

            r = res if self.cdtype == self.dtype else res.to(getattr(torch, self.dtype))
            if out is not None:
                out.copy_(r)
                return out
            return r
        if self.kind == "cupy":
            r = res if self.cdtype == self.dtype else res.astype(self.dtype)
            if out is not None:
                out[...] = r
                return out
            return r
        if self.cdtype != self.dtype:
            r = cuda.to_device(res_dev.copy_to_host().astype(self.dtype))
        else:
            r = res_dev
        if out is not None:
            out.copy_to_device(r)
            return out
        return r


def _check_dtype(dt: str, name: str, bf16: bool = False) -> None:
    ok = ("float16", "float32", "float64") + (("bfloat16",) if bf16 else ())
    if dt not in ok:
        raise TypeError(f"{name} has dtype {dt}; fastact supports {', '.join(ok)} arrays")


def _check_out(out: Any, shape: tuple, dtype: str) -> None:
    if out is None:
        return
    oshape = tuple(out.shape)
    odt = str(getattr(out, "dtype", "")).replace("torch.", "")
    if oshape != tuple(shape) or odt != dtype:
        raise ValueError(
            f"out has shape {oshape} and dtype {odt}; the result needs shape {tuple(shape)} "
            f"and dtype {dtype}"
        )


def _row_grid(rows: int) -> int:
    """Blocks for the one-block-per-row kernels (rows beyond the grid loop)."""
    return max(1, min(rows, 2 if SIM else 65535 * 4))


def _warp_grid(rows: int) -> int:
    """Blocks for the warp-per-row kernels (ROWS_PER_BLOCK rows per block per sweep)."""
    return max(1, min(math.ceil(rows / _rw.ROWS_PER_BLOCK), 2 if SIM else 65535 * 4))


def _grid(n: int) -> int:
    if SIM:
        return max(1, min(math.ceil(n / THREADS), 4))
    return max(1, min(math.ceil(n / (THREADS * ILP)), 65535 * 32))


# --------------------------------------------------------------------------- #
# Raw kernels: the Backend Protocol (fastact/backends/interface.py)          #
# --------------------------------------------------------------------------- #
# Contiguous Numba device arrays in, results written in place, as the CPU
# backends do with NumPy arrays: flat arrays for the elementwise kernels, prelu,
# rrelu, multiply, BCE and MSE; (rows, classes) arrays for the row kernels and
# maxout. They launch on current_stream(): Numba's default stream unless the
# op-level functions below (which hold the user's array and its stream) set one
# with on_stream(). The loss kernels return the float64 per-row (cross-entropy)
# or per-element (BCE, MSE) losses as a new device array; prelu_backward returns
# the float64 per-channel weight gradient as a new device array.

_tls = threading.local()


def current_stream() -> Any:
    """The stream the raw kernels launch on (0: Numba's default stream)."""
    return getattr(_tls, "stream", 0)


@contextlib.contextmanager
def on_stream(stream: Any) -> Iterator[None]:
    """Launch this thread's raw kernels on ``stream`` inside the ``with`` block."""
    prev = current_stream()
    _tls.stream = stream
    try:
        yield
    finally:
        _tls.stream = prev


def _dummy(dtype: Any, ndim: int = 1) -> Any:
    """A one-element device array for a kernel argument that is not read."""
    return cuda.device_array((1,) * ndim, dtype=dtype)


def unary(name: str, x: Any, out: Any, a: Any, b: Any) -> None:
    """out = f(x) for the table's activation ``name`` (flat; float16 read and written
    as such, computed in float32)."""
    n = x.size
    if n:
        dt = str(x.dtype)
        ca, cb = _scalars(dt, a, b)
        k = (_ew.FWD_H if dt == "float16" else _ew.FWD)[name]
        k[_grid(n), THREADS, current_stream()](x, out, ca, cb)


def unary_backward(name: str, g: Any, x: Any, out: Any, a: Any, b: Any) -> None:
    """out = g * f'(x) for the table's activation ``name`` (flat)."""
    n = x.size
    if n:
        dt = str(x.dtype)
        ca, cb = _scalars(dt, a, b)
        k = (_ew.BWD_H if dt == "float16" else _ew.BWD)[name]
        k[_grid(n), THREADS, current_stream()](g, x, out, ca, cb)


def unary_backward_from_output(name: str, g: Any, y: Any, out: Any, a: Any, b: Any) -> None:
    """out = g * f'(x) written in y = f(x), for the table's activation ``name`` (flat)."""
    n = y.size
    if n:
        dt = str(y.dtype)
        ca, cb = _scalars(dt, a, b)
        k = (_ew.BWD_Y_H if dt == "float16" else _ew.BWD_Y)[name]
        k[_grid(n), THREADS, current_stream()](g, y, out, ca, cb)


def prelu(x: Any, w: Any, out: Any, C: int, inner: int) -> None:
    """out_i = x_i for x_i > 0, w[c] x_i otherwise, c = (i // inner) % C (flat)."""
    n = x.size
    if n:
        _sp.prelu_fwd[_grid(n), THREADS, current_stream()](x, w, out, C, inner)


def prelu_backward(g: Any, x: Any, w: Any, gx: Any, C: int, inner: int) -> Any:
    """gx_i = g_i for x_i > 0, w[c] g_i otherwise; returns the float64 device array
    gw[c] = sum of g_i x_i over channel c where x_i <= 0."""
    gw = cuda.device_array(C, dtype=np.float64)
    n = x.size
    st = current_stream()
    if n:
        _sp.prelu_bwd_input[_grid(n), THREADS, st](g, x, w, gx, C, inner)
        _sp.prelu_bwd_weight[_row_grid(C), _rw.BLOCK, st](g, x, gw, C, inner)
    elif C:
        gw.copy_to_device(np.zeros(C), stream=st)
    return gw


def rrelu_train(x: Any, out: Any, slopes: Any, lower: float, upper: float, seed: int) -> None:
    """slopes_i = 1 for x_i >= 0, lower + (upper - lower) u_i otherwise (SplitMix64 u_i
    of ``seed``, as on the CPU); out = slopes x (flat)."""
    n = x.size
    if n:
        k = _sp.rrelu_train[_grid(n), THREADS, current_stream()]
        k(x, out, slopes, float(lower), float(upper), np.uint64(seed))


def multiply(a: Any, b: Any, out: Any) -> None:
    """out = a b (flat)."""
    n = a.size
    if n:
        _sp.multiply[_grid(n), THREADS, current_stream()](a, b, out)


def maxout(x: Any, out: Any, pieces: int) -> None:
    """out[m, k] = max_p x[m, k pieces + p] (a NaN in a group gives NaN); x is (M, K pieces)."""
    if out.size:
        _sp.maxout_fwd[_grid(out.size), THREADS, current_stream()](x, out, pieces)


def maxout_backward(g: Any, x: Any, gx: Any, pieces: int) -> None:
    """gx gets g[m, k] at the first maximal (or first NaN) element of each group, 0 elsewhere."""
    if g.size:
        _sp.maxout_bwd[_grid(g.size), THREADS, current_stream()](g, x, gx, pieces)


def softmax(x: Any, out: Any, mode: int, zero_masked: bool) -> None:
    """Row-wise softmax (``mode`` MODE_SOFTMAX) or log-softmax (MODE_LOG_SOFTMAX) of the
    (rows, classes) array ``x`` into ``out``; all -inf rows give 0 / -inf when
    ``zero_masked``, NaN otherwise. Short rows take one warp per row, mid-size rows
    are staged in shared memory, long rows read the row twice."""
    M, C = x.shape
    if not x.size:
        return
    st = current_stream()
    args = (x, out, int(mode), bool(zero_masked))
    if C <= _rw.WARP_MAX_C:
        _rw.softmax_rows_warp[_warp_grid(M), _rw.BLOCK, st](*args)
    elif C <= _rw.SMEM_MAX_C:
        _rw.softmax_rows_smem[_row_grid(M), _rw.BLOCK, st](*args)
    else:
        _rw.softmax_rows[_row_grid(M), _rw.BLOCK, st](*args)


def logsumexp(x: Any, out: Any) -> None:
    """out[m] = log sum_j exp(x[m, j]) for the (rows, classes) array ``x`` (-inf for no
    classes)."""
    M, C = x.shape
    st = current_stream()
    if M and 0 < C <= _rw.WARP_MAX_C:
        _rw.logsumexp_rows_warp[_warp_grid(M), _rw.BLOCK, st](x, out)
    elif M:
        _rw.logsumexp_rows[_row_grid(M), _rw.BLOCK, st](x, out)


def softmax_backward(g: Any, y: Any, out: Any) -> None:
    """out_j = y_j (g_j - sum_k g_k y_k) per row (y = softmax output)."""
    if y.size:
        _rw.softmax_backward_rows[_row_grid(y.shape[0]), _rw.BLOCK, current_stream()](
            g, y, out, False
        )


def log_softmax_backward(g: Any, y: Any, out: Any) -> None:
    """out_j = g_j - exp(y_j) sum_k g_k per row (y = log-softmax output)."""
    if y.size:
        _rw.softmax_backward_rows[_row_grid(y.shape[0]), _rw.BLOCK, current_stream()](
            g, y, out, True
        )


def cross_entropy_index(x, target, weight, ignore_index, eps, scale, want_grad, grad):  # type: ignore[no-untyped-def]
    """Per-row losses (a new float64 device array of x.shape[0]) of the (rows, classes)
    logits ``x`` against int64 class indices ``target``; ``weight``: float64 (C,) device
    array or None; label smoothing ``eps``. ``grad`` receives scale * dloss/dx when
    ``want_grad``. An ``ignore_index`` row has loss 0 and gradient 0, any other target
    outside [0, C) (which the dispatch layer rejects) loss NaN and gradient 0.

    The kernel takes the scale as 1 / wtot[0] (the op-level path computes the
    weight total on the device), so ``scale`` is exact to one float64 rounding."""
    M, C = x.shape
    loss = cuda.device_array(M, dtype=np.float64)
    if not M:
        return loss
    st = current_stream()
    has_w = weight is not None
    wsum = 0.0  # the class-weight sum only enters through the smoothing term
    if eps != 0.0 and has_w:
        host_w = weight.copy_to_host(stream=st)
        if not isinstance(st, int):
            st.synchronize()  # a copy on a stream returns before it is done
        wsum = float(host_w.sum())
    elif eps != 0.0:
        wsum = float(C)
    wd = weight if has_w else _dummy(np.float64)
    wtot = cuda.to_device(np.array([1.0 / scale if scale != 0.0 else 0.0]), stream=st)
    g = grad if want_grad else _dummy(x.dtype, 2)
    bad = cuda.to_device(np.zeros(1, dtype=np.int64), stream=st)
    _rw.cross_entropy_index[_row_grid(M), _rw.BLOCK, st](
        x, target, wd, has_w, int(ignore_index), float(eps), wsum, True, wtot, loss, g,
        bool(want_grad), bad,
    )  # fmt: skip
    return loss


def cross_entropy_prob(x, q, weight, eps, scale, want_grad, grad):  # type: ignore[no-untyped-def]
    """Per-row losses (a new float64 device array) of the (rows, classes) logits ``x``
    against class probabilities ``q`` (same shape), smoothed by ``eps``; ``grad``
    receives scale * dloss/dx when ``want_grad``."""
    M = x.shape[0]
    loss = cuda.device_array(M, dtype=np.float64)
    if not M:
        return loss
    has_w = weight is not None
    wd = weight if has_w else _dummy(np.float64)
    g = grad if want_grad else _dummy(x.dtype, 2)
    _rw.cross_entropy_prob[_row_grid(M), _rw.BLOCK, current_stream()](
        x, q, wd, has_w, float(eps), float(scale), loss, g, bool(want_grad)
    )
    return loss


def _pointwise_launch(kind: str, x: Any, t: Any, w: Any, pw: Any, scale: float, loss: Any,
                      want_loss: bool, total: Any, grad: Any, want_grad: bool) -> None:  # fmt: skip
    """One launch of the BCE (``kind`` "bce") or MSE kernel over flat arrays: per-element
    losses into ``loss`` when ``want_loss``, their float64 sum added to ``total[0]``."""
    n = x.size
    if not n:
        return
    blocks = max(1, min(math.ceil(n / _rw.BLOCK), 2 if SIM else 65535))
    launch = (blocks, _rw.BLOCK, current_stream())
    if kind == "mse":
        _sp.mse[launch](x, t, float(scale), loss, want_loss, total, grad, want_grad)
    else:
        has_w, has_p = w is not None, pw is not None
        wd = w if has_w else _dummy(np.float64)  # weights are float64
        pd = pw if has_p else _dummy(np.float64)
        _sp.bce_with_logits[launch](
            x, t, wd, pd, has_w, has_p, float(scale), loss, want_loss, total, grad, want_grad
        )


def bce_with_logits(x, t, w, pw, scale, want_grad, grad, per_element):  # type: ignore[no-untyped-def]
    """Per-element losses (a new float64 device array, flat) of logits ``x`` against
    targets ``t``, or (``per_element`` False, more than one element) their sum as a
    1-element device array;
    ``w``/``pw``: flat weights of x's size or None. ``grad`` receives scale * dloss/dx
    when ``want_grad``. See kernels/cuda_special.py for the formulas."""
    return _pointwise_raw("bce", x, t, w, pw, scale, want_grad, grad, per_element)


def mse(x, t, scale, want_grad, grad, per_element):  # type: ignore[no-untyped-def]
    """Per-element squared errors (a new float64 device array, flat), or (``per_element``
    False, more than one element) their sum as a 1-element device array; ``grad``
    receives scale * 2 (x - t)
    when ``want_grad``."""
    return _pointwise_raw("mse", x, t, None, None, scale, want_grad, grad, per_element)


def _pointwise_raw(kind: str, x: Any, t: Any, w: Any, pw: Any, scale: float, want_grad: bool,
                   grad: Any, per_element: bool) -> Any:  # fmt: skip
    per_element = per_element or x.size <= 1  # (size 0: an empty loss array)
    total = cuda.to_device(np.zeros(1), stream=current_stream())
    loss = cuda.device_array(x.size, dtype=np.float64) if per_element else total
    g = grad if want_grad else _dummy(x.dtype)
    _pointwise_launch(kind, x, t, w, pw, scale, loss, per_element, total, g, bool(want_grad))
    return loss if per_element else total


# --------------------------------------------------------------------------- #
# Elementwise                                                                 #
# --------------------------------------------------------------------------- #


def _scalars(cdtype: str, a: float, b: float):  # type: ignore[no-untyped-def]
    t = _F.get(cdtype, np.float32)  # float16 storage computes in float32
    return t(a), t(b)


def dev_elementwise_forward(name: str, x: Any, a: float, b: float, out: Any) -> Any:
    X = _Arr(x, keep_half=True)
    _check_out(out, X.shape, X.dtype)
    res, rd = X.empty(X.shape)
    n = int(np.prod(X.shape))
    if n:
        with on_stream(X.stream):
            unary(name, X.dev.reshape(n), rd.reshape(n), a, b)
    return X.give_back(res, rd, out)


def _dev_backward(run: Any, name: str, grad_output: Any, x: Any, a: float, b: float, out: Any,
                  x_name: str) -> Any:  # fmt: skip
    X = _Arr(x, x_name, keep_half=True)
    G = _Arr(grad_output, "grad_output", keep_half=True)
    if G.shape != X.shape:
        raise ValueError(
            f"grad_output has shape {G.shape} but {x_name} has shape {X.shape}; they must match"
        )
    if G.cdtype != X.cdtype:
        raise TypeError(
            f"grad_output ({G.dtype}) and {x_name} ({X.dtype}) must have the same dtype on GPU"
        )
    _check_out(out, X.shape, X.dtype)
    res, rd = X.empty(X.shape)
    n = int(np.prod(X.shape))
    if n:
        with on_stream(X.stream):
            run(name, G.dev.reshape(n), X.dev.reshape(n), rd.reshape(n), a, b)
    return X.give_back(res, rd, out)


def dev_elementwise_backward(name: str, grad_output: Any, x: Any, a: float, b: float,
                             out: Any) -> Any:  # fmt: skip
    return _dev_backward(unary_backward, name, grad_output, x, a, b, out, "x")


def dev_elementwise_backward_from_output(name: str, grad_output: Any, y: Any, a: float, b: float,
                                         out: Any) -> Any:  # fmt: skip
    return _dev_backward(unary_backward_from_output, name, grad_output, y, a, b, out, "y")


# --------------------------------------------------------------------------- #
# Row-wise                                                                    #
# --------------------------------------------------------------------------- #


def _rows(A: _Arr, axis: int | tuple[int, ...]) -> tuple[Any, Any, tuple]:
    """A 2-d (rows, classes) device view with ``axis`` (or the axes) last, moving data if
    needed. Axes arrive checked and normalized from the dispatch layer."""
    nd = len(A.shape)
    axes = (axis % nd,) if isinstance(axis, int) else tuple(axis)
    k = len(axes)
    if nd == 0:
        return A.dev.reshape(1, 1), (), ()
    if axes != tuple(range(nd - k, nd)):
        host = np.moveaxis(A.dev.copy_to_host(), axes, range(nd - k, nd))
        moved = host.shape
        d = cuda.to_device(np.ascontiguousarray(host))
    else:
        moved = A.shape
        d = A.dev
    C = int(np.prod(moved[nd - k :]))
    M = int(np.prod(moved[: nd - k]))
    return d.reshape(M, C), (axes[0] if k == 1 else axes), moved


def _wait(stream: Any) -> None:
    """Block the host until the work queued on ``stream`` is done. Kernels run on the
    caller's stream; Numba's host copies run on the legacy default stream, which does
    not wait for PyTorch's or CuPy's (non-blocking) side streams."""
    if not isinstance(stream, int):
        stream.synchronize()


def _unrows(A: _Arr, r2: Any, ax: Any, moved: tuple) -> tuple[Any, Any]:
    nd = len(A.shape)
    axes = (ax,) if isinstance(ax, int) else tuple(ax)
    k = len(axes)
    if nd == 0 or axes == tuple(range(nd - k, nd)):
        res, rd = A.empty(A.shape)
        rd.reshape(r2.shape).copy_to_device(r2, stream=A.stream)
        return res, rd
    _wait(A.stream)
    host = np.moveaxis(r2.copy_to_host().reshape(moved), range(nd - k, nd), axes)
    res, rd = A.empty(A.shape)
    rd.copy_to_device(np.ascontiguousarray(host))
    return res, rd


def _negated(d: Any) -> Any:
    """-d as a new device array (softmin is the softmax of -x)."""
    n = d.size
    o = cuda.device_array(d.shape, dtype=d.dtype)
    if n:
        _rw.negate[_grid(n), THREADS](d.reshape(n), o.reshape(n))
    return o


def dev_host_fallback(op: str, x: Any, *args: Any) -> Any:
    """Evaluate an option that has no device kernel (logsumexp's ``b=``/``return_sign``)
    on the host, by ``op``'s host driver with the NumPy backend, and give the result
    back on the device."""
    from fastact._dispatch import HOST_DRIVERS
    from fastact.backends import numpy_backend

    fn = HOST_DRIVERS[op]
    X = _Arr(x)
    *rest, out = args
    host = np.ascontiguousarray(X.dev.copy_to_host())
    res = fn(numpy_backend, host, *rest, None)
    if isinstance(res, tuple):
        return tuple(_to_kind(X, np.asarray(r)) for r in res)
    r = _to_kind(X, np.asarray(res))
    if out is not None:
        return _copy_out(X, r, out)
    return r


def _to_kind(X: _Arr, host: np.ndarray) -> Any:
    if X.kind == "numpy":
        return host.astype(X.dtype, copy=False)
    A = X.like(shape=host.shape, cdtype=str(host.dtype))
    res, rd = A.empty(host.shape)
    if host.size:
        rd.copy_to_device(np.ascontiguousarray(host))
    return A.like(cdtype=X.cdtype).give_back(res, rd, None)


def _copy_out(X: _Arr, r: Any, out: Any) -> Any:
    if X.kind == "numpy":
        out[...] = r
    elif X.kind == "torch":
        out.copy_(r)
    elif X.kind == "cupy":
        out[...] = r
    else:
        out.copy_to_device(r)
    return out


def dev_softmax(x: Any, axes: tuple[int, ...], mode: int, zero_masked: bool, out: Any,
                negate: bool) -> Any:  # fmt: skip
    X = _Arr(x)
    _check_out(out, X.shape, X.dtype)
    x2, ax, moved = _rows(X, axes)
    if negate:
        x2 = _negated(x2)
    o2 = cuda.device_array(x2.shape, dtype=X.cdtype)
    with on_stream(X.stream):
        softmax(x2, o2, mode, zero_masked)
    res, rd = _unrows(X, o2, ax, moved)
    return X.give_back(res, rd, out)


def dev_logsumexp(x: Any, axes: tuple[int, ...], keepdims: bool, b: Any, return_sign: bool,
                  out: Any) -> Any:  # fmt: skip
    if b is not None or return_sign:  # no device kernel for these: the host driver
        return dev_host_fallback("logsumexp", x, axes, keepdims, b, return_sign, out)
    X = _Arr(x)
    x2, _, _ = _rows(X, axes)
    rshape = tuple(n for i, n in enumerate(X.shape) if i not in axes)
    kshape = tuple(1 if i in axes else n for i, n in enumerate(X.shape))
    shape = kshape if keepdims else rshape
    _check_out(out, shape, X.dtype)
    res, rd = X.empty(shape)
    r1 = rd.reshape(x2.shape[0]) if x2.shape[0] else rd
    with on_stream(X.stream):
        logsumexp(x2, r1)
    return X.give_back(res, rd, out)


def dev_softmax_backward(grad_output: Any, y: Any, axes: tuple[int, ...], log: bool, out: Any,
                         negate: bool) -> Any:  # fmt: skip
    axis = axes
    Y = _Arr(y, "y")
    G = _Arr(grad_output, "grad_output")
    if G.shape != Y.shape:
        raise ValueError(
            f"grad_output has shape {G.shape} but y has shape {Y.shape}; they must match"
        )
    _check_out(out, Y.shape, Y.dtype)
    y2, ax, moved = _rows(Y, axis)
    g2, _, _ = _rows(G, axis)
    if negate:
        g2 = _negated(g2)
    o2 = cuda.device_array(y2.shape, dtype=Y.cdtype)
    with on_stream(Y.stream):
        (log_softmax_backward if log else softmax_backward)(g2, y2, o2)
    res, rd = _unrows(Y, o2, ax, moved)
    return Y.give_back(res, rd, out)


def dev_cross_entropy(logits, target, weight, a, return_grad, grad_out, out):  # type: ignore[no-untyped-def]
    """Cross-entropy on the device (``a``: the arguments checked by ``_contract``)."""
    from fastact._dispatch import as_float_array

    axis, ignore_index, label_smoothing, reduction = a.axis, a.ignore_index, a.eps, a.reduction
    # host float arrays follow the host contract (byte order, subclasses) on the way
    if isinstance(target, np.ndarray) and target.dtype.kind == "f":
        target = as_float_array(target, "target")
    if isinstance(weight, np.ndarray):
        weight = as_float_array(weight, "weight")
    X = _Arr(logits, "logits")
    x2, ax, moved = _rows(X, axis)
    M, C = x2.shape
    tkind = _kind(target)
    T = target if tkind != "numpy" else np.asarray(target)
    if str(getattr(T, "dtype", "")).replace("torch.", "").startswith(("float", "bfloat")):
        return _cross_entropy_prob(X, x2, ax, moved, T, weight, label_smoothing, reduction,
                                   return_grad, grad_out, out)  # fmt: skip
    if tkind == "numpy":
        t_host = np.asarray(T)
        if t_host.dtype.kind not in "iu":
            raise TypeError(
                f"target has dtype {t_host.dtype}; use integer class indices or floating "
                "probabilities"
            )
        td = cuda.to_device(np.ascontiguousarray(t_host, dtype=np.int64).reshape(-1))
        tshape = t_host.shape
    else:
        td = (
            T
            if hasattr(T, "copy_to_host")
            else cuda.as_cuda_array(T.long() if tkind == "torch" else T)
        )
        if td.dtype.kind not in "iu":
            raise TypeError(
                f"target has dtype {td.dtype}; use integer class indices or floating probabilities"
            )
        tshape = tuple(int(s) for s in td.shape)
        td = td.reshape(-1)
        if td.dtype != np.int64:
            td = cuda.to_device(td.copy_to_host().astype(np.int64))
    rshape = moved[:-1]
    if tuple(tshape) != tuple(rshape):
        raise ValueError(f"target has shape {tuple(tshape)}; it needs {tuple(rshape)}")
    eps = float(label_smoothing)
    if weight is not None:
        w_host = np.ascontiguousarray(np.asarray(weight, dtype=np.float64))
        if w_host.shape != (C,):
            raise ValueError(f"weight has shape {w_host.shape}; it needs ({C},)")
        wd = cuda.to_device(w_host)
        wsum = float(w_host.sum()) if eps != 0.0 else 0.0  # weights enter via smoothing only
    else:
        wd = cuda.to_device(np.zeros(1))
        wsum = float(C)
    wtot = cuda.device_array(1, dtype=np.float64)
    st = X.stream
    _rw.target_weight_sum[1, _rw.BLOCK, st](td, wd, weight is not None, int(ignore_index), C, wtot)
    loss = cuda.device_array(max(M, 1), dtype=np.float64)
    grad = cuda.device_array((M, C) if return_grad else (1, 1), dtype=X.cdtype)
    bad = cuda.to_device(np.zeros(1, dtype=np.int64))
    if M:
        _rw.cross_entropy_index[_row_grid(M), _rw.BLOCK, st](
            x2, td, wd, weight is not None, int(ignore_index), eps, wsum, reduction == "mean",
            wtot, loss, grad, bool(return_grad), bad,
        )  # fmt: skip
    _wait(st)
    if bad.copy_to_host()[0]:  # one 8-byte read: raise on the host, never read out of bounds
        th = td.copy_to_host()
        v = th[(th != ignore_index) & ((th < 0) | (th >= C))][0]
        raise IndexError(
            f"target {v} is out of bounds for {C} classes (ignore_index={ignore_index})"
        )
    if reduction == "none":
        lossv = _loss_array(X, loss, tuple(rshape), out)
    else:
        tot = cuda.device_array(1, dtype=np.float64)
        _rw.sum_rows_1d[1, _rw.BLOCK, st](loss[:M] if M else loss[:0], tot)
        lossv = _scalar_loss(X, tot, wtot.copy_to_host()[0] if reduction == "mean" else 1.0)
        if out is not None:  # a reduced loss goes into out too (0-d)
            lossv = _scalar_out(X, lossv, out)
    if not return_grad:
        return lossv
    gres, gd = _unrows(X, grad, ax, moved)
    return lossv, X.give_back(gres, gd, grad_out)


def _class_weight_dev(weight: Any, C: int) -> tuple[Any, bool]:
    if weight is None:
        return cuda.to_device(np.zeros(1)), False
    w_host = np.ascontiguousarray(
        np.asarray(weight.cpu() if hasattr(weight, "cpu") else _host(weight), dtype=np.float64)
    )
    if w_host.shape != (C,):
        raise ValueError(f"weight has shape {w_host.shape}; it needs ({C},)")
    return cuda.to_device(w_host), True


def _host(a: Any) -> np.ndarray:
    """A host copy of a small array of any supported kind (weights, bounds)."""
    if hasattr(a, "copy_to_host"):
        return a.copy_to_host()
    if hasattr(a, "get"):  # cupy
        return a.get()
    if hasattr(a, "detach"):  # torch
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _scalar_out(X: _Arr, val: Any, out: Any) -> Any:
    """Write a reduced (0-d) loss into ``out`` of the input's array kind; return ``out``."""
    if X.kind in ("numpy", "cupy"):
        out[...] = val
    elif X.kind == "torch":
        out.fill_(float(val))
    else:
        out.copy_to_device(np.asarray(val, dtype=out.dtype).reshape(out.shape))
    return out


def _scalar_loss(X: _Arr, total: Any, denom: float) -> Any:
    _wait(X.stream)
    host_tot = total.copy_to_host()[0]
    with np.errstate(all="ignore"):  # a float16 loss may overflow to inf, as in PyTorch
        val = np.float64(host_tot) / denom
        return np.asarray(val, dtype=X.dtype if X.dtype != "bfloat16" else "float32")[()]


def _loss_array(X: _Arr, loss_dev: Any, shape: tuple, out: Any) -> Any:
    lres, ld = X.empty(shape, "float64")
    n = int(np.prod(shape))
    if n:
        ld.reshape(n).copy_to_device(loss_dev[:n], stream=X.stream)
    return X.like(cdtype="float64").give_back(lres, ld, out)


def _cross_entropy_prob(X, x2, ax, moved, T, weight, label_smoothing, reduction,  # type: ignore[no-untyped-def]
                        return_grad, grad_out, out):  # fmt: skip
    M, C = x2.shape
    Q = _Arr(T, "target")
    if tuple(Q.shape) != tuple(X.shape):
        raise ValueError(
            f"target has shape {tuple(Q.shape)}; probability targets need logits' shape "
            f"{tuple(X.shape)}"
        )
    q2, _, _ = _rows(Q, ax)
    wd, has_w = _class_weight_dev(weight, C)
    eps = float(label_smoothing)
    scale = 1.0 / M if reduction == "mean" and M else 1.0
    loss = cuda.device_array(max(M, 1), dtype=np.float64)
    grad = cuda.device_array((M, C) if return_grad else (1, 1), dtype=X.cdtype)
    if M:
        _rw.cross_entropy_prob[_row_grid(M), _rw.BLOCK, X.stream](
            x2, q2, wd, has_w, eps, scale, loss, grad, bool(return_grad)
        )
    rshape = moved[:-1]
    if reduction == "none":
        lossv = _loss_array(X, loss, tuple(rshape), out)
    else:
        tot = cuda.device_array(1, dtype=np.float64)
        _rw.sum_rows_1d[1, _rw.BLOCK, X.stream](loss[:M] if M else loss[:0], tot)
        lossv = _scalar_loss(X, tot, float(M) if reduction == "mean" else 1.0)
        if out is not None:  # a reduced loss goes into out too (0-d)
            lossv = _scalar_out(X, lossv, out)
    if not return_grad:
        return lossv
    gres, gd = _unrows(X, grad, ax, moved)
    return lossv, X.give_back(gres, gd, grad_out)


# --------------------------------------------------------------------------- #
# prelu, rrelu, maxout                                                        #
# --------------------------------------------------------------------------- #


def _shape_only(shape: tuple) -> np.ndarray:
    """A zero-byte array of ``shape`` for the host-side layout checks."""
    return np.broadcast_to(np.empty((), dtype=bool), shape)


def dev_prelu(x: Any, weight: Any, axis: int, out: Any, layout: Any) -> Any:
    X = _Arr(x)
    W = _Arr(weight, "weight")
    C, inner = layout(_shape_only(X.shape), _shape_only(W.shape), axis)
    _check_out(out, X.shape, X.dtype)
    res, rd = X.empty(X.shape)
    n = int(np.prod(X.shape))
    if n:
        with on_stream(X.stream):
            prelu(X.dev.reshape(n), W.cast_dev(X.cdtype), rd.reshape(n), C, inner)
    return X.give_back(res, rd, out)


def dev_prelu_backward(grad_output: Any, x: Any, weight: Any, axis: int, out: Any,
                       layout: Any) -> Any:  # fmt: skip
    X = _Arr(x)
    G = _Arr(grad_output, "grad_output")
    W = _Arr(weight, "weight")
    if G.shape != X.shape:
        raise ValueError(f"grad_output has shape {G.shape} but x has shape {X.shape}")
    C, inner = layout(_shape_only(X.shape), _shape_only(W.shape), axis)
    _check_out(out, X.shape, X.dtype)
    res, rd = X.empty(X.shape)
    gres, gwd = W.empty((C,), "float64")
    n = int(np.prod(X.shape))
    if n:
        w = W.cast_dev(X.cdtype)
        with on_stream(X.stream):
            gw = prelu_backward(G.dev.reshape(n), X.dev.reshape(n), w, rd.reshape(n), C, inner)
        gwd.copy_to_device(gw, stream=X.stream)
    else:
        gwd.copy_to_device(np.zeros(C))
    return X.give_back(res, rd, out), W.like(cdtype="float64").give_back(gres, gwd, None)


def dev_rrelu_train(x: Any, lower: float, upper: float, seed: int, out: Any) -> Any:
    X = _Arr(x)
    _check_out(out, X.shape, X.dtype)
    res, rd = X.empty(X.shape)
    sres, sd = X.empty(X.shape)
    n = int(np.prod(X.shape))
    if n:
        with on_stream(X.stream):
            rrelu_train(X.dev.reshape(n), rd.reshape(n), sd.reshape(n), lower, upper, seed)
    return X.give_back(res, rd, out), X.give_back(sres, sd, None)


def dev_rrelu_backward(grad_output: Any, slopes: Any, out: Any) -> Any:
    A = _Arr(grad_output, "grad_output")
    B = _Arr(slopes, "slopes")
    if A.shape != B.shape:
        raise ValueError(f"grad_output has shape {A.shape} but slopes has shape {B.shape}")
    _check_out(out, A.shape, A.dtype)
    res, rd = A.empty(A.shape)
    n = int(np.prod(A.shape))
    if n:
        with on_stream(A.stream):
            multiply(A.dev.reshape(n), B.dev.reshape(n), rd.reshape(n))
    return A.give_back(res, rd, out)


def dev_maxout(x: Any, pieces: Any, axis: Any, out: Any, layout: Any) -> Any:
    X = _Arr(x)
    k, ax, _ = layout(_shape_only(X.shape), pieces, axis)
    x2, ax, moved = _rows(X, ax)
    oshape = list(X.shape)
    oshape[ax] //= k
    _check_out(out, tuple(oshape), X.dtype)
    o2 = cuda.device_array((x2.shape[0], x2.shape[1] // k), dtype=X.cdtype)
    with on_stream(X.stream):
        maxout(x2, o2, k)
    O = X.like(shape=tuple(oshape))
    res, rd = _unrows(O, o2, ax, tuple(moved[:-1]) + (moved[-1] // k,))
    return O.give_back(res, rd, out)


def dev_maxout_backward(grad_output: Any, x: Any, pieces: Any, axis: Any, out: Any,
                        layout: Any) -> Any:  # fmt: skip
    X = _Arr(x)
    G = _Arr(grad_output, "grad_output")
    k, ax, _ = layout(_shape_only(X.shape), pieces, axis)
    oshape = list(X.shape)
    oshape[ax] //= k
    if tuple(G.shape) != tuple(oshape):
        raise ValueError(f"grad_output has shape {G.shape}; maxout's output has {tuple(oshape)}")
    _check_out(out, X.shape, X.dtype)
    x2, _, moved = _rows(X, ax)
    g2, _, _ = _rows(G, ax)
    gx2 = cuda.device_array(x2.shape, dtype=X.cdtype)
    with on_stream(X.stream):
        maxout_backward(g2, x2, gx2, k)
    res, rd = _unrows(X, gx2, ax, moved)
    return X.give_back(res, rd, out)


# --------------------------------------------------------------------------- #
# BCE-with-logits and MSE                                                     #
# --------------------------------------------------------------------------- #


def _full(w: Any, X: _Arr, name: str) -> Any:
    """``w`` broadcast to X's shape as a flat contiguous float64 device array (or None)."""
    if w is None:
        return None
    kind = _kind(w)
    try:
        if kind == "torch":
            t = w.detach().to(X.orig.device) if hasattr(X.orig, "device") else w.detach()
            return cuda.as_cuda_array(t.double().expand(X.shape).contiguous().reshape(-1))
        if kind == "cupy":
            import cupy

            c = cupy.ascontiguousarray(cupy.broadcast_to(w, X.shape), dtype=np.float64)
            return cuda.as_cuda_array(c.reshape(-1))
        h = np.broadcast_to(np.asarray(_host(w), dtype=np.float64), X.shape)
    except (RuntimeError, ValueError) as e:
        raise ValueError(
            f"{name} with shape {tuple(getattr(w, 'shape', ()))} does not broadcast to "
            f"{tuple(X.shape)}"
        ) from e
    return cuda.to_device(np.ascontiguousarray(h).reshape(-1))


def _pointwise_loss(kind: str, x: Any, target: Any, weight: Any, pos_weight: Any,
                    reduction: str, return_grad: bool, grad_out: Any, out: Any) -> Any:  # fmt: skip
    X = _Arr(x, "input" if kind == "mse" else "logits")
    T = _Arr(target, "target")
    if tuple(T.shape) != tuple(X.shape):
        raise ValueError(f"target has shape {tuple(T.shape)}; it needs {tuple(X.shape)}")
    n = int(np.prod(X.shape))
    scale = 1.0 / n if reduction == "mean" and n else 1.0
    if return_grad:
        _check_out(grad_out, X.shape, X.dtype)
    want_loss = reduction == "none"
    if want_loss:
        _check_out(out, X.shape, X.dtype)
    loss = cuda.device_array(max(n, 1) if want_loss else 1, dtype=np.float64)
    gres, gd = X.empty(X.shape) if return_grad else (None, cuda.device_array(1, X.cdtype))
    total = cuda.to_device(np.zeros(1))
    if n:
        xf, tf = X.dev.reshape(n), T.dev.reshape(n)
        gf = gd.reshape(n) if return_grad else gd
        wd = pd = None
        if kind == "bce":
            wd = _full(weight, X, "weight")
            pd = _full(pos_weight, X, "pos_weight")
        with on_stream(X.stream):
            _pointwise_launch(kind, xf, tf, wd, pd, scale, loss, want_loss, total, gf,
                              bool(return_grad))  # fmt: skip
    if want_loss:
        lossv = _loss_array(X, loss, tuple(X.shape), out)
    else:
        lossv = _scalar_loss(X, total, float(n) if reduction == "mean" else 1.0)
        if out is not None:  # a reduced loss goes into out too (0-d)
            lossv = _scalar_out(X, lossv, out)
    if not return_grad:
        return lossv
    return lossv, X.give_back(gres, gd, grad_out)


def dev_bce_with_logits(logits, target, weight, pos_weight, reduction, return_grad, grad_out, out):  # type: ignore[no-untyped-def]
    return _pointwise_loss("bce", logits, target, weight, pos_weight, reduction, return_grad,
                           grad_out, out)  # fmt: skip


def dev_mse(input, target, reduction, return_grad, grad_out, out):  # type: ignore[no-untyped-def]
    return _pointwise_loss("mse", input, target, None, None, reduction, return_grad, grad_out, out)
