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

import math
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
# Elementwise                                                                 #
# --------------------------------------------------------------------------- #


def _scalars(cdtype: str, a: float, b: float):  # type: ignore[no-untyped-def]
    t = _F.get(cdtype, np.float32)  # float16 storage computes in float32
    return t(a), t(b)


def elementwise_forward(name: str, x: Any, a: float, b: float, out: Any) -> Any:
    X = _Arr(x, keep_half=True)
    _check_out(out, X.shape, X.dtype)
    res, rd = X.empty(X.shape)
    n = int(np.prod(X.shape))
    if n:
        ca, cb = _scalars(X.cdtype, a, b)
        k = (_ew.FWD_H if X.cdtype == "float16" else _ew.FWD)[name]
        k[_grid(n), THREADS, X.stream](X.dev.reshape(n), rd.reshape(n), ca, cb)
    return X.give_back(res, rd, out)


def elementwise_backward(name: str, g: Any, x: Any, a: float, b: float, out: Any) -> Any:
    X = _Arr(x, keep_half=True)
    G = _Arr(g, "grad_output", keep_half=True)
    if G.shape != X.shape:
        raise ValueError(
            f"grad_output has shape {G.shape} but x has shape {X.shape}; they must match"
        )
    if G.cdtype != X.cdtype:
        raise TypeError(
            f"grad_output ({G.dtype}) and x ({X.dtype}) must have the same dtype on GPU"
        )
    _check_out(out, X.shape, X.dtype)
    res, rd = X.empty(X.shape)
    n = int(np.prod(X.shape))
    if n:
        ca, cb = _scalars(X.cdtype, a, b)
        k = (_ew.BWD_H if X.cdtype == "float16" else _ew.BWD)[name][_grid(n), THREADS, X.stream]
        k(G.dev.reshape(n), X.dev.reshape(n), rd.reshape(n), ca, cb)
    return X.give_back(res, rd, out)


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


def dev_host_fallback(fn: Any, x: Any, *args: Any) -> Any:
    """Evaluate an option that has no device kernel (logsumexp's ``b=``/``return_sign``)
    on the host with the NumPy backend and give the result back on the device."""
    from fastact.backends import numpy_backend

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


def softmax(x: Any, axis: Any, mode: int, zero_masked: bool, out: Any,
            negate: bool = False) -> Any:  # fmt: skip
    X = _Arr(x)
    _check_out(out, X.shape, X.dtype)
    x2, ax, moved = _rows(X, axis)
    if negate:
        x2 = _negated(x2)
    o2 = cuda.device_array(x2.shape, dtype=X.cdtype)
    M, C = x2.shape
    if x2.size and C <= _rw.WARP_MAX_C:
        _rw.softmax_rows_warp[_warp_grid(M), _rw.BLOCK, X.stream](x2, o2, mode, zero_masked)
    elif x2.size and C <= _rw.SMEM_MAX_C:
        _rw.softmax_rows_smem[_row_grid(M), _rw.BLOCK, X.stream](x2, o2, mode, zero_masked)
    elif x2.size:
        _rw.softmax_rows[_row_grid(M), _rw.BLOCK, X.stream](x2, o2, mode, zero_masked)
    res, rd = _unrows(X, o2, ax, moved)
    return X.give_back(res, rd, out)


def logsumexp(x: Any, axis: Any, keepdims: bool, out: Any) -> Any:
    X = _Arr(x)
    nd = len(X.shape)
    axes = (axis % nd,) if isinstance(axis, int) else tuple(axis)
    x2, _, _ = _rows(X, axes)
    rshape = tuple(n for i, n in enumerate(X.shape) if i not in axes)
    kshape = tuple(1 if i in axes else n for i, n in enumerate(X.shape))
    shape = kshape if keepdims else rshape
    _check_out(out, shape, X.dtype)
    res, rd = X.empty(shape)
    r1 = rd.reshape(x2.shape[0]) if x2.shape[0] else rd
    M, C = x2.shape
    if M and 0 < C <= _rw.WARP_MAX_C:
        _rw.logsumexp_rows_warp[_warp_grid(M), _rw.BLOCK, X.stream](x2, r1)
    elif M:
        _rw.logsumexp_rows[_row_grid(M), _rw.BLOCK, X.stream](x2, r1)
    return X.give_back(res, rd, out)


def softmax_backward(g: Any, y: Any, axis: Any, log: bool, out: Any,
                     negate: bool = False) -> Any:  # fmt: skip
    Y = _Arr(y, "y")
    G = _Arr(g, "grad_output")
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
    if y2.size:
        _rw.softmax_backward_rows[_row_grid(y2.shape[0]), _rw.BLOCK, Y.stream](g2, y2, o2, log)
    res, rd = _unrows(Y, o2, ax, moved)
    return Y.give_back(res, rd, out)


def cross_entropy(logits, target, axis, weight, ignore_index, label_smoothing, reduction,  # type: ignore[no-untyped-def]
                  return_grad, grad_out, out):  # fmt: skip
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
        w = W.cast_dev(X.cdtype)
        _sp.prelu_fwd[_grid(n), THREADS, X.stream](X.dev.reshape(n), w, rd.reshape(n), C, inner)
    return X.give_back(res, rd, out)


