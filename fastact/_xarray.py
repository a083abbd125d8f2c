"""xarray DataArrays: a DataArray in gives a DataArray out.

The data (NumPy or Dask) goes through the public function (so a Dask-backed
DataArray stays lazy) and the result is labelled again:

* same shape as the input (activations, gradients, softmax, the losses'
  ``reduction="none"`` for BCE/MSE and every loss gradient): the input's dims,
  coords, attrs and name;
* one dimension reduced (logsumexp, the per-row cross-entropy) or resized
  (maxout): the other dims and the coords that do not depend on that dimension;
* a reduced loss (``"mean"``/``"sum"``): a 0-d DataArray.

``axis=`` takes a dimension name as well as a number. Other DataArray arguments
(``grad_output``, ``target``, weights) are matched to the template by dimension
name (transposed to its order), not aligned by coordinate labels.
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from fastact._adapt import KINDS, Call, normalize_axis

#: the argument whose labels the result takes, where it is not the first array
_TEMPLATE = {
    "elementwise_backward": "x",
    "elementwise_backward_from_output": "y",
    "softmax_backward": "y",
    "maxout_backward": "x",
}


def _unwrap(v: Any, tmpl: xr.DataArray) -> Any:
    if not isinstance(v, xr.DataArray):
        return v
    if v is not tmpl and set(v.dims) <= set(tmpl.dims):
        v = v.transpose(*[d for d in tmpl.dims if d in v.dims])
    return v.data


def _axis(axis: Any, tmpl: xr.DataArray) -> Any:
    if isinstance(axis, str):
        if axis not in tmpl.dims:
            raise ValueError(f"axis {axis!r} is not a dimension of the input {tmpl.dims}")
        return tmpl.dims.index(axis)
    return axis


def _like(t: xr.DataArray, data: Any) -> xr.DataArray:
    return t.copy(data=data)


def _without(t: xr.DataArray, ax: int, data: Any, keep: bool = False) -> xr.DataArray:
    """``data`` labelled as ``t`` with dimension ``ax`` reduced (kept with size 1) or resized."""
    dim = t.dims[ax]
    coords = {k: v for k, v in t.coords.items() if dim not in v.dims}
    dims = t.dims if keep else t.dims[:ax] + t.dims[ax + 1 :]
    return xr.DataArray(data, dims=dims, coords=coords, attrs=t.attrs, name=t.name)


def _scalar(t: xr.DataArray, data: Any) -> xr.DataArray:
    coords = {k: v for k, v in t.coords.items() if not v.dims}
    return xr.DataArray(data, coords=coords, attrs=t.attrs, name=t.name)


def apply(c: Call) -> Any:
    """Run call ``c`` (a DataArray among its arrays) and label the result."""
    a = dict(c.args)
    names = KINDS[c.kind]
    first = _TEMPLATE.get(c.kind, names[0])
    tmpl = a.get(first)
    if not isinstance(tmpl, xr.DataArray):
        tmpl = next(v for n, v in c.arrays() if isinstance(v, xr.DataArray))
    weight_da = a.get("weight")
    for n in names:
        a[n] = _unwrap(a.get(n), tmpl)
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
        gw = weight_da.copy(data=gw) if isinstance(weight_da, xr.DataArray) else gw
        return _like(tmpl, gi), gw
    if k == "logsumexp":
        return _without(tmpl, normalize_axis(a["axis"], tmpl.ndim), res, bool(a["keepdims"]))
    if k == "maxout":
        return _without(tmpl, normalize_axis(a["axis"], tmpl.ndim), res, keep=True)
    # losses
    grad = bool(a["return_grad"])
    loss, g = res if grad else (res, None)
    if a["reduction"] != "none":
        loss = _scalar(tmpl, loss)
    elif k == "cross_entropy":
        loss = _without(tmpl, normalize_axis(a["axis"], tmpl.ndim), loss)
    else:
        loss = _like(tmpl, loss)
    return (loss, _like(tmpl, g)) if grad else loss


__all__ = ["apply"]
