"""Accuracy and size of calibrated int8 / fixed point on the trained Fashion-MNIST models (issue 13).

For fmnist_lenet and fmnist_dscnn: calibrate on the first N training images
(default 500), evaluate top-1 on the full 10k test set:

* float (numpy reference);
* nnb int8 with minmax / percentile / mse / top / adaround calibration (adaround includes the channel
  equalization of nnb/quantize/calib_equalize.py), each converted to its int8 NNB and run by the C runtime
  (libnnbrt through nnb/backends/c.py, batch 1: what `nnb eval --backend c` runs); each row says on how many
  test images its predictions equal the numpy integer simulation's (the Softmax island's float output
  differs by float rounding only);
* the minmax and adaround int8 models computed by the C int8 kernels (ctypes; network chained through C
  outputs) on the first ``--check`` test images: whether their logits equal the simulation's bit for bit;
* fixed16 and fixed8 with minmax / percentile / mse fp_pos choice, each written as its compatible FIXED
  NNB and run by the C runtime on every test image; the integer simulation (nnb/quantize/fixed_int.py) runs
  the first ``--check`` of them and the row says whether the outputs are equal;
  without a C compiler every row is the simulation's, and says so;
* onnxruntime's static int8 quantization (per-channel QDQ, MinMax / Percentile / Entropy) of the same
  float model, calibrated on the same images fed one at a time, configured as its documentation tells a
  user: ``quantize_static(..., quant_format=QDQ, per_channel=True, activation_type=QInt8,
  weight_type=QInt8, calibrate_method=M)``, on two ONNX files this script writes:
  - "nnabla's export, no pre-processing": the graph as ``nnabla_cli convert X.nnp X.onnx``
    (nnabla-converter 1.39) writes it -- batch fixed at the .nnp's 1, Conv without folding,
    BatchNormalization nodes (each gets its own int8 grid), Affine as Reshape + Gemm, Softmax as
    ReduceMax / Sub / Exp / ReduceSum / Div, opset 11 -- raised to opset 13 by onnx's version
    converter (per-channel QDQ needs 13), quantized without ``quant_pre_process``.  This is the setup
    of issue 13's figures (dscnn 86.78 / 86.92 / 86.78, lenet 88.58 / 88.63 / 88.58).  The file equals
    the converter's but for the names of generated tensors (checked once against nnabla-converter's
    output: same nodes, attributes, initializer values and opset after the version converter; the
    converter is not a dependency of this script);
  - "BN-folded export": BatchNorm folded into the convolutions (what onnxruntime's recommended
    ``quant_pre_process`` makes of BatchNormalization nodes), variable batch, Softmax as one node.
  When onnxruntime or onnx is missing, the issue's quoted figures are printed instead, marked as quoted.
  Per model, paired exact sign tests of our default (minmax) and adaround against each peer's best.
* weight and arena bytes, int8 against float.

    .venv/bin/python benchmarks/int8_accuracy.py [--calib 500] [--test 10000] [--models lenet,dscnn] [--check 1000]
    .venv/bin/python benchmarks/int8_accuracy.py --dq [--dq-train 2000]   # DQ --act-budget deployed as int8
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "int8"))

from nnb.executor import run_batched  # noqa: E402
from nnb.nnp.reader import load  # noqa: E402
from nnb.quantize import fixed  # noqa: E402
from nnb.quantize.calib import collect  # noqa: E402
from nnb.quantize.int8 import arena_bytes, build_int8, prepare_graph  # noqa: E402
from nnb.quantize.int_sim import _step_int, run_int8_batched  # noqa: E402
from nnb.train.data import input_array, load_data  # noqa: E402

TRAINED = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "trained")
QUOTED = {"lenet": (88.58, 88.63, 88.58), "dscnn": (86.78, 86.92, 86.78)}  # issue 13: ORT MinMax/Percentile/Entropy


def top1(scores: np.ndarray, y: np.ndarray) -> float:
    return 100.0 * float((scores.reshape(len(y), -1).argmax(1) == y).mean())


class Row:
    """One line of the table: a model's test predictions (none for a quoted figure) and how many of its
    samples tie for the top score (argmax then takes the first class)."""

    def __init__(self, label: str, scores: np.ndarray | None, y: np.ndarray, note: str = "",
                 quoted: float | None = None) -> None:
        self.label, self.note = label, note
        self.pred = None if scores is None else scores.reshape(len(y), -1).argmax(1)
        self.acc = quoted if self.pred is None else 100.0 * float((self.pred == y).mean())
        if scores is None:
            self.ties = None
        else:
            top2 = np.sort(scores.reshape(len(y), -1), axis=1)[:, -2:]
            self.ties = int((top2[:, 0] == top2[:, 1]).sum())


def sign_test(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> str:
    """Paired comparison on the same images: how many only ``a`` gets right, how many only ``b``, and the
    exact two-sided sign-test p-value of that split (McNemar's exact test)."""
    from math import comb

    na, nb = int(((a == y) & (b != y)).sum()), int(((b == y) & (a != y)).sum())
    n, k = na + nb, min(na, nb)
    p = min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2 ** n) if n else 1.0
    return f"only the first right on {na} images, only the second on {nb}: exact sign-test p = {p:.2f}"


