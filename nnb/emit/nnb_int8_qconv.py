"""Record 1014 ``Q8QConv``: the first convolution of an int8 model reading the float network input.

The plain form quantizes the whole float input into an int8 tensor
(``Q8Quantize``), which stays live in the arena while the first convolution
writes its output: on Fashion-MNIST lenet that copy alone takes the int8
arena from 2,816 to 3,088 bytes.  ``Q8QConv`` takes the float input and
quantizes one sample at a time into its own scratch (the same 255 float32
thresholds as ``Q8Quantize``), then runs ``Q8Conv`` on it, so the int8 input
never exists in the arena and every integer tensor is the one
``Q8Quantize`` + ``Q8Conv`` compute (nnb/quantize/int_sim.py's input
quantization and convolution step, unchanged).

Inputs: ``x`` (the float network input), ``thresholds`` (255 float32, as
Q8Quantize's), ``grid`` (a one-value int8 parameter whose descriptor holds the
input's float64 scale and zero point; its value is unused), then Q8Conv's
``w, bias, mult, shift``.  Arguments: Q8Conv's (no residual).  The writer
forms it when the network input's only reader is a plain int8 convolution
(LUT-Q first layers keep Q8Quantize + Q8LutConv); the reader maps it back to
the convolution step on the input's grid.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

from nnb.emit.nnb_int8_layout import TYPE_Q8, quantize_thresholds
from nnb.emit.nnb_layout import TYPE_FLOAT
from nnb.errors import NnbError
from nnb.quantize.int8 import Int8Model, IntNode

if TYPE_CHECKING:
    from nnb.emit.nnb_int8 import _Builder

QCONV = "Q8QConv"
CONV_OPS = ("FusedConv", "Convolution", "DepthwiseConvolution")


def fused_inputs(m: Int8Model, keep: tuple[str, ...] = ()) -> dict[int, str]:
    """{step index: network input} of the convolutions that take their input's quantization in: the input's
    only reader is a plain int8 convolution (not LUT-Q, no residual, no average pool) reading it as data, and
    the int8 input is not asked for (``keep``: tensors the records also return)."""
    g = m.graph
    out: dict[int, str] = {}
    for x in g.inputs:
        if x in g.outputs or x in m.float_tensors or x in keep:
            continue
        readers = [k for k, st in enumerate(m.steps) if x in st.node.inputs]
        if len(readers) != 1:
            continue
        st = m.steps[readers[0]]
        node = st.node
        if st.kind != "int" or node.op not in CONV_OPS or "lut_codes" in st.arrays or node.inputs.count(x) != 1 \
                or node.inputs[0] != x or node.attrs.get("channel_last"):
            continue
        if node.op == "FusedConv" and (node.attrs["residual"] or node.attrs["pool"] not in ("", "max")):
            continue
        out[readers[0]] = x
    return out


def emit_qconv(b: _Builder, st: IntNode, x: str) -> None:
    """The Q8QConv record of step ``st`` reading network input ``x`` (already a float variable)."""
    from nnb.emit.nnb_int8 import Fn, Var

    q = b.m.qparams[x]
    grid = b.add_var(Var(b.qname(x), (1,), "q8", np.zeros(1, np.int8), np.array([q.scale], np.float64), q.zero, -1))
    thr = b.add_var(Var(f"{grid}/thresholds", (255,), "f32", quantize_thresholds(q.scale, q.zero)))
    ins, attrs = b.conv_record(st, [grid])
    b.fns.append(Fn(QCONV, [x, thr] + ins, [b.q8_var(st.output)], attrs))


def conv_inputs(ins: list[Any], net_inputs: list[Any], a: dict, where: str) -> list[Any]:
    """The reader's Q8Conv inputs of a Q8QConv record ``ins`` (nnb_int8_read._Var): the float network input seen
    as an int8 activation on the grid's scale and zero point, then w, bias, mult, shift.  Every field checked."""
    if len(ins) != 7:
        raise NnbError(f"{where}: {len(ins)} inputs (x, thresholds, grid, w, bias, mult, shift expected)")
    if a.get("residual"):
        raise NnbError(f"{where}: a residual has no place in a convolution of the network input")
    x, thr, grid = ins[:3]
    if x.typ != TYPE_FLOAT or x.didx >= 0 or all(x is not v for v in net_inputs):
        raise NnbError(f"{where}: input '{x.name}' is not a float network input")
    if grid.typ != TYPE_Q8 or grid.data is None or grid.size != 1 or grid.scales is None or grid.scales.size != 1:
        raise NnbError(f"{where}: '{grid.name}' is not a one-value int8 parameter holding the input's grid")
    scale = float(grid.scales[0])
    want = quantize_thresholds(scale, grid.zero)
    if thr.typ != TYPE_FLOAT or thr.data is None or thr.size != 255 \
            or not np.array_equal(np.asarray(thr.data, np.float32).view(np.uint32), want.view(np.uint32)):
        raise NnbError(f"{where}: '{thr.name}' is not the table of scale {scale!r}, zero point {grid.zero}")
    xq = copy.copy(x)  # the reader's variable type, without importing the reader (it imports this module)
    xq.typ, xq.didx, xq.data = TYPE_Q8, -1, None
    xq.scales, xq.zero = grid.scales, grid.zero
    return [xq] + list(ins[3:])
