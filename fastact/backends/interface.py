"""The one interface every backend module satisfies.

The dispatch layer (:mod:`fastact._dispatch`, :mod:`fastact._contract` and the
public modules) converts and checks every input, then calls these raw kernels with
plain, checked, contiguous arrays of the compute dtype (float32 or float64; the CUDA
elementwise kernels also read float16) and checked parameters. Arrays are NumPy
arrays for the CPU backends (``numba``, ``cython``, ``numpy``) and device arrays for
``cuda``. ``tests/test_backends.py`` checks that every backend module has every
member with these parameter names, and runs each raw kernel against the NumPy
backend's.

Conventions: ``x``/``g``/``y``/``out`` are flat (elementwise) or (rows, classes)
C-contiguous arrays; loss kernels return the float64 per-row (or per-element)
losses and write the gradient, already multiplied by ``scale``, into ``grad`` when
``want_grad``. The pointwise losses (``bce_with_logits``, ``mse``) take ``per_element``:
True returns the n per-element losses; False (a reduced loss) may return fewer
float64 partial sums whose total is the losses' sum: one per block of
:data:`LOSS_BLOCK` elements (:func:`loss_slots`), so that no n-element float64 array
is written and read back. ``mode`` is :data:`MODE_SOFTMAX`, :data:`MODE_LOG_SOFTMAX` or
:data:`MODE_LOGSUMEXP`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

MODE_SOFTMAX = 0
MODE_LOG_SOFTMAX = 1
MODE_LOGSUMEXP = 2
#: elements per partial sum of a reduced pointwise loss (fixed: the partition, and so
#: the bits of the loss, do not depend on the thread count)
LOSS_BLOCK = 4096


def loss_slots(n: int, per_element: bool) -> int:
    """Length of a pointwise loss kernel's result over n elements: n per-element
    losses, or (reduced, above one block) one partial sum per LOSS_BLOCK elements."""
    return n if per_element or n <= LOSS_BLOCK else -(-n // LOSS_BLOCK)


@runtime_checkable
class Backend(Protocol):
    NAME: str

    def unary(self, name: str, x: Any, out: Any, a: Any, b: Any) -> None: ...

    def unary_backward(self, name: str, g: Any, x: Any, out: Any, a: Any, b: Any) -> None: ...

    def unary_backward_from_output(
        self, name: str, g: Any, y: Any, out: Any, a: Any, b: Any
    ) -> None: ...

    def prelu(self, x: Any, w: Any, out: Any, C: int, inner: int) -> None: ...

    def prelu_backward(self, g: Any, x: Any, w: Any, gx: Any, C: int, inner: int) -> Any: ...

    def rrelu_train(
        self, x: Any, out: Any, slopes: Any, lower: float, upper: float, seed: int
    ) -> None: ...

    def multiply(self, a: Any, b: Any, out: Any) -> None: ...

    def maxout(self, x: Any, out: Any, pieces: int) -> None: ...

    def maxout_backward(self, g: Any, x: Any, gx: Any, pieces: int) -> None: ...

    def softmax(self, x: Any, out: Any, mode: int, zero_masked: bool) -> None: ...

    def logsumexp(self, x: Any, out: Any) -> None: ...

    def softmax_backward(self, g: Any, y: Any, out: Any) -> None: ...

    def log_softmax_backward(self, g: Any, y: Any, out: Any) -> None: ...

    def cross_entropy_index(
        self, x: Any, target: Any, weight: Any, ignore_index: int, eps: float, scale: float,
        want_grad: bool, grad: Any,
    ) -> Any: ...  # fmt: skip

    def cross_entropy_prob(
        self, x: Any, q: Any, weight: Any, eps: float, scale: float, want_grad: bool, grad: Any
    ) -> Any: ...

    def bce_with_logits(
        self, x: Any, t: Any, w: Any, pw: Any, scale: float, want_grad: bool, grad: Any,
        per_element: bool,
    ) -> Any: ...  # fmt: skip

    def mse(
        self, x: Any, t: Any, scale: float, want_grad: bool, grad: Any, per_element: bool
    ) -> Any: ...


#: The member names of :class:`Backend` (what the conformance test checks).
MEMBERS: tuple[str, ...] = tuple(
    n for n in Backend.__dict__ if not n.startswith("_") and callable(Backend.__dict__[n])
)
