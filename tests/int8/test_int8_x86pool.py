"""The x86 pooled int8 convolution (c_runtime/src/kernels/int8/conv_x86_pool.c, issue 13's RAM line on the host):
on AVX-512 VNNI + VBMI a convolution + max pool (record 1003 with a pool) and a pooled Q8QConv take the extreme of
each window's accumulators in registers and requantize only it, with the last channel's weights as their only
scratch (Q8QConv: + one band's quantized input rows). Checked on geometries that form takes (one input channel,
or kernels of >= 5 columns): panels of sixteen columns in several blocks per pooled row, panels of several narrow
rows (windows taller than a panel, a pool stride shorter than the window), overlapping windows clipped at both
ends, ragged last windows (ignore_border off), a pooled row and a pooled column wholly in the padding, dilation,
stride 2, two samples, channel counts that leave 16/8/4/2/1-channel blocks, and negative multipliers: the numpy
simulation's integers in exactly the scratch reported, at the VNNI, AVX2 and portable levels (the last two keep
their own forms). Under ASan/UBSan with NNB_INT8_RAM_ASAN=1 (as test_int8_ram.py)."""

from __future__ import annotations

import ctypes as C
import os

import numpy as np
import pytest
from int8_harness import P8, P32, at_isa_level, build_cached, conv_pool_signatures, i8, i32, ptr, rerun_sanitized
from test_int8_c import SAN_ENV
from test_int8_ram import _geom, _want

from nnb.emit.nnb_int8_layout import quantize_thresholds
from nnb.quantize.int8 import QParams
from nnb.quantize.int_sim import clamp_bounds
from nnb.quantize.int_sim_arith import quantize_multipliers

_BUILT: dict = {}
PF = C.POINTER(C.c_float)
LEVELS = {"portable": 0, "avx2": 1, "vnni": 2}

# c, o, h, w, k, pad, stride, dil; pool kernel, stride, pad, ignore_border
CASES = [
    (1, 20, 30, 37, 5, 1, 1, 1, (3, 3), (2, 2), (1, 1), True),    # 35 columns: three blocks of 7 pooled columns
    (3, 9, 12, 12, 5, 2, 1, 1, (2, 3), (2, 2), (0, 1), False),    # 12 columns, one per panel; ragged windows
    (2, 5, 9, 10, 5, 1, 1, 1, (2, 2), (1, 1), (0, 0), True),      # 8 columns: two rows a panel, pool stride 1
    (4, 33, 8, 8, 5, 2, 1, 1, (3, 3), (3, 3), (1, 1), True),      # windows taller than a panel; 16+16+1 channels
    (2, 6, 6, 7, 5, 1, 1, 1, (1, 2), (4, 2), (2, 0), True),       # three rows a panel; a pooled row in the padding
    (1, 16, 14, 14, 3, 1, 2, 1, (2, 2), (2, 2), (0, 0), True),    # one channel, stride 2 (a dscnn-like stem)
    (2, 18, 16, 20, 5, 2, 1, 2, (2, 2), (2, 2), (0, 0), True),    # dilation 2; 16 + 2 channels
    (1, 3, 10, 10, 5, 0, 1, 1, (1, 1), (1, 2), (0, 1), True),     # a pooled column wholly in the padding
    (6, 12, 11, 13, 7, 3, 1, 1, (2, 2), (2, 2), (1, 0), True),    # 7 columns, 12 = 8 + 4 channels
]


def _vbmi() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return " avx512_vbmi " in f.read().replace("\n", " ")
    except OSError:
        return False


@pytest.fixture(scope="module", params=list(LEVELS))
def lib(request, tmp_path_factory):  # noqa: ANN001, ANN201
    so = build_cached(str(tmp_path_factory.mktemp("i8xpool")), False, bool(os.environ.get(SAN_ENV)), _BUILT, 0)
    at_isa_level(so, request.param, LEVELS[request.param], "path")
    conv_pool_signatures(so)
    so.level_name = request.param
    return so


@pytest.mark.parametrize("case", CASES, ids=[f"x{i}" for i in range(len(CASES))])
def test_pooled_form_gives_the_simulations_integers_in_its_scratch(lib, case) -> None:  # noqa: ANN001
    c, o, h, w, k = case[:5]
    rng = np.random.default_rng(sum(case[:8]) + 7)
    n, z_in, out = 2, 6, QParams(0.04, -7)
    wq = rng.integers(-127, 128, (o, c, k, k))
    bias = rng.integers(-6000, 6000, o)
    mult, shift = quantize_multipliers(rng.uniform(0.001, 0.03, o))
    mult[::3] = -mult[::3]  # the kernel API takes negative multipliers: the least sum is kept there
    scale = 0.05
    xf = (rng.standard_normal((n, c, h, w)) * 2.5).astype(np.float32)
    xf.reshape(-1)[:3] = [np.nan, np.inf, -np.inf]
    xq = QParams(scale, z_in).quantize(np.where(np.isnan(xf), np.float32(-1e30), xf))  # NaN quantizes to -128
    t = np.ascontiguousarray(quantize_thresholds(scale, z_in), np.float32)
    pooled_form = lib.level_name == "vnni" and _vbmi()
    for act in ("", "relu"):
        lo, hi = clamp_bounds(act, out)
        p, pp, a = _geom(case, n, z_in, out.zero, lo, hi)
        want = _want(case, xq, z_in, wq, bias, mult, shift, out, act, a)
        args = (ptr(i8(wq), P8), ptr(i32(bias), P32), ptr(i32(mult), P32), ptr(i32(shift), P32))
        src = {"qconv": (xf.ctypes.data_as(PF), t.ctypes.data_as(PF)), "conv_pool": (ptr(i8(xq), P8),)}
        for name in ("qconv", "conv_pool"):
            scratch_of = getattr(lib, f"nnb_i8_{name}_scratch")
            need = scratch_of(C.byref(p), C.byref(pp), 1)
            assert need > 0 and need <= scratch_of(C.byref(p), C.byref(pp), 0), f"{name}: {need} bytes"
            if name == "conv_pool" and pooled_form:  # the pooled form: the last channel's weights + 4 bytes
                assert need == (c * k * k + 4 + 3) // 4 * 4, f"{name}: {need} bytes, not the pooled form's"
            buf = np.zeros(need, np.uint8)  # exactly what it reports (the sanitized run checks the bounds)
            y = np.full(want.shape, 99, np.int8)
            st = getattr(lib, f"nnb_i8_{name}")(C.byref(p), C.byref(pp), *src[name], *args, ptr(y, P8),
                                                 buf.ctypes.data, need)
            assert st == 0, f"{name} refused its own scratch figure"
            assert (y == want).all(), f"{name} '{act}': {int((y != want).sum())} of {y.size} integers differ"


def test_pooled_form_under_asan_ubsan() -> None:
    """The geometries again with the kernels built with ASan + UBSan (a child process with libasan preloaded),
    each in exactly its reported scratch; opt-in for CI's budget, as test_int8_ram.py's: NNB_INT8_RAM_ASAN=1."""
    if not os.environ.get("NNB_INT8_RAM_ASAN") and not os.environ.get(SAN_ENV):
        pytest.skip("the sanitized rerun of the x86 pooled form is opt-in (NNB_INT8_RAM_ASAN=1; about 3 min on a "
                    "loaded machine)")
    rerun_sanitized(__file__, "pooled_form_gives", SAN_ENV)
