"""LUT-Q weights with int8 activations on OpenCL (records 1012 Q8LutConv / 1013 Q8LutAffine, opencl/q8_lut.cl):
the Python host and the C host (nnbrt --device opencl) compute every integer tensor of the C runtime and of the
numpy simulation exactly -- a LUT-Q lenet made through the CLI (K=4 and a power-of-two dictionary: the shift
form) and zoo conv models with LUT-Q weights (depthwise, pow2, pruned entries, residual, fused max pool);
a corrupt record is refused in one line by both hosts."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from ocl_helpers import ISLAND_TOL, c_host, c_host_run, cnet, device, same_int8

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "int8"))

from int8_quant_helpers import DATA, TRAINED, ZOO, need, perturbed, zoo_inputs  # noqa: E402

from nnb.emit.nnb_int8 import write_int8_nnb  # noqa: E402
from nnb.errors import NnbError  # noqa: E402
from nnb.quantize.int_sim import run_int8  # noqa: E402
from nnb.quantize.lutq_int8 import CODES, DICT  # noqa: E402

ZOO_CASES = {"dscnn": dict(k=8, pow2=True), "resnet8": dict(k=4, prune=0.3), "depthwise": dict(k=4),
             "lenet": dict(k=32)}  # lenet: 5-bit codes straddling words, K > 16 (per-tap entries)


def _cli(args: list[str]) -> tuple[int, str, str]:
    from nnb.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(args)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def lenets(tmp_path_factory) -> dict[str, str]:  # noqa: ANN001
    """The trained lenet LUT-Q fine-tuned (64 images, one epoch) with K=4, and with a power-of-two dictionary,
    then made int8 with --keep-lutq, all through the CLI: variant -> int8 .nnq."""
    tmp = tmp_path_factory.mktemp("ocl_lutq")
    nnp = need(os.path.join(TRAINED, "fmnist_lenet.nnp"))
    out = {}
    for variant, extra in (("k4", []), ("pow2", ["--pow2"])):
        lut, i8 = str(tmp / f"{variant}.nnq"), str(tmp / f"{variant}_i8.nnq")
        rc, _, err = _cli(["quantize", nnp, "--method", "lutq", "--k", "4", *extra, "--data", need(DATA),
                           "--limit", "64", "--epochs", "1", "-q", "-o", lut, "--val", "none"])
        assert rc == 0, err
        rc, _, err = _cli(["quantize", lut, "--method", "int8", "--keep-lutq", "--calib", DATA,
                           "--calib-samples", "64", "-q", "-o", i8])
        assert rc == 0, err
        out[variant] = i8
    return out


@functools.cache
def _zoo_model(name: str):  # noqa: ANN202 - (Int8Model, input)
    """The zoo model with every weight k-means LUT-Q quantized (no training), int8 activations calibrated on
    perturbed copies of the fixture input."""
    from nnb.nnp.reader import load
    from nnb.quantize.layers import weight_params
    from nnb.quantize.lutq import LutqConfig, LutqLayer
    from nnb.quantize.lutq_int8 import build_lutq_int8
    from nnb.quantize.qmodel import QuantizedModel

    g = load(need(os.path.join(ZOO, f"{name}.nnp")))
    layers = {}
    for w in weight_params(g):
        q = LutqLayer(np.asarray(g.tensors[w].data), LutqConfig(init_iters=5, **ZOO_CASES[name]))
        layers[w] = q.to_qlayer()
        g.tensors[w].data = q.quantized()
    xs = zoo_inputs(name, len(g.inputs))
    return build_lutq_int8(QuantizedModel(g, "lutq", layers), perturbed(xs)[0]), xs[0]


@pytest.fixture(scope="module")
def nnbrt_ocl() -> str:
    return c_host()


def _check_both_hosts(m, x: np.ndarray, nnbrt: str, tmp_path) -> None:  # noqa: ANN001
    """Python host == simulation == C runtime, C host == C runtime, on every integer tensor."""
    from nnb.backends.opencl_int8 import Int8OpenCLNet, rebatched

    m = rebatched(m, x.shape[0])
    ints = [s.output for s in m.steps if s.kind == "int"]
    lut_steps = sum(1 for s in m.steps if CODES in s.arrays)
    assert lut_steps >= 2
    net = Int8OpenCLNet(m, device=device(), keep=tuple(ints))
    assert sum(1 for ln in net.layout.launches if ln.kernel.startswith("q8_lut_conv")) == lut_steps
    got = dict(zip([o[0] for o in net.outputs], net.run([x])))
    sim = run_int8(m, [x], keep=ints)
    assert same_int8(m, got, sim, "Python host vs simulation") >= len(ints)
    image, d, _ = write_int8_nnb(m, extra_outputs=tuple(ints))
    cpu = dict(zip(d.outputs, cnet()(image).run([x])))
    same_int8(m, got, cpu, "Python host vs C runtime")
    chost = c_host_run(nnbrt, image, x, d.outputs, tmp_path)
    assert same_int8(m, chost, cpu, "C host vs C runtime") >= len(ints)


@pytest.mark.parametrize("variant", ["k4", "pow2"])
def test_cli_lutq_lenet_both_hosts(lenets: dict, nnbrt_ocl: str, tmp_path, variant: str) -> None:  # noqa: ANN001
    from nnb.quantize.int8 import from_quantized
    from nnb.quantize.qmodel import load_quantized

    m = from_quantized(load_quantized(lenets[variant]))
    dicts = [np.abs(s.arrays[DICT]) for s in m.steps if CODES in s.arrays]
    pow2 = all(bool(np.all((d & (d - 1)) == 0)) for d in dicts)
    assert pow2 == (variant == "pow2"), "the variant's dictionaries are (not) powers of two"
    with np.load(DATA) as z:
        x = z["x"][-8:].astype(np.float32).reshape(-1, 1, 28, 28) / np.float32(255)
    _check_both_hosts(m, x, nnbrt_ocl, tmp_path)
    # nnb run --backend opencl on the .nnq: the C runtime's outputs
    np.save(tmp_path / "x.npy", x[:3])
    outs = {}
    for backend in ("opencl", "c"):
        out = str(tmp_path / f"{backend}.npz")
        rc, _, err = _cli(["run", lenets[variant], "--input", str(tmp_path / "x.npy"), "--backend", backend,
                           "-o", out])
        assert rc == 0, err
        with np.load(out) as z:
            outs[backend] = {k: z[k] for k in z.files}
    for k in outs["c"]:
        np.testing.assert_allclose(outs["opencl"][k], outs["c"][k], **ISLAND_TOL)
        assert np.array_equal(outs["opencl"][k].argmax(-1), outs["c"][k].argmax(-1))


@pytest.mark.parametrize("name", sorted(ZOO_CASES))
def test_zoo_lutq_weights_both_hosts(nnbrt_ocl: str, tmp_path, name: str) -> None:  # noqa: ANN001
    m, x = _zoo_model(name)
    _check_both_hosts(m, x, nnbrt_ocl, tmp_path)


def _conv_bits_at(image: bytes) -> int:
    """Byte offset of the first Q8LutConv record's lut_bits argument."""
    from nnb.emit.nnb_read import _Image

    im = _Image(image, "x")
    for c in im.ints(*im.functions):
        p = im.chunk(c, 20)
        if struct.unpack_from("<H", image, p)[0] == 1012:
            # header 20, base_axis 4, 3 lists 24, group 4, pool 4, 3 lists 24, 2 bools (4), 3 ints 12, w_shape 8
            return p + 20 + 4 + 24 + 4 + 4 + 24 + 4 + 12 + 8
    raise AssertionError("no Q8LutConv record")


