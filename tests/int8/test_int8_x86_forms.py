"""The x86 int8 forms added for AVX2-only hosts and the runtime's int8 path, at every instruction-set level this
CPU has (base, avx2, vnni; the library's level cap): the AVX2 direct convolution over a plane of int16 pairs
(pairs of channels, or of kernel columns for one-channel groups; stride phases; six channels x sixteen positions
and eight x eight on narrow rows), the AVX2 depthwise by VPMADDWD on horizontal pairs, random odd layers equal
the numpy integer simulation bit for bit; the scratch the runtime sizes per level (nnb_i8_conv_scratch_run) is
enough, never above the any-CPU figure, and a scratch too small for the level's form runs the portable path with
the same integers; Q8Quantize's estimate-and-check (scalar and AVX2) equals a binary search over the thresholds
on adversarial tables (unsorted-looking steps, infinities, NaN and values on the thresholds). The same cases
again with the kernels built with ASan + UBSan."""

from __future__ import annotations

import ctypes as C
import os

import numpy as np
import pytest
from int8_harness import (
    P8,
    P16,
    P32,
    ConvParams,
    at_isa_level,
    build,
    conv2d,
    i8,
    i32,
    rerun_sanitized,
    shim_library,
    with_residual,
)

from nnb.quantize.int8 import IntNode, QParams
from nnb.quantize.int_sim import clamp_bounds, conv_acc, requant_out
from nnb.quantize.int_sim_arith import quantize_multipliers

SAN_ENV = "NNB_INT8_X86_SANITIZED"
LEVELS = {"base": 0, "avx2": 1, "vnni": 2}
_BUILT: dict = {}

SHIM = r"""
#include "i8_host.h"
void shim_quantize(size_t n, const float *x, const float *t, int8_t *y, int vec)
{
    float inv = nnb_i8_qinv(t);
    size_t i;
#if NNB_I8_X86
    if (vec && nnb_i8_x86_quantize(n, x, t, y)) return;
#else
    (void)vec;
#endif
    for (i = 0; i < n; ++i) y[i] = nnb_i8_quantize1(x[i], t, inv);
}
"""


def _compiled(tmp: str) -> str:
    """The kernels and the quantize shim in one library (int8_harness.shim_library)."""
    return shim_library(tmp, SHIM, "libi8x86.so", bool(os.environ.get(SAN_ENV)), _BUILT)


def _load(tmp: str) -> C.CDLL:
    so = build(tmp, False, bool(os.environ.get(SAN_ENV)), _compiled(tmp))
    so.nnb_i8_conv_scratch_run.restype = C.c_size_t
    so.nnb_i8_conv_scratch_run.argtypes = [C.POINTER(ConvParams)]
    so.shim_quantize.argtypes = [C.c_size_t, C.POINTER(C.c_float), C.POINTER(C.c_float), P8, C.c_int]
    return so


@pytest.fixture(scope="module", params=list(LEVELS))
def lib(request, tmp_path_factory):  # noqa: ANN001, ANN201
    return at_isa_level(_load(str(tmp_path_factory.mktemp("i8x86"))), request.param, LEVELS[request.param])


