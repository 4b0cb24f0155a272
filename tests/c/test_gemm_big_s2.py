"""conv_gemm_big.h's stride-2 copies and odd-height tiles against nnb's numpy reference (nnb/ops/fused.py).

Fixed odd layers large enough for the large-layer GEMM (test_gemm_big's rule), aimed at the forms added for
ResNet-18's layers:
- the stride-2 phase planes and 1x1 stride-2 gathers split by vector shuffles (big_deint2: AVX-512 masked
  tails, 8/4-float vectors below): stem-like 7x7/2 layers with 3 input channels and odd or even padding,
  1x1/2 with and without padding, 3x3/2 with rows shorter than a vector (tails only) and longer (whole
  vectors and a tail), odd widths, groups with batch 2;
- odd output heights whose last row is computed for two 32-channel blocks at once (ocv_micro_row2, AVX-512
  with weights packed at load): 5 blocks (two pairs and a lone last block), 3 blocks, K split into blocks
  (partial sums), residuals stored over their own buffer, each activation.
All in one extended NNB (one function per layer) run by `nnbrt run` in the default build at each ISA level
it dispatches (AVX-512 where the CPU has it, AVX2, SSE2), in the plain-loop build (REF=1), and once under
ASan/UBSan (the widest ISA).
"""
import numpy as np
import pytest
from layer_runs import build_dir, conv_layer, layers_image, run_layers
from test_gemm_big import FIXED_DEFAULTS, _ocv_form, _out, _takes_big_path

CASES = [
    dict(c=3, oc=64, h=57, w=61, k=(7, 7), s=(2, 2), p=[3, 3], act="relu"),
    dict(c=3, oc=40, h=70, w=54, k=(7, 7), s=(2, 2), p=[2, 2], bias=False),
    dict(c=160, oc=96, h=45, w=33, k=(1, 1), s=(2, 2), p=[0, 0], act="relu", residual=True),
    dict(c=128, oc=80, h=40, w=50, k=(1, 1), s=(2, 2), p=[1, 1], act="relu6"),
    dict(c=40, oc=96, h=43, w=37, k=(3, 3), s=(2, 2), p=[1, 1], act="relu", residual=True, alias_res=True),
    dict(c=32, oc=64, h=101, w=13, k=(3, 3), s=(2, 2), p=[0, 0], act="relu"),
    dict(c=256, oc=128, h=10, w=10, k=(3, 3), s=(2, 2), p=[1, 1], act="relu6", residual=True),
    dict(c=40, oc=96, h=47, w=45, k=(3, 3), s=(2, 2), p=[1, 1], act="relu", group=2, n=2),
    dict(c=48, oc=160, h=13, w=14, k=(3, 3), s=(1, 1), p=[1, 1], act="relu6", residual=True, alias_res=True),
    dict(c=160, oc=96, h=7, w=7, k=(3, 3), s=(1, 1), p=[1, 1], bias=False),
    dict(c=256, oc=64, h=13, w=13, k=(3, 3), s=(2, 2), p=[1, 1], act="relu", residual=True),
]


# the builds and dispatched levels each image runs on (test_conv_s2big too)
LEVELS = [("normal", ""), ("normal", "avx2"), ("normal", "base"), ("ref", ""), ("san", "")]


def fixed_layers(cases: list[dict], seed: int) -> list[tuple]:
    """(case, layer arrays...) of each fixed case over test_gemm_big's defaults, random data from seed."""
    rng = np.random.default_rng(seed)
    out = []
    for fixed in cases:
        case = {**FIXED_DEFAULTS, **fixed}
        out.append((case, *conv_layer(case, rng, 0.2, case["group"])))
    return out


@pytest.fixture(scope="module")
def layers():
    return fixed_layers(CASES, 20261201)


def _oh(c):
    return _out(c["h"], c["k"][0], c["s"][0], c["p"][0], c["d"][0])


def test_cases_cover_the_forms(layers):
    """Every layer takes the large GEMM; among them stride-2 layers with rows shorter and longer than two
    AVX-512 vectors and odd paddings, 1x1/2 gathers, and odd output heights in row strips over more than one
    32-channel block (both paired and lone last blocks)."""
    cases = [ly[0] for ly in layers]
    assert all(_takes_big_path(c) for c in cases)
    s2 = [c for c in cases if c["s"] == (2, 2)]
    assert any(c["w"] < 32 for c in s2) and any(c["w"] > 32 and c["w"] % 32 for c in s2)
    assert any(c["p"][1] % 2 for c in s2) and any(c["k"] == (1, 1) for c in s2) and any(c["c"] == 3 for c in s2)
    rows = [c for c in cases if _ocv_form(c)[0] == 2 and _oh(c) % 2]
    assert any((c["oc"] // c["group"]) // 32 % 2 for c in rows)  # a lone last block
    assert any((c["oc"] // c["group"]) // 32 > 2 and _ocv_form(c)[2] > 1 for c in rows)  # pairs, K in blocks


@pytest.mark.parametrize("name,isa", LEVELS)
def test_gemm_big_s2(layers, name, isa, tmp_path):
    run_layers(build_dir(name), isa, layers_image(layers), tmp_path, f"{name} {isa or 'default'}", tol=3e-5)
