"""Packed quantized weights: bitstream, packed ops, extended NNB with quantized variable types."""

from __future__ import annotations

import os
import struct
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "train"))
from train_helpers import DSCNN, LENET, TEST_2K  # noqa: E402

from nnb.emit import nnb as nnbfmt  # noqa: E402
from nnb.emit.convert import convert  # noqa: E402
from nnb.emit.nnb import read_nnb, step_encoding, write_nnb  # noqa: E402
from nnb.errors import NnbError  # noqa: E402
from nnb.executor import run_batched  # noqa: E402
from nnb.inspect import format_table, model_stats  # noqa: E402
from nnb.ops import get_op, packed  # noqa: E402
from nnb.ops.packed import decode, pack_layer, pack_words, packed_words  # noqa: E402
from nnb.quantize.dq import DqConfig, DqLayer  # noqa: E402
from nnb.quantize.lutq import LutqConfig, LutqLayer  # noqa: E402
from nnb.quantize.qmodel import QuantizedModel, load_quantized  # noqa: E402
from nnb.train.data import input_array, load_data  # noqa: E402
from nnb.train.evaluate import predict  # noqa: E402

RNG = np.random.default_rng(7)


def test_bitstream_roundtrip() -> None:
    for bits in range(1, 9):
        n = 203
        c = RNG.integers(0, 1 << bits, size=n)
        w = pack_words(c, bits)
        assert w.dtype == np.uint32 and w.size == packed_words(n, bits) == (n * bits + 31) // 32
        for start, count in ((0, n), (1, 50), (37, 166), (n - 1, 1)):
            np.testing.assert_array_equal(decode(w, bits, start, count, False), c[start:start + count])
        if bits >= 2:
            s = c - (1 << (bits - 1))
            np.testing.assert_array_equal(decode(pack_words(s, bits), bits, 0, n, True), s)
    # LSB-first in little-endian u32 words: codes 1, 2, 3 at 2 bits -> 0b111001
    assert pack_words(np.array([1, 2, 3]), 2).tolist() == [0b111001]
    assert pack_words(np.arange(12) % 8, 3)[1] == (2 >> 2) | (3 << 1)  # code 10 (= 2) straddles words 0, 1


def test_step_encoding() -> None:
    assert step_encoding(0.25) == (nnbfmt.STEP_POW2, -2, 0)
    kind, shift, mult = step_encoding(0.1)
    assert kind == nnbfmt.STEP_Q31 and (1 << 30) <= mult < (1 << 31)
    assert mult * 2.0 ** (shift - 31) == float(np.float32(0.1))


def _quantize(w: np.ndarray, kind: str, bits: int) -> tuple:
    if kind == "lut":
        q = LutqLayer(w, LutqConfig(k=1 << bits, init_iters=3)).to_qlayer()
    else:
        q = DqLayer(w, DqConfig(bits=bits)).to_qlayer(w)
    return q


