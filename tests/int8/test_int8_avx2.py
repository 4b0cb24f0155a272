"""The int8 kernels' AVX2 forms (no VNNI: the level an AVX2-only x86 host runs, forced here by the library's
level cap) equal the numpy integer simulation bit for bit, as does the portable level: the GEMM's row panels
(a vector per k along an output row, stride 1 and 2, lane-by-lane borders), its per-call weight widening and
prepared requantizations, and the AVX2 Affine; odd channel counts and extreme values (weights -128/127,
activations at the zero point, saturating outputs, accumulators near 2^31); the zoo int8 models step by step;
and the same cases with the kernels built with ASan + UBSan."""

from __future__ import annotations

import os

import numpy as np
import pytest
from int8_harness import affine, at_isa_level, build_cached, conv2d, model_steps, rerun_sanitized, with_residual
from int8_quant_helpers import calibrated

from nnb.quantize.int8 import IntNode, QParams
from nnb.quantize.int_sim import clamp_bounds, conv_acc, requant_out
from nnb.quantize.int_sim_arith import quantize_multipliers, requantize

SAN_ENV = "NNB_INT8_AVX2_SANITIZED"
LEVELS = {"base": 0, "avx2": 1}
_BUILT: dict = {}


@pytest.fixture(scope="module", params=list(LEVELS))
def lib(request, tmp_path_factory):  # noqa: ANN001, ANN201
    san = bool(os.environ.get(SAN_ENV))
    so = build_cached(str(tmp_path_factory.mktemp("i8avx2")), False, san, _BUILT, san)
    return at_isa_level(so, request.param, LEVELS[request.param])


# (C, O, H, W, k, pad, stride, dilation, group, residual): rows of 8 and more (row panels), rows crossing a
# panel, borders inside the row (lane-by-lane taps), stride 2 (even bytes of 16), odd C/O (a partial channel
# block, odd k), groups, dilation, 1x1 flat and strided
CASES = [
    (1, 16, 28, 28, 5, 0, 1, 1, 1, False),   # lenet's first layer
    (16, 16, 12, 12, 5, 0, 1, 1, 1, False),  # lenet's second
    (3, 13, 17, 19, 3, 1, 1, 1, 1, False),   # odd channels, rows of 19 (two panels and a tail)
    (5, 9, 18, 33, 3, 1, 2, 1, 1, True),     # stride 2, a residual
    (16, 11, 16, 16, 1, 0, 2, 1, 1, False),  # 1x1 stride 2
    (7, 5, 13, 24, 3, 2, 1, 2, 1, False),    # dilation 2, padding 2
    (6, 10, 9, 20, 3, 1, 1, 1, 2, True),     # two groups, a residual
    (9, 17, 25, 5, 1, 0, 1, 1, 1, True),     # flat 1x1 on dscnn's 25x5, odd channels
    (1, 12, 49, 10, 4, 1, 2, 1, 1, False),   # dscnn-like stride 2, rows of 5 (gathered panels)
    (3, 8, 10, 40, 7, 3, 1, 1, 1, False),    # a 7x7 kernel, wide borders
]


