"""Mistakes a firmware engineer makes in the first hour (session 12's walk from a fresh clone): each ends with
one `nnb: error:` line that says what to do, before any firmware build, conversion or run starts."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import SHARED

import nnb.backends
from nnb.cli import main

MBV2 = os.path.join(SHARED, "fixtures", "imported", "mbv2.onnx")
MBV2_IN = os.path.join(SHARED, "fixtures", "imported", "mbv2.in0.npy")


@pytest.fixture()
def mbv2() -> str:
    if not os.path.exists(MBV2) or not os.path.exists(MBV2_IN):
        pytest.skip(f"imported fixtures not found at {os.path.dirname(MBV2)}")
    pytest.importorskip("onnx", reason="reading .onnx needs the onnx package (pip install onnx)")
    return MBV2


@pytest.fixture()
def no_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a command reaches a backend (a firmware build, the C runtime) before refusing."""
    def refuse(name: str):  # noqa: ANN202
        raise AssertionError(f"backend {name!r} reached before the mistake was reported")

    monkeypatch.setattr(nnb.backends, "get_runner", refuse)


def _error(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    assert main(argv) == 2
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("nnb: error: "), cap.err
    assert "building" not in cap.err and not cap.out, (cap.out, cap.err)
    return lines[0]


def test_run_typo_board_suggests_the_closest_before_building(mbv2: str, no_backend: None,
                                                              capsys: pytest.CaptureFixture) -> None:
    msg = _error(capsys, ["run", mbv2, "--board", "qemu-mps2-an368", "--input", MBV2_IN])
    assert "unknown board 'qemu-mps2-an368'" in msg and "did you mean 'qemu-mps2-an386'" in msg, msg


def test_build_typo_board_suggests_the_closest(mbv2: str, tmp_path: os.PathLike,
                                               capsys: pytest.CaptureFixture) -> None:
    msg = _error(capsys, ["build", mbv2, "--board", "qemu-mps2-an368", "-o", str(tmp_path / "fw")])
    assert "did you mean 'qemu-mps2-an386'" in msg, msg
    assert not os.path.exists(tmp_path / "fw")


def test_run_without_input_says_how_to_give_it(mbv2: str, no_backend: None, capsys: pytest.CaptureFixture) -> None:
    msg = _error(capsys, ["run", mbv2, "--board", "qemu-mps2-an386"])
    assert "missing input 'x'" in msg and "--input FILE.npy" in msg and "(1, 3, 32, 32)" in msg, msg


def test_run_wrong_shape_refused_before_the_board_build(mbv2: str, no_backend: None, tmp_path: os.PathLike,
                                                        capsys: pytest.CaptureFixture) -> None:
    bad = str(tmp_path / "bad.npy")
    np.save(bad, np.zeros((1, 1, 28, 28), np.float32))
    msg = _error(capsys, ["run", mbv2, "--board", "qemu-mps2-an386", "--input", bad])
    assert "(1, 1, 28, 28)" in msg and "(1, 3, 32, 32)" in msg, msg


def test_run_output_into_missing_folder_or_a_folder_refused_first(mbv2: str, no_backend: None,
                                                                  tmp_path: os.PathLike,
                                                                  capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "nodir" / "y.npz"
    msg = _error(capsys, ["run", mbv2, "--input", MBV2_IN, "-o", str(missing)])
    assert "does not exist" in msg and "nodir" in msg, msg
    msg = _error(capsys, ["run", mbv2, "--input", MBV2_IN, "-o", str(tmp_path)])
    assert "is a folder" in msg, msg
    assert not os.path.exists(tmp_path / "nodir")


def test_run_writes_named_outputs_when_the_path_is_good(mbv2: str, tmp_path: os.PathLike,
                                                        capsys: pytest.CaptureFixture) -> None:
    """The up-front checks let a correct command through, and its outputs match the fixture's."""
    out = str(tmp_path / "y.npz")
    assert main(["run", mbv2, "--input", MBV2_IN, "-o", out]) == 0
    with np.load(out) as z:
        (y,) = [z[k] for k in z.files]
    ref = np.load(MBV2_IN.replace(".in0.", ".out0."))
    np.testing.assert_allclose(y, ref, atol=1e-4 * max(1.0, float(np.abs(ref).max())))


def test_convert_into_missing_folder_refused_and_writes_nothing(mbv2: str, tmp_path: os.PathLike,
                                                               capsys: pytest.CaptureFixture) -> None:
    msg = _error(capsys, ["convert", mbv2, "-o", str(tmp_path / "nodir" / "m.nnb")])
    assert "does not exist" in msg, msg
    assert os.listdir(tmp_path) == []


def test_emit_c_board_points_to_build_with_emit_c(mbv2: str, tmp_path: os.PathLike,
                                                  capsys: pytest.CaptureFixture) -> None:
    out = str(tmp_path / "out")
    msg = _error(capsys, ["emit-c", mbv2, "--board", "qemu-mps2-an386", "-o", out])
    assert f"nnb build {mbv2} --board qemu-mps2-an386 --with emit-c" in msg, msg
    assert not os.path.exists(out)


def test_c_runtime_first_build_is_announced(monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike,
                                            capsys: pytest.CaptureFixture) -> None:
    """--backend c compiles c_runtime/ on first use; the command says so (once there is no library yet) and
    builds before its progress line starts."""
    from nnb.backends import c as cbackend
    from nnb.commands.common import prepare_c_runtime

    calls = []
    monkeypatch.setattr(cbackend, "C_RUNTIME", str(tmp_path))
    monkeypatch.setattr(cbackend, "build_library", lambda *a, **k: calls.append(1))
    prepare_c_runtime("c")
    assert "building the C runtime" in capsys.readouterr().err and calls == [1]
    os.makedirs(tmp_path / "build")
    (tmp_path / "build" / "libnnbrt.so").write_bytes(b"")
    prepare_c_runtime("c")
    assert capsys.readouterr().err == "" and calls == [1, 1]
    prepare_c_runtime("reference")
    assert calls == [1, 1]


@pytest.mark.parametrize("argv", [
    ["quantize", "{model}", "--method", "int8", "--calib", "{dir}", "-o", "{dir}/q.nnq"],
    ["eval", "{model}", "--data", "{dir}"],
    ["train", "{model}", "--data", "{dir}", "--epochs", "1", "-o", "{dir}/t.nnp"],
])
def test_data_folder_refused_with_what_to_give(mbv2: str, tmp_path: os.PathLike, argv: list[str],
                                               capsys: pytest.CaptureFixture) -> None:
    msg = _error(capsys, [a.format(model=mbv2, dir=tmp_path) for a in argv])
    assert "is a folder" in msg and "FILE.npz" in msg, msg
    assert os.listdir(tmp_path) == []


def test_emit_c_hint_is_a_command_that_works(mbv2: str, tmp_path: os.PathLike,
                                             capsys: pytest.CaptureFixture) -> None:
    """What emit-c prints as 'build and check', run as printed (with -o OUTDIR/ as users type it), gives the
    fixture's output in the file it names."""
    import shlex
    import shutil
    import subprocess

    if not shutil.which("make") or not shutil.which("cc"):
        pytest.skip("the emitted Makefile needs make and cc (apt-get install make gcc)")
    out = str(tmp_path / "mo") + "/"
    assert main(["emit-c", mbv2, "-o", out, "--target", "host"]) == 0
    text = capsys.readouterr().out
    assert "//" not in text, text
    lines = text.splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.startswith("build and check: "))
    assert "x.npy: float32 (1, 3, 32, 32)" in lines[k + 1] and "result.out0.npy" in lines[k + 1], lines[k + 1]
    shutil.copy(MBV2_IN, tmp_path / "x.npy")
    cmd = lines[k].removeprefix("build and check: ")
    r = subprocess.run(["sh", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (shlex.quote(cmd), r.stderr[-2000:])
    y = np.load(tmp_path / "result.out0.npy")
    ref = np.load(MBV2_IN.replace(".in0.", ".out0."))
    np.testing.assert_allclose(y, ref, atol=1e-4 * max(1.0, float(np.abs(ref).max())))


def test_python_m_nnb_is_the_cli() -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "nnb", "run", "/nonexistent.nnp"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == ["nnb: error: /nonexistent.nnp: no such file"]