@pytest.mark.parametrize("kind,bits", [("lut", 2), ("lut", 3), ("uniform", 3), ("uniform", 8)])
@pytest.mark.parametrize("case", ["affine", "conv_group", "conv_last", "depthwise", "fused"])
def test_packed_ops_match_base(monkeypatch, case: str, kind: str, bits: int) -> None:
    monkeypatch.setattr(packed, "BLOCK_WEIGHTS", 40)  # many blocks
    if case == "affine":
        op, a = "Affine", {"base_axis": 1}
        x, w, b = RNG.standard_normal((3, 2, 5)), RNG.standard_normal((10, 3, 4)), RNG.standard_normal((3, 4))
    elif case == "conv_group":
        op, a = "Convolution", {"pad": (1, 1), "stride": (2, 1), "group": 2}
        x, w, b = RNG.standard_normal((2, 4, 7, 6)), RNG.standard_normal((6, 2, 3, 2)), RNG.standard_normal(6)
    elif case == "conv_last":
        op, a = "Convolution", {"channel_last": True, "pad": (1, 1)}
        x, w, b = RNG.standard_normal((2, 6, 5, 3)), RNG.standard_normal((8, 3, 3, 3)), RNG.standard_normal(8)
    elif case == "depthwise":
        op, a = "DepthwiseConvolution", {"multiplier": 2, "pad": (1, 1)}
        x, w, b = RNG.standard_normal((2, 5, 6, 6)), RNG.standard_normal((10, 3, 3)), RNG.standard_normal(10)
    else:
        op, a = "FusedConv", {"pool": "max", "pool_kernel": (2, 2), "pool_stride": (2, 2), "activation": "relu",
                              "residual": True, "has_bias": True}
        x, w, b = RNG.standard_normal((2, 3, 8, 8)), RNG.standard_normal((12, 3, 3, 3)), RNG.standard_normal(12)
    x, w, b = (v.astype(np.float32) for v in (x, w, b))
    q = _quantize(w, kind, bits)
    base = get_op(op)
    attrs = base.normalize(a)
    ins = [x, q.dequantize(), b]
    if op == "FusedConv":
        shape = base.infer([v.shape for v in ins], dict(attrs, residual=False))[0]
        ins.append(RNG.standard_normal(shape).astype(np.float32))
    (ref,) = base.forward(ins, attrs)
    words, table = pack_layer(q.kind, q.bits, q.values, q.codes, op)
    pop = get_op(packed.PACKED_OF[op])
    pattrs = pop.normalize(dict(attrs, q_kind=q.kind, q_bits=q.bits, w_shape=w.shape))
    pins = [x, words, table] + ins[2:]
    assert tuple(pop.infer([v.shape for v in pins], pattrs)[0]) == ref.shape
    (got,) = pop.forward(pins, pattrs)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_forward_decodes_block_by_block(monkeypatch) -> None:
    calls = []
    real = packed.decode_values

    def spy(*args):  # noqa: ANN002, ANN202
        calls.append(args[-1])
        return real(*args)

    monkeypatch.setattr(packed, "decode_values", spy)
    w = RNG.standard_normal((512, 64)).astype(np.float32)
    q = _quantize(w, "lut", 2)
    words, table = pack_layer(q.kind, q.bits, q.values, q.codes, "Affine")
    a = get_op("AffinePacked").normalize({"q_kind": "lut", "q_bits": 2, "w_shape": w.shape})
    get_op("AffinePacked").forward([np.ones((2, 512), np.float32), words, table], a)
    assert len(calls) == 8 and max(calls) == packed.BLOCK_WEIGHTS < w.size


# ---- the fmnist_lenet models ----------------------------------------------------------------

def _quantized_lenet(tmp_path, *args: str) -> str:
    from nnb.cli import main

    out = str(tmp_path / "m.nnq")
    assert main(["quantize", LENET, *args, "--data", TEST_2K, "--limit", "256", "--epochs", "1", "-q", "-o", out,
                 "--val", "none"]) == 0
    return out


@pytest.mark.parametrize("args", [("--method", "lutq", "--k", "4"), ("--method", "lutq", "--k", "16"),
                                  ("--method", "dq", "--weight-budget", "14kB"),
                                  ("--method", "dq", "--bits", "3", "--pow2-step")])
def test_packed_nnb_agrees_with_nnq(tmp_path, capsys, args) -> None:
    path = _quantized_lenet(tmp_path, *args)
    m = load_quantized(path)
    c = convert(path)
    assert c.mode == "extended"
    g = read_nnb(c.image)
    assert {n.op for n in g.nodes} >= {"FusedConvPacked", "AffinePacked"}
    code_bytes = sum(4 * packed_words(q.codes.size, q.bits) for q in m.layers.values())
    table_bytes = sum(4 * q.values.size for q in m.layers.values())
    float_bytes = sum(t.nbytes for t in m.graph.params() if t.name not in m.layers)
    s = model_stats(g)
    assert s.packed_weight_bytes == code_bytes + table_bytes
    assert s.param_bytes == c.param_bytes == code_bytes + table_bytes + float_bytes
    assert s.params == m.graph.num_parameters()
    assert "packed weights and tables" in format_table(s)
    assert len(c.image) < code_bytes + table_bytes + float_bytes + 2000  # nothing float hides in the file
    x, _ = load_data(TEST_2K, "test")
    xi = input_array(m.graph, x)
    want = predict(m.graph, xi).argmax(axis=1)
    g.input_specs = {g.inputs[0]: (-1,) + g.tensors[g.inputs[0]].shape[1:]}
    got = run_batched(g, [xi])[g.outputs[0]].reshape(len(xi), -1).argmax(axis=1)
    assert (got == want).mean() >= 0.999
    from nnb.plan.arena import plan_arena

    ap = plan_arena(g)
    g2 = read_nnb(write_nnb(g, extended=True, plan=nnbfmt.NnbPlan([], {}, ap.arena_bytes, ap.offsets)))
    assert [n.op for n in g2.nodes] == [n.op for n in g.nodes]  # the packed IR writes back as it was read
    for name, t in g.tensors.items():
        if t.kind == "param":
            np.testing.assert_array_equal(g2.tensors[name].data, t.data)
    assert convert(g).image == c.image  # converting the read-back NNB again gives the same bytes


