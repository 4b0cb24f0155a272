"""C runtime vs its own plain reference kernels, the numpy reference and onnxruntime.

For every zoo model: NNB written by nnb (extended when the C runtime takes it,
else compatible), run through the C runtime in four builds -- the default
`make` (on x86-64 its convolution kernels are chosen at run time for the CPU:
SSE2, AVX2+FMA or AVX-512, as onnxruntime's MLAS does), `make PORTABLE=1` (the
SSE2 baseline only), `make NATIVE=1` (-march=native) and, as the naive
direct-loop baseline, the plain reference kernels (`make REF=1`) -- the numpy
reference executor, and onnxruntime with one thread on NAME.onnx.  Also the
memory: nnb's arena vs every tensor its own buffer and vs the upstream plan,
and what the C runtime asks the caller for in all (nnbrt_arena_size: that
arena + kernel scratch + its tables), in the default build and with the
microcontroller scratch settings (`make SMALL=1`, as `make cortex-m4`).
The implementations are timed in turns (five rounds, each running every one
for a fifth of its budget); times are medians over all calls, and every ratio
is the median over rounds of the two medians of the same round, so a change of
load on this noisy machine hits both sides of a ratio alike.

With --layers, also each function's time in the default build (`nnbrt run -p`: the mean over --repeat
runs of that function alone, the lowest of five such measurements), its MACs and GMAC/s, against the
core's FMA peak (--peak GMAC/s; 2 x 16 FMA lanes x 2.8 GHz = 89.6 on this machine's AVX-512 Xeon).

usage: python benchmarks/c_runtime.py [--models lenet,dscnn] [--seconds 0.5] [--json rows.json]
                                      [--layers] [--repeat 2000] [--peak 89.6]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time

import numpy as np

from nnb.backends.c import C_RUNTIME, CNet, build_library, kernel_isa
from nnb.emit.convert import convert
from nnb.emit.nnb import compat_plan
from nnb.errors import NnbError
from nnb.executor import run
from nnb.inspect import model_stats
from nnb.nnp.reader import load
from nnb.plan.arena import plan_arena

ZOO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "fixtures", "zoo")


def interleaved(fns: dict, seconds: float, rounds: int = 5, unit: float = 1e3) -> tuple[dict, dict]:
    """Time several callables in turns (round r runs each for seconds/rounds), so a change of
    machine load hits all of them alike. Returns the median time of each over all its calls and
    its median time in each round (for per-round ratios), in ms (unit 1e3; 1e6: us).
    Used by the other benchmarks (emit_c, imported, onnx_classic, int8_host)."""
    for fn in fns.values():
        fn()
    calls: dict = {k: [] for k in fns}
    per_round: dict = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            times = []
            end = time.perf_counter() + seconds / rounds
            while time.perf_counter() < end or len(times) < 3:
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            calls[k] += times
            per_round[k].append(statistics.median(times) * unit)
    return {k: statistics.median(v) * unit for k, v in calls.items()}, per_round


def round_ratio(per_round: dict, a: str, b: str) -> float | None:
    """Median over rounds of a's time / b's time in the same round."""
    if a not in per_round or b not in per_round:
        return None
    return statistics.median(x / y for x, y in zip(per_round[a], per_round[b]))


def _have_ort() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def ort_session(path: str):  # noqa: ANN201
    if not _have_ort():
        return None
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def bench(name: str, m: dict, seconds: float) -> dict:
    g = load(os.path.join(ZOO, name + ".nnp"))
    ins = [np.load(os.path.join(ZOO, f"{name}.in{k}.npy")) for k in range(len(m["inputs"]))]
    refs = [np.load(os.path.join(ZOO, f"{name}.out{k}.npy")) for k in range(len(m["outputs"]))]
    row: dict = {"model": name}
    mode = "extended"
    try:
        conv = convert(g, "extended")
        net = CNet(conv.image)
    except NnbError:
        mode = "compat"
        conv = convert(g, "compat")
        net = CNet(conv.image)
    row["mode"] = mode
    outs = net.run(ins)
    row["max_err"] = max(float(np.abs(o - r).max()) / max(1.0, float(np.abs(r).max())) for o, r in zip(outs, refs))
    native = CNet(conv.image, variant="NATIVE")
    portable = CNet(conv.image, variant="PORTABLE")
    naive = CNet(conv.image, variant="REF")
    fns = {"c_ms": lambda: net.run(ins), "portable_ms": lambda: portable.run(ins),
           "native_ms": lambda: native.run(ins), "naive_ms": lambda: naive.run(ins), "numpy_ms": lambda: run(g, ins)}
    sess = ort_session(os.path.join(ZOO, name + ".onnx")) if m.get("onnx") else None
    if sess is not None:
        feed = {i.name: x for i, x in zip(sess.get_inputs(), ins)}
        fns["ort_ms"] = lambda: sess.run(None, feed)
    med, per_round = interleaved(fns, seconds * len(fns))
    row.update(med)
    row["c_ort"] = round_ratio(per_round, "c_ms", "ort_ms")
    row["native_ort"] = round_ratio(per_round, "native_ms", "ort_ms")
    row["portable_ort"] = round_ratio(per_round, "portable_ms", "ort_ms")
    row["naive_c"] = round_ratio(per_round, "naive_ms", "c_ms")
    plain = plan_arena(g)
    row["arena"] = conv.arena.arena_bytes if conv.arena else None
    row["lower_bound"] = plain.lower_bound
    row["no_reuse"] = plain.no_reuse_bytes
    row["upstream_buffers"] = sum(compat_plan(g).buffer_sizes)
    row["runtime_arena"] = net.arena_bytes
    row["runtime_arena_small"] = CNet(conv.image, variant="SMALL").arena_bytes
    return row


def layer_times(name: str, repeat: int, peak: float) -> None:
    """Print each function's time in the default C build (`nnbrt run -p`), its MACs and GMAC/s."""
    g = load(os.path.join(ZOO, name + ".nnp"))
    try:
        conv = convert(g, "extended")
    except NnbError:
        conv = convert(g, "compat")
    build_library()
    nnbrt = os.path.join(C_RUNTIME, "build", "nnbrt")
    with tempfile.TemporaryDirectory() as d:
        model = os.path.join(d, "m.nnb")
        with open(model, "wb") as f:
            f.write(conv.image)
        files = []
        for k in range(len(g.inputs)):
            files.append(os.path.join(d, f"x{k}.bin"))
            np.load(os.path.join(ZOO, f"{name}.in{k}.npy")).astype("<f4").tofile(files[-1])
        ms: list[float] = []
        for _ in range(5):  # the minimum of five runs of `repeat` calls per function (a loaded machine)
            r = subprocess.run([nnbrt, "run", model, *files, "-o", os.path.join(d, "y"), "-t",
                                str(repeat // 5 + 1), "-p"], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"  nnbrt run -p failed: {r.stderr.strip()}")
                return
            t = [float(m.group(1)) for m in re.finditer(r"^\s+#\d+\s+\S+\s+([0-9.]+) ms$", r.stderr, re.M)]
            ms = t if not ms else [min(a, b) for a, b in zip(ms, t)]
    layers = model_stats(conv.graph).layers
    print(f"\n{name}: per function, default build ({kernel_isa()}), peak {peak:.1f} GMAC/s")
    print(f"  {'#':>3} {'op':22} {'output':18} {'MACs':>9} {'C us':>8} {'GMAC/s':>7} {'% peak':>6}")
    for i, (ly, t) in enumerate(zip(layers, ms)):
        gm = ly.macs / (t * 1e6) if t > 0 and ly.macs else float("nan")
        print(f"  {i:3d} {ly.op:22} {str(ly.output_shape):18} {ly.macs:9,d} {t * 1e3:8.2f} {gm:7.1f} "
              f"{100 * gm / peak:6.0f}")
    print(f"  {'':3} {'sum':22} {'':18} {sum(ly.macs for ly in layers):9,d} {sum(ms) * 1e3:8.2f}")


def fmt(v, spec: str = ".3f") -> str:  # noqa: ANN001
    return "—" if v is None else format(v, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", help="comma-separated zoo models (default: all)")
    ap.add_argument("--seconds", type=float, default=0.5, help="timing budget per measurement")
    ap.add_argument("--json", help="also write the rows as JSON here")
    ap.add_argument("--layers", action="store_true", help="also per-function C times, MACs and GMAC/s")
    ap.add_argument("--repeat", type=int, default=2000, help="runs per function with --layers")
    ap.add_argument("--peak", type=float, default=89.6, help="the core's FMA peak in GMAC/s (--layers)")
    args = ap.parse_args()
    with open(os.path.join(ZOO, "manifest.json")) as f:
        models = json.load(f)["models"]
    names = args.models.split(",") if args.models else sorted(models)
    if not _have_ort():
        print("note: onnxruntime is not installed, so the ORT columns stay empty "
              "(pip install -e '.[bench]' installs it)")
    rows = [bench(n, models[n], args.seconds) for n in names]
    print(f"C runtime builds: default = make ({kernel_isa()}), SSE2 = make PORTABLE=1 ({kernel_isa('PORTABLE')}), "
          f"native = make NATIVE=1 ({kernel_isa('NATIVE')}), naive = make REF=1 (plain loops)\n")
    print("| model | NNB | C ms (default) | C ms (SSE2) | C ms (native) | naive C ms | naive / C | numpy ms | "
          "ORT 1-thread ms | C / ORT | SSE2 / ORT | native / ORT | arena B | lower bound B | no reuse B | "
          "upstream buffers B | runtime arena B (default / SMALL) | max rel err |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ort = r.get("ort_ms")
        print(f"| {r['model']} | {r['mode']} | {fmt(r['c_ms'])} | {fmt(r['portable_ms'])} | {fmt(r['native_ms'])} | "
              f"{fmt(r['naive_ms'])} | {r['naive_c']:.1f}x | {fmt(r['numpy_ms'])} | {fmt(ort)} | "
              f"{fmt(r['c_ort'], '.2f')} | {fmt(r['portable_ort'], '.2f')} | {fmt(r['native_ort'], '.2f')} | "
              f"{fmt(r['arena'], ',')} | {r['lower_bound']:,} | {r['no_reuse']:,} | "
              f"{r['upstream_buffers']:,} | {r['runtime_arena']:,} / {r['runtime_arena_small']:,} | "
              f"{r['max_err']:.1e} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    if args.layers:
        for n in names:
            layer_times(n, args.repeat, args.peak)


if __name__ == "__main__":
    main()
