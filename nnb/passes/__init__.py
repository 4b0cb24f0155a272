"""Graph rewrites, one per module.  Each takes a Graph and returns a new one."""

from __future__ import annotations

from nnb.ir import Graph
from nnb.passes.canon import canonicalize, fired_rewrites
from nnb.passes.fold_bn import fold_batch_norm
from nnb.passes.fuse_conv import fuse_convolutions
from nnb.passes.pool_act import pool_before_activation
from nnb.validate import validate_graph


def optimize(g: Graph, fuse: bool = True, canonical: bool = True) -> Graph:
    """The rewrites the extended NNB/C backends use: canonicalise imported idioms, fold BN, fuse conv blocks."""
    if canonical:
        g = canonicalize(g)
    g = fold_batch_norm(g)
    if fuse:
        g = fuse_convolutions(pool_before_activation(g))
    validate_graph(g)  # a rewrite's result meets every rule a file's graph does (nnb/validate.py)
    return g


__all__ = ["canonicalize", "fired_rewrites", "fold_batch_norm", "fuse_convolutions", "optimize"]
