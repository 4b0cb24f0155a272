"""int8 on OpenCL: the int8 model on the OpenCL device (opencl/q8*.cl, Python host) beside the same int8 NNB in
the C runtime (CPU, one thread) and the float model on the same OpenCL device, in the same run.

For each model: calibrate int8 as tests/int8 does (zoo models: perturbed copies of the fixture input;
fmnist_*: 200 Fashion-MNIST images), then time batch 1 (latency) and batch 64 (throughput; the C runtime runs
its batch-1 file 64 times, as `nnb eval --backend c` does) in interleaved rounds; each figure is the median of
its rounds and each ratio the median over rounds.  The int8 OpenCL outputs are checked equal to the C runtime's
(the integer logits; float islands to 1e-5) before timing.  `--profile` prints each launch's device time.
``lutq_NAME``: the zoo model with k-means LUT-Q weights (K=4; dscnn K=8 power-of-two), kept as LUT-Q codes with
int8 activations (records 1012/1013, opencl/q8_lut.cl); its float column is the LUT-Q-valued float model.

    .venv/bin/python benchmarks/opencl_int8.py [--models lenet,dscnn,resnet8,lutq_lenet] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "int8"))

from int8_quant_helpers import calibrated, fmnist_model  # noqa: E402

from nnb.backends.c import CNet  # noqa: E402
from nnb.backends.opencl import OpenCLNet, rebatch  # noqa: E402
from nnb.backends.opencl_device import cl, open_device  # noqa: E402
from nnb.backends.opencl_int8 import Int8OpenCLNet, rebatched  # noqa: E402
from nnb.emit.nnb_int8 import write_int8_nnb  # noqa: E402
from nnb.passes import optimize  # noqa: E402


def lutq_model(name: str):  # noqa: ANN201 - (Int8Model, float graph, one input sample)
    from int8_quant_helpers import ZOO, perturbed, zoo_inputs

    from nnb.nnp.reader import load
    from nnb.quantize.layers import weight_params
    from nnb.quantize.lutq import LutqConfig, LutqLayer
    from nnb.quantize.lutq_int8 import build_lutq_int8
    from nnb.quantize.qmodel import QuantizedModel

    g = load(os.path.join(ZOO, f"{name}.nnp"))
    cfg = dict(k=8, pow2=True) if name == "dscnn" else dict(k=4)
    layers = {}
    for w in weight_params(g):
        q = LutqLayer(np.asarray(g.tensors[w].data), LutqConfig(init_iters=5, **cfg))
        layers[w] = q.to_qlayer()
        g.tensors[w].data = q.quantized()
    xs = zoo_inputs(name, len(g.inputs))
    return build_lutq_int8(QuantizedModel(g, "lutq", layers), perturbed(xs)[0]), g, xs[0][:1]


def model(name: str):  # noqa: ANN201 - (Int8Model, float graph, one input sample)
    if name.startswith("lutq_"):
        return lutq_model(name[5:])
    if name.startswith("fmnist_"):
        m, x = fmnist_model(name.split("_", 1)[1])
        from int8_quant_helpers import TRAINED

        from nnb.nnp.reader import load

        g = load(os.path.join(TRAINED, f"{name}.nnp"))
        return m, g, x[:1]
    m, xs, _ = calibrated(name)
    from int8_quant_helpers import ZOO

    from nnb.nnp.reader import load

    return m, load(os.path.join(ZOO, f"{name}.nnp")), xs[0][:1]


def timed(fn, seconds: float) -> float:  # noqa: ANN001
    """Median seconds per call of fn over about ``seconds``."""
    fn()
    ts, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(ts) < 3:
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def profile(net: Int8OpenCLNet, x: np.ndarray) -> None:
    pcl, q = cl(), net.dev.queue
    net.run([x])
    for ln, (k, g, loc) in zip(net.layout.launches, net._kernels):
        best = float("inf")
        for _ in range(3):
            q.finish()
            t = time.perf_counter()
            pcl.enqueue_nd_range_kernel(q, k, g, loc)
            q.finish()
            best = min(best, time.perf_counter() - t)
        rate = f"{ln.macs / best / 1e9:6.2f} GMAC/s" if ln.macs else ""
        print(f"    {ln.kernel:14s} {ln.n:8d} items {best * 1e3:8.3f} ms {rate}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="lenet,dscnn,resnet8")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.3, help="per figure per round")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    dev = open_device()
    print(f"device: {dev.name}")
    print(f"{'model':14s} {'batch':>5s} {'int8 OCL':>10s} {'int8 C':>10s} {'float OCL':>10s} "
          f"{'i8OCL/i8C':>9s} {'i8OCL/fOCL':>10s}  (per batch, medians)")
    for name in args.models.split(","):
        m, g, x1 = model(name)
        cnet = CNet(write_int8_nnb(rebatched(m, 1))[0])
        fg = optimize(g)
        for batch in (1, 64):
            x = np.repeat(x1, batch, axis=0)
            inet = Int8OpenCLNet(rebatched(m, batch), device=dev)
            fnet = OpenCLNet(rebatch(fg, batch), device=dev)
            want = cnet.run_batch([x])[0]
            got = inet.run([x])[0]
            if not np.allclose(got.reshape(want.shape), want, rtol=1e-5, atol=1e-6):
                raise SystemExit(f"{name}: int8 OpenCL outputs differ from the C runtime's")
            runs = (lambda n=inet, v=x: n.run([v]), lambda n=cnet, v=x: n.run_batch([v]),
                    lambda n=fnet, v=x: n.run([v]))
            rows = [tuple(timed(f, args.seconds) for f in runs)  # interleaved: each round times all three
                    for _ in range(args.rounds)]
            med = [statistics.median(r[k] for r in rows) for k in range(3)]
            r1 = statistics.median(r[0] / r[1] for r in rows)
            r2 = statistics.median(r[0] / r[2] for r in rows)
            print(f"{name:14s} {batch:5d} {med[0] * 1e3:8.2f}ms {med[1] * 1e3:8.2f}ms {med[2] * 1e3:8.2f}ms "
                  f"{r1:9.2f} {r2:10.2f}")
            if args.profile and batch == 64:
                profile(inet, x)


if __name__ == "__main__":
    main()
