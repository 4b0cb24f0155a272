"""Session 14's first-user walk of integer inference (issue 13): a firmware engineer quantizes, converts, runs and
inspects fixed-point and int8 models from the README. What was refused, silent or wrong, each with its fix."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import ZOO

from nnb.cli import main

LENET = os.path.join(ZOO, "lenet.nnp")


def _error(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    assert main(argv) == 2
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("nnb: error: "), cap.err
    return lines[0]


@pytest.fixture(scope="module")
def fixed8(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The zoo lenet calibrated as fixed8 on 8 perturbed copies of its input (a .nnq, and an input .npy)."""
    if not os.path.exists(LENET):
        pytest.skip(f"zoo fixture not found: {LENET}")
    d = tmp_path_factory.mktemp("u14")
    x = np.load(os.path.join(ZOO, "lenet.in0.npy")).astype(np.float32)
    rng = np.random.default_rng(0)
    np.savez(str(d / "cal.npz"), x=(x + 0.1 * rng.standard_normal((8,) + x.shape[1:])).astype(np.float32))
    np.save(str(d / "x.npy"), x)
    out = str(d / "f8.nnq")
    assert main(["quantize", LENET, "--method", "fixed8", "--calib", str(d / "cal.npz"), "--calib-samples", "8",
                 "-q", "-o", out]) == 0
    return out, str(d / "x.npy")


def test_convert_writes_the_fixed_nnb_the_c_runtime_computes_in_integers(
        fixed8: tuple[str, str], tmp_path: os.PathLike, capsys: pytest.CaptureFixture) -> None:
    """`nnb convert F.nnq` of a fixed8/fixed16 model was refused ("NNB conversion has no integer path"), though
    `nnb quantize --nnb` writes the compatible FIXED file: now convert writes it, and the C runtime's integers on
    it are the integer simulation's (--backend intsim on the .nnq), bit for bit."""
    from nnb.backends import c as cbackend
    from nnb.quantize import fixed
    from nnb.quantize.fixed_nnb import fixed_model_from_nnb
    from nnb.quantize.qmodel import load_quantized

    nnq, x = fixed8
    out = str(tmp_path / "f8.nnb")
    capsys.readouterr()
    assert main(["convert", nnq, "-o", out]) == 0
    assert "FIXED8" in capsys.readouterr().out
    with open(out, "rb") as f:
        data = f.read()
    m = fixed.from_quantized(load_quantized(nnq))
    fx = fixed_model_from_nnb(data, out)  # every variable FIXED8 at its calibrated fp_pos (compat names: v<id>)
    assert fx.bits == 8 and sorted(fx.fp_pos.values()) == sorted(m.fp_pos.values())
    assert main(["run", nnq, "--backend", "intsim", "-i", x, "-o", str(tmp_path / "s.npz")]) == 0
    cbackend.build_library()
    assert main(["run", out, "--backend", "c", "-i", x, "-o", str(tmp_path / "c.npz")]) == 0
    with np.load(str(tmp_path / "s.npz")) as s, np.load(str(tmp_path / "c.npz")) as c:
        want, got = s[m.graph.outputs[0]], c[next(iter(c.keys()))]
    assert np.array_equal(got, want)
    assert not np.array_equal(got, np.load(os.path.join(ZOO, "lenet.out0.npy")))  # integers, not float
    msg = _error(capsys, ["convert", nnq, "-o", str(tmp_path / "e.nnb"), "--mode", "extended"])
    assert "compatible NNB" in msg and "--mode auto" in msg, msg
    assert not os.path.exists(tmp_path / "e.nnb")