def test_inspect_cli_reports_packed_bytes(tmp_path, capsys) -> None:
    from nnb.cli import main

    path = _quantized_lenet(tmp_path, "--method", "lutq", "--k", "4")
    nnb = str(tmp_path / "q.nnb")
    with open(nnb, "wb") as f:
        f.write(convert(path).image)
    capsys.readouterr()
    assert main(["inspect", nnb]) == 0
    out = capsys.readouterr().out
    codes = sum(4 * packed_words(q.codes.size, 2) for q in load_quantized(path).layers.values())
    assert f"{codes + 4 * 4 * 4:,} packed weights and tables" in out and "AffinePacked" in out
    assert main(["convert", nnb, "--mode", "compat", "-o", str(tmp_path / "c.nnb")]) == 2
    assert "extended" in capsys.readouterr().err


def quantized_dscnn() -> QuantizedModel:
    """The DS-CNN with every weight quantized to 4 bits, LUT-Q and DQ alternating; the graph holds the
    dequantized weights (also used by tests/c/test_packed_c.py)."""
    from nnb.nnp.reader import load
    from nnb.quantize.layers import weight_params

    g = load(DSCNN)
    layers = {}
    for n in weight_params(g):
        q = _quantize(g.tensors[n].data, "uniform" if len(layers) % 2 else "lut", 4)
        layers[n] = q
        g.tensors[n].data = q.dequantize()
    return QuantizedModel(g, "test", layers)


