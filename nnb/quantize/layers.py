"""Which parameters get quantized: the weights of Convolution, DepthwiseConvolution and Affine.

Biases and BatchNormalization parameters stay float, as in the LUT-Q and DQ
papers: they are a tiny share of the memory and sensitive to rounding.
"""

from __future__ import annotations

from nnb.errors import NnbError
from nnb.ir import Graph

WEIGHT_OPS = ("Convolution", "DepthwiseConvolution", "Affine", "Deconvolution")


def weight_params(graph: Graph) -> list[str]:
    """Names of the weight tensors (input 1 of the weight ops), in network order, each once."""
    names: list[str] = []
    for n in graph.nodes:
        if n.op in WEIGHT_OPS and len(n.inputs) > 1:
            w = n.inputs[1]
            t = graph.tensors.get(w)
            if t is not None and t.kind == "param" and w not in names:
                names.append(w)
    if not names:
        raise NnbError("the network has no Convolution/Affine weights to quantize")
    return names
