"""Every operation of the registry, on every backend, against its independent reference.

Driven by :data:`fastact.registry.OPS`: values (float16/32/64) against the float64
reference, the references against PyTorch, the documented errors (exact exception type
and message) on every backend, and the registry's own completeness: every public
function has an entry, every entry a README row and its kernels in every backend.
The CUDA backend runs in Numba's simulator (see conftest.py).
"""

from __future__ import annotations

import inspect
import zlib
from pathlib import Path

import numpy as np
import pytest

import fastact
from fastact import registry
from fastact._dispatch import compute_dtype
from fastact.registry import OPS

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = fastact.available_backends()
DTYPES = [np.float16, np.float32, np.float64]


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _leaves(r: object) -> list:
    return list(r) if isinstance(r, tuple) else [r]


def _host(a: object) -> np.ndarray:
    if hasattr(a, "copy_to_host"):
        return a.copy_to_host()  # type: ignore[attr-defined]
    return np.asarray(a)


def assert_matches(got: object, want: np.ndarray, rtol: float, atol: float, what: str) -> None:
    """NaN where the reference is NaN, infinities equal, finite values within tolerance."""
    g = _host(got).astype(np.float64)
    w = np.asarray(want, dtype=np.float64)
    assert g.shape == w.shape, f"{what}: shape {g.shape} != {w.shape}"
    nan_w, nan_g = np.isnan(w), np.isnan(g)
    assert np.array_equal(nan_w, nan_g), f"{what}: NaN at {np.argwhere(nan_w != nan_g)[:5]}"
    inf = np.isinf(w)
    assert np.array_equal(g[inf], w[inf]), f"{what}: infinities differ"
    # a finite float64 reference past the output type's overflow threshold rounds to
    # +-inf there (selu(3.2386224e38) in float32): inf of its sign is then the answer
    dt = _host(got).dtype
    over = np.zeros_like(inf)
    if dt.kind == "f" and dt.itemsize < 8:
        with np.errstate(over="ignore"):
            over = ~inf & np.isinf(w.astype(dt)) & (g == w.astype(dt))
    fin = ~nan_w & ~inf & ~over
    err = np.abs(g[fin] - w[fin])
    bound = atol + rtol * np.abs(w[fin])
    bad = err > bound
    if bad.any():
        i = np.argmax(err - bound)
        raise AssertionError(
            f"{what}: {bad.sum()} values off; worst got {g[fin][i]!r} want {w[fin][i]!r} "
            f"(rtol {rtol}, atol {atol})"
        )


