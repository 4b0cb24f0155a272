"""Reshape -> BatchMatmul(constant W) -> Reshape [-> Add2(constant b)] -> Affine.

nnabla's ONNX importer turns Gemm and MatMul into a batched matrix product of
rank-3 views: x (P, K) -> (1, P, K) @ W (1, K, M) -> (1, P, M) -> (P, M), and
the bias into a broadcast Add2.  That is ``Affine(x, W, b)`` with the base axis
that splits x into P rows of K features, provided Affine's output has the shape
the last Reshape (or Add2) gives.  Run after constant folding, so W and b are
parameters.
"""

from __future__ import annotations

import numpy as np

from nnb.ir import Graph, Node
from nnb.ops.registry import prod
from nnb.passes.canon_common import add_param, const, next_op, producer_of, replace_nodes
from nnb.passes.util import clone, drop_unused, sole_consumer


def _base_axis(x: tuple[int, ...], p: int, k: int, out: tuple[int, ...], m: int) -> int | None:
    for ba in range(1, len(x) + 1):
        if prod(x[:ba]) == p and prod(x[ba:]) == k and tuple(x[:ba]) + (m,) == tuple(out):
            return ba
    return None


def _bias(g: Graph, add: Node | None, y: str, m: int) -> np.ndarray | None:
    if add is None:
        return None
    other = add.inputs[1] if add.inputs[0] == y else add.inputs[0]
    b = const(g, other)
    if b is None or b.size != m or (b.ndim and b.shape[-1] != m) or b.ndim > len(g.tensors[y].shape):
        return None
    if g.tensors[add.outputs[0]].shape != g.tensors[y].shape:
        return None
    return b.reshape(m)


def canon_affine(g: Graph) -> tuple[Graph, int]:
    g = clone(g)
    count = 0
    for bmm in [n for n in g.nodes if n.op == "BatchMatmul" and not n.attrs["transpose_a"]]:
        w = const(g, bmm.inputs[1])
        r1 = producer_of(g, bmm.inputs[0])
        r2 = next_op(g, bmm.outputs[0], ("Reshape",))
        if w is None or r1 is None or r1.op != "Reshape" or r2 is None or w.ndim != 3 or w.shape[0] != 1 \
                or sole_consumer(g, r1.outputs[0]) is not bmm:
            continue
        a_shape = g.tensors[r1.outputs[0]].shape
        if len(a_shape) != 3 or a_shape[0] != 1:
            continue
        w2 = w[0].T if bmm.attrs["transpose_b"] else w[0]  # (K, M)
        x = r1.inputs[0]
        k, m = w2.shape
        y = r2.outputs[0]
        ba = _base_axis(g.tensors[x].shape, a_shape[1], k, g.tensors[y].shape, m)
        if ba is None:
            continue
        add = next_op(g, y, ("Add2",))
        b = _bias(g, add, y, m)
        old = [r1, bmm, r2] + ([add] if b is not None else [])
        ins = [x, add_param(g, f"{bmm.name}/W_affine", w2)]
        if b is not None:
            ins.append(add_param(g, f"{bmm.name}/b_affine", b))
        replace_nodes(g, old, Node(bmm.name, "Affine", ins, [old[-1].outputs[0]], {"base_axis": ba}))
        count += 1
    drop_unused(g)
    return g, count