# ---- the C int8 kernels, chained ------------------------------------------------------------

def c_logits(m, x: np.ndarray, so, batch: int = 500) -> np.ndarray:  # noqa: ANN001
    """The network through the C kernels (int steps they cover), numpy for the rest; int8 logits."""
    from int8_harness import run_step

    from nnb.ops import get_op

    outs = []
    for s in range(0, len(x), batch):
        vals = {m.graph.inputs[0]: m.qparams[m.graph.inputs[0]].quantize(x[s:s + batch])}
        for st in m.steps:
            node = st.node
            if st.kind == "island":
                fin = [m.qparams[i].dequantize(vals[i]) if m.graph.tensors[i].kind != "param"
                       else m.graph.tensors[i].data for i in node.inputs]
                for o, v in zip(node.outputs, get_op(node.op).forward(fin, node.attrs)):
                    vals[o] = m.qparams[o].quantize(v)
                continue
            y = run_step(so, m, st, vals)
            if y is None:
                y = _step_int(st, [vals[i] for i in node.inputs if m.graph.tensors[i].kind != "param"], m)
            vals[st.output] = np.asarray(y, np.int64)
        last = [st for st in m.steps if st.kind == "int"][-1].output  # the logits before the softmax island
        outs.append(vals[last])
    return np.concatenate(outs)


def sim_logits(m, x: np.ndarray, batch: int = 500) -> np.ndarray:  # noqa: ANN001
    from nnb.quantize.int_sim import run_int8

    last = [st for st in m.steps if st.kind == "int"][-1].output
    return np.concatenate([run_int8(m, [x[s:s + batch]], keep=[last], as_int=True)[last]
                           for s in range(0, len(x), batch)])


# ---- onnxruntime static int8 ---------------------------------------------------------------

