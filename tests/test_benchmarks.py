"""Benchmark cases: every public operation has one, and each computes the right thing.

In the normal test run (``--benchmark-disable`` in pyproject) each case runs once
and its result is checked against an independent reference (float64 SciPy /
NumPy formulas), and so are the case's NumPy baseline and the shared timing
loop's statistics. To measure, run
``python -m pytest tests/test_benchmarks.py --benchmark-enable``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from util import assert_close

import fastact
from fastact import bench, bench_cases, registry, timing

CASES = bench.cases()
N = 1 << 16

#: public names that are not operations (nothing to benchmark); every other name
#: in ``fastact.__all__`` must have a benchmark case of the same name
NOT_OPERATIONS = frozenset(
    {
        "set_num_threads",
        "get_num_threads",
        "available_backends",
        "BackendUnavailable",
        "show_config",
    }
)
#: public operations benchmarked under another case name
CASE_NAME = {"rrelu": "rrelu_train"}


#: benchmark case -> the registry entry whose reference checks it
OP_OF_CASE = {op.bench: op for op in registry.OPS}


def _reference(name: str, d: dict) -> np.ndarray:
    """The float64 value the case's fastact call must produce (the gradient for losses):
    the registry's reference of the operation, called with the case's arguments."""
    args, kwargs = CASES[name].args(d)
    with np.errstate(all="ignore"):
        return np.asarray(_main_result(name, OP_OF_CASE[name].ref(*args, **kwargs)))


def _main_result(name: str, result):
    """The array a case's call is checked by: a loss's gradient (the last of its tuple),
    the first of any other tuple (prelu_backward's grad_input)."""
    if not isinstance(result, tuple):
        return result
    return result[-1] if OP_OF_CASE[name].kind == "loss" else result[0]


@pytest.mark.parametrize("name", [n for n in CASES if n != "rrelu_train"])
def test_benchmark_case(benchmark, name):
    case = CASES[name]
    d = case.setup(N, np.dtype(np.float32), 0)
    result = benchmark(case.run, d, "numba")
    ref = _reference(name, d)
    assert_close(_main_result(name, result), ref.astype(np.float32), 2e-5, 2e-6, name)
    if case.numpy is not None:  # the NumPy baseline computes the same thing
        with np.errstate(all="ignore"):
            got = _main_result(name, case.numpy(d))
        assert_close(np.asarray(got, np.float32), ref.astype(np.float32), 2e-4, 2e-5, name)


@pytest.mark.parametrize(
    "name", [n for n, c in CASES.items() if c.torch is not None and n != "rrelu_train"]
)
def test_torch_baseline_computes_the_same_operation(name):
    """A speed-up over PyTorch means something only if PyTorch computes the same thing."""
    case = CASES[name]
    d = case.setup(N, np.dtype(np.float32), 0)
    got = case.torch(d)
    got = _main_result(name, got)
    ref = _reference(name, d)
    assert_close(got.detach().numpy(), ref.astype(np.float32), 2e-4, 2e-5, name)


def test_prelu_backward_case_weight_gradient():
    d = CASES["prelu_backward"].setup(N, np.dtype(np.float32), 0)
    _, gw = CASES["prelu_backward"].run(d, "numba")
    x, g = d["x"].astype(np.float64), d["g"].astype(np.float64)
    ref = np.where(x > 0, 0.0, g * x).sum(0)
    np.testing.assert_allclose(gw, ref, rtol=1e-4, atol=1e-3)


def test_rrelu_train_case():
    """rrelu in training returns (y, slopes): slopes in [lower, upper] where x < 0, 1
    elsewhere, and y = slopes * x."""
    d = CASES["rrelu_train"].setup(N, np.dtype(np.float32), 0)
    y, s = CASES["rrelu_train"].run(d, "numba")
    x = d["x"]
    neg = x < 0
    assert np.all(s[~neg] == 1)
    lo, hi = bench_cases.RRELU_LOWER, bench_cases.RRELU_UPPER
    assert np.all((s[neg] >= np.float32(lo)) & (s[neg] <= np.float32(hi)))
    assert s[neg].std() > 0.05  # random slopes, not one constant
    assert_close(y, (s.astype(np.float64) * x).astype(np.float32), 2e-6, 1e-7, "rrelu")


def test_every_case_has_a_registry_entry_and_arguments():
    # the reference switch is the registry: each case (but rrelu's random training
    # draw, checked above) names an entry by its ``bench`` field and gives its arguments
    for name, case in CASES.items():
        assert name in OP_OF_CASE, name
        if name != "rrelu_train":
            assert case.args is not None, name


def test_every_public_function_has_a_case():
    """numpy's asv suite refuses to import when a ufunc lacks a benchmark; here a test
    fails when a public operation has none."""
    missing = [
        name
        for name in fastact.__all__
        if name not in NOT_OPERATIONS and CASE_NAME.get(name, name) not in CASES
    ]
    assert not missing, f"public operations without a benchmark case: {missing}"


def test_every_case_is_in_a_group():
    for name, case in CASES.items():
        assert case.group in bench_cases.GROUPS, (name, case.group)


# --------------------------------------------------------------------------- #
# The timing loop and its statistics                                          #
# --------------------------------------------------------------------------- #


def test_summarize_against_numpy_percentiles():
    v = np.random.default_rng(1).lognormal(0.0, 0.3, 41)
    s = timing.summarize(v)
    assert s["median"] == pytest.approx(np.percentile(v, 50))
    assert s["q25"] == pytest.approx(np.percentile(v, 25))
    assert s["q75"] == pytest.approx(np.percentile(v, 75))
    assert s["rel_iqr"] == pytest.approx((s["q75"] - s["q25"]) / s["median"])
    assert s["ci_lo"] <= s["median"] <= s["ci_hi"]
    assert s["rounds"] == 41


def test_measure_interleaves_and_warms_each_callable_before_its_block():
    log: list[str] = []
    calls = {"a": lambda: log.append("a"), "b": lambda: log.append("b")}
    samples = timing.measure(calls, rounds=3, min_time=0.0, numbers={"a": 2, "b": 2}, warm=0.0)
    assert [len(v) for v in samples.values()] == [3, 3]
    # per round: one untimed call then the timed block of 2, for each callable; the
    # order rotates from round to round
    assert "".join(log) == "aaabbb" + "bbbaaa" + "aaabbb"


def test_measure_calls_sync_before_each_clock_read():
    events: list[str] = []
    samples = timing.measure(
        {"gpu": lambda: events.append("f")}, rounds=2, min_time=0.0, numbers={"gpu": 3},
        sync={"gpu": lambda: events.append("s")}, warm=0.0,
    )  # fmt: skip
    assert len(samples["gpu"]) == 2
    assert "".join(events) == "fsfffs" * 2


def test_ratios_are_per_round():
    r = timing.ratios([2.0, 4.0, 9.0], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(r, [2.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="sample counts differ"):
        timing.ratios([1.0], [1.0, 2.0])


def test_measure_rejects_zero_rounds():
    with pytest.raises(ValueError, match="rounds must be at least 1, got 0"):
        timing.measure({"a": lambda: None}, rounds=0)


def test_time_synced_keeps_its_signature():
    """bench/tools/gpu_targets.py calls time_synced(f, sync, min_time, repeat)."""
    from fastact.cuda_bench import time_synced

    n = [0]

    def f():
        n[0] += 1

    t = time_synced(f, lambda: None, 0.001, 3)
    assert 0 < t < 0.01 and n[0] > 3


def test_measure_row_reports_median_and_interval(monkeypatch):
    row = bench.measure_row(CASES["relu"], 1 << 12, "float32", ["numba"], 0.001, 5,
                            noise=10.0, budget=0.0)  # fmt: skip
    assert row["rounds"] == 5 and row["noisy"] is False
    for key in ("numba/stream", "torch/numba", "numpy_user/numba", "torch/stream"):
        s = row["ratios"][key]
        assert s["q25"] <= s["median"] <= s["q75"]
    a, b = (
        row["ratios"]["torch/numba"]["median"],
        np.median(np.array(row["samples"]["torch"]) / np.array(row["samples"]["numba"])),
    )
    assert a == pytest.approx(b)


def test_noisy_row_is_remeasured_then_marked():
    row = bench.measure_row(CASES["relu"], 1 << 10, "float32", ["numba"], 0.0005, 3,
                            noise=1e-9, budget=0.05)  # fmt: skip
    assert row["noisy"] is True and row["rounds"] > 3 and row["rounds"] % 3 == 0


def test_cli_quick_json(tmp_path):
    """The .ci/run line: fastact bench --quick --ops relu,softmax --json PATH."""
    out = tmp_path / "b.json"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    p = subprocess.run(
        [sys.executable, "-m", "fastact", "bench", "--quick", "--ops", "relu,softmax",
         "--json", str(out), "--rounds", "3", "--budget", "0"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    data = json.loads(out.read_text())
    assert [r["op"] for r in data["rows"]] == ["relu", "softmax"]
    m = data["machine"]
    for key in ("cpu_count", "governor", "load_avg", "thread_counts", "numpy"):
        assert key in m, key
    assert "numba_threading_layer" in data["machine"]["thread_counts_after"]
    assert "torch" in m["thread_counts"]
    # streamed rows and one progress line per row on stderr (not a terminal)
    assert p.stdout.count("relu") >= 1 and "[2/2] softmax" in p.stderr
    assert "[" in p.stdout.split("\n")[2]  # a ratio with its interval


# --------------------------------------------------------------------------- #
# The command line                                                            #
# --------------------------------------------------------------------------- #


def test_cli_help_lists_every_subcommand(capsys):
    from fastact.__main__ import COMMANDS, main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("bench", "demo", "info"):
        assert name in COMMANDS
        assert f"  {name} " in out
    assert main(["nope"]) == 2
    assert "unknown command 'nope'" in capsys.readouterr().err


def test_cli_version(capsys):
    from fastact.__main__ import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"fastact {fastact.__version__}"


def test_cli_info(capsys):
    from fastact.__main__ import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    if not hasattr(fastact, "show_config"):
        assert f"backends: {', '.join(fastact.available_backends())}" in out
        assert f"threads: {fastact.get_num_threads()}" in out
    assert out.strip()


def test_bench_ops_list_names_every_case(capsys):
    assert bench.main(["--ops", "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(CASES)


def test_reproducibility_compare():
    """bench/tools/reproducibility.py: distance of two medians and interval overlap."""
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "..", "bench", "tools", "reproducibility.py")
    spec = importlib.util.spec_from_file_location("reproducibility", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def run(med, q25, q75):
        s = {"median": med, "q25": q25, "q75": q75}
        row = {"op": "relu", "dtype": "float32", "n": 8, "noisy": False,
               "ratios": {"torch/numba": s, "torch/stream": s}}  # fmt: skip
        return {"backends": ["numba"], "rows": [row]}

    (r,) = mod.compare(run(1.0, 0.9, 1.1), run(1.2, 1.05, 1.3))  # only numba's ratios
    assert r["ratio"] == "torch/numba"
    assert r["rel_diff"] == pytest.approx(0.2 / 1.1)
    assert r["agree"] is True
    (r,) = mod.compare(run(1.0, 0.9, 1.1), run(1.5, 1.2, 1.6))
    assert r["agree"] is False
    assert "largest disagreement: relu torch/numba" in mod.report([r])
