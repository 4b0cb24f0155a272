"""``nnb quantize LUTQ.nnq --method int8 --calib DATA --keep-lutq``: a LUT-Q model with integer activations.

Calibrates the int8 activations on the LUT-Q network's float forward, keeps every
LUT-Q weight as its codes with per-channel integer dictionaries
(nnb/quantize/lutq_int8.py), prints the per-layer report and sizes, and writes
an int8 .nnq (``nnb convert`` makes its NNB: records 1012/1013; ``nnb run/eval
--backend c|intsim`` run it).
"""

from __future__ import annotations

import os
import sys

import numpy as np

from nnb.errors import NnbError
from nnb.quantize import int8 as int8_mod
from nnb.quantize.int8_report import format_table, islands_line, render_html
from nnb.quantize.int8_run import CalibOptions, accuracy_lines, calibration_inputs, layer_report
from nnb.quantize.lutq_int8 import BITS, CODES, DICT, build_lutq_int8


def lutq_sizes(m: int8_mod.Int8Model) -> dict[str, int]:
    """Bytes of the integer model's constants: LUT-Q codes (packed), dictionaries (int32), int8 weights,
    int32 biases / multipliers / shifts."""
    out = {"codes": 0, "dict": 0, "int8_weights": 0, "other": 0}
    for st in m.steps:
        for k, a in st.arrays.items():
            if k == CODES:
                bits = int(np.asarray(st.arrays[BITS]).reshape(-1)[0])
                out["codes"] += (a.size * bits + 31) // 32 * 4
            elif k == DICT:
                out["dict"] += 4 * a.size
            elif k == "weight":
                out["int8_weights"] += a.size
            elif k not in ("w_scale", BITS, "lut_pow2"):
                out["other"] += 4 * a.size
    return out


def quantize_lutq_int8(model_path: str, output: str, opts: CalibOptions, report: str | None = None) -> int:
    from nnb.model import is_nnq
    from nnb.quantize.qmodel import load_quantized, save_quantized

    if opts.method != "int8":
        raise NnbError("--keep-lutq goes with --method int8")
    if not output.endswith(".nnq"):
        raise NnbError(f"-o {output}: the quantized model file must end in .nnq")
    if not os.path.exists(model_path):
        raise NnbError(f"{model_path}: no such model file")
    if not is_nnq(model_path):
        raise NnbError(f"{model_path}: --keep-lutq needs the LUT-Q .nnq (nnb quantize --method lutq -o X.nnq)")
    qm = load_quantized(model_path)
    g = int8_mod.prepare_graph(qm.graph)
    x = calibration_inputs(g, opts.calib, opts.samples)
    m = build_lutq_int8(qm, x, opts.calib_method, opts.strict)
    rows = layer_report(m, g, x)
    print(format_table(rows))
    luts = [s for s in m.steps if CODES in s.arrays]
    sizes = lutq_sizes(m)
    fbytes = sum(t.nbytes for t in g.params())
    summary = ["LUT-Q layers with integer activations (per-entry accumulation): "
               + ", ".join(f"{s.node.op} K={s.arrays[DICT].shape[1]} {int(s.arrays[BITS][0])} bit"
                           + (" pow2" if int(s.arrays["lut_pow2"][0]) else "") for s in luts),
               f"constants: codes {sizes['codes']:,} B, integer dictionaries {sizes['dict']:,} B, int8 weights "
               f"{sizes['int8_weights']:,} B, biases and requantization {sizes['other']:,} B "
               f"(float32 {fbytes:,} B)"]
    summary += islands_line(m.islands())
    if opts.data:
        summary += accuracy_lines(m, g, opts.data, opts.limit)
    for line in summary:
        print(line)
    info = {"calib_data": opts.calib, "calib_samples": int(len(x)), "calib_method": opts.calib_method,
            "lutq_source": os.path.basename(model_path)}
    save_quantized(output, int8_mod.to_quantized(m, qm.graph, info))
    if report:
        from nnb.quantize.report import write_report

        write_report(report, render_html(rows, os.path.basename(output), "int8 + LUT-Q", opts.calib_method, len(x),
                                         summary))
        print(f"wrote {report}")
    print(f"wrote {output}")
    sys.stdout.flush()
    return 0
