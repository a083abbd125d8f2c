"""``fastact demo``: the experiments of the lecture notes, run on fastact.nn.

Data: scikit-learn's handwritten digits (1797 8x8 images, 10 classes, shipped
inside the package: no download), pixels scaled to [0, 1], a fixed split of 1400
training and 397 test images. Every experiment has fixed seeds, writes
``<name>.png`` and ``<name>.json`` under ``--out`` and prints a short summary;
``summary.json`` collects each experiment's claims with whether they held.

1. ``convergence``: the same MLP with ReLU, leaky ReLU, ELU, tanh and sigmoid
   (each with its recommended initialization): training loss and error per epoch,
   epochs to reach a target training error.
2. ``vanishing``: a 10-hidden-layer sigmoid network against a ReLU one: per-layer
   weight-gradient norms at initialization and during training.
3. ``dead_relu``: the fraction of units that are never active on the training set
   after training at a normal and at a too-high learning rate, ReLU against
   leaky ReLU and ELU.
4. ``init``: a 10-layer tanh network under zero, too-small, too-large, Xavier and
   He initialization (and ReLU under Xavier and He): per-layer activation
   statistics, and the loss after a few epochs.
5. ``mdn``: a mixture density network on the inverse problem of Bishop (1994)
   (``x = t + 0.3 sin(2 pi t) + noise``, predict ``t`` from ``x``), against a
   network trained with MSE (one Gaussian), with samples drawn from it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import fastact.nn as nn

EXPERIMENTS = ("convergence", "vanishing", "dead_relu", "init", "mdn")
RELU_FAMILY = ("relu", "leaky_relu", "elu")


# --------------------------------------------------------------------------- data, training


def load_digits_data(seed: int = 0) -> dict[str, np.ndarray]:
    """Digits scaled to [0, 1] (float32) with a fixed 1400 / 397 train/test split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - environment
        raise SystemExit("fastact demo needs scikit-learn (pip install 'fastact[demo]')") from None
    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    idx = np.random.default_rng(seed).permutation(len(X))
    tr, te = idx[:1400], idx[1400:]
    return {"Xtr": X[tr], "ytr": y[tr], "Xte": X[te], "yte": y[te]}


def mlp(act: str, depth: int, width: int, n_in: int = 64, n_out: int = 10, seed: int = 0,
        init: str | None = "auto") -> nn.Sequential:  # fmt: skip
    """``depth`` hidden layers of ``width`` units with activation ``act``.

    ``init="auto"``: He for the ReLU family, Xavier with ``calculate_gain(act)``
    otherwise; ``None`` keeps PyTorch's default ``Linear`` initialization.
    """
    g = np.random.default_rng(seed)
    layers: list[nn.Module] = []
    n = n_in
    for _ in range(depth):
        layers += [nn.Linear(n, width, rng=g), nn.ACTIVATION_CLASSES[act]()]
        n = width
    layers.append(nn.Linear(n, n_out, rng=g))
    net = nn.Sequential(*layers)
    if init == "auto":
        nn.init_network(net, "he" if act in RELU_FAMILY else "xavier", act, rng=g)
    return net


