"""The input contract: parameter and shape checks shared by every backend.

Public functions call these before choosing between the host (NumPy-array) path and
the CUDA backend, so the same call is accepted or refused with the same exception on
every backend. They read only metadata (``shape``, ``dtype``), which NumPy, CuPy,
PyTorch and Numba device arrays all expose, and never write anything: every check
runs before any output is touched.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastact._dispatch import is_device_array, normalize_axis

REDUCTIONS = ("mean", "sum", "none")


def shape_of(a: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in np.shape(a)) if not hasattr(a, "shape") else tuple(
        int(s) for s in a.shape
    )


def dtype_kind(a: Any) -> str:
    """'f' (floating, bfloat16 included), 'i', 'u', 'b' or another NumPy kind letter."""
    dt = getattr(a, "dtype", None)
    if dt is None:
        return np.asarray(a).dtype.kind
    name = str(dt).replace("torch.", "")
    if name.startswith(("float", "bfloat", "half")):
        return "f"
    if name.startswith("uint"):
        return "u"
    if name.startswith(("int", "long", "short")):
        return "i"
    if name == "bool":
        return "b"
    try:
        return np.dtype(name).kind
    except TypeError:
        return "O"


def dtype_name(a: Any) -> str:
    dt = getattr(a, "dtype", None)
    return np.asarray(a).dtype.name if dt is None else str(dt).replace("torch.", "")


def real(value: Any, name: str, lo: float | None = None, hi: float | None = None) -> float:
    """A real number (not a string or a bool), not NaN, within ``[lo, hi]`` when given."""
    if isinstance(value, (str, bytes, bool, np.bool_)) or (not np.isscalar(value) and not (
        isinstance(value, np.ndarray) and value.ndim == 0
    )):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if math.isnan(v):
        raise ValueError(f"{name} must not be NaN")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return v


def integer(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None


def reduction(value: Any) -> str:
    if not isinstance(value, str) or value not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {value!r}")
    return value


def result_buffer(buf: Any, like: Any, shape: tuple[int, ...], name: str) -> None:
    """``out``/``grad_out`` can receive a result of ``shape`` for input ``like``: on the
    device for a device input, a NumPy array for a host input (the host path then checks
    its dtype, layout and write flag)."""
    if buf is None:
        return
    dev_in, dev_buf = is_device_array(like), is_device_array(buf)
    if dev_in and not dev_buf:
        raise TypeError(
            f"{name} is a {type(buf).__name__} but the input is a GPU array "
            f"({type(like).__name__}); pass a GPU array of the same kind"
        )
    if not dev_in and not isinstance(buf, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(buf).__name__}")
    if shape_of(buf) != tuple(shape):
        raise ValueError(
            f"{name} has shape {shape_of(buf)}; the result needs shape {tuple(shape)}"
        )


@dataclass(frozen=True)
class CrossEntropyArgs:
    axis: int
    classes: int
    eps: float
    ignore_index: int
    reduction: str
    index_targets: bool
    rshape: tuple[int, ...]


def cross_entropy(logits: Any, target: Any, axis: Any, weight: Any, ignore_index: Any,
                  label_smoothing: Any, red: Any, return_grad: Any, grad_out: Any,
                  out: Any) -> CrossEntropyArgs:  # fmt: skip
    """Every check of :func:`fastact.cross_entropy` that does not read array values."""
    r = reduction(red)
    xs = shape_of(logits)
    if len(xs) == 0:
        raise ValueError("logits must have at least one dimension (the class axis)")
    ax = normalize_axis(axis, len(xs))
    C = xs[ax]
    eps = real(label_smoothing, "label_smoothing", 0.0, 1.0)
    ii = integer(ignore_index, "ignore_index")
    rshape = xs[:ax] + xs[ax + 1 :]
    kind = dtype_kind(target)
    ts = shape_of(target)
    if kind in "iu":
        if ts != rshape:
            raise ValueError(
                f"target has shape {ts}; class-index targets need logits' shape "
                f"without axis {ax}: {rshape}"
            )
        if kind == "u" and isinstance(target, np.ndarray) and target.size:
            # compared in their own type before any conversion to int64 (no wrap-around)
            ign = target == ii if 0 <= ii <= np.iinfo(target.dtype).max else False
            bad = (target >= C) & ~np.asarray(ign)
            if bad.any():
                v = target.reshape(-1)[np.argmax(bad.reshape(-1))]
                raise IndexError(f"target {v} is out of bounds for {C} classes (ignore_index={ii})")
    elif kind == "f":
        if ts != xs:
            raise ValueError(f"target has shape {ts}; probability targets need logits' shape {xs}")
    else:
        raise TypeError(
            f"target has dtype {dtype_name(target)}; use integer class indices or floating "
            "probabilities"
        )
    if weight is not None:
        if dtype_kind(weight) != "f":
            raise TypeError(f"weight has dtype {dtype_name(weight)}; it must be floating")
        if shape_of(weight) != (C,):
            raise ValueError(
                f"weight has shape {shape_of(weight)}; it needs one entry per class, ({C},)"
            )
    if not isinstance(return_grad, (bool, np.bool_)):
        raise TypeError(f"return_grad must be a bool, got {return_grad!r}")
    if grad_out is not None and not return_grad:
        raise ValueError("grad_out is only used with return_grad=True")
    result_buffer(grad_out, logits, xs, "grad_out")
    result_buffer(out, logits, rshape if r == "none" else (), "out")
    return CrossEntropyArgs(ax, C, eps, ii, r, kind in "iu", rshape)


def pointwise_loss(x: Any, target: Any, red: Any, return_grad: Any, grad_out: Any, out: Any,
                   weights: dict[str, Any] | None = None) -> str:  # fmt: skip
    """The checks of BCE-with-logits and MSE: same-shape floating target, weights that
    broadcast to the input, a bool ``return_grad``, result buffers."""
    r = reduction(red)
    xs = shape_of(x)
    if shape_of(target) != xs:
        raise ValueError(
            f"target has shape {shape_of(target)}; it must match the input's shape {xs}"
        )
    if dtype_kind(target) != "f":
        raise TypeError(
            f"target has dtype {dtype_name(target)}; fastact supports float16, float32 or "
            "float64 arrays"
        )
    for name, w in (weights or {}).items():
        if w is None:
            continue
        try:
            b = np.broadcast_shapes(shape_of(w), xs)
        except ValueError:
            b = None
        if b != xs:
            raise ValueError(f"{name} of shape {shape_of(w)} does not broadcast to {xs}")
    if not isinstance(return_grad, (bool, np.bool_)):
        raise TypeError(f"return_grad must be a bool, got {return_grad!r}")
    if grad_out is not None and not return_grad:
        raise ValueError("grad_out is only used with return_grad=True")
    result_buffer(grad_out, x, xs, "grad_out")
    result_buffer(out, x, xs if r == "none" else (), "out")
    return r
