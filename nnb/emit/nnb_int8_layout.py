"""Layout facts of int8 models in extended NNB files (docs/nnb_format.md, "int8 models").

Shared by the writer (nnb_int8.py) and the reader (nnb_int8_read.py).  Variable
type 6 is an int8 tensor with a scale and zero point (a quant descriptor of
kind 6); type 7 an int32 parameter (biases, requantization multipliers and
shifts).  Function ids 1001-1011 and 1014 are the int8 steps; float islands keep their
usual ids.
"""

from __future__ import annotations

import struct

import numpy as np

from nnb.emit.nnb_args import ArgSlot

TYPE_Q8, TYPE_I32 = 6, 7
# kind (6), bits (8), count of scales, scale chunk (count float64), zero point, axis, 0, 0
Q8DESC = struct.Struct("<iiiiiiii")

ACT_CODES = ("", "relu", "relu6")
CLAMP_OPS = ("Identity", "ReLU", "ReLU6", "Reshape")

_ACT = [ArgSlot("activation", "i", ACT_CODES), ArgSlot("act_min", "i"), ArgSlot("act_max", "i")]
_POOL = [ArgSlot("kernel", "iI"), ArgSlot("stride", "iI"), ArgSlot("ignore_border", "B"), ArgSlot("pad", "iI")]

# name -> (function id, argument slots); the C runtime's glue is c_runtime/src/kernels/q8_ops.c
Q8_FUNCTIONS: dict[str, tuple[int, list[ArgSlot]]] = {
    "Q8Quantize": (1001, []),
    "Q8Dequantize": (1002, []),
    "Q8Conv": (1003, [
        ArgSlot("base_axis", "i"), ArgSlot("pad", "iI"), ArgSlot("stride", "iI"), ArgSlot("dilation", "iI"),
        ArgSlot("group", "i"), ArgSlot("pool", "i", ("", "max")), ArgSlot("pool_kernel", "iI"),
        ArgSlot("pool_stride", "iI"), ArgSlot("pool_pad", "iI"), ArgSlot("pool_ignore_border", "B"),
        ArgSlot("residual", "B"), *_ACT]),
    "Q8Affine": (1004, [ArgSlot("base_axis", "i"), *_ACT]),
    "Q8MaxPool": (1005, list(_POOL)),
    "Q8AvgPool": (1006, [*_POOL, ArgSlot("including_pad", "B")]),
    "Q8GlobalAvgPool": (1007, []),
    "Q8Add": (1008, list(_ACT)),
    "Q8Mul": (1009, list(_ACT)),
    "Q8Concat": (1010, [ArgSlot("axis", "i")]),
    "Q8Clamp": (1011, [ArgSlot("op", "i", CLAMP_OPS), *_ACT]),
}
# 1014 Q8QConv (nnb_int8_qconv.py): Q8Conv's arguments, the float network input quantized per sample
Q8_FUNCTIONS["Q8QConv"] = (1014, list(Q8_FUNCTIONS["Q8Conv"][1]))
Q8_BY_ID = {fid: (name, slots) for name, (fid, slots) in Q8_FUNCTIONS.items()}
# the float network op each int8 step computes (reader: back into an int8 model)
Q8_OP_OF = {"Q8Conv": "FusedConv", "Q8Affine": "Affine", "Q8MaxPool": "MaxPooling", "Q8AvgPool": "AveragePooling",
            "Q8GlobalAvgPool": "GlobalAveragePooling", "Q8Add": "Add2", "Q8Mul": "Mul2",
            "Q8Concat": "Concatenate"}


def quantize_thresholds(scale: float, zero: int) -> np.ndarray:
    """The 255 float32 thresholds of Q8Quantize: t[k] is the smallest float32 x with
    ``clip(round(float64(x) / scale) + zero, -128, 127) >= k - 127`` (numpy's quantize, round half to even), so
    that quantize(x) = -128 + #{k: x >= t[k]}: the same int8 values with float32 compares only (no double)."""
    ks = np.arange(-127, 128, dtype=np.int64)
    lo = np.full(ks.shape, -0x7F800000, np.int64)  # ordered float32 codes: -inf .. +inf
    hi = np.full(ks.shape, 0x7F800000, np.int64)

    def value(o: np.ndarray) -> np.ndarray:
        bits = np.where(o >= 0, o, (-o) | 0x80000000).astype(np.uint32)
        x = bits.view(np.float32).astype(np.float64)
        with np.errstate(all="ignore"):
            return np.clip(np.round(x / scale) + zero, -128, 127)

    while np.any(lo < hi):  # smallest o with value(o) >= k (value(+inf) = 127 >= k)
        mid = (lo + hi) // 2
        ok = value(mid) >= ks
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid + 1)
    bits = np.where(lo >= 0, lo, (-lo) | 0x80000000).astype(np.uint32)
    return bits.view(np.float32).copy()


def dequantize_table(scale: float, zero: int) -> np.ndarray:
    """The 256 float32 values of Q8Dequantize: table[q + 128] = float32((q - zero) * scale) in float64 (numpy's)."""
    q = np.arange(-128, 128, dtype=np.float64)
    return ((q - zero) * scale).astype(np.float32)