def evaluate(net: nn.Module, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean cross-entropy, classification error) of ``net`` on ``(X, y)``, eval mode."""
    net.eval()
    with np.errstate(all="ignore"):
        logits = net(X)
        loss = nn.SoftmaxCrossEntropy()(logits, y)
    net.train()
    return loss, float((logits.argmax(1) != y).mean())


def train(
    net: nn.Module,
    data: dict[str, np.ndarray],
    lr: float,
    epochs: int,
    momentum: float = 0.9,
    batch: int = 32,
    seed: int = 1,
    on_epoch: Callable[[int], None] | None = None,
) -> dict[str, list[float]]:
    """Minibatch SGD with momentum on cross-entropy; per-epoch train/test loss and error."""
    opt = nn.SGD(net.parameters(), lr=lr, momentum=momentum)
    ce = nn.SoftmaxCrossEntropy()
    g = np.random.default_rng(seed)
    X, y = data["Xtr"], data["ytr"]
    hist: dict[str, list[float]] = {"train_loss": [], "train_err": [], "test_err": []}
    with np.errstate(all="ignore"):
        for ep in range(epochs):
            for b in np.array_split(g.permutation(len(X)), math.ceil(len(X) / batch)):
                opt.zero_grad()
                ce(net(X[b]), y[b])
                net.backward(ce.backward())
                opt.step()
            loss, err = evaluate(net, X, y)
            hist["train_loss"].append(loss)
            hist["train_err"].append(err)
            hist["test_err"].append(evaluate(net, data["Xte"], data["yte"])[1])
            if on_epoch is not None:
                on_epoch(ep)
    return hist


def full_batch_grad_norms(net: nn.Module, X: np.ndarray, y: np.ndarray) -> list[float]:
    """Per-Linear weight-gradient norms of the mean cross-entropy over ``(X, y)``."""
    net.zero_grad()
    ce = nn.SoftmaxCrossEntropy()
    ce(net(X), y)
    net.backward(ce.backward())
    norms = nn.gradient_norms(net)
    net.zero_grad()
    return norms


def _first_below(errs: list[float], target: float) -> int | None:
    return next((i + 1 for i, e in enumerate(errs) if e <= target), None)


def _claim(text: str, holds: bool, detail: str) -> dict[str, Any]:
    return {"claim": text, "holds": bool(holds), "detail": detail}


# --------------------------------------------------------------------------- experiments


def exp_convergence(data: dict[str, np.ndarray], quick: bool) -> dict[str, Any]:
    epochs = 10 if quick else 30
    target = 0.05
    acts = ("relu", "leaky_relu", "elu", "tanh", "sigmoid")
    hist = {a: train(mlp(a, 3, 128), data, lr=0.01, epochs=epochs) for a in acts}
    reach = {a: _first_below(h["train_err"], target) for a, h in hist.items()}
    r, t = reach["relu"], reach["tanh"]
    speedup = (t / r) if (r and t) else None
    final = {a: h["train_loss"][-1] for a, h in hist.items()}
    claims = [
        _claim(
            "ReLU trains faster than sigmoid (lower training loss after the same epochs)",
            final["relu"] < final["sigmoid"],
            f"after {epochs} epochs: relu {final['relu']:.4f}, sigmoid {final['sigmoid']:.4f}",
        ),
        _claim(
            "ReLU reaches the target error about 6x faster than tanh (Krizhevsky et al.)",
            speedup is not None and speedup >= 6.0,
            f"epochs to {target:.0%} training error: relu {r}, tanh {t}",
        ),
    ]
    return {
        "setup": f"MLP 64-128-128-128-10, SGD lr 0.01 momentum 0.9, batch 32, {epochs} epochs; "
        "He init for ReLU/leaky/ELU, Xavier with the activation's gain for tanh/sigmoid",
        "target_train_error": target,
        "epochs_to_target": reach,
        "tanh_over_relu_epochs": speedup,
        "history": hist,
        "claims": claims,
    }


def exp_vanishing(data: dict[str, np.ndarray], quick: bool) -> dict[str, Any]:
    epochs = 4 if quick else 12
    depth, width = 10, 64
    out: dict[str, Any] = {
        "setup": f"{depth} hidden layers of {width} units, SGD lr 0.01 momentum 0.9, "
        f"{epochs} epochs; Xavier (gain 1) for sigmoid, He for ReLU; gradient norms of "
        "each Linear weight for the mean loss over the whole training set",
        "nets": {},
    }
    X, y = data["Xtr"], data["ytr"]
    for act in ("sigmoid", "relu"):
        net = mlp(act, depth, width)
        per_epoch = [full_batch_grad_norms(net, X, y)]

        def rec(_ep: int, net: nn.Module = net, per_epoch: list = per_epoch) -> None:
            per_epoch.append(full_batch_grad_norms(net, X, y))

        hist = train(net, data, lr=0.01, epochs=epochs, on_epoch=rec)
        out["nets"][act] = {"grad_norms": per_epoch, "history": hist}
    s0 = out["nets"]["sigmoid"]["grad_norms"][0]
    r0 = out["nets"]["relu"]["grad_norms"][0]
    s_ratio, r_ratio = s0[0] / s0[-1], r0[0] / r0[-1]
    s_loss = out["nets"]["sigmoid"]["history"]["train_loss"][-1]
    r_loss = out["nets"]["relu"]["history"]["train_loss"][-1]
    out["first_over_last_at_init"] = {"sigmoid": s_ratio, "relu": r_ratio}
    out["claims"] = [
        _claim(
            "deep sigmoid network: the gradient vanishes towards the input",
            s_ratio < 1e-2 and r_ratio > 10 * s_ratio,
            f"|dL/dW1| / |dL/dW11| at init: sigmoid {s_ratio:.2e}, relu {r_ratio:.2e}",
        ),
        _claim(
            "the ReLU network trains, the sigmoid one barely moves",
            r_loss < 0.5 * s_loss,
            f"training loss after {epochs} epochs: relu {r_loss:.3f}, sigmoid {s_loss:.3f}",
        ),
    ]
    return out


def exp_dead_relu(data: dict[str, np.ndarray], quick: bool) -> dict[str, Any]:
    epochs = 4 if quick else 10
    rates = {"normal": 0.01, "too_high": 0.25}
    res: dict[str, Any] = {}
    for act in RELU_FAMILY:
        res[act] = {}
        for label, lr in rates.items():
            net = mlp(act, 2, 256)
            hist = train(net, data, lr=lr, epochs=epochs)
            with np.errstate(all="ignore"):
                st = nn.activation_stats(net, data["Xtr"])
            layers = [s["dead_fraction"] for s in st]
            res[act][label] = {
                "lr": lr,
                "dead_per_layer": layers,
                "dead_overall": float(np.mean(layers)),
                "train_loss": hist["train_loss"][-1],
                "train_err": hist["train_err"][-1],
            }
    hi, lo = res["relu"]["too_high"]["dead_overall"], res["relu"]["normal"]["dead_overall"]
    first = res["relu"]["too_high"]["dead_per_layer"][0]
    return {
        "setup": f"MLP 64-256-256-10 (He init), SGD momentum 0.9, {epochs} epochs at lr "
        f"{rates['normal']} and {rates['too_high']}; a unit counts as dead when its input "
        "is <= 0 for every training image (for leaky ReLU / ELU it still gets a gradient)",
        "results": res,
        "claims": [
            _claim(
                "a too-high learning rate leaves many more ReLU units dead",
                hi > lo + 0.1,
                f"dead ReLU units: {lo:.1%} at lr {rates['normal']}, {hi:.1%} at lr "
                f"{rates['too_high']}",
            ),
            _claim(
                "up to 40% or more of the units can die",
                first >= 0.4,
                f"first hidden layer at the high rate: {first:.1%} dead",
            ),
        ],
    }


def exp_init(data: dict[str, np.ndarray], quick: bool) -> dict[str, Any]:
    depth, width = 10, 256
    epochs = 2 if quick else 5
    X = data["Xtr"]
    Xs = ((X - X.mean(0)) / (X.std(0) + 1e-6)).astype(np.float32)
    schemes: dict[str, tuple[str, str, dict[str, float]]] = {
        "tanh zero": ("tanh", "constant", {"value": 0.0}),
        "tanh N(0, 0.01^2)": ("tanh", "normal", {"std": 0.01}),
        "tanh N(0, 1)": ("tanh", "normal", {"std": 1.0}),
        "tanh Xavier": ("tanh", "xavier", {}),
        "tanh He": ("tanh", "he", {}),
        "relu Xavier": ("relu", "xavier", {"gain": 1.0}),
        "relu He": ("relu", "he", {}),
    }
    data_s = dict(data, Xtr=Xs, Xte=((data["Xte"] - X.mean(0)) / (X.std(0) + 1e-6)))
    res: dict[str, Any] = {}
    for label, (act, scheme, kw) in schemes.items():
        net = mlp(act, depth, width, init=None)
        gain_act = "linear" if kw.pop("gain", None) == 1.0 else act
        nn.init_network(net, scheme, gain_act, rng=7, **kw)
        st = nn.activation_stats(net, Xs)
        hist = train(net, data_s, lr=0.01, epochs=epochs)
        res[label] = {
            "std_per_layer": [s["std"] for s in st],
            "mean_per_layer": [s["mean"] for s in st],
            "saturated_per_layer": [s["saturated_fraction"] for s in st],
            "dead_per_layer": [s["dead_fraction"] for s in st],
            "train_loss_after": hist["train_loss"][-1],
        }
    last = {k: v["std_per_layer"][-1] for k, v in res.items()}
    sat_large = float(np.mean(res["tanh N(0, 1)"]["saturated_per_layer"]))
    sat_xav = float(np.mean(res["tanh Xavier"]["saturated_per_layer"]))
    loss = {k: v["train_loss_after"] for k, v in res.items()}
    return {
        "setup": f"{depth} hidden layers of {width} units on standardized digits, biases 0; "
        f"statistics over the training set at initialization; loss after {epochs} epochs "
        "of SGD (lr 0.01, momentum 0.9)",
        "results": res,
        "claims": [
            _claim(
                "too small weights: activations shrink to zero through the layers",
                last["tanh N(0, 0.01^2)"] < 1e-6,
                f"std at layer 10: {last['tanh N(0, 0.01^2)']:.1e}",
            ),
            _claim(
                "too large weights: tanh units saturate",
                sat_large > 0.5 and sat_xav < 0.1,
                f"saturated fraction (mean over layers): N(0,1) {sat_large:.1%}, "
                f"Xavier {sat_xav:.1%}",
            ),
            _claim(
                "zero initialization: every unit computes the same thing (all outputs 0) "
                "and the network does not learn",
                last["tanh zero"] == 0.0 and loss["tanh zero"] > 2.0,
                f"std at layer 10 {last['tanh zero']}, loss after training "
                f"{loss['tanh zero']:.3f} (log 10 = 2.303)",
            ),
            _claim(
                "Xavier keeps tanh activations alive through 10 layers; He does so for ReLU "
                "while Xavier lets them shrink",
                last["tanh Xavier"] > 0.05 and last["relu He"] > 4 * last["relu Xavier"],
                f"std at layer 10: tanh Xavier {last['tanh Xavier']:.3f}, relu He "
                f"{last['relu He']:.3f}, relu Xavier {last['relu Xavier']:.3f}",
            ),
        ],
    }


def bishop_inverse(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bishop's inverse problem: ``t ~ U(0, 1)``, ``x = t + 0.3 sin(2 pi t) + U(-0.1, 0.1)``;
    returns ``(x, t)`` as ``(n, 1)`` float32 (predict ``t`` from ``x``: multimodal)."""
    g = np.random.default_rng(seed)
    t = g.uniform(0.0, 1.0, n)
    x = t + 0.3 * np.sin(2 * np.pi * t) + g.uniform(-0.1, 0.1, n)
    return x[:, None].astype(np.float32), t[:, None].astype(np.float32)


