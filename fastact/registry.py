"""The operation registry: one entry per public operation.

In the spirit of PyTorch's ``OpInfo`` and numbagg's ``COMPARISONS``, every public
function of fastact is one keyword-only :class:`OpInfo` here, carrying

* its kind (``elementwise``, ``elementwise_backward``, ``rowwise``, ``loss``,
  ``special``), the names of its array arguments and its parameter rules;
* ``ref``: an independent float64 NumPy reference (:mod:`fastact._references`, or
  the activation table's ``ref``/``ref_deriv``), called like the public function;
* ``torch_ref``: the same operation in PyTorch (``torch.nn.functional``), or None;
* tolerances per computation dtype, with per-sample overrides;
* ``samples(rng, dtype)``: sample inputs, and ``errors()``: bad inputs with the exact
  exception each must raise on every backend;
* ``kernels``: the raw kernels it needs from every backend (see
  :mod:`fastact.backends.interface`), ``bench``: its benchmark case in
  :func:`fastact.bench.cases`, and ``readme``: its row in README.md.

The test suites (``tests/test_ops.py``, ``tests/test_hostile.py``), the benchmark
coverage test and the README's operation table are driven from :data:`OPS`. The
elementwise activations are entries of the activation table
(:mod:`fastact.table`), from which their entries here are derived.

Adding a row-wise operation: write its public function (or a composition of an
existing kernel), add one entry below, run ``python -m fastact._codegen``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastact import _references as R
from fastact import table

#: Public names that are utilities, not operations (no entry, no benchmark).
UTILITIES: frozenset[str] = frozenset(
    {
        "BackendUnavailable",
        "available_backends",
        "get_num_threads",
        "set_num_threads",
        "show_config",
    }
)

KINDS = ("elementwise", "elementwise_backward", "rowwise", "loss", "special")

#: Tolerances (rtol, atol) per computation dtype for smooth operations.
#: float32 rows: exp(x - m) inherits the rounding of x - m (|x - m| <= 104 before
#: underflow), about 6e-6 relative for the smallest probabilities, as in PyTorch.
TOL_ROWS = {"float64": (1e-12, 1e-300), "float32": (6e-6, 1e-37), "float16": (2e-3, 1e-7)}
#: softmax backward: g_j - sum_k g_k y_k cancels, so the error is absolute in the row's scale
TOL_ROWS_BWD = {"float64": (1e-12, 1e-15), "float32": (6e-6, 2e-7), "float16": (2e-3, 2e-4)}
TOL_LOSS = {"float64": (1e-11, 1e-300), "float32": (2e-5, 1e-30), "float16": (4e-3, 1e-6)}
TOL_EXACT = table.TOL_EXACT


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One call: positional and keyword arguments (arrays in the sample's dtype)."""

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    #: overrides the entry's tolerance for this sample: {dtype name: (rtol, atol)}
    tol: Mapping[str, tuple[float, float]] | None = None
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class ErrorInput:
    """A bad call and the exception (type and message pattern) every backend raises."""

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    exc: type[Exception]
    match: str


@dataclass(frozen=True, kw_only=True)
class ParamRule:
    """A documented rule on one argument (the docs page and README list these)."""

    name: str
    rule: str


@dataclass(frozen=True, kw_only=True)
class OpInfo:
    name: str
    kind: str
    summary: str
    arrays: tuple[str, ...]
    ref: Callable[..., Any]
    samples: Callable[[np.random.Generator, np.dtype], Iterable[Sample]]
    errors: Callable[[], Iterable[ErrorInput]]
    kernels: tuple[str, ...]
    bench: str
    readme: str
    params: tuple[ParamRule, ...] = ()
    torch_ref: Callable[..., Any] | None = None
    tol: Mapping[str, tuple[float, float]] = field(default_factory=lambda: TOL_ROWS)
    #: a property check used instead of ``ref`` (random outputs: rrelu training)
    check: Callable[..., None] | None = None
    #: the forward operation of a backward entry
    backward_of: str | None = None
    #: the activation-table entry of an elementwise operation
    entry: table.Elementwise | None = None

    @property
    def func(self) -> Callable[..., Any]:
        import fastact

        return getattr(fastact, self.name)


# --------------------------------------------------------------------------- #
# Sample inputs                                                               #
# --------------------------------------------------------------------------- #

SPECIALS = (np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 20.0, -20.0, 1e4, -1e4, 3.0, -3.0)


def values(rng: np.random.Generator, dtype: np.dtype, shape: tuple[int, ...],
           specials: bool = True, scale: float = 3.0) -> np.ndarray:  # fmt: skip
    """Normal(0, scale) values with the special values mixed in."""
    n = int(np.prod(shape))
    v = rng.normal(0.0, scale, n)
    if specials and n:
        k = min(n, len(SPECIALS))
        v[rng.choice(n, k, replace=False)] = SPECIALS[:k]
    return v.reshape(shape).astype(dtype)


SHAPES = ((), (0, 5), (7,), (4, 33))


