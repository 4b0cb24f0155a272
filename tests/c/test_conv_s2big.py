"""conv_big_s2.h's channel-blocked stride-2 phase planes (conv_gemm_big.h's output-channel-vector form, AVX-512:
16 channels per source column, so a tile's broadcasts at one tap share a cache line) against nnb's numpy
reference (nnb/ops/fused.py).

Layers the form takes (2x2 stride, ungrouped, >= 16 input channels, even output height, row strips): input
channels not a multiple of 16 (zero lanes in the last block), output channels past a 32-channel block, odd
output widths (a row's last strip overlapping its predecessor), padding 1 and 0, K split into blocks (partial
sums), a residual stored over its own buffer, each activation, batch 2. Other ISA levels and the plain-loop
build take the previous forms on the same layers, so the same image checks them too. One extended NNB run by
`nnbrt run` in the default build at each dispatched level, REF=1, and once under ASan/UBSan.
"""
import pytest
from layer_runs import build_dir, layers_image, run_layers
from test_gemm_big import _ocv_form, _out, _takes_big_path
from test_gemm_big_s2 import LEVELS, fixed_layers

CASES = [
    dict(c=20, oc=40, h=59, w=55, k=(3, 3), s=(2, 2), p=[1, 1], act="relu", residual=True, alias_res=True, n=2),
    dict(c=48, oc=64, h=28, w=28, k=(3, 3), s=(2, 2), p=[1, 1], act="relu6", bias=False),
    dict(c=17, oc=72, h=61, w=44, k=(3, 3), s=(2, 2), p=[0, 0]),
]


@pytest.fixture(scope="module")
def layers():
    return fixed_layers(CASES, 20261130)


def test_cases_take_the_blocked_form(layers):
    """Every layer takes the large GEMM's row strips with an even output height (conv_big_s2.h's rule), some
    with K in blocks, some with input channels not a multiple of 16, some with odd output widths."""
    cases = [ly[0] for ly in layers]
    assert all(_takes_big_path(c) and _ocv_form(c)[0] == 2 for c in cases)
    assert all(_out(c["h"], 3, 2, c["p"][0], 1) % 2 == 0 and c["c"] >= 16 for c in cases)
    assert any(c["c"] % 16 for c in cases) and any(_ocv_form(c)[2] > 1 for c in cases)
    assert any(_out(c["w"], 3, 2, c["p"][1], 1) % 2 for c in cases)


@pytest.mark.parametrize("name,isa", LEVELS)
def test_conv_s2big(layers, name, isa, tmp_path):
    run_layers(build_dir(name), isa, layers_image(layers), tmp_path, f"{name} {isa or 'default'}", tol=3e-5)
