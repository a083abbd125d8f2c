"""The hostile-input matrix, generated from the registry (issue 14).

For every operation and backend, the first multi-dimensional sample is called again
with each floating array argument made hostile: read-only, byte-swapped, strided,
Fortran-ordered, a ``numpy.matrix``, a ``numpy.memmap``, a nested list; every result
must equal the float64 reference. ``out=`` aliasing each same-shaped input must give
the reference computed from the original values (NumPy's ufunc rule: the result is
as if the inputs were read before the output was written). Masked arrays and integer
arrays are refused with ``TypeError`` on every backend. The CUDA backend runs here in
the simulator.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_ops import BACKENDS, _leaves, _rng, _tolerance, assert_matches

from fastact import registry
from fastact.registry import OPS

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

DT = np.dtype(np.float64)


def _sample(op: registry.OpInfo) -> registry.Sample:
    best = None
    for s in op.samples(_rng(op.name, "hostile"), DT):
        a = s.args[0]
        ok = isinstance(a, np.ndarray) and a.ndim >= 1 and a.size and a.dtype.kind == "f"
        if ok and (best is None or a.ndim > best.args[0].ndim):
            best = s
    assert best is not None, op.name
    return best


def _memmap(a: np.ndarray, tmp_path) -> np.ndarray:
    m = np.memmap(tmp_path / f"m{id(a)}.dat", dtype=a.dtype, mode="w+", shape=a.shape)
    m[...] = a
    return m


def _strided(a: np.ndarray) -> np.ndarray:
    big = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), dtype=a.dtype)
    big[..., ::2] = a
    return big[..., ::2]


TRANSFORMS = {
    "readonly": lambda a, tmp: _ro(a),
    "byteswapped": lambda a, tmp: a.astype(a.dtype.newbyteorder()),
    "strided": lambda a, tmp: _strided(a),
    "fortran": lambda a, tmp: np.asfortranarray(a),
    "matrix": lambda a, tmp: np.asmatrix(a) if a.ndim == 2 else a,
    "memmap": _memmap,
    "list": lambda a, tmp: a.tolist(),
}


def _ro(a: np.ndarray) -> np.ndarray:
    b = a.copy()
    b.setflags(write=False)
    return b


def _is_float_array(a: object) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.ndim >= 1


def _check(op, s, got, what):
    if op.check is not None:
        return
    want = op.ref(*s.args, **s.kwargs)
    rtol, atol = _tolerance(op, s, DT)
    for g, w in zip(_leaves(got), _leaves(want), strict=True):
        assert_matches(g, w, rtol, atol, what)


#: A read-only array is a new Numba type: each kernel compiles once more for it (a few
#: seconds each here). The elementwise kernels come from one generated template, so
#: read-only runs on Numba for these representatives of it and for every other kind.
READONLY_ELEMENTWISE = ("relu", "softplus", "gelu")


def _compiles_alike(op, backend: str, transform: str) -> bool:
    return (
        transform == "readonly"
        and backend == "numba"
        and op.entry is not None
        and op.entry.name not in READONLY_ELEMENTWISE
    )


HOSTILE_CASES = [
    pytest.param(op, backend, transform, id=f"{op.name}-{backend}-{transform}")
    for op in OPS
    for backend in BACKENDS
    for transform in TRANSFORMS
    # host layouts reach the CUDA backend through the same host conversion
    if not (backend == "cuda" and transform not in ("byteswapped", "matrix"))
    and not _compiles_alike(op, backend, transform)
]


@pytest.mark.parametrize(("op", "backend", "transform"), HOSTILE_CASES)
def test_hostile_layouts(op, backend, transform, tmp_path):
    s = _sample(op)
    args = tuple(
        TRANSFORMS[transform](a, tmp_path) if _is_float_array(a) else a for a in s.args
    )
    kwargs = {
        k: (TRANSFORMS[transform](v, tmp_path) if _is_float_array(v) else v)
        for k, v in s.kwargs.items()
    }
    got = op.func(*args, **kwargs, backend=backend)
    _check(op, s, got, f"{op.name}[{backend}] {transform}")


def _single_output(op) -> bool:
    return op.name not in ("prelu_backward",) and op.kind != "loss"


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "cuda"])
@pytest.mark.parametrize("op", [o for o in OPS if _single_output(o)], ids=lambda o: o.name)
def test_out_aliasing_each_input(op, backend):
    s = _sample(op)
    want = op.func(*[a.copy() if isinstance(a, np.ndarray) else a for a in s.args],
                   **s.kwargs, backend=backend)  # fmt: skip
    if isinstance(want, tuple):
        return  # rrelu training returns (y, slopes): covered by its own tests
    for i, a in enumerate(s.args):
        if not (_is_float_array(a) and a.shape == np.shape(want) and a.dtype == want.dtype):
            continue
        args = [b.copy() if isinstance(b, np.ndarray) else b for b in s.args]
        r = op.func(*args, **s.kwargs, out=args[i], backend=backend)
        assert r is args[i]
        _check(op, s, r, f"{op.name}[{backend}] out aliasing argument {i}")
        # a partial overlap: out shifted by one element over the input (1-d views)
        if a.ndim == 1 and a.size > 1:
            buf = np.concatenate([a, [0.0]]).astype(a.dtype)
            args = [b.copy() if isinstance(b, np.ndarray) else b for b in s.args]
            args[i] = buf[:-1]
            out = buf[1:]
            op.func(*args, **s.kwargs, out=out, backend=backend)
            _check(op, s, out, f"{op.name}[{backend}] out shifted over argument {i}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
def test_masked_and_integer_inputs_are_refused(op, backend):
    s = _sample(op)
    masked = np.ma.masked_array(s.args[0], mask=np.zeros(s.args[0].shape, bool))
    with pytest.raises(TypeError, match="masked"):
        op.func(masked, *s.args[1:], **s.kwargs, backend=backend)
    ints = np.zeros(s.args[0].shape, dtype=np.int32)
    with pytest.raises(TypeError, match="int32"):
        op.func(ints, *s.args[1:], **s.kwargs, backend=backend)


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
def test_torch_tensors_numpy_cannot_take_are_refused_by_name(op):
    # a CPU tensor that requires grad, or a bfloat16 one, passed to the NumPy API: a
    # TypeError naming the argument and fastact.torch (torch's own RuntimeError or
    # "unsupported ScalarType" before); a plain CPU tensor is computed as before
    torch = pytest.importorskip("torch")
    s = _sample(op)
    x = torch.tensor(s.args[0])
    with pytest.raises(TypeError, match=rf"{op.arrays[0]} is a torch tensor that requires grad"):
        op.func(x.clone().requires_grad_(True), *s.args[1:], **s.kwargs)
    with pytest.raises(TypeError, match=rf"{op.arrays[0]} is a torch.bfloat16 tensor"):
        op.func(x.to(torch.bfloat16), *s.args[1:], **s.kwargs)


def test_cross_entropy_target_tensor_numpy_cannot_take_is_refused():
    torch = pytest.importorskip("torch")
    import fastact

    x = np.zeros((4, 5), np.float32)
    with pytest.raises(TypeError, match="target is a torch tensor that requires grad"):
        fastact.cross_entropy(x, torch.full((4, 5), 0.2).requires_grad_())
    with pytest.raises(TypeError, match=r"target is a torch\.bfloat16 tensor"):
        fastact.cross_entropy(x, torch.full((4, 5), 0.2, dtype=torch.bfloat16))