def _ew_params(e: table.Elementwise) -> list[tuple[Any, ...]]:
    """Default parameters, and one non-default set where the entry has parameters."""
    alt: dict[str, tuple[Any, ...]] = {
        "hardtanh": (-2.0, 0.5),
        "leaky_relu": (0.2,),
        "elu": (0.5,),
        "celu": (0.7,),
        "softplus": (2.0, 10.0),
        "swish": (1.5,),
        "gelu": ("tanh",),
    }
    #: edge parameters whose limits at +-inf are easy to get wrong (0 * inf)
    edge: dict[str, list[tuple[Any, ...]]] = {
        "leaky_relu": [(0.0,), (-0.5,)],
        "swish": [(0.0,), (-1.0,)],
        "elu": [(0.0,)],
        "softplus": [(-1.0, 20.0), (1e30, 20.0)],
    }
    return ([(), alt[e.name]] if e.name in alt else [()]) + edge.get(e.name, [])


def _ew_samples(e: table.Elementwise, backward: bool):
    def gen(rng: np.random.Generator, dtype: np.dtype) -> Iterator[Sample]:
        for params in _ew_params(e):
            for shape in SHAPES:
                x = values(rng, dtype, shape)
                if backward:
                    g = values(rng, dtype, shape, specials=False, scale=1.0)
                    yield Sample(args=(g, x, *params))
                else:
                    yield Sample(args=(x, *params))

    return gen


def _ew_errors(e: table.Elementwise, backward: bool):
    def gen() -> Iterator[ErrorInput]:
        x = np.zeros(3)
        pre = (x, x) if backward else (x,)
        yield ErrorInput(args=(np.arange(3),) * len(pre), exc=TypeError, match="dtype int64")
        yield ErrorInput(args=pre, kwargs={"out": np.zeros(4)}, exc=ValueError, match="shape")
        yield ErrorInput(args=pre, kwargs={"backend": "nope"}, exc=ValueError, match="nope")
        if backward:
            yield ErrorInput(args=(np.zeros(2), x), exc=ValueError, match="shape")
        for i, p in enumerate(e.params):
            bad: Any = "1.0" if p.choices is None else "bogus"
            exc = TypeError if p.choices is None else ValueError
            before = tuple(q.default for q in e.params[:i])
            yield ErrorInput(args=(*pre, *before, bad), exc=exc, match=p.name)
            if p.choices is None:
                yield ErrorInput(args=(*pre, *before, np.nan), exc=ValueError, match=p.name)
        if e.name == "hardtanh":
            yield ErrorInput(args=(*pre, 1.0, -1.0), exc=ValueError, match="must not exceed")
        if e.name == "celu":
            yield ErrorInput(args=(*pre, 0.0), exc=ValueError, match="alpha must not be 0")
        if e.name == "softplus":
            yield ErrorInput(args=(*pre, 0.0), exc=ValueError, match="beta must not be 0")
        yield ErrorInput(args=(*pre, *([0.5] * (len(e.params) + 1))), exc=TypeError,
                         match="positional argument")  # fmt: skip

    return gen


def _ew_ref(e: table.Elementwise, backward: bool):
    if backward:

        def ref_b(g: Any, x: Any, *params: Any) -> np.ndarray:
            a, b = e.encode(params)
            g64, x64 = np.asarray(g, np.float64), np.asarray(x, np.float64)
            with np.errstate(all="ignore"):
                return g64 * e.ref_deriv(x64, a, b)

        return ref_b

    def ref_f(x: Any, *params: Any) -> np.ndarray:
        a, b = e.encode(params)
        with np.errstate(all="ignore"):
            return np.asarray(e.ref(np.asarray(x, np.float64), a, b))

    return ref_f


def _ew_torch(e: table.Elementwise, backward: bool):
    def fwd(x: Any, *params: Any) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(np.asarray(x, np.float64))
        return e.torch(F, t, *params).numpy()

    def bwd(g: Any, x: Any, *params: Any) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(np.asarray(x, np.float64)).requires_grad_(True)
        e.torch(F, t, *params).backward(torch.from_numpy(np.asarray(g, np.float64)))
        assert t.grad is not None
        return t.grad.numpy()

    return bwd if backward else fwd


def _from_output_samples(e: table.Elementwise):
    """(grad_output, y) with y = f(x) rounded to the dtype: the outputs the forward
    gives, its limits and NaN included."""

    def gen(rng: np.random.Generator, dtype: np.dtype) -> Iterator[Sample]:
        for params in _ew_params(e):
            a, b = e.encode(params)
            for shape in SHAPES:
                x = values(rng, np.dtype(np.float64), shape)
                with np.errstate(all="ignore"):
                    y = np.asarray(e.ref(x, a, b)).astype(dtype)
                g = values(rng, dtype, shape, specials=False, scale=1.0)
                yield Sample(args=(g, y, *params))

    return gen


def _from_output_ref(e: table.Elementwise):
    fo = e.from_output
    assert fo is not None

    def ref(g: Any, y: Any, *params: Any) -> np.ndarray:
        # the formula in y evaluated in extended precision (x87's 64-bit significand
        # where NumPy has it): for float64 y, not the float64 kernel's own arithmetic
        a, b = e.encode(params)
        g64, yl = np.asarray(g, np.float64), np.asarray(y, np.longdouble)
        with np.errstate(all="ignore"):
            return g64 * np.asarray(fo.ref_deriv(yl, a, b), np.float64)

    return ref


