"""Q8Quantize's vector forms on x86-64 (AVX2: eight lanes; AVX-512 at the vnni level: sixteen, the tail by masked
loads and stores) equal a binary search over the thresholds at every instruction-set level this CPU has, on
lengths around the vector widths and adversarial tables (far from uniform, repeated and infinite thresholds, values
on and next to the thresholds, NaN, infinities); the same again with ASan + UBSan."""

from __future__ import annotations

import ctypes as C
import os

import numpy as np
import pytest
from int8_harness import P8, at_isa_level, build, rerun_sanitized, shim_library

SAN_ENV = "NNB_INT8_SPD_Q_SANITIZED"
LEVELS = {"base": 0, "avx2": 1, "vnni": 2}
_BUILT: dict = {}
PF = C.POINTER(C.c_float)

SHIM = r"""
#include "i8_host.h"
void spd_quantize(size_t n, const float *x, const float *t, int8_t *y)
{
    float inv = nnb_i8_qinv(t);
    size_t i;
#if NNB_I8_X86
    if (nnb_i8_x86_quantize(n, x, t, y)) return;
#endif
    for (i = 0; i < n; ++i) y[i] = nnb_i8_quantize1(x[i], t, inv);
}
"""


@pytest.fixture(scope="module", params=list(LEVELS))
def qlib(request, tmp_path_factory):  # noqa: ANN001, ANN201
    tmp = str(tmp_path_factory.mktemp("i8spdq"))
    san = bool(os.environ.get(SAN_ENV))
    so = build(tmp, False, san, shim_library(tmp, SHIM, "libi8spdq.so", san, _BUILT))
    so.spd_quantize.argtypes = [C.c_size_t, PF, PF, P8]
    return at_isa_level(so, request.param, LEVELS[request.param], "Q8Quantize path")


def _tables() -> list[np.ndarray]:
    k = np.arange(255, dtype=np.float64)
    rng = np.random.default_rng(5)
    t = ((k - 127.5) * 0.01).astype(np.float32)
    t[:40], t[200:] = -np.inf, np.inf
    return [((k - 127.5 - 9) * 0.0173).astype(np.float32), np.sort(rng.normal(0, 5, 255)).astype(np.float32),
            (np.floor(k / 16) * 0.5).astype(np.float32), (k * k * 1e-3).astype(np.float32), t]


@pytest.mark.parametrize("table", range(5), ids=[f"t{i}" for i in range(5)])
def test_spd_quantize_equals_binary_search(qlib, table) -> None:  # noqa: ANN001
    t = _tables()[table]
    rng = np.random.default_rng(table)
    fin = t[np.isfinite(t)]
    lo, hi = float(fin.min()), float(fin.max())
    pool = np.concatenate([t, np.nextafter(t, np.float32(-np.inf)), np.nextafter(t, np.float32(np.inf)),
                           rng.uniform(lo - (hi - lo), hi + (hi - lo), 600).astype(np.float32),
                           np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)]).astype(np.float32)
    for n in (1, 7, 8, 9, 15, 16, 17, 31, 33, 47, pool.size):
        x = np.ascontiguousarray(rng.choice(pool, n, replace=False) if n < pool.size else rng.permutation(pool))
        with np.errstate(invalid="ignore"):
            want = (np.searchsorted(t, np.where(np.isnan(x), -np.inf, x), side="right") - 128).astype(np.int8)
        want[np.isnan(x)] = -128
        y = np.full(n + 16, 99, np.int8)  # bytes past n stay untouched
        qlib.spd_quantize(n, x.ctypes.data_as(PF), t.ctypes.data_as(PF), y.ctypes.data_as(P8))
        bad = np.flatnonzero(y[:n] != want)
        assert bad.size == 0, f"n={n}: {bad.size} differ, e.g. {x[bad[0]]} -> {y[bad[0]]}, not {want[bad[0]]}"
        assert (y[n:] == 99).all(), f"n={n}: written past the end"


def test_spd_quantize_under_asan_ubsan() -> None:
    """The vector quantize forms (avx2/vnni levels) again with ASan + UBSan."""
    rerun_sanitized(__file__, "spd and not base and not asan", SAN_ENV)
