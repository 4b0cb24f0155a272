"""fixed8 ``mse``: a clipping fp_pos is kept only where it lowers the network output's error (fixed_mse.py)."""

from __future__ import annotations

import numpy as np

from nnb.executor import run
from nnb.ir import Graph, Node, Tensor
from nnb.ops import get_op
from nnb.quantize import fixed
from nnb.quantize.calib import collect
from nnb.quantize.fixed_mse import scores_name


def spiky_net() -> tuple[Graph, np.ndarray]:
    """x (N, 256) -> Affine -> Softmax; feature 0 is 0 except on 3 samples (3.5), and it alone drives class 0.
    Its few large values weigh little in x's own squared error (so the tensor-level choice clips them at
    1.98), but they are class 0's whole evidence."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (1000, 256)).astype(np.float32)
    x[:, 0] = 0.0
    x[[10, 100, 200], 0] = 3.5
    w = np.zeros((256, 2), np.float32)
    w[0, 0], w[1:, 1] = 10.0, 0.01
    tensors = {"x": Tensor("x", (1, 256), kind="input"), "w": Tensor("w", (256, 2), kind="param", data=w),
               "s": Tensor("s", (1, 2)), "y": Tensor("y", (1, 2))}
    nodes = [Node("fc", "Affine", ["x", "w"], ["s"], get_op("Affine").normalize({})),
             Node("sm", "Softmax", ["s"], ["y"], get_op("Softmax").normalize({"axis": 1}))]
    return Graph("spiky", tensors, nodes, ["x"], ["y"]), x


def test_mse_keeps_the_range_the_output_needs() -> None:
    g, x = spiky_net()
    assert scores_name(g) == "s"
    stats = collect(g, x)
    st = stats["x"]
    safe = fixed.choose_fp_pos(st.sample, 8, "minmax", peak=st.hi)
    assert safe == 5 and fixed.choose_fp_pos(st.sample, 8, "mse") == 6  # the tensor alone prefers clipping
    m = fixed.build_fixed(g, stats, "fixed8", "mse")
    assert m.fp_pos["x"] == safe  # the output's error does not
    for i in (10, 100, 200):  # the network has a fixed batch of 1 (refine runs it at that batch)
        assert run(g, [x[i:i + 1]], keep=["s"])["s"].argmax() == 0
        assert fixed.run_fixed(m, [x[i:i + 1]], keep=["s"])["s"].argmax() == 0
    # where clipping does not hurt the output (no weight on feature 0), the finer grid stays
    g.tensors["w"].data[0, 0] = 0.0
    assert fixed.build_fixed(g, collect(g, x), "fixed8", "mse").fp_pos["x"] == 6


def test_int8_only_methods_take_percentile() -> None:
    """``top`` and ``adaround`` refine int8 models; for fixed point they mean percentile's fp_pos."""
    g, x = spiky_net()
    stats = collect(g, x[:200])
    want = fixed.build_fixed(g, stats, "fixed8", "percentile").fp_pos
    assert want["x"] != fixed.build_fixed(g, stats, "fixed8", "minmax").fp_pos["x"]
    for calib in ("top", "adaround"):
        assert fixed.build_fixed(g, stats, "fixed8", calib).fp_pos == want