def _tolerance(op: registry.OpInfo, sample: registry.Sample, dtype: np.dtype) -> tuple:
    tol = sample.tol or op.tol
    rtol, atol = tol[np.dtype(dtype).name]
    if op.kind.endswith("backward") or op.backward_of is not None:
        # grad_output * derivative: one more rounding than the derivative alone
        rtol += 2 * float(np.finfo(compute_dtype(dtype)).eps)
    # a subnormal result carries an absolute rounding error of its spacing
    atol = max(atol, 2 * float(np.finfo(np.dtype(dtype)).smallest_subnormal))
    if np.dtype(dtype) == np.float16:
        # float16 rounding of a float32 result: half an ulp of float16 on top
        rtol = max(rtol, 2**-11)
        atol = max(atol, 6e-8)
    return rtol, atol


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
def test_values_against_reference(op, backend, dtype):
    if backend == "cuda" and dtype != np.float32:
        # CI time: the simulator is slow; float16 and float64 device paths are covered by
        # tests/test_cuda.py and tests/test_backends.py
        pytest.skip("cuda simulator: float32 only here")
    dt = np.dtype(dtype)
    for k, s in enumerate(op.samples(_rng(op.name, dt.name), dt)):
        got = op.func(*s.args, **s.kwargs, backend=backend)
        if op.check is not None:
            op.check(got, *s.args, **s.kwargs)
            continue
        want = op.ref(*s.args, **s.kwargs)
        rtol, atol = _tolerance(op, s, dt)
        g_leaves, w_leaves = _leaves(got), _leaves(want)
        assert len(g_leaves) == len(w_leaves)
        for i, (g, w) in enumerate(zip(g_leaves, w_leaves, strict=True)):
            what = f"{op.name}[{backend},{dt.name}] sample {k} {s.note} output {i}"
            if isinstance(g, np.ndarray) and g.ndim and i == 0:
                assert g.dtype == dt, f"{what}: dtype {g.dtype}"
            if dt == np.float16 and np.asarray(g).dtype == np.float16:
                with np.errstate(over="ignore"):  # beyond float16's range: inf, as PyTorch
                    w = np.asarray(w).astype(np.float16)
            assert_matches(g, w, rtol, atol, what)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "cuda"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_rrelu_training_property(backend, dtype):
    op = registry.RRELU_TRAINING
    dt = np.dtype(dtype)
    for s in op.samples(_rng("rrelu_train", dt.name), dt):
        got = op.func(*s.args, **s.kwargs, backend=backend)
        assert op.check is not None
        op.check(got, *s.args, **s.kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
def test_errors_are_the_same_on_every_backend(op, backend):
    for e in op.errors():
        kwargs = {"backend": backend, **e.kwargs}
        with pytest.raises(e.exc, match=e.match):
            op.func(*e.args, **kwargs)


@pytest.mark.parametrize(
    "op",
    [o for o in OPS if o.torch_ref is not None and not o.kind.startswith("elementwise")],
    ids=lambda o: o.name,
)
def test_references_agree_with_pytorch(op):
    """The float64 references are themselves checked against PyTorch (the activation
    table's references are, with their documented differences at infinities, in
    tests/test_elementwise.py)."""
    pytest.importorskip("torch")
    dt = np.dtype(np.float64)
    for k, s in enumerate(op.samples(_rng(op.name, "torch"), dt)):
        kw = dict(s.kwargs)
        if kw.get("all_masked", "nan") != "nan" or kw.get("b") is not None:
            continue
        if kw.get("return_sign") or isinstance(kw.get("axis"), tuple) or kw.get("axis", 0) is None:
            continue
        if s.note == "NaN weight of an untargeted class":
            continue  # PyTorch's reduction multiplies 0 * NaN there
        if s.note == "log1p of a tiny sum":
            continue  # PyTorch rounds 1 + 4.2e-18 to 1: logsumexp([0, -40]) = 0
        x0 = s.args[0]
        if op.kind == "rowwise" and (np.asarray(x0).ndim == 0 or np.asarray(x0).size == 0):
            continue
        want = op.ref(*s.args, **kw)
        got = op.torch_ref(*s.args, **kw)
        for g, w in zip(_leaves(got), _leaves(want), strict=True):
            assert_matches(g, w, 1e-12, 1e-300, f"{op.name} sample {k}: torch vs reference")


def test_every_public_function_has_an_entry():
    public = set(registry.public_operations())
    entries = {op.name for op in OPS}
    assert public - entries == set(), f"public functions without an entry: {public - entries}"
    assert entries - public == set(), f"entries without a public function: {entries - public}"


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
def test_entry_is_complete(op):
    assert op.kind in registry.KINDS
    assert callable(op.ref) and callable(op.samples) and callable(op.errors)
    assert op.func.__doc__, f"{op.name} has no docstring"
    sig = inspect.signature(op.func)
    for name in ("out", "backend"):
        assert sig.parameters[name].kind is inspect.Parameter.KEYWORD_ONLY, (op.name, name)
    for a in op.arrays:
        assert a in sig.parameters, f"{op.name}: array argument {a!r} is not in its signature"
    assert set(op.tol) >= {"float16", "float32", "float64"}
    assert list(op.samples(_rng(op.name), np.dtype(np.float64))), f"{op.name} has no samples"
    assert list(op.errors()), f"{op.name} has no error inputs"
    if op.backward_of is not None:
        assert op.backward_of in registry.BY_NAME


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
def test_entry_has_readme_row(op):
    readme = (ROOT / "README.md").read_text()
    assert f"| `{op.readme}` |" in readme, f"README has no row for {op.readme}"


@pytest.mark.parametrize("backend", ["numba", "cython", "numpy"])
def test_every_entry_has_its_kernels_in_every_cpu_backend(backend):
    from fastact import _backends

    if backend not in BACKENDS:
        pytest.skip(f"{backend} unavailable here")
    mod = _backends.load(backend)
    missing = {k for op in OPS for k in op.kernels if not callable(getattr(mod, k, None))}
    assert not missing, f"{backend} lacks {missing}"


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
def test_entry_is_benchmarked(op):
    """Every registry entry names a benchmark case that exists (fastact bench, asv)."""
    from fastact import bench

    cases = bench.cases()
    assert op.bench in cases, f"{op.name}: no benchmark case {op.bench!r}"
    if op.torch_ref is not None and op.kind.startswith("elementwise"):
        assert cases[op.bench].torch is not None, f"{op.name} has no PyTorch baseline"
