"""Instructions per inference and per MAC on an emulated Cortex-M4F (QEMU mps2-an386), per model and per layer.

For each zoo model with convolutions: the firmware of `nnb build` (C runtime, float, -O2, the model's
kernels only) runs the model once under qemu-system-arm. The whole inference is counted exactly by the
TCG plugin (tools/qemu_plugin/count.c) and by SysTick under -icount shift=0 (1 tick = 40 instructions;
the two are printed side by side), each layer by SysTick around nnbrt_run_range (+-40 instructions).
QEMU counts instructions, not cycles (no pipeline, wait states or flash latency): instructions are a lower
bound on the cycles of a real Cortex-M4. Beside them, MLPerf Tiny's published keyword-spotting (DS-CNN,
int8) latencies on a Cortex-M4 at 120 MHz (NUCLEO-L4R5ZI): X-CUBE-AI 43.2 ms, TFLM 181.9 ms.

The table also gives what each firmware takes: the runtime's arena, flash and RAM from the linker map, and the
stack the runtime used (painted-stack high-water mark below main: nnbrt_init + nnbrt_run, with the SysTick
interrupt's frame).

usage: python benchmarks/mcu.py [--models lenet,dscnn|all] [--board qemu-mps2-an386] [--layers] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
ZOO = os.path.join(ROOT, "..", "shared", "fixtures", "zoo")
CONV_OPS = {"Convolution", "DepthwiseConvolution", "FusedConv", "Deconvolution"}
MLPERF_KWS_M4 = [("MLPerf Tiny KWS, X-CUBE-AI (int8), Cortex-M4 120 MHz", 43.2),
                 ("MLPerf Tiny KWS, TFLM (int8), Cortex-M4 120 MHz", 181.9)]


def zoo_inputs(name: str) -> list[np.ndarray]:
    with open(os.path.join(ZOO, "manifest.json")) as f:
        n = len(json.load(f)["models"][name]["inputs"])
    return [np.load(os.path.join(ZOO, f"{name}.in{k}.npy")) for k in range(n)]


def conv_models() -> list[str]:
    from nnb.model import load_model

    with open(os.path.join(ZOO, "manifest.json")) as f:
        names = sorted(json.load(f)["models"])
    return [n for n in names if CONV_OPS & {nd.op for nd in load_model(os.path.join(ZOO, f"{n}.nnp")).nodes}]


def measure(name: str, board: str) -> dict:
    from nnb.boards.image import model_image
    from nnb.boards.run import run_on_board
    from nnb.emit.nnb import read_nnb
    from nnb.inspect import model_stats

    mi = model_image(os.path.join(ZOO, f"{name}.nnp"))
    stats = model_stats(read_nnb(mi.image))
    outs, rep = run_on_board(mi, board, zoo_inputs(name), profile=True, plugin=True)
    with open(os.path.join(ZOO, "manifest.json")) as f:
        n_out = len(json.load(f)["models"][name]["outputs"])
    refs = [np.load(os.path.join(ZOO, f"{name}.out{k}.npy")) for k in range(n_out)]
    # nnabla's outputs vs the firmware's, relative to the project's tolerance 1e-5 * max(1, max|ref|)
    err = max(float(np.abs(y.astype(np.float64) - r).max()) / max(1.0, float(np.abs(r).max()))
              for y, r in zip(outs.values(), refs))
    layers = []
    for (idx, fid, fname, count), ls in zip(rep.layers, stats.layers):
        layers.append({"index": idx, "function": fname, "id": fid, "macs": ls.macs, "instructions": count})
    return {"model": name, "board": board, "err": err, "macs": stats.macs, "instructions": rep.plugin_run,
            "instructions_systick": rep.run_count, "init_instructions": rep.init_count, "arena": rep.arena,
            "flash": rep.linked.get("flash", 0), "ram": rep.linked.get("ram", 0), "stack": rep.stack_measured,
            "layers": layers}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", help="comma-separated zoo models, or 'all' (default: every zoo model with "
                    "convolutions)")
    ap.add_argument("--board", default="qemu-mps2-an386")
    ap.add_argument("--layers", action="store_true", help="print the per-layer table of every model")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    from nnb.errors import NnbError

    if args.models == "all":
        with open(os.path.join(ZOO, "manifest.json")) as f:
            names = sorted(json.load(f)["models"])
    else:
        names = args.models.split(",") if args.models else conv_models()
    rows = []
    for n in names:
        try:
            rows.append(measure(n, args.board))
        except NnbError as e:
            print(f"{n}: skipped: {e}")
    print(f"C runtime, float32, -O2, on {args.board} (QEMU {rows[0]['board'] if rows else ''}); instructions of one "
          "inference: TCG plugin (exact) and SysTick with -icount shift=0")
    hdr = f"{'model':14s} {'MACs':>11s} {'instructions':>13s} {'(SysTick)':>12s} {'per MAC':>8s} " \
          f"{'ms @120MHz*':>11s} {'arena B':>8s} {'flash B':>8s} {'RAM B':>8s} {'stack B':>7s} {'err**':>8s}"
    print(hdr)
    for r in rows:
        per = r["instructions"] / r["macs"] if r["macs"] else float("nan")
        print(f"{r['model']:14s} {r['macs']:11,d} {r['instructions']:13,d} {r['instructions_systick']:12,d} "
              f"{per:8.2f} {r['instructions'] / 120e3:11.1f} {r['arena']:8d} {r['flash']:8d} {r['ram']:8d} "
              f"{r['stack']:7d} {r['err']:8.1e}")
    for what, ms in MLPERF_KWS_M4:
        print(f"{what}: {ms} ms = {ms * 120e3:,.0f} cycles")
    print("* instructions / 120 MHz: a lower bound (one instruction per cycle, no wait states)")
    print("** max |firmware - nnabla| / max(1, max|nnabla|) over the outputs (the tests' bound: 1e-5)")
    for r in rows if args.layers else []:
        print(f"\n{r['model']}: per layer (SysTick, +-40 instructions)")
        print(f"  {'#':>3s} {'function':24s} {'MACs':>10s} {'instructions':>13s} {'per MAC':>8s}")
        for ly in r["layers"]:
            per = f"{ly['instructions'] / ly['macs']:8.2f}" if ly["macs"] else f"{'-':>8s}"
            print(f"  {ly['index']:3d} {ly['function']:24s} {ly['macs']:10,d} {ly['instructions']:13,d} {per}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
