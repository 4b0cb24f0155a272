"""Calibrated int8 / fixed point: accuracy against float, the .nnq round trip, the CLI and its bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from int8_quant_helpers import TRAINED, calibrated, fmnist_data, fmnist_model, need

from nnb.cli import main
from nnb.executor import run, run_batched
from nnb.nnp.reader import load
from nnb.quantize import fixed
from nnb.quantize.calib import collect
from nnb.quantize.int8 import arena_bytes, from_quantized, to_quantized
from nnb.quantize.int8_report import sqnr_db
from nnb.quantize.int_sim import run_int8, run_int8_batched
from nnb.quantize.int_sim_arith import quantize_multiplier
from nnb.quantize.qmodel import load_quantized, save_quantized

ZOO_CONV = ["lenet", "dscnn", "resnet8", "depthwise", "conv_variants", "batchnorm", "unet_tiny"]


def test_quantize_multiplier_exact() -> None:
    rng = np.random.default_rng(3)
    for m in np.concatenate([rng.uniform(1e-6, 1.0, 200), rng.uniform(1.0, 1000.0, 50), [0.5, 0.25, 1.0]]):
        mult, shift = quantize_multiplier(float(m))
        assert (1 << 30) <= mult < (1 << 31)
        assert abs(mult * 2.0 ** (shift - 31) - m) <= m * 2.0 ** -30
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(2.0 ** -40) == (0, 0)


@pytest.mark.parametrize("name", ZOO_CONV)
def test_zoo_int8_sqnr(name: str) -> None:
    """Every quantizable zoo conv model: each int8 output >= 30 dB SQNR against the float reference."""
    m, xs, g = calibrated(name)
    want = run(g, xs)
    got = run_int8(m, xs)
    for o in g.outputs:
        s = sqnr_db(want[o], got[o])
        assert s >= 30.0, f"{name}: output {o} SQNR {s:.1f} dB"


@pytest.mark.parametrize("arch", ["lenet", "dscnn"])
def test_trained_int8_accuracy(arch: str) -> None:
    """On 1800 held-out images: int8 top-1 within 0.6 points of float (benchmarks/int8_accuracy.py: 10k)."""
    m, x = fmnist_model(arch)
    _, y = fmnist_data()
    y = y[200:]
    f = run_batched(m.graph, [x])[m.graph.outputs[0]].reshape(len(x), -1)
    q = run_int8_batched(m, x).reshape(len(x), -1)
    fa, qa = (f.argmax(1) == y).mean(), (q.argmax(1) == y).mean()
    assert qa >= fa - 0.006, f"{arch}: int8 {qa:.2%} vs float {fa:.2%}"
    # weight tensors: 1 byte where float has 4; the one-sample arena: at most 26 % of float's
    w_float = sum(4 * int(np.prod(m.graph.tensors[s.node.inputs[1]].shape)) for s in m.steps if "weight" in s.arrays)
    assert m.weight_tensor_bytes() * 4 == w_float
    int8_arena, float_arena = arena_bytes(m)
    assert int8_arena <= 0.26 * float_arena, (int8_arena, float_arena)


@pytest.mark.parametrize("method,tol", [("fixed16", 0.001), ("fixed8", 0.015)])
def test_trained_fixed_accuracy(method: str, tol: float) -> None:
    g = fixed.prepare_graph(load(need(os.path.join(TRAINED, "fmnist_lenet.nnp"))))
    x, y = fmnist_data()
    m = fixed.build_fixed(g, collect(g, x[:200]), method, "mse")
    assert all(0 <= v <= 15 for v in m.fp_pos.values())
    f = run_batched(g, [x[200:]])[g.outputs[0]].argmax(1)
    q = fixed.run_fixed_batched(m, x[200:]).argmax(1)
    fa, qa = (f == y[200:]).mean(), (q == y[200:]).mean()
    assert qa >= fa - tol, f"{method}: {qa:.2%} vs float {fa:.2%}"


def test_fixed_point_choice() -> None:
    v = np.array([0.3, -1.7, 2.9])
    assert fixed.choose_fp_pos(v, 8, "minmax") == 5  # 127 / 32 = 3.97 holds 2.9; 127 / 64 does not
    assert fixed.choose_fp_pos(v, 16, "minmax") == 13
    assert fixed.choose_fp_pos(np.array([1000.0]), 8, "minmax") == 0  # saturates: no fp_pos holds it
    assert np.array_equal(fixed.fixed_round(np.array([0.5 / 32, -0.5 / 32, 10.0]), 8, 5), [1 / 32, -1 / 32, 127 / 32])


def test_nnq_round_trip(tmp_path) -> None:  # noqa: ANN001
    m, xs, _ = calibrated("resnet8")
    path = str(tmp_path / "r.nnq")
    save_quantized(path, to_quantized(m, load(need(os.path.join(os.path.dirname(TRAINED), "zoo", "resnet8.nnp")))))
    m2 = from_quantized(load_quantized(path))
    a, b = run_int8(m, xs, as_int=True), run_int8(m2, xs, as_int=True)
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def calib_npz(tmp_path_factory) -> str:  # noqa: ANN001
    x, y = fmnist_data()
    path = str(tmp_path_factory.mktemp("calib") / "c.npz")
    np.savez(path, x=(x[:300] * 255).round().astype(np.uint8), y=y[:300])
    return path


def test_cli_int8(tmp_path, calib_npz, capsys) -> None:  # noqa: ANN001
    out, rep = str(tmp_path / "l.nnq"), str(tmp_path / "l.html")
    model = need(os.path.join(TRAINED, "fmnist_lenet.nnp"))
    assert main(["quantize", model, "--method", "int8", "--calib", calib_npz, "--calib-samples", "100",
                 "--calib-method", "percentile", "--data", calib_npz, "-q", "-o", out, "--report", rep]) == 0
    text = capsys.readouterr().out
    assert "SQNR" in text and "float islands" in text and "Softmax" in text and "top-1 on 300 samples" in text
    rows = [ln for ln in text.splitlines() if "FusedConv+relu" in ln]
    assert len(rows) == 2 and all(float(r.split()[-1]) > 25 for r in rows)
    with open(rep) as f:
        assert f.read().count('class="layer"') == 5
    qm = load_quantized(out)
    assert qm.method == "int8" and qm.info["calib_samples"] == 100
    # nnb run --backend intsim: the integer simulation of the .nnq, not its float network
    x = fmnist_data()[0][:7]
    np.save(str(tmp_path / "x.npy"), x)
    assert main(["run", out, "--backend", "intsim", "--input", str(tmp_path / "x.npy"), "-o",
                 str(tmp_path / "y.npz")]) == 0
    with np.load(str(tmp_path / "y.npz")) as z:
        got = z["y"]
    assert np.array_equal(got, run_int8(from_quantized(qm), [x])["y"])
    assert not np.array_equal(got, run(qm.graph, [x])["y"])
    capsys.readouterr()
    # the float reference refuses instead of answering with the float network; the C runtime runs the int8 NNB
    _fails(["run", out, "--input", str(tmp_path / "x.npy")], capsys, "calibrated int8 model", "intsim")
    assert main(["run", out, "--backend", "c", "--input", str(tmp_path / "x.npy"), "-o",
                 str(tmp_path / "yc.npz")]) == 0
    with np.load(str(tmp_path / "yc.npz")) as z:
        np.testing.assert_allclose(z["y"], got, atol=1e-6)  # the Softmax island in float32: ulps apart at most


def test_cli_fixed(tmp_path, calib_npz, capsys) -> None:  # noqa: ANN001
    out = str(tmp_path / "f.nnq")
    model = need(os.path.join(TRAINED, "fmnist_dscnn.nnp"))
    assert main(["quantize", model, "--method", "fixed16", "--calib", calib_npz, "--calib-samples", "50", "-q",
                 "-o", out]) == 0
    assert "fp_pos" in capsys.readouterr().out
    qm = load_quantized(out)
    m = fixed.from_quantized(qm)
    assert m.bits == 16 and set(m.fp_pos) >= set(m.graph.outputs)


def _fails(argv: list[str], capsys, *words: str) -> None:  # noqa: ANN001
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("nnb: error: ") and "Traceback" not in "".join(err), err
    for w in words:
        assert w in err[-1], err[-1]


def test_bad_calibration_input(tmp_path, capsys) -> None:  # noqa: ANN001
    model = need(os.path.join(TRAINED, "fmnist_lenet.nnp"))
    out = str(tmp_path / "o.nnq")
    wrong = str(tmp_path / "wrong.npz")
    np.savez(wrong, x=np.zeros((4, 1, 27, 28), np.uint8), y=np.zeros(4))
    _fails(["quantize", model, "--method", "int8", "--calib", wrong, "-o", out], capsys, "(1, 27, 28)")
    empty = str(tmp_path / "empty.npz")
    np.savez(empty, x=np.zeros((0, 1, 28, 28), np.uint8), y=np.zeros(0))
    _fails(["quantize", model, "--method", "int8", "--calib", empty, "-o", out], capsys, "empty")
    text = str(tmp_path / "text.npz")
    np.savez(text, x=np.full((2, 1, 28, 28), "a"), y=np.zeros(2))
    _fails(["quantize", model, "--method", "fixed8", "--calib", text, "-o", out], capsys, "dtype")
    nan = str(tmp_path / "nan.npz")
    np.savez(nan, x=np.full((2, 1, 28, 28), np.nan, np.float32), y=np.zeros(2))
    _fails(["quantize", model, "--method", "int8", "--calib", nan, "-o", out], capsys, "non-finite")
    _fails(["quantize", model, "--method", "int8", "-o", out], capsys, "--calib")
    _fails(["quantize", model, "--method", "int8", "--calib", wrong, "--calib-samples", "0", "-o", out], capsys,
           "--calib-samples")
    assert not os.path.exists(out)


def test_strict_int_names_the_op(tmp_path, calib_npz, capsys) -> None:  # noqa: ANN001
    model = need(os.path.join(TRAINED, "fmnist_lenet.nnp"))
    _fails(["quantize", model, "--method", "int8", "--calib", calib_npz, "--calib-samples", "20", "--strict-int",
            "-q", "-o", str(tmp_path / "o.nnq")], capsys, "Softmax", "float island")


def test_cli_subprocess_one_line(tmp_path) -> None:  # noqa: ANN001
    """The installed entry point: a bad calibration file is one line on stderr and exit status 2."""
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    r = subprocess.run([sys.executable, "-m", "nnb.cli", "quantize", need(os.path.join(TRAINED, "fmnist_lenet.nnp")),
                        "--method", "int8", "--calib", str(bad), "-o", str(tmp_path / "o.nnq")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("nnb: error: "), r.stderr


def _var_types(image: bytes) -> list[tuple[int, int]]:
    """(type, fp_pos) of every variable record of an NNB image (NNB_FORMAT.md)."""
    import struct

    h = struct.unpack_from("<14I", image)
    n_data = h[12]
    base = 56 + 4 * n_data
    index = struct.unpack_from(f"<{n_data}i", image, 56)
    recs = struct.unpack_from(f"<{h[4]}i", image, base + index[h[5]])
    out = []
    for c in recs:
        _, _, _, tb, _ = struct.unpack_from("<IIiBxxxi", image, base + index[c])
        out.append((tb & 15, tb >> 4))
    return out


def test_cli_fixed_nnb(tmp_path, calib_npz, capsys) -> None:  # noqa: ANN001
    """fixed8: a compatible NNB whose every variable is FIXED8 with the calibrated fp_pos; read back, the
    parameters are the fixed model's exactly."""
    from nnb.emit.nnb_read import load_nnb

    out, nnb = str(tmp_path / "f.nnq"), str(tmp_path / "f.nnb")
    model = need(os.path.join(TRAINED, "fmnist_dscnn.nnp"))
    assert main(["quantize", model, "--method", "fixed8", "--calib", calib_npz, "--calib-samples", "50", "-q",
                 "-o", out, "--nnb", nnb]) == 0
    assert "compatible NNB" in capsys.readouterr().out
    m = fixed.from_quantized(load_quantized(out))
    with open(nnb, "rb") as f:
        image = f.read()
    types = _var_types(image)
    names = list(m.graph.tensors)
    assert [t for t, _ in types] == [2] * len(names)  # FIXED8
    assert [fp for _, fp in types] == [m.fp_pos[n] for n in names]
    g2 = load_nnb(nnb)
    assert [n.op for n in g2.nodes].count("AveragePooling") == 1  # GlobalAveragePooling spelled for nnabla
    for a, b in zip(m.graph.tensors.values(), g2.tensors.values()):
        if a.kind == "param":
            assert np.array_equal(a.data, b.data), a.name
    _fails(["quantize", model, "--method", "int8", "--calib", calib_npz, "-o", out, "--nnb", nnb], capsys, "--nnb")


