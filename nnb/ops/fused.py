"""nnb's fused ops: made by nnb/passes from nnabla functions, never read from an NNP.

``FusedConv``: act(pool(conv(x, W) + b) + residual).  Fusing lets the C runtime
produce the pooled output without ever storing the full-size convolution
output, and accumulate a residual branch straight into the skip tensor's
storage.  The reference composes the nnabla references, so a fused graph is
checked against the unfused one.
"""

from __future__ import annotations

import numpy as np

from nnb.errors import NnbError
from nnb.ops.conv import CONV_ATTRS, _conv_infer, _conv_macs, convolution
from nnb.ops.pooling import _pool_infer, average_pooling, max_pooling
from nnb.ops.registry import Attr, Attrs, Shape, register

F32 = np.float32
ACTIVATIONS = ("", "relu", "relu6")
POOLS = ("", "max", "average")

FUSED_CONV_ATTRS = CONV_ATTRS + (
    Attr("pool", "str", ""), Attr("pool_kernel", "ints", None, min=1), Attr("pool_stride", "ints", None, min=1),
    Attr("pool_pad", "ints", None, min=0), Attr("pool_ignore_border", "bool", True),
    Attr("pool_including_pad", "bool", True),
    Attr("activation", "str", ""), Attr("residual", "bool", False), Attr("has_bias", "bool", True),
)


def conv_attrs(a: Attrs) -> Attrs:
    return {k.name: a[k.name] for k in CONV_ATTRS}


def pool_attrs(a: Attrs) -> Attrs:
    return {"kernel": a["pool_kernel"], "stride": a["pool_stride"], "pad": a["pool_pad"],
            "ignore_border": a["pool_ignore_border"], "channel_last": a["channel_last"],
            "including_pad": a["pool_including_pad"]}


def _split(xs: list, a: Attrs) -> tuple:
    n = 2 + (1 if a["has_bias"] else 0)
    if len(xs) != n + (1 if a["residual"] else 0):
        raise NnbError(f"FusedConv: {len(xs)} inputs do not match has_bias={a['has_bias']} residual={a['residual']}")
    return xs[:n], (xs[n] if a["residual"] else None)


def _infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    if a["pool"] not in POOLS or a["activation"] not in ACTIVATIONS:
        raise NnbError(f"FusedConv: bad pool '{a['pool']}' or activation '{a['activation']}'")
    conv_in, res = _split(shapes, a)
    (s,) = _conv_infer(conv_in, conv_attrs(a))
    if a["pool"]:
        (s,) = _pool_infer([s], pool_attrs(a))
    if res is not None and tuple(res) != tuple(s):
        raise NnbError(f"FusedConv: residual {res} does not match output {s}")
    return [s]


def fused_macs(ins: list[Shape], outs: list[Shape], a: Attrs) -> int:
    """The convolution's MACs: its output before pooling, times the taps per output value."""
    conv_in, _ = _split(ins, a)
    return _conv_macs(conv_in, _conv_infer(conv_in, conv_attrs(a)), a)


@register("FusedConv", attrs=FUSED_CONV_ATTRS, infer=_infer, num_inputs=(2, 4), macs=fused_macs,
          inplace=lambda a, n: [n - 1] if a["residual"] else [])
def fused_conv(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """act(pool(Convolution(x, W, b)) + residual), each step the nnabla reference."""
    conv_in, res = _split(xs, a)
    (y,) = convolution(conv_in, conv_attrs(a))
    if a["pool"] == "max":
        (y,) = max_pooling([y], pool_attrs(a))
    elif a["pool"] == "average":
        (y,) = average_pooling([y], pool_attrs(a))
    if res is not None:
        y = y + res
    if a["activation"] == "relu":
        y = np.where(y > 0, y, F32(0))  # NaN -> 0, as nnabla's ReLU
    elif a["activation"] == "relu6":
        y = np.clip(y, F32(0), F32(6))
    return [y.astype(F32, copy=False)]
