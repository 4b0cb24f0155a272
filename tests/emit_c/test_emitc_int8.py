"""emit-c for int8 models: the emitted C computes the C runtime's integers and the numpy integer simulation's
(every integer tensor, compared through its dequantization table, which maps each int8 value to its own float),
on the host and on the Cortex-M4 (QEMU mps2-an386); it compiles -Werror -pedantic with gcc, clang and
arm-none-eabi-gcc; two emits are byte-identical; the footprint report's code figure is the linker map's; an
int8 record without an emitted kernel stops the emit in one line (exit 2, nothing written).

The models are calibrated as tests/int8 does it (tests/int8/int8_quant_helpers.py: zoo models on noisy copies
of their fixture input, the trained Fashion-MNIST models on 200 fixture images)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import TRAINED, ZOO
from emitc_helpers import host_cc, need
from test_emitc_m4_size import PREFIX, m4_firmware_map

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "int8"))

from int8_quant_helpers import calibrated, fmnist_model  # noqa: E402

from nnb.cli import main  # noqa: E402
from nnb.emit.csource import render, render_int8, write_tree  # noqa: E402

M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]


def _model(name: str):  # noqa: ANN202 - (Int8Model, input)
    if name.startswith("fmnist_"):
        m, x = fmnist_model(name.split("_", 1)[1])
        return m, x[:3]
    m, xs, _ = calibrated(name)
    return m, xs[0]


def _cnet():  # noqa: ANN202
    host_cc()
    need("make", "make")
    from nnb.backends.c import CNet

    return CNet


@pytest.mark.parametrize("name,kernels", [("lenet", "mcu"), ("dscnn", "mcu"), ("resnet8", "mcu"),
                                          ("conv_variants", "mcu"), ("unet_tiny", "mcu"), ("fmnist_lenet", "mcu"),
                                          ("fmnist_dscnn", "mcu"), ("dscnn", "host")])
def test_emitted_int8_equals_c_runtime_and_simulation(name: str, kernels: str) -> None:
    """Every integer tensor (returned dequantized) and every output: emitted C == C runtime == simulation;
    a float island's output (Softmax) equals the C runtime's bit for bit (the same float kernel)."""
    from nnb.backends.emit_c import PREFIX, EmittedNet
    from nnb.emit.nnb_int8 import write_int8_nnb
    from nnb.quantize.int_sim import run_int8

    CNet = _cnet()
    m, x = _model(name)
    ints = tuple(s.output for s in m.steps if s.kind == "int")
    e = render_int8(m, PREFIX, kernels=kernels, extra_outputs=ints)
    # -O1 (-O0 for the x86-64 int8 paths): quicker to build (unet_tiny's float islands bring the float
    # convolution engine); the same integers
    got = EmittedNet("", kernels=kernels, emitted=e, opt=["-O0" if kernels == "host" else "-O1"]).run_batch([x])
    image, d, _ = write_int8_nnb(m, extra_outputs=ints)
    assert [io.name for io in e.model.outputs] == list(d.outputs)
    rt = CNet(image).run_batch([x])
    want = run_int8(m, [x], keep=ints)
    islands = {o for s in m.steps if s.kind == "island" for o in s.node.outputs}
    checked = 0
    for key, y, r in zip(d.outputs, got, rt):
        assert np.array_equal(y, r), f"{name}: {key}: emitted C and the C runtime differ"
        t = key[:-3] if key.endswith("@dq") else key
        if t in islands:
            continue
        assert np.array_equal(y.reshape(want[t].shape), want[t]), f"{name}: {t}: emitted C and the simulation differ"
        checked += 1
    assert checked >= len(ints)


def test_emitted_input_quantization_is_the_runtimes_on_every_kind_of_value() -> None:
    """The emitted quantize (a guess from x / scale, then the thresholds) against the C runtime's (a binary
    search over the same thresholds): the thresholds themselves and their float32 neighbours, half-way points,
    NaN, infinities, huge values; the quantized input is returned dequantized."""
    from nnb.backends.emit_c import PREFIX, EmittedNet
    from nnb.emit.nnb_int8 import write_int8_nnb
    from nnb.emit.nnb_int8_layout import quantize_thresholds

    CNet = _cnet()
    m, x = _model("fmnist_lenet")
    name = m.graph.inputs[0]
    q = m.qparams[name]
    t = quantize_thresholds(q.scale, q.zero)
    edge = np.concatenate([t, np.nextafter(t, np.float32(-np.inf)), np.nextafter(t, np.float32(np.inf)),
                           (np.arange(-140, 140) - q.zero + 0.5) * q.scale,
                           [np.nan, np.inf, -np.inf, 3e38, -3e38, 0.0, -0.0, 1e-30]]).astype(np.float32)
    one = x[:1]
    xe = np.zeros((-(-edge.size // one.size),) + one.shape[1:], np.float32)
    xe.reshape(-1)[:edge.size] = edge
    em = EmittedNet("", emitted=render_int8(m, PREFIX, extra_outputs=(name,)), opt=["-O1"])
    image, d, _ = write_int8_nnb(m, extra_outputs=(name,))
    k = d.outputs.index(f"{name}@dq")
    rt = CNet(image)
    for i in range(len(xe)):
        a, b = em.run([xe[i:i + 1]])[k], rt.run([xe[i:i + 1]])[k]
        assert np.array_equal(a, b), f"{int((a != b).sum())} quantized inputs differ"
    assert em.run([xe[:1]])[k].reshape(-1)[0] == q.dequantize(np.array([-127]))[0]  # t[0] quantizes to -127


def test_int8_entry_takes_and_gives_int8() -> None:
    """PREFIX_run_q8 on the input quantized with the header's scale and zero point gives the int8 outputs whose
    dequantization PREFIX_run returns (resnet8: every output dequantized from an int8 tensor)."""
    from cffi import FFI

    from nnb.backends.emit_c import PREFIX, EmittedNet
    from nnb.emit.nnb_int8_layout import dequantize_table
    from nnb.quantize.int8 import QParams

    _cnet()
    m, x = _model("resnet8")
    e = render_int8(m, PREFIX)
    assert e.model.q8_api
    header = e.files[f"{PREFIX}.h"].decode()
    (mx, (sx, zx)), (my, (sy, zy)) = list(e.model.q8_io.items())
    assert f"#define {mx}_SCALE {sx}" in header and f"#define {my}_ZERO ({zy})" in header
    em = EmittedNet("", emitted=e, opt=["-O1"])
    want = em.run([x])[0]
    ffi = FFI()
    ffi.cdef(f"int {PREFIX}_run_q8(const int8_t *x, int8_t *y);")
    lib = ffi.dlopen(os.path.join(em.dir, f"lib{PREFIX}.so"))
    xq = np.ascontiguousarray(QParams(float(sx), zx).quantize(x), np.int8)
    yq = np.zeros(want.shape, np.int8)
    assert lib.nnbm_run_q8(ffi.cast("int8_t *", ffi.from_buffer(xq)), ffi.cast("int8_t *", ffi.from_buffer(yq))) == 0
    assert np.array_equal(dequantize_table(float(sy), zy)[yq.astype(np.int32) + 128], want)


def _lenet_logits_nnq(tmp_path) -> str:  # noqa: ANN001
    """The trained lenet without its final Softmax (its output the int8 logits, dequantized), calibrated on 200
    fixture images, saved as .nnq."""
    from int8_quant_helpers import fmnist_data

    from nnb.ir import Graph
    from nnb.nnp.reader import load
    from nnb.quantize.calib import collect
    from nnb.quantize.int8 import build_int8, prepare_graph, to_quantized
    from nnb.quantize.qmodel import save_quantized

    g = load(os.path.join(TRAINED, "fmnist_lenet.nnp"))
    last = g.nodes[-1]
    assert last.op == "Softmax"
    g = Graph(g.name, {k: t for k, t in g.tensors.items() if k not in last.outputs}, g.nodes[:-1], list(g.inputs),
              [last.inputs[0]])
    xs, _ = fmnist_data()
    m = build_int8(prepare_graph(g), collect(prepare_graph(g), xs[:200]), "minmax")
    path = str(tmp_path / "lenet_logits.nnq")
    save_quantized(path, to_quantized(m, g))
    return path


def test_int8_lenet_on_the_m4_gives_the_hosts_integers_and_the_reported_footprint(tmp_path) -> None:
    """The trained lenet (int8 logits as its output): `nnb build --with emit-c` firmware for qemu-mps2-an386,
    run in QEMU, returns the host's emitted-C integers; its linker map holds what the footprint report says
    (weights exactly, code besides the weights within 10 %)."""
    need("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    need("qemu-system-arm", "qemu-system-arm")
    need("make", "make")
    from nnb.backends.emit_c import EmittedNet
    from nnb.boards.load import load_board
    from nnb.boards.qemu import run_firmware
    from nnb.boards.run import model_image, pack_inputs, unpack_outputs
    from nnb.emit.csource_footprint import measure

    nnq = _lenet_logits_nnq(tmp_path)
    x = fmnist_model("lenet")[1][:1]
    host = EmittedNet(nnq).run([x])[0]
    out = str(tmp_path / "fw")
    _, split = m4_firmware_map(nnq, out)
    mi = model_image(nnq)
    res = run_firmware(load_board("qemu-mps2-an386"), os.path.join(out, "firmware.elf"),
                       {"nnb_in.bin": pack_inputs(mi, [x])}, want=("nnb_out.bin",))
    m4 = unpack_outputs(mi, res.files["nnb_out.bin"])[0]
    assert np.array_equal(m4.reshape(host.shape), host), "the M4's int8 logits differ from the host's"
    own = split["own"]
    code = own["text"] + own["rodata"] + own["data"]
    rep = measure(render(nnq, prefix=PREFIX), "cortex-m4")
    assert sum(split["excluded"].values()) == rep["weights_bytes"]
    assert abs(rep["code_besides_weights_bytes"] - code) <= 0.10 * code, (rep["code_besides_weights_bytes"], code)
    assert own["data"] + own["bss"] >= rep["arena_bytes"]


def test_int8_tree_compiles_werror_with_gcc_clang_and_arm(tmp_path) -> None:
    """The trained lenet (quantize, convolutions with a fused max pool, Affine, dequantize, Softmax island), with
    the caller-arena API, and unet_tiny's float islands called through their kernel records (Deconvolution,
    Sigmoid) with its two inputs, max pool and concatenation, on the host compiler."""
    host_cc()
    need("make", "make")
    m, _ = _model("fmnist_lenet")
    e = render_int8(m, "lenet8", arena="caller")
    # the first convolution quantizes the float input itself (Q8QConv)
    assert {n.kind for n in e.model.nodes} == {"qconv_pool", "conv_pool", "affine", "dequantize", "softmax"}
    u = render_int8(_model("unet_tiny")[0], "unet8")
    assert {n.kind for n in u.model.nodes} >= {"quantize", "conv", "max_pool", "concat", "record", "dequantize"}
    compilers = [("gcc", "-O1", e), ("clang", "-O1", e), ("arm-none-eabi-gcc", "-Os " + " ".join(M4), e)]
    for k, (cc, flags, em) in enumerate(compilers):
        need(cc, {"clang": "clang", "arm-none-eabi-gcc": "gcc-arm-none-eabi"}.get(cc, "gcc"))
        out = str(tmp_path / f"t{k}")
        write_tree(em, out)
        r = subprocess.run(["make", "-s", "-j2", "-C", out, "objs", f"CC={cc}", f"CFLAGS={flags}"],
                           capture_output=True, text=True)
        assert r.returncode == 0 and "warning" not in r.stderr.lower(), f"{cc}: {r.stderr[-2000:]}"
    # unet_tiny's example program under ASan + UBSan on the fixture inputs: clean, and the C runtime's outputs
    from nnb.emit.nnb_int8 import write_int8_nnb

    out = str(tmp_path / "san")
    write_tree(u, out)
    san = "-fsanitize=address,undefined"
    r = subprocess.run(["make", "-s", "-j2", "-C", out, "CC=gcc", f"CFLAGS=-O0 -g {san} -fno-sanitize-recover=all",
                        f"LDFLAGS={san}"], capture_output=True, text=True)
    assert r.returncode == 0 and "warning" not in r.stderr.lower(), r.stderr[-2000:]
    ins = [os.path.join(ZOO, f"unet_tiny.in{k}.npy") for k in range(len(u.model.inputs))]
    r = subprocess.run([os.path.join(out, "unet8_example"), *ins, "-o", str(tmp_path / "y")], capture_output=True,
                       text=True, env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    assert r.returncode == 0 and not r.stderr, r.stderr[-2000:]
    want = _cnet()(write_int8_nnb(_model("unet_tiny")[0])[0]).run([np.load(p) for p in ins])
    for k, w in enumerate(want):
        assert np.array_equal(np.load(str(tmp_path / f"y.out{k}.npy")).reshape(w.shape), w)


def test_int8_emit_is_deterministic_and_the_cli_reports_it(tmp_path, capsys) -> None:
    """`nnb quantize --method int8` then `nnb emit-c`: two emits byte-identical; --json has the footprint; the
    emit-c backend runs the .nnq."""
    import json

    x = np.load(os.path.join(ZOO, "lenet.in0.npy"))
    rng = np.random.default_rng(0)
    calib = str(tmp_path / "calib.npz")
    np.savez(calib, x=np.concatenate([x + rng.normal(0, 0.1, x.shape).astype(np.float32) for _ in range(4)]),
             y=np.zeros(4, np.int64))
    nnq = str(tmp_path / "l8.nnq")
    assert main(["quantize", os.path.join(ZOO, "lenet.nnp"), "--method", "int8", "--calib", calib, "-q",
                 "-o", nnq]) == 0
    a, b = render(nnq, command="x"), render(nnq, command="x")
    assert a.files == b.files and "l8.c" in a.files and "nnbrt/kernels/int8/conv.c" in a.files
    assert "nnbrt/kernels/int8/conv_x86.c" not in a.files  # the mcu profile: portable / Cortex-M paths only
    from nnb.emit.convert import convert

    assert a.model.tensor_bytes == convert(nnq).buffer_bytes  # the int8 NNB's own plan (the C runtime's tensors)
    nnb8 = str(tmp_path / "l8.nnb")  # the int8 NNB file emits the same steps (its reader names them anew)
    assert main(["convert", nnq, "-o", nnb8]) == 0
    c8 = render(nnb8, prefix="l8", command="x").model
    assert (c8.arena_bytes, c8.weight_bytes, c8.conv_params, c8.pool_params) == \
        (a.model.arena_bytes, a.model.weight_bytes, a.model.conv_params, a.model.pool_params)
    assert [n.kind for n in c8.nodes] == [n.kind for n in a.model.nodes]
    assert sorted(p.values for p in c8.params) == sorted(p.values for p in a.model.params)
    capsys.readouterr()
    out = str(tmp_path / "out")
    assert main(["emit-c", nnq, "-o", out, "--json", "--target", "host"]) == 0
    rep = json.loads(capsys.readouterr().out)["footprint"]
    assert rep["weights_bytes"] == a.model.weight_bytes and rep["arena_bytes"] == a.model.arena_bytes
    assert rep["code_bytes"] > 0 and rep["tensor_bytes"] == a.model.tensor_bytes
    np.save(str(tmp_path / "x.npy"), x)
    for backend in ("emit-c", "c"):
        assert main(["run", nnq, "--backend", backend, "--input", str(tmp_path / "x.npy"),
                     "--output", str(tmp_path / f"{backend}.npz")]) == 0
    e, c = np.load(str(tmp_path / "emit-c.npz")), np.load(str(tmp_path / "c.npz"))
    assert all(np.array_equal(e[k], c[k]) for k in c.files)


def test_int8_record_without_emitted_kernel_stops_in_one_line(tmp_path, capsys, monkeypatch) -> None:
    """An int8 record the emitter has no call for (a hand-made record 'Q8Bogus' appended to the deployed records
    of a calibrated zoo lenet; every real one, LUT-Q's included, is emitted): one `nnb: error:` line naming the
    record, exit 2, nothing written."""
    import nnb.emit.csource_int8 as ci8
    from nnb.emit.nnb_int8 import Fn

    x = np.load(os.path.join(ZOO, "lenet.in0.npy"))
    calib = str(tmp_path / "calib.npz")
    np.savez(calib, x=np.concatenate([x, x * np.float32(0.9)]), y=np.zeros(2, np.int64))
    nnq = str(tmp_path / "l8.nnq")
    assert main(["quantize", os.path.join(ZOO, "lenet.nnp"), "--method", "int8", "--calib", calib, "-q",
                 "-o", nnq]) == 0
    real = ci8.deploy

    def bogus(m, extra=()):  # noqa: ANN001, ANN202
        d = real(m, extra)
        last = d.fns[-1]
        d.fns.append(Fn("Q8Bogus", list(last.outputs), list(last.outputs), {}))
        return d

    monkeypatch.setattr(ci8, "deploy", bogus)
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["emit-c", nnq, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nnb: error: ") and "Q8Bogus" in err[0], err
    assert not out.exists()
