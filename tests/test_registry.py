"""Every table entry is complete, documented, generated and benchmarked."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import fastact
from fastact import _codegen, table

ROOT = Path(__file__).resolve().parent.parent


def test_generated_sources_are_fresh():
    stale = _codegen.stale()
    assert not stale, f"run `python -m fastact._codegen`: stale {stale}"


@pytest.mark.parametrize("entry", table.ENTRIES, ids=lambda e: e.name)
def test_entry_is_complete(entry):
    for attr in ("fwd", "deriv", "ref", "ref_deriv", "torch"):
        assert callable(getattr(entry, attr)), attr
    assert entry.formula and entry.derivative and entry.summary
    f = getattr(fastact, entry.name)
    b = getattr(fastact, entry.name + "_backward")
    assert entry.formula in f.__doc__
    assert entry.derivative in b.__doc__
    params = list(inspect.signature(f).parameters)
    assert params[: 1 + len(entry.params)] == ["x", *[p.name for p in entry.params]]
    assert inspect.signature(f).parameters["out"].kind is inspect.Parameter.KEYWORD_ONLY
    assert entry.name in fastact.__all__ and entry.name + "_backward" in fastact.__all__


@pytest.mark.parametrize("entry", table.ENTRIES, ids=lambda e: e.name)
def test_entry_has_readme_row(entry):
    readme = (ROOT / "README.md").read_text()
    assert f"| `{entry.name}` |" in readme, f"README has no row for {entry.name}"


def test_public_functions_have_docstrings():
    for name in fastact.__all__:
        obj = getattr(fastact, name)
        assert obj.__doc__, name


@pytest.mark.parametrize("entry", table.ENTRIES, ids=lambda e: e.name)
def test_entry_is_benchmarked(entry):
    from fastact import bench

    cases = bench.cases()
    assert entry.name in cases and entry.name + "_backward" in cases
    assert cases[entry.name].torch is not None, f"{entry.name} has no PyTorch baseline"


def _bad_silu_fwd(x, a, b):
    return swish_fwd(x, 1.0, b)  # noqa: F821 - never called, only read


def _bad_selu_fwd(x, a, b):
    return elu_fwd(x, SELU_ALPHA, b)  # noqa: F821


def _good_silu_fwd(x, a, b):
    return swish_fwd(x, _m.like(1.0, x), b)  # noqa: F821


def test_codegen_rejects_bare_constants_in_delegating_functions():
    """A Python float passed to another entry's function would make Cython compile the
    double specialization (and Numba promote float32 to float64): refused."""
    for bad in (_bad_silu_fwd, _bad_selu_fwd):
        with pytest.raises(ValueError, match=r"_m\.like"):
            _codegen._scalar_source(bad)
    assert "_m.like(1.0, x)" in _codegen._scalar_source(_good_silu_fwd)


def test_docstring_examples_run():
    """The examples in the public docstrings (generated ones included) are doctests."""
    import doctest

    import fastact._api
    import fastact.losses
    import fastact.rowwise
    import fastact.special

    for mod in (fastact._api, fastact.rowwise, fastact.losses, fastact.special):
        r = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
        assert r.failed == 0, f"{mod.__name__}: {r.failed} of {r.attempted} examples failed"
    assert doctest.testmod(fastact._api).attempted >= 2 * len(table.ENTRIES)
