"""Strided depthwise convolutions in the C runtime (conv_dwflat.c's phase-plane
form, dw_inplace.c) against nnb's numpy reference (nnb/ops/fused.py).

Random depthwise layers -- mostly stride 2, odd sizes, padding 0/1/2,
dilation, kernels 1x1 to 5x5, channel counts that are no multiple of any
vector width, no/ReLU/ReLU6 activation, residual, bias or not, channel
multipliers, the output planned over the input (in-place) or not -- are
packed into one extended NNB file (one function per layer, each with its own
arena region), so every build runs them all in one process: the default
build with each of its run-time dispatched variants (AVX-512 where the CPU
has it, AVX2, SSE2), the plain-loop build (REF=1) and the ASan/UBSan build
with the same three variants.
"""
import sys
from pathlib import Path

import numpy as np
from layer_runs import fused_layer, layers_fixture, over_builds, run_build

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

N_CASES = 120


# MobileNet-style stride-2 layers (even and odd maps, "same" padding), then random ones
COMMON = [((16, 16), (3, 3), [1, 1]), ((32, 32), (3, 3), [1, 1]), ((14, 14), (3, 3), [1, 1]),
          ((8, 8), (3, 3), [1, 1]), ((7, 7), (3, 3), [1, 1]), ((16, 16), (5, 5), [2, 2]),
          ((15, 16), (3, 3), [1, 1]), ((16, 9), (3, 3), [1, 1]), ((2, 2), (3, 3), [1, 1]),
          ((28, 28), (3, 3), [0, 0]), ((12, 20), (5, 5), [2, 2]), ((1, 30), (1, 3), [0, 1]),
          ((5, 100), (3, 3), [1, 1]), ((4, 127), (3, 3), [1, 1]), ((3, 131), (3, 3), [1, 1])]


def _case(rng, i):
    """One random strided depthwise layer; i picks a few fixed traits so every kind is present."""
    if i < 2 * len(COMMON):
        (h, w), k, p = COMMON[i % len(COMMON)]
        inplace = i < len(COMMON)
        return dict(c=int(rng.integers(1, 70)), h=h, w=w, k=k, s=(2, 2), p=p, d=[1, 1], mult=1,
                    act=["relu6", "relu", ""][i % 3], bias=i % 5 != 4, inplace=inplace,
                    residual=not inplace and i % 3 == 1, n=1 + int(i % 7 == 3), alias_res=i % 2 == 0)
    k = [(3, 3), (3, 3), (3, 3), (5, 5), (3, 1), (1, 3), (2, 2), (1, 1), (4, 3), (3, 5)][i % 10]
    s = [(2, 2), (2, 2), (2, 2), (2, 1), (1, 2), (3, 2), (2, 3), (3, 3)][(i // 10 + i) % 8]
    c = int(rng.integers(1, 38))
    while True:
        h, w = int(rng.integers(1, 34)), int(rng.integers(1, 34))
        p = [int(rng.integers(0, 3)), int(rng.integers(0, 3))]
        d = [1 + int(rng.random() < 0.25), 1 + int(rng.random() < 0.25)]
        oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
        ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
        if oh >= 1 and ow >= 1:
            break
    inplace = i % 3 == 0
    mult = 1 if inplace or i % 4 else 2
    residual = not inplace and i % 5 == 1
    return dict(c=c, h=h, w=w, k=k, s=s, p=p, d=d, mult=mult, act=["", "relu", "relu6"][i % 3 if i % 2 else 2],
                bias=i % 7 != 3, inplace=inplace, residual=residual, n=1 + int(i % 11 == 5), alias_res=i % 10 == 1)


def _layer(case, rng):
    n, c, m = case["n"], case["c"], case["mult"]
    x = rng.standard_normal((n, c, case["h"], case["w"])).astype(np.float32)
    wt = (rng.standard_normal((c * m, 1) + case["k"]) * 0.5).astype(np.float32)
    return (x, wt, *fused_layer(case, x, wt, c, rng))


# all cases in one extended NNB: (image, inputs, references, case descriptions)
model = layers_fixture(20261129, N_CASES, _case, _layer)


@over_builds()
def test_strided_depthwise(model, build, isa, tmp_path):
    run_build(build, isa, model, tmp_path)
