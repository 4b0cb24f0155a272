"""A calibrated .nnq (``nnb quantize --method int8|fixed8|fixed16``), or an int8 or FIXED8/FIXED16 NNB file, through its
integer simulation.

int8: nnb/quantize/int_sim.py (bit-exact with the C int8 kernels); fixed8/fixed16:
the integer fixed-point simulation of nnb/quantize/fixed_int.py (bit-exact with the C runtime).
"""

from __future__ import annotations

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph


def read_model_bytes(model_path: str) -> bytes:
    """The bytes of a model file; an unreadable file is an NnbError naming it."""
    from nnb.readfile import read_bytes

    return read_bytes(model_path, "model file")


def _model(model_path: str) -> object:
    from nnb.model import is_nnb, is_nnq

    if is_nnb(model_path):
        from nnb.emit.nnb_int8_read import is_int8_image, read_int8_nnb

        data = read_model_bytes(model_path)
        if is_int8_image(data):
            return read_int8_nnb(data, model_path)
        from nnb.quantize.fixed_nnb import fixed_model_from_nnb

        try:  # a FIXED8/FIXED16 file (nnb convert of a fixed .nnq, or nnabla's converter)
            return fixed_model_from_nnb(data, model_path)
        except NnbError as e:
            raise NnbError(f"{e}; the intsim backend runs int8 NNB files (nnb convert of an int8 .nnq) and "
                           "FIXED8/FIXED16 ones") from None
    if not is_nnq(model_path):
        raise NnbError(f"{model_path}: the intsim backend runs a calibrated .nnq or an int8 .nnb "
                       "(nnb quantize --method int8|fixed8|fixed16)")
    from nnb.quantize import fixed, int8
    from nnb.quantize.qmodel import load_quantized

    qm = load_quantized(model_path)
    if int8.is_int8_model(qm):  # calibrated int8, or a DQ model with its int8 deployment
        return int8.from_quantized(qm)
    if qm.method in fixed.METHODS:
        return fixed.from_quantized(qm)
    raise NnbError(f"{model_path}: a {qm.method} model has no integer simulation (int8, fixed8, fixed16 do, and "
                   "dq trained with --act-budget)")


def run(model_path: str, graph: Graph, inputs: dict[str, np.ndarray], options: dict | None = None) -> dict:
    from nnb.executor import bind_inputs
    from nnb.quantize.int8_run import run_model

    m = _model(model_path)
    xs = bind_inputs(m.graph, inputs)  # type: ignore[attr-defined]
    if len(xs) != 1:
        raise NnbError("the intsim backend runs single-input networks")
    return run_model(m, next(iter(xs.values())))


def predict(model_path: str, graph: Graph, x: np.ndarray, options: dict | None = None) -> np.ndarray:
    from nnb.quantize.int8_run import predict as predict_model

    return predict_model(_model(model_path), x, batch=int((options or {}).get("batch") or 250))
