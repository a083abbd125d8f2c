"""PyTorch custom operators (namespace ``fastact::``) that run fastact's kernels.

Every operation is a ``torch.library.custom_op`` with a fake implementation
(``register_fake``: shapes and dtypes only, so ``torch.compile(fullgraph=True)``
traces through it) and a derivative (``register_autograd``). The public functional
forms and ``nn.Module`` classes are in :mod:`fastact.torch`; import that module,
not this one.

* CPU tensors run the CPU kernels on zero-copy NumPy views
  (``tensor.detach().numpy()``; strided views are fine, the kernels take any
  layout) and write into a preallocated contiguous tensor through ``out=``.
* CUDA tensors go to the CUDA backend (``backend="cuda"``; torch tensors expose
  ``__cuda_array_interface__``), which launches on torch's current stream and
  returns torch tensors.
* float16 is computed in float32 by the kernels. bfloat16 has no NumPy dtype: a
  bfloat16 CPU tensor is converted to float32, computed, and the result converted
  back (the CUDA backend does the same on the device).

Results are always fresh contiguous tensors (a custom op may not return a view
of an input), on the input's device, in the input's dtype.
"""

# No ``from __future__ import annotations``: torch.library reads the annotations.

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import fastact
from fastact import table

Tensor = torch.Tensor
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------- #
# Tensor <-> NumPy                                                            #
# --------------------------------------------------------------------------- #


def check_tensor(t: Any, name: str = "input") -> Tensor:
    """``t`` checked to be a floating CPU or CUDA tensor (``TypeError`` otherwise)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in FLOATS:
        raise TypeError(
            f"{name} has dtype {t.dtype}; fastact.torch supports float16, bfloat16, "
            "float32 and float64 tensors"
        )
    if t.device.type not in ("cpu", "cuda", "meta"):
        raise TypeError(f"{name} is on device {t.device}; fastact.torch runs CPU and CUDA tensors")
    return t


def _cuda(t: Tensor) -> bool:
    return t.device.type == "cuda"


def host(t: Tensor) -> np.ndarray:
    """A NumPy view of a CPU tensor (no copy); bfloat16 goes through float32 (a copy)."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy()


def _host_opt(t: Tensor | None) -> np.ndarray | None:
    return None if t is None else host(t)


_NP_DTYPE = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


def _empty(shape: Any, like: Tensor) -> Tensor:
    """A contiguous result buffer for ``like``: float32 for bfloat16 (NumPy has none).

    On the CPU the memory comes from NumPy (``torch.from_numpy``): the C allocator
    hands a freed large block back to the next request, where torch's allocator
    returns it to the OS and page-faults it in again on every call (measured: a
    fresh 32 MiB torch buffer costs 2-3 times the kernel that fills it).
    """
    dt = torch.float32 if like.dtype == torch.bfloat16 else like.dtype
    if like.device.type == "cpu":
        return torch.from_numpy(np.empty(tuple(shape), dtype=_NP_DTYPE[dt]))
    return torch.empty(tuple(shape), dtype=dt, device=like.device)


def _back(t: Tensor, dtype: torch.dtype) -> Tensor:
    return t if t.dtype == dtype else t.to(dtype)


def _as_tensor(v: Any, like: Tensor) -> Tensor:
    """A CUDA backend result (a tensor, or a NumPy scalar for reduced losses) as a tensor."""
    if isinstance(v, torch.Tensor):
        return _back(v, like.dtype)
    return torch.as_tensor(np.asarray(v, dtype=np.float64)).to(like.device, like.dtype)


def norm_dim(dim: int, ndim: int) -> int:
    """``dim`` in ``[0, ndim)``, ``IndexError`` naming it when out of range."""
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be an integer, got {dim!r}")
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"dim {dim} is out of range for a tensor with {ndim} dimension(s)")
    return dim % max(ndim, 1)


def _without(shape: Any, ax: int, keep: bool = False) -> tuple[Any, ...]:
    s = tuple(shape)
    return s[:ax] + ((1,) if keep else ()) + s[ax + 1 :]


def _new(like: Tensor, shape: Any, dtype: torch.dtype | None = None) -> Tensor:
    return like.new_empty(tuple(shape), dtype=dtype or like.dtype)


