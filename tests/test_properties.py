"""Hypothesis properties: every compiled backend against the float64 references on
arbitrary arrays (any shape up to 3-d, any float32/float64 value: NaN, +-inf,
subnormals), and the row-wise invariants (softmax rows sum to 1, logsumexp lies in
[max, max + log C])."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from test_ops import _tolerance, assert_matches

import fastact
from fastact import registry

COMPILED = [b for b in ("numba", "cython") if b in fastact.available_backends()]
ELEMENTWISE = [op for op in registry.OPS if op.kind == "elementwise"]
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def float_arrays(min_dims: int = 0, min_side: int = 0):
    return st.sampled_from([np.float32, np.float64]).flatmap(
        lambda dt: arrays(
            dtype=dt,
            shape=array_shapes(min_dims=min_dims, max_dims=3, min_side=min_side, max_side=17),
            elements=st.floats(width=32 if dt == np.float32 else 64),
        )
    )


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("op", ELEMENTWISE, ids=lambda o: o.name)
def test_elementwise_matches_reference(op, backend):
    @SETTINGS
    @given(x=float_arrays())
    def check(x):
        got = op.func(x, backend=backend)
        want = op.ref(x)
        rtol, atol = _tolerance(op, registry.Sample(args=(x,)), x.dtype)
        assert got.dtype == x.dtype and got.shape == x.shape
        assert_matches(got, want, rtol, atol, f"{op.name}[{backend}]")

    check()


@pytest.mark.parametrize("backend", COMPILED)
def test_softmax_rows_sum_to_one_and_logsumexp_bounds(backend):
    @SETTINGS
    @given(
        x=float_arrays(min_dims=1, min_side=1).map(
            lambda a: np.clip(np.nan_to_num(a), -1e30, 1e30).astype(a.dtype)
        )
    )
    def check(x):
        y = fastact.softmax(x, backend=backend)
        tol = 1e-5 if x.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(y.sum(-1, dtype=np.float64), 1.0, rtol=tol, atol=tol)
        lse = fastact.logsumexp(x, backend=backend).astype(np.float64)
        m = x.max(-1).astype(np.float64)
        assert np.all(lse >= m - np.abs(m) * tol)
        assert np.all(lse <= m + np.log(x.shape[-1]) + np.abs(m) * tol + tol)

    check()
