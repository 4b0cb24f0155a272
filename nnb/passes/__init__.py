"""Graph rewrites, one per module.  Each takes a Graph and returns a new one."""

from __future__ import annotations

from nnb.ir import Graph
from nnb.passes.fold_bn import fold_batch_norm
from nnb.passes.fuse_conv import fuse_convolutions


def optimize(g: Graph, fuse: bool = True) -> Graph:
    """The rewrites the extended NNB/C backends use: fold BN, then fuse conv blocks."""
    g = fold_batch_norm(g)
    if fuse:
        g = fuse_convolutions(g)
    return g


__all__ = ["fold_batch_norm", "fuse_convolutions", "optimize"]