# --------------------------------------------------------------------------- #
# Elementwise activations (one forward and one backward op per table entry)   #
# --------------------------------------------------------------------------- #

#: name -> (forward op, backward op)
ELEMENTWISE: dict[str, tuple[Any, Any]] = {}


def _make_elementwise(entry: table.Elementwise) -> None:
    name = entry.name
    fwd_np: Callable[..., Any] = getattr(fastact, name)
    bwd_np: Callable[..., Any] = getattr(fastact, name + "_backward")
    decl = "".join(f", {'str' if p.choices else 'float'} {p.name}" for p in entry.params)

    def forward(x: Tensor, *params: Any) -> Tensor:
        if _cuda(x):
            return _back(fwd_np(x, *params, backend="cuda"), x.dtype)
        out = _empty(x.shape, x)
        fwd_np(host(x), *params, out=out.numpy())
        return _back(out, x.dtype)

    def backward(grad_output: Tensor, x: Tensor, *params: Any) -> Tensor:
        g = _back(grad_output, x.dtype)
        if _cuda(x):
            return _back(bwd_np(g, x, *params, backend="cuda"), x.dtype)
        out = _empty(x.shape, x)
        bwd_np(host(g), host(x), *params, out=out.numpy())
        return _back(out, x.dtype)

    fop = torch.library.custom_op(
        f"fastact::{name}", forward, mutates_args=(), schema=f"(Tensor x{decl}) -> Tensor"
    )
    bop = torch.library.custom_op(
        f"fastact::{name}_backward",
        backward,
        mutates_args=(),
        schema=f"(Tensor grad_output, Tensor x{decl}) -> Tensor",
    )
    fop.register_fake(lambda x, *params: _new(x, x.shape))
    bop.register_fake(lambda g, x, *params: _new(x, x.shape))

    def setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        ctx.save_for_backward(inputs[0])
        ctx.params = tuple(inputs[1:])

    def grad(ctx: Any, grad_output: Tensor) -> tuple[Any, ...]:
        (x,) = ctx.saved_tensors
        return (bop(grad_output, x, *ctx.params),) + (None,) * len(ctx.params)

    fop.register_autograd(grad, setup_context=setup)
    ELEMENTWISE[name] = (fop, bop)


for _entry in table.ENTRIES:
    _make_elementwise(_entry)


# --------------------------------------------------------------------------- #
# Row-wise: softmax, log_softmax, logsumexp                                   #
# --------------------------------------------------------------------------- #


def _rowwise(fn: Callable[..., Any], x: Tensor, dim: int) -> Tensor:
    if _cuda(x):
        return _back(fn(x, dim, backend="cuda"), x.dtype)
    out = _empty(x.shape, x)
    fn(host(x), dim, out=out.numpy())
    return _back(out, x.dtype)


def _rowwise_backward(fn: Callable[..., Any], g: Tensor, y: Tensor, dim: int) -> Tensor:
    g = _back(g, y.dtype)
    if _cuda(y):
        return _back(fn(g, y, dim, backend="cuda"), y.dtype)
    out = _empty(y.shape, y)
    fn(host(g), host(y), dim, out=out.numpy())
    return _back(out, y.dtype)


@torch.library.custom_op("fastact::softmax", mutates_args=())
def softmax(x: Tensor, dim: int) -> Tensor:
    """y = exp(x - m) / sum(exp(x - m)) along ``dim``."""
    return _rowwise(fastact.softmax, x, dim)


@torch.library.custom_op("fastact::softmax_backward", mutates_args=())
def softmax_backward(grad_output: Tensor, y: Tensor, dim: int) -> Tensor:
    """grad_x = y (grad_output - sum(grad_output y)) from the output ``y``."""
    return _rowwise_backward(fastact.softmax_backward, grad_output, y, dim)


@torch.library.custom_op("fastact::log_softmax", mutates_args=())
def log_softmax(x: Tensor, dim: int) -> Tensor:
    """y = x - m - log(sum(exp(x - m))) along ``dim``."""
    return _rowwise(fastact.log_softmax, x, dim)


