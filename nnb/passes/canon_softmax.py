"""Max -> Sub2 -> Exp -> Sum -> Div2 over one axis -> Softmax.

nnabla's ONNX importer spells Softmax out as
``e = exp(x - max(x, axis, keepdims)); y = e / sum(e, axis, keepdims)``.
Every intermediate must be read only inside the pattern.
"""

from __future__ import annotations

from nnb.ir import Graph, Node
from nnb.passes.canon_common import next_op, replace_nodes
from nnb.passes.util import clone, drop_unused


def _one_axis(n: Node, ndim: int) -> int | None:
    axes = n.attrs.get("axes") or ()
    return axes[0] % ndim if len(axes) == 1 and n.attrs.get("keep_dims") else None


def canon_softmax(g: Graph) -> tuple[Graph, int]:
    g = clone(g)
    count = 0
    for mx in [n for n in g.nodes if n.op == "Max"]:
        x = mx.inputs[0]
        ndim = len(g.tensors[x].shape)
        axis = _one_axis(mx, ndim)
        sub = next_op(g, mx.outputs[0], ("Sub2",))
        if axis is None or mx.attrs.get("with_index") or mx.attrs.get("only_index") or sub is None \
                or sub.inputs != [x, mx.outputs[0]]:
            continue
        exp = next_op(g, sub.outputs[0], ("Exp",))
        if exp is None or exp.outputs[0] in g.outputs:
            continue
        e = exp.outputs[0]
        readers = [n for n in g.nodes if e in n.inputs]
        sm = next((n for n in readers if n.op == "Sum"), None)
        div = next((n for n in readers if n.op == "Div2"), None)
        if len(readers) != 2 or sm is None or div is None or _one_axis(sm, ndim) != axis \
                or div.inputs != [e, sm.outputs[0]] or next_op(g, sm.outputs[0], ("Div2",)) is not div:
            continue
        if g.tensors[div.outputs[0]].shape != g.tensors[x].shape:
            continue
        replace_nodes(g, [mx, sub, exp, sm, div], Node(mx.name, "Softmax", [x], [div.outputs[0]], {"axis": axis}))
        count += 1
    drop_unused(g)
    return g, count
