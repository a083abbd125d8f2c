"""A PyTorch MLP training step with a large-vocabulary cross-entropy head:
``fastact.torch.cross_entropy`` against ``torch.nn.functional.cross_entropy``.

    python bench/tools/torch_train_step.py [--batch 256] [--hidden 1024] [--classes 32768]

One step = forward (Linear(hidden, hidden), GELU, Linear(hidden, classes),
cross-entropy over the classes), backward, and an SGD update. The two variants
have identical models (same initial weights, each its own copy) and differ only in
the loss function. Steps are timed interleaved (A, B, then B, A, ...), so load from
other tenants of a shared machine lands on both alike; warm-up steps (Numba and
torch first calls) are not timed. Prints the median step time of each, the ratio of
the medians (torch / fastact: above 1 means fastact's step is faster) with a 95%
bootstrap interval, and the loss of the first step of each (they must agree).
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

import fastact
import fastact.torch as ft


def make_step(model: torch.nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor):  # type: ignore[no-untyped-def]
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def interleaved(variants: dict, steps: int, warmup: int) -> dict:  # type: ignore[type-arg]
    """Median seconds per step of each variant, timed interleaved (alternating order),
    the ratio of the medians (torch / fastact) and its 95% bootstrap interval."""
    first = {k: f() for k, f in variants.items()}
    for _ in range(warmup - 1):
        for f in variants.values():
            f()
    times: dict[str, list[float]] = {k: [] for k in variants}
    order = list(variants)
    for i in range(steps):
        for k in order if i % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            variants[k]()
            times[k].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    rng = np.random.default_rng(0)
    tt, tf = np.array(times["torch"]), np.array(times["fastact"])
    boot = [
        np.median(rng.choice(tt, tt.size)) / np.median(rng.choice(tf, tf.size)) for _ in range(2000)
    ]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {
        "steps": steps,
        "median_s": med,
        "ratio": med["torch"] / med["fastact"],
        "ratio_95ci": [float(lo), float(hi)],
        "first_loss": first,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--classes", type=int, default=32768)
    p.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--json", help="also write the figures to this file")
    a = p.parse_args(argv)

    torch.manual_seed(0)
    base = torch.nn.Sequential(
        torch.nn.Linear(a.hidden, a.hidden),
        torch.nn.GELU(),
        torch.nn.Linear(a.hidden, a.classes),
    )
    x = torch.randn(a.batch, a.hidden)
    y = torch.randint(0, a.classes, (a.batch,))
    ls = a.label_smoothing
    variants = {
        "torch": make_step(
            copy.deepcopy(base), lambda z, t: F.cross_entropy(z, t, label_smoothing=ls), x, y
        ),
        "fastact": make_step(
            copy.deepcopy(base), lambda z, t: ft.cross_entropy(z, t, label_smoothing=ls), x, y
        ),
    }
    logits = torch.randn(a.batch, a.classes, requires_grad=True)

    def head(loss_fn):  # type: ignore[no-untyped-def]
        def step() -> float:
            logits.grad = None
            loss = loss_fn(logits, y)
            loss.backward()
            return float(loss.detach())

        return step

    heads = {
        "torch": head(lambda z, t: F.cross_entropy(z, t, label_smoothing=ls)),
        "fastact": head(lambda z, t: ft.cross_entropy(z, t, label_smoothing=ls)),
    }
    res = {
        "batch": a.batch,
        "hidden": a.hidden,
        "classes": a.classes,
        "steps": a.steps,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "fastact_threads": fastact.get_num_threads(),
        "mlp_step": interleaved(variants, a.steps, a.warmup),
        "ce_head_only": interleaved(heads, a.steps * 3, a.warmup),
    }
    print(
        f"batch {a.batch}, hidden {a.hidden}, {a.classes} classes; torch {torch.__version__} "
        f"with {torch.get_num_threads()} threads, fastact with {fastact.get_num_threads()}"
    )
    for label, key in (("MLP training step", "mlp_step"), ("CE head only", "ce_head_only")):
        r = res[key]
        print(f"{label} ({r['steps']} interleaved steps each):")
        for k in ("torch", "fastact"):
            print(
                f"  {k:8s} median {r['median_s'][k] * 1e3:8.1f} ms   first loss "
                f"{r['first_loss'][k]:.6f}"
            )
        lo, hi = r["ratio_95ci"]
        print(f"  torch / fastact = {r['ratio']:.2f}x (95% CI {lo:.2f}-{hi:.2f})")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
