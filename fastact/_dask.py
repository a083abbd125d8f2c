"""Dask arrays: every fastact operation as a lazy graph over the blocks.

Nothing is computed on call; every block runs the NumPy-path function (the
compiled kernels) in whichever worker holds it. The block functions are
module-level, so they pickle by reference for ``dask.distributed``.

* Elementwise forward/backward, PReLU, RReLU, BCE, MSE: block by block
  (``map_blocks`` / ``blockwise``), chunks kept.
* softmax / log_softmax / logsumexp along an axis that is in one chunk: the
  row-wise kernel per block. Along an axis split into several chunks: a tree
  reduction of per-chunk row statistics ``(m, s)`` = (max, sum of exp(x - m)),
  merged as

      m = max(m1, m2),   s = s1 exp(m1 - m) + s2 exp(m2 - m)

  (float64), then one blockwise pass ``y = exp(x - m - log s)`` (log-softmax:
  ``x - m - log s``; logsumexp: ``m + log s``). The axis is never rechunked.
* softmax_backward along a split axis: the per-row ``sum_k g_k y_k`` (log-softmax:
  ``sum_k g_k``) by a tree sum, then ``y (g - sum)`` (``g - exp(y) sum``) blockwise.
* cross_entropy: per block of rows with the class axis in one chunk, the fused
  kernel gives the per-row losses and the gradient of their sum in one pass (packed
  in one block, the loss as an extra class column); "sum" and "mean" are tree sums,
  "mean" dividing by the sum of the targets' weights (a tree sum over the target
  blocks) and scaling the gradient by its inverse. A class axis split into several
  chunks is not rechunked: the row statistics above give ``lse``, per-chunk partial
  sums (the target's logit, the weighted sums for smoothing and probability targets)
  are tree-summed, and the loss and gradient follow from them (see ``_ce_split``);
  NumPy code there, not the fused kernel.
* maxout: the axis is rechunked so that every chunk holds whole groups.

``out=`` and ``grad_out=`` are refused (Dask arrays are immutable). Errors that
depend on values (a target out of range) are raised at compute time, by the block
that holds them.
"""

from __future__ import annotations

import math
from typing import Any

import dask.array as da
import numpy as np

from fastact._adapt import Call
from fastact._dispatch import normalize_axis

_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_F8 = np.dtype(np.float64)


def _meta(ndim: int, dtype: Any) -> np.ndarray:
    return np.empty((0,) * ndim, dtype=dtype)


def _cdt(dt: np.dtype) -> np.dtype:
    return np.dtype(np.float32) if dt == np.float16 else dt


def _as_dask(v: Any, name: str, like: Any = None) -> Any:
    """``v`` as a Dask array of floats (chunked like ``like`` when shapes match)."""
    if not isinstance(v, da.Array):
        if hasattr(v, "__cuda_array_interface__"):
            raise TypeError(f"{name} is a GPU array; it cannot be mixed with Dask arrays")
        a = np.asarray(v)
        if like is not None and a.shape == like.shape:
            v = da.from_array(a, chunks=like.chunks)
        else:
            v = da.from_array(a)
    return v


def _check_float(x: Any, name: str) -> None:
    if x.dtype not in _FLOATS:
        raise TypeError(
            f"{name} has dtype {x.dtype}; fastact supports float16, float32 or float64 arrays"
        )


def _no_out(c: Call) -> None:
    for k in ("out", "grad_out"):
        if c.args.get(k) is not None:
            raise TypeError(
                f"{c.name}: {k}= is not supported for Dask arrays (they are immutable); "
                "use the returned array"
            )