def _from_output_torch(e: table.Elementwise):
    def bwd(g: Any, y: Any, *params: Any) -> np.ndarray:
        import torch

        op = getattr(torch.ops.aten, e.name + "_backward")  # (grad_output, output)
        t = torch.from_numpy
        return op(t(np.asarray(g, np.float64)), t(np.asarray(y, np.float64))).numpy()

    return bwd


def _from_output_op(e: table.Elementwise) -> OpInfo:
    """``NAME_backward_from_output(grad_output, y)``: the backward from the saved output."""
    assert e.from_output is not None
    name = e.name + "_backward_from_output"
    return OpInfo(
        name=name,
        kind="elementwise_backward",
        summary=(
            f"Gradient of {e.name} from its output y: "
            f"grad_output * ({e.from_output.derivative})"
        ),
        arrays=("grad_output", "y"),
        params=tuple(ParamRule(name=p.name, rule=p.doc) for p in e.params),
        ref=_from_output_ref(e),
        torch_ref=_from_output_torch(e),
        tol=e.tol,
        samples=_from_output_samples(e),
        errors=_ew_errors(e, True),
        kernels=("unary_backward_from_output",),
        bench=name,
        readme=name,
        backward_of=e.name,
        entry=e,
    )


def _elementwise_ops() -> list[OpInfo]:
    ops = []
    for e in table.ENTRIES:
        rules = tuple(ParamRule(name=p.name, rule=p.doc) for p in e.params)
        for backward in (False, True):
            name = e.name + ("_backward" if backward else "")
            ops.append(
                OpInfo(
                    name=name,
                    kind="elementwise_backward" if backward else "elementwise",
                    summary=(
                        f"Gradient of {e.name}: grad_output * ({e.derivative})"
                        if backward
                        else f"{e.summary} {e.formula}"
                    ),
                    arrays=("grad_output", "x") if backward else ("x",),
                    params=rules,
                    ref=_ew_ref(e, backward),
                    torch_ref=_ew_torch(e, backward),
                    tol=e.tol,
                    samples=_ew_samples(e, backward),
                    errors=_ew_errors(e, backward),
                    kernels=("unary_backward",) if backward else ("unary",),
                    bench=name,
                    readme=e.name,
                    backward_of=e.name if backward else None,
                    entry=e,
                )
            )
        if e.from_output is not None:
            ops.append(_from_output_op(e))
    return ops


# ----- row-wise ------------------------------------------------------------ #


def _row_inputs(rng: np.random.Generator, dtype: np.dtype) -> Iterator[tuple[np.ndarray, Any]]:
    """(x, axis) pairs: masked and infinite rows, several axes, 1-d, empty."""
    x = values(rng, dtype, (6, 9), specials=False)
    x[1] = -np.inf  # every class masked
    x[2, 3] = np.inf
    x[3, 4] = np.nan
    x[4, :4] = -np.inf
    x[5] = [1e4, -1e4, 0, 1, 2, 3, 4, 5, 6] if dtype != np.float16 else 1.0
    yield x, -1
    yield values(rng, dtype, (3, 5, 4), specials=False), 1
    yield values(rng, dtype, (3, 5, 4), specials=False), 0
    yield values(rng, dtype, (11,), specials=False), 0
    yield values(rng, dtype, (0, 4), specials=False), -1
    yield values(rng, dtype, (2, 200), specials=False, scale=10.0), -1


def _softmax_samples(rng: np.random.Generator, dtype: np.dtype) -> Iterator[Sample]:
    for x, axis in _row_inputs(rng, dtype):
        yield Sample(args=(x, axis))
        yield Sample(args=(x, axis), kwargs={"all_masked": "zero"})
    x = values(rng, dtype, (3, 4, 5), specials=False)
    yield Sample(args=(x,), kwargs={"axis": None})
    yield Sample(args=(x,), kwargs={"axis": (0, 2)})
    yield Sample(args=(x,), kwargs={"axis": (-1, 1)})
    yield Sample(args=(np.array([0.0, -40.0], dtype=dtype),), note="log1p of a tiny sum")
    yield Sample(args=(np.zeros((3, 0), dtype=dtype),), note="empty class axis")


def _lse_samples(rng: np.random.Generator, dtype: np.dtype) -> Iterator[Sample]:
    for x, axis in _row_inputs(rng, dtype):
        yield Sample(args=(x, axis))
        yield Sample(args=(x, axis, True))
    x = values(rng, dtype, (3, 4, 5), specials=False)
    yield Sample(args=(x,), kwargs={"axis": None})
    yield Sample(args=(x,), kwargs={"axis": (0, 2), "keepdims": True})
    b = rng.uniform(-1, 2, size=(3, 4, 5)).astype(dtype)
    yield Sample(args=(x,), kwargs={"axis": -1, "b": b, "return_sign": True})
    yield Sample(args=(x,), kwargs={"axis": (1, 2), "b": b[0, :, :1]})
    yield Sample(args=(np.array([0.0, -40.0], dtype=dtype),), note="log1p of a tiny sum")


