"""Quantized (bit-packed) weights in the C runtime (docs/nnb_format.md, "Quantized variable types").

- fmnist_lenet quantized with LUT-Q (K=4, K=16) and DQ (float step, power-of-two
  step): the C runtime (through nnb.backends.c) against nnb's numpy reference of
  the packed ops on the 2k test images, and the arena it needs;
- single packed Affine / grouped Convolution / DepthwiseConvolution / FusedConv
  layers large enough to be decoded in several blocks (normal, reference and
  sanitizer builds), and the quantized DS-CNN (depthwise);
- corrupt descriptors, one field at a time: a clean error from nnbrt_init,
  never a crash (normal and sanitizer builds);
- the mutation fuzzer seeded with packed files.
"""
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_c_runtime import _build
from test_extended import ENV, _check_outputs, _run_cli

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "train"))

from test_packed import _quantize, quantized_dscnn  # noqa: E402 - the same quantized weights as the Python tests
from train_helpers import LENET, TEST_2K  # noqa: E402

LENET_ARGS = {
    "lutq_k4": ("--method", "lutq", "--k", "4"),
    "lutq_k16": ("--method", "lutq", "--k", "16"),
    "dq_float_step": ("--method", "dq", "--weight-budget", "14kB"),
    "dq_pow2_step": ("--method", "dq", "--bits", "3", "--pow2-step"),
}
RNG = np.random.default_rng(11)


@pytest.fixture(scope="session")
def bindirs():
    return {"normal": _build(False), "ref": _build(False, ref=True), "san": _build(True)}


_LENETS = {}


def _lenet_nnq(tmp_path_factory, name):
    if name not in _LENETS:
        from nnb.cli import main

        out = str(tmp_path_factory.mktemp("q") / f"{name}.nnq")
        assert main(["quantize", LENET, *LENET_ARGS[name], "--data", TEST_2K, "--limit", "256", "--epochs", "1",
                     "-q", "-o", out, "--val", "none"]) == 0
        _LENETS[name] = out
    return _LENETS[name]


def _lenet_image(tmp_path_factory, name):
    from nnb.emit.convert import convert

    return convert(_lenet_nnq(tmp_path_factory, name)).image


@pytest.mark.parametrize("name", sorted(LENET_ARGS))
def test_packed_lenet_matches_reference(bindirs, tmp_path_factory, name):
    from nnb.backends.c import CNet
    from nnb.emit.convert import convert
    from nnb.emit.nnb import read_nnb
    from nnb.executor import run_batched
    from nnb.nnp.reader import load
    from nnb.train.data import input_array, load_data

    image = _lenet_image(tmp_path_factory, name)
    g = read_nnb(image)
    ops = {n.op for n in g.nodes}
    assert {"FusedConvPacked", "AffinePacked"} <= ops
    x, _ = load_data(TEST_2K, "test")
    xi = input_array(load(LENET), x)
    g.input_specs = {g.inputs[0]: (-1,) + g.tensors[g.inputs[0]].shape[1:]}
    ref = run_batched(g, [xi])[g.outputs[0]].reshape(len(xi), -1)
    net = CNet(image)
    got = net.run_batch([xi])[0].reshape(len(xi), -1)
    err = float(np.max(np.abs(got - ref)))
    agree = float((got.argmax(1) == ref.argmax(1)).mean())
    float_arena = CNet(convert(load(LENET), "extended").image).arena_bytes
    print(f"{name}: max abs err {err:.3g}, agreement {agree:.4f}, arena {net.arena_bytes} B "
          f"(float lenet {float_arena} B), file {len(image)} B")
    assert err <= 1e-5 * max(1.0, float(np.max(np.abs(ref))))
    assert agree >= 0.999
    # the decoded blocks are a few KB of scratch, never a whole layer (fc3 alone is 128 KB as float)
    assert net.arena_bytes <= float_arena + 12 * 1024


# ---- single packed layers, decoded in several blocks ----------------------------------------