def _conv_case(lib, case, rng, extreme: str) -> None:  # noqa: ANN001
    c, o, h, w, k, pad, stride, dil, group, residual = case
    x = rng.integers(-128, 128, (2, c, h, w))
    wq = rng.integers(-128, 128, (o, c // group, k, k))
    bias = rng.integers(-5000, 5000, o)
    mult, shift = quantize_multipliers(rng.uniform(0.001, 0.02, o))
    z_in = -3
    if extreme == "weights":  # every weight at an end of int8, activations at the ends too
        wq = np.where(rng.random(wq.shape) < 0.5, -128, 127)
        x = np.where(rng.random(x.shape) < 0.5, -128, 127)
        z_in = 127  # x - z_in reaches -255
    elif extreme == "zero":  # activations at the zero point (padding and data alike): bias only
        z_in = 7
        x = np.full(x.shape, z_in)
    elif extreme == "saturate":  # large multipliers: outputs pinned at -128/127
        mult, shift = quantize_multipliers(rng.uniform(0.5, 4.0, o))
    elif extreme == "bigbias":  # accumulators near 2^31: the requantization's general form
        bias = rng.integers(-(1 << 31) + (1 << 22), (1 << 31) - (1 << 22), o)
    a = {"pad": (pad, pad), "stride": (stride, stride), "dilation": (dil, dil)}
    out = QParams(0.05, 7)
    acc = conv_acc(x, z_in, wq, bias, a, group)
    acc, res, rm, rs = with_residual(acc, rng, residual)
    for act in ("", "relu"):
        st = IntNode(None, "int", act, "y", {"mult": mult, "shift": shift})  # type: ignore[arg-type]
        want = requant_out(acc, st, out)
        lo, hi = clamp_bounds(act, out)
        got = conv2d(lib, x, z_in, wq, bias, mult, shift, a, group, out.zero, lo, hi, res, 11, rm, rs)
        assert got.shape == want.shape and (got == want).all(), \
            f"{extreme} '{act}': {int((got != want).sum())} of {want.size} values differ"
        if extreme == "saturate" and not act:
            assert (want == lo).any() and (want == hi).any()  # the case does reach both ends


@pytest.mark.parametrize("case", CASES, ids=[f"c{i}" for i in range(len(CASES))])
@pytest.mark.parametrize("extreme", ["plain", "weights", "zero", "saturate", "bigbias"])
def test_conv_avx2_forms(lib, case, extreme) -> None:  # noqa: ANN001
    if os.environ.get(SAN_ENV) and extreme not in ("plain", "weights"):
        pytest.skip("the sanitized run checks memory, not arithmetic: plain and extreme-weight cases only")
    _conv_case(lib, case, np.random.default_rng(sum(case[:8]) + len(extreme)), extreme)


@pytest.mark.parametrize("k", [1, 15, 16, 17, 256, 400])
@pytest.mark.parametrize("o", [1, 3, 4, 10])
def test_affine_avx2(lib, k, o) -> None:  # noqa: ANN001
    """k around the 16-value vector and its tail, o around the four outputs at a time; extreme weights and
    inputs in half the rows, a saturating multiplier for o == 10."""
    rng = np.random.default_rng(k * 31 + o)
    x = rng.integers(-128, 128, (3, k))
    w = rng.integers(-128, 128, (k, o))
    x[1] = np.where(rng.random(k) < 0.5, -128, 127)
    w[:, 0] = np.where(rng.random(k) < 0.5, -128, 127)
    bias = rng.integers(-10000, 10000, o)
    mult, shift = quantize_multipliers(rng.uniform(0.0005, 0.01 if o < 10 else 2.0, o))
    for z_in in (-5, 127, -128):
        want = np.clip(requantize((x - z_in) @ w + bias, mult, shift) - 9, -128, 127)
        assert (affine(lib, x, z_in, w, bias, mult, shift, -9, -128, 127) == want).all(), z_in


@pytest.mark.parametrize("name", ["lenet", "dscnn", "resnet8", "conv_variants"])
def test_zoo_steps_avx2(lib, name) -> None:  # noqa: ANN001
    """Every integer step of the zoo model recomputed in C from the simulation's int8 inputs: equal."""
    if os.environ.get(SAN_ENV):
        pytest.skip("the sanitized run covers the random cases only (the zoo models run unsanitized)")
    m, xs, _ = calibrated(name)
    assert model_steps(lib, m, xs) >= 3


def test_avx2_forms_under_asan_ubsan() -> None:
    """The conv (plain and extreme-weight) and Affine cases again at the AVX2 level (test_int8_c.py's sanitized
    run covers the portable loops), kernels built with ASan + UBSan, in a child process with libasan preloaded."""
    rerun_sanitized(__file__, "avx2 and (forms or affine)", SAN_ENV)
