"""The C int8 kernels equal the numpy integer simulation bit for bit (portable and dual-MAC paths)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from int8_harness import (
    SRC,
    affine,
    at_isa_level,
    avg_pool,
    build_cached,
    conv2d,
    max_pool,
    model_steps,
    rerun_sanitized,
    with_residual,
)
from int8_quant_helpers import calibrated, fmnist_model

from nnb.quantize.int8 import IntNode, QParams
from nnb.quantize.int_sim import avg_pool as np_avg_pool
from nnb.quantize.int_sim import clamp_bounds, conv_acc, requant_out
from nnb.quantize.int_sim import max_pool as np_max_pool
from nnb.quantize.int_sim_arith import quantize_multipliers, requantize, rounding_divide_by_pot, srdhm

SAN_ENV = "NNB_INT8_SANITIZED"
ZOO_CONV = ["lenet", "dscnn", "resnet8", "depthwise", "conv_variants", "batchnorm", "unet_tiny"]


ISA_LEVEL = {"portable": 0, "avx2": 1, "vnni": 2}
_BUILT: dict = {}  # (dsp, sanitize) -> the library compiled first; the other levels load copies of it


@pytest.fixture(scope="module", params=["portable", "avx2", "vnni", "dsp"])
def lib(request, tmp_path_factory):  # noqa: ANN001, ANN201
    """portable: the plain loops; avx2 / vnni: the x86-64 paths capped at that level (AVX2 depthwise,
    AVX-512 VNNI GEMM); dsp: the Cortex-M dual-MAC path with emulated intrinsics."""
    dsp, san = request.param == "dsp", bool(os.environ.get(SAN_ENV))
    so = build_cached(str(tmp_path_factory.mktemp("int8")), dsp, san, _BUILT, (dsp, san))
    assert so.nnb_i8_dsp_path() == (1 if request.param == "dsp" else 0)
    if request.param in ISA_LEVEL:
        at_isa_level(so, request.param, ISA_LEVEL[request.param], "path")
    return so


def test_requantize_arithmetic(lib) -> None:  # noqa: ANN001
    rng = np.random.default_rng(1)
    xs = np.concatenate([rng.integers(-(1 << 31), 1 << 31, 400), [0, 1, -1, (1 << 31) - 1, -(1 << 31)]])
    mults = rng.integers(1 << 30, 1 << 31, xs.size)
    shifts = rng.integers(-31, 8, xs.size)
    want = requantize(xs, mults, shifts)
    got = np.array([lib.nnb_i8_requantize(int(x), int(m), int(s)) for x, m, s in zip(xs, mults, shifts)])
    assert (got == want).all()
    edge = [(-(1 << 31), -(1 << 31)), (-(1 << 31), (1 << 31) - 1), (12345, -(1 << 30)), (-7, 1 << 30)]
    for a, b in edge:
        assert lib.nnb_i8_srdhm(a, b) == int(srdhm(np.array(a), np.array(b)))
    for x in (-5, -4, -3, 3, 4, 5, -(1 << 31), (1 << 31) - 1):
        for e in (0, 1, 2, 31):
            assert lib.nnb_i8_rdbp(x, e) == int(rounding_divide_by_pot(np.array(x), np.array(e))), (x, e)
    # half away from zero: -5/2 -> -3, 5/2 -> 3, -3/2 -> -2
    assert [lib.nnb_i8_rdbp(v, 1) for v in (-5, 5, -3)] == [-3, 3, -2]


def test_requantize_vec_prepared_form(lib) -> None:  # noqa: ANN001
    """nnb_i8_requantize_vec goes through the kernels' per-channel prepared form (SMMULR-style high multiply,
    rounding by adding 2^(e-1) - (x < 0)): equal to the reference steps for small and full-range accumulators,
    every shift from left shifts to -31, and INT32_MIN multipliers."""
    import ctypes as C

    from int8_harness import P8, P32

    rng = np.random.default_rng(7)
    acc = np.concatenate([rng.integers(-(1 << 31), 1 << 31, 300), rng.integers(-(1 << 20), 1 << 20, 300),
                          [0, 1, -1, (1 << 30) - 1, -(1 << 30), 1 << 30, -(1 << 30) - 1, (1 << 31) - 1, -(1 << 31)]])
    acc = acc.astype(np.int32)
    for shift in (3, 1, 0, -1, -2, -7, -13, -30, -31):
        for mult in (1 << 30, (1 << 31) - 1, int(rng.integers(1 << 30, 1 << 31)), 0, -(1 << 31), -12345678):
            y = np.zeros(acc.size, np.int8)
            assert lib.nnb_i8_requantize_vec(acc.size, acc.ctypes.data_as(P32), mult, shift, -3, -128, 127,
                                             y.ctypes.data_as(P8)) == 0
            want = np.clip(requantize(acc.astype(np.int64), np.int64(mult), np.int64(shift)) - 3, -128, 127)
            assert (y == want).all(), (mult, shift)
    del C


CONV_CASES = [  # (C, O, H, W, k, pad, stride, dilation, group, residual)
    (3, 8, 9, 7, 3, 1, 1, 1, 1, False),
    (4, 6, 11, 10, 3, 0, 2, 1, 2, False),
    (5, 5, 8, 8, 3, 1, 1, 1, 5, False),   # depthwise
    (6, 12, 7, 9, 3, 2, 2, 2, 6, False),  # depthwise, multiplier 2, dilation 2
    (7, 4, 6, 5, 1, 0, 1, 1, 1, True),    # 1x1 with a residual
    (8, 8, 6, 6, 3, 1, 1, 1, 1, True),
    # the fast paths: depthwise rows (3x3 stride 1 pairs with an odd row tail, stride 2, wide padding, 5x5),
    # 1x1 stride 2, odd output channels, a long column (four positions per block), residual on depthwise
    (6, 6, 7, 5, 3, 1, 1, 1, 6, True),
    (5, 5, 9, 11, 3, 1, 2, 1, 5, False),
    (3, 3, 6, 7, 5, 2, 1, 1, 3, False),
    (9, 5, 7, 6, 1, 0, 2, 1, 1, False),
    (17, 7, 5, 6, 3, 1, 1, 1, 1, False),
    # depthwise stride 1 on the flat padded plane (VNNI, planes under 16 columns): dscnn's 25x5 with a
    # residual, no padding on odd sizes, padding 2, a 5x5 kernel on a 1-wide plane (outputs too far apart
    # for the two-vector gather: rows moved down instead), and a 20-wide plane (the row-by-row form)
    (7, 7, 25, 5, 3, 1, 1, 1, 7, True),
    (4, 4, 9, 3, 3, 0, 1, 1, 4, False),
    (5, 5, 6, 13, 3, 2, 1, 1, 5, True),
    (3, 3, 6, 1, 5, 2, 1, 1, 3, False),
    (4, 4, 5, 20, 3, 1, 1, 1, 4, False),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[f"conv{i}" for i in range(len(CONV_CASES))])
@pytest.mark.parametrize("big_bias", [False, True], ids=["", "bigbias"])
def test_conv_random(lib, case, big_bias) -> None:  # noqa: ANN001
    """``big_bias``: accumulators near 2^31 (the requantization's guarded general form, not the fast one)."""
    if big_bias and os.environ.get(SAN_ENV) and case is not CONV_CASES[0]:
        pytest.skip("the sanitized run checks memory, not arithmetic: one big-bias case is enough")
    c, o, h, w, k, pad, stride, dil, group, residual = case
    rng = np.random.default_rng(sum(case[:8]))
    x = rng.integers(-128, 128, (2, c, h, w))
    wq = rng.integers(-127, 128, (o, c // group, k, k))
    bias = rng.integers(-5000, 5000, o)
    if big_bias:
        bias = rng.integers(-(1 << 31) + (1 << 22), (1 << 31) - (1 << 22), o)
    mult, shift = quantize_multipliers(rng.uniform(0.001, 0.02, o))
    a = {"pad": (pad, pad), "stride": (stride, stride), "dilation": (dil, dil)}
    z_in, out = -3, QParams(0.05, 7)
    acc = conv_acc(x, z_in, wq, bias, a, group)
    acc, res, rm, rs = with_residual(acc, rng, residual)
    for act in ("", "relu", "relu6"):
        st = IntNode(None, "int", act, "y", {"mult": mult, "shift": shift})  # type: ignore[arg-type]
        want = requant_out(acc, st, out)
        lo, hi = clamp_bounds(act, out)
        got = conv2d(lib, x, z_in, wq, bias, mult, shift, a, group, out.zero, lo, hi, res, 11, rm, rs)
        assert got.shape == want.shape and (got == want).all(), f"activation '{act}'"


POOL_CASES = [  # kernel, stride, pad, ignore_border, including_pad
    ((2, 2), (2, 2), (0, 0), True, True),
    ((3, 3), (2, 2), (1, 1), True, True),
    ((3, 3), (2, 2), (1, 1), True, False),
    ((3, 2), (1, 2), (1, 0), False, True),
    ((2, 2), (3, 3), (0, 0), False, False),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=[f"pool{i}" for i in range(len(POOL_CASES))])
def test_pool_random(lib, case) -> None:  # noqa: ANN001
    k, s, p, ib, incl = case
    a = {"kernel": k, "stride": s, "pad": p, "ignore_border": ib, "channel_last": False, "including_pad": incl}
    x = np.random.default_rng(len(k) + s[0]).integers(-128, 128, (2, 3, 9, 8))
    assert (max_pool(lib, x, a) == np_max_pool(x, a)).all()
    assert (avg_pool(lib, x, -20, a) == np_avg_pool(x, -20, a)).all()


def test_affine_random(lib) -> None:  # noqa: ANN001
    rng = np.random.default_rng(5)
    for k in (1, 7, 64, 150):
        x = rng.integers(-128, 128, (3, k))
        w = rng.integers(-127, 128, (k, 9))
        bias = rng.integers(-10000, 10000, 9)
        mult, shift = quantize_multipliers(rng.uniform(0.0005, 0.01, 9))
        want = np.clip(requantize((x + 5) @ w + bias, mult, shift) - 9, -128, 127)
        assert (affine(lib, x, -5, w, bias, mult, shift, -9, -128, 127) == want).all()


@pytest.mark.parametrize("name", ZOO_CONV)
def test_zoo_model_c_equals_numpy(lib, name) -> None:  # noqa: ANN001
    m, xs, _ = calibrated(name)
    assert model_steps(lib, m, [xs[0]]) >= 1


@pytest.mark.parametrize("arch", ["lenet", "dscnn"])
def test_trained_model_c_equals_numpy(lib, arch) -> None:  # noqa: ANN001
    m, x = fmnist_model(arch)
    assert model_steps(lib, m, [x[:16]]) >= 3


def test_bad_geometry_refused(lib) -> None:  # noqa: ANN001
    import ctypes as C

    from int8_harness import P8, P16, P32, ConvParams, PoolParams

    x = np.zeros((1, 2, 5, 5), np.int8)
    w = np.zeros((2, 2, 3, 3), np.int8)
    y = np.full(8, 99, np.int8)
    one = np.ones(2, np.int32)
    scratch = np.zeros(18, np.int16)
    bad = ConvParams(1, 2, 5, 5, 2, 3, 3, 4, 3, 0, 0, 1, 1, 1, 1, 1, 0, 0, -128, 127, 0)  # oh should be 3
    assert lib.nnb_i8_conv2d(C.byref(bad), x.ctypes.data_as(P8), w.ctypes.data_as(P8), None, one.ctypes.data_as(P32),
                             one.ctypes.data_as(P32), None, None, None, y.ctypes.data_as(P8),
                             scratch.ctypes.data_as(P16), scratch.size) == -1
    short = ConvParams(1, 2, 5, 5, 2, 3, 3, 3, 3, 0, 0, 1, 1, 1, 1, 1, 0, 0, -128, 127, 0)
    assert lib.nnb_i8_conv2d(C.byref(short), x.ctypes.data_as(P8), w.ctypes.data_as(P8), None,
                             one.ctypes.data_as(P32), one.ctypes.data_as(P32), None, None, None,
                             y.ctypes.data_as(P8), scratch.ctypes.data_as(P16), 5) == -1  # scratch too small
    pool = PoolParams(1, 2, 5, 5, 9, 2, 2, 2, 2, 2, 0, 0, 1)  # 9 output rows do not fit
    assert lib.nnb_i8_max_pool2d(C.byref(pool), x.ctypes.data_as(P8), y.ctypes.data_as(P8)) == -1
    assert (y == 99).all()


def test_cortex_m4_build_uses_dual_macs(tmp_path) -> None:  # noqa: ANN001
    cc = shutil.which("arm-none-eabi-gcc")
    if cc is None:
        pytest.skip("arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi): no Cortex-M4 build check")
    objs = []
    for f in sorted(os.listdir(SRC)):
        if f.endswith(".c"):
            o = str(tmp_path / (f + ".o"))
            subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-mcpu=cortex-m4",
                            "-mthumb", "-c", os.path.join(SRC, f), "-o", o], check=True, capture_output=True)
            objs.append(o)
    dump = subprocess.run(["arm-none-eabi-objdump", "-d", *objs], check=True, capture_output=True, text=True).stdout
    assert "smlad" in dump


def test_kernels_under_asan_ubsan() -> None:
    """The random-geometry, rounding, bad-argument and lenet tests again at every level (lenet not at AVX2,
    whose depthwise the random cases cover), with the kernels built with ASan + UBSan (a child process with
    libasan preloaded)."""
    rerun_sanitized(__file__, "random or arithmetic or geometry or prepared or (lenet and not avx2)", SAN_ENV)


def test_cortex_m4_firmware_equals_simulation() -> None:
    """The real DSP path (inline SMLAD/SXTB16/SMMULR/SEL asm, -mcpu=cortex-m4) on the emulated M4: lenet's and
    dscnn's integer networks (5x5 and 1x1 quads, 3x3 depthwise runs, pooling, Affine) as firmware
    (benchmarks/int8_mcu.py) give the numpy simulation's logits bit for bit."""
    import shutil as sh

    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm") if sh.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
                    "qemu-system-arm): the Cortex-M4 int8 path is not run")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, os.path.join(root, "benchmarks", "int8_mcu.py"), "--models",
                        "lenet,dscnn", "--no-size"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    for name in ("lenet", "dscnn"):
        row = next(ln for ln in r.stdout.splitlines() if ln.startswith(f"| {name} |"))
        assert "| yes | True |" in row, row