def test_calib_top_scores_grid() -> None:
    """--calib-method top: the logits feeding the Softmax get a grid from just below the lowest per-sample top
    score (finer than percentile's), every other tensor percentile's."""
    from nnb.quantize.calib import TensorStats, choose_range
    from nnb.quantize.int8 import build_int8, prepare_graph

    st = TensorStats("s", -12.0, 10.0, np.linspace(-12, 10, 1000), top_lo=2.0)
    assert choose_range(st, "top", scores=True) == (2.0 - 0.1 * 8.0, 10.0)
    assert choose_range(st, "top") == choose_range(st, "percentile")
    g = prepare_graph(load(need(os.path.join(TRAINED, "fmnist_lenet.nnp"))))
    x, _ = fmnist_data()
    stats = collect(g, x[:100])
    top, pct = build_int8(g, stats, "top"), build_int8(g, stats, "percentile")
    logits = top.steps[-1].node.inputs[0]  # the Softmax island reads the logits
    lo = stats[logits].top_lo
    assert top.steps[-1].node.op == "Softmax" and top.qparams[logits].scale < pct.qparams[logits].scale
    assert top.qparams[logits].dequantize(np.array([-128]))[0] <= min(lo, 0.0)
    assert all(top.qparams[k] == pct.qparams[k] for k in pct.qparams if k != logits)


@pytest.mark.parametrize("method", ["int8", "fixed8"])
def test_quantize_output_without_batch_axis(tmp_path, capsys, zoo_dir: str, method: str) -> None:  # noqa: ANN001
    """zoo reduce's outputs are reductions over the batch (one is a scalar): the per-layer report joins the
    calibration chunks flat instead of stopping with an internal error, and the .nnq is written."""
    data = tmp_path / "x.npz"
    np.savez(data, x=np.random.default_rng(0).standard_normal((20, 5, 4, 3)).astype(np.float32))
    out = tmp_path / "r.nnq"
    rc = main(["quantize", os.path.join(zoo_dir, "reduce.nnp"), "--method", method, "--calib", str(data),
               "-o", str(out)])
    text = capsys.readouterr()
    assert rc in (0, None), text.err
    assert "internal error" not in text.err and out.exists()
    assert "sum_ax1" in text.out  # the report has its rows
