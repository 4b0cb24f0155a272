"""Bad input gives a one-line error naming the problem and exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import ZOO


def nnb(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnb.cli", *args], capture_output=True, text=True)


def assert_clean_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def rewrite_nnp(src: str, dst: str, edit_text=None, drop: tuple[str, ...] = (), edit_h5=None) -> str:  # noqa: ANN001
    """Copy an NNP, editing its network text and/or its parameter file."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for n in zin.namelist():
            if n in drop:
                continue
            data = zin.read(n)
            if n.endswith(".nntxt") and edit_text:
                data = edit_text(data.decode()).encode()
            if n.endswith(".h5") and edit_h5:
                data = edit_h5(data)
            zout.writestr(n, data)
    return dst


LENET = os.path.join(ZOO, "lenet.nnp")


def test_not_a_zip(tmp_path) -> None:
    p = tmp_path / "x.nnp"
    p.write_bytes(b"hello, I am not a model")
    assert_clean_error(nnb("inspect", str(p)), "not an NNP file")


def test_truncated_zip(tmp_path) -> None:
    data = open(LENET, "rb").read()
    for cut in (len(data) // 2, len(data) - 30):
        p = tmp_path / f"t{cut}.nnp"
        p.write_bytes(data[:cut])
        assert_clean_error(nnb("inspect", str(p)), str(p))


def test_corrupt_member(tmp_path) -> None:
    data = bytearray(open(LENET, "rb").read())
    i = data.find(b"network")
    data[i + 200:i + 260] = b"\xff" * 60  # inside the stored network text
    p = tmp_path / "c.nnp"
    p.write_bytes(bytes(data))
    assert_clean_error(nnb("inspect", str(p)))


def test_missing_file() -> None:
    assert_clean_error(nnb("inspect", "/nonexistent/model.nnp"), "no such file")


def test_missing_parameter(tmp_path) -> None:
    def drop_w(h5: bytes) -> bytes:
        import io

        import h5py
        buf = io.BytesIO(h5)
        with h5py.File(buf, "a") as f:
            del f["conv1/conv/W"]
        return buf.getvalue()

    p = rewrite_nnp(LENET, str(tmp_path / "m.nnp"), edit_h5=drop_w)
    assert_clean_error(nnb("inspect", p), "parameter 'conv1/conv/W'", "missing")


def test_parameter_with_wrong_shape(tmp_path) -> None:
    p = rewrite_nnp(LENET, str(tmp_path / "m.nnp"),
                    edit_text=lambda t: t.replace("dim: 16\n      dim: 1\n      dim: 5\n      dim: 5",
                                                  "dim: 16\n      dim: 1\n      dim: 3\n      dim: 3", 1))
    assert_clean_error(nnb("inspect", p), "conv1/conv/W", "shape")


def test_unknown_function(tmp_path) -> None:
    p = rewrite_nnp(LENET, str(tmp_path / "m.nnp"),
                    edit_text=lambda t: t.replace('type: "ReLU"', 'type: "FancyReLU"', 1))
    r = nnb("inspect", p)
    assert_clean_error(r, "FancyReLU", "supported:", "Convolution")


def test_missing_executor() -> None:
    assert_clean_error(nnb("inspect", LENET, "--executor", "nope"), "no executor 'nope'", "runtime")


def test_input_of_wrong_shape(tmp_path) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 3, 28, 28), np.float32))
    assert_clean_error(nnb("run", LENET, "--input", str(x)), "input 'x'", "(1, 3, 28, 28)")


@pytest.mark.parametrize("content", [b"", b"not numpy"])
def test_input_not_npy(tmp_path, content: bytes) -> None:
    x = tmp_path / "x.npy"
    x.write_bytes(content)
    assert_clean_error(nnb("run", LENET, "--input", str(x)), str(x))


def test_too_many_inputs() -> None:
    x = os.path.join(ZOO, "lenet.in0.npy")
    assert_clean_error(nnb("run", LENET, "--input", x, "--input", x), "too many")


def test_missing_input() -> None:
    assert_clean_error(nnb("run", os.path.join(ZOO, "arith.nnp"), "--input", os.path.join(ZOO, "arith.in0.npy")),
                       "missing input 'b'")


def test_unsupported_argument_value(tmp_path) -> None:
    p = rewrite_nnp(os.path.join(ZOO, "pooling.nnp"), str(tmp_path / "m.nnp"),
                    edit_text=lambda t: t.replace("max_pooling_param {", "max_pooling_param {\n kernel { dim: 0 }", 1))
    r = nnb("inspect", p)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_unwritable_output_folder(tmp_path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    r = nnb("demo", "--quick", "--out", str(blocker / "demo"))
    assert_clean_error(r, str(blocker))
