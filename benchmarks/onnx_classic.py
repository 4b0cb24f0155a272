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
       python benchmarks/onnx_classic.py --vs-ort-layers [--models resnet18] [--runs 5] [--repeat 3]
AlexNet and VGG hold 61-138 M parameters (0.25-0.55 GB of float32): ask for them by name.

--layers: instead of the comparison, each network's per-function table in the C runtime's default
build (nnbrt_run_range per function, thread CPU time, minimum over --runs passes of --repeat runs):
function, MACs (nnb inspect's count of the written graph), ms, GMAC/s and its share of the core's FMA
peak (--peak, default: nominal GHz from /proc/cpuinfo x 2 FMA units x the kernels' float lanes: 16 for
AVX-512, 8 for AVX2, 4 for SSE2), and the kernels' ISA (NNBRT_ISA=avx2 or base in the environment forces a
narrower one of the run-time dispatch). NNBRT_PACK=0 turns the weights packed at load off.

--vs-ort-layers: the same C times beside onnxruntime's (one thread, SessionOptions.enable_profiling: each
node's kernel time, minimum over the runs), a pass over the C functions and --repeat onnxruntime runs in
turns; a row pairs a C function with the onnxruntime node writing the same tensor (onnxruntime's fused
Conv+Relu / Conv+Sum+Relu against our FusedConv; its reorder and flatten nodes get rows of their own).
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


def c_layer_times(path: str, runs: int, repeat: int, between=None) -> tuple:  # noqa: ANN001
    """The converted graph's layers (nnb inspect's) and each function's time in the C runtime's default
    build: nnbrt_run_range per function, thread CPU time (other processes on a loaded machine do not
    count), minimum over `runs` passes of the mean of `repeat` runs. `between()` is called after each
    pass (--vs-ort-layers runs onnxruntime there, so both sides see the same machine state)."""
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
                    raise SystemExit(f"{path}: function {k} failed")
            best[k] = min(best[k], (time.thread_time() - t) * 1e3 / repeat)
        if between:
            between()
    return conv, layers, best


def layer_table(name: str, path: str, runs: int, repeat: int, peak: float) -> None:
    """Per-function ms and GMAC/s of one network in the default build (c_layer_times)."""
    _, layers, best = c_layer_times(path, runs, repeat)
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


def ort_node_times(events: list) -> dict:
    """onnxruntime profile events -> {node name: (op, number of inputs, output shape, minimum ms over the
    runs)}."""
    out: dict = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        name = e["name"][: -len("_kernel_time")]
        args = e.get("args", {})
        ms = e["dur"] / 1e3
        shape = [list(d.values())[0] for d in args.get("output_type_shape", [{}])[:1] if d]
        op, nin, shp, old = out.get(name, (args.get("op_name", "?"), len(args.get("input_type_shape", [])),
                                           shape[0] if shape else None, ms))
        out[name] = (op, nin, shp, min(old, ms))
    return out


def ort_match(node, shape: list, nodes: dict, used: set) -> tuple:  # noqa: ANN001
    """The onnxruntime node computing our node's tensor, how it was found, and a second node it stands for
    (a pooled FusedConv: onnxruntime's conv before the pooling, marked used here): by name (onnxruntime names a
    node it rewrites after the output it writes plus a suffix: relu8 -> relu8_nchwc, gemm171 ->
    gemm171_node), else ("*") the first unused convolution of the same output shape and number of inputs
    (its fused Conv+Add+Relu is named after the conv's output, ours after the ReLU's): in graph order."""
    tensor = node.outputs[0]
    names = list(nodes)
    for i, n in enumerate(names):
        if n not in used and (n == tensor or n.startswith(tensor + "_")):
            if node.op == "FusedConv" and node.attrs.get("pool") and nodes[n][0] in ("MaxPool", "AveragePool"):
                # our conv + pool in one function: onnxruntime's conv node before its pooling node too ("+")
                conv = next((m for m in reversed(names[:i]) if m not in used and nodes[m][0] == "Conv"), None)
                if conv is not None:
                    used.add(conv)
                    return n, "+", conv
            return n, "", None
    if node.op in ("FusedConv", "Convolution"):
        for n, (op, nin, shp, _) in nodes.items():
            if n not in used and op == "Conv" and shp == list(shape) and nin == len(node.inputs):
                return n, "*", None
    return None, "", None