# (C, O, H, W, (kh, kw), pad, (sh, sw), dil, group, residual): pairs of channels (odd C: a zero partner), one-channel
# groups (pairs of kernel columns, odd kw), stride phases 2..4, dilation, rows of <= 8 (eight x eight) and wider
# (six x sixteen, partial channel blocks), a flat 1x1, depthwise 3x3 and other kernels (odd/even kw, narrow planes),
# one-channel layers and wide kernels (panels of one row or of several narrow rows, every channel remainder)
CASES = [
    (5, 7, 11, 23, (3, 3), 1, (1, 1), 1, 1, True),
    (2, 13, 9, 8, (3, 3), 1, (1, 1), 1, 1, False),
    (1, 9, 19, 17, (5, 4), (2, 1), (2, 2), 1, 1, False),
    (1, 64, 49, 10, (10, 4), (4, 1), (2, 2), 1, 1, False),   # dscnn's first layer
    (3, 6, 21, 30, (3, 5), 2, (1, 3), 1, 1, True),
    (4, 10, 17, 33, (3, 3), 1, (2, 4), (2, 1), 1, False),
    (7, 11, 10, 12, (3, 3), 2, (1, 1), 2, 1, True),
    (8, 12, 6, 9, (2, 3), 0, (1, 1), 1, 2, True),            # two groups of four channels
    (3, 6, 7, 7, (3, 3), 1, (1, 1), 1, 3, False),            # one-channel groups
    (17, 19, 5, 25, (1, 1), 0, (1, 1), 1, 1, True),          # flat 1x1, odd channels
    (16, 32, 16, 16, (1, 1), 0, (2, 2), 1, 1, False),        # 1x1 stride 2 (resnet8's shortcut)
    (64, 64, 8, 8, (3, 3), 1, (1, 1), 1, 1, True),           # resnet8's 8x8 layer
    (9, 9, 25, 5, (3, 3), 1, (1, 1), 1, 9, True),            # depthwise, dscnn's plane
    (6, 6, 13, 18, (5, 5), 2, (1, 1), 1, 6, False),
    (5, 5, 7, 4, (3, 2), (1, 0), (1, 1), 1, 5, True),
    (4, 4, 30, 33, (1, 7), (0, 3), (1, 1), 1, 4, False),
    # one input channel (the VNNI + VBMI form: VPERMB over input rows; other levels run their own forms)
    (1, 16, 28, 28, (5, 5), 0, (1, 1), 1, 1, False),          # lenet's first layer
    (1, 8, 28, 28, (5, 5), 0, (1, 1), 1, 1, False),           # one channel block of it (the pooled glue)
    (1, 64, 49, 10, (10, 4), (5, 1), (2, 2), 1, 1, False),    # dscnn's first layer: rows of 5, three per panel
    (1, 31, 20, 37, (3, 7), (1, 3), (1, 1), 1, 1, True),      # padding both sides, 16 + 8 + 4 + 2 + 1 channels
    (1, 5, 17, 40, (4, 3), (2, 2), (1, 2), (1, 2), 1, False), # stride 2 over wide rows, dilated columns
    (1, 3, 9, 6, (3, 3), 1, (2, 1), (2, 1), 1, True),         # rows of 6, two per panel, dilated rows
    (1, 12, 11, 13, (2, 16), (0, 7), (1, 1), 1, 1, False),    # kw = 16 (four quads), 32-byte slots
    (1, 9, 8, 3, (3, 3), (1, 1), (1, 1), 1, 1, False),        # rows of 3: five per panel
    (1, 7, 33, 30, (1, 1), 0, (1, 1), 1, 1, True),            # 1x1
    (1, 6, 6, 70, (3, 9), (1, 4), (1, 3), 1, 1, False),       # stride 3: a 64-byte span
    # several channels, kernels of >= 5 columns (row quads in registers, weights read in place)
    (16, 16, 12, 12, (5, 5), 0, (1, 1), 1, 1, False),         # lenet's second layer: two rows of 8 per panel
    (5, 21, 9, 7, (3, 6), (1, 2), (1, 1), 1, 1, True),        # rows of 7, 17 + 4 channels, residual
    (2, 3, 15, 40, (2, 9), (1, 4), (2, 2), (1, 1), 1, False), # stride 2 over wide rows, a 3-channel remainder
    # depthwise, stride_w 2 (phase planes read as int16 pairs); an 11th field: the fused activation
    (64, 64, 14, 14, (3, 3), 1, (2, 2), 1, 64, False, "relu6"),  # the trained dscnn's stride-2 layer
    (5, 5, 15, 15, (3, 3), 0, (2, 2), 1, 5, True),               # pad 0, odd sizes, residual
    (3, 3, 9, 20, (3, 3), 1, (2, 2), 1, 3, True, "relu6"),       # odd height, a row of 20 (16 + 4)
    (7, 7, 16, 11, (3, 3), (0, 1), (2, 2), 1, 7, False),         # mixed padding, odd width
    (4, 4, 13, 37, (5, 4), 2, (1, 2), 1, 4, True),               # stride (1, 2), even kw, 37 columns
    (6, 6, 21, 9, (4, 5), (1, 2), (3, 2), 1, 6, False),          # three row phases, odd kw
]


