"""Packed-weight ops: Affine / Convolution / DepthwiseConvolution / FusedConv whose weight stays bit-packed.

A quantized weight (LUT-Q dictionary + indices, or DQ step + signed codes) is
kept in the IR the way an extended NNB file stores it (docs/nnb_format.md,
"Quantized variable types"):

* input 1 ``codes``: uint32 words, the bitstream of the weight's codes, ``bits``
  each, LSB-first within little-endian words, **output-channel major** (the
  weight's C order; Affine weights transposed to [out, in] as NNB stores float
  Affine weights), so the codes of a block of output channels are contiguous;
* input 2 ``table``: float32, the LUT-Q dictionary (K values) or, for uniform
  codes, the step (one value); a code ``c`` (two's complement, ``bits`` wide)
  means ``c * step``;
* then the base op's other inputs (bias, FusedConv's residual).

The forward decodes one block of output channels at a time (at most
``BLOCK_WEIGHTS`` weights, whole convolution groups) and never expands the
whole layer; a block's output is exactly the base op on that block.
"""

from __future__ import annotations

import math

import numpy as np

from nnb.errors import NnbError
from nnb.ops.conv import CONV_ATTRS, DW_ATTRS, _conv_infer, _conv_macs, _dw_infer, convolution, depthwise_convolution
from nnb.ops.fused import FUSED_CONV_ATTRS, fused_conv, fused_macs
from nnb.ops.fused import _infer as _fused_infer
from nnb.ops.linear import _affine_infer
from nnb.ops.registry import Attr, Attrs, Shape, norm_axis, prod, register

F32 = np.float32
KINDS = ("lut", "uniform")
BLOCK_WEIGHTS = 4096  # decoded weights per block (16 KiB of float32), at least one output channel / group
Q_ATTRS = (Attr("q_kind", "str", "lut"), Attr("q_bits", "int", 2), Attr("w_shape", "ints", None))
PACKED_OF = {"Affine": "AffinePacked", "Convolution": "ConvolutionPacked",
             "DepthwiseConvolution": "DepthwiseConvolutionPacked", "FusedConv": "FusedConvPacked"}
BASE_OF = {v: k for k, v in PACKED_OF.items()}
BASE_ATTRS = {"Affine": (Attr("base_axis", "int", 1),), "Convolution": CONV_ATTRS, "DepthwiseConvolution": DW_ATTRS,
              "FusedConv": FUSED_CONV_ATTRS}


def packed_words(n: int, bits: int) -> int:
    """uint32 words holding ``n`` codes of ``bits`` bits."""
    return (n * bits + 31) // 32


def base_attrs(op: str, a: Attrs) -> Attrs:
    return {k.name: a[k.name] for k in BASE_ATTRS[BASE_OF[op]]}


def check_quant(kind: str, bits: int, table_len: int, where: str = "") -> None:
    if kind not in KINDS:
        raise NnbError(f"{where}quantization kind '{kind}' (expected lut or uniform)")
    lo = 1 if kind == "lut" else 2
    if not lo <= bits <= 8:
        raise NnbError(f"{where}{kind} codes of {bits} bits (expected {lo}..8)")
    if kind == "lut" and not 1 <= table_len <= (1 << bits):
        raise NnbError(f"{where}LUT of {table_len} entries for {bits}-bit codes")
    if kind == "uniform" and table_len != 1:
        raise NnbError(f"{where}uniform codes need one step, got {table_len} values")


# ---- bitstream ------------------------------------------------------------------------

def pack_words(codes: np.ndarray, bits: int) -> np.ndarray:
    """Codes (ints, negative ones two's complement) -> uint32 words, LSB-first, little-endian."""
    c = (np.asarray(codes).reshape(-1).astype(np.int64) & ((1 << bits) - 1)).astype(np.uint32)
    planes = ((c[:, None] >> np.arange(bits, dtype=np.uint32)) & 1).astype(np.uint8)
    raw = np.packbits(planes.reshape(-1), bitorder="little")
    raw = np.concatenate([raw, np.zeros((-len(raw)) % 4, np.uint8)])
    return raw.view("<u4").astype(np.uint32)


def decode(words: np.ndarray, bits: int, start: int, count: int, signed: bool) -> np.ndarray:
    """Codes ``start .. start+count-1`` of the stream (int64; sign-extended when ``signed``)."""
    if count <= 0:
        return np.zeros(0, np.int64)
    raw = np.ascontiguousarray(words, dtype="<u4").view(np.uint8)
    p = (start + np.arange(count, dtype=np.int64)) * bits
    byte = p >> 3
    first, last = int(byte[0]), int(byte[-1]) + 2
    seg = np.zeros(last - first, np.uint16)
    part = raw[first:min(last, len(raw))]
    seg[:len(part)] = part
    rel = byte - first
    v = ((seg[rel] | (seg[rel + 1] << 8)).astype(np.int64) >> (p & 7)) & ((1 << bits) - 1)
    if signed:
        v = np.where(v >= (1 << (bits - 1)), v - (1 << bits), v)
    return v


