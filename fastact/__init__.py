"""fastact: compiled neural-network activation kernels for NumPy (and CUDA) arrays.

Every function takes keyword-only ``out=`` and ``backend=`` arguments; see
``README.md`` and the docstrings for the formulas and derivatives.
"""

from __future__ import annotations

from fastact._api import *  # noqa: F403
from fastact._api import __all__ as _api_all
from fastact._backends import BackendUnavailable, available_backends
from fastact._threads import get_num_threads, set_num_threads
from fastact.losses import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    cross_entropy_backward,
    mse_loss,
)
from fastact.rowwise import (
    log_softmax,
    log_softmax_backward,
    logsumexp,
    softmax,
    softmax_backward,
)
from fastact.special import (
    maxout,
    maxout_backward,
    prelu,
    prelu_backward,
    rrelu,
    rrelu_backward,
)

__version__ = "0.1.0"

__all__ = [
    *_api_all,
    "BackendUnavailable",
    "available_backends",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "cross_entropy_backward",
    "log_softmax",
    "log_softmax_backward",
    "logsumexp",
    "mse_loss",
    "softmax",
    "softmax_backward",
    "get_num_threads",
    "maxout",
    "maxout_backward",
    "prelu",
    "prelu_backward",
    "rrelu",
    "rrelu_backward",
    "set_num_threads",
]
