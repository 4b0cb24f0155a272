"""Clip patterns -> ReLU6 / ReLU / HardTanh, the activations fusion absorbs.

nnabla's ONNX importer writes ``Clip(0, 6)`` as MinimumScalar(6) followed by
MaximumScalar(0); the other order is the same function when lo <= hi.  A lone
MaximumScalar(0) is ReLU.  Other ranges are left as they are.
"""

from __future__ import annotations

from nnb.ir import Graph, Node
from nnb.passes.canon_common import next_op, replace_nodes
from nnb.passes.util import clone, drop_unused

_NAMED = {(0.0, 6.0): "ReLU6", (-1.0, 1.0): "HardTanh"}


def _act(name: str, x: str, y: str, op: str) -> Node:
    return Node(name, op, [x], [y], {"inplace": False} if op == "ReLU" else {})


def canon_clip(g: Graph) -> tuple[Graph, int]:
    g = clone(g)
    count = 0
    for first in [n for n in g.nodes if n.op in ("MinimumScalar", "MaximumScalar")]:
        if first not in g.nodes:
            continue
        other = "MaximumScalar" if first.op == "MinimumScalar" else "MinimumScalar"
        second = next_op(g, first.outputs[0], (other,))
        if second is not None:
            lo, hi = ((second.attrs["val"], first.attrs["val"]) if first.op == "MinimumScalar"
                      else (first.attrs["val"], second.attrs["val"]))
            op = _NAMED.get((float(lo), float(hi)))
            if op is not None:
                replace_nodes(g, [first, second], _act(first.name, first.inputs[0], second.outputs[0], op))
                count += 1
                continue
        if first.op == "MaximumScalar" and float(first.attrs["val"]) == 0.0:
            replace_nodes(g, [first], _act(first.name, first.inputs[0], first.outputs[0], "ReLU"))
            count += 1
    drop_unused(g)
    return g, count