def export_onnx(g, path: str) -> None:  # noqa: ANN001 - the BN-folded float graph
    """A minimal ONNX export of the conv/pool/affine/softmax graphs these models use."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    name = g.inputs[0]
    shape = ("N",) + tuple(g.tensors[name].shape[1:])
    for t in g.params():
        inits.append(numpy_helper.from_array(np.asarray(t.data, np.float32), t.name))
    for k, n in enumerate(g.nodes):
        a = n.attrs
        if n.op in ("Convolution", "DepthwiseConvolution"):
            w = g.tensors[n.inputs[1]].data
            ins = list(n.inputs)
            group = a.get("group", 1)
            if n.op == "DepthwiseConvolution":
                wn = n.inputs[1] + "/onnx"
                inits.append(numpy_helper.from_array(np.asarray(w, np.float32)[:, None], wn))
                ins[1] = wn
                group = w.shape[0] // a["multiplier"]
            pad = list(a["pad"] or (0, 0))
            nodes.append(helper.make_node("Conv", ins, n.outputs, pads=pad + pad, strides=list(a["stride"] or (1, 1)),
                                          dilations=list(a["dilation"] or (1, 1)), group=group))
        elif n.op in ("MaxPooling", "AveragePooling"):
            if not a["ignore_border"]:
                raise SystemExit(f"export: {n.op} with ignore_border=False")
            pad = list(a["pad"] or (0, 0))
            kw = {"kernel_shape": list(a["kernel"]), "strides": list(a["stride"] or a["kernel"]), "pads": pad + pad}
            if n.op == "AveragePooling":
                kw["count_include_pad"] = int(a["including_pad"])
            nodes.append(helper.make_node("MaxPool" if n.op == "MaxPooling" else "AveragePool", n.inputs, n.outputs,
                                          **kw))
        elif n.op == "GlobalAveragePooling":
            nodes.append(helper.make_node("GlobalAveragePool", n.inputs, n.outputs))
        elif n.op == "ReLU":
            nodes.append(helper.make_node("Relu", n.inputs, n.outputs))
        elif n.op == "Affine":
            flat = f"flat{k}"
            nodes.append(helper.make_node("Flatten", [n.inputs[0]], [flat], axis=1))
            nodes.append(helper.make_node("Gemm", [flat] + n.inputs[1:], n.outputs))
        elif n.op == "Softmax":
            nodes.append(helper.make_node("Softmax", n.inputs, n.outputs, axis=a["axis"]))
        else:
            raise SystemExit(f"export: no ONNX form for {n.op}")
    out = g.outputs[0]
    read = {i for n in nodes for i in n.input}
    inits = [t for t in inits if t.name in read]  # a depthwise weight is exported reshaped under a new name
    graph = helper.make_graph(nodes, "nnb", [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def export_onnx_nnabla(g, path: str) -> None:  # noqa: ANN001 - the float graph as the .nnp holds it
    """The graph as nnabla's exporter writes it (``nnabla_cli convert X.nnp X.onnx``, nnabla-converter 1.39),
    then raised to opset 13 by onnx's version converter (per-channel QDQ needs 13): the batch fixed to the
    .nnp's (1), Convolution without folding, BatchNormalization nodes, Affine as Gemm after a Reshape to
    (batch, features) when its input is not 2-D, and Softmax as ReduceMax, Sub, Exp, ReduceSum, Div.
    The issue's onnxruntime figures were measured on that file."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shapes = g.infer_shapes()
    b = g.batch_size
    nodes, inits, used = [], [], set()

    def init(name: str, data: np.ndarray) -> str:
        if name not in used:
            used.add(name)
            inits.append(numpy_helper.from_array(np.asarray(data), name))
        return name

    def param(name: str) -> str:
        return init(name, np.asarray(g.tensors[name].data, np.float32))

    for k, n in enumerate(g.nodes):
        a, x = n.attrs, n.inputs[0]
        if n.op in ("Convolution", "DepthwiseConvolution"):
            w = np.asarray(g.tensors[n.inputs[1]].data, np.float32)
            group = a.get("group", 1)
            if n.op == "DepthwiseConvolution":
                w, group = w[:, None], w.shape[0] // a["multiplier"]
            ins = [x, init(n.inputs[1], w)] + [param(i) for i in n.inputs[2:]]
            pad = list(a["pad"])
            nodes.append(helper.make_node("Conv", ins, n.outputs, dilations=list(a["dilation"]), group=group,
                                          kernel_shape=list(w.shape[2:]), pads=pad + pad, strides=list(a["stride"])))
        elif n.op == "BatchNormalization":  # nnabla: x, beta, gamma, mean, var; ONNX: x, scale, B, mean, var
            ins = [x] + [init(n.inputs[i], np.asarray(g.tensors[n.inputs[i]].data, np.float32).reshape(-1))
                         for i in (2, 1, 3, 4)]  # nnabla's (1, C, 1, 1) as (C,)
            nodes.append(helper.make_node("BatchNormalization", ins, n.outputs, epsilon=a["eps"],
                                          momentum=a["decay_rate"]))
        elif n.op == "ReLU":
            nodes.append(helper.make_node("Relu", [x], n.outputs))
        elif n.op == "MaxPooling":
            pad = list(a["pad"])
            nodes.append(helper.make_node("MaxPool", [x], n.outputs, kernel_shape=list(a["kernel"]), pads=pad + pad,
                                          strides=list(a["stride"])))
        elif n.op == "GlobalAveragePooling":
            nodes.append(helper.make_node("GlobalAveragePool", [x], n.outputs))
        elif n.op == "Affine":
            if len(shapes[x]) != 2:
                flat = f"{x}_{k:04d}_reshape"
                nodes.append(helper.make_node("Reshape", [x, init(f"reshape_{k:04d}", np.array(
                    [b, int(np.prod(shapes[x][1:]))], np.int64))], [flat]))
                x = flat
            nodes.append(helper.make_node("Gemm", [x] + [param(i) for i in n.inputs[1:]], n.outputs, alpha=1.0,
                                          beta=1.0, transA=0, transB=0))
        elif n.op == "Softmax":
            t = [f"{x}_{k:04d}_{s}" for s in ("reducemax", "sub", "exp", "reducesum")]
            ax = [a["axis"]]
            nodes += [helper.make_node("ReduceMax", [x], [t[0]], axes=ax, keepdims=1),
                      helper.make_node("Sub", [x, t[0]], [t[1]]), helper.make_node("Exp", [t[1]], [t[2]]),
                      helper.make_node("ReduceSum", [t[2]], [t[3]], axes=ax, keepdims=1),
                      helper.make_node("Div", [t[2], t[3]], n.outputs)]
        else:
            raise SystemExit(f"export (nnabla's form): no ONNX form for {n.op}")
    io = [helper.make_tensor_value_info(v, TensorProto.FLOAT, [b, *shapes[v][1:]]) for v in (g.inputs[0], g.outputs[0])]
    graph = helper.make_graph(nodes, "net", io[:1], io[1:], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], producer_name="nnabla-onnx")
    model.ir_version = 8
    onnx.save(onnx.version_converter.convert_version(model, 13), path)


