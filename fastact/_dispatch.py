"""Input checks and backend dispatch, shared by every public function.

Public wrappers stay thin: they check their parameters (``fastact._contract``),
pick a backend (:func:`resolve`) and call :func:`run_op`, the one place where the
host and device paths part. Host drivers (registered with :func:`host_driver`)
convert and check NumPy inputs here (:func:`as_float_array`, :func:`host_out`,
:func:`run_map`) and hand flat contiguous arrays to the backend's raw kernels; a
device backend's ``dev_<op>`` does the same for GPU arrays, with the same parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from fastact import _backends, table
from fastact._backends import BackendUnavailable
from fastact._threads import SERIAL_BELOW

_SUPPORTED = "float16, float32 or float64"
_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))
_F16 = np.dtype(np.float16)


#: operation -> its host driver ``f(backend, *args)``: NumPy layout and checks around
#: the backend's raw kernels (registered by the public modules with :func:`host_driver`)
HOST_DRIVERS: dict[str, Callable[..., Any]] = {}


def host_driver(op: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``f(backend, *args)`` as the host driver of operation ``op``."""

    def register(f: Callable[..., Any]) -> Callable[..., Any]:
        HOST_DRIVERS[op] = f
        return f

    return register


def run_op(op: str, be: ModuleType, *args: Any) -> Any:
    """Run operation ``op`` on backend ``be`` (after the public function's shared checks).

    A device backend (``DEVICE = True``) lays out and launches on GPU arrays itself,
    in ``be.dev_<op>(*args)``; every host backend goes through the registered host
    driver, ``HOST_DRIVERS[op](be, *args)``. The two take the same parameters
    (``tests/test_backends.py::test_device_drivers_match_the_host_drivers``), so the
    public modules hold no backend-specific branch.
    """
    if getattr(be, "DEVICE", False):
        return getattr(be, "dev_" + op)(*args)
    return HOST_DRIVERS[op](be, *args)


def is_device_array(x: Any) -> bool:
    """A GPU array: ``__cuda_array_interface__`` or a Numba device array (also simulated)."""
    if isinstance(x, np.ndarray):
        return False
    if hasattr(x, "__cuda_array_interface__"):
        return True
    return type(x).__module__.startswith(("numba.cuda", "numba_cuda")) and hasattr(
        x, "copy_to_host"
    )


def resolve(backend: str | None, first: Any) -> ModuleType:
    """Backend module for an explicit name, or the automatic choice for ``first``."""
    if backend is None:
        if is_device_array(first):
            return _backends.load("cuda")
        return _backends.auto_cpu()
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string or None, got {backend!r}")
    return _backends.load(backend)


def refuse_torch(x: Any, name: str) -> None:
    """A CPU torch tensor that NumPy cannot take as it is: a clear TypeError naming the
    argument (torch's own RuntimeError/TypeError did not), pointing to fastact.torch."""
    if type(x).__module__.split(".")[0] != "torch" or not hasattr(x, "requires_grad"):
        return
    if x.requires_grad:
        raise TypeError(
            f"{name} is a torch tensor that requires grad; use fastact.torch (its functions "
            f"are autograd operators) or pass {name}.detach()"
        )
    if str(x.dtype) == "torch.bfloat16":
        raise TypeError(
            f"{name} is a torch.bfloat16 tensor, which NumPy cannot hold; use fastact.torch "
            f"(bfloat16 computed in float32) or pass {name}.float()"
        )


def as_float_array(x: Any, name: str = "x") -> np.ndarray:
    """``numpy.asarray(x)`` checked to be float16/32/64."""
    if is_device_array(x):
        raise TypeError(
            f"{name} is a GPU array ({type(x).__name__}); use backend='cuda' or None for GPU arrays"
        )
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a masked array; fastact would ignore its mask: pass "
            f"{name}.filled(value) or numpy.asarray({name}) to compute on the data"
        )
    if not isinstance(x, np.ndarray):
        refuse_torch(x, name)
    a = x if isinstance(x, np.ndarray) else np.asarray(x)
    dt = a.dtype
    if dt not in _NATIVE and dt != _F16:
        if dt.kind == "f" and dt.newbyteorder("=") in (*_NATIVE, _F16):
            # byte-swapped ('>f4' on a little-endian machine): computed on a native copy
            return a.astype(dt.newbyteorder("="))
        raise TypeError(f"{name} has dtype {dt}; fastact supports {_SUPPORTED} arrays")
    if type(a) is not np.ndarray:  # subclasses (matrix, memmap): computed as ndarray
        a = a.view(np.ndarray)
    return a


