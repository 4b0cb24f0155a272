"""The int8 max pooling (2x2 stride 2: eight or four outputs a row at a time, the last group overlapping) and the
global average pooling (PSADBW sums of sixteen bytes, a masked overlapping tail) on x86-64 equal a numpy oracle bit
for bit at every instruction-set level this CPU has (base: the portable loops; avx2, vnni: the vector forms), on
odd plane sizes around the vector widths and extreme values; the same again with ASan + UBSan."""

from __future__ import annotations

import os

import numpy as np
import pytest
from int8_harness import P8, at_isa_level, build, compiler, max_pool, ptr, rerun_sanitized

from nnb.quantize.int_sim_arith import quantize_multipliers, requantize

SAN_ENV = "NNB_INT8_SPD_SANITIZED"
LEVELS = {"base": 0, "avx2": 1, "vnni": 2}
_BUILT: dict = {}


@pytest.fixture(scope="module", params=list(LEVELS))
def lib(request, tmp_path_factory):  # noqa: ANN001, ANN201
    if compiler() is None:
        pytest.skip("no C compiler (gcc/cc) on PATH: the C int8 kernels cannot be built")
    san = bool(os.environ.get(SAN_ENV))
    so = build(str(tmp_path_factory.mktemp("i8spd")), False, san, _BUILT.get(san))
    _BUILT.setdefault(san, so._name)
    return at_isa_level(so, request.param, LEVELS[request.param])


def _np_max_pool(x: np.ndarray, k: int, s: int, oh: int, ow: int) -> np.ndarray:
    y = np.full(x.shape[:2] + (oh, ow), -128, np.int8)
    for i in range(k):
        for j in range(k):
            y = np.maximum(y, x[:, :, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s])
    return y


# (N, C, H, W): widths around 8 and 16 outputs (rows of 4..7 outputs, 8, 9..15, 16+, an odd input width whose
# last column no window reads), one row, lenet's 24x24 and 8x8 planes
POOL_CASES = [(1, 3, 4, 8), (2, 5, 7, 9), (1, 4, 6, 14), (1, 2, 3, 16), (1, 3, 5, 17), (1, 6, 24, 24),
              (2, 7, 8, 8), (1, 2, 9, 31), (1, 3, 2, 34), (1, 1, 4, 6), (3, 2, 11, 47)]


@pytest.mark.parametrize("shape", POOL_CASES, ids=[f"p{i}" for i in range(len(POOL_CASES))])
def test_spd_max_pool_2x2_equals_oracle(lib, shape) -> None:  # noqa: ANN001
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(-128, 128, shape, dtype=np.int8)
    x.flat[:: 7] = -128  # the extremes in both phases
    x.flat[3:: 11] = 127
    h, w = shape[2:]
    attrs = {"kernel": (2, 2), "stride": (2, 2), "pad": (0, 0), "ignore_border": True, "channel_last": False}
    got = max_pool(lib, x, attrs)
    np.testing.assert_array_equal(got, _np_max_pool(x, 2, 2, h // 2, w // 2))


# (N, C, HW): planes below, at and around sixteen bytes (a tail of 1..15 values), dscnn's 5x13 = 65
GAP_CASES = [(1, 3, 9), (1, 4, 16), (2, 3, 17), (1, 5, 31), (1, 2, 32), (1, 7, 65), (2, 3, 100), (1, 1, 255)]


@pytest.mark.parametrize("shape", GAP_CASES, ids=[f"g{i}" for i in range(len(GAP_CASES))])
@pytest.mark.parametrize("fill", ["random", "min", "max"])
def test_spd_global_avg_pool_equals_oracle(lib, shape, fill) -> None:  # noqa: ANN001
    n, c, hw = shape
    rng = np.random.default_rng(hw * 7 + c)
    if fill == "random":
        x = rng.integers(-128, 128, shape, dtype=np.int8)
    else:
        x = np.full(shape, -128 if fill == "min" else 127, np.int8)
    for in_zero, out_zero in ((-3, 5), (127, -128), (-128, 127)):
        mult, shift = quantize_multipliers(np.array([0.37 / hw]))
        acc = x.astype(np.int64).sum(axis=2) - in_zero * hw
        want = np.clip(out_zero + requantize(acc, np.int64(mult[0]), np.int64(shift[0])), -128, 127).astype(np.int8)
        y = np.zeros((n, c), np.int8)
        xs = np.ascontiguousarray(x)
        assert lib.nnb_i8_global_avg_pool(n, c, hw, ptr(xs, P8), in_zero, int(mult[0]), int(shift[0]), out_zero,
                                          ptr(y, P8)) == 0
        np.testing.assert_array_equal(y, want.reshape(n, c))


def test_spd_pool_under_asan_ubsan() -> None:
    """The vector pooling forms (avx2/vnni levels) again with ASan + UBSan: no overread on the overlapping loads."""
    rerun_sanitized(__file__, "spd and not base and not asan", SAN_ENV)

