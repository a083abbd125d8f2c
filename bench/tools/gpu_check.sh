#!/usr/bin/env bash
# The CUDA check for a real GPU, in one command (issue 17):
#
#   bash bench/tools/gpu_check.sh OUTDIR            # on the GPU machine (< 8 minutes)
#   bash bench/tools/gpu_check.sh --small OUTDIR    # tiny sizes in Numba's CUDA simulator (CI)
#
# Stages, each under its own time limit so that a hang in one keeps the others' results:
#   env      nvidia-smi, nvcc and library versions, numba.cuda.detect() and one kernel launch
#   install  pip install --no-deps --no-build-isolation --no-index -e .  without the Cython
#            extension unless FASTACT_GPU_CHECK_CYTHON=1 (skipped with --no-install or
#            FASTACT_GPU_CHECK_NO_INSTALL=1, and in --small mode)
#   tests    FASTACT_CUDA_HW=1 python -m pytest tests/test_cuda.py tests/test_gpu_check.py
#            (JUnit XML; the simulator-only tests deselected)
#   torch    the PyTorch integration's GPU tests, tests/test_torch*.py -m cuda_hw, if present
#   targets  bench/tools/gpu_targets.py: the four H100 targets, pass/fail (JSON)
#   bench    fastact bench with the CUDA columns at a few sizes (JSON and the table)
#
# OUTDIR receives at most 8 files (what the device tool brings back):
#   summary.txt  one line per stage: "stage status seconds rc limit" (status: pass, fail,
#                timeout, skipped), written as each stage ends, then "total ..."
#   env.txt      versions and the device;  log.txt  every stage's output
#   junit-cuda.xml, junit-torch.xml, targets.json, bench.json, bench.txt
#
# --stages=tests,bench (or FASTACT_GPU_CHECK_STAGES) runs only those stages (a rerun).
# Environment: PYTHON (default python3); FASTACT_GPU_CHECK_SMALL=1 (= --small);
# FASTACT_GPU_CHECK_NO_INSTALL=1; FASTACT_GPU_CHECK_BUDGET (seconds for all stages,
# default 470); FASTACT_GPU_CHECK_TIMEOUT_<STAGE> (one stage's limit, e.g. _TESTS=150);
# FASTACT_GPU_CHECK_PYTEST_K (the tests stage's -k expression); FASTACT_GPU_CHECK_BENCH_OPS.
# Exit status: 0 when every stage that ran passed, 1 otherwise, 2 on bad usage.
set -uo pipefail

usage() {
    echo "usage: bash bench/tools/gpu_check.sh [--small] [--no-install] [--stages=a,b] OUTDIR" >&2
    exit 2
}

SMALL="${FASTACT_GPU_CHECK_SMALL:-0}"
NO_INSTALL="${FASTACT_GPU_CHECK_NO_INSTALL:-0}"
STAGES="${FASTACT_GPU_CHECK_STAGES:-}"
OUTDIR=""
for arg in "$@"; do
    case "$arg" in
        --small) SMALL=1 ;;
        --no-install) NO_INSTALL=1 ;;
        --stages=*) STAGES="${arg#--stages=}" ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        -*) echo "gpu_check: unknown option $arg" >&2; usage ;;
        *) [ -z "$OUTDIR" ] || usage; OUTDIR="$arg" ;;
    esac
done
[ -n "$OUTDIR" ] || usage

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT" || exit 2
mkdir -p "$OUTDIR" || exit 2
OUTDIR="$(cd "$OUTDIR" && pwd)"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
BUDGET="${FASTACT_GPU_CHECK_BUDGET:-470}"
SUMMARY="$OUTDIR/summary.txt"
LOG="$OUTDIR/log.txt"
: >"$SUMMARY"
: >"$LOG"
START=$(date +%s)
FAILED=0

if [ "$SMALL" = 1 ]; then
    export NUMBA_ENABLE_CUDASIM=1
    unset FASTACT_CUDA_HW
    NO_INSTALL=1
    MODE=small
else
    MODE=full
fi

# default limits (seconds); the sum stays under the budget, and every stage also gets
# at most what is left of the budget
lim() {  # lim STAGE DEFAULT_FULL DEFAULT_SMALL
    local var="FASTACT_GPU_CHECK_TIMEOUT_$(echo "$1" | tr '[:lower:]' '[:upper:]')"
    if [ -n "${!var:-}" ]; then echo "${!var}"
    elif [ "$SMALL" = 1 ]; then echo "$3"
    else echo "$2"; fi
}

