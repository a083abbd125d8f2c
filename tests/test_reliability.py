"""Reliability defects (issue 14): each test failed before its fix.

Memory safety of ``out=`` subclasses, restricted CPU sets, forked children, loss
reductions at inf/NaN, overlapping outputs, checks before writes, unsigned targets,
the thread count, the typed-parameter cache, read-only and byte-swapped inputs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastact

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

CPU = [b for b in ("numba", "cython", "numpy") if b in fastact.available_backends()]
COMPILED = [b for b in CPU if b != "numpy"]


def _guarded_matrix(n_rows: int, n_cols: int, dtype=np.float64):
    """A numpy.matrix over the first part of a buffer whose tail is a guard region."""
    buf = np.zeros(2 * n_rows * n_cols + 64, dtype=dtype)
    m = np.asmatrix(buf[: n_rows * n_cols].reshape(n_rows, n_cols))
    return m, buf[n_rows * n_cols :]


@pytest.mark.parametrize("backend", CPU)
def test_matrix_out_is_written_in_bounds(backend):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 1024))  # 2^16 elements: the parallel kernels
    m, guard = _guarded_matrix(64, 1024)
    r = fastact.relu(x, out=m, backend=backend)
    assert r is m
    np.testing.assert_array_equal(np.asarray(m), np.maximum(x, 0))
    assert not guard.any()
    m2, guard2 = _guarded_matrix(64, 1024)
    fastact.tanh_backward(np.ones_like(x), x, out=m2, backend=backend)
    np.testing.assert_allclose(np.asarray(m2), 1 - np.tanh(x) ** 2, rtol=1e-12, atol=1e-15)
    assert not guard2.any()
    m3, guard3 = _guarded_matrix(64, 1024)
    w = np.full(64, 0.25)
    fastact.prelu(x, w, axis=0, out=m3, backend=backend)
    np.testing.assert_array_equal(np.asarray(m3), np.where(x > 0, x, 0.25 * x))
    assert not guard3.any()
    m4, guard4 = _guarded_matrix(64, 1024)
    _, slopes = fastact.rrelu(x, training=True, seed=3, out=m4, backend=backend)
    np.testing.assert_array_equal(np.asarray(m4), x * slopes)
    assert not guard4.any()


@pytest.mark.parametrize("backend", CPU)
def test_matrix_grad_out_of_losses_in_bounds(backend):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 1024))
    t = rng.normal(size=x.shape)
    m, guard = _guarded_matrix(64, 1024)
    _, g = fastact.mse_loss(x, t, reduction="sum", return_grad=True, grad_out=m, backend=backend)
    assert g is m
    np.testing.assert_allclose(np.asarray(m), 2 * (x - t), rtol=1e-12)
    assert not guard.any()
    m2, guard2 = _guarded_matrix(64, 1024)
    ti = rng.integers(0, 1024, size=64)
    fastact.cross_entropy(x, ti, reduction="sum", return_grad=True, grad_out=m2, backend=backend)
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(64), ti] -= 1
    np.testing.assert_allclose(np.asarray(m2), p, rtol=1e-10, atol=1e-14)
    assert not guard2.any()


def test_masked_arrays_are_refused():
    x = np.ma.masked_array([1.0, -2.0], mask=[False, True])
    with pytest.raises(TypeError, match="masked"):
        fastact.relu(x)
    with pytest.raises(TypeError, match="masked"):
        fastact.relu(np.array([1.0, -2.0]), out=np.ma.zeros(2))


@pytest.mark.parametrize("backend", CPU)
def test_byte_swapped_and_read_only_inputs(backend):
    x = np.linspace(-4, 4, 70_000)
    xs = x.astype(">f8")
    np.testing.assert_allclose(fastact.sigmoid(xs, backend=backend), 1 / (1 + np.exp(-x)), 1e-14)
    out = np.empty(x.shape, dtype=">f8")
    fastact.relu(x, out=out, backend=backend)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    ro = x.copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(fastact.relu(ro, backend=backend), np.maximum(x, 0))
    np.testing.assert_allclose(fastact.softmax(ro[None], backend=backend).sum(), 1.0, 1e-12)
    # BCE makes a read-only broadcast of pos_weight itself
    t = (x > 0).astype(float)
    got = fastact.binary_cross_entropy_with_logits(
        ro, t, pos_weight=np.full(x.shape, 2.0), reduction="sum", backend=backend
    )
    ref = np.sum((1 - t) * x + (1 + t) * (np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)))
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def _run(code: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux affinity")
def test_restricted_cpu_set():
    """Under a one-CPU affinity mask (taskset, Docker --cpuset-cpus, Slurm) every
    parallel-size call runs, on every compiled backend."""
    r = _run(
        f"""
        import os
        os.sched_setaffinity(0, {{sorted(os.sched_getaffinity(0))[0]}})
        import numpy as np, fastact
        from fastact import _threads
        assert fastact.get_num_threads() == 1, fastact.get_num_threads()
        x = np.linspace(-3, 3, 1 << 16).astype(np.float32)
        for b in {COMPILED!r}:
            assert np.array_equal(fastact.relu(x, backend=b), np.maximum(x, 0)), b
            s = fastact.softmax(x.reshape(16, -1), backend=b)
            assert np.allclose(s.sum(1), 1, rtol=1e-5), b
        try:
            fastact.set_num_threads(2)
        except ValueError as e:
            print("refused", e)
        """
    )
    assert r.returncode == 0, r.stderr
    assert "refused" in r.stdout and "between 1 and 1" in r.stdout


@pytest.mark.parametrize("backend", COMPILED)
def test_forked_child_after_parallel_use(backend):
    """A child forked after the parent ran a parallel kernel does not hang."""
    r = _run(
        f"""
        import os, numpy as np, fastact
        x = np.linspace(-8, 8, 1 << 17)
        fastact.tanh(x, backend={backend!r})
        pid = os.fork()
        if pid == 0:
            ok = np.allclose(fastact.tanh(x, backend={backend!r}), np.tanh(x))
            ok &= np.allclose(fastact.softmax(x.reshape(8, -1), backend={backend!r}).sum(1), 1)
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
        """,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0"], r.stdout + r.stderr


@pytest.mark.parametrize("backend", COMPILED)
def test_multiprocessing_fork_pool(backend):
    r = _run(
        f"""
        import multiprocessing as mp, numpy as np, fastact
        from functools import partial
        x = np.linspace(-8, 8, 1 << 17)
        fastact.sigmoid(x, backend={backend!r})
        f = partial(fastact.sigmoid, backend={backend!r})
        with mp.get_context("fork").Pool(2) as pool:
            res = pool.map(f, [x, x[::-1]])
        assert np.allclose(res[0], 1 / (1 + np.exp(-x)))
        print("ok")
        """,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


@pytest.mark.parametrize("backend", CPU)
def test_small_loss_reductions_return_inf_and_nan(backend):
    x = np.array([1e308, 1e308, 0.0])
    t = np.array([-1e308, -1e308, 0.0])
    assert fastact.mse_loss(x, t, reduction="sum", backend=backend) == np.inf
    x2 = np.array([np.inf, 0.0, 1.0])
    t2 = np.array([0.0, np.inf, 1.0])
    assert np.isinf(fastact.mse_loss(x2, t2, reduction="mean", backend=backend))
    # inf + (-inf) in the per-element losses: NaN, as PyTorch
    x3 = np.array([-np.inf, np.inf])
    t3 = np.array([1.0, 1.0])
    r = fastact.binary_cross_entropy_with_logits(x3, t3, reduction="sum", backend=backend)
    assert np.isinf(r) or np.isnan(r)


@pytest.mark.parametrize("backend", CPU)
def test_grad_out_overlapping_the_target(backend):
    rng = np.random.default_rng(2)
    x = rng.normal(size=1000)
    t = rng.normal(size=1000)
    ref = 2 * (x - t)
    buf = np.concatenate([t, [0.0]])
    tv, gv = buf[:-1], buf[1:]  # grad_out shifted by one element over the target
    fastact.mse_loss(x, tv, reduction="sum", return_grad=True, grad_out=gv, backend=backend)
    np.testing.assert_allclose(gv, ref, rtol=1e-12)
    # prelu's out is its weight (1-d x: channel axis 0)
    w = rng.uniform(0.1, 0.3, size=1000)
    xr = -np.abs(x)
    expect = w * xr
    fastact.prelu(xr, w, out=w, backend=backend)
    np.testing.assert_allclose(w, expect, rtol=1e-15)


@pytest.mark.parametrize("backend", CPU)
def test_bad_loss_out_is_refused_before_grad_out_is_written(backend):
    x = np.random.default_rng(3).normal(size=(8, 5))
    keep = x.copy()
    t = np.arange(8) % 5
    with pytest.raises(ValueError, match="out has shape"):
        fastact.cross_entropy(x, t, return_grad=True, grad_out=x, out=np.empty(3), backend=backend)
    np.testing.assert_array_equal(x, keep)
    with pytest.raises(ValueError, match="out has shape"):
        fastact.mse_loss(x, keep, return_grad=True, grad_out=x, out=np.empty(3), backend=backend)
    np.testing.assert_array_equal(x, keep)


@pytest.mark.parametrize("backend", CPU)
def test_unsigned_targets_do_not_wrap(backend):
    x = np.zeros((2, 3))
    for bad in (2**63 + 5, 2**64 - 100):  # the second wraps to -100 = ignore_index in int64
        t = np.array([bad, 1], dtype=np.uint64)
        with pytest.raises(IndexError, match=str(bad)):
            fastact.cross_entropy(x, t, backend=backend)
    ok = fastact.cross_entropy(x, np.array([2, 1], dtype=np.uint64), backend=backend)
    np.testing.assert_allclose(ok, np.log(3), rtol=1e-14)


def test_set_num_threads_one_is_honoured_by_kernels_without_a_serial_variant():
    if "numba" not in CPU:
        pytest.skip("numba backend unavailable")
    import numba

    x = np.random.default_rng(4).normal(size=(64, 2048))
    before = fastact.get_num_threads()
    try:
        fastact.set_num_threads(1)
        fastact.prelu(x, np.full(64, 0.1), axis=0, backend="numba")
        assert numba.get_num_threads() == 1
        fastact.softmax_backward(x, x, backend="numba")
        assert numba.get_num_threads() == 1
    finally:
        fastact.set_num_threads(before)


def test_typed_parameter_cache_keeps_the_sign_of_zero():
    x = np.array([-1.0, -2.0])
    a = fastact.leaky_relu(x, 0.0)
    b = fastact.leaky_relu(x, -0.0)
    assert np.all(np.signbit(a)) and not np.any(np.signbit(b))



@pytest.mark.parametrize("zero", [np.float64, np.float32], ids=["np.float64", "np.float32"])
def test_typed_parameter_cache_keeps_the_sign_of_a_numpy_zero(zero):
    # np.float64(-0.0) == np.float64(0.0) and hashes alike: the cache key holds the sign
    # of NumPy scalars too (it held it for Python floats only), forward and backward
    x = np.array([-1.0, -2.0])
    g = np.ones(2)
    for first, second in ((0.0, -0.0), (-0.0, 0.0)):
        fastact.leaky_relu(x, zero(first))
        fastact.leaky_relu_backward(g, x, zero(first))
        y = fastact.leaky_relu(x, zero(second))
        d = fastact.leaky_relu_backward(g, x, zero(second))
        assert np.all(np.signbit(y) == (second == 0.0 and not np.signbit(second))), (first, y)
        assert np.all(np.signbit(d) == bool(np.signbit(second))), (first, d)


@pytest.mark.parametrize("backend", fastact.available_backends())
def test_reduced_loss_is_written_into_out_on_every_backend(backend):
    """The CUDA backend ignored out= for a reduced loss; now every backend writes it."""
    x = np.random.default_rng(5).normal(size=(4, 3))
    t = np.array([0, 2, 1, 1])
    lse = np.log(np.exp(x).sum(1))
    want = float(np.mean(lse - x[np.arange(4), t]))
    for red, val in (("mean", want), ("sum", 4 * want)):
        out = np.empty(())
        r = fastact.cross_entropy(x, t, reduction=red, out=out, backend=backend)
        assert r is out
        np.testing.assert_allclose(out, val, rtol=1e-12)
    for f in (fastact.mse_loss, fastact.binary_cross_entropy_with_logits):
        out = np.empty(())
        f(x, np.full_like(x, 0.5), out=out, backend=backend)
        np.testing.assert_allclose(out, f(x, np.full_like(x, 0.5), backend="numpy"), rtol=1e-12)


def test_automatic_choice_warns_when_it_falls_back_to_numpy(monkeypatch):
    from fastact import _backends

    monkeypatch.setattr(_backends, "_auto_cpu", None)
    real = _backends.is_available
    monkeypatch.setattr(_backends, "is_available", lambda n: n == "numpy" and real(n))
    monkeypatch.setitem(_backends._failed, "numba", "ImportError: simulated")
    with pytest.warns(RuntimeWarning, match="NumPy reference backend"):
        assert _backends.auto_cpu().NAME == "numpy"
    monkeypatch.setattr(_backends, "_auto_cpu", None)


def test_numba_kernel_cache_depends_on_the_shared_math(tmp_path):
    """Numba stamps a cached kernel by its own file; fastact's kernel modules also
    compile _math.py and the pointwise formulas, so their stamp carries a hash of
    those (an edit of _math.py had left the row kernels' old machine code in use)."""
    import shutil
    from pathlib import Path

    from fastact.kernels import numba_rowwise, numba_special

    from fastact import _numba_setup

    kdir = Path(numba_rowwise.__file__).parent
    pdir = Path(_numba_setup.__file__).parent
    dep = _numba_setup.dependency_hash(kdir)
    for f in (numba_rowwise.softmax_rows, numba_special.prelu_fwd):
        stamp = f._cache._impl.locator.get_source_stamp()
        assert isinstance(stamp, tuple) and stamp[1] == dep
    # every dependency exists (a missing one raises, and the stamp would be Numba's own)
    pkg, kern = _numba_setup.CACHE_DEPENDENCIES
    assert all((pdir / n).is_file() for n in pkg) and all((kdir / n).is_file() for n in kern)
    # the hash follows each dependency's text
    for root, names in ((pdir, pkg), (kdir, kern)):
        for name in names:
            p2, k2 = tmp_path / "pkg", tmp_path / "kern"
            shutil.rmtree(tmp_path, ignore_errors=True)
            p2.mkdir(parents=True)
            k2.mkdir()
            for n in pkg:
                shutil.copy(pdir / n, p2 / n)
            for n in kern:
                shutil.copy(kdir / n, k2 / n)
            assert _numba_setup.dependency_hash(k2, p2) == dep
            edited = (p2 if root is pdir else k2) / name
            edited.write_text(edited.read_text() + "#\n")
            assert _numba_setup.dependency_hash(k2, p2) != dep, name
