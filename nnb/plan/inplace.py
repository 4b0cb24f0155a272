"""In-place depthwise convolution (MCUNet's TinyEngine): the output overwrites the input.

A depthwise FusedConv (one input channel per group, one output channel per
input channel, no pooling, no residual) computes each channel plane into a
scratch plane and then copies it over its own output plane.  Output plane c
starts no later than input plane c, because an output plane is no bigger
than an input plane; so every input plane a copy overwrites has been read
already, and the output may share the input's storage when the input dies at
this function (c_runtime/src/kernels/dw_inplace.c).  With it, an
inverted-residual block needs its input plus one expanded tensor at the
depthwise step instead of two expanded tensors.
"""

from __future__ import annotations

from nnb.ir import Graph, Node


def inplace_depthwise(g: Graph, node: Node) -> bool:
    """May ``node``'s output take over its first input's storage?"""
    if node.op != "FusedConv":
        return False
    a = node.attrs
    if a["pool"] or a["residual"] or a["channel_last"] or len(node.inputs) < 2:
        return False
    x, w, y = (g.tensors.get(n) for n in (node.inputs[0], node.inputs[1], node.outputs[0]))
    if x is None or w is None or y is None or w.data is None:
        return False
    ba = a["base_axis"]
    nsp = len(x.shape) - ba - 1
    c = x.shape[ba] if 0 <= ba < len(x.shape) else -1
    return (nsp in (1, 2) and len(w.shape) == nsp + 2 and w.shape[0] == c and w.shape[1] == 1
            and a["group"] == c and y.shape[ba] == c and y.size <= x.size)
