"""bench/tools/gpu_check.sh, the one-command GPU check, end to end in Numba's CUDA
simulator (``--small``: tiny sizes, no install step), and its time limits: a stage
that runs past its limit is marked ``timeout`` in summary.txt while the other
stages' files are kept. The figures themselves mean nothing here; what is checked
is that every stage runs and writes what the GPU run will need.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from numba import config as _numba_config
from numba import cuda
from util import assert_close

import fastact
from fastact import table

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "tools" / "gpu_check.sh"

if "cuda" not in fastact.available_backends():
    pytest.skip("no CUDA backend (numba-cuda missing)", allow_module_level=True)
if shutil.which("bash") is None or shutil.which("timeout") is None:
    pytest.skip("needs bash and coreutils' timeout", allow_module_level=True)


def _run(outdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("FASTACT_GPU_CHECK_")}
    e.pop("FASTACT_CUDA_HW", None)
    e.update(PYTHON=sys.executable, **env)
    return subprocess.run(["bash", str(SCRIPT), "--small", *args, str(outdir)], env=e,
                          capture_output=True, text=True, timeout=600, cwd=ROOT)  # fmt: skip


def _summary(outdir: Path) -> dict[str, list[str]]:
    rows = {}
    for line in (outdir / "summary.txt").read_text().splitlines():
        f = line.split()
        rows[f[0]] = f[1:]
    return rows


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("gpu_check")
    return out, _run(out)


def test_script_small_run_passes_every_stage(small_run):
    out, r = small_run
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:] + (out / "log.txt").read_text()[-4000:]
    s = _summary(out)
    assert list(s) == ["env", "install", "fastact", "tests", "torch", "targets", "bench", "total"]
    assert s["install"][0] == "skipped"  # --small never installs
    for st in ("env", "fastact", "tests", "targets", "bench"):
        assert s[st][0] == "pass", (st, s[st])
    assert s["torch"][0] in ("pass", "skipped")
    assert s["total"][0] == "pass"
    # at most 8 files: what the device tool brings back from $OUT
    assert len(list(out.iterdir())) <= 8


def test_script_small_run_files(small_run):
    out, _ = small_run
    env = (out / "env.txt").read_text()
    assert "numpy " in env and "numba " in env and "NUMBA_ENABLE_CUDASIM 1" in env
    assert "numba.cuda kernel launch: ok" in env
    assert "fastact backends:" in env and "cuda" in env
    # JUnit XML of the CUDA tests: the selected tests ran and passed
    suite = ET.parse(out / "junit-cuda.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert int(suite.get("tests")) >= 2
    assert int(suite.get("failures")) == 0 and int(suite.get("errors")) == 0
    # the targets: all six recorded, with a status, figures from the simulator
    t = json.loads((out / "targets.json").read_text())
    assert t["device"] == "CUDA simulator" and t["small"] and not t["errors"]
    assert [x["target"] for x in t["targets"]] == [
        "elementwise_pct_copy_bw", "softmax_pct_copy_bw", "softmax_vs_torch", "ce_vs_torch",
        "ce_extra_logits_buffers", "overhead_vs_torch",
    ]  # fmt: skip
    assert all(x["status"] in ("pass", "fail", "n/a") for x in t["targets"])
    ew = t["elementwise_2^28_f32"]
    assert set(ew) == {"relu", "sigmoid", "tanh", "gelu", "silu"}
    assert all(v["fwd_ms"] > 0 and v["kernel_bwd_pct_copy_bw"] > 0 for v in ew.values())
    assert t["targets"][0]["status"] in ("pass", "fail")  # measured, not n/a
    assert t["softmax_f32"]["ms"] > 0 and t["cross_entropy_fwd_bwd"]["ms"] > 0
    assert t["cross_entropy_fwd_bwd"]["extra_bytes"] > 0
    assert t["overhead_1000_f32"]["fastact_us"] > 0
    # fastact bench with the CUDA columns: JSON rows and the printed table
    b = json.loads((out / "bench.json").read_text())
    assert b["backends"] == ["numba", "cuda"]
    assert {r["op"] for r in b["rows"]} == {"relu", "softmax"}
    for row in b["rows"]:
        assert row["t_numba"] > 0 and row["t_cuda"] > 0 and row["t_cuda_copy"] > 0
    table = (out / "bench.txt").read_text()
    assert "cuda ms" in table and "CPU/CUDA" in table


def test_script_stage_past_its_limit_is_marked_and_the_others_kept(tmp_path):
    """A 1-second limit on the targets stage: it times out, the stages around it still
    run and write their files, and the exit status says something went wrong."""
    r = _run(tmp_path, "--stages=targets,bench", FASTACT_GPU_CHECK_TIMEOUT_TARGETS="1",
             FASTACT_GPU_CHECK_BENCH_OPS="relu")  # fmt: skip
    assert r.returncode == 1, r.stdout[-3000:]
    s = _summary(tmp_path)
    assert s["targets"][0] == "timeout" and s["targets"][2] in ("124", "137")
    assert s["targets"][3] == "1"
    assert s["bench"][0] == "pass"
    assert s["env"][0] == s["fastact"][0] == s["tests"][0] == "skipped"  # not in --stages
    assert s["total"][0] == "fail"
    assert json.loads((tmp_path / "bench.json").read_text())["rows"][0]["t_cuda"] > 0
    assert "== targets: timeout" in (tmp_path / "log.txt").read_text()


def test_script_spent_budget_skips_the_remaining_stages(tmp_path):
    r = _run(tmp_path, FASTACT_GPU_CHECK_BUDGET="0")
    assert r.returncode == 0
    s = _summary(tmp_path)
    assert all(v[0] == "skipped" for k, v in s.items() if k != "total")


def test_script_bad_usage():
    r = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run(["bash", str(SCRIPT), "--bogus", "x"], capture_output=True, text=True,
                       timeout=60)  # fmt: skip
    assert r.returncode == 2 and "--bogus" in r.stderr


# What the simulator hides, checked without a GPU: the PTX that Numba generates for
# sm_90 and what ptxas (from the NVVM toolchain's nvidia-cuda-nvcc wheel, or on PATH)
# makes of it: static shared memory within the 48 KiB a block may declare, registers
# within the 64K per block at the launch sizes, no spills; and no fused multiply-add
# where the CPU backends round twice (the rrelu slopes must match them bit for bit).
_PTX_DUMP = r"""
import importlib, os, sys, types as pytypes
from numba import cuda, types
disp = importlib.import_module(type(cuda.jit(device=True)(lambda x: x)).__module__)
disp.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=(9, 0))
from fastact.kernels import cuda_elementwise as ce, cuda_rowwise as cr, cuda_special as cs
f32, f64, i64, b1 = types.float32, types.float64, types.int64, types.boolean
out = sys.argv[1]
def dump(name, k, sig):
    ptx, _ = cuda.compile_ptx(k.py_func, sig, cc=(9, 0))
    with open(os.path.join(out, name + ".ptx"), "w") as fh:
        fh.write(ptx)
