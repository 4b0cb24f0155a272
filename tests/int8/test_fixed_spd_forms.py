"""The fast fixed-point forms (c_runtime/src/kernels/fixed_fast.c: float / double sums where a bound proves them
exact) give the integers of the simulation (nnb/quantize/fixed_int.py) on every convolution form they take: the
wide form over the input and over a zero-padded copy, the row form (stride 2, dilation, groups), planes split in
chunks of rows, the double sums past float's 2^24 bound, a row too wide for the buffer (the int64 loops), bias
finer or coarser than the products, outputs finer than the sums; at each x86 level (NNB_FIXED_ISA) and with the
fast forms off (the int64 loops)."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from nnb.backends.c import C_RUNTIME, build_library
from nnb.ir import Graph, Node, Tensor
from nnb.ops import get_op
from nnb.quantize import fixed, fixed_int

LEVELS = ("loops", "base", "avx2", "avx512")

# (op, C, OC, H, W, K, pad, stride, dilation, group, bits, fx, fw, fb[, amp: |integers| <= amp, else the
# whole range]): each row a form or a bound
CASES = [
    ("Convolution", 3, 4, 12, 11, 3, 0, 1, 1, 1, 8, 6, 7, 5),  # wide, float sums
    ("Convolution", 3, 4, 12, 11, 3, 0, 1, 1, 1, 16, 12, 14, 13),  # wide, double sums
    ("Convolution", 4, 6, 9, 10, 3, 1, 1, 1, 2, 8, 5, 7, 15),  # padded copy, groups, bias finer than x*w
    ("DepthwiseConvolution", 5, 5, 14, 13, 3, 1, 1, 1, 1, 16, 11, 13, 9),  # padded copy, depthwise
    ("DepthwiseConvolution", 4, 4, 13, 14, 3, 1, 2, 1, 1, 8, 6, 6, 4),  # row form, stride 2
    ("Convolution", 2, 3, 15, 16, 3, 2, 1, 2, 1, 8, 4, 7, 7),  # dilation 2 with padding
    ("Convolution", 1, 2, 70, 75, 5, 0, 1, 1, 1, 8, 7, 7, 7),  # a plane of several row chunks (float)
    ("Convolution", 1, 2, 40, 75, 5, 2, 1, 1, 1, 16, 13, 14, 12),  # padded, several chunks (double)
    ("Convolution", 300, 2, 5, 6, 3, 1, 1, 1, 1, 8, 7, 7, 7),  # fixed8 past 2^24: double sums
    ("Convolution", 1, 2, 3, 4200, 3, 0, 1, 1, 1, 16, 14, 14, 14),  # a row wider than the buffer: int64 loops
    ("Convolution", 2, 3, 6, 7, 1, 0, 1, 1, 1, 16, 0, 0, 0, 3),  # 1x1, output finer than the sums (fo >= fa)
]


def _model(case: tuple, seed: int) -> tuple[fixed.FixedModel, np.ndarray]:
    op, c, oc, h, w, k, pad, stride, dil, group, bits, fx, fw, fb = case[:14]
    rng = np.random.default_rng(seed)
    top = case[14] if len(case) > 14 else (1 << (bits - 1)) - 1
    geo = {"pad": (pad, pad), "stride": (stride, stride), "dilation": (dil, dil)}
    if op == "DepthwiseConvolution":
        wshape, taps = (c, k, k), k * k
    else:
        wshape, taps = (oc, c // group, k, k), c // group * k * k
        geo["group"] = group
    wt = rng.integers(-top, top + 1, wshape) / 2.0 ** fw
    bias = rng.integers(-top, top + 1, (oc,)) / 2.0 ** fb
    x = (rng.integers(-top, top + 1, (2, c, h, w)) / 2.0 ** fx).astype(np.float32)
    tensors = {"x": Tensor("x", (2, c, h, w), kind="input"),
               "w": Tensor("w", wshape, kind="param", data=wt.astype(np.float32)),
               "b": Tensor("b", (oc,), kind="param", data=bias.astype(np.float32)), "y": Tensor("y", ())}
    g = Graph("conv", tensors, [Node("c", op, ["x", "w", "b"], ["y"], get_op(op).normalize(geo))], ["x"], ["y"])
    tensors["y"].shape = tuple(g.infer_shapes()["y"])
    # an output grid where the typical sum (sqrt(taps) top^2 / 3 units of 2^-(fx + fw)) takes a third of the range
    typical = np.sqrt(taps) * top * top / 3 / 2.0 ** (fx + fw)
    fo = int(np.clip(np.floor(np.log2(((1 << (bits - 1)) - 1) / 3 / typical)), 0, 15))
    return fixed.FixedModel(g, bits, {"x": fx, "w": fw, "b": fb, "y": fo}), x


@pytest.fixture(scope="module")
def nnbrt() -> str:
    build_library()  # c_runtime/build, nnbrt included
    return os.path.join(C_RUNTIME, "build", "nnbrt")


@pytest.mark.parametrize("k", range(len(CASES)))
def test_fast_forms_equal_simulation(k: int, nnbrt: str, tmp_path: os.PathLike) -> None:
    m, x = _model(CASES[k], k)
    want = fixed_int.to_int(fixed.run_fixed(m, [x])["y"], m.fp_pos["y"])
    assert 0 < np.count_nonzero(want) and np.count_nonzero(np.abs(want) < (1 << (m.bits - 1)) - 1) > want.size // 2
    nnb, xin = os.path.join(tmp_path, "m.nnb"), os.path.join(tmp_path, "x.bin")
    with open(nnb, "wb") as f:
        f.write(fixed.write_fixed_nnb(m))
    x.astype("<f4").tofile(xin)
    for level in LEVELS:
        out = os.path.join(tmp_path, level)
        r = subprocess.run([nnbrt, "run", nnb, xin, "-o", out], capture_output=True, text=True,
                           env=dict(os.environ, NNB_FIXED_ISA=level))
        assert r.returncode == 0, r.stderr
        got = fixed_int.to_int(np.fromfile(out + "0.bin", "<f4").reshape(want.shape), m.fp_pos["y"])
        assert np.array_equal(got, want), (level, int(np.sum(got != want)))
