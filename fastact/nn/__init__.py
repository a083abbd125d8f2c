"""Small NumPy neural-network modules built on the fastact kernels.

``forward`` caches what ``backward`` needs; ``backward(grad_output)`` accumulates
parameter gradients and returns the input gradient. See ``fastact demo`` for the
experiments of the lecture notes built from these pieces.
"""

from fastact.nn.diagnostics import RELU_FAMILY, activation_stats, gradient_norms
from fastact.nn.init import (
    calculate_gain,
    constant_,
    init_network,
    kaiming_,
    normal_,
    xavier_,
)
from fastact.nn.layers import (
    ACTIVATION_CLASSES,
    CELU,
    ELU,
    GELU,
    SELU,
    Activation,
    BatchNorm1d,
    Dropout,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    Identity,
    LeakyReLU,
    Linear,
    LogSigmoid,
    Maxout,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sequential,
    Sigmoid,
    SiLU,
    Softplus,
    Softsign,
    Swish,
    Tanh,
)
from fastact.nn.losses import MSELoss, SoftmaxCrossEntropy
from fastact.nn.mdn import MixtureDensity
from fastact.nn.module import Module, Parameter
from fastact.nn.optim import SGD, clip_grad_norm

__all__ = [
    "ACTIVATION_CLASSES",
    "CELU",
    "ELU",
    "GELU",
    "RELU_FAMILY",
    "SELU",
    "SGD",
    "Activation",
    "BatchNorm1d",
    "Dropout",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "Identity",
    "LeakyReLU",
    "Linear",
    "LogSigmoid",
    "MSELoss",
    "Maxout",
    "Mish",
    "MixtureDensity",
    "Module",
    "PReLU",
    "Parameter",
    "ReLU",
    "ReLU6",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "Softplus",
    "Softsign",
    "Swish",
    "Tanh",
    "activation_stats",
    "calculate_gain",
    "clip_grad_norm",
    "constant_",
    "gradient_norms",
    "init_network",
    "kaiming_",
    "normal_",
    "xavier_",
]  # fmt: skip
