"""``nnb quantize --method int8|fixed8|fixed16``: calibrate, build, report, save.

The CLI (nnb/commands/quantize.py) hands the options over as plain values;
this module does the job and prints the per-layer report.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph
from nnb.quantize import calib as calib_mod
from nnb.quantize import fixed as fixed_mod
from nnb.quantize import int8 as int8_mod
from nnb.quantize.int8_report import LayerStat, format_table, islands_line, render_html, sqnr_db

CALIBRATED = ("int8", "fixed8", "fixed16")
REPORT_SAMPLES = 200


@dataclass
class CalibOptions:
    method: str  # int8 | fixed8 | fixed16
    calib: str  # anything --data takes
    samples: int = 500
    calib_method: str = "minmax"
    strict: bool = False  # int8: an op without an integer kernel is an error
    data: str | None = None  # labelled data for the accuracy (optional)
    limit: int | None = None
    quiet: bool = False
    nnb_out: str | None = None  # fixed8/fixed16: also write a compatible NNB with FIXED variables


def calibration_inputs(g: Graph, spec: str, samples: int) -> np.ndarray:
    """The first ``samples`` samples of ``spec``, checked against the network input and scaled (an .npz needs
    only its ``x`` array: calibration takes no labels)."""
    from nnb.datasets import load_npz_x
    from nnb.train.data import input_array, load_data

    if samples <= 0:
        raise NnbError(f"--calib-samples {samples}: need at least one calibration sample")
    if spec.endswith(".npz") and os.path.exists(spec):
        x = load_npz_x(spec)
    else:
        x, _ = load_data(spec, default_split="train")
    if len(x) == 0:
        raise NnbError(f"{spec}: the calibration data set is empty")
    return input_array(g, x[:samples])


def calibrate(g: Graph, x: np.ndarray, quiet: bool = False) -> dict[str, calib_mod.TensorStats]:
    from nnb.train.progress import Progress

    bar = Progress(len(x), prefix="calibrating ", enabled=not quiet)
    try:
        return calib_mod.collect(g, x, progress=lambda done: bar.update(done))
    finally:
        bar.close()


def build(float_graph: Graph, opts: CalibOptions) -> tuple[object, Graph, np.ndarray]:
    """(the int8 or fixed model, the prepared graph it runs, the calibration inputs)."""
    if opts.method not in CALIBRATED:
        raise NnbError(f"unknown calibrated method '{opts.method}'")
    if opts.calib_method not in calib_mod.METHODS:
        raise NnbError(f"unknown calibration method '{opts.calib_method}' ({', '.join(calib_mod.METHODS)})")
    if opts.method == "int8":
        g = int8_mod.prepare_graph(float_graph)
    else:
        g = fixed_mod.prepare_graph(float_graph)
    x = calibration_inputs(g, opts.calib, opts.samples)
    stats = calibrate(g, x, opts.quiet)
    if opts.method == "int8":
        from nnb.train.progress import Progress

        # adaround fits each layer's rounding for seconds: show it (the other methods finish at once)
        bar = Progress(len(g.nodes), prefix="fitting ", enabled=not opts.quiet and opts.calib_method == "adaround")
        try:
            model = int8_mod.build_int8(g, stats, opts.calib_method, islands=not opts.strict,
                                        progress=lambda done, _total: bar.update(done))
        finally:
            bar.close()
        return model, g, x
    return fixed_mod.build_fixed(g, stats, opts.method, opts.calib_method), g, x


def run_model(model: object, x: np.ndarray, keep: list[str] | None = None) -> dict[str, np.ndarray]:
    if isinstance(model, int8_mod.Int8Model):
        from nnb.quantize.int_sim import run_int8

        return run_int8(model, [x], keep=keep or [])
    assert isinstance(model, fixed_mod.FixedModel)
    return fixed_mod.run_fixed(model, [x], keep=keep or [])


def fixed_batch(g: Graph) -> int:
    """The batch size the network's first input declares, or 0 when it takes any batch."""
    spec = g.input_specs.get(g.inputs[0], g.tensors[g.inputs[0]].shape)
    return int(spec[0]) if spec and spec[0] > 0 else 0