def ort_run(sess, name: str, x: np.ndarray, batch: int) -> np.ndarray:  # noqa: ANN001
    return np.concatenate([sess.run(None, {name: x[s:s + batch]})[0] for s in range(0, len(x), batch)])


# the two onnxruntime peers: (label, exporter, graph it reads, batch of the exported graph)
PEERS = (("nnabla's export, no pre-processing", export_onnx_nnabla, "nnp", 1),
         ("BN-folded export", export_onnx, "folded", 500))


def ort_int8(export, g, xc: np.ndarray, xt: np.ndarray, tag: str, batch: int) -> dict[str, np.ndarray] | None:  # noqa: ANN001
    """onnxruntime's float and static int8 models' outputs on ``xt`` (None without onnxruntime): ``export``
    writes ``g`` as ONNX; quantize_static reads it as written (no quant_pre_process); the calibration
    images are fed one at a time."""
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
    except ImportError:
        return None
    name = g.inputs[0]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{name: xc[i:i + 1]} for i in range(len(xc))])

        def get_next(self):  # noqa: ANN202
            return next(self.it, None)

    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        fp = os.path.join(tmp, "f.onnx")
        export(g, fp)
        sess = ort.InferenceSession(fp, providers=["CPUExecutionProvider"])
        res[f"float (onnxruntime, {tag})"] = ort_run(sess, name, xt, batch)
        for label, meth in (("MinMax", CalibrationMethod.MinMax), ("Percentile", CalibrationMethod.Percentile),
                            ("Entropy", CalibrationMethod.Entropy)):
            qp = os.path.join(tmp, f"q_{label}.onnx")
            logging.getLogger().setLevel(logging.ERROR)
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
                quantize_static(fp, qp, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, calibrate_method=meth)
            s = ort.InferenceSession(qp, providers=["CPUExecutionProvider"])
            res[f"onnxruntime int8 {label} ({tag})"] = ort_run(s, name, xt, batch)
    return res


