"""A kernel table generated for microcontroller firmware (tools/gen_kernel_table.py) links the
fixed-point integer kernels (kernels/fixed_mac.c) only for files with FIXED8/FIXED16 variables:
float firmware does not carry them (the M4 runtime core stays under its 8 KB, test_extended), and a
fixed-point file given to a table without them is refused by nnbrt_init, not computed otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ZOO

from nnb.cli import main

CRT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "c_runtime")
GEN = os.path.join(CRT, "tools", "gen_kernel_table.py")
LENET = os.path.join(ZOO, "lenet.nnp")


def _table(tmp_path, nnb: str) -> str:  # noqa: ANN001
    out = str(tmp_path / (os.path.basename(nnb) + ".c"))
    subprocess.run([sys.executable, GEN, "-o", out, nnb], check=True)
    return open(out).read()


def _compiles(tmp_path, name: str, text: str) -> None:  # noqa: ANN001
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / f"{name}.c"
    src.write_text(text)
    r = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-DNNBRT_INT8",
                        f"-I{os.path.join(CRT, 'src')}", f"-I{os.path.join(CRT, 'include')}", "-c", str(src),
                        "-o", str(tmp_path / f"{name}.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_fixed_kernels_only_for_fixed_files(tmp_path, capsys) -> None:  # noqa: ANN001
    if not os.path.exists(LENET):
        pytest.skip(f"fixture missing: {LENET}")
    calib = tmp_path / "c.npz"
    np.savez(calib, x=np.random.default_rng(0).random((8, 1, 28, 28)).astype(np.float32))
    fixed = str(tmp_path / "f8.nnb")
    assert main(["quantize", LENET, "--method", "fixed8", "--calib", str(calib), "--nnb", fixed,
                 "-o", str(tmp_path / "f8.nnq")]) == 0
    flt = str(tmp_path / "lenet.nnb")
    assert main(["convert", LENET, "-o", flt]) == 0
    capsys.readouterr()
    tf, tl = _table(tmp_path, fixed), _table(tmp_path, flt)
    assert "nnbrt_fixed_supported = 1;" in tf and "return nnbrt_fixed_run(" in tf
    assert "nnbrt_fixed_supported = 0;" in tl and "nnbrt_fixed_run" not in tl
    _compiles(tmp_path, "tf", tf)
    _compiles(tmp_path, "tl", tl)
