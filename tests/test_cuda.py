"""The CUDA backend, in Numba's CUDA simulator (tiny sizes) unless FASTACT_CUDA_HW=1.

References are independent: the table's float64 NumPy formulas, SciPy and PyTorch
(on the CPU). ``test_kernels_compile_for_sm90`` compiles every kernel to PTX for a
real GPU (warp-shuffle path included) where the NVVM toolchain is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from util import assert_close

import fastact
from fastact import table

if "cuda" not in fastact.available_backends():
    pytest.skip("no CUDA backend (numba-cuda missing)", allow_module_level=True)

from numba import cuda

torch = pytest.importorskip("torch")
special = pytest.importorskip("scipy.special")

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e4, -1e4, 20.0, -20.0, 3.0, -3.0, 1.0]


def _x(dtype, n=61, seed=0):
    rng = np.random.default_rng(seed)
    v = np.concatenate([SPECIALS, rng.normal(0, 3, n - len(SPECIALS))])
    return v.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=str)
@pytest.mark.parametrize("entry", table.ENTRIES, ids=lambda e: e.name)
def test_elementwise_on_device_arrays(entry, dtype):
    x = _x(dtype)
    a, b = entry.encode(())
    g = np.linspace(-2, 2, x.size).astype(dtype)
    rtol, atol = entry.tol[np.dtype(dtype).name]
    rtol, atol = max(rtol, 2e-6 if dtype == np.float32 else rtol), max(atol, 1e-30)
    with np.errstate(all="ignore"):
        ref = entry.ref(x.astype(np.float64), a, b).astype(dtype)
        dref = (g.astype(np.float64) * entry.ref_deriv(x.astype(np.float64), a, b)).astype(dtype)
    if dtype == np.float16:  # numpy in, numpy out through the device
        y = getattr(fastact, entry.name)(x, backend="cuda")
        gx = getattr(fastact, entry.name + "_backward")(g, x, backend="cuda")
        assert isinstance(y, np.ndarray) and y.dtype == np.float16
    else:  # device array in, device array out (automatic backend choice)
        y = getattr(fastact, entry.name)(cuda.to_device(x))
        assert hasattr(y, "copy_to_host")
        y = y.copy_to_host()
        gx = getattr(fastact, entry.name + "_backward")(cuda.to_device(g), cuda.to_device(x))
        gx = gx.copy_to_host()
    assert_close(y, ref, rtol, atol, f"cuda {entry.name}")
    assert_close(gx, dref, rtol, rtol * np.abs(g.astype(np.float64)) + atol, f"cuda {entry.name}'")


def test_float16_device_arrays_stay_float16():
    """float16 device arrays go through the float16-storage kernels (float32 math)."""
    x = _x(np.float16)
    g = np.linspace(-2, 2, x.size).astype(np.float16)
    y = fastact.gelu(cuda.to_device(x))
    assert y.dtype == np.float16
    gx = fastact.silu_backward(cuda.to_device(g), cuda.to_device(x))
    assert gx.dtype == np.float16
    e, s = table.BY_NAME["gelu"], table.BY_NAME["silu"]
    with np.errstate(all="ignore"):
        ref = e.ref(x.astype(np.float64), *e.encode(())).astype(np.float16)
        dref = g.astype(np.float64) * s.ref_deriv(x.astype(np.float64), *s.encode(()))
    assert_close(y.copy_to_host(), ref, 1e-3, 6e-8, "gelu f16")
    assert_close(gx.copy_to_host(), dref.astype(np.float16), 1e-3, 6e-8, "silu' f16")


def test_elementwise_out_shapes_and_errors():
    x = _x(np.float32).reshape(1, -1)
    out = cuda.device_array_like(x)
    assert fastact.tanh(cuda.to_device(x), out=out) is out
    assert_close(out.copy_to_host(), np.tanh(x.astype(np.float64)).astype(np.float32), 2e-6, 0)
    with pytest.raises(ValueError, match="shape"):
        fastact.tanh(cuda.to_device(x), out=cuda.device_array((2, 3), np.float32))
    with pytest.raises(TypeError, match="int64"):
        fastact.relu(cuda.to_device(np.arange(4)))
    with pytest.raises(ValueError, match="shape"):
        fastact.relu_backward(cuda.to_device(x[:, :3]), cuda.to_device(x))
    # empty and 0-d
    assert fastact.relu(np.zeros((0, 3), np.float32), backend="cuda").shape == (0, 3)
    assert fastact.relu(np.float32(-2.0), backend="cuda") == 0


ROWS = np.array(
    [
        [1e4, -1e4, 0.0, 1e4, 2.0],
        [-np.inf, 1.0, 2.0, -np.inf, 0.5],
        [-np.inf] * 5,
        [np.inf, 0.0, 1.0, 2.0, 3.0],
        [np.nan, 0.0, 1.0, 2.0, 3.0],
    ]
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=str)
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_rowwise_against_scipy_and_torch(op, dtype):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(2, 3, 20)) * 3).astype(dtype)
    tol = 2e-6 if dtype == np.float32 else 1e-12
    for ax in (-1, 1):
        got = getattr(fastact, op)(cuda.to_device(x), axis=ax).copy_to_host()
        ref = getattr(special, op)(x.astype(np.float64), axis=ax)
        assert_close(got, ref.astype(dtype), tol, tol * (1 + np.abs(ref)), f"{op} axis {ax}")
    with np.errstate(all="ignore"):
        want = getattr(torch, op)(torch.tensor(ROWS.astype(dtype)), -1).numpy()
    got = getattr(fastact, op)(ROWS.astype(dtype), backend="cuda")
    assert_close(got, want, 1e-6, 1e-6, f"{op} edge rows")


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_rowwise_short_and_long_rows(op):
    """Every row kernel: one warp per row (C <= WARP_MAX_C, row cached in registers),
    one block per row with the row staged in shared memory (C <= SMEM_MAX_C) and one
    block per row reading global memory (online max/sum), on rows with the special
    values."""
    from fastact.kernels.cuda_rowwise import SMEM_MAX_C, WARP_MAX_C

    rng = np.random.default_rng(9)
    for C in (WARP_MAX_C, WARP_MAX_C + 9, SMEM_MAX_C, SMEM_MAX_C + 9):
        x = rng.normal(size=(len(ROWS) + 3, C)) * 4
        x[: len(ROWS)] = np.resize(ROWS, (len(ROWS), C))
        x[len(ROWS), C // 2] = np.nan
        for dtype, tol in ((np.float32, 2e-6), (np.float64, 1e-13)):
            xd = x.astype(dtype)
            with np.errstate(all="ignore"):
                want = getattr(torch, op)(torch.tensor(x), -1).numpy()
            got = getattr(fastact, op)(cuda.to_device(xd)).copy_to_host()
            assert_close(got, want.astype(dtype), tol, tol, f"{op} C={C} {dtype.__name__}")
    for C in (WARP_MAX_C + 1, SMEM_MAX_C + 1):
        masked = np.full((2, C), -np.inf)
        masked[1, 3] = 0.0
        if op != "logsumexp":
            y = getattr(fastact, op)(masked, all_masked="zero", backend="cuda")
            assert np.all(y[0] == (0.0 if op == "softmax" else -np.inf))
            assert y[1, 3] == (1.0 if op == "softmax" else 0.0)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_rowwise_backward_against_torch(op):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 50))
    g = rng.normal(size=(6, 50))
    xt = torch.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad(getattr(torch, op)(xt, -1), xt, torch.tensor(g))
    y = getattr(fastact, op)(x)
    got = getattr(fastact, op + "_backward")(g, y, backend="cuda")
    assert_close(got, gt.numpy(), 1e-12, 1e-12, op)


def test_all_masked_rows_zero_option():
    y = fastact.softmax(ROWS[[1, 2]], all_masked="zero", backend="cuda")
    assert np.all(y[1] == 0) and np.isclose(y[0].sum(), 1)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("opts", [{}, {"label_smoothing": 0.1}, {"weight": True}], ids=str)
def test_cross_entropy_against_torch(reduction, opts):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(9, 40)) * 2
    t = rng.integers(0, 40, 9)
    t[::4] = -100
    kw = {"reduction": reduction, "label_smoothing": opts.get("label_smoothing", 0.0)}
    if opts.get("weight"):
        kw["weight"] = rng.uniform(0.5, 2, 40)
    xt = torch.tensor(x, requires_grad=True)
    tkw = {k: torch.tensor(v) if k == "weight" else v for k, v in kw.items()}
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), **tkw)
    (gt,) = torch.autograd.grad(lt.sum(), xt)
    loss, g = fastact.cross_entropy(
        cuda.to_device(x), cuda.to_device(t), return_grad=True, backend="cuda", **kw
    )
    loss = loss.copy_to_host() if hasattr(loss, "copy_to_host") else loss
    assert_close(loss, lt.detach().numpy(), 1e-12, 1e-12, "loss")
    assert_close(g.copy_to_host(), gt.numpy(), 1e-12, 1e-12, "grad")


def test_cross_entropy_bad_targets_raise_on_host():
    x = cuda.to_device(np.zeros((3, 4), np.float32))
    for bad in (4, -1):
        with pytest.raises(IndexError, match=str(bad)):
            fastact.cross_entropy(x, np.array([0, bad, 1]), backend="cuda")
        with pytest.raises(IndexError, match=str(bad)):
            fastact.cross_entropy(x, np.array([0, bad, 1]), backend="cuda", return_grad=True)
    with pytest.raises(TypeError, match="complex"):
        fastact.cross_entropy(x, np.zeros((3, 4), np.complex64), backend="cuda")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("opts", [{}, {"label_smoothing": 0.2}, {"weight": True}], ids=str)
def test_cross_entropy_probability_targets_against_torch(reduction, opts):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3, 4)) * 2  # classes on axis 1
    q = np.ascontiguousarray(rng.dirichlet(np.ones(3), size=(2, 4)).transpose(0, 2, 1))
    kw = {"reduction": reduction, "label_smoothing": opts.get("label_smoothing", 0.0)}
    if opts.get("weight"):
        kw["weight"] = rng.uniform(0.5, 2, 3)
    xt = torch.tensor(x, requires_grad=True)
    tkw = {k: torch.tensor(v) if k == "weight" else v for k, v in kw.items()}
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(q), **tkw)
    (gt,) = torch.autograd.grad(lt.sum(), xt)
    loss, g = fastact.cross_entropy(
        cuda.to_device(x), cuda.to_device(q), axis=1, return_grad=True, **kw
    )
    loss = loss.copy_to_host() if hasattr(loss, "copy_to_host") else loss
    assert_close(loss, lt.detach().numpy(), 1e-12, 1e-12, "loss")
    assert_close(g.copy_to_host(), gt.numpy(), 1e-12, 1e-12, "grad")
    with pytest.raises(ValueError, match="probability targets need"):
        fastact.cross_entropy(cuda.to_device(x), cuda.to_device(q[:1].copy()), axis=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=str)
@pytest.mark.parametrize("nw", [1, 4])
def test_prelu_against_torch(dtype, nw):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 4, 5)).astype(dtype)
    x[0, 0, :3] = [np.nan, -np.inf, np.inf]
    w = rng.uniform(0.05, 0.5, nw).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    wt = torch.tensor(w.astype(np.float64), requires_grad=True)
    yt = torch.nn.functional.prelu(xt, wt)
    gxt, gwt = torch.autograd.grad(yt, (xt, wt), torch.tensor(g.astype(np.float64)))
    y = fastact.prelu(cuda.to_device(x), cuda.to_device(w)).copy_to_host()
    gx, gw = fastact.prelu_backward(cuda.to_device(g), cuda.to_device(x), cuda.to_device(w))
    tol = 1e-6 if dtype == np.float32 else 1e-12
    assert_close(y, yt.detach().numpy(), tol, 0, "prelu")
    assert_close(gx.copy_to_host(), gxt.numpy(), tol, 0, "prelu grad x")
    ok = ~np.isnan(gwt.numpy())
    assert_close(gw.copy_to_host()[ok], gwt.numpy()[ok], 1e-5, 1e-6, "prelu grad w")
    assert gw.copy_to_host().shape == w.shape
    with pytest.raises(ValueError, match="weight has 3 elements"):
        fastact.prelu(cuda.to_device(x), cuda.to_device(w[:1].repeat(3)))


def test_rrelu_training_same_slopes_as_cpu():
    x = np.linspace(-4, 4, 203).astype(np.float32)
    y, s = fastact.rrelu(cuda.to_device(x), 0.1, 0.3, training=True, seed=42)
    y_cpu, s_cpu = fastact.rrelu(x, 0.1, 0.3, training=True, seed=42, backend="numpy")
    np.testing.assert_array_equal(s.copy_to_host(), s_cpu)
    np.testing.assert_array_equal(y.copy_to_host(), y_cpu)
    neg = s_cpu[x < 0]
    assert neg.min() >= 0.1 and neg.max() < 0.3 and np.all(s_cpu[x >= 0] == 1)
    g = np.linspace(1, 2, 203).astype(np.float32)
    gx = fastact.rrelu_backward(cuda.to_device(g), s).copy_to_host()
    np.testing.assert_allclose(gx, g * s_cpu, rtol=1e-7)


@pytest.mark.parametrize("axis", [-1, 1])
def test_maxout_against_numpy_reference(axis):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 6, 6))
    x[0, 0, 0] = np.nan
    k = 3
    xm = np.moveaxis(x, axis, -1)
    ref = np.moveaxis(xm.reshape(*xm.shape[:-1], -1, k).max(-1), -1, axis)
    y = fastact.maxout(cuda.to_device(x), k, axis=axis).copy_to_host()
    assert_close(y, ref, 0, 0, "maxout")
    g = rng.normal(size=ref.shape)
    xt = torch.tensor(np.nan_to_num(x), requires_grad=True)
    xtm = torch.movedim(xt, axis, -1)
    yt = torch.movedim(xtm.reshape(*xtm.shape[:-1], -1, k).amax(-1), -1, axis)
    (gt,) = torch.autograd.grad(yt, xt, torch.tensor(g))
    gx = fastact.maxout_backward(cuda.to_device(g), cuda.to_device(np.nan_to_num(x)), k, axis)
    assert_close(gx.copy_to_host(), gt.numpy(), 0, 0, "maxout grad")
    with pytest.raises(ValueError, match="not divisible"):
        fastact.maxout(cuda.to_device(x), 4)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_and_mse_against_torch(reduction):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(5, 4)) * 5
    x[0, :2] = [80.0, -80.0]
    t = rng.uniform(0, 1, size=(5, 4))
    w = rng.uniform(0.5, 2, size=(5, 1))
    pw = rng.uniform(0.5, 3, size=4)
    F = torch.nn.functional
    xt = torch.tensor(x, requires_grad=True)
    lt = F.binary_cross_entropy_with_logits(
        xt, torch.tensor(t), weight=torch.tensor(w), pos_weight=torch.tensor(pw),
        reduction=reduction,
    )  # fmt: skip
    (gt,) = torch.autograd.grad(lt.sum(), xt)
    loss, g = fastact.binary_cross_entropy_with_logits(
        cuda.to_device(x), cuda.to_device(t), weight=w, pos_weight=pw, reduction=reduction,
        return_grad=True,
    )  # fmt: skip
    loss = loss.copy_to_host() if hasattr(loss, "copy_to_host") else loss
    assert_close(loss, lt.detach().numpy(), 1e-12, 1e-12, "bce")
    assert_close(g.copy_to_host(), gt.numpy(), 1e-12, 1e-12, "bce grad")

    xt = torch.tensor(x, requires_grad=True)
    lt = F.mse_loss(xt, torch.tensor(t), reduction=reduction)
    (gt,) = torch.autograd.grad(lt.sum(), xt)
    loss, g = fastact.mse_loss(x, t, reduction=reduction, return_grad=True, backend="cuda")
    assert_close(loss, lt.detach().numpy(), 1e-12, 1e-12, "mse")
    assert_close(g, gt.numpy(), 1e-12, 1e-12, "mse grad")
    with pytest.raises(ValueError, match="target has shape"):
        fastact.mse_loss(cuda.to_device(x), cuda.to_device(t[:2]))
    with pytest.raises(ValueError, match="broadcast"):
        fastact.binary_cross_entropy_with_logits(x, t, pos_weight=np.ones(3), backend="cuda")


_PTX = r"""
import importlib, types as pytypes, sys
from numba import cuda, types
disp = importlib.import_module(type(cuda.jit(device=True)(lambda x: x)).__module__)
disp.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=(9, 0))
from fastact.kernels import cuda_elementwise as ce, cuda_rowwise as cr, cuda_special as cs
assert cr.USE_SHUFFLE
f32, f64, i64, b1 = types.float32, types.float64, types.int64, types.boolean
n = 0
for ks in (ce.FWD, ce.BWD):
    for k in ks.values():
        for dt in (f32, f64):
            arrs = (dt[::1],) * (2 if ks is ce.FWD else 3)
            cuda.compile_ptx(k.py_func, arrs + (dt, dt), cc=(9, 0)); n += 1