@torch.library.custom_op("fastact::log_softmax_backward", mutates_args=())
def log_softmax_backward(grad_output: Tensor, y: Tensor, dim: int) -> Tensor:
    """grad_x = grad_output - exp(y) sum(grad_output) from the output ``y``."""
    return _rowwise_backward(fastact.log_softmax_backward, grad_output, y, dim)


@torch.library.custom_op("fastact::logsumexp", mutates_args=())
def logsumexp(x: Tensor, dim: int, keepdim: bool) -> Tensor:
    """y = m + log(sum(exp(x - m))) along ``dim``; dy/dx = softmax(x)."""
    if _cuda(x):
        return _back(fastact.logsumexp(x, dim, keepdim, backend="cuda"), x.dtype)
    ax = norm_dim(dim, x.dim())
    out = _empty(_without(x.shape, ax, keepdim), x)
    fastact.logsumexp(host(x), ax, keepdim, out=out.numpy())
    return _back(out, x.dtype)


for _op in (softmax, log_softmax):
    _op.register_fake(lambda x, dim: _new(x, x.shape))
for _op in (softmax_backward, log_softmax_backward):
    _op.register_fake(lambda g, y, dim: _new(y, y.shape))


@logsumexp.register_fake
def _(x: Tensor, dim: int, keepdim: bool) -> Tensor:
    return _new(x, _without(x.shape, norm_dim(dim, x.dim()), keepdim))


