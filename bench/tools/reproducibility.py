"""Do two runs of ``fastact bench --quick`` agree? A benchmark of the benchmark.

    python bench/tools/reproducibility.py                 # two fresh --quick runs
    python bench/tools/reproducibility.py -- --ops relu   # extra options for both runs
    python bench/tools/reproducibility.py --runs A.json B.json   # compare saved runs

Runs ``python -m fastact bench --quick --json ...`` twice, each in a fresh
process, then for every row and every ratio the table prints (x stream, vs the
other backends, vs NumPy, vs PyTorch) reports the two medians, how far apart
they are (``|m1 - m2| / mean``) and whether they agree within the reported
intervals (the two interquartile ranges overlap). The last lines give the
largest disagreement and how many ratios lie within 15% of each other.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

GOAL = 0.15


def _run(path: str, extra: list[str]) -> None:
    cmd = [sys.executable, "-m", "fastact", "bench", "--quick", "--no-progress",
           "--json", path, *extra]  # fmt: skip
    print("$", " ".join(cmd[1:]), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def _printed(row: dict[str, Any], main: str) -> list[str]:
    """The ratio keys the table shows for a row."""
    return [k for k in row["ratios"] if main in k.split("/")]


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per (row, ratio) present in both runs."""
    main = a["backends"][0]
    rows_b = {(r["op"], r["dtype"], r["n"]): r for r in b["rows"]}
    out = []
    for ra in a["rows"]:
        rb = rows_b.get((ra["op"], ra["dtype"], ra["n"]))
        if rb is None:
            continue
        for key in _printed(ra, main):
            if key not in rb["ratios"]:
                continue
            sa, sb = ra["ratios"][key], rb["ratios"][key]
            m1, m2 = sa["median"], sb["median"]
            out.append({
                "op": ra["op"], "dtype": ra["dtype"], "n": ra["n"], "ratio": key,
                "run1": sa, "run2": sb,
                "rel_diff": abs(m1 - m2) / ((m1 + m2) / 2),
                "agree": sa["q25"] <= sb["q75"] and sb["q25"] <= sa["q75"],
                "noisy": bool(ra["noisy"] or rb["noisy"]),
            })  # fmt: skip
    return out


def report(res: list[dict[str, Any]]) -> str:
    def iv(s: dict[str, float]) -> str:
        return f"{s['median']:.2f} [{s['q25']:.2f}-{s['q75']:.2f}]"

    lines = [
        f"{'op':34s} {'ratio':22s} {'run 1':>18s} {'run 2':>18s} {'apart':>6s}  agree",
    ]
    for r in res:
        lines.append(
            f"{r['op']:34s} {r['ratio']:22s} {iv(r['run1']):>18s} {iv(r['run2']):>18s} "
            f"{100 * r['rel_diff']:5.1f}%  {'yes' if r['agree'] else 'NO'}"
            + ("  (noisy)" if r["noisy"] else "")
        )
    if res:
        worst = max(res, key=lambda r: r["rel_diff"])
        n_goal = sum(r["rel_diff"] <= GOAL for r in res)
        n_agree = sum(r["agree"] for r in res)
        lines += [
            "",
            f"largest disagreement: {worst['op']} {worst['ratio']}: "
            f"{100 * worst['rel_diff']:.1f}% apart ({worst['run1']['median']:.3f} vs "
            f"{worst['run2']['median']:.3f})",
            f"within {100 * GOAL:.0f}% of each other: {n_goal} of {len(res)} ratios; "
            f"intervals overlap: {n_agree} of {len(res)}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs=2, metavar="JSON", help="compare two saved runs instead")
    p.add_argument("--out", help="write the comparison as JSON")
    p.add_argument("extra", nargs="*", help="options passed to both runs (after --)")
    a = p.parse_args(argv)
    if a.runs:
        paths = a.runs
    else:
        tmp = tempfile.mkdtemp(prefix="fastact-repro-")
        paths = [os.path.join(tmp, f"run{i}.json") for i in (1, 2)]
        for path in paths:
            _run(path, a.extra)
    with open(paths[0]) as f1, open(paths[1]) as f2:
        res = compare(json.load(f1), json.load(f2))
    print(report(res))
    if a.out:
        with open(a.out, "w") as fh:
            json.dump({"runs": paths, "comparison": res}, fh, indent=1)
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
