"""emit-c for LUT-Q weights with int8 activations (records 1012 Q8LutConv / 1013 Q8LutAffine): each record is one
direct call of lutq.c's nnb_i8_lutq_conv2d with its codes, integer dictionaries and requantization constants as
const arrays; the emitted C computes the C runtime's and the numpy simulation's integers on every integer tensor
(a LUT-Q lenet made through the CLI, zoo models with k-means LUT-Q weights, power-of-two dictionaries among
them), the Cortex-M4 build (QEMU mps2-an386) gives the host's integers, and the tree compiles -Werror -pedantic
with gcc, clang and arm-none-eabi-gcc."""

from __future__ import annotations

import functools
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import DATA, TRAINED
from emitc_helpers import host_cc, need

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "int8"))

from test_int8_lutq import ZOO_CASES, _lutq_zoo  # noqa: E402

from nnb.cli import main  # noqa: E402
from nnb.emit.csource import render_int8, write_tree  # noqa: E402

M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
_MADE: dict[str, str] = {}


def _lenet_nnq(tmp_path_factory) -> str:  # noqa: ANN001
    """The trained lenet, LUT-Q (K=4) for one epoch on 64 images, then int8 activations with --keep-lutq on 50
    calibration images, all through the CLI (once per session)."""
    if "lenet" in _MADE:
        return _MADE["lenet"]
    data = os.path.join(DATA, "fmnist_test_2k.npz")
    lenet = os.path.join(TRAINED, "fmnist_lenet.nnp")
    for p in (data, lenet):
        if not os.path.exists(p):
            pytest.skip(f"fixture {p} is missing (tests read ../shared/fixtures)")
    tmp = tmp_path_factory.mktemp("lutq8")
    lut, lut8 = str(tmp / "lut.nnq"), str(tmp / "lut8.nnq")
    assert main(["quantize", lenet, "--method", "lutq", "--data", data, "--limit", "64", "--epochs", "1", "-q",
                 "-o", lut, "--val", "none"]) == 0
    assert main(["quantize", lut, "--method", "int8", "--keep-lutq", "--calib", data, "--calib-samples", "50", "-q",
                 "-o", lut8]) == 0
    _MADE["lenet"] = lut8
    return lut8


def _fmnist(n: int) -> np.ndarray:
    with np.load(os.path.join(DATA, "fmnist_test_2k.npz")) as z:
        return z["x"][-n:].astype(np.float32).reshape(-1, 1, 28, 28) / np.float32(255)


@functools.cache
def _zoo(name: str):  # noqa: ANN202 - (Int8Model, input)
    """A zoo model with k-means LUT-Q weights (tests/int8/test_int8_lutq.py's settings), int8 activations."""
    from int8_quant_helpers import perturbed, zoo_inputs

    from nnb.quantize.lutq_int8 import build_lutq_int8

    qm = _lutq_zoo(name, ZOO_CASES[name])
    xs = zoo_inputs(name, len(qm.graph.inputs))
    return build_lutq_int8(qm, perturbed(xs)[0]), xs[0]


def _model(name: str, tmp_path_factory):  # noqa: ANN001, ANN202 - (Int8Model, input)
    from nnb.quantize.int8 import from_quantized
    from nnb.quantize.qmodel import load_quantized

    if name == "fmnist_lenet":
        return from_quantized(load_quantized(_lenet_nnq(tmp_path_factory))), _fmnist(4)
    return _zoo(name)


def _cnet():  # noqa: ANN202
    host_cc()
    need("make", "make")
    from nnb.backends.c import CNet

    return CNet


@pytest.mark.parametrize("name", ["fmnist_lenet", "dscnn", "resnet8"])
def test_emitted_lutq_int8_equals_c_runtime_and_simulation(name: str, tmp_path_factory) -> None:  # noqa: ANN001
    """Every integer tensor (returned dequantized): emitted C == C runtime == simulation; every LUT-Q step is a
    direct lutq call (lenet: pooled convolutions and Affines; dscnn: power-of-two dictionaries, depthwise;
    resnet8: residual convolutions)."""
    from nnb.backends.emit_c import PREFIX, EmittedNet
    from nnb.emit.nnb_int8 import write_int8_nnb
    from nnb.quantize.int_sim import run_int8
    from nnb.quantize.lutq_int8 import CODES

    CNet = _cnet()
    m, x = _model(name, tmp_path_factory)
    ints = tuple(s.output for s in m.steps if s.kind == "int")
    e = render_int8(m, PREFIX, extra_outputs=ints)
    kinds = [n.kind for n in e.model.nodes]
    n_lut = sum(1 for s in m.steps if CODES in s.arrays)
    assert n_lut >= 1 and sum(k.startswith("lut_") for k in kinds) == n_lut
    assert "nnbrt/kernels/int8/lutq.c" in e.files
    pow2 = [v[5] for _, v in e.model.luts]
    if ZOO_CASES.get(name, {}).get("pow2"):
        assert set(pow2) == {"1"}, "power-of-two dictionaries run as shifts"
    if name == "fmnist_lenet":
        assert {"lut_pool", "lut_affine"} <= set(kinds) and "nnbrt/kernels/int8/conv.c" not in e.files
    got = EmittedNet("", emitted=e, opt=["-O1"]).run_batch([x])
    image, d, _ = write_int8_nnb(m, extra_outputs=ints)
    rt = CNet(image).run_batch([x])
    want = run_int8(m, [x], keep=ints)
    checked = 0
    for key, y, r in zip(d.outputs, got, rt):
        assert np.array_equal(y, r), f"{name}: {key}: emitted C and the C runtime differ"
        t = key[:-3] if key.endswith("@dq") else key
        if t in ints:
            assert np.array_equal(y.reshape(want[t].shape), want[t]), f"{name}: {t}: emitted C and simulation differ"
            checked += 1
    assert checked == len(ints)