def _save_output(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    ctx.save_for_backward(output)
    ctx.dim = inputs[1]


def _softmax_grad(ctx: Any, grad_output: Tensor) -> tuple[Any, ...]:
    (y,) = ctx.saved_tensors
    return softmax_backward(grad_output, y, ctx.dim), None


def _log_softmax_grad(ctx: Any, grad_output: Tensor) -> tuple[Any, ...]:
    (y,) = ctx.saved_tensors
    return log_softmax_backward(grad_output, y, ctx.dim), None


def _lse_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    ctx.save_for_backward(inputs[0])
    ctx.dim = norm_dim(inputs[1], inputs[0].dim())
    ctx.keepdim = inputs[2]


def _lse_grad(ctx: Any, grad_output: Tensor) -> tuple[Any, ...]:
    (x,) = ctx.saved_tensors
    g = grad_output if ctx.keepdim else grad_output.unsqueeze(ctx.dim)
    return softmax(x, ctx.dim) * g, None, None


softmax.register_autograd(_softmax_grad, setup_context=_save_output)
log_softmax.register_autograd(_log_softmax_grad, setup_context=_save_output)
logsumexp.register_autograd(_lse_grad, setup_context=_lse_setup)


# --------------------------------------------------------------------------- #
# PReLU, RReLU, maxout                                                        #
# --------------------------------------------------------------------------- #


@torch.library.custom_op("fastact::prelu", mutates_args=())
def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """y = x for x > 0, weight[c] x otherwise (c: index along dim 1; dim 0 for 1-d x)."""
    if _cuda(x):
        return _back(fastact.prelu(x, weight, backend="cuda"), x.dtype)
    out = _empty(x.shape, x)
    fastact.prelu(host(x), host(weight), out=out.numpy())
    return _back(out, x.dtype)


@torch.library.custom_op("fastact::prelu_backward", mutates_args=())
def prelu_backward(grad_output: Tensor, x: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """(grad_x, grad_weight): grad_output (x > 0) or weight[c] grad_output; sum of
    grad_output x over the elements with x <= 0 of each channel."""
    g = _back(grad_output, x.dtype)
    if _cuda(x):
        gx, gw = fastact.prelu_backward(g, x, weight, backend="cuda")
        return _back(gx, x.dtype), _as_tensor(gw, weight).reshape(weight.shape)
    out = _empty(x.shape, x)
    _, gw = fastact.prelu_backward(host(g), host(x), host(weight), out=out.numpy())
    return _back(out, x.dtype), torch.from_numpy(np.array(gw)).to(weight.dtype)


prelu.register_fake(lambda x, weight: _new(x, x.shape))
prelu_backward.register_fake(lambda g, x, w: (_new(x, x.shape), _new(w, w.shape)))


def _prelu_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    ctx.save_for_backward(*inputs)


def _prelu_grad(ctx: Any, grad_output: Tensor) -> tuple[Any, ...]:
    x, weight = ctx.saved_tensors
    gx, gw = prelu_backward(grad_output, x, weight)
    return gx, gw


prelu.register_autograd(_prelu_grad, setup_context=_prelu_setup)


@torch.library.custom_op("fastact::rrelu_train", mutates_args=())
def rrelu_train(x: Tensor, lower: float, upper: float, seed: int) -> tuple[Tensor, Tensor]:
    """(y, slopes): y = x for x >= 0, a x otherwise, a ~ U(lower, upper) per element
    (seeded); slopes holds a (1 where x >= 0) and is dy/dx."""
    if _cuda(x):
        y, s = fastact.rrelu(x, lower, upper, True, seed, backend="cuda")
        return _back(y, x.dtype), _back(s, x.dtype)
    out = _empty(x.shape, x)
    _, s = fastact.rrelu(host(x), lower, upper, True, seed, out=out.numpy())
    return _back(out, x.dtype), torch.from_numpy(s).to(x.dtype)


@torch.library.custom_op("fastact::rrelu_backward", mutates_args=())
def rrelu_backward(grad_output: Tensor, slopes: Tensor) -> Tensor:
    """grad_x = grad_output * slopes."""
    g = _back(grad_output, slopes.dtype)
    if _cuda(slopes):
        return _back(fastact.rrelu_backward(g, slopes, backend="cuda"), slopes.dtype)
    out = _empty(slopes.shape, slopes)
    fastact.rrelu_backward(host(g), host(slopes), out=out.numpy())
    return _back(out, slopes.dtype)


rrelu_train.register_fake(lambda x, lo, up, seed: (_new(x, x.shape), _new(x, x.shape)))
rrelu_backward.register_fake(lambda g, s: _new(s, s.shape))


def _rrelu_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
    ctx.mark_non_differentiable(output[1])
    ctx.set_materialize_grads(False)  # else autograd fills a zero gradient for the slopes
    ctx.save_for_backward(output[1])


def _rrelu_grad(ctx: Any, grad_y: Tensor | None, grad_slopes: Tensor | None) -> tuple[Any, ...]:
    if grad_y is None:  # y was not used (grads are not materialized)
        return (None,) * 4
    (slopes,) = ctx.saved_tensors
    return rrelu_backward(grad_y, slopes), None, None, None


rrelu_train.register_autograd(_rrelu_grad, setup_context=_rrelu_setup)


def _maxout_shape(x: Tensor, pieces: int, dim: int) -> tuple[Any, ...]:
    ax = norm_dim(dim, x.dim())
    if pieces < 1 or x.shape[ax] % pieces:
        raise ValueError(
            f"maxout: size {x.shape[ax]} along dim {ax} is not divisible by pieces={pieces}"
        )
    s = list(x.shape)
    s[ax] = s[ax] // pieces
    return tuple(s)


@torch.library.custom_op("fastact::maxout", mutates_args=())
def maxout(x: Tensor, pieces: int, dim: int) -> Tensor:
    """y[..., j] = max(x[..., j*pieces : (j+1)*pieces]) along ``dim``."""
    if _cuda(x):
        return _back(fastact.maxout(x, pieces, dim, backend="cuda"), x.dtype)
    out = _empty(_maxout_shape(x, pieces, dim), x)
    fastact.maxout(host(x), pieces, dim, out=out.numpy())
    return _back(out, x.dtype)


@torch.library.custom_op("fastact::maxout_backward", mutates_args=())
def maxout_backward(grad_output: Tensor, x: Tensor, pieces: int, dim: int) -> Tensor:
    """Each grad_output element goes to the first maximal input of its group."""
    g = _back(grad_output, x.dtype)
    if _cuda(x):
        return _back(fastact.maxout_backward(g, x, pieces, dim, backend="cuda"), x.dtype)
    out = _empty(x.shape, x)
    fastact.maxout_backward(host(g), host(x), pieces, dim, out=out.numpy())
    return _back(out, x.dtype)


maxout.register_fake(lambda x, pieces, dim: _new(x, _maxout_shape(x, pieces, dim)))
maxout_backward.register_fake(lambda g, x, pieces, dim: _new(x, x.shape))


def _maxout_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    ctx.save_for_backward(inputs[0])
    ctx.args = inputs[1:]


def _maxout_grad(ctx: Any, grad_output: Tensor) -> tuple[Any, ...]:
    (x,) = ctx.saved_tensors
    return maxout_backward(grad_output, x, *ctx.args), None, None


maxout.register_autograd(_maxout_grad, setup_context=_maxout_setup)


# --------------------------------------------------------------------------- #
# Losses                                                                      #
# --------------------------------------------------------------------------- #
#
# Each loss op returns ``(loss, grad)``: with ``compute_grad=True`` the fused kernel
# also writes the gradient of the reduced loss (of the sum of the per-element losses
# for "none") in the same pass, and the backward only scales it by the upstream
# gradient; otherwise ``grad`` is empty and the backward computes it.


@torch.library.custom_op("fastact::scale", mutates_args=())
def scale(grad: Tensor, scale: Tensor) -> Tensor:
    """grad * scale (``scale`` broadcasts): the upstream gradient applied to a fused
    loss gradient, in one NumPy pass into a NumPy-allocated result on the CPU."""
    if _cuda(grad) or grad.dtype == torch.bfloat16:
        return grad * scale.to(grad.dtype)
    out = _empty(grad.shape, grad)
    g = host(grad)
    np.multiply(g, host(scale).astype(g.dtype, copy=False), out=out.numpy())
    return out


@scale.register_fake
def _(grad: Tensor, scale: Tensor) -> Tensor:
    return _new(grad, grad.shape)


def _scaled(fused: Tensor, grad_loss: Tensor, reduction: str, axis: int) -> Tensor:
    """The fused gradient times the upstream gradient (broadcast along the class axis)."""
    return scale(fused, _row_scale(grad_loss, reduction, axis, 1))  # type: ignore[no-any-return]


def _target_np(t: Tensor) -> np.ndarray:
    return host(t) if t.is_floating_point() else t.detach().numpy()


def _loss_shape(shape: Any, reduction: str, ax: int | None = None) -> tuple[Any, ...]:
    if reduction == "none":
        return tuple(shape) if ax is None else _without(shape, ax)
    return ()


@torch.library.custom_op("fastact::cross_entropy", mutates_args=())
def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
    axis: int,
    compute_grad: bool,
) -> tuple[Tensor, Tensor]:
    """(loss, grad): softmax cross-entropy over ``axis`` (see fastact.cross_entropy)."""
    kw: dict[str, Any] = {
        "axis": axis,
        "ignore_index": ignore_index,
        "label_smoothing": label_smoothing,
    }
    if _cuda(input):
        w = None if weight is None else weight.detach().double().cpu().numpy()
        res = fastact.cross_entropy(
            input, target, weight=w, reduction=reduction, return_grad=compute_grad,
            backend="cuda", **kw,
        )  # fmt: skip
        loss, g = res if compute_grad else (res, _new(input, (0,)))
        return _as_tensor(loss, input), _back(g, input.dtype)
    loss = _empty(_loss_shape(input.shape, reduction, axis), input)
    g = _empty(input.shape if compute_grad else (0,), input)
    fastact.cross_entropy(
        host(input), _target_np(target), weight=_host_opt(weight), reduction=reduction,
        return_grad=compute_grad, grad_out=g.numpy() if compute_grad else None,
        out=loss.numpy(), **kw,
    )  # fmt: skip
    return _back(loss, input.dtype), _back(g, input.dtype)


@torch.library.custom_op("fastact::cross_entropy_backward", mutates_args=())
def cross_entropy_backward(
    grad_loss: Tensor,
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
    axis: int,
) -> Tensor:
    """d(sum(grad_loss * loss)) / d input (see fastact.cross_entropy_backward)."""
    kw: dict[str, Any] = {
        "axis": axis,
        "ignore_index": ignore_index,
        "label_smoothing": label_smoothing,
    }
    if _cuda(input):
        w = None if weight is None else weight.detach().double().cpu().numpy()
        g = fastact.cross_entropy_backward(
            _back(grad_loss, input.dtype), input, target, weight=w, reduction=reduction,
            backend="cuda", **kw,
        )  # fmt: skip
        return _back(g, input.dtype)
    out = _empty(input.shape, input)
    fastact.cross_entropy_backward(
        host(grad_loss), host(input), _target_np(target), weight=_host_opt(weight),
        reduction=reduction, out=out.numpy(), **kw,
    )  # fmt: skip
    return _back(out, input.dtype)


@cross_entropy.register_fake
def _(input, target, weight, ignore_index, reduction, label_smoothing, axis, compute_grad):  # type: ignore[no-untyped-def]
    return (
        _new(input, _loss_shape(input.shape, reduction, axis)),
        _new(input, input.shape if compute_grad else (0,)),
    )


@cross_entropy_backward.register_fake
def _(grad_loss, input, target, weight, ignore_index, reduction, label_smoothing, axis):  # type: ignore[no-untyped-def]
    return _new(input, input.shape)


def _loss_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
    """Save the tensor inputs, the fused gradient (when computed) and the rest."""
    ctx.mark_non_differentiable(output[1])
    ctx.set_materialize_grads(False)  # else autograd fills a zero gradient for output[1]
    tensors = [a if isinstance(a, torch.Tensor) or a is None else None for a in inputs]
    ctx.n_tensors = len(tensors)
    ctx.save_for_backward(*tensors, output[1] if inputs[-1] else None)
    ctx.args = inputs


def _row_scale(grad_loss: Tensor, reduction: str, ax: int, count: int) -> Tensor:
    """The upstream gradient as a per-element factor (broadcasting against the input)."""
    if reduction == "none":
        return grad_loss.unsqueeze(ax) if ax >= 0 else grad_loss
    return grad_loss / count if reduction == "mean" else grad_loss


def _ce_grad(ctx: Any, grad_loss: Tensor | None, _grad_grad: Tensor | None) -> tuple[Any, ...]:
    if grad_loss is None:  # the loss was not used (grads are not materialized)
        return (None,) * 8
    saved = ctx.saved_tensors
    input, target, weight = saved[0], saved[1], saved[2]
    fused = saved[-1]
    _, _, _, ignore_index, reduction, eps, axis, _ = ctx.args
    gi = gt = None
    if ctx.needs_input_grad[0]:
        if fused is not None:
            gi = _scaled(fused, grad_loss, reduction, axis)
        else:
            gi = cross_entropy_backward(
                grad_loss, input, target, weight, ignore_index, reduction, eps, axis
            )
    if ctx.needs_input_grad[1]:
        # probability targets: d loss / d q_j = -(1 - eps) w_j log_softmax(x)_j
        C = input.shape[axis]
        rows = input.numel() // C if C else 0
        ls = log_softmax(input, axis)
        if weight is not None:
            shape = [1] * input.dim()
            shape[axis] = C
            ls = ls * weight.reshape(shape)
        gt = -(1.0 - eps) * ls * _row_scale(grad_loss, reduction, axis, rows)
        gt = _back(gt, target.dtype)
    return gi, gt, None, None, None, None, None, None


cross_entropy.register_autograd(_ce_grad, setup_context=_loss_setup)


@torch.library.custom_op("fastact::binary_cross_entropy_with_logits", mutates_args=())
def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    reduction: str,
    compute_grad: bool,
) -> tuple[Tensor, Tensor]:
    """(loss, grad): l = w ((1 - t) x + (1 + (p - 1) t) log(1 + exp(-x)))."""
    if _cuda(input):
        res = fastact.binary_cross_entropy_with_logits(
            input, target, weight=weight, pos_weight=pos_weight, reduction=reduction,
            return_grad=compute_grad, backend="cuda",
        )  # fmt: skip
        loss, g = res if compute_grad else (res, _new(input, (0,)))
        return _as_tensor(loss, input), _back(g, input.dtype)
    loss = _empty(_loss_shape(input.shape, reduction), input)
    g = _empty(input.shape if compute_grad else (0,), input)
    fastact.binary_cross_entropy_with_logits(
        host(input), host(target), weight=_host_opt(weight), pos_weight=_host_opt(pos_weight),
        reduction=reduction, return_grad=compute_grad,
        grad_out=g.numpy() if compute_grad else None, out=loss.numpy(),
    )  # fmt: skip
    return _back(loss, input.dtype), _back(g, input.dtype)


