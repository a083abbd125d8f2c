"""pandas Series and DataFrames: the same type out, index (and columns) kept.

The values go through the NumPy path (``to_numpy()``; a DataFrame must be all
float16/32/64 columns of one dtype, else the usual ``TypeError``) and the result
is labelled again: same-shape results keep the index, columns and name; a
row-wise reduction over a DataFrame (``logsumexp``, the per-row cross-entropy)
is a Series on the remaining axis; a reduced loss is a NumPy scalar. On a
DataFrame ``axis=-1`` (or ``1``, ``"columns"``) runs across the columns of each
row, ``axis=0`` (``"index"``) down each column, as in pandas. Other pandas
arguments (targets, weights) are taken by position, not aligned by label.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fastact._adapt import KINDS, Call, normalize_axis

_TEMPLATE = {
    "elementwise_backward": "x",
    "elementwise_backward_from_output": "y",
    "softmax_backward": "y",
    "maxout_backward": "x",
}
_AXES = {"index": 0, "rows": 0, "columns": 1}


def _axis(axis: Any, tmpl: Any) -> Any:
    if isinstance(axis, str):
        if axis not in _AXES or (axis == "columns" and tmpl.ndim == 1):
            raise ValueError(f"axis {axis!r} is not an axis of a {type(tmpl).__name__}")
        return _AXES[axis]
    return axis


def _like(t: Any, data: Any) -> Any:
    if isinstance(t, pd.Series):
        return pd.Series(data, index=t.index, name=t.name)
    return pd.DataFrame(data, index=t.index, columns=t.columns)


def _without(t: Any, ax: int, data: Any, keep: bool = False) -> Any:
    """``data`` with axis ``ax`` of ``t`` reduced (or resized, ``keep``)."""
    if isinstance(t, pd.Series):
        return pd.Series(data, name=t.name) if keep else data
    other = t.columns if ax == 0 else t.index
    if not keep:
        return pd.Series(data, index=other)
    return pd.DataFrame(data, columns=other) if ax == 0 else pd.DataFrame(data, index=other)


def apply(c: Call) -> Any:
    """Run call ``c`` (a Series or DataFrame among its arrays) and label the result."""
    a = dict(c.args)
    names = KINDS[c.kind]
    tmpl = a.get(_TEMPLATE.get(c.kind, names[0]))
    if not isinstance(tmpl, pd.Series | pd.DataFrame):
        tmpl = next(v for n, v in c.arrays() if isinstance(v, pd.Series | pd.DataFrame))
    weight = a.get("weight")
    for n in names:
        v = a.get(n)
        if isinstance(v, pd.Series | pd.DataFrame):
            a[n] = v.to_numpy()
    if "axis" in a:
        a["axis"] = _axis(a["axis"], tmpl)
    res = c.call(**a)
    k = c.kind
    if k in ("elementwise", "elementwise_backward", "elementwise_backward_from_output",
             "softmax", "softmax_backward", "prelu", "rrelu_backward",
             "maxout_backward"):  # fmt: skip
        return _like(tmpl, res)
    if k == "rrelu":
        return tuple(_like(tmpl, r) for r in res) if isinstance(res, tuple) else _like(tmpl, res)
    if k == "prelu_backward":
        gi, gw = res
        if isinstance(weight, pd.Series):
            gw = pd.Series(gw, index=weight.index, name=weight.name)
        return _like(tmpl, gi), gw
    if k == "logsumexp":
        return _without(tmpl, normalize_axis(a["axis"], tmpl.ndim), res, bool(a["keepdims"]))
    if k == "maxout":
        return _without(tmpl, normalize_axis(a["axis"], tmpl.ndim), res, keep=True)
    grad = bool(a["return_grad"])
    loss, g = res if grad else (res, None)
    if a["reduction"] == "none":
        if k == "cross_entropy":
            loss = _without(tmpl, normalize_axis(a["axis"], tmpl.ndim), np.asarray(loss))
        else:
            loss = _like(tmpl, loss)
    return (loss, _like(tmpl, g)) if grad else loss


__all__ = ["apply"]