def _same_shape(a: Any, b: Any, na: str, nb: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{na} has shape {a.shape} but {nb} has shape {b.shape}; they must match")


def _rechunk_like(a: Any, like: Any) -> Any:
    return a if a.chunks == like.chunks else a.rechunk(like.chunks)


# --------------------------------------------------------------------------- #
# Elementwise                                                                 #
# --------------------------------------------------------------------------- #


def _elementwise(c: Call) -> Any:
    x = _as_dask(c.args["x"], "x")
    _check_float(x, "x")
    params = c.params()
    be = c.args["backend"]
    # validates the parameters now (an empty block runs no kernel)
    c.func(np.empty(0, dtype=x.dtype), *params, backend=be)
    return x.map_blocks(c.func, *params, backend=be, dtype=x.dtype, meta=_meta(x.ndim, x.dtype))


def _elementwise_backward(c: Call, names: tuple[str, str] = ("grad_output", "x")) -> Any:
    x = _as_dask(c.args[names[1]], names[1])
    g = _as_dask(c.args[names[0]], names[0], like=x)
    _check_float(g, names[0])
    _check_float(x, names[1])
    _same_shape(g, x, *names)
    params = c.params()
    be = c.args["backend"]
    dt = np.promote_types(g.dtype, x.dtype)
    e = np.empty(0, dtype=x.dtype)
    c.func(e.astype(g.dtype), e, *params, backend=be)
    g = _rechunk_like(g, x)
    return da.map_blocks(c.func, g, x, *params, backend=be, dtype=dt, meta=_meta(x.ndim, dt))


# --------------------------------------------------------------------------- #
# Row statistics: the tree reduction of (max, sum of exp)                      #
# --------------------------------------------------------------------------- #


def _stats_chunk(
    x: np.ndarray, axis: Any = None, keepdims: bool = True, computing_meta: bool = False, **kw: Any
) -> Any:
    if computing_meta:
        return x
    ax = axis[0]
    xc = x.astype(_cdt(x.dtype), copy=False)
    m = np.max(xc, axis=ax, keepdims=True)
    ms = np.where(np.isfinite(m), m, 0)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.subtract(xc, ms)
        np.exp(e, out=e)
    s = np.sum(e, axis=ax, keepdims=True, dtype=np.float64)
    return {"m": m.astype(np.float64), "s": s}


def _flatten(pairs: Any) -> list[dict[str, np.ndarray]]:
    if isinstance(pairs, dict):
        return [pairs]
    out: list[dict[str, np.ndarray]] = []
    for p in pairs:
        out.extend(_flatten(p))
    return out


def _merge(pairs: Any, ax: int) -> tuple[np.ndarray, np.ndarray]:
    ps = _flatten(pairs)
    m = np.concatenate([p["m"] for p in ps], axis=ax)
    s = np.concatenate([p["s"] for p in ps], axis=ax)
    M = np.max(m, axis=ax, keepdims=True)
    Ms = np.where(np.isfinite(M), M, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        S = np.sum(s * np.exp(m - Ms), axis=ax, keepdims=True)
    return M, S


def _stats_combine(
    pairs: Any, axis: Any = None, keepdims: bool = True, computing_meta: bool = False, **kw: Any
) -> Any:
    if computing_meta:
        return pairs
    M, S = _merge(pairs, axis[0])
    return {"m": M, "s": S}


def _stats_agg(
    pairs: Any, axis: Any = None, keepdims: bool = True, computing_meta: bool = False, **kw: Any
) -> Any:
    """``(m, log s)`` stacked along the reduced axis (size 2)."""
    if computing_meta:
        return pairs
    ax = axis[0]
    M, S = _merge(pairs, ax)
    with np.errstate(divide="ignore"):
        return np.concatenate([M, np.log(S)], axis=ax)


def row_stats(x: Any, ax: int) -> Any:
    """Lazy float64 ``(m, log sum exp(x - m))`` of every row along ``ax``, stacked
    along ``ax`` (size 2, one chunk) by a tree reduction over ``ax``'s chunks."""
    return da.reduction(
        x,
        chunk=_stats_chunk,
        combine=_stats_combine,
        aggregate=_stats_agg,
        axis=ax,
        keepdims=True,
        dtype=np.float64,
        concatenate=False,
        output_size=2,
        meta=_meta(x.ndim, np.float64),
    )


def _softmax_apply(
    xb: np.ndarray, st: np.ndarray, ax: int, log: bool, zero: bool
) -> np.ndarray:
    cdt = _cdt(xb.dtype)
    m = np.take(st, [0], axis=ax)
    ls = np.take(st, [1], axis=ax).astype(cdt)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.subtract(xb, m.astype(cdt), dtype=cdt)
        d -= ls
        y = d if log else np.exp(d, out=d)
    if zero and np.isneginf(m).any():
        y = np.where(np.isneginf(m), -np.inf if log else 0.0, y).astype(cdt, copy=False)
    if np.isposinf(m).any():  # a row holding +inf is NaN throughout, as the kernels give
        y = np.where(np.isposinf(m), np.nan, y).astype(cdt, copy=False)
    return y.astype(xb.dtype, copy=False)


def _lse_apply(st: np.ndarray, ax: int, keepdims: bool, rdtype: Any) -> np.ndarray:
    m = np.take(st, [0], axis=ax)
    with np.errstate(invalid="ignore"):
        r = np.where(np.isposinf(m), np.inf, m + np.take(st, [1], axis=ax))
    if not keepdims:
        r = r.squeeze(axis=ax)
    return r.astype(rdtype)


def _indices(ndim: int) -> tuple[str, ...]:
    return tuple(f"i{k}" for k in range(ndim))


def _softmax(c: Call) -> Any:
    x = _as_dask(c.args["x"], "x")
    _check_float(x, "x")
    am = c.args["all_masked"]
    if am not in ("nan", "zero"):
        raise ValueError(f"all_masked must be 'nan' or 'zero', got {am!r}")
    ax = normalize_axis(c.args["axis"], x.ndim)
    be = c.args["backend"]
    meta = _meta(x.ndim, x.dtype)
    if x.numblocks[ax] == 1:
        return x.map_blocks(c.func, axis=ax, all_masked=am, backend=be, dtype=x.dtype, meta=meta)
    if c.name == "softmin":  # softmax(-x)
        x = -x
    st = row_stats(x, ax)
    ind = _indices(x.ndim)
    sind = tuple("s" if k == ax else i for k, i in enumerate(ind))
    return da.blockwise(
        _softmax_apply, ind, x, ind, st, sind,
        concatenate=True, dtype=x.dtype, meta=meta,
        ax=ax, log=c.name == "log_softmax", zero=am == "zero",
    )  # fmt: skip


def _logsumexp(c: Call) -> Any:
    x = _as_dask(c.args["x"], "x")
    _check_float(x, "x")
    if c.args.get("b") is not None or c.args.get("return_sign"):
        raise TypeError(
            "logsumexp(b=, return_sign=) is not supported for Dask arrays; compute the "
            "weighted sum on NumPy arrays (or pass b=None)"
        )
    ax = normalize_axis(c.args["axis"], x.ndim)
    keep = bool(c.args["keepdims"])
    be = c.args["backend"]
    nd = x.ndim if keep else x.ndim - 1
    meta = _meta(nd, x.dtype)
    chunks = tuple((1,) if k == ax else ch for k, ch in enumerate(x.chunks))
    if not keep:
        chunks = chunks[:ax] + chunks[ax + 1 :]
    if x.numblocks[ax] == 1:
        return x.map_blocks(
            c.func, axis=ax, keepdims=keep, backend=be, dtype=x.dtype, meta=meta, chunks=chunks,
            drop_axis=[] if keep else [ax],
        )  # fmt: skip
    st = row_stats(x, ax)
    return st.map_blocks(
        _lse_apply, ax=ax, keepdims=keep, rdtype=x.dtype, dtype=x.dtype, meta=meta, chunks=chunks,
        drop_axis=[] if keep else [ax],
    )  # fmt: skip


def _dot_chunk(g: np.ndarray, y: np.ndarray, ax: int, log: bool) -> np.ndarray:
    if log:
        return np.asarray(np.sum(g, axis=ax, keepdims=True, dtype=np.float64))
    return np.asarray(np.sum(g.astype(np.float64) * y, axis=ax, keepdims=True))


def _softmax_bwd_apply(
    g: np.ndarray, y: np.ndarray, dot: np.ndarray, log: bool, rdtype: Any
) -> np.ndarray:
    cdt = _cdt(np.dtype(rdtype))
    gc, yc, d = g.astype(cdt, copy=False), y.astype(cdt, copy=False), dot.astype(cdt)
    with np.errstate(invalid="ignore", over="ignore"):
        r = gc - np.exp(yc) * d if log else yc * (gc - d)
    return r.astype(rdtype, copy=False)


def _softmax_backward(c: Call) -> Any:
    y = _as_dask(c.args["y"], "y")
    g = _as_dask(c.args["grad_output"], "grad_output", like=y)
    _check_float(g, "grad_output")
    _check_float(y, "y")
    _same_shape(g, y, "grad_output", "y")
    ax = normalize_axis(c.args["axis"], y.ndim)
    dt = np.promote_types(g.dtype, y.dtype)
    g = _rechunk_like(g, y)
    meta = _meta(y.ndim, dt)
    log = c.name == "log_softmax_backward"
    if y.numblocks[ax] == 1:
        return da.map_blocks(c.func, g, y, axis=ax, backend=c.args["backend"], dtype=dt, meta=meta)
    if c.name == "softmin_backward":  # -J(y) g = J(y) (-g)
        g = -g
    chunks = tuple(((1,) * len(ch)) if k == ax else ch for k, ch in enumerate(y.chunks))
    part = da.map_blocks(
        _dot_chunk, g, y, ax=ax, log=log, chunks=chunks, dtype=np.float64,
        meta=_meta(y.ndim, np.float64),
    )  # fmt: skip
    dot = part.sum(axis=ax, keepdims=True)
    return da.map_blocks(
        _softmax_bwd_apply, g, y, dot, log=log, rdtype=dt, dtype=dt, meta=meta
    )


# --------------------------------------------------------------------------- #
# PReLU, RReLU, maxout                                                        #
# --------------------------------------------------------------------------- #


def _prelu_setup(c: Call) -> tuple[Any, Any, int | None]:
    x = _as_dask(c.args["x"], "x")
    _check_float(x, "x")
    w = c.args["weight"]
    w = w if isinstance(w, da.Array) else np.asarray(w)
    _check_float(w, "weight")
    if w.ndim != 1:
        raise ValueError(f"weight must be 1-d, got shape {w.shape}")
    if x.ndim == 0 or w.shape[0] == 1:
        if w.shape[0] != 1:
            raise ValueError(f"weight has {w.shape[0]} elements; a 0-d input needs 1")
        return x, w, None
    ax = 0 if x.ndim == 1 else normalize_axis(c.args["axis"], x.ndim)
    if w.shape[0] != x.shape[ax]:
        raise ValueError(
            f"weight has {w.shape[0]} elements; it needs 1 or x.shape[{ax}] = {x.shape[ax]}"
        )
    return x, w, ax


def _prelu_block(xb: np.ndarray, wb: np.ndarray, op: Any, ax: int, be: Any) -> np.ndarray:
    return op(xb, np.ascontiguousarray(wb), ax, backend=be)


def _prelu(c: Call) -> Any:
    _no_out(c)
    x, w, ax = _prelu_setup(c)
    be = c.args["backend"]
    meta = _meta(x.ndim, x.dtype)
    if ax is None:  # one shared slope
        wd = da.from_array(w) if not isinstance(w, da.Array) else w
        return da.blockwise(
            _prelu_block, _indices(x.ndim), x, _indices(x.ndim), wd, ("w",), concatenate=True,
            dtype=x.dtype, meta=meta, op=c.func, ax=0 if x.ndim < 2 else 1, be=be,
        )  # fmt: skip
    wd = da.asarray(w).rechunk((x.chunks[ax],))
    ind = _indices(x.ndim)
    return da.blockwise(
        _prelu_block, ind, x, ind, wd, (ind[ax],), dtype=x.dtype, meta=meta,
        op=c.func, ax=ax, be=be,
    )  # fmt: skip


def _prelu_bwd_block(
    g: np.ndarray, xb: np.ndarray, wb: np.ndarray, op: Any, ax: int, be: Any, part: int,
    shared: bool,
) -> np.ndarray:  # fmt: skip
    w64 = np.ascontiguousarray(wb, dtype=np.float64)
    gi, gw = op(g, xb, w64, ax, backend=be)
    if part == 0:
        return gi
    shape = [1] * xb.ndim
    if not shared:
        shape[ax] = gw.shape[0]
    return np.asarray(gw, dtype=np.float64).reshape(shape)


def _prelu_backward(c: Call) -> Any:
    _no_out(c)
    x, w, ax = _prelu_setup(c)
    g = _as_dask(c.args["grad_output"], "grad_output", like=x)
    _check_float(g, "grad_output")
    _same_shape(g, x, "grad_output", "x")
    g = _rechunk_like(g, x)
    be = c.args["backend"]
    dt = np.promote_types(g.dtype, x.dtype)
    ind = _indices(x.ndim)
    shared = ax is None
    if shared:
        wd, wind, kax = da.asarray(w).rechunk(-1), ("w",), (0 if x.ndim < 2 else 1)
    else:
        assert ax is not None
        wd, wind, kax = da.asarray(w).rechunk((x.chunks[ax],)), (ind[ax],), ax
    common = dict(op=c.func, ax=kax, be=be, shared=shared, concatenate=True)
    gi = da.blockwise(
        _prelu_bwd_block, ind, g, ind, x, ind, wd, wind, dtype=dt, meta=_meta(x.ndim, dt),
        part=0, **common,
    )  # fmt: skip
    pchunks = tuple(
        (ch if (not shared and k == ax) else (1,) * len(ch)) for k, ch in enumerate(x.chunks)
    )
    gw = da.blockwise(
        _prelu_bwd_block, ind, g, ind, x, ind, wd, wind, dtype=np.float64,
        meta=_meta(x.ndim, np.float64), part=1, adjust_chunks=dict(zip(ind, pchunks, strict=True)),
        **common,
    )  # fmt: skip
    other = tuple(k for k in range(x.ndim) if shared or k != ax)
    gw = gw.sum(axis=other).reshape(w.shape).astype(w.dtype)
    return gi, gw


def _rrelu_slopes(xb: np.ndarray, op: Any, lo: float, up: float, seed: int, be: Any,
                  block_id: tuple[int, ...] = ()) -> np.ndarray:  # fmt: skip
    s = int(np.random.SeedSequence([seed, *block_id]).generate_state(1, np.uint64)[0])
    return op(xb, lo, up, True, s, backend=be)[1]


def _multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.multiply(a, b, dtype=np.promote_types(a.dtype, b.dtype))


def _rrelu(c: Call) -> Any:
    _no_out(c)
    if not c.args["training"]:
        return _elementwise(c)
    x = _as_dask(c.args["x"], "x")
    _check_float(x, "x")
    lo, up = float(c.args["lower"]), float(c.args["upper"])
    seed = c.args["seed"]
    be = c.args["backend"]
    c.func(np.empty(0, x.dtype), lo, up, True, 0, backend=be)  # validates the bounds
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    meta = _meta(x.ndim, x.dtype)
    slopes = x.map_blocks(
        _rrelu_slopes, op=c.func, lo=lo, up=up, seed=int(seed), be=be, dtype=x.dtype, meta=meta
    )
    # y = x * slopes exactly (slope 1 where x >= 0), as the kernel computes it
    return da.map_blocks(_multiply, x, slopes, dtype=x.dtype, meta=meta), slopes


def _group_chunks(chunks: tuple[int, ...], k: int) -> tuple[int, ...]:
    """Chunk sizes along an axis, moved so that every chunk holds whole groups of ``k``."""
    bounds = np.cumsum(chunks)
    edges = sorted({int(b) // k * k for b in bounds} - {0})
    out, prev = [], 0
    for e in edges:
        out.append(e - prev)
        prev = e
    return tuple(out)


def _maxout(c: Call) -> Any:
    _no_out(c)
    x = _as_dask(c.args["x"], "x")
    _check_float(x, "x")
    if x.ndim == 0:
        raise ValueError("maxout needs an input with at least one dimension")
    pieces, be = c.args["pieces"], c.args["backend"]
    ax = normalize_axis(c.args["axis"], x.ndim)
    c.func(np.empty((0, x.shape[ax]), x.dtype), pieces, -1, backend=be)  # validates
    k = int(pieces)
    x = x.rechunk({ax: _group_chunks(x.chunks[ax], k)})
    chunks = tuple(tuple(n // k for n in ch) if i == ax else ch for i, ch in enumerate(x.chunks))
    return x.map_blocks(
        c.func, k, ax, backend=be, chunks=chunks, dtype=x.dtype, meta=_meta(x.ndim, x.dtype)
    )


def _maxout_backward(c: Call) -> Any:
    _no_out(c)
    x = _as_dask(c.args["x"], "x")
    g = _as_dask(c.args["grad_output"], "grad_output")
    _check_float(x, "x")
    _check_float(g, "grad_output")
    pieces, be = c.args["pieces"], c.args["backend"]
    if x.ndim == 0:
        raise ValueError("maxout needs an input with at least one dimension")
    ax = normalize_axis(c.args["axis"], x.ndim)
    c.func(np.empty((0, x.shape[ax] // max(int(pieces), 1)), g.dtype),
           np.empty((0, x.shape[ax]), x.dtype), pieces, -1, backend=be)  # fmt: skip
    k = int(pieces)
    oshape = x.shape[:ax] + (x.shape[ax] // k,) + x.shape[ax + 1 :]
    if g.shape != oshape:
        raise ValueError(f"grad_output has shape {g.shape}; maxout's output has {oshape}")
    x = x.rechunk({ax: _group_chunks(x.chunks[ax], k)})
    gch = tuple(tuple(n // k for n in ch) if i == ax else ch for i, ch in enumerate(x.chunks))
    g = g.rechunk(gch)
    dt = np.promote_types(g.dtype, x.dtype)
    ind = _indices(x.ndim)
    # x first: the result takes x's chunks (g's are 1/k of them along ax)
    return da.blockwise(
        _maxout_bwd_block, ind, x, ind, g, ind, op=c.func, k=k, ax=ax, be=be, dtype=dt,
        meta=_meta(x.ndim, dt), align_arrays=False,
    )  # fmt: skip


def _maxout_bwd_block(xb: np.ndarray, gb: np.ndarray, op: Any, k: int, ax: int,
                      be: Any) -> np.ndarray:  # fmt: skip
    return op(gb, xb, k, ax, backend=be)


# --------------------------------------------------------------------------- #
# Losses                                                                      #
# --------------------------------------------------------------------------- #


def _check_reduction(r: Any) -> str:
    if r not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {r!r}")
    return str(r)


def _safe_div(a: np.ndarray, b: np.ndarray, rdtype: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(np.float64(a) / np.float64(b)).astype(rdtype)


def _inv_or_zero(d: np.ndarray) -> np.ndarray:
    v = float(d)
    return np.asarray(1.0 / v if v != 0 else 0.0)


def _grad_scale(denom: Any) -> Any:
    """Lazy 0-d ``1 / denom`` (0 where ``denom`` is 0: every target ignored)."""
    d = da.asarray(denom, dtype=np.float64)
    return da.blockwise(_inv_or_zero, (), d, (), dtype=np.float64, meta=_meta(0, np.float64))


def _reduce(rows: Any, red: str, denom: Any, dtype: Any) -> Any:
    """``rows`` (per-row or per-element losses) reduced; ``denom`` a number or 0-d array."""
    if red == "none":
        return rows
    total = rows.sum(dtype=np.float64)
    if red == "sum":
        return total.astype(dtype)
    return da.blockwise(
        _safe_div, (), total, (), da.asarray(denom, dtype=np.float64), (),
        dtype=dtype, meta=_meta(0, dtype), rdtype=dtype,
    )  # fmt: skip


def _ce_block(xb: np.ndarray, tb: np.ndarray, *wb: np.ndarray, op: Any, ax: int, ii: int,
              eps: float, grad: bool, be: Any) -> np.ndarray:  # fmt: skip
    w = np.ascontiguousarray(wb[0]) if wb else None
    r = op(xb, tb, axis=ax, weight=w, ignore_index=ii, label_smoothing=eps, reduction="none",
             return_grad=grad, backend=be)  # fmt: skip
    if not grad:
        return r
    loss, g = r
    return np.concatenate([g, np.expand_dims(loss, ax).astype(g.dtype)], axis=ax)


def _ce_denom(tb: np.ndarray, *wb: np.ndarray, ii: int, C: int) -> np.ndarray:
    t = tb.astype(np.int64, copy=False)
    valid = (t != ii) & (t >= 0) & (t < C)
    d = float(np.asarray(wb[0], np.float64)[t[valid]].sum()) if wb else float(valid.sum())
    return np.full((1,) * tb.ndim, d)


def _unpack_grad(p: np.ndarray, *scale: np.ndarray, ax: int, C: int) -> np.ndarray:
    g = np.take(p, np.arange(C), axis=ax)
    if scale:
        g *= np.asarray(scale[0]).astype(g.dtype)
    return g


def _unpack_loss(p: np.ndarray, ax: int, C: int) -> np.ndarray:
    return np.take(p, C, axis=ax)


def _cross_entropy(c: Call) -> Any:
    _no_out(c)
    a = c.args
    x = _as_dask(a["logits"], "logits")
    _check_float(x, "logits")
    if x.ndim == 0:
        raise ValueError("logits must have at least one dimension (the class axis)")
    red = _check_reduction(a["reduction"])
    ax = normalize_axis(a["axis"], x.ndim)
    C = x.shape[ax]
    eps = float(a["label_smoothing"])
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {a['label_smoothing']!r}")
    ii = int(a["ignore_index"])
    be, grad = a["backend"], bool(a["return_grad"])
    w = a["weight"]
    wargs: list[Any] = []
    if w is not None:
        wd = w if isinstance(w, da.Array) else np.asarray(w)
        _check_float(wd, "weight")
        if wd.shape != (C,):
            raise ValueError(f"weight has shape {wd.shape}; it needs one entry per class, ({C},)")
        wargs = [da.asarray(wd).rechunk(-1)]
    t = a["target"]
    t = t if isinstance(t, da.Array) else np.asarray(t)
    rshape = x.shape[:ax] + x.shape[ax + 1 :]
    ind = _indices(x.ndim)
    rind = ind[:ax] + ind[ax + 1 :]
    rchunks = x.chunks[:ax] + x.chunks[ax + 1 :]
    if t.dtype.kind in "iu":
        if t.shape != rshape:
            raise ValueError(
                f"target has shape {t.shape}; class-index targets need logits' shape "
                f"without axis {ax}: {rshape}"
            )
        td = da.asarray(t).rechunk(rchunks) if t.ndim else da.asarray(t)
        tind = rind
        wpairs = [(wargs[0], (ind[ax],))] if wargs else []
        if red == "mean":
            dn = da.blockwise(
                _ce_denom, rind, td, rind, *[v for p in wpairs for v in (p[0], ("c",))],
                concatenate=True, ii=ii, C=C, dtype=np.float64, meta=_meta(len(rind), np.float64),
                adjust_chunks={i: (lambda n: 1) for i in rind},
            )  # fmt: skip
            denom: Any = dn.sum()
        else:
            denom = 1.0
    elif t.dtype.kind == "f":
        if t.shape != x.shape:
            raise ValueError(
                f"target has shape {t.shape}; probability targets need logits' shape {x.shape}"
            )
        td = _rechunk_like(da.asarray(t), x)
        tind = ind
        wpairs = [(wargs[0], (ind[ax],))] if wargs else []
        denom = float(math.prod(rshape))
    else:
        raise TypeError(
            f"target has dtype {t.dtype}; use integer class indices or floating probabilities"
        )
    if x.numblocks[ax] > 1:
        w1 = wargs[0] if wargs else None
        return _ce_split(x, td, t.dtype.kind != "f", ax, w1, ii, eps, red, grad, denom)
    wflat = [v for p in wpairs for v in p]
    kw = dict(op=c.func, ax=ax, ii=ii, eps=eps, be=be, concatenate=True)
    if not grad:
        rows = da.blockwise(
            _ce_block, rind, x, ind, td, tind, *wflat, grad=False, dtype=x.dtype,
            meta=_meta(len(rind), x.dtype), **kw,
        )  # fmt: skip
        return _reduce(rows, red, denom, x.dtype)
    packed = da.blockwise(
        _ce_block, ind, x, ind, td, tind, *wflat, grad=True, dtype=x.dtype,
        meta=_meta(x.ndim, x.dtype), adjust_chunks={ind[ax]: lambda n: n + 1}, **kw,
    )  # fmt: skip
    rows = packed.map_blocks(
        _unpack_loss, ax=ax, C=C, drop_axis=[ax], dtype=x.dtype, meta=_meta(len(rind), x.dtype)
    )
    meta = _meta(x.ndim, x.dtype)
    if red == "mean":
        scale = _grad_scale(denom)
        g = da.map_blocks(_unpack_grad, packed, scale, ax=ax, C=C, chunks=x.chunks,
                          dtype=x.dtype, meta=meta)  # fmt: skip
    else:
        g = packed.map_blocks(_unpack_grad, ax=ax, C=C, chunks=x.chunks, dtype=x.dtype, meta=meta)
    return _reduce(rows, red, denom, x.dtype), g


# cross-entropy with the class axis split into several chunks ------------------
#
# Per row, with lse from the tree-reduced row statistics and per-chunk partial
# sums (tree-summed over the class chunks):
#   index targets:  P = (x_t, sum_j w_j x_j)
#     loss = (1 - e) w_t (lse - x_t) + (e / C) (W lse - sum_j w_j x_j)
#     grad_j = p_j ((1 - e) w_t + (e / C) W) - (1 - e) w_t [j = t] - (e / C) w_j
#   probability targets (q' = (1 - e) q + e / C):  P = (sum_j w_j q'_j, sum_j w_j q'_j x_j)
#     loss = lse P0 - P1,   grad_j = p_j P0 - w_j q'_j
# with p_j = exp(x_j - m - log s). Ignored rows give 0 loss and 0 gradient.


def _w_slice(w: tuple[np.ndarray, ...], off: int, n: int) -> np.ndarray:
    return np.asarray(w[0], np.float64)[off : off + n] if w else np.ones(n)


def _qprime(qm: np.ndarray, eps: float, C: int) -> np.ndarray:
    return (1.0 - eps) * qm.astype(np.float64) + eps / C


def _ce_part(xb: np.ndarray, tb: np.ndarray, off: np.ndarray, *w: np.ndarray, ax: int,
             index: bool, ii: int, eps: float, C: int) -> np.ndarray:  # fmt: skip
    xm = np.moveaxis(xb, ax, -1)
    cb = xm.shape[-1]
    o = int(np.asarray(off).reshape(-1)[0])
    ws = _w_slice(w, o, cb)
    if index:
        tl = tb.astype(np.int64) - o
        inb = (tl >= 0) & (tl < cb) & (tb != ii)
        xt = np.take_along_axis(xm, np.clip(tl, 0, cb - 1)[..., None], -1)[..., 0]
        p0 = np.where(inb, xt.astype(np.float64), 0.0)
        p1 = (xm.astype(np.float64) * ws).sum(-1) if eps else np.zeros(xm.shape[:-1])
    else:
        wq = ws * _qprime(np.moveaxis(tb, ax, -1), eps, C)
        p0 = wq.sum(-1)
        p1 = (wq * xm).sum(-1)
    return np.expand_dims(np.stack([p0, p1], -1), ax)


def _w_row(t: np.ndarray, w: tuple[np.ndarray, ...], ii: int, C: int) -> tuple[Any, Any]:
    """(valid, w_t) per row of index targets; IndexError for one out of range."""
    t = t.astype(np.int64, copy=False)
    valid = t != ii
    bad = valid & ((t < 0) | (t >= C))
    if bad.any():
        v = t[bad].reshape(-1)[0]
        raise IndexError(f"target {v} is out of bounds for {C} classes (ignore_index={ii})")
    wt = np.asarray(w[0], np.float64)[np.where(valid, t, 0)] if w else np.ones(t.shape)
    return valid, np.where(valid, wt, 0.0)


def _ce_rows(st: np.ndarray, P: np.ndarray, tb: np.ndarray, *w: np.ndarray, ax: int,
             index: bool, ii: int, eps: float, C: int, rdtype: Any) -> np.ndarray:  # fmt: skip
    st = np.moveaxis(st, ax, -1)
    m, ls = st[..., 0], st[..., 1]
    with np.errstate(invalid="ignore"):
        lse = np.where(np.isposinf(m), np.inf, m + ls)
        if not index:
            return (lse * P[..., 0] - P[..., 1]).astype(rdtype)
        valid, wt = _w_row(tb, w, ii, C)
        W = float(np.sum(w[0], dtype=np.float64)) if w else float(C)
        loss = (1 - eps) * wt * (lse - P[..., 0]) + (eps / C) * (W * lse - P[..., 1])
    return np.where(valid, loss, 0.0).astype(rdtype)


def _ce_grad(xb: np.ndarray, st: np.ndarray, P: np.ndarray, tb: np.ndarray, off: np.ndarray,
             scale: np.ndarray, *w: np.ndarray, ax: int, index: bool, ii: int, eps: float,
             C: int) -> np.ndarray:  # fmt: skip
    cdt = _cdt(xb.dtype)
    xm = np.moveaxis(xb, ax, -1)
    stm = np.moveaxis(st, ax, -1)
    cb = xm.shape[-1]
    o = int(np.asarray(off).reshape(-1)[0])
    ws = _w_slice(w, o, cb)
    sc = float(scale)
    with np.errstate(invalid="ignore", over="ignore"):
        p = np.subtract(xm, stm[..., :1].astype(cdt), dtype=cdt)
        p -= stm[..., 1:].astype(cdt)
        np.exp(p, out=p)
        if index:
            valid, wt = _w_row(tb, w, ii, C)
            W = float(np.sum(w[0], dtype=np.float64)) if w else float(C)
            a = ((1 - eps) * wt + valid * (eps / C) * W) * sc
            g = p * a[..., None].astype(cdt)
            g -= (valid[..., None] * (eps / C * sc) * ws).astype(cdt)
            tl = tb.astype(np.int64) - o
            hit = valid & (tl >= 0) & (tl < cb)
            idx = np.nonzero(hit)
            g[(*idx, tl[idx])] -= ((1 - eps) * wt[idx] * sc).astype(cdt)
        else:
            g = p * (P[..., :1] * sc).astype(cdt)
            g -= (ws * _qprime(np.moveaxis(tb, ax, -1), eps, C) * sc).astype(cdt)
    return np.moveaxis(g, -1, ax).astype(xb.dtype, copy=False)


def _ce_split(x: Any, td: Any, index: bool, ax: int, w: Any, ii: int, eps: float, red: str,
              grad: bool, denom: Any) -> Any:  # fmt: skip
    """Cross-entropy over a class axis in several chunks (see the formulas above)."""
    C = x.shape[ax]
    ind = _indices(x.ndim)
    rind = ind[:ax] + ind[ax + 1 :]
    tind = rind if index else ind
    if not index:
        td = _rechunk_like(td, x)
    starts = np.cumsum((0,) + x.chunks[ax][:-1])
    off = da.from_array(starts, chunks=1)
    wargs = [w, ("c",)] if w is not None else []
    common = dict(ax=ax, index=index, ii=ii, eps=eps, C=C, concatenate=True)
    part = da.blockwise(
        _ce_part, ind + ("q",), x, ind, td, tind, off, (ind[ax],), *wargs,
        new_axes={"q": 2}, adjust_chunks={ind[ax]: lambda n: 1}, dtype=np.float64,
        align_arrays=False,
        meta=_meta(x.ndim + 1, np.float64), **common,
    )  # fmt: skip
    P = part.sum(axis=ax)  # rows + (2,)
    st = row_stats(x, ax)
    sind = tuple("s" if k == ax else i for k, i in enumerate(ind))
    rows = da.blockwise(
        _ce_rows, rind, st, sind, P, rind + ("q",), td, tind, *wargs, rdtype=x.dtype,
        dtype=x.dtype, meta=_meta(len(rind), x.dtype), **common,
    )  # fmt: skip
    loss = _reduce(rows, red, denom, x.dtype)
    if not grad:
        return loss
    scale = _grad_scale(denom) if red == "mean" else da.asarray(np.float64(1.0))
    g = da.blockwise(
        _ce_grad, ind, x, ind, st, sind, P, rind + ("q",), td, tind, off, (ind[ax],),
        scale, (), *wargs, dtype=x.dtype, meta=_meta(x.ndim, x.dtype), align_arrays=False,
        **common,
    )  # fmt: skip
    return loss, g


def _pointwise_loss_block(xb: np.ndarray, tb: np.ndarray, *ws: np.ndarray, op: Any,
                          names: tuple[str, ...], grad: bool, be: Any) -> np.ndarray:  # fmt: skip
    kw = dict(zip(names, ws, strict=True))
    r = op(xb, tb, **kw, reduction="none", return_grad=grad, backend=be)
    if not grad:
        return r
    loss, g = r
    return np.stack([loss.astype(g.dtype), g])


def _pointwise_loss(c: Call, xname: str, wnames: tuple[str, ...]) -> Any:
    _no_out(c)
    a = c.args
    red = _check_reduction(a["reduction"])
    x = _as_dask(a[xname], xname)
    _check_float(x, xname)
    t = _as_dask(a["target"], "target", like=x)
    _check_float(t, "target")
    if t.shape != x.shape:
        raise ValueError(f"target has shape {t.shape}; it must match the input's shape {x.shape}")
    t = _rechunk_like(t, x)
    ws, names = [], []
    for n in wnames:
        v = a.get(n)
        if v is None:
            continue
        vd = v if isinstance(v, da.Array) else np.asarray(v)
        _check_float(vd, n)
        try:
            b = da.broadcast_to(da.asarray(vd), x.shape)
        except ValueError:
            raise ValueError(f"{n} of shape {vd.shape} does not broadcast to {x.shape}") from None
        ws.append(b.rechunk(x.chunks))
        names.append(n)
    be, grad = a["backend"], bool(a["return_grad"])
    n_el = float(math.prod(x.shape))
    kw = dict(op=c.func, names=tuple(names), be=be, dtype=x.dtype)
    if not grad:
        loss = da.map_blocks(_pointwise_loss_block, x, t, *ws, grad=False,
                             meta=_meta(x.ndim, x.dtype), **kw)  # fmt: skip
        return _reduce(loss, red, n_el, x.dtype)
    packed = da.map_blocks(
        _pointwise_loss_block, x, t, *ws, grad=True, new_axis=[0],
        chunks=((2,), *x.chunks), meta=_meta(x.ndim + 1, x.dtype), **kw,
    )  # fmt: skip
    loss, g = packed[0], packed[1]
    if red == "mean" and n_el:
        g = g * np.asarray(1.0 / n_el, dtype=x.dtype)
    return _reduce(loss, red, n_el, x.dtype), g


# --------------------------------------------------------------------------- #


def apply(c: Call) -> Any:
    """Run call ``c`` (at least one Dask array among its arrays) lazily."""
    k = c.kind
    if k == "elementwise":
        _no_out(c)
        return _elementwise(c)
    if k == "elementwise_backward":
        _no_out(c)
        return _elementwise_backward(c)
    if k == "elementwise_backward_from_output":
        _no_out(c)
        return _elementwise_backward(c, ("grad_output", "y"))
    if k == "rrelu_backward":
        _no_out(c)
        return _elementwise_backward(c, ("grad_output", "slopes"))
    _no_out(c)
    if k == "softmax":
        return _softmax(c)
    if k == "logsumexp":
        return _logsumexp(c)
    if k == "softmax_backward":
        return _softmax_backward(c)
    if k == "prelu":
        return _prelu(c)
    if k == "prelu_backward":
        return _prelu_backward(c)
    if k == "rrelu":
        return _rrelu(c)
    if k == "maxout":
        return _maxout(c)
    if k == "maxout_backward":
        return _maxout_backward(c)
    if k == "cross_entropy":
        return _cross_entropy(c)
    if k == "binary_cross_entropy_with_logits":
        return _pointwise_loss(c, "logits", ("weight", "pos_weight"))
    if k == "mse_loss":
        return _pointwise_loss(c, "input", ())
    raise AssertionError(k)


__all__ = ["apply", "row_stats"]
