"""Messages a first user meets on the int8 path: each one names the right way out, in one line."""

from __future__ import annotations

import contextlib
import io
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
        np.savez(d / "x.npz", x=z["x"][:40])  # calibration needs no labels
    return d


@pytest.fixture(scope="module")
def fixed8_nnq(calib_dir) -> str:  # noqa: ANN001
    out = str(calib_dir / "f8.nnq")
    assert main(["quantize", LENET, "--method", "fixed8", "--calib", str(calib_dir / "xy.npz"), "-q", "-o", out]) == 0
    return out


def test_c_backend_runs_a_fixed8_model_as_intsim_does(fixed8_nnq: str, calib_dir,  # noqa: ANN001
                                                       capsys: pytest.CaptureFixture) -> None:
    """`eval --backend c` of a fixed8 .nnq used to be refused (pointing to intsim); since the first-user walk of
    issue 13 it runs the model's FIXED NNB in the C runtime's integers: the same accuracy line as intsim."""
    data = str(calib_dir / "xy.npz")
    capsys.readouterr()
    assert main(["eval", fixed8_nnq, "--backend", "c", "--data", data]) == 0
    c_out = capsys.readouterr().out
    assert main(["eval", fixed8_nnq, "--backend", "intsim", "--data", data]) == 0
    s_out = capsys.readouterr().out

    def acc(text: str) -> list[str]:
        return [ln.split("%")[0].split()[-1] for ln in text.splitlines() if "%" in ln]

    assert acc(c_out) and acc(c_out) == acc(s_out), (c_out, s_out)


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


@pytest.fixture(scope="module")
def int8_nnb(calib_dir) -> str:  # noqa: ANN001
    nnq, out = str(calib_dir / "i8.nnq"), str(calib_dir / "i8.nnb")
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert main(["quantize", LENET, "--method", "int8", "--calib", str(calib_dir / "x.npz"), "-q", "-o", nnq]) == 0
    (calib_dir / "quantize.txt").write_text(printed.getvalue())
    assert main(["convert", nnq, "-o", out]) == 0
    return out


def test_plan_and_inspect_say_the_arena_is_tensors_only(int8_nnb: str, capsys: pytest.CaptureFixture) -> None:
    capsys.readouterr()
    assert main(["plan", int8_nnb]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("arena ") and "tensors only" in last and "kernel scratch" in last, last
    assert main(["inspect", int8_nnb]) == 0
    out = capsys.readouterr().out
    assert "bytes of tensors (kernel scratch and runtime tables not included" in out, out
    # the layer quantizing the float input itself is named after its record, as docs/nnb_format.md lists it
    layers = [ln.split()[1] for ln in out.splitlines() if ln[:1].isdigit()]
    assert layers[0] == "Q8QConv_0" and layers[1] == "Q8Conv_1", layers


def test_labels_are_asked_for_only_where_accuracy_is_computed(int8_nnb: str, calib_dir,  # noqa: ANN001
                                                              capsys: pytest.CaptureFixture) -> None:
    """int8_nnb was calibrated from an x-only .npz; evaluating with one says in one line that labels are needed."""
    capsys.readouterr()
    assert main(["eval", int8_nnb, "--backend", "c", "--data", str(calib_dir / "x.npz"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nnb: error: ") and "'y'" in err[0] and "labels" in err[0], err


def test_quantize_names_the_float_weights_it_compares_with(int8_nnb: str, calib_dir) -> None:  # noqa: ANN001
    text = (calib_dir / "quantize.txt").read_text()
    assert "requantization constants: " in text and "bytes (BN-folded float32 " in text, text


def test_a_bad_dequantize_table_is_named_with_a_plain_number(int8_nnb: str, tmp_path,  # noqa: ANN001
                                                              capsys: pytest.CaptureFixture) -> None:
    """The Softmax island's Q8Dequantize table (256 evenly spaced floats) with one entry doubled."""
    b = bytearray(open(int8_nnb, "rb").read())
    f = np.frombuffer(bytes(b[:len(b) // 4 * 4]), np.float32).copy()
    with np.errstate(all="ignore"):
        d = np.diff(f.astype(np.float64))
    at = next(i for i in range(len(f) - 256) if d[i] > 0 and np.allclose(d[i:i + 255], d[i], rtol=1e-3, atol=0))
    f[at + 100] *= 2
    b[:len(f) * 4] = f.tobytes()
    (tmp_path / "bad.nnb").write_bytes(bytes(b))
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "bad.nnb")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not the table of scale 0." in err[0] and "np." not in err[0], err


def test_html_report_names_the_float_islands_once() -> None:
    from nnb.quantize.int8_report import LayerStat, islands_line, render_html

    page = render_html([LayerStat("y", "Softmax", "s=0.0039 z=-128", 0.0, 1.0, 35.0)], "m.nnq", "int8", "minmax",
                       40, islands_line(["Softmax"]))
    assert page.lower().count("float islands") == 1, page


@pytest.mark.parametrize("argv,want", [
    (["quantize", "m.nnp", "--method", "foo", "-o", "x"], "nnb: error: quantize: argument --method: invalid choice"),
    (["quantize", "m.nnp"], "nnb: error: quantize: the following arguments are required: --method"),
    (["run", "m.nnp", "--frob", "1"], "nnb: error: run: unrecognized arguments: --frob 1 (see nnb run --help)"),
    (["frob"], "nnb: error: argument COMMAND: invalid choice: 'frob'"),
    (["--frob"], "nnb: error: unrecognized arguments: --frob (see nnb --help)"),
])
def test_argparse_errors_are_one_line_exit_2(argv: list[str], want: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and err[0].startswith(want), err
    assert err[0].endswith("--help)"), err


def test_help_is_still_the_usage_block(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        main(["quantize", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and out.startswith("usage: nnb quantize") and "--calib-samples" in out
