"""Array types beyond NumPy: the wrapper every public function goes through.

``adapt(func)`` returns ``func`` behind a one-line type check: a NumPy array as
the first argument (and as the second, for functions of two arrays) goes
straight to ``func``, so the NumPy path pays one ``type(...) is`` test and one
Python call: 0.07 us measured interleaved on a no-op function (0.12-0.46 us with
the 2-core machine at load 10; ``python bench/tools/overhead.py``). Any
other call whose arguments hold nothing foreign (lists, scalars, ndarray
subclasses, GPU arrays) also goes straight to ``func``. Otherwise the arguments
are bound by name (:data:`KINDS` / :data:`SPECIAL` say which arguments of which
function are arrays) and handed to the integration for their type:

* **Dask arrays** (``dask.array.Array``): a lazy Dask array back, computed block
  by block with the same kernels; nothing is computed on call (see
  :mod:`fastact._dask`).
* **xarray DataArrays**: a DataArray back with the dims, coords, attrs and name
  of the input (a Dask-backed one stays lazy); ``axis=`` also takes a dimension
  name (see :mod:`fastact._xarray`).
* **pandas Series / DataFrames**: the same type back with the index (and columns)
  kept; ``axis="index"`` / ``"columns"`` work as in pandas (see
  :mod:`fastact._pandas`).

Other array-likes on the CPU path (the policy):

* GPU arrays (anything with ``__cuda_array_interface__``: CuPy, PyTorch CUDA
  tensors, Numba device arrays) go to the CUDA backend with ``backend=None`` or
  ``"cuda"``; given a CPU backend explicitly they raise a ``TypeError`` saying to
  use ``backend='cuda'`` or ``None``. fastact never copies device memory to the
  host behind the caller's back.
* Objects exposing ``__array__`` (JAX CPU arrays, lists, scalars, array-likes of
  other libraries) are converted with ``numpy.asarray`` (zero-copy where the
  producer allows it) and the result is a NumPy array: fastact does not depend on
  those libraries and does not convert back (``jnp.asarray(result)`` does).
* Objects exposing only DLPack (``__dlpack__`` without ``__array__``) are imported
  with ``numpy.from_dlpack`` when they live in host memory, and rejected with a
  ``TypeError`` naming the device otherwise.
* PyTorch tensors have their own integration, ``fastact.torch`` (custom
  operators with autograd); passed here they follow the ``__array__`` rule.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

#: how the arguments of each kind of function are laid out: the names of the
#: array arguments (the first one is the template of the result's type)
KINDS: dict[str, tuple[str, ...]] = {
    "elementwise": ("x",),  # NAME(x, *params)
    "elementwise_backward": ("grad_output", "x"),  # NAME_backward(grad_output, x, *params)
    # NAME_backward_from_output(grad_output, y, *params)
    "elementwise_backward_from_output": ("grad_output", "y"),
    "softmax": ("x",),  # softmax / log_softmax(x, axis, all_masked=)
    "logsumexp": ("x",),  # logsumexp(x, axis, keepdims)
    "softmax_backward": ("grad_output", "y"),  # (log_)softmax_backward(grad_output, y, axis)
    "prelu": ("x", "weight"),
    "prelu_backward": ("grad_output", "x", "weight"),
    "rrelu": ("x",),
    "rrelu_backward": ("grad_output", "slopes"),
    "maxout": ("x",),
    "maxout_backward": ("grad_output", "x"),
    "cross_entropy": ("logits", "target", "weight"),
    "binary_cross_entropy_with_logits": ("logits", "target", "weight", "pos_weight"),
    "mse_loss": ("input", "target"),
}

#: the kind of every public function that is not elementwise (those are
#: ``elementwise`` / ``elementwise_backward`` by their name)
SPECIAL: dict[str, str] = {
    "softmax": "softmax",
    "log_softmax": "softmax",
    "softmin": "softmax",
    "softmin_backward": "softmax_backward",
    "logsumexp": "logsumexp",
    "softmax_backward": "softmax_backward",
    "log_softmax_backward": "softmax_backward",
    "prelu": "prelu",
    "prelu_backward": "prelu_backward",
    "rrelu": "rrelu",
    "rrelu_backward": "rrelu_backward",
    "maxout": "maxout",
    "maxout_backward": "maxout_backward",
    "cross_entropy": "cross_entropy",
    "binary_cross_entropy_with_logits": "binary_cross_entropy_with_logits",
    "mse_loss": "mse_loss",
}

#: the wrapped (public) function by name, for integrations that call back
WRAPPED: dict[str, Callable[..., Any]] = {}

def kind_of(name: str) -> str | None:
    """The :data:`KINDS` entry of public function ``name`` (None: not wrapped).

    The elementwise functions are those of ``fastact._api`` (generated from the
    table): ``NAME(x, *params)``, ``NAME_backward(grad_output, x, *params)`` and
    ``NAME_backward_from_output(grad_output, y, *params)``.
    """
    if name in SPECIAL:
        return SPECIAL[name]
    from fastact._api import __all__ as elementwise

    if name in elementwise:
        if name.endswith("_backward_from_output"):
            return "elementwise_backward_from_output"
        return "elementwise_backward" if name.endswith("_backward") else "elementwise"
    return None


def array_functions(names: list[str]) -> list[str]:
    """The public ``names`` that :func:`adapt` wraps (those with a :func:`kind_of`)."""
    return [n for n in names if kind_of(n) is not None]


class Call:
    """One call's arguments, bound by name, with what the integrations need."""

    __slots__ = ("args", "func", "kind", "name", "wrapped")

    def __init__(self, func: Callable[..., Any], kind: str, args: dict[str, Any]) -> None:
        self.func = func  # the NumPy-path function (picklable by reference)
        self.kind = kind
        self.name: str = func.__name__
        self.args = args  # every parameter, defaults applied
        self.wrapped = WRAPPED.get(self.name, func)

    def arrays(self) -> list[tuple[str, Any]]:
        return [(n, self.args[n]) for n in KINDS[self.kind] if self.args.get(n) is not None]

    def params(self) -> list[Any]:
        """The positional non-array parameters, in order (``alpha``, ``axis``, ...)."""
        sig = _signature(self.func)
        arr = KINDS[self.kind]
        return [
            self.args[p.name]
            for p in sig.parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.name not in arr
        ]

    def call(self, **changes: Any) -> Any:
        """The public function on these arguments with ``changes`` applied."""
        a = {**self.args, **changes}
        sig = _signature(self.func)
        pos = [a[p.name] for p in sig.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
        kw = {p.name: a[p.name] for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY}
        return self.wrapped(*pos, **kw)


@functools.cache
def _signature(func: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(func)


def _family(x: Any) -> str | None:
    """Which integration handles ``x``: 'xarray', 'pandas', 'dask' or None."""
    mod = type(x).__module__.partition(".")[0]
    if mod == "xarray":
        import xarray

        if isinstance(x, xarray.DataArray):
            return "xarray"
        raise TypeError(
            f"fastact takes xarray.DataArray, not {type(x).__name__}; "
            "apply it per variable (e.g. ds.map(fastact.gelu))"
        )
    if mod == "pandas":
        import pandas

        if isinstance(x, pandas.Series | pandas.DataFrame):
            return "pandas"
        return None
    if mod == "dask":
        import dask.array

        if isinstance(x, dask.array.Array):
            return "dask"
    return None


_ORDER = ("xarray", "pandas", "dask")


def _from_dlpack(x: Any, name: str) -> Any:
    """A host DLPack-only object as a NumPy array; a TypeError for device memory."""
    dev = x.__dlpack_device__()
    if int(dev[0]) not in (1, 3):  # kDLCPU, kDLCUDAHost
        raise TypeError(
            f"{name} ({type(x).__name__}) lives on DLPack device {tuple(dev)}, not in host "
            "memory; use backend='cuda' or None for GPU arrays"
        )
    return np.from_dlpack(x)


_FAMILIES = frozenset(("xarray", "pandas", "dask"))


def _foreign(v: Any) -> bool:
    """Whether ``v`` needs more than the NumPy path (an integration or DLPack import)."""
    t = type(v)
    if t.__module__.partition(".")[0] in _FAMILIES:
        return True
    return (
        hasattr(v, "__dlpack__")
        and not isinstance(v, np.ndarray)
        and not hasattr(v, "__array__")
        and not hasattr(v, "__cuda_array_interface__")
    )


def dispatch(func: Callable[..., Any], kind: str, args: tuple, kw: dict[str, Any]) -> Any:
    """The slow path: route a call whose arrays are not all NumPy arrays."""
    if not any(map(_foreign, args)) and not any(map(_foreign, kw.values())):
        return func(*args, **kw)  # lists, scalars, ndarray subclasses, GPU arrays
    try:
        bound = _signature(func).bind(*args, **kw)
    except TypeError as e:
        raise TypeError(f"{func.__name__}(): {e}") from None
    bound.apply_defaults()
    a = dict(bound.arguments)
    call = Call(func, kind, a)
    fams = set()
    for n, v in call.arrays():
        f = _family(v)
        if f is not None:
            fams.add(f)
        elif (
            not isinstance(v, np.ndarray)
            and hasattr(v, "__dlpack__")
            and not hasattr(v, "__array__")
            and not hasattr(v, "__cuda_array_interface__")
        ):
            a[n] = _from_dlpack(v, n)
    for f in _ORDER:
        if f in fams:
            if f == "xarray":
                from fastact import _xarray

                return _xarray.apply(call)
            if f == "pandas":
                from fastact import _pandas

                return _pandas.apply(call)
            from fastact import _dask

            return _dask.apply(call)
    return func(**a)


#: kinds whose first two array arguments are both checked on the fast path
_TWO = frozenset(
    ("elementwise_backward", "elementwise_backward_from_output", "softmax_backward",
     "prelu_backward", "rrelu_backward", "maxout_backward", "cross_entropy",
     "binary_cross_entropy_with_logits", "mse_loss")
)  # fmt: skip


def adapt(func: Callable[..., Any], register: bool = True) -> Callable[..., Any]:
    """``func`` behind the array-type check (see the module docstring).

    The wrapper is generated with ``func``'s exact signature, so that the NumPy path
    forwards named arguments without packing ``*args`` / ``**kwargs`` (that costs
    ~0.35 us a call; this ~0.07 us). It is pickled by reference as ``fastact.NAME``
    and keeps ``func``'s name, docstring and signature (``__wrapped__``).
    ``register=False`` leaves :data:`WRAPPED` alone (for measuring the wrapper).
    """
    name = func.__name__
    kind = kind_of(name)
    if kind is None:
        raise ValueError(f"adapt: no argument layout for {name!r} in fastact._adapt")
    params = list(_signature(func).parameters.values())
    ns: dict[str, Any] = {"_nd": np.ndarray, "_f": func, "_slow": dispatch, "_kind": kind}
    decl: list[str] = []
    pos: list[str] = []
    kws: list[str] = []
    star = False
    for p in params:
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            raise ValueError(f"adapt: {name} has a {p.kind} parameter {p.name!r}")
        if p.kind is p.KEYWORD_ONLY and not star:
            decl.append("*")
            star = True
        if p.default is p.empty:
            decl.append(p.name)
        else:
            ns["_d_" + p.name] = p.default
            decl.append(f"{p.name}=_d_{p.name}")
        (pos if p.kind is p.POSITIONAL_OR_KEYWORD else kws).append(p.name)
    arrays = KINDS[kind][: 2 if kind in _TWO else 1]
    if [p.name for p in params[: len(arrays)]] != list(arrays):
        raise ValueError(f"adapt: {name}'s leading parameters are not {arrays}")
    test = " and ".join(f"type({a}) is _nd" for a in arrays)
    fwd = ", ".join(pos + [f"{k}={k}" for k in kws])
    kwd = ", ".join(f"{k!r}: {k}" for k in kws)
    src = (
        f"def {name}({', '.join(decl)}):\n"
        f"    if {test}:\n"
        f"        return _f({fwd})\n"
        f"    return _slow(_f, _kind, ({', '.join(pos)},), {{{kwd}}})\n"
    )
    exec(compile(src, f"<fastact._adapt wrapper of {name}>", "exec"), ns)
    wrapper: Callable[..., Any] = ns[name]
    functools.update_wrapper(wrapper, func)
    wrapper.__module__ = "fastact"
    wrapper.__qualname__ = name
    if register:
        WRAPPED[name] = wrapper
    return wrapper


def normalize_axis(axis: Any, ndim: int) -> int:
    """``axis`` in ``[0, ndim)`` (NumPy's ``AxisError`` out of range)."""
    from fastact._dispatch import normalize_axis as _n

    return _n(axis, ndim)


__all__ = ["KINDS", "SPECIAL", "Call", "adapt", "array_functions", "dispatch", "kind_of"]