def exp_mdn(quick: bool) -> dict[str, Any]:
    steps = 8000 if quick else 20000
    X0, T = bishop_inverse(1000, seed=0)
    mean, std = float(X0.mean()), float(X0.std())
    X = (X0 - mean) / std  # the networks see standardized x
    g = np.random.default_rng(1)
    head = nn.MixtureDensity(3, 1, sigma_min=0.01)

    def body(n_out: int) -> nn.Sequential:
        r = np.random.default_rng(2)
        return nn.Sequential(nn.Linear(1, 32, rng=r), nn.Tanh(), nn.Linear(32, 32, rng=r),
                             nn.Tanh(), nn.Linear(32, n_out, rng=r))  # fmt: skip

    mdn, reg = body(head.outputs), body(1)
    opt_m = nn.SGD(mdn.parameters(), lr=0.01, momentum=0.9)
    opt_r = nn.SGD(reg.parameters(), lr=0.05, momentum=0.9)
    mse = nn.MSELoss()
    curve = []
    for it in range(steps):
        b = g.integers(0, len(X), 100)
        opt_m.zero_grad()
        head(mdn(X[b]), T[b])
        mdn.backward(head.backward())
        nn.clip_grad_norm(mdn.parameters(), 0.5)  # the NLL has rare huge gradients
        opt_m.step()
        opt_r.zero_grad()
        mse(reg(X[b]), T[b])
        reg.backward(mse.backward())
        opt_r.step()
        if it % 200 == 0 or it == steps - 1:
            curve.append((it, head(mdn(X), T)))
    nll_mdn = head(mdn(X), T)
    resid = reg(X) - T
    s2 = float(np.mean(resid.astype(np.float64) ** 2))
    nll_gauss = 0.5 * math.log(2 * math.pi * s2) + 0.5
    xs = np.random.default_rng(3).uniform(float(X0.min()), float(X0.max()), (1000, 1))
    xs = xs.astype(np.float32)
    samples = head.sample(mdn((xs - mean) / std), rng=4)
    grid = np.linspace(float(X0.min()), float(X0.max()), 200, dtype=np.float32)[:, None]
    pi, mu, sigma = head.params(mdn((grid - mean) / std))
    fit = reg((grid - mean) / std)
    return {
        "setup": f"x = t + 0.3 sin(2 pi t) + U(-0.1, 0.1), predict t; 1-32-32 tanh network, "
        f"3 Gaussian components (softmax weights, identity means, softplus scales), "
        f"{steps} SGD steps of batch 100 (lr 0.01, momentum 0.9, gradient norm clipped to "
        "0.5); baseline: same network "
        "with one output trained with MSE (= one Gaussian of fitted variance)",
        "nll_mdn": nll_mdn,
        "nll_single_gaussian": nll_gauss,
        "nll_curve": curve,
        "data": {"x": X0[:, 0].tolist(), "t": T[:, 0].tolist()},
        "samples": {"x": xs[:, 0].tolist(), "t": samples[:, 0].tolist()},
        "grid": {"x": grid[:, 0].tolist(), "pi": pi.tolist(), "mu": mu[:, :, 0].tolist(),
                 "sigma": sigma[:, :, 0].tolist(), "mse_fit": fit[:, 0].tolist()},
        "claims": [
            _claim(
                "a mixture density network models the multimodal p(t|x) that one Gaussian "
                "(MSE) cannot",
                nll_mdn < nll_gauss - 0.3,
                f"NLL per point: MDN {nll_mdn:.3f}, single Gaussian {nll_gauss:.3f}",
            )
        ],
    }  # fmt: skip


