"""Classic ImageNet architectures at full size, read from ONNX: nnb's C runtime vs onnxruntime.

Each network of benchmarks/onnx_nets.py (random weights, 224x224 unless
--size) is written as .onnx, read by nnb/onnx, converted to an extended NNB
and run by the C runtime (default build); onnxruntime runs the same file with
one thread.  Printed per network: parameters, MACs, planned arena, ONNX read +
conversion time, C and onnxruntime latency (timed in turns, as
benchmarks/c_runtime.py does), C/onnxruntime (median of per-round ratios) and
the largest output difference relative to max(1, max|ort|).

usage: python benchmarks/onnx_classic.py [--models resnet18,squeezenet1.1] [--size 224] [--seconds 2]
       [NNBRT_ISA=avx2] python benchmarks/onnx_classic.py --layers [--models resnet18] [--runs 10]
AlexNet and VGG hold 61-138 M parameters (0.25-0.55 GB of float32): ask for them by name.

--layers: instead of the comparison, each network's per-function table in the C runtime's default
build (nnbrt_run_range per function, thread CPU time, minimum over --runs passes of --repeat runs):
function, MACs (nnb inspect's count of the written graph), ms, GMAC/s and its share of the core's FMA
peak (--peak, default: nominal GHz from /proc/cpuinfo x 2 FMA units x the kernels' float lanes: 16 for
AVX-512, 8 for AVX2, 4 for SSE2), and the kernels' ISA (NNBRT_ISA=avx2 or base in the environment forces a
narrower one of the run-time dispatch). NNBRT_PACK=0 turns the weights packed at load off.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_nets import NETS, build  # noqa: E402

from c_runtime import interleaved, ort_session, round_ratio  # noqa: E402
from nnb.backends.c import CNet, build_library, kernel_isa  # noqa: E402
from nnb.emit.convert import convert  # noqa: E402
from nnb.inspect import model_stats  # noqa: E402
from nnb.onnx import load_onnx  # noqa: E402

DEFAULT = ("squeezenet1.1", "shufflenet_v2", "resnet18", "googlenet", "densenet121", "resnet50")


def fma_peak(isa: str) -> float:
    """Multiply-adds per second (G) of one core: nominal GHz (the "@ x.xxGHz" of /proc/cpuinfo's model name,
    else its "cpu MHz") x 2 FMA units x float lanes of the kernels' instruction set; 0 if unknown."""
    import re

    ghz = 0.0
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        m = re.search(r"model name.*@\s*([0-9.]+)\s*GHz", text)
        mhz = re.search(r"cpu MHz\s*:\s*([0-9.]+)", text)
        ghz = float(m.group(1)) if m else float(mhz.group(1)) / 1000 if mhz else 0.0
    except OSError:
        pass
    lanes = 16 if "avx512" in isa else 8 if "avx2" in isa else 4
    return ghz * 2 * lanes


