"""Deploy a trained DQ .nnq with quantized activations as an int8 model, in place (``nnb quantize --method dq
--act-budget``): build it (nnb/quantize/dq_int8.py), put the int32 biases back into the float network, check
the integer model against the fake-quantized float network on the calibration samples, save, report."""

from __future__ import annotations

import numpy as np

from nnb.quantize import dq_int8
from nnb.quantize.dq_int8_arena import arena_figures
from nnb.quantize.int8 import Int8Model
from nnb.quantize.qmodel import QuantizedModel, load_quantized, save_quantized


def agreement(qm: QuantizedModel, m: Int8Model, x: np.ndarray) -> int:
    """How many of the samples ``x`` get the same class from the integer model and the float network."""
    from nnb.quantize.dq import fixed_act_quantizers
    from nnb.quantize.int_sim import run_int8_batched
    from nnb.train.evaluate import predict

    ref = predict(qm.graph, x, act=fixed_act_quantizers(qm.info)).argmax(axis=1)
    got = run_int8_batched(m, x).reshape(len(x), -1).argmax(axis=1)
    return int((ref == got).sum())


def deploy(path: str, x: np.ndarray, budget: dict | None = None) -> list[str]:
    """Rewrite the DQ .nnq at ``path`` with its int8 model, ``x`` the calibration inputs (they fix the network
    input's grid; the check runs on them); returns the lines to print."""
    qm = load_quantized(path)
    m = dq_int8.build_dq_int8(qm, x)
    moved = dq_int8.snap_biases(qm, m)
    m = dq_int8.build_dq_int8(qm, x)
    same = agreement(qm, m, x)
    save_quantized(path, dq_int8.attach(qm, m))
    ints = [s for s in m.steps if s.kind == "int"]
    q_in = m.qparams[m.graph.inputs[0]]
    exact = np.array_equal(q_in.dequantize(q_in.quantize(x)), x)
    lines = [f"int8 deployment: {len(ints)} integer functions ({', '.join(s.node.op for s in ints)})"
             + (f"; float islands: {', '.join(s.node.op for s in m.steps if s.kind == 'island')} "
                "(what training leaves float)" if m.islands() else ""),
             f"network input on the grid s={q_in.scale:.6g} z={q_in.zero} "
             + ("(exact for the calibration samples)" if exact else
                "(NOT exact for the calibration samples: the integer model may differ from the float network)"),
             f"biases put on the integer grid: {moved} layers (each moved below half an accumulator unit)"]
    bits = {k: int(a["bits"]) for k, a in (qm.info.get("activations") or {}).items()}
    fig = arena_figures(m, bits)
    b = budget or {}
    lines.append(f"arena (batch 1): {fig['packed']:,} B at the activations' quantized widths, {fig['int8']:,} B held "
                 f"as int8, float {fig['float']:,} B"
                 + (f"; activation budget {b['kb']:.3f} kB ({b.get('kind', 'max')})" if b.get("kb") else ""))
    lines.append(f"integer model vs fake-quantized float network on the {len(x)} calibration samples: "
                 f"{same}/{len(x)} identical predictions")
    return lines