# ---- main ----------------------------------------------------------------------------------------

def runtime_scores(image: bytes, x: np.ndarray) -> np.ndarray:
    """The network's output over ``x`` through the C runtime (nnb/backends/c.py: libnnbrt, the kernels
    `nnb run --backend c` uses), one sample at a time as the NNB is written (batch 1)."""
    from nnb.backends.c import CNet

    return CNet(image).run_batch([x])[0].reshape(len(x), -1)


def bench(arch: str, n_calib: int, n_test: int, so, runtime: bool, n_check: int) -> None:  # noqa: ANN001
    t0 = time.perf_counter()
    g0 = load(os.path.join(TRAINED, f"fmnist_{arch}.nnp"))
    g = prepare_graph(g0)
    xtr, _ = load_data("fashion-mnist:train")
    xte, yte = load_data("fashion-mnist:test")
    xc, xt, yt = input_array(g, xtr[:n_calib]), input_array(g, xte[:n_test]), yte[:n_test]
    rows = [Row("float (nnb reference)", run_batched(g, [xt])[g.outputs[0]], yt)]
    fl = rows[0].acc
    stats = collect(g, xc)
    models = {}
    for meth in ("minmax", "percentile", "mse", "top", "adaround"):
        m = build_int8(g, stats, meth)
        models[meth] = m
        sim = run_int8_batched(m, xt)
        if not runtime:
            rows.append(Row(f"nnb int8 {meth}", sim, yt, "numpy integer simulation (no C compiler: not the runtime)"))
            continue
        from nnb.emit.convert import convert_int8

        c = runtime_scores(convert_int8(m).image, xt)
        sp = sim.reshape(len(yt), -1)
        rows.append(Row(f"nnb int8 {meth}", c, yt, f"C runtime; predictions equal the integer simulation's on "
                        f"{int((c.argmax(1) == sp.argmax(1)).sum())}/{len(yt)}, output max |diff| "
                        f"{float(np.abs(c - sp).max()):.1e} (float Softmax island)"))
    logit_checks = []  # the logits before the Softmax island, C kernels chained vs the simulation
    if so is not None:
        for meth in ("minmax", "adaround"):
            m = models[meth]
            c = c_logits(m, xt[:n_check], so)
            logit_checks.append(f"int8 {meth}: the C int8 kernels' logits equal the simulation's on the first "
                                f"{len(c)} test images: {np.array_equal(c, sim_logits(m, xt[:n_check]))}")
    gf = fixed.prepare_graph(g0)
    sf = collect(gf, xc)
    for meth in ("fixed16", "fixed8"):
        for cal in ("minmax", "percentile", "mse"):
            fm = fixed.build_fixed(gf, sf, meth, cal)
            k = min(n_check, len(xt))
            sim = fixed.run_fixed_batched(fm, xt if not runtime else xt[:k])
            if not runtime:
                rows.append(Row(f"nnb {meth} {cal}", sim, yt, "integer simulation (no C compiler: not the runtime)"))
                continue
            c = runtime_scores(fixed.write_fixed_nnb(fm), xt)
            same = np.array_equal(c[:k], sim.reshape(k, -1))
            rows.append(Row(f"nnb {meth} {cal}", c, yt, f"C runtime; outputs equal the integer simulation's on "
                            f"the first {k}: {same}"))
    peers: dict[str, list[Row]] = {}
    for tag, export, which, batch in PEERS:
        res = ort_int8(export, g0 if which == "nnp" else fixed.prepare_graph(g0), xc, xt, tag, batch)
        if res is None:
            if which == "nnp":
                rows += [Row(f"onnxruntime int8 {label} (issue 13)", None, yt,
                             "QUOTED from issue 13 (onnxruntime not installed)", quoted=v)
                         for label, v in zip(("MinMax", "Percentile", "Entropy"), QUOTED[arch])]
            continue
        new = [Row(k, v, yt, "same run, same calibration images") for k, v in res.items()]
        rows += new
        peers[tag] = [r for r in new if r.label.startswith("onnxruntime int8")]
    m = models["minmax"]
    ia, fa = arena_bytes(m)
    w_float = sum(4 * int(np.prod(g.tensors[s.node.inputs[1]].shape)) for s in m.steps if "weight" in s.arrays)
    print(f"\n## fmnist_{arch}: calibration {len(xc)} training images, test {len(xt)} images "
          f"({time.perf_counter() - t0:.0f} s)\n")
    print(f"| model | top-1 % | vs float | same answer as float (of {len(yt)}) | top-2 ties | note |\n"
          "|---|---:|---:|---:|---:|---|")
    for r in rows:
        same = "" if r.pred is None else str(int((r.pred == rows[0].pred).sum()))
        print(f"| {r.label} | {r.acc:.2f} | {r.acc - fl:+.2f} | {same} | {'' if r.ties is None else r.ties} "
              f"| {r.note} |")
    print()
    for line in logit_checks:
        print(f"- {line}")
    for pr in peers.values():
        best = max(pr, key=lambda r: r.acc)
        for meth in ("minmax", "adaround"):  # our default --calib-method, and our best
            ours = next(r for r in rows if r.label == f"nnb int8 {meth}")
            print(f"- paired on the test images, {ours.label} vs {best.label}: {sign_test(ours.pred, best.pred, yt)}")
        print(f"- {best.label} vs float: {sign_test(best.pred, rows[0].pred, yt)}")
    print(f"\nweight tensors: int8 {m.weight_tensor_bytes()} B, float32 {w_float} B "
          f"({m.weight_tensor_bytes() / w_float:.1%}); with int32 biases and per-channel int32 multiplier + shift: "
          f"{m.weight_bytes()} B vs all float32 parameters {sum(t.nbytes for t in g.params())} B "
          f"({m.weight_bytes() / sum(t.nbytes for t in g.params()):.1%}); the same with the shifts as int8 "
          f"(same arithmetic, not the NNB's layout today): {m.weight_bytes(1)} B "
          f"({m.weight_bytes(1) / sum(t.nbytes for t in g.params()):.1%})")
    print(f"arena (one sample, tensors): int8 {ia} B, float {fa} B ({ia / fa:.1%}); float islands: "
          f"{', '.join(m.islands()) or 'none'}")
    from nnb.emit.nnb_int8 import deploy, plan

    na = plan(deploy(m)).arena_bytes
    print(f"int8 NNB arena (the records' one-arena plan, what `nnb plan X.nnq` and the C runtime use): {na} B "
          f"({na / fa:.1%} of float's {fa} B)")
    sys.stdout.flush()


