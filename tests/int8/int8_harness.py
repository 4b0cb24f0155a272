"""ctypes harness for the C int8 kernels (c_runtime/src/kernels/int8/): build, call, and run an int8
model step by step through them.

``build(out_dir, dsp)`` compiles the kernels into a shared library, either the
portable path or the dual-MAC path with emulated DSP intrinsics
(``-DNNB_I8_EMULATE_DSP``); ``run_step`` computes one integer step of an
:class:`nnb.quantize.int8.Int8Model` in C from the step's int8 inputs.
"""

from __future__ import annotations

import ctypes as C
import glob
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from nnb.ops.conv import _geom
from nnb.ops.fused import pool_attrs
from nnb.ops.pooling import _out_sizes
from nnb.quantize.int8 import Int8Model, IntNode
from nnb.quantize.int_sim import clamp_bounds, run_int8
from nnb.quantize.int_sim_arith import quantize_multipliers, requantize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "c_runtime", "src", "kernels", "int8")
FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-fPIC", "-shared"]

I32 = C.c_int32
P8 = C.POINTER(C.c_int8)
P16 = C.POINTER(C.c_int16)
P32 = C.POINTER(C.c_int32)


class ConvParams(C.Structure):
    _fields_ = [(n, I32) for n in ("n", "c", "h", "w", "o", "kh", "kw", "oh", "ow", "pad_h", "pad_w", "stride_h",
                                   "stride_w", "dil_h", "dil_w", "group", "in_zero", "out_zero", "act_min",
                                   "act_max", "res_zero")]


class PoolParams(C.Structure):
    _fields_ = [(n, I32) for n in ("n", "c", "h", "w", "oh", "ow", "kh", "kw", "stride_h", "stride_w", "pad_h",
                                   "pad_w", "including_pad")]


def compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")