def layer_table(name: str, path: str, runs: int, repeat: int, peak: float) -> None:
    """Per-function ms and GMAC/s of one network in the default build: nnbrt_run_range per function,
    thread CPU time (other processes on a loaded machine do not count), minimum over the passes."""
    from cffi import FFI

    g = load_onnx(path)
    conv = convert(g, "extended")
    net = CNet(conv.image)
    net.run([np.random.default_rng(0).standard_normal(g.tensors[g.inputs[0]].shape).astype(np.float32)])
    ffi = FFI()
    ffi.cdef("typedef struct nnbrt_net nnbrt_net; int nnbrt_run_range(nnbrt_net *net, int first, int last);")
    lib = ffi.dlopen(build_library())
    handle = ffi.cast("nnbrt_net *", int(net._ffi.cast("uintptr_t", net._net)))
    layers = model_stats(conv.graph).layers
    best = [float("inf")] * len(layers)
    for _ in range(runs):
        for k in range(len(layers)):
            t = time.thread_time()
            for _ in range(repeat):
                if lib.nnbrt_run_range(handle, k, k + 1) != 0:
                    raise SystemExit(f"{name}: function {k} failed")
            best[k] = min(best[k], (time.thread_time() - t) * 1e3 / repeat)
    isa = kernel_isa()
    peak = peak or fma_peak(isa)
    print(f"{name}: kernels {isa}; thread CPU time, min of {runs} passes x {repeat} runs; "
          f"FMA peak {peak:.1f} GMAC/s")
    print(f"{'#':>3} {'function':22} {'output':>18} {'MMACs':>8} {'ms':>8} {'GMAC/s':>7} {'peak':>5}")

    def share(rate: float) -> str:
        return f"{100 * rate / peak:4.0f}%" if peak else ""

    for k, ly in enumerate(layers):
        rate = ly.macs / best[k] / 1e6
        col = f"{rate:7.1f} {share(rate):>5}" if ly.macs else ""
        print(f"{k:3d} {ly.op:22} {str(ly.output_shape):>18} {ly.macs / 1e6:8.1f} {best[k]:8.3f} {col}")
    macs, ms = sum(ly.macs for ly in layers), sum(best)
    print(f"    {'all':22} {'':>18} {macs / 1e6:8.1f} {ms:8.3f} {macs / ms / 1e6:7.1f} {share(macs / ms / 1e6):>5}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(DEFAULT), help=f"comma-separated, from {', '.join(NETS)}")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seconds", type=float, default=2.0, help="timing budget per implementation")
    ap.add_argument("--layers", action="store_true", help="per-function table of the C runtime instead")
    ap.add_argument("--runs", type=int, default=5, help="--layers: passes (the minimum is kept)")
    ap.add_argument("--repeat", type=int, default=3, help="--layers: runs per pass")
    ap.add_argument("--peak", type=float, default=0.0,
                    help="--layers: the core's FMA peak in GMAC/s (default: from /proc/cpuinfo and the ISA)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nnb-classic-")
    if args.layers:
        for name in (args.models if args.models != ",".join(DEFAULT) else "resnet18").split(","):
            path = os.path.join(tmp, name + ".onnx")
            with open(path, "wb") as f:
                f.write(build(name, size=args.size, logits=True))
            layer_table(name, path, args.runs, args.repeat, args.peak)
        return
    print(f"{'network':14} {'params':>11} {'MMACs':>8} {'arena KB':>9} {'read+conv s':>11} {'C ms':>8} "
          f"{'ORT ms':>8} {'C/ORT':>6}  max err")
    for name in args.models.split(","):
        path = os.path.join(tmp, name + ".onnx")
        with open(path, "wb") as f:
            f.write(build(name, size=args.size, logits=True))
        t0 = time.perf_counter()
        g = load_onnx(path)
        conv = convert(g, "extended")
        t_read = time.perf_counter() - t0
        net = CNet(conv.image)
        sess = ort_session(path)
        x = np.random.default_rng(0).standard_normal(g.tensors[g.inputs[0]].shape).astype(np.float32)
        ref = sess.run(None, {g.inputs[0]: x})[0]
        err = float(np.abs(net.run([x])[0] - ref).max()) / max(1.0, float(np.abs(ref).max()))
        med, per_round = interleaved({"c": lambda net=net, x=x: net.run([x]),
                                      "ort": lambda s=sess, f={g.inputs[0]: x}: s.run(None, f)}, 2 * args.seconds)
        st = model_stats(g)
        print(f"{name:14} {st.params:11,d} {st.macs / 1e6:8.1f} {conv.buffer_bytes / 1024:9.0f} "
              f"{t_read:11.1f} {med['c']:8.2f} {med['ort']:8.2f} {round_ratio(per_round, 'c', 'ort'):6.2f}  {err:.2g}")
        os.remove(path)


if __name__ == "__main__":
    main()
