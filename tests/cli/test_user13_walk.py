"""Session 13's first-user walk from a fresh clone: what a firmware engineer typed that ended late, wrongly or
noisily. Each mistake ends with one `nnb: error:` line naming it, before any calibration, training, conversion
or firmware build starts; a correct command still goes through."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
from conftest import TRAINED, ZOO

import nnb.backends
import nnb.errors
from nnb.cli import main

LENET = os.path.join(TRAINED, "fmnist_lenet.nnp")


@pytest.fixture()
def lenet() -> str:
    if not os.path.exists(LENET):
        pytest.skip(f"trained fixture not found: {LENET}")
    return LENET


@pytest.fixture()
def image(tmp_path: os.PathLike) -> str:
    path = str(tmp_path / "x.npy")
    np.save(path, np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32))
    return path


def _refuse(what: str):  # noqa: ANN202 - a stand-in that fails the test when the work starts
    def stand_in(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError(f"{what} started before the mistake was reported")
    return stand_in


def _error(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    assert main(argv) == 2
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("nnb: error: "), cap.err
    assert not cap.out, cap.out
    return lines[0]


@pytest.mark.parametrize("extra, flag", [
    ([], "-o"),
    (["--report", "{nodir}/r.html"], "--report"),
    (["--method", "fixed8", "--nnb", "{nodir}/f.nnb"], "--nnb"),
])
def test_quantize_calibrated_outputs_in_missing_folder_refused_before_calibration(
        lenet: str, tmp_path: os.PathLike, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        extra: list[str], flag: str) -> None:
    import nnb.quantize.int8_run

    monkeypatch.setattr(nnb.quantize.int8_run, "quantize_calibrated", _refuse("calibration"))
    nodir = tmp_path / "nodir"
    out = str(nodir / "q.nnq") if flag == "-o" else str(tmp_path / "q.nnq")
    argv = ["quantize", lenet, "--method", "int8", "--calib", "fashion-mnist", "-o", out]
    msg = _error(capsys, argv + [a.format(nodir=nodir) for a in extra])
    assert msg.startswith(f"nnb: error: {flag} ") and "'" + str(nodir) + "' does not exist" in msg, msg
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("verb", ["quantize", "train"])
def test_training_output_in_missing_folder_refused_before_training(
        lenet: str, tmp_path: os.PathLike, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        verb: str) -> None:
    import nnb.train.trainer

    monkeypatch.setattr(nnb.train.trainer, "Trainer", _refuse("training"))
    argv = [verb, lenet, "--data", "fashion-mnist", "--epochs", "1"]
    argv += ["--method", "lutq", "-o", str(tmp_path / "nodir" / "q.nnq")] if verb == "quantize" else \
        ["-o", str(tmp_path / "nodir" / "t.nnp")]
    msg = _error(capsys, argv)
    assert "does not exist" in msg and "nodir" in msg, msg


def test_input_that_is_a_model_or_a_folder_is_named(lenet: str, tmp_path: os.PathLike,
                                                    capsys: pytest.CaptureFixture) -> None:
    msg = _error(capsys, ["run", lenet, "--input", lenet])
    assert "a zip archive" in msg and "np.save" in msg, msg  # was: input 'x' has dtype <U15
    msg = _error(capsys, ["run", lenet, "--input", str(tmp_path)])
    assert "is a folder" in msg, msg


def test_board_with_another_backend_refused(lenet: str, image: str, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture) -> None:
    """--board beside --backend c used to run the C runtime on the host and say nothing about the board."""
    monkeypatch.setattr(nnb.backends, "get_runner", _refuse("a backend"))
    msg = _error(capsys, ["run", lenet, "--backend", "c", "--board", "qemu-mps2-an386", "--input", image])
    assert "--board" in msg and "--backend c" in msg, msg


def test_build_refuses_wrong_inputs_and_a_file_as_project_folder(
        lenet: str, tmp_path: os.PathLike, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The embedded input was checked by its number of values only: (1, 28, 28) and uint8 pixels were built
    into firmware; -o naming a file failed after the model was converted."""
    import nnb.boards.build
    import nnb.boards.image

    monkeypatch.setattr(nnb.boards.build, "build_firmware", _refuse("the firmware build"))
    fw = str(tmp_path / "fw")
    bad = str(tmp_path / "bad.npy")
    np.save(bad, np.zeros((1, 28, 28), np.float32))
    msg = _error(capsys, ["build", lenet, "--board", "qemu-mps2-an386", "-o", fw, "-i", bad])
    assert "(1, 28, 28)" in msg and "(1, 1, 28, 28)" in msg, msg
    np.save(bad, np.zeros((1, 1, 28, 28), np.uint8))
    msg = _error(capsys, ["build", lenet, "--board", "qemu-mps2-an386", "-o", fw, "-i", bad])
    assert "uint8" in msg and "float32" in msg, msg
    monkeypatch.setattr(nnb.boards.image, "model_image", _refuse("the conversion"))
    msg = _error(capsys, ["build", lenet, "--board", "qemu-mps2-an386", "-o", bad])
    assert "is a file" in msg, msg
    assert not os.path.exists(fw)