LAYERS = {
    # name: (op, attrs, x shape, w shape, has bias, FusedConv residual)
    "affine": ("Affine", {"base_axis": 1}, (3, 8, 5, 5), (200, 50), True, False),
    "affine_base2": ("Affine", {"base_axis": 2}, (2, 3, 300), (300, 4, 5), True, False),
    "conv": ("Convolution", {"pad": (1, 1)}, (2, 16, 9, 10), (60, 16, 3, 3), True, False),
    "conv_group_whole": ("Convolution", {"pad": (1, 1), "stride": (2, 1), "group": 8}, (1, 64, 9, 7),
                         (64, 8, 3, 3), True, False),
    "conv_group_split": ("Convolution", {"pad": (1, 1), "group": 2}, (1, 64, 6, 6), (40, 32, 3, 3), False, False),
    "depthwise": ("DepthwiseConvolution", {"multiplier": 2, "pad": (1, 1)}, (2, 150, 6, 6), (300, 3, 3), True,
                  False),
    "fused_pool_res": ("FusedConv", {"pad": (0, 0), "pool": "max", "pool_kernel": (2, 2), "pool_stride": (2, 2),
                                     "activation": "relu", "residual": True, "has_bias": True},
                       (2, 12, 8, 8), (36, 12, 3, 3), True, True),
    "fused_avg_group": ("FusedConv", {"pad": (1, 1), "group": 4, "pool": "average", "pool_kernel": (2, 2),
                                      "activation": "relu6", "has_bias": True},
                        (1, 32, 10, 10), (64, 8, 3, 3), True, False),
}
QUANTS = [("lut", 2), ("lut", 3), ("uniform", 3), ("uniform", 8)]


def _layer_model(case, kind, bits):
    """(image, inputs, reference outputs) of one quantized layer; reference: nnb's packed ops."""
    from nnb.emit.convert import convert
    from nnb.emit.nnb import read_nnb
    from nnb.executor import run_batched
    from nnb.ir import Graph, Node, Tensor
    from nnb.ops import get_op
    from nnb.quantize.qmodel import QuantizedModel

    op, a, xs, ws, has_b, res = LAYERS[case]
    base = get_op(op)
    attrs = base.normalize(a)
    w = RNG.standard_normal(ws).astype(np.float32)
    q = _quantize(w, kind, bits)
    tensors = {"x": Tensor("x", xs, kind="input"),
               "w": Tensor("w", ws, kind="param", data=q.dequantize().astype(np.float32))}
    ins = ["x", "w"]
    if has_b:
        nb = int(np.prod(ws[1:])) if op == "Affine" else ws[0]
        tensors["b"] = Tensor("b", (nb,), kind="param", data=RNG.standard_normal(nb).astype(np.float32))
        ins.append("b")
    shapes = [xs, ws] + ([tensors["b"].shape] if has_b else [])
    yshape = tuple(base.infer(shapes, dict(attrs, residual=False) if op == "FusedConv" else attrs)[0])
    inputs = ["x"]
    if res:
        tensors["r"] = Tensor("r", yshape, kind="input")
        ins.append("r")
        inputs.append("r")
    tensors["y"] = Tensor("y", yshape)
    g = Graph(name="t", tensors=tensors, nodes=[Node("f", op, ins, ["y"], attrs)], inputs=inputs, outputs=["y"],
              batch_size=xs[0])
    image = convert(QuantizedModel(g, "t", {"w": q})).image
    g2 = read_nnb(image)
    assert any(n.op.endswith("Packed") for n in g2.nodes)
    vals = [RNG.standard_normal(tensors[n].shape).astype(np.float32) for n in inputs]
    outs = run_batched(g2, vals)
    return image, vals, [outs[o] for o in g2.outputs]


LAYER_PARAMS = [(c, k, b, build) for c in sorted(LAYERS) for k, b in QUANTS
                for build in (["normal", "ref", "san"] if b == 3 else ["normal"])]


