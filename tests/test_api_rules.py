"""The rules of API.md that hold for every function: dtypes, errors, backends, threads."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from util import CPU_BACKENDS

import fastact
from fastact import table

ALL_FWD = [e.name for e in table.ENTRIES]


@pytest.mark.parametrize("name", ALL_FWD)
@pytest.mark.parametrize(
    "bad",
    [np.arange(3), np.array([True, False]), np.ones(3, complex), np.array([None, 1.0])],
    ids=["int", "bool", "complex", "object"],
)
def test_non_float_input_raises_type_error(name, bad):
    with pytest.raises(TypeError, match=str(bad.dtype)):
        getattr(fastact, name)(bad)
    with pytest.raises(TypeError, match="float16, float32 or float64"):
        getattr(fastact, name + "_backward")(np.ones(bad.shape), bad)


def test_longdouble_is_rejected():
    if np.dtype(np.longdouble).itemsize == 8:
        pytest.skip("longdouble is float64 here")
    with pytest.raises(TypeError, match=r"float128|longdouble"):
        fastact.relu(np.ones(3, np.longdouble))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_wrong_out_raises_value_error(backend):
    x = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="shape"):
        fastact.relu(x, out=np.empty((4, 3), np.float32), backend=backend)
    with pytest.raises(ValueError, match="dtype"):
        fastact.relu(x, out=np.empty((3, 4), np.float64), backend=backend)
    with pytest.raises(ValueError, match="read-only"):
        ro = np.empty((3, 4), np.float32)
        ro.flags.writeable = False
        fastact.relu(x, out=ro, backend=backend)
    with pytest.raises(TypeError, match=r"numpy\.ndarray"):
        fastact.relu(x, out=[0.0] * 12, backend=backend)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_backward_shape_mismatch(backend):
    with pytest.raises(ValueError, match=r"grad_output has shape \(3,\) but x has shape \(4,\)"):
        fastact.sigmoid_backward(np.ones(3), np.ones(4), backend=backend)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="approximate must be one of"):
        fastact.gelu(np.ones(2), approximate="fast")
    with pytest.raises(TypeError, match="negative_slope"):
        fastact.leaky_relu(np.ones(2), "0.1")
    with pytest.raises(ValueError, match="NaN"):
        fastact.elu(np.ones(2), float("nan"))


def test_backend_selection():
    assert "numpy" in fastact.available_backends()
    assert fastact.available_backends()[0] == "numba"
    with pytest.raises(ValueError, match="unknown backend 'fortran'"):
        fastact.relu(np.ones(2), backend="fortran")
    with pytest.raises(TypeError, match="backend"):
        fastact.relu(np.ones(2), backend=3)
    assert issubclass(fastact.BackendUnavailable, RuntimeError)
    if "cuda" not in fastact.available_backends():
        with pytest.raises(fastact.BackendUnavailable, match="cuda"):
            fastact.relu(np.ones(2), backend="cuda")


def test_unavailable_backend_is_explained_and_auto_falls_back():
    """With Numba disabled, backend='numba' raises and the automatic choice still works."""
    code = (
        "import numpy as np, fastact\n"
        "assert 'numba' not in fastact.available_backends()\n"
        "try:\n"
        "    fastact.relu(np.ones(2), backend='numba')\n"
        "except fastact.BackendUnavailable as e:\n"
        "    assert 'FASTACT_DISABLE' in str(e), e\n"
        "else:\n"
        "    raise SystemExit('no error')\n"
        "print(fastact.relu(np.array([-1.0, 2.0])).tolist())\n"
    )
    env = dict(os.environ, FASTACT_DISABLE="numba,cython")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[0.0, 2.0]"


def test_threads_setting():
    n = fastact.get_num_threads()
    assert n >= 1
    try:
        fastact.set_num_threads(1)
        assert fastact.get_num_threads() == 1
        x = np.linspace(-5, 5, 100_000)
        np.testing.assert_allclose(fastact.tanh(x), np.tanh(x), rtol=1e-15)
    finally:
        fastact.set_num_threads(n)
    with pytest.raises(ValueError, match="between 1 and"):
        fastact.set_num_threads(0)
    with pytest.raises(ValueError, match="between 1 and"):
        fastact.set_num_threads(10_000)
    with pytest.raises(TypeError):
        fastact.set_num_threads(1.5)


def test_concurrent_python_threads():
    """Several Python threads calling parallel kernels at once get correct results."""
    x = np.linspace(-8, 8, 400_000)
    want = np.tanh(x)
    errors: list[BaseException] = []

    def work():
        try:
            for _ in range(20):
                np.testing.assert_allclose(fastact.tanh(x), want, rtol=1e-15)
                fastact.sigmoid_backward(x, x)
        except BaseException as e:
            errors.append(e)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


def test_fork_after_parallel_use():
    """A child forked after the parent ran parallel kernels can run them too."""
    code = (
        "import os, numpy as np, fastact, numba\n"
        "x = np.linspace(-8, 8, 400_000)\n"
        "fastact.tanh(x)\n"
        "layer = numba.threading_layer()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    ok = np.allclose(fastact.tanh(x), np.tanh(x))\n"
        "    os._exit(0 if ok else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(layer, os.waitstatus_to_exitcode(status))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    layer, code_ = r.stdout.split()
    assert code_ == "0", r.stderr
    assert layer == "tbb"


def test_multiprocessing_fork_pool():
    import multiprocessing as mp

    x = np.linspace(-8, 8, 100_000)
    fastact.tanh(x)
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        res = pool.map(fastact.sigmoid, [x, x[::-1]])
    np.testing.assert_allclose(res[0], 1 / (1 + np.exp(-x)), rtol=1e-14)


def test_auto_choice_falls_back_to_cython_without_numba():
    if "cython" not in fastact.available_backends():
        pytest.skip("the Cython extension is not built here")
    code = (
        "import numpy as np, fastact\n"
        "from fastact import _backends\n"
        "print(_backends.auto_cpu().NAME, fastact.available_backends())\n"
        "print(fastact.gelu(np.array([-1.0, 2.0])).round(6).tolist())\n"
    )
    env = dict(os.environ, FASTACT_DISABLE="numba")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.strip().splitlines()
    assert first.startswith("cython")
    assert second == "[-0.158655, 1.9545]"