def _row_backward_samples(log: bool, sign: float = 1.0):
    def gen(rng: np.random.Generator, dtype: np.dtype) -> Iterator[Sample]:
        for x, axis in _row_inputs(rng, dtype):
            x = np.where(np.isfinite(x), x, 0.0).astype(dtype)
            y = R.log_softmax(x, axis) if log else R.softmax(sign * x.astype(np.float64), axis)
            g = values(rng, dtype, x.shape, specials=False, scale=1.0)
            yield Sample(args=(g, y.astype(dtype), axis))
        x = values(rng, dtype, (3, 4, 5), specials=False)
        y = R.log_softmax(x, (0, 2)) if log else R.softmax(sign * x.astype(np.float64), (0, 2))
        g = values(rng, dtype, x.shape, specials=False, scale=1.0)
        yield Sample(args=(g, y.astype(dtype)), kwargs={"axis": (0, 2)})

    return gen


def _axis_errors(fn_args: tuple[Any, ...]) -> Callable[[], Iterator[ErrorInput]]:
    def gen() -> Iterator[ErrorInput]:
        yield ErrorInput(args=(*fn_args, 2), exc=np.exceptions.AxisError, match="axis 2")
        yield ErrorInput(args=(*fn_args, 1.5), exc=TypeError, match="axis")
        yield ErrorInput(args=(*fn_args, (0, 0)), exc=ValueError, match="repeated axis")
        yield ErrorInput(args=fn_args, kwargs={"out": np.zeros(5)}, exc=ValueError, match="shape")
        yield ErrorInput(args=(np.zeros((2, 3), int),) + fn_args[1:], exc=TypeError,
                         match="dtype int64")  # fmt: skip

    return gen


def _softmax_errors(fn_args: tuple[Any, ...]) -> Callable[[], Iterator[ErrorInput]]:
    base = _axis_errors(fn_args)

    def gen() -> Iterator[ErrorInput]:
        yield from base()
        yield ErrorInput(args=fn_args, kwargs={"all_masked": "yes"}, exc=ValueError,
                         match="all_masked")  # fmt: skip

    return gen


def _lse_errors() -> Iterator[ErrorInput]:
    x = np.zeros((2, 3))
    yield from _axis_errors((x,))()
    yield ErrorInput(args=(x,), kwargs={"b": np.ones(4)}, exc=ValueError, match="b has shape")
    yield ErrorInput(args=(x,), kwargs={"b": np.ones(3, int)}, exc=TypeError, match="b has dtype")


def _torch_softmax(fname: str):
    def f(x: Any, axis: Any = -1, all_masked: str = "nan") -> np.ndarray:
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(np.asarray(x, np.float64))
        return getattr(F, fname)(t, dim=axis).numpy()

    return f


def _torch_lse(x: Any, axis: Any = -1, keepdims: bool = False) -> np.ndarray:
    import torch

    return torch.logsumexp(torch.from_numpy(np.asarray(x, np.float64)), axis, keepdims).numpy()


def _row_ops() -> list[OpInfo]:
    x23 = (np.zeros((2, 3)),)
    g23 = (np.zeros((2, 3)), np.full((2, 3), 1 / 3))
    rule_axis = ParamRule(name="axis", rule="int, tuple of ints or None (all axes)")
    rule_masked = ParamRule(name="all_masked", rule="'nan' (PyTorch) or 'zero'")
    common: dict[str, Any] = dict(kind="rowwise", tol=TOL_ROWS)
    return [
        OpInfo(name="softmax", summary="exp(x_j - m) / sum_k exp(x_k - m)", arrays=("x",),
               params=(rule_axis, rule_masked), ref=R.softmax,
               torch_ref=_torch_softmax("softmax"), samples=_softmax_samples,
               errors=_softmax_errors(x23), kernels=("softmax",), bench="softmax",
               readme="softmax", **common),
        OpInfo(name="log_softmax", summary="x_j - m - log sum_k exp(x_k - m)", arrays=("x",),
               params=(rule_axis, rule_masked), ref=R.log_softmax,
               torch_ref=_torch_softmax("log_softmax"), samples=_softmax_samples,
               errors=_softmax_errors(x23), kernels=("softmax",), bench="log_softmax",
               readme="log_softmax", **common),
        OpInfo(name="softmin", summary="softmax(-x) (torch.softmin)", arrays=("x",),
               params=(rule_axis, rule_masked), ref=R.softmin,
               torch_ref=_torch_softmax("softmin"), samples=_softmax_samples,
               errors=_softmax_errors(x23), kernels=("softmax",), bench="softmin",
               readme="softmin", **common),
        OpInfo(name="logsumexp", summary="m + log sum_k b_k exp(x_k - m) (scipy.special)",
               arrays=("x", "b"),
               params=(rule_axis, ParamRule(name="keepdims", rule="bool"),
                       ParamRule(name="b", rule="weights broadcastable to x"),
                       ParamRule(name="return_sign", rule="bool: also return sign(sum)")),
               ref=R.logsumexp, torch_ref=_torch_lse, samples=_lse_samples,
               errors=_lse_errors, kernels=("logsumexp",), bench="logsumexp",
               readme="logsumexp", **common),
        OpInfo(name="softmax_backward", summary="y_j (g_j - sum_k g_k y_k)",
               arrays=("grad_output", "y"), params=(rule_axis,), ref=R.softmax_backward,
               samples=_row_backward_samples(False), errors=_axis_errors(g23),
               kernels=("softmax_backward",), bench="softmax_backward",
               readme="softmax_backward", backward_of="softmax", **{**common, "tol": TOL_ROWS_BWD}),
        OpInfo(name="log_softmax_backward", summary="g_j - exp(y_j) sum_k g_k",
               arrays=("grad_output", "y"), params=(rule_axis,),
               ref=R.log_softmax_backward, samples=_row_backward_samples(True),
               errors=_axis_errors(g23), kernels=("log_softmax_backward",),
               bench="log_softmax_backward", readme="log_softmax_backward",
               backward_of="log_softmax", **{**common, "tol": TOL_ROWS_BWD}),
        OpInfo(name="softmin_backward", summary="-y_j (g_j - sum_k g_k y_k)",
               arrays=("grad_output", "y"), params=(rule_axis,), ref=R.softmin_backward,
               samples=_row_backward_samples(False, -1.0), errors=_axis_errors(g23),
               kernels=("softmax_backward",), bench="softmin_backward",
               readme="softmin_backward", backward_of="softmin", **{**common, "tol": TOL_ROWS_BWD}),
    ]  # fmt: skip


