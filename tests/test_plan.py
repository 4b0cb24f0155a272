"""Memory planner: hand-computed offsets, in-place rules, fusion targets, and no overlap anywhere."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import ZOO, assert_close_to_nnabla, zoo_inputs, zoo_names, zoo_outputs

from nnb.builder import GraphBuilder
from nnb.executor import run
from nnb.nnp.reader import load
from nnb.passes import fold_batch_norm, optimize
from nnb.plan.arena import check_plan, plan_arena
from nnb.plan.lifetimes import lifetimes


def chain() -> GraphBuilder:
    b = GraphBuilder("t")
    x = b.input("x", (1, 8))  # 32 bytes, external
    w = b.param("w", np.ones((8, 16)))
    h = b.op("Affine", [x, w], name="fc1")  # 64 bytes
    r = b.op("ReLU", [h], name="relu")  # in place over h
    w2 = b.param("w2", np.ones((16, 4)))
    y = b.op("Affine", [r, w2], name="fc2")  # 16 bytes
    b.output(y)
    return b


def test_hand_computed_offsets() -> None:
    g = chain().build()
    p = plan_arena(g)
    check_plan(g, p)
    assert p.aliases == {"relu_out": "fc1_out"}
    assert p.offsets["fc1_out"] == p.offsets["relu_out"]
    assert p.arena_bytes == 64 + 16  # h/relu share 64 bytes, y (16) cannot overlap them at step 2
    assert {p.offsets["fc1_out"], p.offsets["fc2_out"]} == {0, 64}
    assert "x" not in p.offsets  # inputs are bound by the caller, never overwritten


def test_no_in_place_when_the_input_lives_on() -> None:
    b = GraphBuilder("t")
    x = b.input("x", (1, 4))
    h = b.op("Exp", [x], name="e")
    r = b.op("ReLU", [h], name="r")
    s = b.op("Add2", [r, h], name="s")  # h still needed after r
    b.output(s)
    g = b.build()
    p = plan_arena(g)
    check_plan(g, p)
    assert p.offsets["r_out"] != p.offsets["e_out"]
    assert p.aliases.get("s_out") in ("r_out", "e_out")  # both die at the Add2


def test_lifetimes_keep_inputs_and_outputs() -> None:
    g = chain().build()
    lts = {lt.name: lt for lt in lifetimes(g)}
    assert (lts["x"].start, lts["x"].end) == (-1, 2)
    assert lts["fc2_out"].end == 2


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_plans_never_overlap_and_stay_under_the_bound(name: str) -> None:
    g = load(os.path.join(ZOO, name + ".nnp"))
    bound = plan_arena(g).lower_bound
    g2 = optimize(g)
    p = plan_arena(g2)
    check_plan(g2, p)
    assert p.arena_bytes <= bound
    outs = run(g2, zoo_inputs(name))
    for k, ref in zip(g2.outputs, zoo_outputs(name)):
        assert_close_to_nnabla(outs[k], ref, f"{name} optimised {k}")


def test_targets_lenet_and_resnet8() -> None:
    lenet = plan_arena(optimize(load(os.path.join(ZOO, "lenet.nnp"))))
    resnet = plan_arena(optimize(load(os.path.join(ZOO, "resnet8.nnp"))))
    assert lenet.arena_bytes <= 14 * 1024
    assert resnet.arena_bytes <= 135 * 1024


def test_fold_bn_removes_every_inference_bn_of_resnet8() -> None:
    g = load(os.path.join(ZOO, "resnet8.nnp"))
    g2 = fold_batch_norm(g)
    assert not [n for n in g2.nodes if n.op == "BatchNormalization"]
    assert sum(n.op == "FusedConv" for n in optimize(g).nodes) >= 7


def test_depthwise_relu_fuses_as_grouped_conv() -> None:
    """dscnn: every DepthwiseConvolution (+ folded BN) + ReLU becomes one FusedConv with group = channels;
    outputs still match nnabla (test_zoo_plans_never_overlap_and_stay_under_the_bound)."""
    g = optimize(load(os.path.join(ZOO, "dscnn.nnp")))
    assert not [n for n in g.nodes if n.op in ("DepthwiseConvolution", "ReLU", "BatchNormalization")]
    grouped = [n for n in g.nodes if n.op == "FusedConv" and n.attrs["group"] > 1]
    assert len(grouped) == 4
    for n in grouped:
        assert n.attrs["activation"] == "relu"
        assert g.tensors[n.inputs[1]].shape == (64, 1, 3, 3)
