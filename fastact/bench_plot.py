"""Figures of a ``fastact bench`` run: speed-up over PyTorch and over NumPy.

One figure per group of operations (activations, backward, row-wise, losses).
In each, the left column is the speed-up over PyTorch, the right one over NumPy
(the baseline's time over the contender's, per round; the point is the median,
the bar the interquartile range), on a log axis, one row of panels per size.
Colour is the implementation, marker and line style the dtype; the grey bar
marks what the plain stream over the same bytes reaches (a reference: no
operation that reads and writes those bytes can be faster). A hollow marker is a
row the run marked noisy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastact.bench_cases import GROUPS

TITLES = {
    "activations": "activations (forward)",
    "backward": "activation backward",
    "rowwise": "row-wise (softmax family)",
    "losses": "losses (loss + gradient)",
}
BASELINES = (("torch", "PyTorch"), ("numpy_user", "NumPy"))
COLOURS = {"numba": "tab:blue", "cython": "tab:orange", "numpy": "tab:green",
           "stream": "0.45"}  # fmt: skip
DTYPE_STYLE: dict[str, tuple[Any, str]] = {
    "float32": ("-", "o"),
    "float64": ("--", "s"),
    "float16": (":", "^"),
}


def _title(info: dict[str, Any], group: str) -> str:
    cpu = info.get("cpu", info.get("processor", "?"))
    la = info.get("load_avg")
    load = f"; load {la[0]:.1f} on {info.get('cpu_count', '?')} cores" if la else ""
    return (
        f"fastact {info.get('fastact', '?')}: speed-up, {TITLES.get(group, group)}\n"
        f"{cpu}, {info.get('threads', '?')} threads; numba {info.get('numba', '-')}, "
        f"torch {info.get('torch', '-')}, numpy {info.get('numpy', '-')}; "
        f"{str(info.get('date', ''))[:10]}{load}"
    )


def plot(
    rows: list[dict[str, Any]], info: dict[str, Any], backends: list[str], path: str
) -> list[str]:
    """Write the figures; returns their paths (``path`` itself for a single group,
    ``<stem>-<group><suffix>`` for each group otherwise)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, NullFormatter

    groups = [g for g in GROUPS if any(r["group"] == g for r in rows)]
    out = Path(path)
    written = []
    impls = [b for b in backends if b != "cuda"] + ["stream"]
    for group in groups:
        rs = [r for r in rows if r["group"] == group]
        ops = list(dict.fromkeys(r["op"] for r in rs))
        sizes = sorted({r["n"] for r in rs})
        dtypes = [d for d in DTYPE_STYLE if any(r["dtype"] == d for r in rs)]
        series = [(i, d) for i in impls for d in dtypes]
        # few operations: the two baselines side by side; many: one above the other
        wide = len(ops) > 8
        width = min(18.0, max(7.0, 0.3 * len(ops) * max(1, len(series)) ** 0.5 + 2.5))
        nr, nc = (2 * len(sizes), 1) if wide else (len(sizes), 2)
        fig, axes = plt.subplots(
            nr, nc, figsize=(width * (1 if wide else 2), 1.4 + 3.4 * nr), squeeze=False,
        )  # fmt: skip
        for row_i, n in enumerate(sizes):
            for col, (base, base_label) in enumerate(BASELINES):
                ax = axes[2 * row_i + col][0] if wide else axes[row_i][col]
                for s_i, (impl, dt) in enumerate(series):
                    off = (s_i - (len(series) - 1) / 2) * min(0.8 / max(len(series), 1), 0.16)
                    ls, mk = DTYPE_STYLE[dt]
                    for x_i, op in enumerate(ops):
                        r = next(
                            (r for r in rs if r["op"] == op and r["n"] == n and r["dtype"] == dt),
                            None,
                        )
                        if r is None or f"{base}/{impl}" not in r["ratios"]:
                            continue
                        s = r["ratios"][f"{base}/{impl}"]
                        ref = impl == "stream"
                        err = [[s["median"] - s["q25"]], [s["q75"] - s["median"]]]
                        eb = ax.errorbar(
                            [x_i + off], [s["median"]], yerr=err,
                            color=COLOURS.get(impl, "tab:purple"),
                            marker="_" if ref else mk, markersize=14 if ref else 6,
                            markeredgewidth=2.5 if ref else 1.0,
                            mfc="none" if r["noisy"] else None,
                            capsize=2, elinewidth=1.2, linestyle="none",
                        )  # fmt: skip
                        eb[-1][0].set_linestyle(ls)
                ax.axhline(1.0, color="k", lw=0.8)
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
                ax.yaxis.set_minor_formatter(NullFormatter())
                ax.set_xticks(range(len(ops)))
                ax.set_xticklabels(ops, rotation=40, ha="right", fontsize=9)
                ax.set_xlim(-0.6, len(ops) - 0.4)
                ax.grid(True, axis="y", which="both", alpha=0.3)
                ax.set_title(f"speed-up over {base_label} ({n:,} elements)", fontsize=10)
                ax.set_ylabel(f"{base_label} time / contender time\n(log; > 1: faster)")
        handles = [
            Line2D([], [], color=COLOURS.get(i, "tab:purple"), marker="_" if i == "stream" else "o",
                   markersize=12 if i == "stream" else 6, linestyle="none",
                   label="stream over the same bytes (reference)" if i == "stream"
                   else f"fastact {i}")
            for i in impls
        ]  # fmt: skip
        handles += [
            Line2D([], [], color="k", linestyle=DTYPE_STYLE[d][0], marker=DTYPE_STYLE[d][1],
                   label=d)
            for d in dtypes
        ]  # fmt: skip
        handles.append(Line2D([], [], color="k", marker="o", mfc="none", linestyle="none",
                              label="noisy row"))  # fmt: skip
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
                   fontsize=9)  # fmt: skip
        fig.suptitle(_title(info, group), fontsize=11)
        fig.tight_layout(rect=(0, 0.04, 1, 0.97))
        target = out if len(groups) == 1 else out.with_name(f"{out.stem}-{group}{out.suffix}")
        fig.savefig(target, dpi=110)
        plt.close(fig)
        written.append(str(target))
    return written