def test_corrupt_lutq_record_refused(nnbrt_ocl: str, tmp_path) -> None:  # noqa: ANN001
    """lut_bits 9 in a Q8LutConv: nnb run --backend opencl says so in one line (exit 2); the C host refuses the
    file with the loader's status, no crash."""
    m, x = _zoo_model("depthwise")
    b = bytearray(write_int8_nnb(m)[0])
    struct.pack_into("<i", b, _conv_bits_at(bytes(b)), 9)
    bad = tmp_path / "bad.nnb"
    bad.write_bytes(bytes(b))
    np.save(tmp_path / "x.npy", x)
    rc, out, err = _cli(["run", str(bad), "--input", str(tmp_path / "x.npy"), "--backend", "opencl",
                         "-o", str(tmp_path / "y.npz")])
    assert rc == 2 and err.startswith("nnb: error:") and err.count("\n") == 1, err
    assert "lut_bits" in err
    np.ascontiguousarray(x, np.float32).tofile(tmp_path / "in0.bin")
    r = subprocess.run([nnbrt_ocl, "run", str(bad), str(tmp_path / "in0.bin"), "-o", str(tmp_path / "out"),
                        "--device", "opencl"], capture_output=True, text=True, timeout=120)
    assert r.returncode > 0 and "bad quantized weight" in r.stderr, (r.returncode, r.stderr)
    with pytest.raises(NnbError):
        cnet()(bytes(b))
