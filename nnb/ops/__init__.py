"""Op registry and the op families that fill it (importing this package registers them all)."""

from nnb.ops import activation, arithmetic, array, conv, fused, linear, normalization, packed, pooling, reduce  # noqa: F401
from nnb.ops.registry import Attr, OpDef, all_ops, get_op, register

__all__ = ["Attr", "OpDef", "all_ops", "get_op", "register"]
