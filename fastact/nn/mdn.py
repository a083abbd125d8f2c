"""Mixture density network output head (Bishop 1994; Goodfellow et al. 2016, 6.2.2.4).

The network's last ``Linear`` produces ``z = [a | u | s]`` with ``m`` mixture logits
``a``, ``m*d`` means ``u`` and ``m*d`` scale pre-activations ``s``; the head reads

    pi = softmax(a),   mu = u (identity),   sigma = softplus(s) + sigma_min  (> 0)

and the negative log-likelihood of targets ``y`` (``(N, d)``, diagonal Gaussians):

    log N_c = -1/2 sum_k ((y_k - mu_ck) / sigma_ck)^2 - sum_k log sigma_ck - d/2 log(2 pi)
    L = -1/N sum_i logsumexp_c(log pi_c + log N_c)

With the posterior responsibilities ``r = softmax_c(log pi_c + log N_c)``:

    dL/da_c = (pi_c - r_c) / N
    dL/dmu_ck = -r_c (y_k - mu_ck) / sigma_ck^2 / N
    dL/dsigma_ck = r_c (1 / sigma_ck - (y_k - mu_ck)^2 / sigma_ck^3) / N
    dL/ds = dL/dsigma * sigmoid(s)  (``fastact.softplus_backward``)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import fastact
from fastact.nn.losses import _Loss
from fastact.nn.module import as_rng


class MixtureDensity(_Loss):
    """Head of ``components`` diagonal Gaussians in ``dim`` dimensions.

    ``outputs`` is the width the network's last ``Linear`` must have.
    ``forward(z, y)`` returns the mean NLL; ``backward()`` returns ``dL/dz``.
    """

    def __init__(self, components: int, dim: int = 1, sigma_min: float = 1e-3) -> None:
        if components < 1 or dim < 1:
            raise ValueError(f"components and dim must be >= 1, got {components}, {dim}")
        if not sigma_min >= 0:
            raise ValueError(f"sigma_min must be >= 0, got {sigma_min}")
        self.m, self.d, self.sigma_min = int(components), int(dim), float(sigma_min)
        self.outputs = self.m * (1 + 2 * self.d)
        self.grad: np.ndarray | None = None

    def _split(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if z.ndim != 2 or z.shape[1] != self.outputs:
            raise ValueError(f"MDN head expects (N, {self.outputs}) outputs, got {z.shape}")
        m, d = self.m, self.d
        a = z[:, :m]
        u = z[:, m : m + m * d].reshape(-1, m, d)
        s = z[:, m + m * d :].reshape(-1, m, d)
        return a, u, s

    def params(self, z: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pi (N, m), mu (N, m, d), sigma (N, m, d))`` for network outputs ``z``."""
        a, u, s = self._split(np.asarray(z))
        return fastact.softmax(a, axis=1), u.copy(), fastact.softplus(s) + self.sigma_min

    def forward(self, z: Any, y: Any) -> float:
        z = np.asarray(z)
        a, u, s = self._split(z)
        yy = np.asarray(y, dtype=z.dtype).reshape(len(z), self.d)
        logpi = fastact.log_softmax(a, axis=1)
        sigma = fastact.softplus(s) + self.sigma_min
        diff = yy[:, None, :] - u
        zsc = diff / sigma
        logn = (
            -0.5 * (zsc * zsc).sum(-1)
            - np.log(sigma).sum(-1)
            - 0.5 * self.d * math.log(2 * math.pi)
        )
        joint = logpi + logn
        lse = fastact.logsumexp(joint, axis=1)
        r = fastact.softmax(joint, axis=1)
        n = len(z)
        ga = (np.exp(logpi) - r) / n
        gmu = -r[:, :, None] * diff / (sigma * sigma) / n
        gsig = r[:, :, None] * (1.0 / sigma - diff * diff / sigma**3) / n
        gs = fastact.softplus_backward(gsig, s)
        self.grad = np.concatenate([ga, gmu.reshape(n, -1), gs.reshape(n, -1)], axis=1).astype(
            z.dtype, copy=False
        )
        return float(-lse.mean(dtype=np.float64))

    def sample(self, z: Any, rng: Any = None) -> np.ndarray:
        """One draw ``y ~ p(y | x)`` per row of ``z``: ``c ~ pi``, then ``N(mu_c, sigma_c)``."""
        g = as_rng(rng)
        pi, mu, sigma = self.params(z)
        cum = np.cumsum(pi.astype(np.float64), axis=1)
        u = g.random((len(pi), 1)) * cum[:, -1:]
        c = np.minimum((u > cum).sum(axis=1), self.m - 1)
        rows = np.arange(len(pi))
        return mu[rows, c] + sigma[rows, c] * g.standard_normal((len(pi), self.d))