@binary_cross_entropy_with_logits.register_fake
def _(input, target, weight, pos_weight, reduction, compute_grad):  # type: ignore[no-untyped-def]
    return (
        _new(input, _loss_shape(input.shape, reduction)),
        _new(input, input.shape if compute_grad else (0,)),
    )


def _bce_grad(ctx: Any, grad_loss: Tensor | None, _grad_grad: Tensor | None) -> tuple[Any, ...]:
    if grad_loss is None:  # the loss was not used (grads are not materialized)
        return (None,) * 6
    saved = ctx.saved_tensors
    input, target, weight, pos_weight = saved[0], saved[1], saved[2], saved[3]
    fused = saved[-1]
    reduction = ctx.args[4]
    scale = _row_scale(grad_loss, reduction, -1, input.numel())
    gi = gt = None
    if ctx.needs_input_grad[0]:
        if fused is None:
            _, fused = binary_cross_entropy_with_logits(
                input,
                target,
                weight,
                pos_weight,
                "sum" if reduction == "mean" else reduction,
                True,
            )
            gi = fused * scale
        else:
            gi = _scaled(fused, grad_loss, reduction, -1)
    if ctx.needs_input_grad[1]:
        # d l / d t = w (-x + (p - 1) log(1 + exp(-x)))
        x = input.detach()
        d = -x
        if pos_weight is not None:
            sp = torch.clamp_min(-x, 0) + torch.log1p(torch.exp(-x.abs()))
            d = d + (pos_weight - 1) * sp
        if weight is not None:
            d = d * weight
        gt = _back(d * scale, target.dtype)
    return gi, gt, None, None, None, None