# stage NAME LIMIT COMMAND...: run COMMAND under `timeout`, its output appended to log.txt
stage() {
    local name="$1" limit="$2"
    shift 2
    local now left t0 rc status
    if [ -n "$STAGES" ] && [[ ",$STAGES," != *",${name%%-*},"* ]]; then
        skip "$name" "not in --stages=$STAGES"
        return 0
    fi
    now=$(date +%s)
    left=$((BUDGET - (now - START)))
    if [ "$left" -lt "$limit" ]; then limit="$left"; fi
    if [ "$limit" -lt 1 ]; then
        printf '%s skipped 0 - 0 (budget of %ss spent)\n' "$name" "$BUDGET" >>"$SUMMARY"
        echo "== $name: skipped, budget spent" | tee -a "$LOG"
        return 0
    fi
    echo "== $name (limit ${limit}s): $*" | tee -a "$LOG"
    t0=$(date +%s)
    timeout --kill-after=5 "$limit" "$@" >>"$LOG" 2>&1
    rc=$?
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status=timeout
    elif [ "$rc" = 0 ]; then status=pass
    else status=fail; fi
    [ "$status" = pass ] || FAILED=1
    printf '%s %s %s %s %s\n' "$name" "$status" "$(($(date +%s) - t0))" "$rc" "$limit" >>"$SUMMARY"
    echo "== $name: $status (rc $rc, $(($(date +%s) - t0)) s)" | tee -a "$LOG"
}

skip() {  # skip NAME REASON
    printf '%s skipped 0 - 0 (%s)\n' "$1" "$2" >>"$SUMMARY"
    echo "== $1: skipped ($2)" | tee -a "$LOG"
}

# ---------------------------------------------------------------------------- #
env_info() {
    local out="$OUTDIR/env.txt"
    {
        echo "# fastact gpu_check ($MODE) $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n) $(uname -m)"
        echo "# git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '-')" \
             "$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -c . || true) changed file(s)"
        echo "## nvidia-smi"
        if command -v nvidia-smi >/dev/null 2>&1; then
            nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit,compute_mode --format=csv
            nvidia-smi
        else
            echo "nvidia-smi not found"
        fi
        echo "## nvcc"
        if command -v nvcc >/dev/null 2>&1; then nvcc --version | tail -2; else echo "nvcc not found"; fi
        echo "## python and libraries"
        "$PY" - <<'EOF'
import importlib.metadata as md
import platform
import sys

print("python", sys.version.replace("\n", " "), "at", sys.executable, platform.machine())
for name in ("numpy", "numba", "numba-cuda", "llvmlite", "cupy", "cupy-cuda12x", "cupy-cuda13x",
             "torch", "cuda-python", "cuda-bindings", "cuda-core", "nvidia-cuda-nvrtc",
             "nvidia-nvjitlink", "ml_dtypes", "Cython", "scipy", "pytest", "fastact"):
    try:
        print(f"{name} {md.version(name)}")
    except md.PackageNotFoundError:
        pass
try:
    import torch

    print("torch.version.cuda", torch.version.cuda, "cuda available", torch.cuda.is_available())
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        print("torch device", p.name, "sm", f"{p.major}.{p.minor}", "SMs", p.multi_processor_count,
              "memory GiB", round(p.total_memory / 2**30, 1))
except ImportError as e:
    print("torch import failed:", e)
EOF
        launch_probe
    } >"$out" 2>&1
    local rc=$?
    cat "$out"
    return $rc
}

launch_probe() {
    echo "## numba.cuda (CUDA_HOME=${CUDA_HOME:-unset})"
    "$PY" - <<'EOF'
import numpy as np
from numba import config, cuda

print("NUMBA_ENABLE_CUDASIM", config.ENABLE_CUDASIM)
cuda.detect()
if not config.ENABLE_CUDASIM:
    try:  # where NVVM, libdevice, the runtime were found
        from numba.cuda.cudadrv import libs

        libs.test()
    except Exception as e:
        print("numba.cuda.cudadrv.libs.test() failed:", e)


@cuda.jit
def _twice(x, y):
    i = cuda.grid(1)
    if i < x.shape[0]:
        y[i] = 2 * x[i]


x = np.arange(1000, dtype=np.float32)
y = cuda.device_array_like(x)
_twice[4, 256](cuda.to_device(x), y)
cuda.synchronize()
assert np.array_equal(y.copy_to_host(), 2 * x), "a one-line kernel gave a wrong result"
print("numba.cuda kernel launch: ok")
EOF
}