def dev_prelu_backward(g: Any, x: Any, weight: Any, axis: int, out: Any, layout: Any) -> Any:
    X = _Arr(x)
    G = _Arr(g, "grad_output")
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
        xf, gf = X.dev.reshape(n), G.dev.reshape(n)
        _sp.prelu_bwd_input[_grid(n), THREADS, X.stream](gf, xf, w, rd.reshape(n), C, inner)
        _sp.prelu_bwd_weight[_row_grid(C), _rw.BLOCK, X.stream](gf, xf, gwd, C, inner)
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
        k = _sp.rrelu_train[_grid(n), THREADS, X.stream]
        k(X.dev.reshape(n), rd.reshape(n), sd.reshape(n), lower, upper, np.uint64(seed))
    return X.give_back(res, rd, out), X.give_back(sres, sd, None)


def dev_multiply(a: Any, b: Any, out: Any) -> Any:
    A = _Arr(a, "grad_output")
    B = _Arr(b, "slopes")
    if A.shape != B.shape:
        raise ValueError(f"grad_output has shape {A.shape} but slopes has shape {B.shape}")
    _check_out(out, A.shape, A.dtype)
    res, rd = A.empty(A.shape)
    n = int(np.prod(A.shape))
    if n:
        _sp.multiply[_grid(n), THREADS, A.stream](A.dev.reshape(n), B.dev.reshape(n), rd.reshape(n))
    return A.give_back(res, rd, out)


def dev_maxout(x: Any, pieces: int, axis: int, out: Any, layout: Any) -> Any:
    X = _Arr(x)
    k, ax, _ = layout(_shape_only(X.shape), pieces, axis)
    x2, ax, moved = _rows(X, ax)
    oshape = list(X.shape)
    oshape[ax] //= k
    _check_out(out, tuple(oshape), X.dtype)
    o2 = cuda.device_array((x2.shape[0], x2.shape[1] // k), dtype=X.cdtype)
    if o2.size:
        _sp.maxout_fwd[_grid(o2.size), THREADS, X.stream](x2, o2, k)
    O = X.like(shape=tuple(oshape))
    res, rd = _unrows(O, o2, ax, tuple(moved[:-1]) + (moved[-1] // k,))
    return O.give_back(res, rd, out)


def dev_maxout_backward(g: Any, x: Any, pieces: int, axis: int, out: Any, layout: Any) -> Any:
    X = _Arr(x)
    G = _Arr(g, "grad_output")
    k, ax, _ = layout(_shape_only(X.shape), pieces, axis)
    oshape = list(X.shape)
    oshape[ax] //= k
    if tuple(G.shape) != tuple(oshape):
        raise ValueError(f"grad_output has shape {G.shape}; maxout's output has {tuple(oshape)}")
    _check_out(out, X.shape, X.dtype)
    x2, _, moved = _rows(X, ax)
    g2, _, _ = _rows(G, ax)
    gx2 = cuda.device_array(x2.shape, dtype=X.cdtype)
    if g2.size:
        _sp.maxout_bwd[_grid(g2.size), THREADS, X.stream](g2, x2, gx2, k)
    res, rd = _unrows(X, gx2, ax, moved)
    return X.give_back(res, rd, out)


# --------------------------------------------------------------------------- #
# BCE-with-logits and MSE                                                     #
# --------------------------------------------------------------------------- #


def _full(w: Any, X: _Arr, name: str) -> tuple[Any, bool]:
    """``w`` broadcast to X's shape as a contiguous device array (or a dummy)."""
    if w is None:
        return cuda.to_device(np.zeros(1, dtype=X.cdtype)), False
    kind = _kind(w)
    try:
        if kind == "torch":
            t = w.detach().to(X.orig.device) if hasattr(X.orig, "device") else w.detach()
            return cuda.as_cuda_array(t.double().expand(X.shape).contiguous().reshape(-1)), True
        if kind == "cupy":
            import cupy

            c = cupy.ascontiguousarray(cupy.broadcast_to(w, X.shape), dtype=np.float64)
            return cuda.as_cuda_array(c.reshape(-1)), True
        h = np.broadcast_to(np.asarray(_host(w), dtype=np.float64), X.shape)
    except (RuntimeError, ValueError) as e:
        raise ValueError(
            f"{name} with shape {tuple(getattr(w, 'shape', ()))} does not broadcast to "
            f"{tuple(X.shape)}"
        ) from e
    return cuda.to_device(np.ascontiguousarray(h).reshape(-1)), True


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
        blocks = max(1, min(math.ceil(n / _rw.BLOCK), 2 if SIM else 65535))
        launch = (blocks, _rw.BLOCK, X.stream)
        if kind == "mse":
            _sp.mse[launch](xf, tf, scale, loss, want_loss, total, gf, bool(return_grad))
        else:
            wd, has_w = _full(weight, X, "weight")
            pd, has_p = _full(pos_weight, X, "pos_weight")
            _sp.bce_with_logits[launch](
                xf, tf, wd, pd, has_w, has_p, scale, loss, want_loss, total, gf, bool(return_grad)
            )
    if want_loss:
        lossv = _loss_array(X, loss, tuple(X.shape), out)
    else:
        lossv = _scalar_loss(X, total, float(n) if reduction == "mean" else 1.0)
        if out is not None:
            raise ValueError("out= is only used with reduction='none' on the GPU")
    if not return_grad:
        return lossv
    return lossv, X.give_back(gres, gd, grad_out)


def dev_bce_with_logits(x, target, weight, pos_weight, reduction, return_grad, grad_out, out):  # type: ignore[no-untyped-def]
    return _pointwise_loss("bce", x, target, weight, pos_weight, reduction, return_grad,
                           grad_out, out)  # fmt: skip


def dev_mse(x, target, reduction, return_grad, grad_out, out):  # type: ignore[no-untyped-def]
    return _pointwise_loss("mse", x, target, None, None, reduction, return_grad, grad_out, out)
