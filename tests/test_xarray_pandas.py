"""xarray DataArrays and pandas objects keep their labels; other array-likes follow
the documented policy (fastact/_adapt.py)."""

from __future__ import annotations

import numpy as np
import pytest

import fastact

RNG = np.random.default_rng(3)


def ref_softmax(x, ax):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=ax, keepdims=True))
    return e / e.sum(axis=ax, keepdims=True)


def _close(a, b, tol=2e-6):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=tol, atol=tol, equal_nan=True)  # fmt: skip


# ----------------------------------------------------------------------------- xarray


@pytest.fixture
def arr():
    xr = pytest.importorskip("xarray")
    x = RNG.standard_normal((4, 6)).astype(np.float32)
    return xr.DataArray(
        x, dims=("batch", "cls"),
        coords={"batch": [10, 20, 30, 40], "cls": list("abcdef"), "tag": ("cls", np.arange(6)),
                "run": 7},
        attrs={"units": "logit"}, name="z",
    )  # fmt: skip


def _same_labels(a, b):
    assert a.dims == b.dims and a.attrs == b.attrs and a.name == b.name
    for k in b.coords:
        np.testing.assert_array_equal(a.coords[k].values, b.coords[k].values)


def test_xarray_elementwise_and_backward(arr):
    xr = pytest.importorskip("xarray")
    y = fastact.gelu(arr)
    assert isinstance(y, xr.DataArray)
    _same_labels(y, arr)
    _close(y.values, fastact.gelu(arr.values))
    g = arr.transpose("cls", "batch") * 0 + 1.0  # another order: matched by name
    gb = fastact.gelu_backward(g, arr)
    _same_labels(gb, arr)
    _close(gb.values, fastact.gelu_backward(np.ones((4, 6), np.float32), arr.values))


def test_xarray_rowwise_by_dim_name(arr):
    xr = pytest.importorskip("xarray")
    for dim, ax in (("cls", 1), ("batch", 0)):
        y = fastact.softmax(arr, axis=dim)
        _same_labels(y, arr)
        _close(y.values, ref_softmax(arr.values, ax))
        lse = fastact.logsumexp(arr, axis=dim)
        assert isinstance(lse, xr.DataArray) and lse.dims == tuple(d for d in arr.dims if d != dim)
        assert "run" in lse.coords and lse.attrs == arr.attrs
        assert ("tag" in lse.coords) == (dim != "cls")
        x64 = arr.values.astype(np.float64)
        _close(lse.values, np.log(np.exp(x64).sum(axis=ax)))
    with pytest.raises(ValueError, match="'nope'"):
        fastact.softmax(arr, axis="nope")
    sb = fastact.softmax_backward(arr, fastact.softmax(arr, axis="batch"), axis="batch")
    _same_labels(sb, arr)


def test_xarray_losses(arr):
    xr = pytest.importorskip("xarray")
    t = xr.DataArray(np.array([0, 5, 2, 3]), dims="batch")
    loss, g = fastact.cross_entropy(arr, t, axis="cls", reduction="none", return_grad=True)
    assert loss.dims == ("batch",) and list(loss.batch.values) == [10, 20, 30, 40]
    _same_labels(g, arr)
    x64 = arr.values.astype(np.float64)
    lp = x64 - np.log(np.exp(x64).sum(1, keepdims=True))
    _close(loss.values, -lp[np.arange(4), [0, 5, 2, 3]], 1e-5)
    m = fastact.cross_entropy(arr, t, axis="cls")
    assert isinstance(m, xr.DataArray) and m.ndim == 0
    _close(m.values, -lp[np.arange(4), [0, 5, 2, 3]].mean(), 1e-5)
    b = fastact.mse_loss(arr, arr * 0, reduction="none")
    _same_labels(b, arr)
    _close(b.values, arr.values.astype(np.float64) ** 2)


def test_xarray_dask_backed_stays_lazy(arr):
    pytest.importorskip("dask.array")
    xr = pytest.importorskip("xarray")
    lazy = arr.chunk({"batch": 2, "cls": 4})
    for y in (fastact.silu(lazy), fastact.softmax(lazy, axis="cls"),
              fastact.logsumexp(lazy, axis="cls")):  # fmt: skip
        assert isinstance(y, xr.DataArray) and y.chunks is not None
        assert type(y.data).__module__.startswith("dask")
    _close(fastact.softmax(lazy, axis="cls").values, ref_softmax(arr.values, 1))
    _same_labels(fastact.silu(lazy), arr)


def test_xarray_maxout_and_prelu(arr):
    mo = fastact.maxout(arr, 3, axis="cls")
    assert mo.dims == arr.dims and mo.shape == (4, 2) and "tag" not in mo.coords
    _close(mo.values, arr.values.reshape(4, 2, 3).max(-1))
    w = np.full(4, 0.25, np.float32)
    p = fastact.prelu(arr, w, axis="batch")
    _same_labels(p, arr)
    _close(p.values, np.where(arr.values > 0, arr.values, 0.25 * arr.values))


