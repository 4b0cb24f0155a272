"""Strided ungrouped convolutions in the C runtime (conv_gemm.c's direct form on
phase planes) against nnb's numpy reference (nnb/ops/fused.py).

Random layers that the form takes -- column stride 2 or 3, row stride 1 to 3,
kernels 2x2 to 5x5 (never 1x1), padding 0 to 2, dilation, input channels 1 to
21 (reductions up to 192), output channels 1 to 40 (every channel-block size
and remainder), output rows 4 to 40 wide (overlapped last vectors at every
vector width), odd heights (the single-row tail), no/ReLU/ReLU6 activation,
bias or not, a residual (aliasing the output or not), batch 2 -- plus
MobileNet/ResNet-style stride-2 layers, and a few just past the form's limits
(reduction > 192, 1x1 stride 2) that the other forms take. All layers are
packed into one extended NNB file (one function per layer, each with its own
arena region), run by the default build with each of its run-time dispatched
variants (AVX-512 where the CPU has it, AVX2, SSE2), the plain-loop build
(REF=1) and the ASan/UBSan build with the same three variants.
"""
import sys
from pathlib import Path

from layer_runs import conv_layers, layers_fixture, over_builds, run_build

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

N_CASES = 64

# (c, oc, h, w, k, s, p): MobileNet/ResNet-style stride-2 layers and ones just outside the form
FIXED = [(3, 16, 32, 32, (3, 3), (2, 2), [1, 1]), (16, 32, 32, 32, (3, 3), (2, 2), [1, 1]),
         (32, 64, 16, 16, (3, 3), (2, 2), [1, 1]), (3, 24, 33, 35, (3, 3), (2, 2), [1, 1]),
         (22, 8, 20, 40, (3, 3), (2, 2), [1, 1]), (16, 32, 32, 32, (1, 1), (2, 2), [0, 0]),
         (8, 12, 31, 64, (5, 5), (2, 2), [2, 2]), (1, 1, 9, 40, (3, 3), (1, 2), [0, 1])]


def _case(rng, i):
    """One random strided ungrouped layer; i picks a few fixed traits so every kind is present."""
    common = dict(act=["relu6", "relu", ""][i % 3], bias=i % 5 != 4, residual=i % 4 == 1,
                  alias_res=i % 8 == 1, n=1 + int(i % 9 == 4), d=[1, 1])
    if i < len(FIXED):
        c, oc, h, w, k, s, p = FIXED[i]
        return dict(common, c=c, oc=oc, h=h, w=w, k=k, s=s, p=p)
    k = [(3, 3), (3, 3), (5, 5), (2, 2), (3, 1), (1, 3), (4, 3), (3, 5)][i % 8]
    s = [(2, 2), (2, 2), (1, 2), (3, 2), (2, 3), (3, 3)][(i // 8 + i) % 6]
    while True:
        c = int(rng.integers(1, 192 // (k[0] * k[1]) + 1))
        oc = int(rng.integers(1, 41))
        h, w = int(rng.integers(1, 40)), int(rng.integers(8, 100))
        p = [int(rng.integers(0, 3)), int(rng.integers(0, 3))]
        d = [1 + int(rng.random() < 0.2), 1 + int(rng.random() < 0.2)]
        oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
        ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
        if oh >= 1 and 4 <= ow <= 40:
            break
    return dict(common, c=c, oc=oc, h=h, w=w, k=k, s=s, p=p, d=d)


# all cases in one extended NNB: (image, inputs, references, case descriptions)
model = layers_fixture(20261130, N_CASES, _case, conv_layers(0.3))


@over_builds()
def test_strided_direct_conv(model, build, isa, tmp_path):
    run_build(build, isa, model, tmp_path)