# --------------------------------------------------------------------------- plots


def _plot(name: str, res: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if name == "convergence":
        fig, ax = plt.subplots(1, 2, figsize=(10, 4))
        for a, h in res["history"].items():
            ep = np.arange(1, len(h["train_loss"]) + 1)
            ax[0].semilogy(ep, h["train_loss"], marker="o", label=a)
            ax[1].plot(ep, h["train_err"], marker="o", label=a)
        ax[1].axhline(res["target_train_error"], color="gray", ls="--", lw=1)
        ax[0].set(title="training loss", xlabel="epoch")
        ax[1].set(title="training error", xlabel="epoch", ylim=(0, 1))
        ax[0].legend()
    elif name == "vanishing":
        fig, ax = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for k, (act, r) in enumerate(res["nets"].items()):
            gn = r["grad_norms"]
            layers = np.arange(1, len(gn[0]) + 1)
            for e in sorted({0, len(gn) // 2, len(gn) - 1}):
                ax[k].semilogy(layers, gn[e], marker="o", label=f"epoch {e}")
            ax[k].set(title=f"{act}: |dL/dW| per layer", xlabel="layer (input -> output)")
            ax[k].legend()
    elif name == "dead_relu":
        fig, ax = plt.subplots(figsize=(7, 4))
        acts = list(res["results"])
        for j, label in enumerate(("normal", "too_high")):
            vals = [res["results"][a][label]["dead_overall"] for a in acts]
            lr = res["results"][acts[0]][label]["lr"]
            ax.bar(np.arange(len(acts)) + 0.4 * j, vals, 0.4, label=f"lr {lr}")
        ax.set_xticks(np.arange(len(acts)) + 0.2, acts)
        ax.set(title="units never active on the training set", ylabel="fraction", ylim=(0, 1))
        ax.legend()
    elif name == "init":
        fig, ax = plt.subplots(1, 2, figsize=(11, 4))
        for label, r in res["results"].items():
            layers = np.arange(1, len(r["std_per_layer"]) + 1)
            std = np.maximum(np.asarray(r["std_per_layer"]), 1e-30)
            ax[0].semilogy(layers, std, marker="o", label=label)
            if label.startswith("tanh"):
                ax[1].plot(layers, r["saturated_per_layer"], marker="o", label=label)
        ax[0].set(title="activation std per layer (1e-30 = exactly 0)", xlabel="layer")
        ax[1].set(title="tanh: saturated fraction (|y| > 0.99)", xlabel="layer", ylim=(0, 1))
        ax[0].legend(fontsize=7)
    elif name == "mdn":
        fig, ax = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        ax[0].scatter(res["data"]["x"], res["data"]["t"], s=3, alpha=0.4, label="data")
        ax[0].plot(res["grid"]["x"], res["grid"]["mse_fit"], "r", label="MSE fit (1 Gaussian)")
        ax[0].set(title="training data", xlabel="x", ylabel="t")
        ax[0].legend()
        ax[1].scatter(res["samples"]["x"], res["samples"]["t"], s=3, alpha=0.4, c="C2")
        ax[1].set(title=f"samples from the MDN (NLL {res['nll_mdn']:.2f} vs "
                  f"{res['nll_single_gaussian']:.2f})", xlabel="x")  # fmt: skip
    else:  # pragma: no cover
        raise ValueError(name)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --------------------------------------------------------------------------- command line


def run(out: str, quick: bool, only: list[str] | None = None) -> dict[str, Any]:
    """Run the experiments, write PNG + JSON per experiment and ``summary.json``."""
    os.makedirs(out, exist_ok=True)
    names = only or list(EXPERIMENTS)
    data = load_digits_data()
    summary: dict[str, Any] = {"quick": quick, "experiments": {}}
    for name in names:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the too-high rate overflows
            res = exp_mdn(quick) if name == "mdn" else globals()[f"exp_{name}"](data, quick)
        res["seconds"] = round(time.perf_counter() - t0, 2)
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump(res, f, indent=1, default=float)
        _plot(name, res, os.path.join(out, f"{name}.png"))
        summary["experiments"][name] = {"claims": res["claims"], "seconds": res["seconds"]}
        print(f"[{name}] {res['seconds']:.1f} s")
        for c in res["claims"]:
            print(
                f"  {'holds' if c['holds'] else 'DOES NOT HOLD'}: {c['claim']}\n    {c['detail']}"
            )
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fastact demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="fastact-demo", help="directory for PNG and JSON files")
    p.add_argument("--quick", action="store_true", help="fewer epochs (under two minutes)")
    p.add_argument("--only", help=f"comma-separated subset of {','.join(EXPERIMENTS)}")
    a = p.parse_args(argv)
    only = None
    if a.only:
        only = [s.strip() for s in a.only.split(",") if s.strip()]
        bad = [s for s in only if s not in EXPERIMENTS]
        if bad:
            print(f"unknown experiment(s) {bad}; known: {', '.join(EXPERIMENTS)}", file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    run(a.out, a.quick, only)
    print(f"wrote {a.out}/ in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
