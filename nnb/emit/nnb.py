"""NNB binaries: the model format of nnabla's C runtime, and nnb's extension of it.

The reader (nnb_read), the writer (nnb_write) and the layout facts they share
(nnb_layout) are separate modules; this one re-exports their public names for
existing imports.
"""

from __future__ import annotations

from nnb.emit.nnb_layout import (
                                 API_LEVEL,
                                 EXT_FUNCTIONS,
                                 EXT_HEADER,
                                 EXT_MAGIC,
                                 EXT_VERSION,
                                 HEADER,
                                 PLAN_EXTERNAL,
                                 PLAN_PARAM,
                                 QDESC,
                                 QUANT_TYPE_OF,
                                 QUANT_TYPES,
                                 STEP_POW2,
                                 STEP_Q31,
                                 TRANSPOSED_WEIGHTS,
                                 TYPE_FLOAT,
                                 TYPE_INT8,
                                 TYPE_INT16,
                                 TYPE_LUT,
                                 TYPE_SIGN,
                                 TYPE_UNIFORM,
                                 compatible,
                                 function_id,
                                 step_encoding,
                                 upstream_runs,
)
from nnb.emit.nnb_read import load_nnb, read_nnb
from nnb.emit.nnb_write import NnbPlan, compat_plan, write_nnb

__all__ = ["API_LEVEL", "EXT_FUNCTIONS", "EXT_HEADER", "EXT_MAGIC", "EXT_VERSION", "HEADER", "PLAN_EXTERNAL",
           "PLAN_PARAM", "QDESC", "QUANT_TYPES", "QUANT_TYPE_OF", "STEP_POW2", "STEP_Q31", "TRANSPOSED_WEIGHTS",
           "TYPE_FLOAT", "TYPE_INT8", "TYPE_INT16", "TYPE_LUT", "TYPE_SIGN", "TYPE_UNIFORM", "NnbPlan",
           "compat_plan", "compatible", "function_id", "load_nnb", "read_nnb", "step_encoding", "upstream_runs",
           "write_nnb"]