for ks in (ce.FWD_H, ce.BWD_H):
    for k in ks.values():
        arrs = (types.float16[::1],) * (2 if ks is ce.FWD_H else 3)
        cuda.compile_ptx(k.py_func, arrs + (f32, f32), cc=(9, 0)); n += 1
for dt in (f32, f64):
    cuda.compile_ptx(cr.softmax_rows.py_func, (dt[:, ::1], dt[:, ::1], i64, b1), cc=(9, 0))
    cuda.compile_ptx(cr.logsumexp_rows.py_func, (dt[:, ::1], dt[::1]), cc=(9, 0))
    cuda.compile_ptx(cr.softmax_backward_rows.py_func, (dt[:, ::1],) * 3 + (b1,), cc=(9, 0))
    cuda.compile_ptx(cr.cross_entropy_index.py_func, (dt[:, ::1], i64[::1], f64[::1], b1, i64,
        f64, f64, b1, f64[::1], f64[::1], dt[:, ::1], b1, i64[::1]), cc=(9, 0))
    cuda.compile_ptx(cr.cross_entropy_prob.py_func, (dt[:, ::1], dt[:, ::1], f64[::1], b1, f64,
        f64, f64[::1], dt[:, ::1], b1), cc=(9, 0))
    cuda.compile_ptx(cs.prelu_fwd.py_func, (dt[::1],) * 3 + (i64, i64), cc=(9, 0))
    cuda.compile_ptx(cs.prelu_bwd_input.py_func, (dt[::1],) * 4 + (i64, i64), cc=(9, 0))
    cuda.compile_ptx(cs.prelu_bwd_weight.py_func, (dt[::1], dt[::1], f64[::1], i64, i64),
        cc=(9, 0))
    cuda.compile_ptx(cs.rrelu_train.py_func, (dt[::1],) * 3 + (f64, f64, types.uint64),
        cc=(9, 0))
    cuda.compile_ptx(cs.multiply.py_func, (dt[::1],) * 3, cc=(9, 0))
    cuda.compile_ptx(cs.maxout_fwd.py_func, (dt[:, ::1],) * 2 + (i64,), cc=(9, 0))
    cuda.compile_ptx(cs.maxout_bwd.py_func, (dt[:, ::1],) * 3 + (i64,), cc=(9, 0))
    cuda.compile_ptx(cs.bce_with_logits.py_func, (dt[::1], dt[::1], f64[::1], f64[::1], b1, b1,
        f64, f64[::1], b1, f64[::1], dt[::1], b1), cc=(9, 0))
    cuda.compile_ptx(cs.mse.py_func, (dt[::1], dt[::1], f64, f64[::1], b1, f64[::1], dt[::1],
        b1), cc=(9, 0))
    cuda.compile_ptx(cr.softmax_rows_warp.py_func, (dt[:, ::1], dt[:, ::1], i64, b1), cc=(9, 0))
    cuda.compile_ptx(cr.logsumexp_rows_warp.py_func, (dt[:, ::1], dt[::1]), cc=(9, 0))
    cuda.compile_ptx(cr.softmax_rows_smem.py_func, (dt[:, ::1], dt[:, ::1], i64, b1), cc=(9, 0))
    n += 17