def compute_dtype(dt: np.dtype) -> np.dtype:
    """The dtype kernels compute in: float16 goes through float32."""
    return np.dtype(np.float32) if dt == _F16 else dt


def check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype, name: str = "out") -> None:
    """``out`` can receive a result of ``shape`` and ``dtype`` (raises otherwise).

    ndarray subclasses are written through a base-class view (see :func:`host_out`);
    a byte-swapped ``out`` of the right dtype is accepted (written through a copy);
    masked arrays are refused (the mask would be left stale).
    """
    if out is None:
        return
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if isinstance(out, np.ma.MaskedArray):
        raise TypeError(f"{name} is a masked array; fastact does not write masked arrays")
    if out.shape != shape or out.dtype.newbyteorder("=") != np.dtype(dtype):
        raise ValueError(
            f"{name} has shape {out.shape} and dtype {out.dtype}; "
            f"the result needs shape {shape} and dtype {dtype}"
        )
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")


def host_out(out: Any, shape: tuple[int, ...], dtype: np.dtype, name: str = "out") -> Any:
    """Checked ``out`` as a plain ndarray (a base-class view of a subclass such as
    ``numpy.matrix``, whose ``reshape`` would keep two dimensions), or None."""
    check_out(out, shape, dtype, name)
    if out is not None and type(out) is not np.ndarray:
        return out.view(np.ndarray)
    return out


def check_same_shape(a: np.ndarray, b: np.ndarray, na: str, nb: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{na} has shape {a.shape} but {nb} has shape {b.shape}; they must match")


def _flat(a: np.ndarray, dtype: np.dtype, order: str) -> np.ndarray:
    """1-d view (or copy, when needed) of ``a`` in ``order`` and ``dtype``."""
    return np.asarray(a, dtype=dtype, order=order).reshape(-1, order=order)  # type: ignore[call-overload]


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
        and a.strides == b.strides
        and a.dtype == b.dtype
    )


def run_map(
    kernel: Callable[..., None],
    inputs: Sequence[np.ndarray],
    out: np.ndarray | None,
    dtype: np.dtype,
) -> np.ndarray:
    """Run an elementwise ``kernel(*flat_inputs, flat_out)`` over any layout.

    Contiguous inputs (C or Fortran order) are passed as views; anything else is
    copied once. ``out`` may be one of the inputs (in place). Float16 is computed
    in float32 and written back as float16.
    """
    shape = inputs[0].shape
    cdt = compute_dtype(dtype)
    if out is None:
        fortran = all(a.flags.f_contiguous and not a.flags.c_contiguous for a in inputs)
        out = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    order = "F" if (out.flags.f_contiguous and not out.flags.c_contiguous) else "C"
    flats = [_flat(a, cdt, order) for a in inputs]
    direct = out.dtype == cdt and (out.flags.c_contiguous or out.flags.f_contiguous)
    if direct:
        for a, f in zip(inputs, flats, strict=True):
            # partial overlap (not the same element-for-element view) needs a temporary
            if np.may_share_memory(out, f) and not _same_view(out, a):
                direct = False
                break
    if out.size == 0:
        return out
    if direct:
        kernel(*flats, out.reshape(-1, order=order))  # type: ignore[call-overload]
    else:
        tmp = np.empty(out.size, dtype=cdt)
        kernel(*flats, tmp)
        out[...] = tmp.reshape(shape, order=order)  # type: ignore[call-overload]
    return out


# --------------------------------------------------------------------------- #
# Elementwise activations                                                     #
# --------------------------------------------------------------------------- #


#: (name, params, dtype) -> the encoded parameters as scalars of that dtype
_TYPED_PARAMS: dict[tuple[Any, ...], tuple[Any, Any]] = {}
#: (name, dtype) -> the defaults, typed (calls without parameters)
_TYPED_DEFAULTS: dict[tuple[str, np.dtype], tuple[Any, Any]] = {}


def _typed_params(name: str, params: tuple[Any, ...], dt: np.dtype) -> tuple[Any, Any]:
    """Validated, encoded parameters in ``dt`` (cached: the per-call fast path)."""
    if not params:
        v = _TYPED_DEFAULTS.get((name, dt))
        if v is not None:
            return v
    try:
        # the sign of zero is part of the key: (0.0,) == (-0.0,) for a dict
        # (np.float64(-0.0) == np.float64(0.0) and hashes alike, as the Python floats)
        signs = tuple(
            math.copysign(1.0, p) if isinstance(p, (float, np.floating)) else 0.0 for p in params
        )
        key = (name, params, tuple(map(type, params)), signs, dt)
        v = _TYPED_PARAMS.get(key)
    except TypeError:  # unhashable parameter: validate (and fail) the slow way
        a, b = table.BY_NAME[name].encode(params)
        return dt.type(a), dt.type(b)
    if v is None:
        a, b = table.BY_NAME[name].encode(params)
        if len(_TYPED_PARAMS) > 4096:
            _TYPED_PARAMS.clear()
        v = _TYPED_PARAMS[key] = (dt.type(a), dt.type(b))
        if not params:
            _TYPED_DEFAULTS[(name, dt)] = v
    return v


