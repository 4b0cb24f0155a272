"""Large convolutions with a fused max pooling (ResNet's stem: 7x7/2 conv 3->64, ReLU, 3x3/2 max pool) in the C
runtime against nnb's numpy reference (nnb/ops/fused.py), and the graph rewrite that makes the stem fusable.

The C side: conv_gemm_big.h's output-channel-vector form (AVX-512) computes the conv rows in pairs into a ring of
rows and pools each pooled row as soon as its window's rows are done, so the full-size convolution output is
never written; other instruction sets and shapes it does not take (odd conv heights) run the engine's other
forms. Layers are large enough for the form (>= 4 M multiply-adds): 3 or 5 input channels, 7x7 or 5x5 kernels,
stride 2 or 1, output channels 24, 40, 64 and 70 (not multiples of 32: a part channel block), pool windows
3x3/2 pad 1 (the stem), 2x2/2, 3x3/2 pad 0, 3x3/1 pad 1, 4x4/3 pad 1, even and odd pooled sizes, ReLU, ReLU6
or no activation, bias or not, batch 2. All in one extended NNB run by the default build at each dispatched
level, the plain-loop build and the ASan/UBSan build.
"""
import sys
from pathlib import Path

import numpy as np
import pytest
from layer_runs import ACTS, layers_image, over_builds, run_build

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

# (c, oc, h, w, k, s, p, pool kernel, pool stride, pool pad, act, bias, n)
CASES = [
    (3, 64, 64, 64, 7, 2, 3, 3, 2, 1, "relu", True, 1),   # the stem in small: conv 32x32, pooled 16x16
    (3, 40, 60, 52, 7, 2, 3, 3, 2, 1, "relu", False, 2),  # 30x26 conv, part channel block, batch 2
    (3, 70, 56, 44, 7, 2, 3, 2, 2, 0, "relu6", True, 1),  # 2x2/2, 70 channels (32 + 32 + 6)
    (5, 24, 40, 40, 5, 1, 2, 3, 2, 0, "", True, 1),       # stride-1 conv, no activation, pooled 19x19
    (3, 64, 60, 60, 7, 2, 3, 3, 1, 1, "relu", True, 1),   # 3x3/1 pooling: every conv row in 3 windows
    (3, 32, 64, 64, 7, 2, 3, 4, 3, 1, "relu", True, 1),   # 4x4/3 pad 1: pooled 11x11, a clipped last window
    (3, 48, 62, 62, 7, 2, 3, 3, 2, 1, "relu", True, 1),   # odd conv height (31): the other forms
]


def _layer(case: tuple, rng: np.random.Generator) -> tuple:
    from nnb.ops import get_op
    from nnb.ops.fused import fused_conv

    c, oc, h, w, k, s, p, pk, ps, pp, act, bias, n = case
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((oc, c, k, k)) * 0.2).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32) if bias else None
    a = get_op("FusedConv").normalize(dict(pad=[p, p], stride=[s, s], dilation=[1, 1], group=1, activation=act,
                                           residual=False, has_bias=bias, pool="max", pool_kernel=[pk, pk],
                                           pool_stride=[ps, ps], pool_pad=[pp, pp]))
    (y,) = fused_conv([x, wt] + ([b] if b is not None else []), a)
    args = [1, [p, p], [s, s], [1, 1], 1, False, 1, [pk, pk], [ps, ps], [pp, pp], True, False, ACTS[act], False,
            bias]
    desc = dict(c=c, oc=oc, h=h, w=w, k=k, s=s, p=p, pool=(pk, ps, pp), act=act, n=n, inplace=False,
                residual=False, alias_res=False)
    return desc, x, wt, b, None, y, args


@pytest.fixture(scope="module", name="model")
def _model() -> tuple:
    rng = np.random.default_rng(20261130)
    return layers_image([_layer(c, rng) for c in CASES])


@over_builds()
def test_conv_maxpool_fused(model, build, isa, tmp_path):
    run_build(build, isa, model, tmp_path)


def test_pool_before_activation_rewrite():
    """Conv -> ReLU -> MaxPooling becomes one FusedConv (pool max, activation relu) through nnb.passes.optimize,
    with the reference executor's outputs unchanged; ReLU -> MaxPooling without a convolution before it, or with
    the ReLU's output read twice, stays as it is."""
    from nnb.executor import run
    from nnb.ir import Graph, Node, Tensor
    from nnb.passes import optimize

    rng = np.random.default_rng(1)

    def graph(extra_reader: bool) -> Graph:
        t = {"x": Tensor("x", (1, 3, 20, 20), kind="input"),
             "w": Tensor("w", (8, 3, 3, 3), kind="param", data=rng.standard_normal((8, 3, 3, 3)).astype(np.float32)),
             "c": Tensor("c", (1, 8, 20, 20)), "r": Tensor("r", (1, 8, 20, 20)), "y": Tensor("y", (1, 8, 10, 10))}
        nodes = [Node("conv", "Convolution", ["x", "w"], ["c"],
                      dict(base_axis=1, pad=(1, 1), stride=(1, 1), dilation=(1, 1), group=1, channel_last=False)),
                 Node("relu", "ReLU", ["c"], ["r"], {}),
                 Node("pool", "MaxPooling", ["r"], ["y"],
                      dict(kernel=(3, 3), stride=(2, 2), ignore_border=True, pad=(1, 1), channel_last=False))]
        outs = ["y"]
        if extra_reader:
            t["r2"] = Tensor("r2", (1, 8, 20, 20))
            nodes.append(Node("id", "ReLU", ["r"], ["r2"], {}))
            outs.append("r2")
        return Graph("g", t, nodes, ["x"], outs)

    x = rng.standard_normal((1, 3, 20, 20)).astype(np.float32)
    g = graph(False)
    o = optimize(g)
    assert [(n.op, n.attrs.get("pool"), n.attrs.get("activation")) for n in o.nodes] == [("FusedConv", "max", "relu")]
    assert np.array_equal(run(g, {"x": x})["y"], run(o, {"x": x})["y"])
    g2 = graph(True)
    assert "MaxPooling" in [n.op for n in optimize(g2).nodes]
