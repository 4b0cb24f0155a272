"""Canonicalisation: rewrite the idioms of imported graphs into the ops nnb optimises.

Runs before BatchNormalization folding and fusion (``nnb.passes.optimize``).
The rewrites repeat until none fires (one rewrite can expose another: folding a
reshaped weight lets the Affine rewrite see a constant).
"""

from __future__ import annotations

from nnb.ir import Graph
from nnb.passes.canon_affine import canon_affine
from nnb.passes.canon_clip import canon_clip
from nnb.passes.canon_common import Rewrite
from nnb.passes.canon_const import fold_constants
from nnb.passes.canon_flatten import absorb_flatten
from nnb.passes.canon_pad import merge_pad
from nnb.passes.canon_reshape import collapse_reshapes
from nnb.passes.canon_scale import fold_scale
from nnb.passes.canon_softmax import canon_softmax

REWRITES: tuple[tuple[str, Rewrite], ...] = (
    ("constant folding", fold_constants),
    ("reshape chains", collapse_reshapes),
    ("clip -> ReLU6/ReLU/HardTanh", canon_clip),
    ("softmax pattern -> Softmax", canon_softmax),
    ("matmul + bias -> Affine", canon_affine),
    ("flatten absorbed by Affine", absorb_flatten),
    ("scale/shift folded into weights", fold_scale),
    ("pad merged into conv/pool", merge_pad),
)
MAX_ROUNDS = 8


def canonicalize_report(g: Graph) -> tuple[Graph, dict[str, int]]:
    """The canonical graph and how often each rewrite fired (only those that did)."""
    fired: dict[str, int] = {}
    for _ in range(MAX_ROUNDS):
        changed = False
        for name, rewrite in REWRITES:
            g, n = rewrite(g)
            if n:
                fired[name] = fired.get(name, 0) + n
                changed = True
        if not changed:
            break
    return g, fired


def canonicalize(g: Graph) -> Graph:
    return canonicalize_report(g)[0]


def fired_rewrites(g: Graph) -> list[str]:
    """Lines naming the rewrites that change ``g``, e.g. ``clip -> ReLU6/ReLU/HardTanh: 7``."""
    return [f"{name}: {n}" for name, n in canonicalize_report(g)[1].items()]
