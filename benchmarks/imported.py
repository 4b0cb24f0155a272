"""Imported graphs: what canonicalisation buys, and NNP-via-importer vs nnb's own ONNX reader.

For every model in ../shared/fixtures/imported/ (nnabla's ONNX importer's NNP
beside the ONNX file it came from): the extended NNB that nnb writes from
  nnp-raw    the importer's NNP with BN folding and fusion but no canonicalisation
             and no in-place depthwise step (what nnb did before issue 12),
  nnp        the same NNP canonicalised first, in-place depthwise planned (what `nnb convert` does now),
  onnx       the .onnx read by nnb/onnx directly,
run by the C runtime (default build), and onnxruntime with one thread on the
.onnx.  Printed: functions in the NNB, convolutions left unfused with an
activation after them, the planned arena, the C runtime's whole arena with
the microcontroller scratch settings (`make SMALL=1`: plan + kernel scratch +
tables), C latency and C/onnxruntime (median
over rounds of per-round ratios, timed in turns as benchmarks/c_runtime.py
does), and the rewrites that fired.

With --layers: for the canonicalised NNP, each function's time in the C
runtime (`nnbrt run -p`: the mean over repeated runs of that function alone,
the lowest of five such measurements, --repeat calls in all), its MACs and
GMAC/s.

usage: python benchmarks/imported.py [--seconds 0.5] [--models mbv2] [--dir ../shared/fixtures/imported]
                                     [--layers] [--repeat 5000]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from c_runtime import interleaved, ort_session, round_ratio  # noqa: E402
from nnb.backends.c import C_RUNTIME, CNet, build_library  # noqa: E402
from nnb.emit.nnb_write import NnbPlan, write_nnb  # noqa: E402
from nnb.inspect import model_stats  # noqa: E402
from nnb.ir import Graph  # noqa: E402
from nnb.model import load_model  # noqa: E402
from nnb.passes import fired_rewrites, optimize  # noqa: E402
from nnb.plan.arena import plan_arena  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
IMPORTED = os.path.join(HERE, "..", "..", "shared", "fixtures", "imported")


def build(g: Graph, canonical: bool) -> tuple[CNet, Graph, int, int, bytes]:
    """The C net, its graph, the planned arena, the runtime's whole arena with the microcontroller settings
    and the NNB image."""
    g2 = optimize(g, canonical=canonical)
    ap = plan_arena(g2, inplace_dw=canonical)
    image = write_nnb(g2, extended=True, plan=NnbPlan([], {}, arena_bytes=ap.arena_bytes, offsets=ap.offsets))
    return CNet(image), g2, ap.arena_bytes, CNet(image, variant="SMALL").arena_bytes, image


def unfused(g: Graph) -> int:
    """Convolutions whose output goes straight into a separate activation function."""
    readers = {i: n for n in g.nodes for i in n.inputs}
    return sum(1 for n in g.nodes if n.op in ("Convolution", "FusedConv")
               and readers.get(n.outputs[0]) is not None
               and readers[n.outputs[0]].op in ("ReLU", "ReLU6", "MinimumScalar", "MaximumScalar"))


def layer_times(g2: Graph, image: bytes, x: np.ndarray, repeat: int) -> None:
    """Print each function's time in the default C build (`nnbrt run -p`), its MACs and GMAC/s."""
    build_library()
    nnbrt = os.path.join(C_RUNTIME, "build", "nnbrt")
    with tempfile.TemporaryDirectory() as d:
        model, xin = os.path.join(d, "m.nnb"), os.path.join(d, "x.bin")
        with open(model, "wb") as f:
            f.write(image)
        x.astype("<f4").tofile(xin)
        ms: list[float] = []
        for _ in range(5):  # the minimum of five runs of `repeat` calls per function (a loaded machine)
            r = subprocess.run([nnbrt, "run", model, xin, "-o", os.path.join(d, "y"), "-t", str(repeat // 5 + 1),
                                "-p"], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"  nnbrt run -p failed: {r.stderr.strip()}")
                return
            t = [float(m.group(1)) for m in re.finditer(r"^\s+#\d+\s+\S+\s+([0-9.]+) ms$", r.stderr, re.M)]
            ms = t if not ms else [min(a, b) for a, b in zip(ms, t)]
    layers = model_stats(g2).layers
    print(f"  {'#':>3} {'op':22} {'output':18} {'MACs':>9} {'C us':>8} {'GMAC/s':>7}")
    for i, (ly, t) in enumerate(zip(layers, ms)):
        gmacs = ly.macs / (t * 1e6) if t > 0 and ly.macs else float("nan")
        print(f"  {i:3d} {ly.op:22} {str(ly.output_shape):18} {ly.macs:9,d} {t * 1e3:8.2f} {gmacs:7.1f}")
    print(f"  {'':3} {'sum':22} {'':18} {sum(ly.macs for ly in layers):9,d} {sum(ms) * 1e3:8.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=0.5, help="timing budget per implementation")
    ap.add_argument("--models", help="comma-separated model names (default: all in --dir)")
    ap.add_argument("--dir", default=IMPORTED)
    ap.add_argument("--layers", action="store_true", help="per-function C times of the canonicalised NNP")
    ap.add_argument("--repeat", type=int, default=5000, help="runs per function with --layers")
    args = ap.parse_args()
    names = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(args.dir, "*.nnp")))
    if args.models:
        names = [n for n in names if n in args.models.split(",")]
    print(f"{'model':10} {'source':8} {'functions':>9} {'unfused':>7} {'arena B':>9} {'SMALL B':>9} {'C ms':>8} "
          f"{'ORT ms':>8} {'C/ORT':>6}  max err vs ORT")
    for name in names:
        nnp, onnx_path = os.path.join(args.dir, name + ".nnp"), os.path.join(args.dir, name + ".onnx")
        x = np.load(os.path.join(args.dir, name + ".in0.npy")).astype(np.float32)
        sess = ort_session(onnx_path) if os.path.exists(onnx_path) else None
        variants = {"nnp-raw": (load_model(nnp), False), "nnp": (load_model(nnp), True)}
        if os.path.exists(onnx_path):
            variants["onnx"] = (load_model(onnx_path), True)
        built = {k: build(g, c) for k, (g, c) in variants.items()}
        fns = {k: (lambda net=net, x=x: net.run([x])) for k, (net, *_) in built.items()}
        ref = None
        if sess is not None:
            feed = {sess.get_inputs()[0].name: x}
            fns["ort"] = lambda sess=sess, feed=feed: sess.run(None, feed)
            ref = sess.run(None, feed)[0]
        med, per_round = interleaved(fns, args.seconds * len(fns))
        for k, (net, g2, arena, small, _) in built.items():
            err = float(np.abs(net.run([x])[0] - ref).max()) if ref is not None else float("nan")
            ratio = round_ratio(per_round, k, "ort")
            print(f"{name:10} {k:8} {len(g2.nodes):9d} {unfused(g2):7d} {arena:9,d} {small:9,d} {med[k]:8.4f} "
                  f"{med.get('ort', float('nan')):8.4f} {ratio if ratio is not None else float('nan'):6.2f}  {err:.2g}")
        print(f"{'':10} rewrites on the NNP: {'; '.join(fired_rewrites(variants['nnp'][0])) or 'none'}")
        if args.layers:
            layer_times(built["nnp"][1], built["nnp"][4], x, args.repeat)


if __name__ == "__main__":
    main()