def test_quantized_dscnn_keeps_bn_and_depthwise() -> None:
    qm = quantized_dscnn()
    g = qm.graph
    c = convert(qm)
    g2 = read_nnb(c.image)
    ops = {n.op for n in g2.nodes}
    assert "DepthwiseConvolutionPacked" in ops
    x = RNG.random((1, 1, 28, 28)).astype(np.float32)
    want = run_batched(g, [x])[g.outputs[0]]
    got = run_batched(g2, [x])[g2.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_compat_mode_refuses_quantized(tmp_path) -> None:
    from nnb.nnp.reader import load
    from nnb.quantize.layers import weight_params

    g = load(LENET)
    n = weight_params(g)[-1]
    q = _quantize(g.tensors[n].data, "lut", 2)
    g.tensors[n].data = q.dequantize()
    with pytest.raises(NnbError, match="extended"):
        convert(QuantizedModel(g, "t", {n: q}), mode="compat")


# ---- corrupt files ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_image() -> bytes:
    from nnb.nnp.reader import load
    from nnb.quantize.layers import weight_params

    g = load(LENET)
    names = weight_params(g)
    layers = {names[0]: _quantize(g.tensors[names[0]].data, "lut", 2),
              names[-1]: _quantize(g.tensors[names[-1]].data, "uniform", 3)}
    layers[names[0]].values = layers[names[0]].values[:3]  # K = 3 < 2^bits: codes must stay below 3
    layers[names[0]].codes = np.minimum(layers[names[0]].codes, 2)
    for n, q in layers.items():
        g.tensors[n].data = q.dequantize()
    return convert(QuantizedModel(g, "t", layers)).image


def _parts(img: bytes) -> tuple:
    h = struct.unpack_from("<14I", img, 0)
    ext = struct.unpack_from("<8I", img, 56)
    n_chunks = h[12]
    index = struct.unpack_from("<%di" % n_chunks, img, 88)
    base = 88 + 4 * n_chunks
    qlist = struct.unpack_from("<%di" % ext[5], img, base + index[ext[6]])
    descs = [(k, base + index[c]) for k, c in enumerate(qlist) if c != -1]
    return h, ext, index, base, qlist, descs


def _patch(img: bytes, off: int, fmt: str, value) -> bytes:  # noqa: ANN001
    b = bytearray(img)
    struct.pack_into(fmt, b, off, value)
    return bytes(b)


def test_small_image_reads(small_image) -> None:
    g = read_nnb(small_image)
    assert sum(n.op.endswith("Packed") for n in g.nodes) == 2
    _, ext, _, _, qlist, descs = _parts(small_image)
    assert ext[5] == len(qlist) and len(descs) == 2


def test_corrupt_descriptors(small_image) -> None:
    img = small_image
    h, ext, index, base, qlist, descs = _parts(img)
    (lut_var, lut), (uni_var, uni) = descs
    qoff = base + index[ext[6]]
    float_var = next(k for k, c in enumerate(qlist) if c == -1)
    bad = [
        _patch(img, 56 + 20, "<I", ext[5] + 1),  # list size != variables
        _patch(img, 56 + 28, "<I", 7),  # reserved word
        _patch(img, 56 + 20, "<I", 0),  # quantized variables without a list
        _patch(img, qoff + 4 * lut_var, "<i", -1),  # quantized variable without a descriptor
        _patch(img, qoff + 4 * float_var, "<i", qlist[lut_var]),  # float variable with one
        _patch(img, qoff + 4 * lut_var, "<i", 99999),  # chunk out of range
        _patch(img, lut, "<i", 5),  # kind != variable type
        _patch(img, lut + 4, "<i", 9),  # bits
        _patch(img, lut + 4, "<i", 0),
        _patch(img, lut + 8, "<i", 0),  # table count
        _patch(img, lut + 8, "<i", 5),  # more entries than 2 bits index
        _patch(img, lut + 8, "<i", 2),  # codes 2 now out of the table
        _patch(img, lut + 12, "<i", 99999),  # table chunk
        _patch(img, lut + 16, "<f", 1.0),  # step set on a LUT
        _patch(img, uni + 16, "<f", 0.0),  # step
        _patch(img, uni + 16, "<f", float("nan")),
        _patch(img, uni + 16, "<f", -0.5),
        _patch(img, uni + 20, "<i", 3),  # step kind
        _patch(img, uni + 24, "<i", 1),  # shift does not encode the step
        _patch(img, uni + 28, "<i", 12345),  # multiplier
        _patch(img, uni + 4, "<i", 1),  # uniform needs >= 2 bits
        _patch(img, uni + 12, "<i", 0),  # uniform has no table
    ]
    for k, b in enumerate(bad):
        with pytest.raises(NnbError):
            read_nnb(b)
        assert b != img, k


def test_quantized_type_outside_extended_or_misused(small_image) -> None:
    from nnb.nnp.reader import load

    compat = convert(load(LENET), mode="compat").image
    h = struct.unpack_from("<14I", compat, 0)
    index = struct.unpack_from("<%di" % h[12], compat, 56)
    base = 56 + 4 * h[12]
    records = struct.unpack_from("<%di" % h[4], compat, base + index[h[5]])
    param = next(r for r in records if struct.unpack_from("<i", compat, base + index[r] + 16)[0] >= 0)
    with pytest.raises(NnbError, match="quantized type"):
        read_nnb(_patch(compat, base + index[param] + 12, "<B", 4))
    # a quantized variable read as a function's data input
    img = small_image
    h, ext, index, base, qlist, descs = _parts(img)
    fns = struct.unpack_from("<%di" % h[6], img, base + index[h[7]])
    _, _, _, ich, _, _ = struct.unpack_from("<HHIiIi", img, base + index[fns[-1]])
    with pytest.raises(NnbError, match="quantized variable"):
        read_nnb(_patch(img, base + index[ich], "<i", descs[0][0]))