# ----- losses -------------------------------------------------------------- #

REDUCTIONS = ("mean", "sum", "none")


def _ce_samples(rng: np.random.Generator, dtype: np.dtype) -> Iterator[Sample]:
    x = values(rng, dtype, (6, 7), specials=False)
    t = rng.integers(0, 7, 6)
    t[2] = -100
    w = rng.uniform(0.5, 2.0, 7).astype(dtype)
    for red in REDUCTIONS:
        yield Sample(args=(x, t), kwargs={"reduction": red, "return_grad": True})
        yield Sample(args=(x, t), kwargs={"reduction": red, "weight": w, "label_smoothing": 0.1,
                                          "return_grad": True})  # fmt: skip
    q = R.softmax(values(rng, np.dtype(np.float64), (6, 7), specials=False)).astype(dtype)
    yield Sample(args=(x, q), kwargs={"return_grad": True, "label_smoothing": 0.2})
    x3 = values(rng, dtype, (3, 5, 4), specials=False)
    t3 = rng.integers(0, 5, (3, 4))
    yield Sample(args=(x3, t3), kwargs={"axis": 1, "reduction": "none", "return_grad": True})
    yield Sample(args=(x, t.astype(np.uint8) % 7), kwargs={"reduction": "sum"})
    w_nan = w.copy()
    w_nan[(set(range(7)) - set(t.tolist())).pop() if len(set(t.tolist())) < 7 else 0] = np.nan
    tt = np.where(t == -100, 0, t)
    if not np.isnan(w_nan[tt]).any():  # NaN weight of a class no row targets
        yield Sample(args=(x, t), kwargs={"weight": w_nan, "return_grad": True},
                     note="NaN weight of an untargeted class")  # fmt: skip


def _ce_errors() -> Iterator[ErrorInput]:
    x = np.zeros((2, 3))
    t = np.array([0, 1])
    yield ErrorInput(args=(x, np.array([0, 3])), exc=IndexError, match="target 3")
    yield ErrorInput(args=(x, np.array([0, 2**63 + 1], np.uint64)), exc=IndexError,
                     match=str(2**63 + 1))  # fmt: skip
    yield ErrorInput(args=(x, t), kwargs={"label_smoothing": 5}, exc=ValueError,
                     match="label_smoothing")  # fmt: skip
    yield ErrorInput(args=(x, t), kwargs={"label_smoothing": "0.1"}, exc=TypeError,
                     match="label_smoothing")  # fmt: skip
    yield ErrorInput(args=(x, t), kwargs={"reduction": "avg"}, exc=ValueError, match="reduction")
    yield ErrorInput(args=(x, t), kwargs={"weight": np.ones(4)}, exc=ValueError, match="weight")
    yield ErrorInput(args=(x, t), kwargs={"out": np.zeros(2)}, exc=ValueError, match="shape")
    yield ErrorInput(args=(x, t), kwargs={"ignore_index": 1.5}, exc=TypeError,
                     match="ignore_index")  # fmt: skip
    yield ErrorInput(args=(x, t.astype(bool)), exc=TypeError, match="target has dtype bool")
    yield ErrorInput(args=(x, np.array([0, 1, 1])), exc=ValueError, match="target has shape")
    yield ErrorInput(args=(np.zeros(()), np.array(0)), exc=ValueError, match="dimension")


def _ce_backward_samples(rng: np.random.Generator, dtype: np.dtype) -> Iterator[Sample]:
    x = values(rng, dtype, (6, 7), specials=False)
    t = rng.integers(0, 7, 6)
    t[1] = -100
    for red in REDUCTIONS:
        gl = (rng.normal(size=6) if red == "none" else np.array(1.7)).astype(dtype)
        yield Sample(args=(gl, x, t), kwargs={"reduction": red})
    x3 = values(rng, dtype, (3, 5, 4), specials=False)
    q = R.softmax(values(rng, np.dtype(np.float64), (3, 5, 4), specials=False), 1)
    gl3 = rng.normal(size=(3, 4)).astype(dtype)
    yield Sample(args=(gl3, x3, q.astype(dtype)), kwargs={"axis": 1, "reduction": "none",
                                                         "label_smoothing": 0.1})  # fmt: skip


