"""Shared by the canonicalisation tests: build small graphs, check a rewrite keeps the outputs."""

from __future__ import annotations

import numpy as np

from nnb import executor
from nnb.builder import GraphBuilder
from nnb.ir import Graph
from nnb.passes.canon_common import Rewrite

RNG = np.random.default_rng(12)


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def builder(name: str = "canon") -> GraphBuilder:
    return GraphBuilder(name)


def ops(g: Graph) -> list[str]:
    return [n.op for n in g.nodes]


def check(g: Graph, rewrite: Rewrite, inputs: list[np.ndarray], fired: int) -> Graph:
    """Apply ``rewrite``; it fired ``fired`` times, outputs and their names are unchanged (1e-6)."""
    g2, n = rewrite(g)
    assert n == fired
    g2.validate()
    assert g2.outputs == g.outputs
    a, b = executor.run(g, inputs), executor.run(g2, inputs)
    for k in a:
        assert a[k].shape == b[k].shape
        np.testing.assert_allclose(b[k], a[k], rtol=0, atol=1e-6 * max(1.0, float(np.abs(a[k]).max())))
    return g2