install() {
    # the Cython extension is not needed here (CPU columns are numba's) and takes minutes
    # to build: FASTACT_GPU_CHECK_CYTHON=1 builds it
    local nocy=1
    [ "${FASTACT_GPU_CHECK_CYTHON:-0}" = 1 ] && nocy=0
    if [ "$nocy" = 1 ]; then export FASTACT_NO_CYTHON=1; fi
    "$PY" -m pip install --no-deps --no-build-isolation --no-index -e . || return 1
    fastact_info
}

fastact_info() {
    # which backends load (the Cython extension built?) and the CUDA device fastact sees
    "$PY" - <<'EOF' 2>&1 | tee -a "$OUTDIR/env.txt"
import fastact

print("## fastact", fastact.__version__, "at", fastact.__file__)
print("fastact backends:", fastact.available_backends())
if hasattr(fastact, "show_config"):
    fastact.show_config()
if "cuda" in fastact.available_backends():
    from fastact.backends import cuda_backend

    print("fastact cuda device:", cuda_backend.device_name())
EOF
}

# ---------------------------------------------------------------------------- #
echo "gpu_check: $MODE mode, results in $OUTDIR, budget ${BUDGET}s" | tee -a "$LOG"
export -f env_info launch_probe install fastact_info
export OUTDIR PY MODE ROOT

stage env "$(lim env 45 60)" bash -c env_info
# numba-cuda finds NVVM and libdevice in the pip packages or CUDA_HOME: if the first
# launch failed, try the system toolkit once, and keep CUDA_HOME for the later stages
if [ "$SMALL" != 1 ] && ! grep -q "kernel launch: ok" "$OUTDIR/env.txt" 2>/dev/null \
        && [ -z "${CUDA_HOME:-}" ] && [ -d /usr/local/cuda ]; then
    export CUDA_HOME=/usr/local/cuda
    stage env-cuda-home "$(lim env 45 60)" bash -c 'launch_probe 2>&1 | tee -a "$OUTDIR/env.txt"'
fi

if [ "$NO_INSTALL" = 1 ]; then
    skip install "not asked for"
    stage fastact "$(lim fastact 30 60)" bash -c fastact_info
else
    stage install "$(lim install 120 120)" bash -c install
fi
# if fastact still does not import (a failed install), run the later stages from a
# copy of the source layout (fastact/ with kernels/ as fastact/kernels) on PYTHONPATH:
# everything but the Cython backend works from there
if ! "$PY" -c "import fastact" >/dev/null 2>&1; then
    SRC_TREE="$(mktemp -d)"
    cp -r "$ROOT/fastact" "$SRC_TREE/fastact" && ln -s "$ROOT/kernels" "$SRC_TREE/fastact/kernels"
    export PYTHONPATH="$SRC_TREE${PYTHONPATH:+:$PYTHONPATH}"
    echo "== fastact does not import: the later stages use PYTHONPATH=$PYTHONPATH" | tee -a "$LOG"
fi

if [ "$SMALL" = 1 ]; then
    # the simulator runs every thread as a Python thread: a few quick tests exercise the
    # stage (the whole file runs in CI's own pytest call)
    stage tests "$(lim tests 150 120)" env -u FASTACT_CUDA_HW \
        "$PY" -m pytest tests/test_cuda.py -q -p no:cacheprovider --maxfail=20 \
        --junitxml="$OUTDIR/junit-cuda.xml" \
        -k "${FASTACT_GPU_CHECK_PYTEST_K:-test_elementwise_out_shapes_and_errors or test_all_masked_rows_zero_option}"