# ----------------------------------------------------------------------------- pandas


def test_pandas_series():
    pd = pytest.importorskip("pandas")
    s = pd.Series([-2.0, 0.5, 3.0], index=["a", "b", "c"], name="v")
    y = fastact.relu(s)
    assert isinstance(y, pd.Series) and list(y.index) == ["a", "b", "c"] and y.name == "v"
    _close(y.values, [0.0, 0.5, 3.0])
    _close(fastact.softmax(s).values, ref_softmax(s.values, 0))
    _close(fastact.logsumexp(s), np.log(np.exp(s.values).sum()))
    g = fastact.sigmoid_backward(pd.Series(np.ones(3), index=s.index), s)
    assert isinstance(g, pd.Series)
    sg = 1 / (1 + np.exp(-s.values))
    _close(g.values, sg * (1 - sg))
    with pytest.raises(TypeError, match="int64"):
        fastact.relu(pd.Series([1, 2, 3]))


def test_pandas_dataframe_rowwise_and_losses():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(RNG.standard_normal((5, 3)), index=list("vwxyz"), columns=["p", "q", "r"])
    sm = fastact.softmax(df)  # axis=-1: across the columns of each row
    assert isinstance(sm, pd.DataFrame) and list(sm.index) == list("vwxyz")
    assert list(sm.columns) == ["p", "q", "r"]
    _close(sm.values, ref_softmax(df.values, 1), 1e-12)
    _close(fastact.softmax(df, axis="index").values, ref_softmax(df.values, 0), 1e-12)
    lse = fastact.logsumexp(df, axis="columns")
    assert isinstance(lse, pd.Series) and list(lse.index) == list("vwxyz")
    lse0 = fastact.logsumexp(df, axis=0)
    assert list(lse0.index) == ["p", "q", "r"]
    t = pd.Series([0, 2, 1, 1, 0], index=df.index)
    loss, g = fastact.cross_entropy(df, t, reduction="none", return_grad=True)
    assert isinstance(loss, pd.Series) and list(loss.index) == list("vwxyz")
    assert isinstance(g, pd.DataFrame) and list(g.columns) == ["p", "q", "r"]
    lp = np.log(ref_softmax(df.values, 1))
    _close(loss.values, -lp[np.arange(5), t.values], 1e-12)
    m = fastact.cross_entropy(df, t)
    assert np.ndim(m) == 0
    _close(m, -lp[np.arange(5), t.values].mean(), 1e-12)
    b = fastact.binary_cross_entropy_with_logits(df, df * 0 + 1, reduction="none")
    assert isinstance(b, pd.DataFrame)
    _close(b.values, np.logaddexp(0, -df.values), 1e-12)
    mo = fastact.maxout(df.iloc[:, :2], 2)
    assert list(mo.index) == list("vwxyz") and mo.shape == (5, 1)


# ----------------------------------------------------------------------------- policy


class _HostArrayLike:
    """An array-like exposing only ``__array__`` (as JAX CPU arrays do)."""

    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return self.a if dtype is None else self.a.astype(dtype)


class _DLPackOnly:
    def __init__(self, a, device=(1, 0)):
        self.a, self.dev = a, device

    def __dlpack__(self, **kw):
        return self.a.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self.dev


class _FakeGPU:
    @property
    def __cuda_array_interface__(self):
        return {"shape": (3,), "typestr": "<f4", "data": (0, False), "version": 3}


def test_other_array_likes():
    x = np.array([-1.0, 0.5, 2.0], np.float32)
    y = fastact.relu(_HostArrayLike(x))
    assert type(y) is np.ndarray and y.dtype == np.float32
    _close(y, [0.0, 0.5, 2.0])
    y = fastact.relu(_DLPackOnly(x))
    assert type(y) is np.ndarray
    _close(y, [0.0, 0.5, 2.0])
    with pytest.raises(TypeError, match="device"):
        fastact.relu(_DLPackOnly(x, device=(2, 0)))
    with pytest.raises(TypeError, match="backend='cuda'"):
        fastact.relu(_FakeGPU(), backend="numpy")
    _close(fastact.relu([-1.0, 3.0]), [0.0, 3.0])  # lists as before
    _close(fastact.softmax(x=[0.0, 0.0]), [0.5, 0.5])  # arrays by keyword take the slow path


def test_jax_arrays_go_through_numpy():
    jnp = pytest.importorskip("jax.numpy")
    x = jnp.asarray([-1.0, 0.5, 2.0], dtype=jnp.float32)
    y = fastact.relu(x)
    assert type(y) is np.ndarray
    _close(y, [0.0, 0.5, 2.0])
