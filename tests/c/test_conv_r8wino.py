"""3x3 stride-1 convolutions in the C runtime's Winograd F(2x2, 3x3) form (c_runtime/src/kernels/conv_r8wino.h,
included by conv_gemm.c; AVX2 and AVX-512 builds, weights transformed at load) against nnb's numpy reference
(nnb/ops/fused.py).

Random layers the form takes -- 16 to 40 input and 8 to 40 output channels (every channel-block remainder), even
and odd output sizes, tile rows a multiple of a vector, whole tile rows per vector, or neither (tile rows 1 to 32
wide, so chunks split rows, cover several rows, one vector holds 2 to 16 tile rows or spans a row's end), padding 0
to 2, no/ReLU/ReLU6 activation, bias or not, a residual (aliasing the output or not), batch 2 -- plus resnet8's 3x3
stride-1 layers, ResNet-18's shapes in small, and one the form leaves (8 input channels) next to them. All layers
are packed into one extended
NNB (layer_runs.layers_image), run by the default build with each of its run-time dispatched variants
(AVX-512 and AVX2: the form; SSE2: the other forms on the same layers), the plain-loop build (REF=1) and the
ASan/UBSan build with the same three variants.
"""
import sys
from pathlib import Path

from layer_runs import conv_layers, layers_fixture, over_builds, run_build, run_layers
from test_c_runtime import _build

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

N_CASES = 30

# (c, oc, h, w, p): resnet8's stride-1 3x3 layers, ResNet-18's shapes in small (tile rows of 14 and 7 -- vectors span
# tile rows, the last vector is part outside -- and odd 7x7 outputs, 256 input channels), other odd outputs, then a
# layer the form leaves (8 input channels)
FIXED = [(16, 16, 32, 32, 1), (32, 32, 16, 16, 1), (64, 64, 8, 8, 1), (16, 16, 9, 16, 1), (24, 20, 28, 28, 1),
         (256, 24, 14, 14, 1), (40, 16, 7, 7, 1), (17, 9, 9, 13, 0), (8, 16, 16, 16, 1)]
# tile-row widths (output width / 2) and tile-row counts: whole vectors of 16 tiles, and widths that do not
# divide 16 (tiles rounded up to whole vectors)
TILES = [(32, 1), (16, 1), (16, 3), (8, 2), (8, 4), (4, 4), (4, 8), (2, 8), (1, 16), (14, 3), (7, 5), (3, 3),
         (20, 2)]


def _case(rng, i):
    """One layer; i picks a few fixed traits so every kind is present."""
    common = dict(act=["relu", "", "relu6"][i % 3], bias=i % 5 != 4, residual=i % 4 == 1,
                  alias_res=i % 8 == 1, n=1 + int(i % 7 == 3), k=(3, 3), s=(1, 1), d=[1, 1], inplace=False)
    if i < len(FIXED):
        c, oc, h, w, p = FIXED[i]
        return dict(common, c=c, oc=oc, h=h, w=w, p=[p, p])
    tw, th = TILES[i % len(TILES)]
    p = [int(rng.integers(0, 3)), int(rng.integers(0, 3))]
    # output 2*th x 2*tw from an input of output + 2 - 2*pad (at least 1)
    h, w = 2 * th + 2 - 2 * p[0], 2 * tw + 2 - 2 * p[1]
    if h < 1 or w < 1:
        p = [1, 1]
        h, w = 2 * th, 2 * tw
    c, oc = int(rng.integers(16, 41)), int(rng.integers(8, 41))
    return dict(common, c=c, oc=oc, h=h, w=w, p=p)


# all cases in one extended NNB: (image, inputs, references, case descriptions)
model = layers_fixture(20261130, N_CASES, _case, conv_layers(0.2))


@over_builds()
def test_winograd_conv(model, build, isa, tmp_path):
    run_build(build, isa, model, tmp_path)


def test_winograd_conv_native(model, tmp_path):
    """The same layers in the -march=native build (make NATIVE=1), whose tuning once split every vector load
    of the Winograd form into two halves: outputs within the same tolerance."""
    run_layers(_build(False, native=True), "", model, tmp_path, "native")