DQ_ARGS = {"lenet": ["--weight-budget", "12kB", "--act-budget", "1.125kB"],  # first activation at 4 bits
           "dscnn": ["--bits", "6", "--act-budget", "5kB"]}  # BN folded into per-channel scales


def bench_dq(arch: str, n_train: int, n_calib: int, n_test: int) -> None:
    """A DQ model trained with --act-budget, deployed as int8: its predictions against the fake-quantized
    float network's on the test set (reference vs intsim, and the C runtime when it can convert it)."""
    from nnb.cli import main as nnb_main
    from nnb.quantize.dq import fixed_act_quantizers
    from nnb.quantize.dq_int8_arena import arena_figures
    from nnb.quantize.int8 import from_quantized
    from nnb.quantize.qmodel import load_quantized
    from nnb.train.evaluate import predict

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{arch}_dq.nnq")
        argv = ["quantize", os.path.join(TRAINED, f"fmnist_{arch}.nnp"), "--method", "dq", *DQ_ARGS[arch],
                "--data", "fashion-mnist", "--limit", str(n_train), "--epochs", "1", "--calib-samples", str(n_calib),
                "-q", "-o", path, "--val", "none"]
        said = io.StringIO()
        with contextlib.redirect_stdout(said):
            if nnb_main(argv) != 0:
                raise SystemExit(f"nnb {' '.join(argv)} failed")
        arena_line = next((ln.strip() for ln in said.getvalue().splitlines() if ln.startswith("arena (batch 1)")), "")
        qm = load_quantized(path)
        m = from_quantized(qm)
        xte, yte = load_data("fashion-mnist:test")
        xt, yt = input_array(qm.graph, xte[:n_test]), yte[:n_test]
        ref = predict(qm.graph, xt, act=fixed_act_quantizers(qm.info)).argmax(1)
        got = run_int8_batched(m, xt).reshape(len(xt), -1).argmax(1)
        c_note = "C runtime: "
        try:
            from nnb.backends.c import CNet
            from nnb.emit.convert import convert_int8

            net = CNet(convert_int8(m).image)
            cp = net.run_batch([xt])[0].reshape(len(xt), -1).argmax(1)
            c_note += (f"{int((cp == ref).sum())}/{len(xt)} identical to the reference, "
                       f"top-1 {100.0 * float((cp == yt).mean()):.2f} %")
        except Exception as e:  # noqa: BLE001 - the C column reports why it is missing
            c_note += f"not run ({type(e).__name__}: {str(e)[:120]})"
        bits = {k: int(a["bits"]) for k, a in qm.info["activations"].items()}
        fig = arena_figures(m, bits)
    print(f"\n## fmnist_{arch} DQ {' '.join(DQ_ARGS[arch])} ({n_train} training images, 1 epoch), deployed as int8 "
          f"({time.perf_counter() - t0:.0f} s)\n")
    print(f"activation bits: {', '.join(str(b) for b in bits.values())}; integer steps: "
          f"{', '.join(s.node.op for s in m.steps if s.kind == 'int')}; float islands: {', '.join(m.islands())}")
    acc = {k: 100.0 * float((v == yt).mean()) for k, v in (("ref", ref), ("int", got))}
    print(f"test {len(xt)}: reference (fake-quantized float) top-1 {acc['ref']:.2f} %, intsim {acc['int']:.2f} %, "
          f"identical predictions {int((ref == got).sum())}/{len(xt)}; {c_note}")
    print(f"arena (batch 1): {fig['packed']} B at the activations' widths, {fig['int8']} B as int8, "
          f"{fig['float']} B float")
    print(f"`nnb quantize` printed: {arena_line or '(no arena line)'}")
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calib", type=int, default=500)
    ap.add_argument("--test", type=int, default=10000)
    ap.add_argument("--models", default="lenet,dscnn")
    ap.add_argument("--check", type=int, default=1000,
                    help="test images on which the C runtime is compared with the integer simulation")
    ap.add_argument("--dq", action="store_true", help="only the DQ --act-budget deployment check")
    ap.add_argument("--dq-train", type=int, default=2000, help="DQ: training images (one epoch)")
    args = ap.parse_args()
    if args.dq:
        for arch in args.models.split(","):
            bench_dq(arch, args.dq_train, args.calib, args.test)
        return
    so, runtime = None, False
    try:
        from int8_harness import build, compiler

        if compiler() is not None:
            from nnb.backends.c import build_library

            build_library()
            runtime = True
            so = build(tempfile.mkdtemp(prefix="nnb_int8_"), dsp=False)
    except Exception as e:  # noqa: BLE001 - without a compiler the figures are the simulation's, said so
        print(f"(C runtime / int8 kernels not built: {e})")
    for arch in args.models.split(","):
        bench(arch, args.calib, args.test, so, runtime, args.check)


if __name__ == "__main__":
    main()