def _logits_nnq(src: str, out: str) -> str:
    """The LUT-Q int8 lenet without its final Softmax island: the int8 logits (dequantized) are its output."""
    from nnb.ir import Graph
    from nnb.quantize.qmodel import load_quantized, save_quantized

    qm = load_quantized(src)
    g = qm.graph
    last = g.nodes[-1]
    assert last.op == "Softmax" and qm.info["steps"][-1]["node"] == last.name
    qm.graph = Graph(g.name, {k: t for k, t in g.tensors.items() if k not in last.outputs}, g.nodes[:-1],
                     list(g.inputs), [last.inputs[0]])
    qm.info["steps"] = qm.info["steps"][:-1]
    save_quantized(out, qm)
    return out


def test_emitted_lutq_lenet_on_the_m4_gives_the_hosts_integers(tmp_path_factory, tmp_path) -> None:  # noqa: ANN001
    """`nnb build --with emit-c` firmware for qemu-mps2-an386 (the Cortex-M4 DSP path of lutq.c), run in QEMU:
    the LUT-Q lenet's int8 logits equal the host's emitted C and the C runtime's."""
    need("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    need("qemu-system-arm", "qemu-system-arm")
    need("make", "make")
    from nnb.backends.emit_c import EmittedNet
    from nnb.boards.run import run_on_board
    from nnb.quantize.qmodel import load_quantized

    nnq = _logits_nnq(_lenet_nnq(tmp_path_factory), str(tmp_path / "logits.nnq"))
    assert load_quantized(nnq).graph.nodes[-1].op == "Affine"
    x = _fmnist(1)
    host = EmittedNet(nnq).run([x])[0]
    outs, rep = run_on_board(nnq, "qemu-mps2-an386", [x], with_="emit-c")
    m4 = list(outs.values())[0]
    assert np.array_equal(np.asarray(m4).reshape(host.shape), host), "the M4's int8 logits differ from the host's"
    assert rep.run_count > 0
    _cnet()
    assert main(["run", nnq, "--backend", "c", "--input", _save(tmp_path, x), "--output", str(tmp_path / "c.npz")]) == 0
    c = np.load(str(tmp_path / "c.npz"))
    assert np.array_equal(c[c.files[0]].reshape(host.shape), host)


def _save(tmp_path, x: np.ndarray) -> str:  # noqa: ANN001
    p = str(tmp_path / "x.npy")
    np.save(p, x)
    return p


def test_lutq_int8_tree_compiles_werror_with_gcc_clang_and_arm(tmp_path, tmp_path_factory) -> None:  # noqa: ANN001
    """The LUT-Q lenet tree (caller arena): -Wall -Wextra -Werror -pedantic on gcc, clang and arm-none-eabi-gcc
    (Cortex-M4: the DSP path), and dscnn's (power-of-two dictionaries, depthwise) on arm-none-eabi-gcc; two
    emits byte-identical."""
    host_cc()
    need("make", "make")
    lenet, _ = _model("fmnist_lenet", tmp_path_factory)
    a = render_int8(lenet, "lut8", arena="caller")
    assert a.files == render_int8(lenet, "lut8", arena="caller").files
    trees = [a, render_int8(_model("dscnn", tmp_path_factory)[0], "dsl8")]
    jobs = [("gcc", "-O1"), ("clang", "-O1"), ("arm-none-eabi-gcc", "-Os " + " ".join(M4))]
    for k, (cc, flags) in enumerate(jobs):
        need(cc, {"clang": "clang", "arm-none-eabi-gcc": "gcc-arm-none-eabi"}.get(cc, "gcc"))
        for j, em in enumerate(trees if cc == "arm-none-eabi-gcc" else trees[:1]):
            out = str(tmp_path / f"t{k}{j}")
            write_tree(em, out)
            r = subprocess.run(["make", "-s", "-j2", "-C", out, "objs", f"CC={cc}", f"CFLAGS={flags}"],
                               capture_output=True, text=True)
            assert r.returncode == 0 and "warning" not in r.stderr.lower(), f"{cc}: {r.stderr[-2000:]}"
