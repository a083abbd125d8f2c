"""glibc's vector math library (libmvec) for Numba kernels.

Numba lowers ``math.erfc`` to a scalar libm call, which keeps LLVM from
vectorizing the loop around it (float64 GELU ran at 21x the time of a copy).
glibc ships vector versions (``_ZGVeN8v_erfc``: eight doubles per call with
AVX-512, ``_ZGVdN4v_erfc`` with AVX2, ...). :func:`vcall_erfc` emits the scalar
call with LLVM's ``vector-function-abi-variant`` attribute naming the variants
this CPU can run, so the loop vectorizer replaces it by the vector call (the
mechanism ``-fveclib`` uses). The variants are declared in the module and kept
alive through ``llvm.compiler.used``; libmvec is loaded into the process so that
the JIT resolves them.

Available on x86-64 Linux with glibc >= 2.35 (``HAVE_LIBMVEC``); elsewhere, or
with ``FASTACT_NO_LIBMVEC=1``, the math module keeps its own implementations.
Accuracy: libmvec's erfc/erfcf measured within 1.7 ulp by ``tests/test_math.py``.
"""

from __future__ import annotations

import ctypes.util
import os
import platform

from llvmlite import ir
from numba import types
from numba.extending import intrinsic


def _isa_variants() -> list[tuple[str, int]]:
    """(ISA letter, doubles per vector) for the x86 vector ISAs this CPU has."""
    import llvmlite.binding as llb

    feats = llb.get_host_cpu_features()
    out = [("b", 2)]  # SSE2: every x86-64
    if feats.get("avx2", False):
        out.append(("d", 4))
    if feats.get("avx512f", False):
        out.append(("e", 8))
    return out


#: the libm functions the kernels call through libmvec (double; float with suffix f)
NAMES = ("erfc", "log1p", "exp")


def _load() -> list[tuple[str, int]] | None:
    # libmvec is loaded even when disabled, so that kernels cached on disk by a run
    # that used it still link
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    libc = platform.libc_ver()
    try:
        major, minor = (int(v) for v in libc[1].split(".")[:2])
    except ValueError:
        return None
    if libc[0] != "glibc" or (major, minor) < (2, 35):
        return None
    path = ctypes.util.find_library("mvec")
    if path is None:
        return None
    try:
        import llvmlite.binding as llb

        llb.load_library_permanently(path)
        lib = ctypes.CDLL(path)
        isas = _isa_variants()
        for isa, n in isas:  # every variant we may name must resolve
            for f in NAMES:
                getattr(lib, f"_ZGV{isa}N{n}v_{f}")
                getattr(lib, f"_ZGV{isa}N{2 * n}v_{f}f")
    except (OSError, AttributeError, RuntimeError):
        return None
    if os.environ.get("FASTACT_NO_LIBMVEC") == "1":
        return None
    return isas


ISAS = _load()
HAVE_LIBMVEC = ISAS is not None

#: scalar name -> (LLVM type, lanes per ISA multiplier)
_FUNCS = {
    f + suffix: (ty, mult)
    for f in NAMES
    for suffix, ty, mult in (("", ir.DoubleType(), 1), ("f", ir.FloatType(), 2))
}


def _variants(fname: str) -> list[tuple[str, ir.VectorType]]:
    fty, mult = _FUNCS[fname]
    assert ISAS is not None
    return [(f"_ZGV{isa}N{n * mult}v_{fname}", ir.VectorType(fty, n * mult)) for isa, n in ISAS]


def _keep_alive(mod: ir.Module) -> None:
    # declare every vector variant once per module and list them in
    # llvm.compiler.used: otherwise the module linker drops the unused declarations
    # before the loop vectorizer could use them
    if "llvm.compiler.used" in mod.globals:
        return
    ptr = ir.IntType(8).as_pointer()
    keep = []
    for fname in _FUNCS:
        for vname, vt in _variants(fname):
            f = mod.globals.get(vname) or ir.Function(mod, ir.FunctionType(vt, [vt]), name=vname)
            keep.append(f.bitcast(ptr))
    arr = ir.ArrayType(ptr, len(keep))
    gv = ir.GlobalVariable(mod, arr, name="llvm.compiler.used")
    gv.linkage = "appending"
    gv.section = "llvm.metadata"
    gv.initializer = ir.Constant(arr, keep)


def _call(builder: ir.IRBuilder, fname: str, arg: ir.Value) -> ir.Value:
    mod = builder.module
    fty, _ = _FUNCS[fname]
    scalar = mod.globals.get(fname)
    if scalar is None:
        scalar = ir.Function(mod, ir.FunctionType(fty, [fty]), name=fname)
        # no side effects (errno is never read): lets the vectorizer replace the call
        scalar.attributes.add("nounwind")
        set.add(scalar.attributes, "memory(none)")
        set.add(scalar.attributes, "willreturn")
    _keep_alive(mod)
    n_of = {vname: vt.count for vname, vt in _variants(fname)}
    mapping = ",".join(f"_ZGV_LLVM_N{n}v_{fname}({v})" for v, n in n_of.items())
    call = builder.call(scalar, [arg])
    # llvmlite only accepts attributes it knows: add the string attribute directly
    set.add(call.attributes, f'"vector-function-abi-variant"="{mapping}"')
    return call


def _make(name: str):  # type: ignore[no-untyped-def]
    @intrinsic
    def vcall(typingctx, x):  # type: ignore[no-untyped-def]
        if x == types.float64:

            def cg64(context, builder, signature, args):  # type: ignore[no-untyped-def]
                return _call(builder, name, args[0])

            return types.float64(types.float64), cg64
        if x == types.float32:

            def cg32(context, builder, signature, args):  # type: ignore[no-untyped-def]
                return _call(builder, name + "f", args[0])

            return types.float32(types.float32), cg32
        return None

    vcall.__doc__ = f"{name}(x) through libm, vectorized by LLVM with libmvec (float32: {name}f)."
    return vcall


vcall_erfc = _make("erfc")
vcall_exp = _make("exp")
