"""Messages a first user meets on the int8 path: each one names the right way out, in one line."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import DATA, TRAINED

from nnb.cli import main

LENET = os.path.join(TRAINED, "fmnist_lenet.nnp")


@pytest.fixture(scope="module")
def calib_dir(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    if not os.path.exists(LENET) or not os.path.isdir(DATA):
        pytest.skip(f"trained fixtures not found at {TRAINED} / {DATA}")
    d = tmp_path_factory.mktemp("fix_messages")
    with np.load(os.path.join(DATA, "fmnist_test_2k.npz")) as z:
        np.savez(d / "xy.npz", x=z["x"][:40], y=z["y"][:40])
    return d


@pytest.fixture(scope="module")
def fixed8_nnq(calib_dir) -> str:  # noqa: ANN001
    out = str(calib_dir / "f8.nnq")
    assert main(["quantize", LENET, "--method", "fixed8", "--calib", str(calib_dir / "xy.npz"), "-q", "-o", out]) == 0
    return out


def test_c_backend_refusal_of_a_fixed8_model_points_to_intsim(fixed8_nnq: str, calib_dir,  # noqa: ANN001
                                                              capsys: pytest.CaptureFixture) -> None:
    rc = main(["eval", fixed8_nnq, "--backend", "c", "--data", str(calib_dir / "xy.npz"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "--backend intsim" in err and "--backend reference" not in err, err
    # and the backend it names does run it
    assert main(["eval", fixed8_nnq, "--backend", "intsim", "--data", str(calib_dir / "xy.npz"), "--quiet"]) == 0


def test_build_library_runs_make_once_per_process_even_when_a_library_exists(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """A build directory left from older sources must be brought up to date, not used as it is; the make runs
    once per process and variant, under the build directory's lock file."""
    import nnb.backends.c as cback

    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "libnnbrt.so").write_text("stale")
    (tmp_path / "Makefile").write_text("all:\n\techo x >> runs\n\techo fresh > build/libnnbrt.so\n")
    monkeypatch.setattr(cback, "C_RUNTIME", str(tmp_path))
    monkeypatch.setattr(cback, "_built", set())
    lib = cback.build_library()
    assert open(lib).read().strip() == "fresh"
    cback.build_library()
    assert (tmp_path / "runs").read_text().split() == ["x"]  # once per process
    assert (tmp_path / "build" / ".build.lock").exists()
    (tmp_path / "Makefile").write_text("all:\n\t@echo 'src/k.c:1: error: broken' >&2; exit 1\n")
    with pytest.raises(cback.NnbError, match="building the C runtime failed: src/k.c:1: error: broken"):
        cback.build_library(force=True)


def test_board_summaries_say_what_the_arena_counts() -> None:
    from nnb.boards.build import BuildResult
    from nnb.boards.fit import Footprint
    from nnb.boards.run import BoardReport

    fp = Footprint(arena=13439, stack_runtime=900, stack_runtime_only=800, stack_whole=1200, stack_reserved=2048,
                   static_ram=300, code_flash=40000, image_flash=60000, ram_capacity=0, flash_capacity=0)
    for linked in ({"ram": 16000, "flash": 100000}, {}):
        text = BuildResult("b", "m", "/o", "/o/f.elf", 60000, fp, linked).summary()
        assert "runtime arena 13,439 B (all the C runtime asks for: tables, input/output staging, tensors and " \
               "kernel scratch; nnbrt_arena_size)" in text, text
    rep = BoardReport("b", "m", "instructions", 10, 20, 13439, {"arena": 13439}, {}, 0, 0)
    assert "runtime arena 13,439 B (all the C runtime asks for" in rep.summary() and "predicted 13,439 B" in \
        rep.summary()
