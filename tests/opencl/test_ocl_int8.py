"""int8 models on OpenCL (opencl/q8*.cl): the Python host and the C host (nnbrt --device opencl) compute every
integer tensor of the C runtime and of the numpy integer simulation exactly; float-island outputs (Softmax,
Sigmoid, Deconvolution on dequantized values) agree to float rounding; predictions on the Fashion-MNIST subset
are the C runtime's."""

from __future__ import annotations

import functools
import os
import sys

import numpy as np
import pytest
from ocl_helpers import ISLAND_TOL, c_host, c_host_run, cnet, device, same_int8

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "int8"))

from int8_quant_helpers import calibrated, fmnist_data, fmnist_model  # noqa: E402

from nnb.emit.nnb_int8 import write_int8_nnb  # noqa: E402
from nnb.quantize.int_sim import run_int8  # noqa: E402

ZOO_CONV = ["lenet", "dscnn", "resnet8", "depthwise", "conv_variants", "batchnorm", "unet_tiny"]
TRAINED = ["fmnist_lenet", "fmnist_dscnn"]


def _mixed_graph():  # noqa: ANN202 - nnb.ir.Graph
    """Every int8 record beside the zoo's: Q8Add (ReLU fused), Q8Mul, padded max pooling without ignore_border,
    average pooling excluding the padding, Q8Concat, Q8Clamp (ReLU6, Reshape), 1-D convolution with dilation and
    1-D pooling, strided/dilated 2-D convolutions, a residual, global average pooling, Affine."""
    from nnb.builder import GraphBuilder

    rng = np.random.default_rng(3)

    def rand(*s: int) -> np.ndarray:
        return rng.normal(0, 0.5, s).astype(np.float32)

    b = GraphBuilder("mixed", batch_size=3)
    x = b.input("x", (-1, 3, 11, 13))
    c1 = b.op("Convolution", [x, b.param("w1", rand(8, 3, 3, 3)), b.param("b1", rand(8))], pad=(1, 2),
              stride=(2, 1), dilation=(1, 2))
    c2 = b.op("Convolution", [x, b.param("w2", rand(8, 3, 1, 1)), b.param("b2", rand(8))], stride=(2, 1))
    r = b.op("ReLU", [b.op("Add2", [c1, c2])])  # a residual FusedConv
    mu = b.op("Mul2", [r, c2])
    ad = b.op("ReLU", [b.op("Add2", [mu, c2])])
    mp = b.op("MaxPooling", [ad], kernel=(3, 3), stride=(2, 2), pad=(1, 1), ignore_border=False)
    ap = b.op("AveragePooling", [ad], kernel=(2, 3), stride=(2, 2), pad=(1, 1), including_pad=False)
    r6 = b.op("ReLU6", [b.op("Concatenate", [mp, ap], axis=1)])
    flat = b.op("Reshape", [r6], shape=(3, 16, -1))
    c1d = b.op("Convolution", [flat, b.param("w3", rand(6, 16, 3)), b.param("b3", rand(6))], pad=(2,), dilation=(2,))
    b.output(b.op("AveragePooling", [c1d], kernel=(2,), stride=(2,), ignore_border=False))
    for o, group in ((4, 1), (6, 3)):  # the scalar forms (stride 3): 4 channels, and 1 per group
        b.output(b.op("Convolution", [x, b.param(f"ws{o}", rand(o, 3 // group, 2, 2))], stride=(3, 3), group=group,
                      pad=(1, 0)))
    gap = b.op("GlobalAveragePooling", [c1d])
    b.output(b.op("Affine", [gap, b.param("w4", rand(6, 4)), b.param("b4", rand(4))]))
    return b.build()


@functools.cache
def _model(name: str):  # noqa: ANN202 - (Int8Model at the input's batch, float input)
    from nnb.backends.opencl_int8 import rebatched

    if name == "mixed":
        from nnb.quantize.calib import collect
        from nnb.quantize.int8 import build_int8, prepare_graph

        g = prepare_graph(_mixed_graph())
        xs = np.random.default_rng(5).normal(0, 1, (30, 3, 11, 13)).astype(np.float32)
        return build_int8(g, collect(g, xs)), xs[:3]
    if name.startswith("fmnist_"):
        m, x = fmnist_model(name.split("_", 1)[1])
        x = x[:6]
    else:
        m, xs, _ = calibrated(name)
        x = xs[0]
    return rebatched(m, x.shape[0]), x


def test_mixed_graph_has_every_int8_record() -> None:
    from nnb.emit.nnb_int8 import deploy
    from nnb.emit.nnb_int8_layout import Q8_FUNCTIONS

    m, _ = _model("mixed")
    lenet, _ = _model("fmnist_lenet")  # Q8QConv: a first convolution that quantizes the float input itself
    assert {f.op for f in deploy(m).fns} | {f.op for f in deploy(lenet).fns if f.op.startswith("Q8")} \
        == set(Q8_FUNCTIONS)


@pytest.mark.parametrize("name", ZOO_CONV + TRAINED + ["mixed"])
def test_python_host_equals_c_runtime_and_simulation(name: str) -> None:
    from nnb.backends.opencl_int8 import Int8OpenCLNet

    dev = device()
    m, x = _model(name)
    ints = [s.output for s in m.steps if s.kind == "int"]
    net = Int8OpenCLNet(m, device=dev, keep=tuple(ints))
    got = dict(zip([o[0] for o in net.outputs], net.run([x])))
    sim = run_int8(m, [x], keep=ints)
    assert same_int8(m, got, sim, "OpenCL vs simulation") >= len(ints)
    image, d, _ = write_int8_nnb(m, extra_outputs=tuple(ints))
    cpu = dict(zip(d.outputs, cnet()(image).run([x])))
    assert list(cpu) == list(got)
    same_int8(m, got, cpu, "OpenCL vs C runtime")


@pytest.fixture(scope="module")
def nnbrt_ocl() -> str:
    return c_host()


@pytest.mark.parametrize("name", ["lenet", "dscnn", "resnet8", "unet_tiny", "mixed"] + TRAINED)
def test_c_host_equals_c_runtime(nnbrt_ocl: str, tmp_path, name: str) -> None:  # noqa: ANN001
    m, x = _model(name)
    ints = [s.output for s in m.steps if s.kind == "int"]
    image, d, _ = write_int8_nnb(m, extra_outputs=tuple(ints))
    got = c_host_run(nnbrt_ocl, image, x, d.outputs, tmp_path)
    cpu = dict(zip(d.outputs, cnet()(image).run([x])))
    sim = run_int8(m, [x], keep=ints)
    assert same_int8(m, got, cpu, "C host vs C runtime") >= len(ints)
    same_int8(m, got, sim, "C host vs simulation")


@pytest.mark.parametrize("arch", ["lenet", "dscnn"])
def test_fmnist_predictions_equal_the_c_runtime(arch: str) -> None:
    """The 1,800 test images the calibration did not see: the same class for every image, scores to rounding."""
    from nnb.backends.opencl_int8 import predict_int8

    device()
    m, x = fmnist_model(arch)
    image, _d, _ = write_int8_nnb(m)
    want = cnet()(image).run_batch([x])[0].reshape(len(x), -1)
    got = predict_int8(m, x, 64)
    assert np.array_equal(got.argmax(axis=1), want.argmax(axis=1))
    np.testing.assert_allclose(got, want, **ISLAND_TOL)


def test_requantize_on_any_value() -> None:
    """q8_requant (opencl/q8.cl) equals the simulation's requantize on random and extreme int32 values, every
    multiplier range and every shift the format allows (-31..30), saturation and rounding ties included."""
    from nnb.backends.opencl_device import cl
    from nnb.quantize.int_sim_arith import requantize

    dev = device()
    pcl = cl()
    rng = np.random.default_rng(1)
    n = 20000
    edge = np.array([0, 1, -1, 2**31 - 1, -2**31, 2**30, -2**30, 12345, -12345], np.int64)
    x = np.concatenate([edge.repeat(len(edge)), rng.integers(-2**31, 2**31, n), rng.integers(-40000, 40000, n)])
    mult = np.concatenate([np.tile(edge, len(edge)), rng.integers(0, 2**31, n), rng.integers(2**30, 2**31, n)])
    mult = np.where(mult < 0, -mult - 1, mult)  # the format's multipliers are in [0, 2^31)
    mult[:len(edge) ** 2:7] = -2**31  # srdhm's one saturating case (with x = -2^31 among the edges)
    shift = rng.integers(-31, 31, x.size)
    shift[:len(edge) ** 2] = np.resize([-31, -1, 0, 1, 30], len(edge) ** 2)
    k = x.size
    buf = np.concatenate([x, mult, shift, np.zeros(k, np.int64)]).astype(np.int32)
    mf = pcl.mem_flags
    mbuf = pcl.Buffer(dev.ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=buf)
    pbuf = pcl.Buffer(dev.ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=np.array([k, 0, k, 2 * k, 3 * k], np.int32))
    kern = pcl.Kernel(dev.program, "q8_requant_vec")
    kern.set_args(mbuf, pbuf, np.int32(0))
    pcl.enqueue_nd_range_kernel(dev.queue, kern, ((k + 63) // 64 * 64,), (64,))
    pcl.enqueue_copy(dev.queue, buf, mbuf)
    dev.queue.finish()
    want = requantize(x, mult, shift)
    assert np.array_equal(buf[3 * k:].astype(np.int64), want)


@pytest.mark.parametrize("scale,zero", [(0.0039215689, -128), (0.1913, 23), (3.7e-5, 5), (12.5, 0)])
def test_quantize_on_any_value(scale: float, zero: int) -> None:
    """q8_quantize (opencl/q8_eltwise.cl) on every threshold, its float32 neighbours, random values, +-inf and
    NaN: numpy's quantization (round half to even), NaN -128, as the C runtime's Q8Quantize."""
    from nnb.backends.opencl_device import cl
    from nnb.emit.nnb_int8_layout import quantize_thresholds
    from nnb.quantize.int8 import QParams

    dev = device()
    pcl = cl()
    t = quantize_thresholds(scale, zero)
    fin = t[np.isfinite(t)]
    rng = np.random.default_rng(2)
    x = np.concatenate([fin, np.nextafter(fin, np.float32(-np.inf)), np.nextafter(fin, np.float32(np.inf)),
                        rng.normal(0, 200 * scale, 5000).astype(np.float32),
                        np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], np.float32)]).astype(np.float32)
    k = x.size
    buf = np.concatenate([x, t, np.zeros((k + 3) // 4 + 1, np.float32)]).astype(np.float32)
    mf = pcl.mem_flags
    mbuf = pcl.Buffer(dev.ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=buf)
    pbuf = pcl.Buffer(dev.ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=np.array([k, 0, k, 4 * (k + 255)], np.int32))
    kern = pcl.Kernel(dev.program, "q8_quantize")
    kern.set_args(mbuf, pbuf, np.int32(0))
    pcl.enqueue_nd_range_kernel(dev.queue, kern, ((k + 63) // 64 * 64,), (64,))
    pcl.enqueue_copy(dev.queue, buf, mbuf)
    dev.queue.finish()
    got = buf[k + 255:].view(np.int8)[:k].astype(np.int64)
    nan = np.isnan(x)
    with np.errstate(invalid="ignore"):
        want = QParams(scale, zero).quantize(np.where(nan, 0, x))
    want[nan] = -128
    assert np.array_equal(got, want)


def test_cli_runs_an_int8_model_on_opencl(tmp_path) -> None:  # noqa: ANN001
    """nnb quantize --method int8, then nnb run / nnb eval --backend opencl on the .nnq and its .nnb: the C
    runtime's outputs and accuracy line."""
    from nnb.cli import main

    device()
    data = os.path.join(ROOT, os.pardir, "shared", "fixtures", "data", "fmnist_test_2k.npz")
    nnp = os.path.join(ROOT, os.pardir, "shared", "fixtures", "trained", "fmnist_lenet.nnp")
    if not (os.path.exists(data) and os.path.exists(nnp)):
        pytest.skip("fixtures ../shared/fixtures/{data,trained} are missing")
    nnq, nnb = str(tmp_path / "m.nnq"), str(tmp_path / "m.nnb")
    assert main(["quantize", nnp, "--method", "int8", "--calib", data, "--calib-samples", "64", "-o", nnq]) == 0
    assert main(["convert", nnq, "-o", nnb]) == 0
    x, _ = fmnist_data()
    np.save(tmp_path / "x.npy", x[:5])
    for model in (nnq, nnb):
        outs = {}
        for backend in ("opencl", "c"):
            out = str(tmp_path / f"{backend}.npz")
            assert main(["run", model, "--input", str(tmp_path / "x.npy"), "--backend", backend, "-o", out]) == 0
            with np.load(out) as z:
                outs[backend] = {k: z[k] for k in z.files}
        assert outs["opencl"].keys() == outs["c"].keys()
        for k in outs["c"]:
            np.testing.assert_allclose(outs["opencl"][k], outs["c"][k], **ISLAND_TOL)
            assert np.array_equal(outs["opencl"][k].argmax(-1), outs["c"][k].argmax(-1))
