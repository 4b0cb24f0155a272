"""emit-c on bad input: one `nnb: error:` line, exit status 2, nothing written."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import ZOO

from nnb.builder import GraphBuilder
from nnb.cli import main
from nnb.nnp.writer import save

LENET = os.path.join(ZOO, "lenet.nnp")


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nnb: error: "), err
    return err[0]


def test_op_without_c_kernel_names_op_and_layer_and_writes_nothing(tmp_path, capsys) -> None:
    from nnb.emit.csource_kernels import kernel_table
    from nnb.emit.nnb_layout import function_id

    if function_id("Tile", True)[0] in kernel_table():
        pytest.skip("Tile has a C kernel now: pick another function without one for this test")
    b = GraphBuilder("net")
    x = b.input("x", (1, 10))
    h = b.op("Affine", [x, b.param("fc/W", np.ones((10, 4), np.float32)), b.param("fc/b", np.zeros(4, np.float32))],
             name="fc")
    b.output(b.op("Tile", [h], name="the_tile", reps=(1, 2)))
    path = str(tmp_path / "m.nnp")
    save(b.build(), path)
    out = tmp_path / "out"
    assert main(["emit-c", path, "-o", str(out)]) == 2
    line = _one_error_line(capsys)
    assert "Tile" in line and "the_tile" in line
    assert not out.exists()


def test_non_empty_outdir_needs_force(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["emit-c", LENET, "-o", str(out), "--target", "host"]) == 2
    assert "--force" in _one_error_line(capsys)
    assert sorted(os.listdir(out)) == ["keep.txt"]
    assert main(["emit-c", LENET, "-o", str(out), "--force", "--target", "host"]) == 0
    assert "lenet.c" in os.listdir(out) and (out / "keep.txt").read_text() == "mine"
    printed = capsys.readouterr().out
    assert "footprint of lenet" in printed
    from nnb.emit.csource import render

    m = render(LENET).model
    assert m.tensor_bytes == 10240 and 0 < m.scratch_bytes and m.tensor_bytes <= m.arena_bytes
    assert f"RAM   arena {m.arena_bytes:,} B (tensors 10,240; largest kernel scratch {m.scratch_bytes:,} B; the " \
           f"scratch ends {m.arena_bytes - 10240:,} B past the tensors)" in printed


@pytest.mark.parametrize("args,what", [(["--prefix", "1bad"], "C identifier"),
                                       (["--prefix", "ok"], "no such model")])
def test_bad_prefix_or_model(tmp_path, capsys, args, what) -> None:
    model = LENET if args[1] == "1bad" else str(tmp_path / "missing.nnp")
    assert main(["emit-c", model, "-o", str(tmp_path / "o"), *args]) == 2
    assert what in _one_error_line(capsys)


def test_no_c_compiler_names_the_package(tmp_path, capsys, monkeypatch) -> None:
    from nnb.backends.c import build_library

    build_library(variant="SMALL")  # the runtime the emitter validates with, built while a compiler is there
    monkeypatch.setenv("PATH", str(tmp_path))  # no cc, gcc, clang or make
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("NNB_CACHE", str(tmp_path / "cache"))
    x = os.path.join(ZOO, "lenet.in0.npy")
    assert main(["run", LENET, "--backend", "emit-c", "-i", x]) == 2
    line = _one_error_line(capsys)
    assert "no C compiler" in line and "apt-get install gcc" in line