def test_inspect_names_the_fixed_point_format(fixed8: tuple[str, str], tmp_path: os.PathLike,
                                              capsys: pytest.CaptureFixture) -> None:
    """inspect of a fixed8 .nnq or its NNB printed float32 figures only, nothing saying it is fixed point."""
    import json

    nnq, _ = fixed8
    nnb_path = str(tmp_path / "f8.nnb")
    assert main(["convert", nnq, "-o", nnb_path]) == 0
    capsys.readouterr()
    n_params = None
    for path in (nnq, nnb_path):
        assert main(["inspect", path]) == 0
        out = capsys.readouterr().out
        line = next((ln for ln in out.splitlines() if ln.startswith("fixed8 model")), None)
        assert line is not None, out
        assert main(["inspect", path, "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        fx = info["memory"]["fixed"]
        assert fx["bits"] == 8 and f"parameters {fx['param_bytes']:,} bytes at 1 byte(s)" in line, line
        n_params = n_params or fx["param_bytes"]
        assert fx["param_bytes"] == n_params
    assert main(["inspect", os.path.join(ZOO, "lenet.nnb")]) == 0  # a float NNB: no such line
    assert "fixed8 model" not in capsys.readouterr().out


def test_calibrating_a_calibrated_model_is_refused_before_calibration(
        fixed8: tuple[str, str], tmp_path: os.PathLike, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """A fixed8 .nnq given to `quantize --method int8` was calibrated again from its rounded weights and written
    as an int8 model, silently quantized twice."""
    import nnb.quantize.int8_run

    def refuse(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("calibration started")

    monkeypatch.setattr(nnb.quantize.int8_run, "quantize_calibrated", refuse)
    nnq, _ = fixed8
    cal = os.path.join(os.path.dirname(nnq), "cal.npz")
    for method in ("int8", "fixed16"):
        msg = _error(capsys, ["quantize", nnq, "--method", method, "--calib", cal, "-o", str(tmp_path / "q.nnq")])
        assert "already a calibrated fixed8 model" in msg and "float model" in msg, msg
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("argv, what", [
    (["run", "{nnb}", "-i", "{x}"], "the float reference"),
    (["run", "{nnb}", "-i", "{x}", "--backend", "opencl"], "the OpenCL kernels"),
    (["run", "{nnb}", "-i", "{x}", "--backend", "emit-c"], "the emitted C"),
    (["eval", "{nnb}", "--data", "{cal}", "-q"], "the float reference"),
    (["emit-c", "{nnb}", "-o", "{tmp}/c"], "the emitted C"),
    (["build", "{nnb}", "--board", "qemu-mps2-an386", "--with", "emit-c", "-o", "{tmp}/fw"], "the emitted C"),
])
def test_fixed_nnb_is_not_computed_in_float(fixed8: tuple[str, str], tmp_path: os.PathLike,
                                            capsys: pytest.CaptureFixture, argv: list[str], what: str) -> None:
    """A FIXED8 NNB through the reference, OpenCL or the emitted C was decoded to float and computed in float:
    outputs differed from the C runtime's integers (emitted C vs runtime, lenet fixed16: 2.9e-5) and nothing said
    so. Refused like an int8 file in the float reference, before anything is built or written."""
    nnq, x = fixed8
    nnb_path = str(tmp_path / "f8.nnb")
    assert main(["convert", nnq, "-o", nnb_path]) == 0
    capsys.readouterr()
    cal = os.path.join(os.path.dirname(nnq), "cal.npz")
    msg = _error(capsys, [a.format(nnb=nnb_path, x=x, cal=cal, tmp=tmp_path) for a in argv])
    assert "FIXED8 NNB" in msg and what in msg and "no fixed-point integer path" in msg and "--backend c" in msg, msg
    assert sorted(os.listdir(tmp_path)) == ["f8.nnb"]


def test_demo_prints_each_quantization_its_own_training_record(tmp_path: os.PathLike, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture) -> None:
    """`make demo` printed "train acc 85.01%" (and loss 0.4371) for LUT-Q and for DQ. Not one figure printed twice:
    both runs hit 25,463 of 29,952 images, with per-step hits differing in 367 of 468 steps and losses 0.437123
    vs 0.437095. The epoch line now carries the hit count and a 6-digit loss, and the demo prints each .nnq's own
    record. Here, on 384 images: each printed figure is the hits its own Trainer counted."""
    from conftest import DATA

    from nnb.commands.demo_job import build_lenet, qat_lines
    from nnb.nnp.writer import save
    from nnb.train import trainer as trainer_mod

    data = os.path.join(DATA, "fmnist_test_2k.npz")
    if not os.path.exists(data):
        pytest.skip(f"data fixture not found: {data}")
    hits: dict[int, list[int]] = {}
    step = trainer_mod.Trainer.step

    def counting(self, x, y, lr):  # noqa: ANN001, ANN202
        loss, h = step(self, x, y, lr)
        hits.setdefault(id(self), []).append(int(h))
        return loss, h

    monkeypatch.setattr(trainer_mod.Trainer, "step", counting)
    init = str(tmp_path / "init.nnp")
    save(build_lenet(), init)
    common = ["--data", data, "--epochs", "1", "--lr", "2e-4", "--val", "none", "--quiet", "--limit", "384"]
    runs = {"LUT-Q K=4": ["--method", "lutq", "--k", "4"], "DQ 2-bit budget": ["--method", "dq", "--weight-budget",
                                                                               "12kB"]}
    paths, counts = {}, {}
    for label, method in runs.items():
        paths[label] = str(tmp_path / f"{method[1]}.nnq")
        before = set(hits)
        assert main(["quantize", init, *method, *common, "-o", paths[label]]) == 0
        (run_id,) = set(hits) - before  # one Trainer per run
        counts[label] = sum(hits[run_id])
        err = capsys.readouterr().err
        assert f"({counts[label]}/384 images)" in err, err
    a, b = (hits[k] for k in hits)
    assert a != b  # two runs, not one
    lines = qat_lines(paths)
    for label in runs:
        line = next(ln for ln in lines if ln.startswith(label + ":"))
        assert f"{100 * counts[label] / 384:.2f}% ({counts[label]}/384 images)" in line, line


def test_fixed_nnq_runs_on_the_c_runtime_and_builds_for_a_board(
        fixed8: tuple[str, str], tmp_path: os.PathLike, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """`nnb run/eval F.nnq --backend c` and `nnb build F.nnq --board` of a fixed8/fixed16 model stopped with "NNB
    conversion has no integer path": now they take its FIXED NNB, and the C runtime's integers are the
    simulation's; the emitted C and the float reference still refuse it, naming what computes it."""
    import nnb.boards.build
    import nnb.errors
    from nnb.backends import c as cbackend

    nnq, x = fixed8
    cbackend.build_library()
    outs = {}
    for backend in ("c", "intsim"):
        out = str(tmp_path / f"{backend}.npz")
        assert main(["run", nnq, "--backend", backend, "-i", x, "-o", out]) == 0
        with np.load(out) as z:
            outs[backend] = dict(z)
    assert set(outs["c"]) == set(outs["intsim"])
    for k in outs["c"]:
        assert np.array_equal(outs["c"][k], outs["intsim"][k]), k
    cal = os.path.join(os.path.dirname(nnq), "cal.npz")
    xs = np.load(cal)["x"]
    data = str(tmp_path / "d.npz")
    np.savez(data, x=xs, y=np.arange(len(xs)) % 10)
    lines = {}
    for backend in ("c", "intsim"):
        capsys.readouterr()
        assert main(["eval", nnq, "--backend", backend, "--data", data, "-q"]) == 0
        lines[backend] = capsys.readouterr().out.strip().splitlines()[-1]
    assert lines["c"] == lines["intsim"] and lines["c"].startswith("top-1 accuracy"), lines
    got = {}

    def fake_build(mi, board, outdir, **kw):  # noqa: ANN001, ANN003, ANN202
        got["image"], got["name"] = mi.image, mi.name
        raise nnb.errors.NnbError("stop here")

    monkeypatch.setattr(nnb.boards.build, "build_firmware", fake_build)
    _error(capsys, ["build", nnq, "--board", "qemu-mps2-an386", "-o", str(tmp_path / "fw")])
    assert main(["convert", nnq, "-o", str(tmp_path / "f.nnb")]) == 0
    with open(tmp_path / "f.nnb", "rb") as f:
        assert got["image"] == f.read() and got["name"] == "f8"
    msg = _error(capsys, ["emit-c", nnq, "-o", str(tmp_path / "c")])
    assert "calibrated fixed8 model" in msg and "--backend intsim" in msg, msg


def test_accuracy_data_checked_before_calibration(fixed8: tuple[str, str], tmp_path: os.PathLike,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    """`quantize --method int8 --calib X --data D`: an x-only .npz, a missing file or a .npy as D ended the command
    after the calibration and the per-layer report; now before it."""
    import nnb.quantize.int8_run

    def refuse(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("calibration started")

    monkeypatch.setattr(nnb.quantize.int8_run, "quantize_calibrated", refuse)
    cal = os.path.join(os.path.dirname(fixed8[0]), "cal.npz")  # x only
    argv = ["quantize", LENET, "--method", "int8", "--calib", cal, "-o", str(tmp_path / "q.nnq"), "--data"]
    assert "no labels" in _error(capsys, argv + [cal])
    assert "no such data file" in _error(capsys, argv + [str(tmp_path / "none.npz")])
    assert "unknown data format" in _error(capsys, argv + [fixed8[1]])
    assert os.listdir(tmp_path) == []


def test_fixed_nnq_on_a_board_keeps_the_model_names(fixed8: tuple[str, str], tmp_path: os.PathLike,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`nnb run F.nnq --board B` took the FIXED NNB but bound the .nnq's input names to it (its variables are
    v<id>): an internal KeyError. The board runner (here the host C runtime standing in for QEMU, which the
    board tests cover) gets the NNB's names; the outputs keep the model's, equal to the simulation's."""
    import nnb.boards.backend
    from nnb.backends import c as cbackend

    nnq, x = fixed8
    seen = {}

    def host_board(path, graph, inputs, options=None):  # noqa: ANN001, ANN202
        seen["path"], seen["inputs"] = path, sorted(inputs)
        return cbackend.run(path, graph, inputs, options)

    monkeypatch.setattr(nnb.boards.backend, "run", host_board)
    cbackend.build_library()
    assert main(["run", nnq, "--board", "qemu-mps2-an386", "-i", x, "-o", str(tmp_path / "b.npz")]) == 0
    assert main(["run", nnq, "--backend", "intsim", "-i", x, "-o", str(tmp_path / "s.npz")]) == 0
    assert seen["path"].endswith("f8.nnb") and seen["inputs"] == ["v0"], seen
    with np.load(str(tmp_path / "b.npz")) as b, np.load(str(tmp_path / "s.npz")) as s:
        assert sorted(b.keys()) == sorted(s.keys()) and all(np.array_equal(b[k], s[k]) for k in s.keys())


def test_intsim_runs_a_fixed_nnb_as_the_c_runtime_does(fixed8: tuple[str, str], tmp_path: os.PathLike,
                                                       capsys: pytest.CaptureFixture) -> None:
    """`nnb run F.nnb --backend intsim` of a FIXED8 NNB was refused ("not an int8 NNB file"): it now runs the
    file's integer simulation, equal to the C runtime on the same file; a float NNB is still refused in one line."""
    from nnb.backends import c as cbackend

    nnq, x = fixed8
    nnb = str(tmp_path / "f8.nnb")
    assert main(["convert", nnq, "-o", nnb]) == 0
    assert main(["run", nnb, "--backend", "intsim", "-i", x, "-o", str(tmp_path / "s.npz")]) == 0
    cbackend.build_library()
    assert main(["run", nnb, "--backend", "c", "-i", x, "-o", str(tmp_path / "c.npz")]) == 0
    with np.load(str(tmp_path / "s.npz")) as s, np.load(str(tmp_path / "c.npz")) as c:
        assert list(s.keys()) == list(c.keys())
        for k in s.keys():
            assert np.array_equal(s[k], c[k])
    fnnb = str(tmp_path / "float.nnb")
    assert main(["convert", LENET, "-o", fnnb]) == 0
    capsys.readouterr()
    msg = _error(capsys, ["run", fnnb, "--backend", "intsim", "-i", x])
    assert "not a FIXED8/FIXED16 file" in msg and "int8 NNB" in msg, msg