#: the native float32 / float64 dtypes by identity (NumPy's builtin dtype instances;
#: an equal dtype that is another object takes the general path, with the same result)
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


def fast_path(x: Any, out: Any, backend: str | None) -> tuple[ModuleType, np.ndarray] | None:
    """``(cpu backend, output array)`` when ``x`` is a C-contiguous float32/float64
    NumPy array and ``out`` is absent or usable as is: the per-call fast path that
    skips the general layout handling. None otherwise (take the general path)."""
    if type(x) is not np.ndarray:
        return None
    dt = x.dtype
    if (dt is not _F32 and dt is not _F64) or not x.flags.c_contiguous:
        return None
    be = _backends.auto_cpu() if backend is None else resolve(backend, x)
    if getattr(be, "DEVICE", False):
        return None
    if out is None:
        return be, np.empty_like(x)
    o = _fast_out(x, out)
    return None if o is None else (be, o)


def _fast_out(x: np.ndarray, out: Any) -> np.ndarray | None:
    """``out`` when it is a writeable C-contiguous NumPy array of ``x``'s dtype and shape
    that is ``x`` or shares no memory with it (None: take the general path)."""
    if type(out) is not np.ndarray or out.dtype is not x.dtype or out.shape != x.shape:
        return None
    f = out.flags
    if f.c_contiguous and f.writeable and (out is x or not np.may_share_memory(out, x)):
        return out
    return None


def elementwise_forward(
    name: str, x: Any, params: tuple[Any, ...], out: Any, backend: str | None
) -> Any:
    fast = fast_path(x, out, backend)
    if fast is not None:
        be, o = fast
        a, b = _typed_params(name, params, x.dtype)
        if x.ndim == 1:
            be.unary(name, x, o, a, b)
        elif x.size:
            be.unary(name, x.reshape(-1), o.reshape(-1), a, b)
        return o
    a, b = table.BY_NAME[name].encode(params)
    return run_op("elementwise_forward", resolve(backend, x), name, x, a, b, out)


@host_driver("elementwise_forward")
def _host_elementwise_forward(be: ModuleType, name: str, x: Any, a: float, b: float,
                              out: Any) -> Any:  # fmt: skip
    x = as_float_array(x)
    o = host_out(out, x.shape, x.dtype)
    cdt = compute_dtype(x.dtype)
    ca, cb = cdt.type(a), cdt.type(b)
    run = be.unary

    def kernel(xf: np.ndarray, of: np.ndarray) -> None:
        run(name, xf, of, ca, cb)

    res = run_map(kernel, [x], o, x.dtype)
    return res if out is None else out


def fast_path_pair(
    g: Any, x: Any, out: Any, backend: str | None
) -> tuple[ModuleType, np.ndarray] | None:
    """:func:`fast_path` for a ``(grad_output, x)`` pair: also ``g`` a C-contiguous NumPy
    array of ``x``'s dtype and shape, and ``out`` (when given) either ``g`` itself or
    sharing no memory with it."""
    if (
        type(g) is not np.ndarray
        or type(x) is not np.ndarray
        or g.dtype is not x.dtype
        or g.shape != x.shape
        or not g.flags.c_contiguous
    ):
        return None
    fast = fast_path(x, out, backend)
    if fast is None or (out is not None and out is not g and np.may_share_memory(out, g)):
        return None
    return fast


def _fast_backward(run_name: str, name: str, g: Any, x: Any, params: tuple[Any, ...], out: Any,
                   backend: str | None) -> Any:  # fmt: skip
    """The per-call fast path of the elementwise backward kernels (None: not taken)."""
    fast = fast_path_pair(g, x, out, backend)
    if fast is None:
        return None
    be, o = fast
    a, b = _typed_params(name, params, x.dtype)
    if x.ndim == 1:
        getattr(be, run_name)(name, g, x, o, a, b)
    elif x.size:
        getattr(be, run_name)(name, g.reshape(-1), x.reshape(-1), o.reshape(-1), a, b)
    return o