def _ce_backward_errors() -> Iterator[ErrorInput]:
    x = np.zeros((2, 3))
    t = np.array([0, 1])
    yield ErrorInput(args=(np.ones(3), x, t), kwargs={"reduction": "none"}, exc=ValueError,
                     match="grad_loss has shape")  # fmt: skip
    yield ErrorInput(args=(np.ones(2), x, t), exc=ValueError, match="scalar")
    yield ErrorInput(args=(np.ones(2), x, t), kwargs={"reduction": "all"}, exc=ValueError,
                     match="reduction")  # fmt: skip
    yield ErrorInput(args=(np.float64(1.0), x, np.array([0, 3])), exc=IndexError,
                     match="target 3")  # fmt: skip


def _ce_torch(logits: Any, target: Any, *, axis: int = -1, weight: Any = None,
              ignore_index: int = -100, label_smoothing: float = 0.0, reduction: str = "mean",
              return_grad: bool = False) -> Any:  # fmt: skip
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.moveaxis(np.asarray(logits, np.float64), axis, 1).copy())
    x.requires_grad_(True)
    t = np.asarray(target)
    tt = torch.from_numpy(t.astype(np.int64)) if t.dtype.kind in "iu" else torch.from_numpy(
        np.moveaxis(t.astype(np.float64), axis, 1).copy())  # fmt: skip
    w = None if weight is None else torch.from_numpy(np.asarray(weight, np.float64))
    loss = F.cross_entropy(x, tt, weight=w, ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=label_smoothing)  # fmt: skip
    if not return_grad:
        return loss.detach().numpy()
    loss.sum().backward()
    assert x.grad is not None
    return loss.detach().numpy(), np.moveaxis(x.grad.numpy(), 1, axis)


def _pointwise_samples(bce: bool):
    def gen(rng: np.random.Generator, dtype: np.dtype) -> Iterator[Sample]:
        for shape in ((0,), (7,), (5, 6)):
            x = values(rng, dtype, shape, specials=False)
            t64 = rng.uniform(size=shape) if bce else values(rng, np.dtype(np.float64), shape)
            t = t64.astype(dtype)
            for red in REDUCTIONS:
                yield Sample(args=(x, t), kwargs={"reduction": red, "return_grad": True})
            if bce and len(shape) == 2:
                w = rng.uniform(0.5, 2, shape[-1]).astype(dtype)
                pw = rng.uniform(0.5, 3, shape[-1]).astype(dtype)
                yield Sample(args=(x, t), kwargs={"weight": w, "pos_weight": pw,
                                                  "return_grad": True})  # fmt: skip
        xs = np.array([np.inf, -np.inf, 1e4, -1e4, 0.0], dtype=dtype)
        ts = np.array([1.0, 0.0, 0.5, 0.5, 1.0], dtype=dtype)
        yield Sample(args=(xs, ts), kwargs={"reduction": "none"}, note="infinite logits")

    return gen


def _pointwise_errors(bce: bool) -> Callable[[], Iterator[ErrorInput]]:
    def gen() -> Iterator[ErrorInput]:
        x = np.zeros((2, 3))
        yield ErrorInput(args=(x, np.zeros(3)), exc=ValueError, match="target has shape")
        yield ErrorInput(args=(x, np.zeros((2, 3), int)), exc=TypeError, match="dtype int64")
        yield ErrorInput(args=(x, x), kwargs={"reduction": "max"}, exc=ValueError,
                         match="reduction")  # fmt: skip
        yield ErrorInput(args=(x, x), kwargs={"grad_out": np.zeros((2, 3))}, exc=ValueError,
                         match="return_grad")  # fmt: skip
        yield ErrorInput(args=(x, x), kwargs={"return_grad": True, "grad_out": np.zeros(6)},
                         exc=ValueError, match="grad_out has shape")  # fmt: skip
        if bce:
            yield ErrorInput(args=(x, x), kwargs={"pos_weight": np.ones(4)}, exc=ValueError,
                             match="pos_weight")  # fmt: skip

    return gen


def _bce_torch(logits: Any, target: Any, *, weight: Any = None, pos_weight: Any = None,
               reduction: str = "mean", return_grad: bool = False) -> Any:  # fmt: skip
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.asarray(logits, np.float64).copy()).requires_grad_(True)
    t = torch.from_numpy(np.asarray(target, np.float64))
    w = None if weight is None else torch.from_numpy(np.asarray(weight, np.float64))
    pw = None if pos_weight is None else torch.from_numpy(np.asarray(pos_weight, np.float64))
    loss = F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw,
                                              reduction=reduction)  # fmt: skip
    if not return_grad:
        return loss.detach().numpy()
    loss.sum().backward()
    assert x.grad is not None
    return loss.detach().numpy(), x.grad.numpy()


def _mse_torch(input: Any, target: Any, *, reduction: str = "mean",
               return_grad: bool = False) -> Any:  # fmt: skip
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.asarray(input, np.float64).copy()).requires_grad_(True)
    t = torch.from_numpy(np.asarray(target, np.float64))
    loss = F.mse_loss(x, t, reduction=reduction)
    if not return_grad:
        return loss.detach().numpy()
    loss.sum().backward()
    assert x.grad is not None
    return loss.detach().numpy(), x.grad.numpy()


