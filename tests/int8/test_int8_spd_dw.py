"""The small-plane depthwise form (conv_x86_dw.c: whole output rows of <= 16 per vector, quads formed from the
int8 input by VPERMB, VPDPBUSD over x + 128, requantized in registers) equals the numpy integer simulation bit
for bit at every instruction-set level this CPU has (base and avx2 run their own forms on the same layers, vnni
with VBMI takes the new one): dscnn's 25x5 plane, the trained dscnn's 7x7 and 14x14 planes at strides 1 and 2,
kernels of 1..4 columns and 1..5 rows, asymmetric padding, rows that need fewer rows per vector to fit 64 bytes,
residuals, relu6, extreme weights and zero points (|x - z| = 255, |w| = 128). The average pool over a whole
plane (dscnn's 25x5 head; PSADBW sums at the vector levels) equals a numpy oracle on planes around 16 bytes and
at the extremes. The same again with ASan + UBSan when NNB_INT8_SPD_ASAN=1 (opt-in: a second build of the
kernels, about a minute)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from int8_harness import at_isa_level, avg_pool, build_cached, conv2d, rerun_sanitized, with_residual

from nnb.quantize.int8 import IntNode, QParams
from nnb.quantize.int_sim import clamp_bounds, conv_acc, requant_out
from nnb.quantize.int_sim_arith import quantize_multipliers

SAN_ENV = "NNB_INT8_SPD_DW_SANITIZED"
ASAN_OPT_IN = "NNB_INT8_SPD_ASAN"
# vnni_pairs: the VNNI level with the small-plane form switched off (NNB_I8_NO_SMALL_DW=1, read by a fresh copy of
# the library at its first call), so that the VPDPWSSD forms it replaces on VBMI CPUs stay checked here
LEVELS = {"base": 0, "avx2": 1, "vnni": 2, "vnni_pairs": 2}
_BUILT: dict = {}


@pytest.fixture(scope="module", params=list(LEVELS))
def lib(request, tmp_path_factory):  # noqa: ANN001, ANN201
    so = build_cached(str(tmp_path_factory.mktemp("i8dw")), False, bool(os.environ.get(SAN_ENV)), _BUILT, 0)
    so = at_isa_level(so, request.param, LEVELS[request.param])
    if request.param != "vnni_pairs":
        yield so
        return
    old = os.environ.get("NNB_I8_NO_SMALL_DW")
    os.environ["NNB_I8_NO_SMALL_DW"] = "1"
    try:
        yield so
    finally:
        if old is None:
            del os.environ["NNB_I8_NO_SMALL_DW"]
        else:
            os.environ["NNB_I8_NO_SMALL_DW"] = old


# (C, H, W, (kh, kw), (pad_h, pad_w), (sh, sw), residual, act)
CASES = [
    (9, 25, 5, (3, 3), (1, 1), (1, 1), True, "relu"),     # dscnn's plane: three rows of 5 per vector
    (5, 7, 7, (3, 3), (1, 1), (1, 1), False, "relu6"),    # the trained dscnn's 7x7 (two rows of 7)
    (4, 14, 14, (3, 3), (1, 1), (2, 2), True, "relu6"),   # its stride-2 layer: 14 wide rows, one per vector
    (3, 14, 14, (3, 3), (1, 1), (1, 1), False, "relu"),   # 14 wide, stride 1
    (6, 11, 4, (5, 2), (2, 0), (1, 1), True, "relu"),     # even kw, no column padding, four rows of 4
    (7, 9, 3, (2, 4), (0, 2), (1, 1), False, "relu"),     # kw = 4 (a full quad), rows of 3
    (3, 6, 13, (1, 1), (0, 0), (1, 1), True, "relu"),     # 1x1
    (5, 17, 9, (4, 3), (2, 1), (3, 2), False, "relu6"),   # stride (3, 2), the window limits the rows
    (2, 20, 16, (3, 3), (1, 0), (1, 1), False, "relu"),   # ow 14 of a 16-wide row
    (4, 5, 2, (3, 1), (1, 0), (1, 1), True, "relu"),      # one column: all rows in one vector
]


def _layer(case, rng, extreme: bool):  # noqa: ANN001, ANN202
    c, h, w, k, pad, stride, residual, act = case
    x = rng.integers(-128, 128, (2, c, h, w))
    wq = rng.integers(-128, 128, (c, 1, *k))
    bias = rng.integers(-5000, 5000, c)
    mult, shift = quantize_multipliers(rng.uniform(0.001, 0.02, c))
    z_in = -3
    if extreme:
        wq = np.where(rng.random(wq.shape) < 0.5, -128, 127)
        x = np.where(rng.random(x.shape) < 0.5, -128, 127)
        z_in = 127 if rng.random() < 0.5 else -128
    a = {"pad": pad, "stride": stride, "dilation": (1, 1)}
    acc, res, rm, rs = with_residual(conv_acc(x, z_in, wq, bias, a, c), rng, residual)
    out = QParams(0.05 if act == "relu" else 0.1, 7)
    st = IntNode(None, "int", act, "y", {"mult": mult, "shift": shift})  # type: ignore[arg-type]
    lo, hi = clamp_bounds(act, out)
    return (x, z_in, wq, bias, mult, shift, a, c, out.zero, lo, hi, res, 11, rm, rs), requant_out(acc, st, out)


@pytest.mark.parametrize("case", CASES, ids=[f"d{i}" for i in range(len(CASES))])
@pytest.mark.parametrize("extreme", [False, True], ids=["plain", "extreme"])
def test_spd_small_plane_depthwise_equals_simulation(lib, case, extreme) -> None:  # noqa: ANN001
    args, want = _layer(case, np.random.default_rng(sum(case[:3]) * 3 + extreme), extreme)
    got = conv2d(lib, *args)
    assert got.shape == want.shape and (got == want).all(), f"{int((got != want).sum())} of {want.size} differ"


# (N, C, H, W): dscnn's 25x5 head, planes of 16 (one vector), 17 (a tail of 1), 15 (the scalar loop)
WHOLE = [(1, 64, 25, 5), (2, 3, 4, 4), (1, 5, 1, 17), (1, 4, 3, 5), (1, 2, 9, 31)]


@pytest.mark.parametrize("shape", WHOLE, ids=[f"w{i}" for i in range(len(WHOLE))])
@pytest.mark.parametrize("fill", ["random", "min", "max"])
def test_spd_whole_plane_avg_pool_equals_oracle(lib, shape, fill) -> None:  # noqa: ANN001
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(-128, 128, shape) if fill == "random" else np.full(shape, -128 if fill == "min" else 127)
    h, w = shape[2:]
    for zero in (-3, 127, -128):
        s = (x.astype(np.int64) - zero).sum(axis=(2, 3), keepdims=True)
        q = (2 * np.abs(s) + h * w) // (2 * h * w)  # half away from zero
        want = np.clip(zero + np.sign(s) * q, -128, 127).astype(np.int8)
        got = avg_pool(lib, x.astype(np.int8), zero, {"kernel": (h, w), "stride": (h, w), "pad": (0, 0),
                                                      "ignore_border": True, "channel_last": False})
        np.testing.assert_array_equal(got, want)


def test_spd_dw_under_asan_ubsan() -> None:
    if not os.environ.get(ASAN_OPT_IN) and not os.environ.get(SAN_ENV):
        pytest.skip(f"opt-in (the test budget): set {ASAN_OPT_IN}=1 to rerun these cases with ASan + UBSan")
    rerun_sanitized(os.path.abspath(__file__), "(equals_simulation or oracle) and not base", SAN_ENV)
