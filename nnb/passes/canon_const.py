"""Fold functions whose inputs are all parameters into a parameter.

nnabla's ONNX importer reshapes Gemm/MatMul weights and biases at run time
(``Reshape(c75) -> (1, 10, 24)``); computing those once at load time turns the
weights back into constants that the Affine and scale rewrites can read.
"""

from __future__ import annotations

import numpy as np

from nnb.ir import Graph
from nnb.ops import get_op
from nnb.passes.canon_common import const
from nnb.passes.util import clone, drop_unused


def fold_constants(g: Graph) -> tuple[Graph, int]:
    g = clone(g)
    count = 0
    for n in list(g.nodes):
        if not n.inputs or any(o in g.outputs for o in n.outputs):
            continue
        vals = [const(g, i) for i in n.inputs]
        if any(v is None for v in vals):
            continue
        outs = get_op(n.op).forward(vals, n.attrs)  # type: ignore[arg-type]
        for name, v in zip(n.outputs, outs):
            t = g.tensors[name]
            t.kind, t.data, t.need_grad = "param", np.ascontiguousarray(v, dtype=np.float32), False
            t.shape = tuple(t.data.shape)
        g.nodes.remove(n)
        count += 1
    drop_unused(g)
    return g, count
