"""What the ONNX reader canonicalised, counted (nnb.onnx.load_onnx_report; `nnb inspect X.onnx` shows it): the
converters' rewrites and constant nodes computed while reading, then the passes' (nnb.passes.canon), each
count checked against the ONNX file's own nodes."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest
from conftest import SHARED

from nnb.onnx import load_onnx_report
from nnb.onnx.ops_math import CLIP_REWRITE
from nnb.onnx.reader import READER_FOLDS
from nnb.passes.canon import REWRITES, canonicalize_report

onnx = pytest.importorskip("onnx", reason="the onnx package is not installed (pip install onnx)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

IMPORTED = sorted(glob.glob(os.path.join(SHARED, "fixtures", "imported", "*.onnx")))
NAMES = {name for name, _ in REWRITES} | {READER_FOLDS}


def _named_clips(model) -> int:  # noqa: ANN001 - onnx.ModelProto
    """Clip nodes whose bounds (constant inputs, opset >= 11) name an activation: (0, 6), (0, inf), (-1, 1)."""
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    n_named = 0
    for n in model.graph.node:
        if n.op_type != "Clip":
            continue
        lo = float(consts[n.input[1]]) if len(n.input) > 1 and n.input[1] else -np.inf
        hi = float(consts[n.input[2]]) if len(n.input) > 2 and n.input[2] else np.inf
        n_named += (lo, hi) in ((0.0, 6.0), (0.0, np.inf), (-1.0, 1.0))
    return n_named


@pytest.mark.parametrize("path", IMPORTED, ids=[os.path.basename(p) for p in IMPORTED])
def test_imported_report_counts(path: str) -> None:
    """nnabla's ONNX exports: every named Clip counted once, every Flatten absorbed by its Affine counted, nothing
    left for the passes to fire on the result, and only rewrites the passes or the reader name."""
    model = onnx.load(path)
    g, fired = load_onnx_report(path)
    assert set(fired) <= NAMES and all(n > 0 for n in fired.values()), fired
    assert fired.get(CLIP_REWRITE, 0) == _named_clips(model), fired
    flatten = sum(n.op_type == "Flatten" for n in model.graph.node)
    assert fired.get("flatten absorbed by Affine", 0) == flatten, fired
    assert not any(n.op == "Reshape" for n in g.nodes) or not flatten
    assert canonicalize_report(g)[1] == {}


def test_report_counts_by_construction(tmp_path) -> None:  # noqa: ANN001
    """A graph written here: two constant nodes (Add of two initializers, its Neg), three named Clips and
    Clip(0, 0.5) (the converter's max(x, 0), which the clip pass then makes a ReLU: a fourth), Flatten -> Gemm,
    a Softmax spelt out in five nodes."""
    c = {"a": np.ones((1, 8), np.float32), "b": np.full((1, 8), 2.0, np.float32),
         "z": np.array(0.0, np.float32), "six": np.array(6.0, np.float32), "m1": np.array(-1.0, np.float32),
         "one": np.array(1.0, np.float32), "half": np.array(0.5, np.float32),
         "w": np.ones((8, 48), np.float32) / 48, "ax": np.array([1], np.int64)}
    nodes = [helper.make_node("Add", ["a", "b"], ["ab"]), helper.make_node("Neg", ["ab"], ["nab"]),
             helper.make_node("Clip", ["x", "z", "six"], ["r6"]), helper.make_node("Clip", ["r6", "z", ""], ["r"]),
             helper.make_node("Clip", ["r", "m1", "one"], ["ht"]), helper.make_node("Clip", ["ht", "z", "half"], ["h"]),
             helper.make_node("Flatten", ["h"], ["f"], axis=1), helper.make_node("Gemm", ["f", "w", "nab"], ["g"],
                                                                                 transB=1),
             helper.make_node("ReduceMax", ["g"], ["mx"], axes=[1], keepdims=1),
             helper.make_node("Sub", ["g", "mx"], ["s"]), helper.make_node("Exp", ["s"], ["e"]),
             helper.make_node("ReduceSum", ["e", "ax"], ["se"], keepdims=1),
             helper.make_node("Div", ["e", "se"], ["y"])]
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in c.items()])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    g, fired = load_onnx_report(str(path))
    assert fired == {READER_FOLDS: 2, CLIP_REWRITE: 4, "flatten absorbed by Affine": 1,
                     "softmax pattern -> Softmax": 1}, fired
    assert [n.op for n in g.nodes] == ["ReLU6", "ReLU", "HardTanh", "ReLU", "MinimumScalar", "Affine", "Softmax"]