print("compiled", n)
"""


def test_kernels_compile_for_sm90():
    """Every CUDA kernel compiles to PTX for an H100 (sm_90), shuffles included."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    r = subprocess.run([sys.executable, "-c", _PTX], env=env, capture_output=True, text=True,
                       timeout=600)  # fmt: skip
    if r.returncode and ("nvrtc" in r.stderr.lower() or "nvvm" in r.stderr.lower()):
        pytest.skip("no NVVM/NVRTC toolchain here (pip install 'fastact[cuda]')")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "compiled" in r.stdout


def test_gpu_target_script_runs_in_the_simulator(tmp_path):
    """bench/tools/gpu_targets.py (the H100 targets) runs end to end at tiny sizes."""
    import json

    script = os.path.join(os.path.dirname(__file__), "..", "bench", "tools", "gpu_targets.py")
    out = tmp_path / "gpu.json"
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    r = subprocess.run([sys.executable, script, "--small", "--out", str(out)], env=env,
                       capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["device"] == "CUDA simulator" and res["small"]
    assert set(res["elementwise_2^28_f32"]) == {"relu", "sigmoid", "tanh", "gelu", "silu"}
    assert res["softmax_f32"]["ms"] > 0 and res["cross_entropy_fwd_bwd"]["ms"] > 0
