"""ONNX Resize / Upsample (nearest) -> IR Unpooling (whole-number upscaling) or Slice (whole-number downscaling).

The index each output element reads is computed with ONNX's coordinate
transformation and rounding rules; the import succeeds only when that mapping
is a repetition (``Unpooling``) or a stride (``Slice``) along every axis.
"""

from __future__ import annotations

import math

from nnb.onnx.context import Ctx, ONode
from nnb.onnx.ops_shape import slice_axis


def _source_index(o: int, n_in: int, n_out: int, scale: float, ctm: str, rounding: str) -> int:
    if ctm == "asymmetric":
        x = o / scale
    elif ctm == "align_corners":
        x = o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    elif ctm == "tf_half_pixel_for_nn":
        x = (o + 0.5) / scale
    elif ctm == "pytorch_half_pixel":
        x = (o + 0.5) / scale - 0.5 if n_out > 1 else 0.0
    else:  # half_pixel
        x = (o + 0.5) / scale - 0.5
    if rounding == "round_prefer_ceil":
        i = math.floor(x + 0.5)
    elif rounding == "floor":
        i = math.floor(x)
    elif rounding == "ceil":
        i = math.ceil(x)
    elif rounding == "simple":  # Upsample and opset-10 Resize
        i = math.ceil(x) if scale < 1 else math.floor(x)
    else:  # round_prefer_floor
        i = math.ceil(x - 0.5)
    return min(max(i, 0), n_in - 1)


def _scales_and_sizes(ctx: Ctx, node: ONode, shape: tuple[int, ...]) -> tuple[list[float], list[int]]:
    if node.op == "Upsample":
        sc = node.attr("scales") if ctx.opset < 9 else ctx.need_const(node.input(1), "scales").tolist()
    elif ctx.opset < 11:
        sc = ctx.need_const(node.input(1), "scales").tolist()
    else:
        sc = ctx.const(node.input(2)).tolist() if node.input(2) and ctx.const(node.input(2)) is not None else []
        if node.input(2) and ctx.const(node.input(2)) is None:
            raise ctx.error("scales must be a constant")
        if not sc:
            sizes = [int(v) for v in ctx.need_const(node.input(3), "sizes")]
            return [o / i for o, i in zip(sizes, shape)], sizes
    sc = [float(v) for v in sc]
    return sc, [int(math.floor(n * s)) for n, s in zip(shape, sc)]


def _resize(ctx: Ctx, node: ONode) -> None:
    x = node.input(0)
    shape = ctx.shape(x)
    mode = node.attr("mode", "nearest")
    if mode != "nearest":
        raise ctx.error(f"mode '{mode}' is not supported (nearest only)")
    scales, sizes = _scales_and_sizes(ctx, node, shape)
    if node.op == "Upsample" or ctx.opset < 11:
        ctm, rounding = "asymmetric", "simple"
    else:
        ctm = node.attr("coordinate_transformation_mode", "half_pixel")
        rounding = node.attr("nearest_mode", "round_prefer_floor")
    up: list[int] = []
    y = x
    for ax, (n, o, s) in enumerate(zip(shape, sizes, scales)):
        idx = [_source_index(j, n, o, s, ctm, rounding) for j in range(o)]
        if idx == list(range(n)):
            up.append(1)
        elif o % n == 0 and idx == [j // (o // n) for j in range(o)]:
            up.append(o // n)
        elif len(idx) > 1 and idx[1] - idx[0] > 0 and idx == list(range(idx[0], idx[0] + o * (idx[1] - idx[0]),
                                                                            idx[1] - idx[0])):
            y = slice_axis(ctx, y, ax, idx[0], idx[-1] + 1, idx[1] - idx[0])
            up.append(1)
        else:
            raise ctx.error(f"nearest resize of axis {ax} from {n} to {o} ({ctm}, {rounding}) is neither a "
                            "whole-number repetition nor a stride")
    lead = next((i for i, u in enumerate(up) if u != 1), len(up))
    if lead == len(up):
        ctx.emit("Identity", [y], node.outputs[0])
    else:
        ctx.emit("Unpooling", [y], node.outputs[0], kernel=tuple(up[lead:]))


CONVERTERS = {"Resize": _resize, "Upsample": _resize}
