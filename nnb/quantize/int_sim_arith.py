"""The integer arithmetic of int8 inference, in int64 numpy (no float anywhere in it).

The gemmlowp / TensorFlow Lite / CMSIS-NN convention (docs/int8.md):

* a real multiplier ``M > 0`` is stored as ``(mult, shift)`` with ``mult`` a Q31
  integer in [2^30, 2^31) and ``M = mult * 2^(shift - 31)``
  (``quantize_multiplier``; that one function runs in float, at build time);
* ``requantize(x, mult, shift)`` =
  ``rounding_divide_by_pot(srdhm(sat32(x << max(shift, 0)), mult), max(-shift, 0))``
  where ``srdhm`` is SaturatingRoundingDoublingHighMul (round half away from
  zero of ``a*b / 2^31``, the one overflow case saturating) and
  ``rounding_divide_by_pot`` an arithmetic right shift rounding half away from zero.

The C kernels (c_runtime/src/kernels/int8/) compute exactly these functions.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
I64 = np.int64


def quantize_multiplier(m: float) -> tuple[int, int]:
    """(mult, shift) with ``m ~= mult * 2^(shift - 31)``, mult in [2^30, 2^31); (0, 0) for a negligible m."""
    if not (m > 0 and math.isfinite(m)):
        return 0, 0
    frac, exp = math.frexp(m)
    mult = int(round(frac * (1 << 31)))
    if mult == 1 << 31:
        mult //= 2
        exp += 1
    if exp < -31:
        return 0, 0
    if exp > 30:
        from nnb.errors import NnbError

        raise NnbError(f"int8: a requantization multiplier of {m:.3g} is beyond 2^30 (a scale ratio this large "
                       "means a degenerate, e.g. all-zero, tensor or weight channel)")
    return mult, exp


def quantize_multipliers(ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(float(m)) for m in np.asarray(ms, dtype=np.float64).reshape(-1)]
    return np.array([p[0] for p in pairs], I64), np.array([p[1] for p in pairs], I64)


def sat32(x: np.ndarray) -> np.ndarray:
    return np.clip(x, INT32_MIN, INT32_MAX)


def srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul of int32 values held in int64."""
    a, b = np.asarray(a, I64), np.asarray(b, I64)
    ab = a * b
    v = ab + np.where(ab >= 0, I64(1 << 30), I64(1 - (1 << 30)))
    res = np.where(v >= 0, v >> 31, -((-v) >> 31))  # C's truncating division by 2^31
    return np.where((a == INT32_MIN) & (b == INT32_MIN), I64(INT32_MAX), res)


def rounding_divide_by_pot(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """x / 2^e rounded half away from zero (gemmlowp RoundingDivideByPOT), 0 <= e <= 31."""
    x, e = np.asarray(x, I64), np.asarray(e, I64)
    mask = (I64(1) << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (x < 0)
    return (x >> e) + (rem > thr)


def requantize(x: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """MultiplyByQuantizedMultiplier: x (int32 values) times mult * 2^(shift - 31), rounded."""
    shift = np.asarray(shift, I64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(srdhm(sat32(np.asarray(x, I64) << left), mult), right)


def round_div(s: np.ndarray, n: np.ndarray) -> np.ndarray:
    """s / n rounded half away from zero, n > 0 (the average pools' divide)."""
    s, n = np.asarray(s, I64), np.asarray(n, I64)
    q = (2 * np.abs(s) + n) // (2 * n)
    return np.where(s < 0, -q, q)
