"""OpenCL backend vs the C runtime (one thread) and the numpy reference, in the same run.

For each model: latency at batch 1 and throughput at batch 64 of the OpenCL
backend on the chosen device (PoCL's CPU device by default: every core), the C
runtime (nnb/backends/c.py: one thread, a batch-64 input runs as 64 batch-1
runs of the extended NNB) and the numpy reference executor; the ratio
OpenCL / C of the batch-64 throughput; and the convolution layers' speed on
OpenCL in GFLOP/s (2 x MACs / time of every launch of the convolution nodes,
their input padding and im2col copies included, timed one launch at a time).
The implementations are timed in turns (rounds, each running every one once;
a batch-64 throughput sample of OpenCL and C is the mean of 3 batches run back
to back, as ``nnb eval`` runs them, so that it does not time an idle device's
wake-up after the reference's long run);
times are the best of the rounds and ratios are medians of per-round ratios, so
a change of load on a shared machine hits both sides alike.  Every OpenCL
output is checked against the C runtime's first.  The reference's BLAS runs on
one thread (its idle threads would spin on the cores the OpenCL device uses).

``--forms`` picks the kernel forms ($NNB_OCL_FORMS: auto = the device's default, cpu = the CPU forms, local =
the local-memory tiled forms of convolution and affine); with several (``--forms cpu,local``) a second table gives
the convolution layers' GFLOP/s at batch 64 in each form, each run checked against the C runtime first.

With ``--agreement A.nnb,B.nnb`` (e.g. the demo's out/demo/lenet_lutq4.nnb and
lenet_dq.nnb) it instead compares the OpenCL backend's predictions with the C
runtime's on the 10,000 Fashion-MNIST test images (Debian's
dataset-fashion-mnist) and prints how many are identical.

usage: python benchmarks/opencl.py [--models resnet8,dscnn] [--rounds 7] [--stream 12] [--device N] [--tune]
                                   [--forms auto|cpu|local[,...]] [--json rows.json]
       python benchmarks/opencl.py --profile [--models resnet8,dscnn]
       python benchmarks/opencl.py --agreement out/demo/lenet_lutq4.nnb,out/demo/lenet_dq.nnb
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the reference's BLAS threads spin after a call, on the cores
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the OpenCL device shares: one thread, before numpy loads

import numpy as np  # noqa: E402

from nnb.backends.c import CNet
from nnb.backends.opencl import OpenCLNet, model_graph, rebatch
from nnb.backends.opencl_device import open_device
from nnb.emit.convert import convert
from nnb.executor import run as run_reference
from nnb.nnp.reader import load

ZOO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "fixtures", "zoo")
BATCH = 64
STREAM = 12  # batch-64 runs timed back to back for a throughput figure (OpenCL and C alike): sustained
# throughput; with 3 the first batches after the reference's long run mostly time PoCL's workers waking up
CONV_KERNELS = ("conv", "dwconv", "deconv", "local_conv", "dw3_pw")  # name prefixes of the convolution kernels
FORMS = ("auto", "cpu", "local")  # $NNB_OCL_FORMS: the device's default, the CPU forms, the local-memory forms


def _inputs(name: str, batch: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    xs = []
    k = 0
    while os.path.exists(os.path.join(ZOO, f"{name}.in{k}.npy")):
        x = np.load(os.path.join(ZOO, f"{name}.in{k}.npy")).astype(np.float32)
        reps = np.repeat(x, batch, axis=0)
        xs.append(reps + np.float32(0.05) * rng.standard_normal(reps.shape).astype(np.float32))
        k += 1
    return xs


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_model(name: str, rounds: int, device_index: int | None, tune: bool | None = None,
                stream: int = STREAM) -> dict:
    path = os.path.join(ZOO, f"{name}.nnp")
    g = load(path)
    dev = open_device(device_index)
    cnet = CNet(convert(g, mode="extended").image)
    og = model_graph(path, g)
    x1, x64 = _inputs(name, 1), _inputs(name, BATCH)
    o1 = OpenCLNet(rebatch(og, 1), device=dev, tune=tune)
    o64 = OpenCLNet(rebatch(og, BATCH), device=dev, tune=tune)
    g64 = rebatch(g, BATCH)
    want = cnet.run_batch(x64)
    got = o64.run(x64)
    err = max(float(np.abs(a.reshape(b.shape) - b).max()) for a, b in zip(got, want))
    impls = {
        "opencl_1": lambda: o1.run(x1), "c_1": lambda: cnet.run(x1), "ref_1": lambda: run_reference(g, x1),
        "opencl_64": lambda: o64.run(x64), "c_64": lambda: cnet.run_batch(x64),
        "ref_64": lambda: run_reference(g64, x64),
    }
    # batches back to back (as nnb eval runs them): throughput, not the wake-up of an idle device after the
    # reference's long run; the numpy reference's batch takes long enough once
    runs = {"opencl_64": stream, "c_64": stream}
    for fn in impls.values():  # warm up (first enqueues compile work-group functions on PoCL)
        fn()
    times: dict[str, list[float]] = {k: [] for k in impls}
    for _ in range(rounds):
        for k, fn in impls.items():
            n = runs.get(k, 1)
            times[k].append(_timed(lambda fn=fn, n=n: [fn() for _ in range(n)]) / n)
    best = {k: min(v) for k, v in times.items()}
    ratio = statistics.median(c / o for c, o in zip(times["c_64"], times["opencl_64"]))
    return {
        "model": name, "device": dev.name, "max_abs_diff_vs_c": err,
        "latency_ms": {k[:-2]: 1e3 * best[k] for k in ("opencl_1", "c_1", "ref_1")},
        "throughput_per_s": {k[:-3]: BATCH / best[k] for k in ("opencl_64", "c_64", "ref_64")},
        "opencl_over_c_batch64": ratio,
        "conv_gflops": conv_gflops(o64, x64)[0],
        "launches": len(o64.layout.launches),
    }


def conv_gflops(net: OpenCLNet, xs: list[np.ndarray]) -> tuple[float, list[str]]:
    """(GFLOP/s of the convolution layers, their kernels): 2 x MACs / the time of every launch of a convolution
    node (its padding and im2col copies too), launches timed one at a time (best of 3)."""
    conv_s = conv_macs = 0.0
    prof = net.profile(xs, repeat=3)
    conv_nodes = {node for node, kernel, macs, _s in prof if macs and kernel.startswith(CONV_KERNELS)}
    kernels = sorted({kernel for node, kernel, macs, _s in prof if macs and node in conv_nodes})
    for node, _kernel, macs, s in prof:
        if node in conv_nodes:
            conv_s += s
            conv_macs += macs
    return (2 * conv_macs / conv_s / 1e9 if conv_s else 0.0), kernels


def forms_table(names: list[str], forms: list[str], device_index: int | None, tune: bool | None) -> None:
    """Convolution GFLOP/s at batch 64 per kernel form ($NNB_OCL_FORMS), each checked against the C runtime."""
    dev = open_device(device_index)
    print(f"\nconvolution layers, batch {BATCH}, GFLOP/s per form (device: {dev.name}; local forms tuned per "
          f"layer shape unless NNB_OPENCL_TUNE=0)")
    print(f"{'model':12s} " + " ".join(f"{f:>10s}" for f in forms) + "  kernels")
    for name in names:
        path = os.path.join(ZOO, f"{name}.nnp")
        g = load(path)
        x64 = _inputs(name, BATCH)
        want = CNet(convert(g, mode="extended").image).run_batch(x64)
        cells, used = [], []
        for form in forms:
            os.environ["NNB_OCL_FORMS"] = form
            net = OpenCLNet(rebatch(model_graph(path, g), BATCH), device=dev, tune=tune)
            got = net.run(x64)
            err = max(float(np.abs(a.reshape(b.shape) - b).max() / max(1.0, np.abs(b).max()))
                      for a, b in zip(got, want))
            if err > 1e-4:
                raise SystemExit(f"{name} with NNB_OCL_FORMS={form}: relative error {err:.2g} vs the C runtime")
            gf, kernels = conv_gflops(net, x64)
            cells.append(gf)
            used.append(f"{form}: {','.join(kernels)}")
        print(f"{name:12s} " + " ".join(f"{v:10.2f}" for v in cells) + "  " + "; ".join(used))


def agreement(paths: list[str], device_index: int | None) -> None:
    from nnb.backends.opencl import predict_graph
    from nnb.datasets import fashion_mnist
    from nnb.model import load_model

    x, y = fashion_mnist("test")
    x = (x.astype(np.float32) / np.float32(255)).reshape(len(x), 1, 28, 28)
    for path in paths:
        g = load_model(path)
        with open(path, "rb") as f:
            image = f.read()
        t = time.perf_counter()
        want = CNet(image).run_batch([x])[0].reshape(len(x), -1)
        tc = time.perf_counter() - t
        t = time.perf_counter()
        got = predict_graph(model_graph(path, g), x, BATCH, device_index)
        to = time.perf_counter() - t
        same = int((got.argmax(axis=1) == want.argmax(axis=1)).sum())
        print(f"{os.path.basename(path)}: {same}/{len(x)} predictions identical to the C runtime's "
              f"(max |diff| {float(np.abs(got - want).max()):.2g}; accuracy OpenCL {(got.argmax(1) == y).mean():.2%}, "
              f"C {(want.argmax(1) == y).mean():.2%}; {tc:.1f} s C, {to:.1f} s OpenCL incl. planning)")


def profile_model(name: str, device_index: int | None, repeat: int = 5) -> None:
    """Per-launch device times of one batch-64 run from a profiling-enabled queue (the best of ``repeat`` runs):
    the idle gap before each launch, its run time and GFLOP/s, and what the host enqueues per batch."""
    import pyopencl as cl

    path = os.path.join(ZOO, f"{name}.nnp")
    dev = open_device(device_index)
    net = OpenCLNet(rebatch(model_graph(path, load(path)), BATCH), device=dev)
    x = _inputs(name, BATCH)
    net.run(x)
    q = cl.CommandQueue(dev.ctx, dev.dev, properties=cl.command_queue_properties.PROFILING_ENABLE)
    best: tuple[float, list, float] | None = None
    for _ in range(repeat):
        t = time.perf_counter()
        evs = [cl.enqueue_nd_range_kernel(q, k, g, loc) for k, g, loc in net._kernels]
        host = time.perf_counter() - t
        q.finish()
        span = 1e-9 * (evs[-1].profile.end - evs[0].profile.start)
        if best is None or span < best[0]:
            best = (span, evs, host)
    assert best is not None
    span, evs, host = best
    parts = BATCH // net.chunk if net.chunk else 1
    print(f"{name}: batch {BATCH} as {parts} chunk(s) of {BATCH // parts}; per chunk {len(evs)} launches, "
          f"device span {1e3 * span:.2f} ms, host enqueue {1e3 * host:.2f} ms; per batch {parts * len(evs)} "
          f"launches + {parts * (len(net.inputs) + len(net.outputs))} buffer copies")
    prev = evs[0].profile.start
    for ln, e in zip(net.layout.launches, evs):
        run_s = 1e-9 * (e.profile.end - e.profile.start)
        gf = f"{2 * ln.macs / run_s / 1e9:7.1f}" if ln.macs else "      -"
        print(f"  {ln.node[:30]:30s} {ln.kernel:20s} {ln.n:7d} items  gap {1e3 * 1e-9 * (e.profile.start - prev):6.3f}"
              f"  run {1e3 * run_s:6.3f} ms  {gf} GFLOP/s")
        prev = e.profile.end


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet8,dscnn,lenet,unet_tiny,autoencoder")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--device", type=int, default=None)
    ap.add_argument("--json", help="also write the rows as JSON")
    ap.add_argument("--stream", type=int, default=STREAM,
                    help="batch-64 runs timed back to back per throughput sample (OpenCL and C alike)")
    ap.add_argument("--tune", action="store_true", help="tune work-group sizes first (kept in the device's cache)")
    ap.add_argument("--forms", default="auto",
                    help="kernel forms, comma-separated from auto,cpu,local ($NNB_OCL_FORMS): the first for the "
                         "main table; with several, a table of convolution GFLOP/s per form follows")
    ap.add_argument("--agreement", help="comma-separated .nnb files: OpenCL vs C runtime predictions on 10k images")
    ap.add_argument("--profile", action="store_true", help="per-launch device times of a batch-64 run instead")
    args = ap.parse_args()
    forms = args.forms.split(",")
    if any(f not in FORMS for f in forms):
        raise SystemExit(f"--forms: choose from {', '.join(FORMS)}")
    os.environ["NNB_OCL_FORMS"] = forms[0]
    if args.profile:
        for name in args.models.split(","):
            profile_model(name, args.device)
        return
    if args.agreement:
        agreement(args.agreement.split(","), args.device)
        return
    tune = True if args.tune else None
    rows = []
    print(f"{'model':12s} {'latency ms (batch 1)':>32s} {'throughput /s (batch 64)':>34s} {'OCL/C':>6s} "
          f"{'conv GFLOP/s':>12s}")
    print(f"{'':12s} {'opencl':>10s} {'c':>10s} {'ref':>10s} {'opencl':>11s} {'c':>11s} {'ref':>10s}")
    for name in args.models.split(","):
        r = bench_model(name, args.rounds, args.device, tune, args.stream)
        rows.append(r)
        lat, thr = r["latency_ms"], r["throughput_per_s"]
        print(f"{name:12s} {lat['opencl']:10.2f} {lat['c']:10.2f} {lat['ref']:10.2f} {thr['opencl']:11.0f} "
              f"{thr['c']:11.0f} {thr['ref']:10.0f} {r['opencl_over_c_batch64']:6.2f} {r['conv_gflops']:12.2f}")
    print(f"device: {rows[0]['device'] if rows else '-'}; C runtime: one thread; OCL/C: median of per-round "
          f"batch-64 throughput ratios ({args.stream} batches back to back per sample); outputs checked against the "
          f"C runtime (max abs diff "
          f"{max((r['max_abs_diff_vs_c'] for r in rows), default=0):.2g})")
    if len(forms) > 1:
        forms_table(args.models.split(","), forms, args.device, tune)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
