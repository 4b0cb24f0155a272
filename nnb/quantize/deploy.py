"""A quantized model (.nnq) as a graph of packed-weight ops: what an extended NNB file stores.

``packed_graph`` replaces every quantized weight of an Affine / Convolution /
DepthwiseConvolution / FusedConv with its bit-packed codes (uint32 words) and
its table (LUT-Q dictionary or DQ step), turning the function into its packed
op (``nnb/ops/packed.py``).  Quantized weights of other functions
(Deconvolution) stay float.  ``packed_sizes`` gives the storage per layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph, Node, Tensor
from nnb.ops import get_op
from nnb.ops.packed import PACKED_OF, pack_layer, packed_bytes
from nnb.quantize.qmodel import QLayer, QuantizedModel


@dataclass
class PackedSize:
    name: str
    kind: str
    bits: int
    weights: int
    code_bytes: int  # word-padded bitstream
    table_bytes: int  # dictionary (K floats) or step (one float)


def packed_size(name: str, q: QLayer) -> PackedSize:
    n = int(np.prod(q.shape))
    return PackedSize(name, q.kind, q.bits, n, packed_bytes(n, q.bits), 4 * int(np.asarray(q.values).size))


def packed_graph(g: Graph, layers: dict[str, QLayer]) -> tuple[Graph, dict[str, PackedSize]]:
    """``g`` (a clone is made) with the quantized weights it uses packed; returns the sizes of those packed."""
    from nnb.passes.util import clone

    g = clone(g)
    done: dict[str, PackedSize] = {}
    users: dict[str, str] = {}
    for k, node in enumerate(g.nodes):
        if node.op not in PACKED_OF or len(node.inputs) < 2 or node.inputs[1] not in layers:
            continue
        w = node.inputs[1]
        q = layers[w]
        t = g.tensors[w]
        if w in users and users[w] != node.op:
            raise NnbError(f"quantized weight '{w}' is shared by {users[w]} and {node.op}")
        if tuple(q.shape) != tuple(t.shape) and w not in done:
            raise NnbError(f"quantized weight '{w}' has shape {tuple(q.shape)}, the network {tuple(t.shape)}")
        if w not in done:
            if t.data is not None and not np.array_equal(t.data, q.dequantize()):
                raise NnbError(f"weight '{w}' no longer equals its quantized values (folded into another layer?)")
            words, table = pack_layer(q.kind, q.bits, q.values, q.codes, node.op)
            g.tensors[w] = Tensor(w, words.shape, dtype="uint32", kind="param", data=words, need_grad=False)
            tname = f"{w}/table"
            g.tensors[tname] = Tensor(tname, table.shape, kind="param", data=table, need_grad=False)
            done[w] = packed_size(w, q)
            users[w] = node.op
        op = PACKED_OF[node.op]
        attrs = dict(node.attrs, q_kind=q.kind, q_bits=q.bits, w_shape=tuple(q.shape))
        g.nodes[k] = Node(node.name, op, [node.inputs[0], w, f"{w}/table"] + node.inputs[2:], node.outputs,
                          get_op(op).normalize(attrs))
    return g, done


def load_packed(path: str) -> tuple[Graph, QuantizedModel]:
    """Read a .nnq file and pack it (no BN folding or fusion: the graph as trained)."""
    from nnb.quantize.qmodel import load_quantized

    m = load_quantized(path)
    return packed_graph(m.graph, m.layers)[0], m