def test_build_prints_the_fit_lines_with_separators(lenet: str, image: str, tmp_path: os.PathLike,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    """A good embedded input goes through to the build, as given; the fit lines group digits like the rest."""
    import nnb.boards.build

    got = {}

    class Result:
        linked = {"ram": 17107, "flash": 92212}
        predicted = type("P", (), {"ram": 17108, "flash": 92212})
        outdir = str(tmp_path / "fw")

        def summary(self) -> str:
            return "summary"

    def fake_build(mi, board, outdir, inputs=None, **kw):  # noqa: ANN001, ANN003, ANN202
        got["inputs"] = inputs
        return Result()

    monkeypatch.setattr(nnb.boards.build, "build_firmware", fake_build)
    assert main(["build", lenet, "--board", "qemu-mps2-an386", "-o", str(tmp_path / "fw"), "-i", image]) == 0
    out = capsys.readouterr().out
    assert "ram: predicted 17,108 B, linker map 17,107 B" in out, out
    np.testing.assert_array_equal(got["inputs"][0], np.load(image))


def test_model_under_another_kinds_name_says_what_it_is(lenet: str, tmp_path: os.PathLike,
                                                        capsys: pytest.CaptureFixture) -> None:
    nnb_file = os.path.join(ZOO, "lenet.nnb")
    if not os.path.exists(nnb_file):
        pytest.skip(f"zoo fixture not found: {nnb_file}")
    nnq = tmp_path / "q.nnp"  # what nnb quantize writes, renamed
    with zipfile.ZipFile(nnq, "w") as z:
        z.writestr("model.nnp", b"")
        z.writestr("quant.json", b"{}")
    shutil.copy(lenet, tmp_path / "m.nnq")
    shutil.copy(lenet, tmp_path / "m.nnb")
    shutil.copy(nnb_file, tmp_path / "b.nnp")
    for verb in (["inspect"], ["emit-c", "-o", str(tmp_path / "c")]):
        for name, kind in (("q.nnp", "quantized model"), ("m.nnq", "NNP model"), ("m.nnb", "NNP model"),
                           ("b.nnp", "NNB file")):
            msg = _error(capsys, [verb[0], str(tmp_path / name), *verb[1:]])
            right = {"quantized model": ".nnq", "NNP model": ".nnp", "NNB file": ".nnb"}[kind]
            assert kind in msg and f"name it {right}" in msg, msg
    msg = _error(capsys, ["emit-c", str(tmp_path), "-o", str(tmp_path / "c")])
    assert "is a folder, not a model file" in msg, msg  # was: no such model file
    assert not os.path.exists(tmp_path / "c")


def test_eval_offers_only_backends_that_evaluate(lenet: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        main(["eval", lenet, "--data", "fashion-mnist", "--backend", "board"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'board'" in err and "'intsim'" in err, err
    assert "board" in nnb.backends.backend_names() and "board" not in nnb.backends.backend_names(evaluating=True)
    for name in nnb.backends.backend_names(evaluating=True):
        if name != "opencl" or importlib.util.find_spec("pyopencl"):
            assert callable(nnb.backends.get_predictor(name)), name


def test_opencl_compiler_notes_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyopencl's CompilerWarning (two stderr lines on every OpenCL command and in the demo) is silenced,
    unless NNB_DEBUG asks for everything."""
    note = "Non-empty compiler output encountered. Set the environment variable PYOPENCL_COMPILER_OUTPUT=1"
    monkeypatch.delenv("NNB_DEBUG", raising=False)
    with warnings.catch_warnings(record=True) as got:
        nnb.backends.quiet_opencl_compiler()
        warnings.warn(note, UserWarning, stacklevel=1)
        warnings.warn("another warning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in got] == ["another warning"]
    monkeypatch.setenv("NNB_DEBUG", "1")
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        nnb.backends.quiet_opencl_compiler()
        warnings.warn(note, UserWarning, stacklevel=1)
    assert len(got) == 1


def test_opencl_run_prints_only_its_outputs(lenet: str, image: str) -> None:
    """The real command: its stderr is empty, its outputs match the reference's."""
    pytest.importorskip("pyopencl", reason="--backend opencl needs pyopencl (pip install pyopencl)")
    from nnb.backends.opencl_device import list_devices

    try:
        if not list_devices():
            pytest.skip("no OpenCL device (apt-get install pocl-opencl-icd)")
    except Exception as e:  # noqa: BLE001 - no ICD loader or platform: say why
        pytest.skip(f"no OpenCL platform ({type(e).__name__}: {e}; apt-get install pocl-opencl-icd)")
    out = os.path.join(os.path.dirname(image), "y.npz")
    r = subprocess.run([sys.executable, "-m", "nnb", "run", lenet, "-i", image, "--backend", "opencl", "-o", out],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "NNB_DEBUG": ""})
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert main(["run", lenet, "-i", image, "-o", out + ".ref.npz"]) == 0
    with np.load(out) as a, np.load(out + ".ref.npz") as b:
        np.testing.assert_allclose(a["y"], b["y"], atol=1e-5)


def test_convert_without_the_runtime_says_how_to_get_the_whole_request(lenet: str, tmp_path: os.PathLike,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture) -> None:
    """A fresh clone has no nnbrt: the line pointed at 'nnbrt info FILE' without saying where it comes from."""
    from nnb.backends import c as cbackend

    monkeypatch.setattr(cbackend, "C_RUNTIME", str(tmp_path / "rt"))
    out = str(tmp_path / "m.nnb")
    assert main(["convert", lenet, "-o", out]) == 0
    text = capsys.readouterr().out
    assert f"make -C {tmp_path / 'rt'}" in text and f"{tmp_path / 'rt'}/build/nnbrt info {out}" in text, text
    assert os.path.getsize(out) > 0


def test_build_without_inputs_says_what_make_run_reads_and_refuses_zero_runs(
        lenet: str, tmp_path: os.PathLike, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Built without --input, 'make run' stopped at 'cannot read nnb_in.bin' with nothing saying what that file
    is; --runs 0 built firmware that ran nothing and printed an output anyway."""
    import nnb.boards.build

    class Result:
        linked = {}
        outdir = str(tmp_path / "fw")

        def summary(self) -> str:
            return "summary"

    monkeypatch.setattr(nnb.boards.build, "build_firmware", lambda *a, **k: Result())
    assert main(["build", lenet, "--board", "host", "-o", Result.outdir]) == 0
    out = capsys.readouterr().out
    assert f"{Result.outdir}/nnb_in.bin" in out and "(x)" in out and "'<f4'" in out, out
    monkeypatch.setattr(nnb.boards.build, "build_firmware", _refuse("the firmware build"))
    msg = _error(capsys, ["build", lenet, "--board", "host", "-o", Result.outdir, "--runs", "0"])
    assert "--runs 0" in msg, msg


def test_emit_c_for_cortex_m4_without_the_cross_compiler_writes_nothing(
        lenet: str, tmp_path: os.PathLike, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import nnb.emit.csource_footprint as fp

    monkeypatch.setattr(fp.shutil, "which", lambda name: None)
    out = tmp_path / "c"
    msg = _error(capsys, ["emit-c", lenet, "-o", str(out), "--target", "cortex-m4"])
    assert "gcc-arm-none-eabi" in msg, msg
    assert not out.exists()  # was: the C written, then the error


def test_inspect_onnx_does_not_claim_nothing_was_rewritten(capsys: pytest.CaptureFixture) -> None:
    """dscnn.onnx spells Softmax as ReduceMax-Sub-Exp-ReduceSum-Div; the table shows one Softmax, and the
    line under it said 'nothing to rewrite' because the reader had already rewritten it."""
    path = os.path.join(ZOO, "dscnn.onnx")
    if not os.path.exists(path):
        pytest.skip(f"zoo fixture not found: {path}")
    pytest.importorskip("onnx", reason="reading .onnx needs the onnx package (pip install onnx)")
    assert main(["inspect", path]) == 0
    out = capsys.readouterr().out
    table = out.split("canonicalisation:")[0]
    assert " Softmax " in table and " Exp " not in table, out
    line = next(ln for ln in out.splitlines() if ln.startswith("canonicalisation:"))
    assert "nothing to rewrite" not in line and "while reading the ONNX graph" in line, line
    assert "softmax pattern -> Softmax: 1" in line, line  # the reader's own count (load_onnx_report)


@pytest.mark.parametrize("name, what", [("model.tflite", "TensorFlow Lite"), ("model.pt", "PyTorch"),
                                        ("weights.h5", "HDF5"), ("x.npy", "numpy array")])
def test_another_frameworks_file_is_named_with_what_to_do(tmp_path: os.PathLike, capsys: pytest.CaptureFixture,
                                                          name: str, what: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x00" * 64)
    msg = _error(capsys, ["inspect", str(path)])
    assert what in msg and ".onnx" in msg and "export the network to ONNX" in msg, msg  # was: not an NNP file


def test_nnb_version_without_compat_is_refused_and_with_it_is_written(lenet: str, tmp_path: os.PathLike,
                                                                      capsys: pytest.CaptureFixture) -> None:
    """--nnb-version 3 alone wrote an extended file (version 1001) and said nothing about the option."""
    out = tmp_path / "v3.nnb"
    msg = _error(capsys, ["convert", lenet, "--nnb-version", "3", "-o", str(out)])
    assert "--mode compat" in msg, msg
    assert not out.exists()
    assert main(["convert", lenet, "--mode", "compat", "--nnb-version", "3", "-o", str(out)]) == 0
    assert int.from_bytes(out.read_bytes()[:4], "little") == 3


def test_build_honours_executor(lenet: str, tmp_path: os.PathLike, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture) -> None:
    """build took --executor and ignored it (the file's first executor was built, a wrong name went through)."""
    import nnb.boards.build

    seen = {}

    def fake_build(mi, board, outdir, **kw):  # noqa: ANN001, ANN003, ANN202
        seen["mi"] = mi
        raise nnb.errors.NnbError("stop here")

    monkeypatch.setattr(nnb.boards.build, "build_firmware", fake_build)
    fw = str(tmp_path / "fw")
    msg = _error(capsys, ["build", lenet, "-b", "host", "-o", fw, "--executor", "nope"])
    assert "no executor 'nope'" in msg and not seen, msg
    msg = _error(capsys, ["build", lenet, "-b", "host", "-o", fw, "--executor", "runtime"])
    assert msg == "nnb: error: stop here" and seen["mi"].name == "fmnist_lenet", msg
    assert seen["mi"].inputs == [("x", (1, 1, 28, 28))]
    msg = _error(capsys, ["build", lenet, "-b", "host", "-o", fw, "--executor", "runtime", "--with", "emit-c"])
    assert "first executor" in msg, msg


def test_run_executor_reaches_the_board_and_is_refused_by_emit_c(lenet: str, image: str,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture) -> None:
    """The board backend built from the path, so the file's first executor, whatever --executor said."""
    seen = {}

    def runner(name: str):  # noqa: ANN202
        def run(path, graph, inputs, options):  # noqa: ANN001, ANN202
            seen[name] = (path, graph.executor)
            return {"y": np.zeros((1, 10), np.float32)}
        return run

    monkeypatch.setattr(nnb.backends, "get_runner", runner)
    monkeypatch.setattr("nnb.commands.run.board_or_hint", lambda name: None)
    assert main(["run", lenet, "-i", image, "--board", "qemu-mps2-an386", "--executor", "runtime"]) == 0
    assert seen["board"] == ("", "runtime")  # no path: the backend builds the graph of that executor
    assert main(["run", lenet, "-i", image, "--board", "qemu-mps2-an386"]) == 0
    assert seen["board"][0] == lenet
    capsys.readouterr()
    msg = _error(capsys, ["run", lenet, "-i", image, "--backend", "emit-c", "--executor", "runtime"])
    assert "first executor" in msg and "emit-c" not in seen, msg