binary_cross_entropy_with_logits.register_autograd(_bce_grad, setup_context=_loss_setup)


@torch.library.custom_op("fastact::mse_loss", mutates_args=())
def mse_loss(
    input: Tensor, target: Tensor, reduction: str, compute_grad: bool
) -> tuple[Tensor, Tensor]:
    """(loss, grad): l = (x - t)^2, dl/dx = 2 (x - t)."""
    if _cuda(input):
        res = fastact.mse_loss(
            input, target, reduction=reduction, return_grad=compute_grad, backend="cuda"
        )
        loss, g = res if compute_grad else (res, _new(input, (0,)))
        return _as_tensor(loss, input), _back(g, input.dtype)
    loss = _empty(_loss_shape(input.shape, reduction), input)
    g = _empty(input.shape if compute_grad else (0,), input)
    fastact.mse_loss(
        host(input), host(target), reduction=reduction, return_grad=compute_grad,
        grad_out=g.numpy() if compute_grad else None, out=loss.numpy(),
    )  # fmt: skip
    return _back(loss, input.dtype), _back(g, input.dtype)


@mse_loss.register_fake
def _(input, target, reduction, compute_grad):  # type: ignore[no-untyped-def]
    return (
        _new(input, _loss_shape(input.shape, reduction)),
        _new(input, input.shape if compute_grad else (0,)),
    )


def _mse_grad(ctx: Any, grad_loss: Tensor | None, _grad_grad: Tensor | None) -> tuple[Any, ...]:
    if grad_loss is None:  # the loss was not used (grads are not materialized)
        return (None,) * 4
    saved = ctx.saved_tensors
    input, target, fused = saved[0], saved[1], saved[-1]
    reduction = ctx.args[2]
    if fused is None:
        _, fused = mse_loss(input, target, "sum" if reduction == "mean" else reduction, True)
        g = fused * _row_scale(grad_loss, reduction, -1, input.numel())
    else:
        g = _scaled(fused, grad_loss, reduction, -1)
    gi = g if ctx.needs_input_grad[0] else None
    gt = _back(-g, target.dtype) if ctx.needs_input_grad[1] else None
    return gi, gt, None, None


mse_loss.register_autograd(_mse_grad, setup_context=_loss_setup)