def _loss_ops() -> list[OpInfo]:
    common: dict[str, Any] = dict(kind="loss", tol=TOL_LOSS)
    red = ParamRule(name="reduction", rule="'mean', 'sum' or 'none'")
    return [
        OpInfo(name="cross_entropy",
               summary="softmax cross-entropy through log-sum-exp, gradient fused",
               arrays=("logits", "target", "weight"),
               params=(red, ParamRule(name="label_smoothing", rule="real in [0, 1]"),
                       ParamRule(name="ignore_index", rule="integer"),
                       ParamRule(name="target", rule="integers in [0, C) or ignore_index, "
                                                     "or floating probabilities")),
               ref=R.cross_entropy, torch_ref=_ce_torch, samples=_ce_samples,
               errors=_ce_errors, kernels=("cross_entropy_index", "cross_entropy_prob"),
               bench="cross_entropy", readme="cross_entropy", **common),
        OpInfo(name="cross_entropy_backward",
               summary="d(sum grad_loss * loss)/d logits (per-row grad_loss for 'none')",
               arrays=("grad_loss", "logits", "target", "weight"), params=(red,),
               ref=R.cross_entropy_backward, samples=_ce_backward_samples,
               errors=_ce_backward_errors,
               kernels=("cross_entropy_index", "cross_entropy_prob"),
               bench="cross_entropy_backward", readme="cross_entropy_backward",
               backward_of="cross_entropy", **common),
        OpInfo(name="binary_cross_entropy_with_logits",
               summary="w [p t softplus(-x) + (1 - t) softplus(x)]",
               arrays=("logits", "target", "weight", "pos_weight"), params=(red,),
               ref=R.binary_cross_entropy_with_logits, torch_ref=_bce_torch,
               samples=_pointwise_samples(True), errors=_pointwise_errors(True),
               kernels=("bce_with_logits",), bench="binary_cross_entropy_with_logits",
               readme="binary_cross_entropy_with_logits", **common),
        OpInfo(name="mse_loss", summary="(x - t)^2", arrays=("input", "target"), params=(red,),
               ref=R.mse_loss, torch_ref=_mse_torch, samples=_pointwise_samples(False),
               errors=_pointwise_errors(False), kernels=("mse",), bench="mse_loss",
               readme="mse_loss", **common),
    ]  # fmt: skip


# ----- prelu, rrelu, maxout ------------------------------------------------ #


def _prelu_samples(backward: bool):
    def gen(rng: np.random.Generator, dtype: np.dtype) -> Iterator[Sample]:
        cases = [((4, 3, 5), 1, 3), ((4, 3, 5), 1, 1), ((6,), 1, 6), ((5, 2), 0, 5), ((), 1, 1)]
        for shape, axis, C in cases:
            x = values(rng, dtype, shape)
            w = rng.uniform(-0.5, 0.5, C).astype(dtype)
            if backward:
                g = values(rng, dtype, shape, specials=False, scale=1.0)
                yield Sample(args=(g, x, w, axis))
            else:
                yield Sample(args=(x, w, axis))

    return gen


def _prelu_errors(backward: bool) -> Callable[[], Iterator[ErrorInput]]:
    def gen() -> Iterator[ErrorInput]:
        x = np.zeros((2, 3, 4))
        pre = (x, x) if backward else (x,)
        yield ErrorInput(args=(*pre, np.ones(2)), exc=ValueError, match="weight has 2")
        yield ErrorInput(args=(*pre, np.ones((3, 1))), exc=ValueError, match="1-d")
        yield ErrorInput(args=(*pre, np.ones(3, int)), exc=TypeError, match="weight has dtype")
        yield ErrorInput(args=(*pre, np.ones(3), 5), exc=np.exceptions.AxisError,
                         match="axis 5")  # fmt: skip

    return gen


def _rrelu_check(result: Any, x: np.ndarray, *args: Any, **kw: Any) -> None:
    lower = args[0] if args else kw.get("lower", 1 / 8)
    upper = args[1] if len(args) > 1 else kw.get("upper", 1 / 3)
    y, s = result
    x64, s64 = np.asarray(x, np.float64), np.asarray(s, np.float64)
    neg = x64 < 0
    assert np.all(s64[~neg & ~np.isnan(x64)] == 1.0)
    tol = 1e-3 if x.dtype == np.float16 else 1e-6
    assert np.all((s64[neg] >= lower - tol) & (s64[neg] <= upper + tol))
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(np.asarray(y, np.float64), (x64 * s64).astype(x.dtype),
                                   rtol=tol, atol=0)  # fmt: skip


def _rrelu_samples(rng: np.random.Generator, dtype: np.dtype) -> Iterator[Sample]:
    for shape in SHAPES:
        x = values(rng, dtype, shape, specials=False)
        yield Sample(args=(x,))
        yield Sample(args=(x, 0.1, 0.3))


def _rrelu_train_samples(rng: np.random.Generator, dtype: np.dtype) -> Iterator[Sample]:
    for shape in SHAPES:
        x = values(rng, dtype, shape, specials=False)
        yield Sample(args=(x, 0.1, 0.3), kwargs={"training": True, "seed": 7})