def vs_ort_layers(name: str, path: str, runs: int, repeat: int, peak: float) -> None:
    """Each C function beside the onnxruntime node(s) computing the same tensor, both timed in turns:
    a pass over our functions, then `repeat` profiled onnxruntime runs; minimum over the passes."""
    import json

    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(os.path.dirname(path), "ort_profile")
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: np.random.default_rng(0).standard_normal(
        [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]).astype(np.float32)}
    sess.run(None, feed)

    def ort_pass() -> None:
        for _ in range(repeat):
            sess.run(None, feed)

    conv, layers, best = c_layer_times(path, runs, repeat, ort_pass)
    with open(sess.end_profiling()) as f:
        ort_nodes = ort_node_times(json.load(f))
    os.remove(f.name)
    peak = peak or fma_peak(kernel_isa())
    print(f"{name}: C (kernels {kernel_isa()}, thread CPU time) vs onnxruntime {ort.__version__} (1 thread, "
          f"profiled node time), min of {runs} passes x {repeat} runs each, in turns; FMA peak {peak:.1f} GMAC/s")
    print("  a row is one C function and the onnxruntime node writing the same tensor. C FusedConv = "
          "conv + bias (BN folded) [+ residual] + act; onnxruntime Conv/nchwc fuses the same (its 'in' "
          "column: 4 = with the residual Sum); a pooling or Gemm is the node alone; *: paired by op, output shape "
          "and inputs in graph order (the names differ); +: our conv with its pooling fused, against onnxruntime's "
          "conv node and pooling node (summed)")
    print(f"{'#':>3} {'C function':22} {'output':>18} {'MMACs':>7} {'C ms':>7} {'ORT node':26} {'in':>2} "
          f"{'ORT ms':>7} {'C/ORT':>6} {'C GMAC/s':>8} {'ORT':>6}")
    used: set = set()
    tot_c = tot_o = 0.0
    for k, ly in enumerate(layers):
        m, how, extra = ort_match(conv.graph.nodes[k], ly.output_shape, ort_nodes, used)
        tot_c += best[k]
        if m is None:
            print(f"{k:3d} {ly.op:22} {str(ly.output_shape):>18} {ly.macs / 1e6:7.1f} {best[k]:7.3f} {'-':26}")
            continue
        used.add(m)
        op, nin, _, oms = ort_nodes[m]
        if extra is not None:
            op, oms = f"Conv+{op}", oms + ort_nodes[extra][3]
            m = f"{extra}+{m}"
        tot_o += oms
        rates = (f"{ly.macs / best[k] / 1e6:8.1f} {ly.macs / oms / 1e6:6.1f}" if ly.macs else "")
        print(f"{k:3d} {ly.op:22} {str(ly.output_shape):>18} {ly.macs / 1e6:7.1f} {best[k]:7.3f} "
              f"{(how + op + ' ' + m)[:26]:26} {nin:2d} {oms:7.3f} {best[k] / oms:6.2f} {rates}")
    for m in ort_nodes:
        if m not in used:
            op, nin, _, oms = ort_nodes[m]
            tot_o += oms
            print(f"{'':3} {'-':22} {'':>18} {'':>7} {'':>7} {(op + ' ' + m)[:26]:26} {nin:2d} {oms:7.3f}")
    macs = sum(ly.macs for ly in layers)
    print(f"    {'all (sum of rows)':22} {'':>18} {macs / 1e6:7.1f} {tot_c:7.3f} {'':26} {'':>2} {tot_o:7.3f} "
          f"{tot_c / tot_o:6.2f} {macs / tot_c / 1e6:8.1f} {macs / tot_o / 1e6:6.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(DEFAULT), help=f"comma-separated, from {', '.join(NETS)}")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seconds", type=float, default=2.0, help="timing budget per implementation")
    ap.add_argument("--layers", action="store_true", help="per-function table of the C runtime instead")
    ap.add_argument("--runs", type=int, default=5, help="--layers: passes (the minimum is kept)")
    ap.add_argument("--repeat", type=int, default=3, help="--layers: runs per pass")
    ap.add_argument("--vs-ort-layers", action="store_true",
                    help="per-function C time beside onnxruntime's profiled node time (timed in turns)")
    ap.add_argument("--peak", type=float, default=0.0,
                    help="--layers: the core's FMA peak in GMAC/s (default: from /proc/cpuinfo and the ISA)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nnb-classic-")
    if args.layers or args.vs_ort_layers:
        for name in (args.models if args.models != ",".join(DEFAULT) else "resnet18").split(","):
            path = os.path.join(tmp, name + ".onnx")
            with open(path, "wb") as f:
                f.write(build(name, size=args.size, logits=True))
            (vs_ort_layers if args.vs_ort_layers else layer_table)(name, path, args.runs, args.repeat, args.peak)
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