for dt in (f32, f64):
    n = str(dt)
    dump("rrelu_train_" + n, cs.rrelu_train, (dt[::1],) * 3 + (f64, f64, types.uint64))
    dump("softmax_rows_smem_" + n, cr.softmax_rows_smem, (dt[:, ::1], dt[:, ::1], i64, b1))
    dump("softmax_rows_warp_" + n, cr.softmax_rows_warp, (dt[:, ::1], dt[:, ::1], i64, b1))
    dump("cross_entropy_index_" + n, cr.cross_entropy_index, (dt[:, ::1], i64[::1], f64[::1],
         b1, i64, f64, f64, b1, f64[::1], f64[::1], dt[:, ::1], b1, i64[::1]))
dump("gelu_bwd_h", ce.BWD_H["gelu"], (types.float16[::1],) * 3 + (f32, f32))
print("BLOCK", cr.BLOCK)
"""


def _ptxas() -> str | None:
    import sysconfig

    cand = Path(sysconfig.get_paths()["purelib"]) / "nvidia" / "cuda_nvcc" / "bin" / "ptxas"
    return str(cand) if cand.exists() else shutil.which("ptxas")


def test_ptx_for_sm90_fits_and_rounds_like_the_cpu(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    r = subprocess.run([sys.executable, "-c", _PTX_DUMP, str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=600)  # fmt: skip
    if r.returncode and ("nvrtc" in r.stderr.lower() or "nvvm" in r.stderr.lower()):
        pytest.skip("no NVVM toolchain here (pip install 'fastact[cuda]')")
    assert r.returncode == 0, r.stderr[-3000:]
    block = int(r.stdout.split()[-1])
    for dt in ("float32", "float64"):
        rr = (tmp_path / f"rrelu_train_{dt}.ptx").read_text()
        assert "fma.rn.f64" not in rr, "rrelu slopes contracted into an fma"
        assert "mul.rn.f64" in rr and "add.rn.f64" in rr
    ptxas = _ptxas()
    if ptxas is None:
        pytest.skip("ptxas not found")
    for f in sorted(tmp_path.glob("*.ptx")):
        a = subprocess.run([ptxas, "-arch=sm_90", "-v", str(f), "-o", os.devnull],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
        assert a.returncode == 0, (f.name, a.stderr[-2000:])
        info = a.stderr
        regs = [int(x) for x in re.findall(r"Used (\d+) registers", info)]
        smem = [int(x) for x in re.findall(r"(\d+) bytes smem", info)]
        spills = [int(x) for x in re.findall(r"(\d+) bytes spill stores", info)]
        assert regs and max(regs) * block <= 65536, (f.name, info)
        assert max(smem, default=0) <= 48 * 1024, (f.name, info)
        assert max(spills, default=0) == 0, (f.name, info)


# --------------------------------------------------------------------------- #
# The array libraries of a GPU machine: CuPy arrays and PyTorch CUDA tensors     #
# (test_cuda.py uses Numba device arrays only). The numba case also runs in      #
# the simulator, which checks the tests themselves; the others need the GPU.     #
# --------------------------------------------------------------------------- #
SIM = bool(_numba_config.ENABLE_CUDASIM)


def _lib(name: str):
    """(to_device, to_host, is_result) for one array library, or skip."""
    if name == "numba":
        return cuda.to_device, lambda a: a.copy_to_host(), lambda a: hasattr(a, "copy_to_host")
    if SIM:
        pytest.skip(f"{name} arrays need a real GPU")
    if name == "cupy":
        cp = pytest.importorskip("cupy")
        return cp.asarray, cp.asnumpy, lambda a: isinstance(a, cp.ndarray)
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch sees no GPU")
    return (lambda a: torch.from_numpy(np.ascontiguousarray(a)).cuda(),
            lambda t: t.detach().float().cpu().numpy() if t.dtype == torch.bfloat16
            else t.detach().cpu().numpy(),
            lambda t: isinstance(t, torch.Tensor) and t.is_cuda)  # fmt: skip


LIBS = ["numba", pytest.param("cupy", marks=pytest.mark.cuda_hw),
        pytest.param("torch", marks=pytest.mark.cuda_hw)]  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=str)
@pytest.mark.parametrize("lib", LIBS)
def test_elementwise_keeps_the_array_type(lib, dtype):
    put, get, ok = _lib(lib)
    rng = np.random.default_rng(12)
    n = 301 if SIM else 1_000_003  # past one grid sweep on hardware
    x = rng.normal(0, 3, n).astype(dtype)
    g = rng.normal(0, 1, n).astype(dtype)
    y = fastact.gelu(put(x))
    gx = fastact.silu_backward(put(g), put(x))
    assert ok(y) and ok(gx)
    e, s = table.BY_NAME["gelu"], table.BY_NAME["silu"]
    rtol, atol = e.tol[np.dtype(dtype).name]
    x64 = x.astype(np.float64)
    ref = e.ref(x64, *e.encode(())).astype(dtype)
    dref = (g.astype(np.float64) * s.ref_deriv(x64, *s.encode(()))).astype(dtype)
    yh, gh = get(y), get(gx)
    assert yh.dtype == dtype and gh.dtype == dtype
    assert_close(yh, ref, rtol, atol, f"{lib} gelu")
    assert_close(gh, dref, rtol, rtol * np.abs(g.astype(np.float64)) + atol, f"{lib} silu'")


@pytest.mark.parametrize("lib", LIBS)
def test_rowwise_keep_the_array_type(lib):
    """softmax, log_softmax and logsumexp on each row kernel's sizes (warp per row,
    shared-memory staging, global memory) against float64 NumPy."""
    put, get, ok = _lib(lib)
    from fastact.kernels.cuda_rowwise import SMEM_MAX_C, WARP_MAX_C

    rng = np.random.default_rng(13)
    for C in (WARP_MAX_C, SMEM_MAX_C, SMEM_MAX_C + 7):
        x = (rng.normal(size=(5 if SIM else 37, C)) * 4).astype(np.float32)
        x64 = x.astype(np.float64)
        sh = x64 - x64.max(-1, keepdims=True)
        lse = np.log(np.exp(sh).sum(-1, keepdims=True))
        for op, want in (("softmax", np.exp(sh - lse)), ("log_softmax", sh - lse),
                         ("logsumexp", (x64.max(-1, keepdims=True) + lse)[:, 0])):  # fmt: skip
            got = getattr(fastact, op)(put(x))
            assert ok(got), op
            assert_close(get(got), want, 2e-6, 2e-6, f"{lib} {op} C={C}")


@pytest.mark.parametrize("lib", LIBS)
def test_cross_entropy_keeps_the_array_type(lib):
    """Fused forward + backward with the gradient written into a preallocated array."""
    put, get, ok = _lib(lib)
    rng = np.random.default_rng(14)
    M, C = (6, 70) if SIM else (300, 32_001)
    x = (rng.normal(size=(M, C)) * 2).astype(np.float32)
    t = rng.integers(0, C, M)
    x64 = x.astype(np.float64)
    lp = x64 - x64.max(-1, keepdims=True)
    lp -= np.log(np.exp(lp).sum(-1, keepdims=True))
    loss_ref = -lp[np.arange(M), t].mean()
    g_ref = np.exp(lp)
    g_ref[np.arange(M), t] -= 1
    g_ref /= M
    gout = put(np.full((M, C), np.nan, np.float32))
    loss, g = fastact.cross_entropy(put(x), put(t), return_grad=True, grad_out=gout)
    assert g is gout and ok(g)
    assert_close(np.asarray(loss), loss_ref, 1e-6, 0, f"{lib} loss")
    assert_close(get(g), g_ref, 1e-5, 1e-9, f"{lib} grad")


@pytest.mark.cuda_hw
def test_torch_bfloat16_cross_entropy_and_side_stream():
    """bfloat16 logits (computed in float32, gradient back in bfloat16) against PyTorch,
    and kernels ordered on the caller's current stream: the inputs are made and the
    results consumed on a side stream with no synchronisation in between (PyTorch's
    side streams are non-blocking: Numba's copies on the legacy stream do not wait
    for them, so the backend must)."""
    _lib("torch")
    import torch

    torch.manual_seed(0)
    M, C = 512, 50_257
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        x = (torch.randn(M, C, device="cuda") * 2).to(torch.bfloat16)
        t = torch.randint(0, C, (M,), device="cuda")
        gbuf = torch.empty_like(x)
        loss, g = fastact.cross_entropy(x, t, return_grad=True, grad_out=gbuf)
        y = fastact.relu(x)
        y_sum = y.float().sum()  # consumed on the side stream
        xs = torch.randn(M, 3000, device="cuda")  # block per row, result copied
        sm = fastact.softmax(xs * 3)
        lse = fastact.logsumexp(xs * 3, axis=-1)
    s.synchronize()
    assert torch.allclose(sm, torch.softmax(xs * 3, -1), rtol=2e-6, atol=2e-7)
    assert torch.allclose(lse, torch.logsumexp(xs * 3, -1), rtol=2e-6, atol=2e-6)
    xr = x.detach().float().requires_grad_(True)
    lt = torch.nn.functional.cross_entropy(xr, t)
    lt.backward()
    assert g is gbuf and g.dtype == torch.bfloat16
    assert abs(float(loss) - lt.item()) <= 1e-5 * abs(lt.item())
    err = (g.float() - xr.grad).abs().max().item()
    assert err <= 1e-2 * xr.grad.abs().max().item(), err
    assert y_sum.item() == torch.relu(x).float().sum().item()


@pytest.mark.cuda_hw
@pytest.mark.skipif(SIM, reason="262,145 rows: hardware only")
def test_rows_past_the_grid_cap():
    """More rows than the one-block-per-row kernels launch blocks (65535 x 4): the
    grid-stride loop over rows must reach the last ones."""
    rng = np.random.default_rng(15)
    M, C = 65535 * 4 + 5, 3
    x = rng.normal(size=(M, C))
    t = rng.integers(0, C, M)
    lp = x - x.max(-1, keepdims=True)
    lp -= np.log(np.exp(lp).sum(-1, keepdims=True))
    loss = fastact.cross_entropy(cuda.to_device(x), cuda.to_device(t), reduction="none")
    assert_close(loss.copy_to_host(), -lp[np.arange(M), t], 1e-12, 1e-15, "ce rows")
    g = rng.normal(size=(M, C))
    y = np.exp(lp)
    got = fastact.softmax_backward(cuda.to_device(g), cuda.to_device(y)).copy_to_host()
    assert_close(got, y * (g - (g * y).sum(-1, keepdims=True)), 1e-12, 1e-15, "softmax' rows")


def test_numba_low_occupancy_warning_is_not_an_error():
    """On a GPU (never in the simulator) numba-cuda warns at each launch of fewer than
    128 blocks, which the tests' small arrays always are: with pytest's
    ``filterwarnings = error`` every CUDA test would fail on hardware, so the project's
    filters must let exactly this warning pass (the message as numba-cuda 0.30 words it)."""
    import warnings

    from numba.core.errors import NumbaPerformanceWarning

    msg = "Grid size 4 will likely result in GPU under-utilization due to low occupancy."
    warnings.warn(NumbaPerformanceWarning(msg), stacklevel=1)  # raises if not ignored
    with pytest.raises(NumbaPerformanceWarning):  # other performance warnings still fail
        warnings.warn(NumbaPerformanceWarning("Host array used in CUDA kernel"), stacklevel=1)
