"""Ungrouped convolutions in the C runtime's shifted-plane direct form (c_runtime/src/kernels/conv_s1.h,
included by conv_gemm.c; AVX-512 builds) against nnb's numpy reference (nnb/ops/fused.py).

Random layers the form takes -- at least 32 output channels (32 to 47: every channel-block size and
remainder), reductions of 128 or more, stride 1 with rows narrower than 32 (widths 5 to 31, heights 2 to
20, so the flat index runs across rows and the last tile overlaps), strided layers the strided direct form
leaves (rows narrower than a vector, or reductions over 192), kernels 2x2 to 5x5, padding 0 to 2,
dilation, no/ReLU/ReLU6 activation, bias or not, a residual (aliasing the output or not), an output
overwriting its own input, batch 2 -- plus resnet8's 3x3 layers. All layers are packed into one extended
NNB file (one function per layer, each with its own arena region), run by the default build with each of
its run-time dispatched variants (AVX-512 where the CPU has it: the form; AVX2 and SSE2: the other forms
on the same layers), the plain-loop build (REF=1) and the ASan/UBSan build with the same three variants.
"""
import sys
from pathlib import Path

from layer_runs import conv_layers, layers_fixture, over_builds, run_build, run_layers
from test_c_runtime import _build

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

N_CASES = 30

# (c, oc, h, w, k, s, p, d): resnet8's 3x3 layers the form takes, and odd ones at its edges
FIXED = [(32, 32, 16, 16, (3, 3), (1, 1), [1, 1], [1, 1]), (64, 64, 8, 8, (3, 3), (1, 1), [1, 1], [1, 1]),
         (32, 64, 16, 16, (3, 3), (2, 2), [1, 1], [1, 1]), (16, 32, 8, 31, (3, 3), (1, 1), [1, 1], [1, 1]),
         (15, 33, 7, 5, (3, 3), (1, 1), [2, 2], [2, 2]), (40, 35, 9, 9, (3, 3), (3, 3), [2, 2], [1, 1])]


def _case(rng, i):
    """One random layer the form takes; i picks a few fixed traits so every kind is present."""
    common = dict(act=["relu6", "relu", ""][i % 3], bias=i % 5 != 4, residual=i % 4 == 1,
                  alias_res=i % 8 == 1, n=1 + int(i % 7 == 3), d=[1, 1], inplace=False)
    if i < len(FIXED):
        c, oc, h, w, k, s, p, d = FIXED[i]
        return dict(common, c=c, oc=oc, h=h, w=w, k=k, s=s, p=p, d=d)
    k = [(3, 3), (3, 3), (5, 5), (2, 2), (3, 1), (1, 3), (4, 3), (3, 5)][i % 8]
    strided = i % 5 == 2
    while True:
        s = [(2, 2), (1, 2), (2, 1), (3, 2)][i % 4] if strided else (1, 1)
        lo = -(-128 // (k[0] * k[1]))
        c = int(rng.integers(lo, lo + 24))
        oc = int(rng.integers(32, 48))
        h, w = int(rng.integers(2, 21)), int(rng.integers(5, 34))
        p = [int(rng.integers(0, 3)), int(rng.integers(0, 3))]
        d = [1 + int(rng.random() < 0.2), 1 + int(rng.random() < 0.2)]
        oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
        ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
        # the form's rules: stride-1 rows < 32; strided rows < 16 or a reduction > 192 (else the strided
        # direct form); at least two vectors of output pixels; planes within 65,536 floats
        planes = k[1] * s[0] * c * (oh + (k[0] - 1) * d[0] // s[0]) * ow
        fits = ow < 32 if s[1] == 1 else (ow < 16 or c * k[0] * k[1] > 192)
        if oh >= 1 and ow >= 1 and oh * ow >= 32 and fits and planes <= 65536:
            break
    case = dict(common, c=c, oc=oc, h=h, w=w, k=k, s=s, p=p, d=d)
    # an output overwriting its own input (same shape: stride 1, "same" padding, C == OC)
    if i % 6 == 5 and s == (1, 1) and d == [1, 1] and k[0] % 2 and k[1] % 2:
        case.update(oc=c if c >= 32 else 32, c=c if c >= 32 else 32, p=[k[0] // 2, k[1] // 2], inplace=True,
                    residual=False, alias_res=False)
    return case


# all cases in one extended NNB: (image, inputs, references, case descriptions)
model = layers_fixture(20261129, N_CASES, _case, conv_layers(0.2))


@over_builds()
def test_shifted_plane_conv(model, build, isa, tmp_path):
    run_build(build, isa, model, tmp_path)


def test_shifted_plane_conv_native(model, tmp_path):
    """The same layers in the -march=native build (make NATIVE=1), whose tuning once split every vector load
    of the shifted-plane form into two halves: outputs within the same tolerance."""
    run_layers(_build(False, native=True), "", model, tmp_path, "native")