def elementwise_backward(
    name: str, grad_output: Any, x: Any, params: tuple[Any, ...], out: Any, backend: str | None
) -> Any:
    res = _fast_backward("unary_backward", name, grad_output, x, params, out, backend)
    if res is not None:
        return res
    a, b = table.BY_NAME[name].encode(params)
    return run_op("elementwise_backward", resolve(backend, x), name, grad_output, x, a, b, out)


def elementwise_backward_from_output(
    name: str, grad_output: Any, y: Any, params: tuple[Any, ...], out: Any, backend: str | None
) -> Any:
    res = _fast_backward("unary_backward_from_output", name, grad_output, y, params, out, backend)
    if res is not None:
        return res
    a, b = table.BY_NAME[name].encode(params)
    return run_op(
        "elementwise_backward_from_output", resolve(backend, y), name, grad_output, y, a, b, out
    )


def _host_backward(run: Callable[..., None], name: str, grad_output: Any, x: Any, a: float,
                   b: float, out: Any, x_name: str) -> Any:  # fmt: skip
    g = as_float_array(grad_output, "grad_output")
    x = as_float_array(x, x_name)
    check_same_shape(g, x, "grad_output", x_name)
    dt = np.promote_types(g.dtype, x.dtype)
    o = host_out(out, x.shape, dt)
    cdt = compute_dtype(dt)
    ca, cb = cdt.type(a), cdt.type(b)

    def kernel(gf: np.ndarray, xf: np.ndarray, of: np.ndarray) -> None:
        run(name, gf, xf, of, ca, cb)

    res = run_map(kernel, [g, x], o, dt)
    return res if out is None else out


@host_driver("elementwise_backward")
def _host_elementwise_backward(be: ModuleType, name: str, grad_output: Any, x: Any, a: float,
                               b: float, out: Any) -> Any:  # fmt: skip
    return _host_backward(be.unary_backward, name, grad_output, x, a, b, out, "x")


@host_driver("elementwise_backward_from_output")
def _host_elementwise_backward_from_output(be: ModuleType, name: str, grad_output: Any, y: Any,
                                           a: float, b: float, out: Any) -> Any:  # fmt: skip
    return _host_backward(be.unary_backward_from_output, name, grad_output, y, a, b, out, "y")


__all__ = [
    "HOST_DRIVERS",
    "SERIAL_BELOW",
    "BackendUnavailable",
    "as_float_array",
    "check_out",
    "check_same_shape",
    "compute_dtype",
    "elementwise_backward",
    "elementwise_backward_from_output",
    "elementwise_forward",
    "host_driver",
    "resolve",
    "run_map",
    "run_op",
]


def c_output(
    out: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype, inputs: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """A flat C-order buffer in the compute dtype and the array the result lands in.

    The buffer is ``out`` itself (reshaped) when ``out`` is C-contiguous in the
    compute dtype and does not partially overlap an input; otherwise a
    temporary that :func:`c_finish` copies over.
    """
    cdt = compute_dtype(dtype)
    dest = np.empty(shape, dtype=dtype) if out is None else out
    overlap = any(np.may_share_memory(dest, a) and not _same_view(dest, a) for a in inputs)
    if dest.dtype == cdt and dest.flags.c_contiguous and not overlap:
        return dest.reshape(-1), dest
    return np.empty(dest.size, dtype=cdt), dest


def c_finish(buf: np.ndarray, dest: np.ndarray) -> np.ndarray:
    if buf.size and not np.shares_memory(buf, dest):
        dest[...] = buf.reshape(dest.shape)
    return dest


def c_flat(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Flat C-order view (copy only when needed) of ``a`` in ``dtype``."""
    return np.ascontiguousarray(a, dtype=dtype).reshape(-1)


def normalize_axis(axis: Any, ndim: int) -> int:
    """``axis`` in ``[0, ndim)``; NumPy's ``AxisError`` when out of range. A bool is
    not an axis (``axis=True`` was axis 1)."""
    import operator

    try:
        if isinstance(axis, (bool, np.bool_)):
            raise TypeError
        ax = operator.index(axis)
    except TypeError:
        raise TypeError(f"axis must be an integer, got {axis!r}") from None
    if not -ndim <= ax < ndim:
        raise np.exceptions.AxisError(ax, ndim)
    return ax % ndim


def normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` (an int, a tuple of ints, or None for every axis) as a tuple of distinct
    axes in ``[0, ndim)``; NumPy's ``AxisError`` when one is out of range."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, tuple):
        axes = tuple(normalize_axis(a, ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(f"repeated axis in axis={axis!r}")
        return axes
    return (normalize_axis(axis, ndim),)