@pytest.mark.parametrize("case,kind,bits,build", LAYER_PARAMS, ids=[f"{c}-{k}{b}-{u}" for c, k, b, u in LAYER_PARAMS])
def test_packed_layer(bindirs, build, case, kind, bits, tmp_path):
    image, vals, refs = _layer_model(case, kind, bits)
    prefix = _run_cli(bindirs[build], image, vals, tmp_path)
    _check_outputs(prefix, refs, f"{case} {kind}{bits} ({build})")


@pytest.fixture(scope="module", params=["plain", "tiny_blocks"])
def other_build(request, tmp_path_factory):
    """Sanitized host builds of other paths: "plain" as for microcontrollers (no vector extension, no
    padded planes), "tiny_blocks" with 20-weight blocks (one channel, or a few groups, per block)."""
    import shutil

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    crt = REPO / "c_runtime"
    d = tmp_path_factory.mktemp("packed_" + request.param)
    flags = ["-DNNBRT_NO_VECTOR_EXT", "-DNNBRT_PLANE_MAX=0"] if request.param == "plain" else \
        ["-DNNBRT_QBLOCK_WEIGHTS=20"]
    srcs = [str(p) for p in sorted((crt / "src").rglob("*.c")) if "opencl" not in p.parts]  # not the OpenCL host
    r = subprocess.run([cc, "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pedantic",
                        "-fsanitize=address,undefined", "-fno-sanitize-recover=all", *flags,
                        f"-I{crt / 'include'}", f"-I{crt / 'src'}", *srcs, str(crt / "tools" / "nnbrt.c"), "-lm",
                        "-o", str(d / "nnbrt")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return d


def run_packed_layers(bindir, kind, bits, tmp_path, label):
    """Every LAYERS case with ``kind``/``bits`` packed weights through ``bindir``'s nnbrt, against numpy."""
    for case in sorted(LAYERS):
        image, vals, refs = _layer_model(case, kind, bits)
        prefix = _run_cli(bindir, image, vals, tmp_path)
        _check_outputs(prefix, refs, f"{case} {kind}{bits} ({label})")


@pytest.mark.parametrize("kind,bits", [("lut", 3), ("uniform", 5)])
def test_packed_layers_other_builds(other_build, kind, bits, tmp_path):
    run_packed_layers(other_build, kind, bits, tmp_path, other_build.name)


def test_packed_dscnn(bindirs, tmp_path):
    """The DS-CNN with every weight quantized (LUT-Q and DQ alternating): depthwise layers stay packed."""
    from nnb.emit.convert import convert
    from nnb.emit.nnb import read_nnb
    from nnb.executor import run_batched

    image = convert(quantized_dscnn()).image
    g2 = read_nnb(image)
    assert "DepthwiseConvolutionPacked" in {n.op for n in g2.nodes}
    x = RNG.random((1, 1, 28, 28)).astype(np.float32)
    want = run_batched(g2, [x])[g2.outputs[0]]
    for build in ("normal", "san"):
        prefix = _run_cli(bindirs[build], image, [x], tmp_path)
        _check_outputs(prefix, [want], f"dscnn ({build})")


# ---- corrupt descriptors -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_image():
    """lenet with a K=3 LUT (2-bit codes) on the first weight and 3-bit uniform codes on the last."""
    from nnb.emit.convert import convert
    from nnb.nnp.reader import load
    from nnb.quantize.layers import weight_params
    from nnb.quantize.qmodel import QuantizedModel

    g = load(LENET)
    names = weight_params(g)
    layers = {names[0]: _quantize(g.tensors[names[0]].data, "lut", 2),
              names[-1]: _quantize(g.tensors[names[-1]].data, "uniform", 3)}
    layers[names[0]].values = layers[names[0]].values[:3]
    layers[names[0]].codes = np.minimum(layers[names[0]].codes, 2)
    for n, q in layers.items():
        g.tensors[n].data = q.dequantize()
    return convert(QuantizedModel(g, "t", layers)).image


def _parts(img):
    h = struct.unpack_from("<14I", img, 0)
    ext = struct.unpack_from("<8I", img, 56)
    index = struct.unpack_from("<%di" % h[12], img, 88)
    base = 88 + 4 * h[12]
    qlist = struct.unpack_from("<%di" % ext[5], img, base + index[ext[6]])
    descs = [(k, base + index[c]) for k, c in enumerate(qlist) if c != -1]
    return h, ext, index, base, qlist, descs


def _patch(img, off, fmt, value):
    b = bytearray(img)
    struct.pack_into(fmt, b, off, value)
    return bytes(b)


def _var_record(img, v):
    h, _, index, base, _, _ = _parts(img)
    records = struct.unpack_from("<%di" % h[4], img, base + index[h[5]])
    return base + index[records[v]]


def _bad_images(img):
    h, ext, index, base, qlist, descs = _parts(img)
    (lut_var, lut), (uni_var, uni) = descs
    qoff = base + index[ext[6]]
    float_var = next(k for k, c in enumerate(qlist) if c == -1 and
                     struct.unpack_from("<i", img, _var_record(img, k) + 16)[0] >= 0)
    lut_rec, uni_rec = _var_record(img, lut_var), _var_record(img, uni_var)
    lut_data = base + index[struct.unpack_from("<i", img, lut_rec + 16)[0]]
    fns = struct.unpack_from("<%di" % h[6], img, base + index[h[7]])
    _, _, _, ich, _, _ = struct.unpack_from("<HHIiIi", img, base + index[fns[-1]])
    return {
        "list_size": _patch(img, 56 + 20, "<I", ext[5] + 1),
        "list_size_zero": _patch(img, 56 + 20, "<I", 0),
        "list_chunk": _patch(img, 56 + 24, "<I", 99999),
        "reserved_word": _patch(img, 56 + 28, "<I", 7),
        "no_descriptor": _patch(img, qoff + 4 * lut_var, "<i", -1),
        "float_with_descriptor": _patch(img, qoff + 4 * float_var, "<i", qlist[lut_var]),
        "descriptor_chunk": _patch(img, qoff + 4 * lut_var, "<i", 99999),
        "kind": _patch(img, lut, "<i", 5),
        "kind_uni": _patch(img, uni, "<i", 4),
        "bits_9": _patch(img, lut + 4, "<i", 9),
        "bits_0": _patch(img, lut + 4, "<i", 0),
        "bits_neg": _patch(img, uni + 4, "<i", -3),
        "bits_huge": _patch(img, uni + 4, "<i", 0x7fffffff),
        "table_count_0": _patch(img, lut + 8, "<i", 0),
        "table_count_5": _patch(img, lut + 8, "<i", 5),
        "code_outside_table": _patch(img, lut + 8, "<i", 2),
        "table_chunk": _patch(img, lut + 12, "<i", 99999),
        "table_chunk_neg": _patch(img, lut + 12, "<i", -1),
        "lut_step": _patch(img, lut + 16, "<f", 1.0),
        "lut_step_kind": _patch(img, lut + 20, "<i", 1),
        "lut_shift": _patch(img, lut + 24, "<i", 1),
        "lut_multiplier": _patch(img, lut + 28, "<i", 1),
        "lut_table_nan": _patch(img, base + index[struct.unpack_from("<i", img, lut + 12)[0]], "<f", float("nan")),
        "lut_table_inf": _patch(img, base + index[struct.unpack_from("<i", img, lut + 12)[0]] + 4, "<f",
                                float("inf")),
        "step_0": _patch(img, uni + 16, "<f", 0.0),
        "step_nan": _patch(img, uni + 16, "<f", float("nan")),
        "step_inf": _patch(img, uni + 16, "<f", float("inf")),
        "step_neg": _patch(img, uni + 16, "<f", -0.5),
        "step_kind": _patch(img, uni + 20, "<i", 3),
        "step_kind_0": _patch(img, uni + 20, "<i", 0),
        "shift": _patch(img, uni + 24, "<i", struct.unpack_from("<i", img, uni + 24)[0] + 1),
        "multiplier": _patch(img, uni + 28, "<i", 12345),
        "uniform_1bit": _patch(img, uni + 4, "<i", 1),
        "uniform_table_chunk": _patch(img, uni + 12, "<i", 0),
        "uniform_table_count": _patch(img, uni + 8, "<i", 2),
        "lut_code_high_bits": _patch(img, lut_data, "<I", 0xffffffff),  # codes 3 >= K = 3
        "data_chunk_short": _patch(img, uni_rec + 16, "<i", h[12] - 1),
        "type_6": _patch(img, lut_rec + 12, "<B", 6),
        "type_4_fixed_nibble": _patch(img, lut_rec + 12, "<B", 0x14),
        "lut_as_uniform_type": _patch(img, lut_rec + 12, "<B", 5),
        "packed_as_data_input": _patch(img, base + index[ich], "<i", lut_var),
        "packed_network_output": _patch(img, base + index[h[11]], "<i", lut_var),
        "packed_buffer": _patch(img, lut_rec + 16, "<i", -1),
    }


def test_unused_bits_must_be_zero(bindirs, tmp_path):
    """2700 codes of 3 bits: the last word has 28 unused bits, which must be 0."""
    image, vals, _ = _layer_model("depthwise", "uniform", 3)
    h, ext, index, base, qlist, descs = _parts(image)
    (var, _), = descs
    didx = struct.unpack_from("<i", image, _var_record(image, var) + 16)[0]
    last = base + index[didx] + 4 * ((2700 * 3 + 31) // 32) - 4
    assert struct.unpack_from("<I", image, last)[0] >> 4 == 0
    bad = _patch(image, last, "<I", struct.unpack_from("<I", image, last)[0] | 0x80000000)
    for build in ("normal", "san"):
        assert "bad quantized" in _run_cli(bindirs[build], bad, vals, tmp_path, expect_ok=False)


def test_corrupt_descriptors_cleanly_refused(bindirs, small_image, tmp_path):
    from nnb.backends.c import CNet
    from nnb.errors import NnbError

    x = np.zeros((1, 1, 28, 28), np.float32)
    _run_cli(bindirs["normal"], small_image, [x], tmp_path)  # the intact file runs
    CNet(small_image).run([x])
    bad = _bad_images(small_image)
    for name, img in bad.items():
        assert img != small_image, name
        with pytest.raises(NnbError):
            CNet(img)
        for build in ("normal", "san"):
            err = _run_cli(bindirs[build], img, [x], tmp_path, expect_ok=False)
            assert "nnbrt:" in err, (name, build, err)


# ---- fuzzing -----------------------------------------------------------------------------------

def test_fuzz_packed(bindirs, tmp_path_factory, small_image, tmp_path):
    iters = int(os.environ.get("NNB_FUZZ_ITERS", "5000"))
    seeds = []
    for name, img in [("small", small_image)] + [(n, _lenet_image(tmp_path_factory, n)) for n in sorted(LENET_ARGS)]:
        p = tmp_path / f"packed_{name}.nnb"
        p.write_bytes(img)
        seeds.append(str(p))
    for case in ("conv_group_whole", "depthwise", "fused_pool_res", "affine_base2"):
        p = tmp_path / f"packed_{case}.nnb"
        p.write_bytes(_layer_model(case, "uniform", 3)[0])
        seeds.append(str(p))
    r = subprocess.run([str(bindirs["san"] / "fuzz_nnb"), "-n", str(iters), "-m", "1000000", "-s", "4242", *seeds],
                       capture_output=True, text=True, env=ENV, timeout=3600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    print(r.stdout.strip().splitlines()[-1])