def decode_values(words: np.ndarray, table: np.ndarray, kind: str, bits: int, start: int, count: int) -> np.ndarray:
    """float32 weights for codes ``start .. start+count-1``."""
    c = decode(words, bits, start, count, kind == "uniform")
    if kind == "lut":
        if c.size and int(c.max()) >= len(table):
            raise NnbError(f"packed weight: code {int(c.max())} is outside its {len(table)}-entry table")
        return np.asarray(table, F32)[c]
    return (c.astype(np.float64) * np.float64(np.asarray(table, F32)[0])).astype(F32)


def pack_layer(kind: str, bits: int, values: np.ndarray, codes: np.ndarray,
               base_op: str) -> tuple[np.ndarray, np.ndarray]:
    """A quantized weight (codes in the IR weight's shape) -> (words, table) in the packed-op layout."""
    codes = np.asarray(codes)
    if base_op == "Affine":  # stored output-major like NNB's float Affine weights
        codes = codes.reshape(codes.shape[0], -1).T
    table = np.asarray(values, F32).reshape(-1)
    check_quant(kind, bits, len(table))
    return pack_words(codes, bits), table


# ---- blocks ----------------------------------------------------------------------------

def _blocks(n_out: int, per_out: int, unit: int) -> list[tuple[int, int]]:
    """Output-channel ranges of at most BLOCK_WEIGHTS weights, in multiples of ``unit`` channels."""
    step = max(unit, (BLOCK_WEIGHTS // max(per_out, 1)) // unit * unit)
    return [(s, min(s + step, n_out)) for s in range(0, n_out, step)]


def _check(xs: list[np.ndarray], a: Attrs) -> tuple[np.ndarray, np.ndarray, Shape]:
    w_shape = tuple(a["w_shape"] or ())
    words, table = xs[1], xs[2]
    check_quant(a["q_kind"], a["q_bits"], table.size, "packed weight: ")
    if words.size != packed_words(prod(w_shape), a["q_bits"]):
        raise NnbError(f"packed weight: {words.size} words for {prod(w_shape)} codes of {a['q_bits']} bits")
    return words, table.reshape(-1), w_shape


def _weights(xs: list[np.ndarray], a: Attrs, o0: int, o1: int, per_out: int) -> np.ndarray:
    words, table, _ = _check(xs, a)
    return decode_values(words, table, a["q_kind"], a["q_bits"], o0 * per_out, (o1 - o0) * per_out)


def _infer_with(base_infer, op: str):  # noqa: ANN001, ANN202
    def infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
        if len(shapes) < 3:
            raise NnbError(f"{op}: needs x, codes and table inputs")
        w_shape = tuple(a["w_shape"] or ())
        if not w_shape:
            raise NnbError(f"{op}: missing weight shape")
        check_quant(a["q_kind"], a["q_bits"], prod(shapes[2]), f"{op}: ")
        if prod(shapes[1]) != packed_words(prod(w_shape), a["q_bits"]):
            raise NnbError(f"{op}: {prod(shapes[1])} words cannot hold {prod(w_shape)} codes of {a['q_bits']} bits")
        return base_infer([shapes[0], w_shape] + list(shapes[3:]), base_attrs(op, a))

    return infer


def _macs_with(base_macs):  # noqa: ANN001, ANN202
    return lambda i, o, a: base_macs([i[0], tuple(a["w_shape"])] + list(i[3:]), o, a)


# ---- ops -------------------------------------------------------------------------------

@register("AffinePacked", attrs=BASE_ATTRS["Affine"] + Q_ATTRS, infer=_infer_with(_affine_infer, "AffinePacked"),
          num_inputs=(3, 4), macs=lambda i, o, a: prod(o[0]) * a["w_shape"][0])
def affine_packed(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Affine with a bit-packed weight, decoded a block of outputs at a time."""
    x = xs[0]
    w_shape = tuple(a["w_shape"])
    ba = norm_axis(a["base_axis"], x.ndim)
    batch = x.shape[:ba]
    x2 = x.reshape(prod(batch), -1)
    n_in, n_out = w_shape[0], prod(w_shape[1:])
    y = np.empty((x2.shape[0], n_out), F32)
    for o0, o1 in _blocks(n_out, n_in, 1):
        wb = _weights(xs, a, o0, o1, n_in).reshape(o1 - o0, n_in)
        y[:, o0:o1] = x2 @ wb.T
    if len(xs) > 3:
        y += xs[3].reshape(1, -1)
    return [y.reshape(batch + w_shape[1:])]


def _conv_blocks(a: Attrs, op: str) -> tuple[int, int, int]:
    """(output channels, weights per output channel, channels per block unit)."""
    w_shape = tuple(a["w_shape"])
    n_out, per_out = w_shape[0], prod(w_shape[1:])
    if op == "DepthwiseConvolution":
        return n_out, per_out, a["multiplier"]
    return n_out, per_out, (n_out // a["group"] if a["group"] > 1 else 1)


def _conv_like(xs: list[np.ndarray], a: Attrs, op: str) -> np.ndarray:
    x = xs[0]
    ba = norm_axis(a["base_axis"], x.ndim)
    channel_last = bool(a.get("channel_last"))
    xaxis = x.ndim - 1 if channel_last else ba
    n_out, per_out, unit = _conv_blocks(a, op)
    w_shape = tuple(a["w_shape"])
    attrs = base_attrs(PACKED_OF[op], a)
    rest = xs[3:]
    if op == "FusedConv":
        has_bias, residual = a["has_bias"], a["residual"]
        bias = rest[0] if has_bias else None
        res = rest[-1] if residual else None
    else:
        bias, res = (rest[0] if rest else None), None
    groups = a.get("group", 1)
    n_in = x.shape[xaxis]
    parts = []
    for o0, o1 in _blocks(n_out, per_out, unit):
        wb = _weights(xs, a, o0, o1, per_out).reshape((o1 - o0,) + w_shape[1:])
        ba_attrs = dict(attrs)
        if op == "DepthwiseConvolution":
            m = a["multiplier"]
            xb = np.take(x, np.arange(o0 // m, o1 // m), axis=xaxis)
        elif groups > 1:
            cg = n_in // groups
            g0, g1 = o0 // unit, o1 // unit
            xb = np.take(x, np.arange(g0 * cg, g1 * cg), axis=xaxis)
            ba_attrs["group"] = g1 - g0
        else:
            xb = x
        ins = [xb, wb]
        if bias is not None:
            ins.append(bias.reshape(-1)[o0:o1])
        if op == "FusedConv":
            if res is not None:
                ins.append(np.take(res, np.arange(o0, o1), axis=ba))
            (yb,) = fused_conv(ins, ba_attrs)
        elif op == "DepthwiseConvolution":
            (yb,) = depthwise_convolution(ins, ba_attrs)
        else:
            (yb,) = convolution(ins, ba_attrs)
        parts.append(yb)
    yaxis = parts[0].ndim - 1 if channel_last else ba
    return np.ascontiguousarray(np.concatenate(parts, axis=yaxis) if len(parts) > 1 else parts[0], dtype=F32)


@register("ConvolutionPacked", attrs=CONV_ATTRS + Q_ATTRS, infer=_infer_with(_conv_infer, "ConvolutionPacked"),
          num_inputs=(3, 4), macs=_macs_with(_conv_macs))
def convolution_packed(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Convolution with a bit-packed weight, decoded a block of output channels (whole groups) at a time."""
    return [_conv_like(xs, a, "Convolution")]


@register("DepthwiseConvolutionPacked", attrs=DW_ATTRS + Q_ATTRS,
          infer=_infer_with(_dw_infer, "DepthwiseConvolutionPacked"), num_inputs=(3, 4),
          macs=lambda i, o, a: prod(o[0]) * prod(a["w_shape"][1:]))
def depthwise_convolution_packed(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """DepthwiseConvolution with a bit-packed weight, decoded a block of channels at a time."""
    return [_conv_like(xs, a, "DepthwiseConvolution")]


@register("FusedConvPacked", attrs=FUSED_CONV_ATTRS + Q_ATTRS, infer=_infer_with(_fused_infer, "FusedConvPacked"),
          num_inputs=(3, 5), macs=_macs_with(fused_macs),
          inplace=lambda a, n: [n - 1] if a["residual"] else [])
def fused_conv_packed(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """FusedConv with a bit-packed weight, decoded a block of output channels at a time."""
    return [_conv_like(xs, a, "FusedConv")]


# ---- graph helpers ------------------------------------------------------------------------

def logical_weights(node_op: str, attrs: Attrs) -> int:
    """Number of weights a packed op's codes stand for."""
    return prod(tuple(attrs["w_shape"]))


def packed_bytes(n: int, bits: int) -> int:
    return 4 * packed_words(n, bits)


def table_bits(kind: str, k: int) -> int:
    return 32 * (k if kind == "lut" else 1)


def code_bits(k: int) -> int:
    return max(1, math.ceil(math.log2(k)))