def _rrelu_errors() -> Iterator[ErrorInput]:
    x = np.zeros(3)
    yield ErrorInput(args=(x, 0.5, 0.1), exc=ValueError, match="lower <= upper")
    yield ErrorInput(args=(x, "0.1", 0.3), exc=TypeError, match="lower")
    yield ErrorInput(args=(x, np.nan, 0.3), exc=ValueError, match="lower")
    yield ErrorInput(args=(x,), kwargs={"training": True, "seed": "s"}, exc=TypeError,
                     match="seed")  # fmt: skip


def _maxout_samples(backward: bool):
    def gen(rng: np.random.Generator, dtype: np.dtype) -> Iterator[Sample]:
        for shape, k, axis in (((4, 12), 3, -1), ((6, 5, 2), 2, 0), ((8,), 4, 0), ((0, 6), 2, 1)):
            x = values(rng, dtype, shape, specials=not backward)
            if backward:
                oshape = list(shape)
                oshape[axis] //= k
                g = values(rng, dtype, tuple(oshape), specials=False, scale=1.0)
                yield Sample(args=(g, x, k, axis))
            else:
                yield Sample(args=(x, k, axis))

    return gen


def _maxout_errors(backward: bool) -> Callable[[], Iterator[ErrorInput]]:
    def gen() -> Iterator[ErrorInput]:
        x = np.zeros((2, 6))
        pre = (np.zeros((2, 3)), x) if backward else (x,)
        yield ErrorInput(args=(*pre, 4), exc=ValueError, match="not divisible")
        yield ErrorInput(args=(*pre, 0), exc=ValueError, match="pieces")
        yield ErrorInput(args=(*pre, 2.0), exc=TypeError, match="pieces")
        yield ErrorInput(args=(*pre, True), exc=TypeError, match="pieces")

    return gen


def _special_ops() -> list[OpInfo]:
    common: dict[str, Any] = dict(kind="special", tol=TOL_ROWS)
    axis = ParamRule(name="axis", rule="int: the channel axis (0 for 1-d x)")
    w = ParamRule(name="weight", rule="1-d: one slope, or one per channel")
    bounds = ParamRule(name="lower, upper", rule="finite reals, lower <= upper")
    pieces = ParamRule(name="pieces", rule="positive integer dividing x.shape[axis]")
    return [
        OpInfo(name="prelu", summary="x for x > 0, w_c x otherwise", arrays=("x", "weight"),
               params=(w, axis), ref=R.prelu, samples=_prelu_samples(False),
               errors=_prelu_errors(False), kernels=("prelu",), bench="prelu",
               readme="prelu", **common),
        OpInfo(name="prelu_backward", summary="(grad_input, grad_weight)",
               arrays=("grad_output", "x", "weight"), params=(w, axis), ref=R.prelu_backward,
               samples=_prelu_samples(True), errors=_prelu_errors(True),
               kernels=("prelu_backward",), bench="prelu_backward", readme="prelu_backward",
               backward_of="prelu", **common),
        OpInfo(name="rrelu", summary="x for x >= 0, a x otherwise, a ~ U(lower, upper)",
               arrays=("x",), params=(bounds,), ref=R.rrelu, samples=_rrelu_samples,
               errors=_rrelu_errors, kernels=("unary", "rrelu_train"), bench="rrelu_train",
               readme="rrelu", **common),
        OpInfo(name="rrelu_backward", summary="grad_output * slopes",
               arrays=("grad_output", "slopes"), ref=R.rrelu_backward,
               samples=lambda rng, dt: (Sample(args=(values(rng, dt, s), values(rng, dt, s)))
                                        for s in SHAPES),
               errors=lambda: iter([ErrorInput(args=(np.zeros(2), np.zeros(3)),
                                               exc=ValueError, match="shape")]),
               kernels=("multiply",), bench="rrelu_backward", readme="rrelu_backward",
               backward_of="rrelu", **common),
        OpInfo(name="maxout", summary="max over groups of `pieces` along axis", arrays=("x",),
               params=(pieces,), ref=R.maxout, samples=_maxout_samples(False),
               errors=_maxout_errors(False), kernels=("maxout",), bench="maxout",
               readme="maxout", **common),
        OpInfo(name="maxout_backward", summary="grad to the first maximum of each group",
               arrays=("grad_output", "x"), params=(pieces,), ref=R.maxout_backward,
               samples=_maxout_samples(True), errors=_maxout_errors(True),
               kernels=("maxout_backward",), bench="maxout_backward",
               readme="maxout_backward", backward_of="maxout", **common),
    ]  # fmt: skip


#: The rrelu training mode: random slopes, checked by a property, not a reference.
RRELU_TRAINING = OpInfo(
    name="rrelu", kind="special", summary="training mode", arrays=("x",), ref=R.rrelu,
    samples=_rrelu_train_samples, errors=lambda: iter(()), kernels=("rrelu_train",),
    bench="rrelu_train", readme="rrelu", check=_rrelu_check,
)  # fmt: skip


OPS: tuple[OpInfo, ...] = tuple(_elementwise_ops() + _row_ops() + _loss_ops() + _special_ops())
BY_NAME: dict[str, OpInfo] = {op.name: op for op in OPS}


def public_operations() -> list[str]:
    """The public names that must have an entry (``fastact.__all__`` less utilities)."""
    import fastact

    return [n for n in fastact.__all__ if n not in UTILITIES]
