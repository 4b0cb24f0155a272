"""The numpy reference executor against nnabla's own outputs for every zoo model."""

from __future__ import annotations

import os

import pytest
from conftest import ZOO, assert_close_to_nnabla, manifest, zoo_inputs, zoo_names, zoo_outputs

from nnb.executor import run
from nnb.nnp.reader import load

CASES = [(n, suf) for n in zoo_names() for suf in (".nnp", ".pb.nnp")]


@pytest.mark.parametrize("name,suffix", CASES, ids=[n + s for n, s in CASES])
def test_matches_nnabla(name: str, suffix: str) -> None:
    path = os.path.join(ZOO, name + suffix)
    if suffix == ".pb.nnp" and not os.path.exists(path):
        pytest.skip(f"{path} not provided (the converter refused it)")
    g = load(path)
    m = manifest()[name]
    # names and order come from the file; the manifest only cross-checks them
    assert g.inputs == [k for k, _ in m["inputs"]]
    assert len(g.outputs) == len(m["outputs"])
    outs = run(g, zoo_inputs(name))
    for k, ref in enumerate(zoo_outputs(name)):
        assert_close_to_nnabla(outs[g.outputs[k]], ref, f"{name}{suffix} output {g.outputs[k]}")


@pytest.mark.parametrize("name", zoo_names())
def test_shape_inference_agrees_with_execution(name: str) -> None:
    g = load(os.path.join(ZOO, name + ".nnp"))
    ins = zoo_inputs(name)
    shapes = g.infer_shapes({k: x.shape for k, x in zip(g.inputs, ins)})
    every = [n for node in g.nodes for n in node.outputs]
    outs = run(g, ins, keep=every)
    for k in every:
        assert tuple(outs[k].shape) == shapes[k], k


def test_input_shape_comes_from_the_data() -> None:
    """A batch of 3 through a -1 batch network equals three single runs."""
    import numpy as np

    g = load(os.path.join(ZOO, "lenet.nnp"))
    x = zoo_inputs("lenet")[0]
    rng = np.random.default_rng(0)
    xs = np.concatenate([x, rng.standard_normal(x.shape, dtype=np.float32), x * 0.5])
    y = run(g, [xs])[g.outputs[0]]
    assert y.shape[0] == 3
    for i in range(3):
        single = run(g, [xs[i:i + 1]])[g.outputs[0]]
        np.testing.assert_allclose(y[i:i + 1], single, rtol=1e-5, atol=1e-6)