def _two(v: int | tuple) -> tuple:
    return tuple(v) if isinstance(v, tuple) else (v, v)


def _attrs(case) -> dict:  # noqa: ANN001
    pad, stride, dil = case[5:8]
    return {"pad": _two(pad), "stride": _two(stride), "dilation": _two(dil)}


def _layer(case, rng, extreme: str):  # noqa: ANN001, ANN202
    c, o, h, w, k, _, _, _, group, residual = case[:10]
    act = case[10] if len(case) > 10 else "relu"
    x = rng.integers(-128, 128, (2, c, h, w))
    wq = rng.integers(-128, 128, (o, c // group, *k))
    bias = rng.integers(-5000, 5000, o)
    mult, shift = quantize_multipliers(rng.uniform(0.001, 0.02, o))
    z_in = -3
    if extreme == "weights":  # weights and activations at the ends of int8: |x - z| = 255, |w| = 128
        wq = np.where(rng.random(wq.shape) < 0.5, -128, 127)
        x = np.where(rng.random(x.shape) < 0.5, -128, 127)
        z_in = 127
    a = _attrs(case)
    acc = conv_acc(x, z_in, wq, bias, a, group)
    acc, res, rm, rs = with_residual(acc, rng, residual)
    out = QParams(0.05 if act == "relu" else 0.1, 7)  # relu6 at 0.1: the clamp's top at 67 bites
    st = IntNode(None, "int", act, "y", {"mult": mult, "shift": shift})  # type: ignore[arg-type]
    lo, hi = clamp_bounds(act, out)
    want = requant_out(acc, st, out)
    return (x, z_in, wq, bias, mult, shift, a, group, out.zero, lo, hi, res, 11, rm, rs), want


@pytest.mark.parametrize("case", CASES, ids=[f"c{i}" for i in range(len(CASES))])
@pytest.mark.parametrize("extreme", ["plain", "weights"])
def test_x86_forms_equal_simulation(lib, case, extreme) -> None:  # noqa: ANN001
    args, want = _layer(case, np.random.default_rng(len(CASES) * sum(case[:4]) + len(extreme)), extreme)
    got = conv2d(lib, *args)
    assert got.shape == want.shape and (got == want).all(), f"{int((got != want).sum())} of {want.size} differ"


@pytest.mark.parametrize("case", CASES[::3], ids=[f"c{3 * i}" for i in range(len(CASES[::3]))])
def test_x86_scratch_per_level(lib, case) -> None:  # noqa: ANN001
    """nnb_i8_conv_scratch_run (the runtime's arena) is within the any-CPU figure and enough at this level; one
    element less than the level's form needs (but enough for the portable paths) gives the same integers."""
    (x, z_in, wq, bias, mult, shift, a, group, z_out, lo, hi, res, zr, rm, rs), want = \
        _layer(case, np.random.default_rng(7), "plain")
    n, c, h, wd = x.shape
    o, _, kh, kw = wq.shape
    (ph, pw), (sh, sw), (dh, dw) = a["pad"], a["stride"], a["dilation"]
    oh, ow = want.shape[2:]
    p = ConvParams(n, c, h, wd, o, kh, kw, oh, ow, ph, pw, sh, sw, dh, dw, group, z_in, z_out, lo, hi, zr)
    run, anyc = lib.nnb_i8_conv_scratch_run(C.byref(p)), lib.nnb_i8_conv_scratch(C.byref(p))
    assert 0 < run <= anyc
    for size in sorted({run, run - 1}):
        scratch = np.zeros(size, np.int16)
        y = np.zeros(want.shape, np.int8)
        args = [i8(x), i8(wq), i32(bias), i32(mult), i32(shift), None if res is None else i8(res),
                None if rm is None else i32(rm), None if rs is None else i32(rs), y, scratch]
        ptrs = [None if v is None else v.ctypes.data_as(t) for v, t in zip(args, [P8, P8, P32, P32, P32, P8, P32,
                                                                                   P32, P8, P16])]
        st = lib.nnb_i8_conv2d(C.byref(p), *ptrs, size)
        if st != 0:  # below the portable paths' own need too: refused, nothing computed
            assert size == run - 1, f"nnb_i8_conv2d refused the runtime's scratch ({st})"
            continue
        assert (y == want).all(), f"scratch {size} (run {run}): {int((y != want).sum())} values differ"


def test_x86_one_channel_scratch_small(lib) -> None:  # noqa: ANN001
    """lenet's first layer (one input channel) asks the runtime for <= 1.4 KB on the VNNI level (VBMI CPUs: the
    quads formed in registers) and for the AVX2 direct form's plane below 5 KB; sized per level."""
    p = ConvParams(1, 1, 28, 28, 16, 5, 5, 24, 24, 0, 0, 1, 1, 1, 1, 1, 10, -128, -128, 127, 0)
    run, level = 2 * lib.nnb_i8_conv_scratch_run(C.byref(p)), lib.nnb_i8_isa_level(-1)
    assert 0 < run <= (1400 if level == 2 else 5000), f"level {level}: {run} bytes"


@pytest.fixture(scope="module")
def qlib(tmp_path_factory):  # noqa: ANN201
    return _load(str(tmp_path_factory.mktemp("i8quant")))


def _tables(rng) -> list[np.ndarray]:  # noqa: ANN001
    k = np.arange(255, dtype=np.float64)
    tabs = [((k - 127.5 - 9) * 0.0173).astype(np.float32),                   # what the writer makes
            ((k - 127.5) * 2.5e36).astype(np.float32),                         # a span beyond float (no estimate)
            np.sort(rng.normal(0, 5, 255)).astype(np.float32),               # far from uniform
            (np.floor(k / 16) * 0.5).astype(np.float32),                     # repeated thresholds
            (k * k * 1e-3).astype(np.float32),
            np.full(255, 1.25, np.float32)]
    t = ((k - 127.5) * 0.01).astype(np.float32)
    t[:40], t[200:] = -np.inf, np.inf                                        # infinite ends
    tabs.append(t)
    return tabs


def test_x86_quantize_equals_binary_search(qlib) -> None:
    rng = np.random.default_rng(3)
    for t in _tables(rng):
        fin = t[np.isfinite(t)]
        lo, hi = float(fin.min()), float(fin.max())
        span = min(hi - lo, 1e37) or 1.0
        x = np.concatenate([t, np.nextafter(t, np.float32(-np.inf)), np.nextafter(t, np.float32(np.inf)),
                            np.clip(rng.uniform(lo - span, hi + span, 3000), -3.4e38, 3.4e38).astype(np.float32),
                            np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)]).astype(np.float32)
        x = x[rng.permutation(x.size)]
        with np.errstate(invalid="ignore"):
            want = (np.searchsorted(t, np.where(np.isnan(x), -np.inf, x), side="right") - 128).astype(np.int8)
        want[np.isnan(x)] = -128
        for vec, level in ((0, 0), (1, 1)):
            got_level = qlib.nnb_i8_isa_level(level)
            if vec and got_level < 1:
                pytest.skip(f"no AVX2 int8 path on this CPU or build (level {got_level}): the scalar form was checked")
            y = np.zeros(x.size, np.int8)
            qlib.shim_quantize(x.size, x.ctypes.data_as(C.POINTER(C.c_float)),
                               t.ctypes.data_as(C.POINTER(C.c_float)), y.ctypes.data_as(P8), vec)
            bad = np.flatnonzero(y != want)
            assert bad.size == 0, f"vec={vec}: {bad.size} differ, e.g. {x[bad[0]]} -> {y[bad[0]]}, not {want[bad[0]]}"


def test_x86_forms_under_asan_ubsan() -> None:
    """The plain layer cases at the vector levels and the quantize cases again with the kernels built with ASan +
    UBSan (child pytest; test_int8_c.py's sanitized run covers the portable loops)."""
    rerun_sanitized(__file__, "x86 and ((plain and not base) or quantize) and not asan", SAN_ENV)
