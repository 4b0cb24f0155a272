"""Op registry and the op families that fill it (importing this package registers them all)."""

from nnb.ops import (  # noqa: F401
    activation,
    arithmetic,
    array,
    conv,
    fused,
    linear,
    normalization,
    onnx_extra,
    packed,
    pooling,
    reduce,
)
from nnb.ops.registry import Attr, OpDef, all_ops, get_op, register

__all__ = ["Attr", "OpDef", "all_ops", "get_op", "register"]