else
    # on hardware the PTX compile and the simulator-only script test are redundant; each
    # test compiles its kernels (about 150 Numba CUDA compiles): spread them over 8
    # processes where pytest-xdist is installed (FASTACT_GPU_CHECK_XDIST=0: one process)
    XDIST=()
    if [ "${FASTACT_GPU_CHECK_XDIST:-8}" != 0 ] && "$PY" -c "import xdist" 2>/dev/null; then
        XDIST=(-n "${FASTACT_GPU_CHECK_XDIST:-8}")
    fi
    # tests/test_gpu_check.py adds CuPy and PyTorch CUDA arrays (its script and PTX
    # tests are for CI)
    stage tests "$(lim tests 170 120)" env FASTACT_CUDA_HW=1 \
        "$PY" -m pytest tests/test_cuda.py tests/test_gpu_check.py -q -p no:cacheprovider \
        --maxfail=20 "${XDIST[@]}" --durations=10 --junitxml="$OUTDIR/junit-cuda.xml" \
        -k "${FASTACT_GPU_CHECK_PYTEST_K:-not compile_for_sm90 and not script and not ptx}"
fi

shopt -s nullglob
TORCH_TESTS=(tests/test_torch*.py)
shopt -u nullglob
# pytest's exit status 5 (no test selected: no cuda_hw test in the files) counts as a pass
pytest_no_tests_ok() { "$@"; local rc=$?; [ "$rc" = 5 ] && { echo "(no test selected)"; return 0; }; return "$rc"; }
export -f pytest_no_tests_ok
if [ "${#TORCH_TESTS[@]}" = 0 ]; then
    skip torch "no tests/test_torch*.py"
elif [ "$SMALL" = 1 ]; then
    # no GPU: the cuda_hw tests skip themselves; the stage checks that the files import
    stage torch "$(lim torch 45 60)" bash -c 'pytest_no_tests_ok "$@"' _ env -u FASTACT_CUDA_HW \
        "$PY" -m pytest "${TORCH_TESTS[@]}" -q -p no:cacheprovider -m cuda_hw \
        --junitxml="$OUTDIR/junit-torch.xml"
else
    stage torch "$(lim torch 45 60)" bash -c 'pytest_no_tests_ok "$@"' _ env FASTACT_CUDA_HW=1 \
        "$PY" -m pytest "${TORCH_TESTS[@]}" -q -p no:cacheprovider -m cuda_hw --maxfail=20 \
        --junitxml="$OUTDIR/junit-torch.xml"
fi

if [ "$SMALL" = 1 ]; then
    stage targets "$(lim targets 100 60)" "$PY" bench/tools/gpu_targets.py --small \
        --out "$OUTDIR/targets.json"
else
    stage targets "$(lim targets 100 60)" "$PY" bench/tools/gpu_targets.py \
        --out "$OUTDIR/targets.json"
fi

if [ "$SMALL" = 1 ]; then
    BENCH_OPS="${FASTACT_GPU_CHECK_BENCH_OPS:-relu,softmax}"
    BENCH_ARGS=(--ops "$BENCH_OPS" --sizes 2^7 --classes 64 --backends numba,cuda --no-baselines)
else
    BENCH_OPS="${FASTACT_GPU_CHECK_BENCH_OPS:-relu,gelu,silu_backward,softmax,cross_entropy}"
    BENCH_ARGS=(--ops "$BENCH_OPS" --sizes 2^16,2^20,2^24 --backends numba,cuda --quick)
fi
# the table goes to bench.txt, progress and errors to log.txt
stage bench "$(lim bench 90 90)" bash -c '"$0" -m fastact bench "$@" --json "$OUTDIR/bench.json" \
    >"$OUTDIR/bench.txt"; rc=$?; cat "$OUTDIR/bench.txt"; exit $rc' "$PY" "${BENCH_ARGS[@]}"

TOTAL=$(($(date +%s) - START))
if [ "$FAILED" = 0 ]; then ALL=pass; else ALL=fail; fi
printf 'total %s %s - %s\n' "$ALL" "$TOTAL" "$BUDGET" >>"$SUMMARY"
# the end of stdout is what a remote run's reply shows: failures, targets, table, summary
echo "== failed tests (first 40)"
grep -E "^(FAILED|ERROR) " "$LOG" | head -40
echo "== targets"
awk '/^# gpu targets on/ { p = 1 } /^wrote / { p = 0 } p' "$LOG"
echo "== bench"
[ -f "$OUTDIR/bench.txt" ] && grep -v "^x stream:" "$OUTDIR/bench.txt"
echo "== gpu_check $MODE: $ALL in ${TOTAL}s"
cat "$SUMMARY"
exit "$FAILED"