SAN_FLAGS = ["-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def build(out_dir: str, dsp: bool, sanitize: bool = False, reuse: str | None = None) -> C.CDLL:
    """``dsp``: the dual-MAC path with emulated intrinsics; ``sanitize``: ASan + UBSan (the process must have
    libasan preloaded). ``reuse``: a library built before with the same flags, copied instead of compiled again
    (a copy loads as a library of its own, with its own state such as the x86 instruction-set cap)."""
    cc = compiler()
    assert cc is not None
    tag = ("_dsp" if dsp else "") + ("_san" if sanitize else "")
    lib = os.path.join(out_dir, f"libnnb_int8{tag}.so")
    if reuse:
        shutil.copyfile(reuse, lib)
    else:
        flags = [f for f in FLAGS if f != "-O2"] + ["-O1"] if sanitize else FLAGS  # -O1: quicker to build
        cmd = [cc, *flags, *(["-DNNB_I8_EMULATE_DSP"] if dsp else []), *(SAN_FLAGS if sanitize else []), "-o", lib,
               *sorted(glob.glob(f"{SRC}/*.c"))]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    so = C.CDLL(lib)
    so.nnb_i8_requantize.restype = I32
    so.nnb_i8_requantize.argtypes = [I32, I32, I32]
    so.nnb_i8_srdhm.restype = I32
    so.nnb_i8_srdhm.argtypes = [I32, I32]
    so.nnb_i8_rdbp.restype = I32
    so.nnb_i8_rdbp.argtypes = [I32, I32]
    so.nnb_i8_conv_scratch.restype = C.c_size_t
    so.nnb_i8_conv_scratch.argtypes = [C.POINTER(ConvParams)]
    so.nnb_i8_isa_level.restype = C.c_int
    so.nnb_i8_isa_level.argtypes = [C.c_int]
    so.nnb_i8_conv2d.argtypes = [C.POINTER(ConvParams), P8, P8, P32, P32, P32, P8, P32, P32, P8, P16, C.c_size_t]
    so.nnb_i8_affine.argtypes = [I32, I32, I32, P8, I32, P8, P32, P32, P32, I32, I32, I32, P8]
    so.nnb_i8_max_pool2d.argtypes = [C.POINTER(PoolParams), P8, P8]
    so.nnb_i8_avg_pool2d.argtypes = [C.POINTER(PoolParams), P8, I32, P8]
    so.nnb_i8_global_avg_pool.argtypes = [I32, I32, I32, P8, I32, I32, I32, I32, P8]
    so.nnb_i8_add.argtypes = [C.c_size_t, P8, I32, P8, I32, P32, P32, I32, I32, I32, P8]
    so.nnb_i8_mul.argtypes = [C.c_size_t, P8, I32, P8, I32, I32, I32, I32, I32, I32, P8]
    so.nnb_i8_rescale.argtypes = [C.c_size_t, P8, I32, I32, I32, I32, P8]
    so.nnb_i8_requantize_vec.argtypes = [C.c_size_t, P32, I32, I32, I32, I32, I32, P8]
    return so


def shim_library(tmp: str, shim: str, name: str, sanitize: bool, cache: dict) -> str:
    """The int8 kernels and a test's C ``shim`` in one shared library, compiled once per process and per
    sanitizer setting (ASan + UBSan at -O1 when ``sanitize``); pass it to ``build(..., reuse=...)``, which loads
    a copy (each copy keeps its own instruction-set cap). Skips, saying why, without a C compiler."""
    cc = compiler()
    if cc is None:
        pytest.skip("no C compiler (gcc/cc) on PATH: the C int8 kernels cannot be built")
    if sanitize not in cache:
        with open(os.path.join(tmp, "shim.c"), "w") as f:
            f.write(shim)
        flags = [f for f in FLAGS if f != "-O2"] + ["-O1", *SAN_FLAGS] if sanitize else FLAGS
        lib = os.path.join(tmp, name)
        subprocess.run([cc, *flags, f"-I{SRC}", "-o", lib, os.path.join(tmp, "shim.c"),
                        *sorted(glob.glob(f"{SRC}/*.c"))], check=True, capture_output=True, text=True)
        cache[sanitize] = lib
    return cache[sanitize]


def build_cached(out_dir: str, dsp: bool, sanitize: bool, cache: dict, key: object) -> C.CDLL:
    """``build`` for a module fixture: skip (saying why) without a C compiler; the first call compiles and records
    the library in ``cache[key]``, later ones load copies of it (each copy keeps its own instruction-set cap)."""
    if compiler() is None:
        pytest.skip("no C compiler (gcc/cc) on PATH: the C int8 kernels cannot be built")
    so = build(out_dir, dsp, sanitize, cache.get(key))
    cache.setdefault(key, so._name)
    return so


def at_isa_level(so: C.CDLL, name: str, want: int, what: str = "int8 path") -> C.CDLL:
    """``so`` capped at x86 instruction-set level ``want`` (0 portable, 1 AVX2, 2 VNNI); skip (saying why) when
    this CPU or build has no such level. ``name``/``what`` name the level in the skip message."""
    got = so.nnb_i8_isa_level(want)
    if got < want:
        pytest.skip(f"this CPU (or build) has no {name} {what} (level {got} < {want}): not run here")
    assert got == want, f"nnb_i8_isa_level({want}) capped at {got}"
    return so


def i8(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    assert a.min(initial=0) >= -128 and a.max(initial=0) <= 127
    return np.ascontiguousarray(a, dtype=np.int8)


def i32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int32)


def ptr(a: np.ndarray | None, t):  # noqa: ANN001, ANN201
    return None if a is None else a.ctypes.data_as(t)


def conv2d(so: C.CDLL, x: np.ndarray, z_in: int, w: np.ndarray, bias: np.ndarray | None, mult: np.ndarray,
           shift: np.ndarray, attrs: dict, group: int, z_out: int, lo: int, hi: int,
           residual: np.ndarray | None = None, res_zero: int = 0, res_mult: np.ndarray | None = None,
           res_shift: np.ndarray | None = None) -> np.ndarray:
    """The C convolution on int8 NCHW ``x`` with int8 weights (O, C/G, KH, KW)."""
    (ph, pw), (sh, sw), (dh, dw) = _geom(2, attrs)
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    ow = (wd + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    p = ConvParams(n, c, h, wd, o, kh, kw, oh, ow, ph, pw, sh, sw, dh, dw, group, z_in, z_out, lo, hi, res_zero)
    scratch = np.zeros(max(1, so.nnb_i8_conv_scratch(C.byref(p))), np.int16)
    y = np.zeros((n, o, oh, ow), np.int8)
    xs, ws, b, m, s = i8(x), i8(w), None if bias is None else i32(bias), i32(mult), i32(shift)
    r = None if residual is None else i8(residual)
    rm = None if res_mult is None else i32(res_mult)
    rs = None if res_shift is None else i32(res_shift)
    st = so.nnb_i8_conv2d(C.byref(p), ptr(xs, P8), ptr(ws, P8), ptr(b, P32), ptr(m, P32), ptr(s, P32), ptr(r, P8),
                          ptr(rm, P32), ptr(rs, P32), ptr(y, P8), ptr(scratch, P16), scratch.size)
    assert st == 0, f"nnb_i8_conv2d returned {st}"
    return y


def with_residual(acc: np.ndarray, rng: np.random.Generator, residual: bool, zero: int = 11) -> tuple:
    """(acc, res, res_mult, res_shift): ``acc`` (N, O, H, W) plus a random int8 residual of zero point ``zero``
    requantized per channel (scale ratios 20 to 300), as FusedConv's residual enters the accumulator; without
    ``residual`` acc unchanged and Nones (no draw from ``rng``)."""
    if not residual:
        return acc, None, None, None
    res = rng.integers(-128, 128, acc.shape)
    rm, rs = quantize_multipliers(rng.uniform(20.0, 300.0, acc.shape[1]))
    return acc + requantize(res - zero, rm.reshape(1, -1, 1, 1), rs.reshape(1, -1, 1, 1)), res, rm, rs


def pool_params(x: np.ndarray, a: dict) -> PoolParams:
    k, s, p, first, out = _out_sizes(x.shape, a)
    assert first == 2 and len(k) == 2
    n, c, h, w = x.shape
    return PoolParams(n, c, h, w, out[0], out[1], k[0], k[1], s[0], s[1], p[0], p[1],
                      1 if a.get("including_pad", True) else 0)


def max_pool(so: C.CDLL, x: np.ndarray, a: dict) -> np.ndarray:
    p = pool_params(x, a)
    y = np.zeros((p.n, p.c, p.oh, p.ow), np.int8)
    xs = i8(x)
    assert so.nnb_i8_max_pool2d(C.byref(p), ptr(xs, P8), ptr(y, P8)) == 0
    return y


def avg_pool(so: C.CDLL, x: np.ndarray, zero: int, a: dict) -> np.ndarray:
    p = pool_params(x, a)
    y = np.zeros((p.n, p.c, p.oh, p.ow), np.int8)
    xs = i8(x)
    assert so.nnb_i8_avg_pool2d(C.byref(p), ptr(xs, P8), zero, ptr(y, P8)) == 0
    return y


def affine(so: C.CDLL, x: np.ndarray, z_in: int, w_ko: np.ndarray, bias: np.ndarray, mult: np.ndarray,
           shift: np.ndarray, z_out: int, lo: int, hi: int) -> np.ndarray:
    n, k = x.shape
    o = w_ko.shape[1]
    xs, wt = i8(x), i8(np.ascontiguousarray(w_ko.T))  # output-major, as NNB stores Affine weights
    b, m, s = i32(bias), i32(mult), i32(shift)
    y = np.zeros((n, o), np.int8)
    assert so.nnb_i8_affine(n, k, o, ptr(xs, P8), z_in, ptr(wt, P8), ptr(b, P32), ptr(m, P32), ptr(s, P32), z_out,
                            lo, hi, ptr(y, P8)) == 0
    return y


def add(so: C.CDLL, a: np.ndarray, za: int, b: np.ndarray, zb: int, mult: np.ndarray, shift: np.ndarray,
        zo: int, lo: int, hi: int) -> np.ndarray:
    a8, b8 = i8(a), i8(np.broadcast_to(b, a.shape))
    m, s = i32(mult), i32(shift)
    y = np.zeros(a.shape, np.int8)
    assert so.nnb_i8_add(a8.size, ptr(a8, P8), za, ptr(b8, P8), zb, ptr(m, P32), ptr(s, P32), zo, lo, hi,
                         ptr(y, P8)) == 0
    return y


def run_step(so: C.CDLL, m: Int8Model, st: IntNode, vals: dict[str, np.ndarray]) -> np.ndarray | None:
    """One integer step in C from the int8 values ``vals``; None for steps the C kernels do not cover
    (ReLU/Reshape clamps and copies, Mul2, Concatenate)."""
    node, a, qp = st.node, st.node.attrs, m.qparams
    xs = [vals[i] for i in node.inputs if m.graph.tensors[i].kind != "param"]
    q_in, q_out = qp[node.inputs[0]], qp[st.output]
    lo, hi = clamp_bounds(st.activation, q_out)
    arr = st.arrays
    if node.op in ("FusedConv", "Convolution", "DepthwiseConvolution"):
        x = xs[0]
        if x.ndim != 4:
            return None
        group = x.shape[1] if node.op == "DepthwiseConvolution" else a["group"]
        res = rz = rm = rs = None
        if node.op == "FusedConv" and a["residual"]:
            res, rz, rm, rs = xs[-1], qp[node.inputs[-1]].zero, arr["res_mult"], arr["res_shift"]
        y = conv2d(so, x, q_in.zero, arr["weight"], arr["bias"], arr["mult"], arr["shift"], a, group, q_out.zero,
                   lo, hi, res, rz or 0, rm, rs)
        if node.op == "FusedConv" and a["pool"] == "max":
            y = max_pool(so, y, pool_attrs(a))
        return y
    if node.op == "Affine":
        x = xs[0].reshape(len(xs[0]), -1)
        y = affine(so, x, q_in.zero, arr["weight"], arr["bias"], arr["mult"], arr["shift"], q_out.zero, lo, hi)
        return y.reshape((len(y),) + m.graph.tensors[node.inputs[1]].shape[1:])
    if node.op == "MaxPooling" and xs[0].ndim == 4:
        return max_pool(so, xs[0], a)
    if node.op == "AveragePooling" and xs[0].ndim == 4:
        return avg_pool(so, xs[0], q_in.zero, a)
    if node.op == "GlobalAveragePooling":
        x = i8(xs[0])
        y = np.zeros(x.shape[:2] + (1,) * (x.ndim - 2), np.int8)
        assert so.nnb_i8_global_avg_pool(x.shape[0], x.shape[1], int(np.prod(x.shape[2:])), ptr(x, P8), q_in.zero,
                                         int(arr["mult"][0]), int(arr["shift"][0]), q_out.zero, ptr(y, P8)) == 0
        return y
    if node.op == "Add2" and xs[0].shape == xs[1].shape:
        return add(so, xs[0], q_in.zero, xs[1], qp[node.inputs[1]].zero, arr["mult"], arr["shift"], q_out.zero,
                   lo, hi)
    return None


def model_steps(so: C.CDLL, m: Int8Model, xs: list[np.ndarray]) -> int:
    """Every integer step of ``m`` recomputed in C from the simulation's own int8 inputs (inputs ``xs``): equal
    outputs; returns how many steps were checked."""
    names = [s.output for s in m.steps]
    vals = run_int8(m, xs, keep=names + list(m.graph.inputs), as_int=True)
    checked = 0
    for st in m.steps:
        if st.kind != "int":
            continue
        got = run_step(so, m, st, vals)
        if got is None:
            continue
        want = vals[st.output]
        assert got.shape == want.shape and (got == want).all(), \
            f"{st.node.name} ({st.node.op}): {int((got != want).sum())} of {want.size} values differ"
        checked += 1
    return checked


def sanitized_seed(nnbrt: str, m: Int8Model, x: np.ndarray, tmp_path, name: str, env: dict) -> str:  # noqa: ANN001
    """``m`` as an int8 NNB (tmp_path/NAME.nnb) run on x[:1] (NAME.bin) by ``nnbrt`` (the ASan/UBSan build) with
    ``env``: no sanitizer report, the output equals the simulation's; returns the NNB's path (a fuzzing seed)."""
    from nnb.emit.nnb_int8 import write_int8_nnb

    p = tmp_path / f"{name}.nnb"
    p.write_bytes(write_int8_nnb(m)[0])
    xin = tmp_path / f"{name}.bin"
    np.asarray(x[:1], "<f4").tofile(xin)
    r = subprocess.run([nnbrt, "run", str(p), str(xin), "-o", str(tmp_path / name)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r.stderr
    y = np.fromfile(str(tmp_path / f"{name}0.bin"), "<f4")
    np.testing.assert_allclose(y, run_int8(m, [x[:1]])[m.graph.outputs[0]].reshape(-1), rtol=1e-5, atol=1e-6)
    return str(p)


def rerun_sanitized(test_file: str, selection: str, san_env: str) -> None:
    """The tests of ``test_file`` chosen by ``-k selection`` again in a child pytest with the kernels built with
    ASan + UBSan (libasan preloaded, ``san_env`` set): they pass; skip (saying why) without a compiler or
    libasan, or when already the sanitized run."""
    if os.environ.get(san_env):
        pytest.skip("already the sanitized run")
    cc = compiler()
    if cc is None:
        pytest.skip("no C compiler (gcc/cc) on PATH")
    asan = subprocess.run([cc, "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(asan) or not os.path.exists(asan):
        pytest.skip(f"{cc} has no libasan.so to preload (install libasan for the sanitizer run)")
    env = dict(os.environ, LD_PRELOAD=asan, ASAN_OPTIONS="detect_leaks=0", **{san_env: "1"})
    r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", test_file, "-k",
                        selection], capture_output=True, text=True, env=env, cwd=os.path.dirname(test_file))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert " passed" in r.stdout


def conv_pool_signatures(so: C.CDLL) -> C.CDLL:
    """Argument and result types of the pooled-convolution entry points (nnb_i8_conv_pool, nnb_i8_qconv and their
    scratch sizes) on a kernels library; returns it."""
    pf = C.POINTER(C.c_float)
    for fn in (so.nnb_i8_conv_pool_scratch, so.nnb_i8_qconv_scratch):
        fn.restype = C.c_size_t
        fn.argtypes = [C.POINTER(ConvParams), C.POINTER(PoolParams), C.c_int]
    so.nnb_i8_conv_pool.argtypes = [C.POINTER(ConvParams), C.POINTER(PoolParams), P8, P8, P32, P32, P32, P8,
                                    C.c_void_p, C.c_size_t]
    so.nnb_i8_qconv.argtypes = [C.POINTER(ConvParams), C.POINTER(PoolParams), pf, pf, P8, P32, P32, P32, P8,
                                C.c_void_p, C.c_size_t]
    return so