def _chunks(fn: Callable[[np.ndarray], dict[str, np.ndarray]], x: np.ndarray, batch: int) -> dict[str, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {}
    for s in range(0, len(x), batch):
        for k, v in fn(x[s:s + batch]).items():
            parts.setdefault(k, []).append(v)
    # the report compares elements: a tensor without a batch axis (a reduction over the batch, a scalar) is
    # joined flat, as the chunks' values side by side
    return {k: np.concatenate([np.ravel(a) for a in v]) for k, v in parts.items()}


def predict(model: object, x: np.ndarray, batch: int = 250) -> np.ndarray:
    name = model.graph.outputs[0]  # type: ignore[attr-defined]
    batch = fixed_batch(model.graph) or batch  # type: ignore[attr-defined]
    outs = [run_model(model, x[s:s + batch])[name] for s in range(0, len(x), batch)]
    z = np.concatenate(outs) if outs else np.zeros((0, 1), np.float32)
    return z.reshape(len(z), -1)


def layer_report(model: object, g: Graph, x: np.ndarray) -> list[LayerStat]:
    """One row per function output: its grid, calibrated range and SQNR of the quantized run against float."""
    from nnb.executor import run

    names = [o for n in g.nodes for o in n.outputs]
    ops = {o: n.op for n in g.nodes for o in n.outputs}
    if isinstance(model, int8_mod.Int8Model):
        names = [s.output for s in model.steps]
        ops = {s.output: s.node.op + (f"+{s.activation}" if s.activation and s.node.op not in ("ReLU", "ReLU6")
                                      else "") for s in model.steps}
    # a network with a fixed batch runs that many samples at a time (an ONNX import declares batch 1)
    b = fixed_batch(g) or REPORT_SAMPLES
    xs = x[:max(b, REPORT_SAMPLES // b * b)]
    # an int8 model may be built on a rescaled copy of g (adaround's channel equalization): compare with that
    gr = model.graph if isinstance(model, int8_mod.Int8Model) else g
    ref = _chunks(lambda c: run(gr, [c], keep=names), xs, b)
    got = _chunks(lambda c: run_model(model, c, keep=names), xs, b)
    rows = []
    for k in names:
        if isinstance(model, int8_mod.Int8Model):
            q = model.qparams[k]
            grid = f"s={q.scale:.4g} z={q.zero}"
            lo, hi = (-128 - q.zero) * q.scale, (127 - q.zero) * q.scale
        else:
            fp = model.fp_pos[k]  # type: ignore[attr-defined]
            grid = f"fp_pos {fp}"
            top = ((1 << (model.bits - 1)) - 1) / 2.0 ** fp  # type: ignore[attr-defined]
            lo, hi = -top, top
        rows.append(LayerStat(k, ops[k], grid, lo, hi, sqnr_db(ref[k], got[k])))
    return rows


def accuracy_lines(model: object, g: Graph, spec: str, limit: int | None) -> list[str]:
    from nnb.executor import run_batched
    from nnb.train.data import input_array, load_data

    x, y = load_data(spec, default_split="test")
    if limit:
        x, y = x[:limit], y[:limit]
    if len(x) == 0:
        raise NnbError(f"{spec}: the evaluation data set is empty")
    x = input_array(g, x)
    f = run_batched(g, [x], batch=fixed_batch(g) or 500)[g.outputs[0]].reshape(len(x), -1)
    q = predict(model, x)
    fa, qa = float((f.argmax(1) == y).mean()), float((q.argmax(1) == y).mean())
    return [f"top-1 on {len(x)} samples of {spec}: float {fa:.2%}, quantized {qa:.2%} ({100 * (qa - fa):+.2f} points)"]


def quantize_calibrated(model_path: str, output: str, opts: CalibOptions, report: str | None = None) -> int:
    from nnb.model import is_nnb, load_model
    from nnb.quantize.qmodel import save_quantized

    if not output.endswith(".nnq"):
        raise NnbError(f"-o {output}: the quantized model file must end in .nnq")
    if opts.nnb_out and opts.method == "int8":
        raise NnbError("--nnb: int8 models are not written as NNB yet (fixed8/fixed16 are)")
    if not os.path.exists(model_path):
        raise NnbError(f"{model_path}: no such model file")
    if is_nnb(model_path):
        raise NnbError(f"{model_path}: an NNB file cannot be quantized (use the .nnp)")
    float_graph = load_model(model_path)
    model, g, x = build(float_graph, opts)
    rows = layer_report(model, g, x)
    print(format_table(rows))
    summary = islands_line(model.islands() if isinstance(model, int8_mod.Int8Model) else [])
    if isinstance(model, int8_mod.Int8Model):
        fbytes = sum(t.nbytes for t in g.params())
        summary.append(f"int8 weights + biases + requantization constants: {model.weight_bytes():,} bytes "
                       f"(BN-folded float32 {fbytes:,} bytes, {model.weight_bytes() / max(fbytes, 1):.1%})")
    if opts.data:
        summary += accuracy_lines(model, g, opts.data, opts.limit)
    for line in summary:
        print(line)
    info = {"calib_data": opts.calib, "calib_samples": int(len(x)), "calib_method": opts.calib_method}
    if isinstance(model, int8_mod.Int8Model):
        qm = int8_mod.to_quantized(model, float_graph, info)
    else:
        qm = fixed_mod.to_quantized(model, opts.method, dict(info, graph="bn-folded"))  # type: ignore[arg-type]
    save_quantized(output, qm)
    if opts.nnb_out:
        image = fixed_mod.write_fixed_nnb(model)  # type: ignore[arg-type]
        try:
            with open(opts.nnb_out, "wb") as f:
                f.write(image)
        except OSError as e:
            raise NnbError(f"{opts.nnb_out}: cannot write ({e.strerror})") from None
        print(f"wrote {opts.nnb_out} (compatible NNB, {opts.method}, {len(image)} bytes)")
    if report:
        from nnb.quantize.report import write_report

        write_report(report, render_html(rows, os.path.basename(output), opts.method, opts.calib_method, len(x),
                                         summary))
        print(f"wrote {report}")
    print(f"wrote {output}")
    sys.stdout.flush()
    return 0
