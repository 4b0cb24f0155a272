"""The int8 path as a first user walks it: what the CLI's help says, what `nnb convert`'s memory figures
count, and that the documentation lists every int8 record the writer emits."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from conftest import DATA, ROOT, TRAINED

from nnb.cli import main

LENET = os.path.join(TRAINED, "fmnist_lenet.nnp")


@pytest.fixture(scope="module")
def lenet_nnq(tmp_path_factory: pytest.TempPathFactory) -> str:
    if not os.path.exists(LENET) or not os.path.isdir(DATA):
        pytest.skip(f"trained fixtures not found at {TRAINED} / {DATA}")
    d = tmp_path_factory.mktemp("user_int8")
    with np.load(os.path.join(DATA, "fmnist_test_2k.npz")) as z:
        np.savez(d / "calib.npz", x=z["x"][:40], y=z["y"][:40])
    out = str(d / "lenet.nnq")
    assert main(["quantize", LENET, "--method", "int8", "--calib", str(d / "calib.npz"), "-q", "-o", out]) == 0
    return out


def test_top_level_help_names_the_calibrated_methods(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    line = next(s for s in capsys.readouterr().out.splitlines() if s.strip().startswith("quantize"))
    assert "int8" in line and "LUT-Q" in line, line


def _ints(s: str) -> list[int]:
    return [int(v.replace(",", "")) for v in re.findall(r"\d[\d,]*", s)]


def test_convert_names_tensor_arena_and_whole_runtime_ram(lenet_nnq: str, tmp_path, capsys) -> None:
    """`nnb convert` of an int8 .nnq: the plan figure says it counts tensors, and the C runtime's whole RAM
    request is printed beside it, its parts adding up to what the runtime itself asks for."""
    from nnb.backends import c as cbackend

    out = tmp_path / "lenet.nnb"
    assert main(["convert", lenet_nnq, "-o", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines[0]
    m = re.search(r"tensor arena ([\d,]+) bytes", head)
    assert m, head
    plan = int(m.group(1).replace(",", ""))
    if not os.path.exists(os.path.join(cbackend.C_RUNTIME, "build", "libnnbrt.so")):
        assert "not all the RAM" in lines[1], lines
        pytest.skip("the C runtime library is not built (make -C c_runtime): whole-RAM figures not checked")
    ram = lines[1]
    assert ram.strip().startswith("C runtime RAM on this host"), ram
    total, *parts = _ints(ram.split("): ", 1)[1].split("(")[0])
    assert total == sum(parts), ram
    net = cbackend.CNet(out.read_bytes())
    assert total == net.arena_bytes and parts[2] == net.arena_info["tensors"], (ram, net.arena_info)
    assert plan <= parts[2] < plan + 64, (plan, ram)  # the runtime rounds the plan's region up to 64 bytes
    assert parts[3] == net.arena_info["scratch"] > 0, ram  # Q8QConv's input quantization lives in scratch


def test_convert_compat_keeps_buffers_figure(tmp_path, capsys) -> None:
    if not os.path.exists(LENET):
        pytest.skip(f"trained fixtures not found at {TRAINED}")
    assert main(["convert", LENET, "--mode", "compat", "-o", str(tmp_path / "c.nnb")]) == 0
    out = capsys.readouterr().out
    assert "buffers" in out and "C runtime RAM" not in out, out


def test_docs_list_every_int8_record() -> None:
    """docs/nnb_format.md's int8 tables and nnbrt.h's comment cover every function id the int8 writer uses."""
    from nnb.emit.nnb_int8_layout import Q8_FUNCTIONS

    with open(os.path.join(ROOT, "docs", "nnb_format.md")) as f:
        doc = f.read()
    for name, (fid, _) in Q8_FUNCTIONS.items():
        assert f"| {fid} | `{name}` |" in doc, f"docs/nnb_format.md lacks record {fid} {name}"
    hi = max(fid for fid, _ in Q8_FUNCTIONS.values())
    with open(os.path.join(ROOT, "c_runtime", "include", "nnbrt.h")) as f:
        header = f.read()
    assert f"1001-{hi}" in header and all(name in header for name in Q8_FUNCTIONS), "nnbrt.h's int8 record list"


def test_eval_shows_progress_and_chunks_change_nothing(lenet_nnq: str, capsys) -> None:
    """`nnb eval` runs long jobs (the integer simulation on 10k images) in chunks with a progress line; the
    chunked accuracy equals the backend's scores on the whole set at once."""
    from nnb.backends import get_predictor
    from nnb.commands.train import dataset
    from nnb.quantize.qmodel import load_quantized

    test = os.path.join(DATA, "fmnist_test_2k.npz")
    assert main(["eval", lenet_nnq, "--data", test, "--backend", "intsim", "--limit", "60", "--batch", "16"]) == 0
    cap = capsys.readouterr()
    assert "evaluating [" in cap.err and "60/60" in cap.err, cap.err
    g = load_quantized(lenet_nnq).graph
    x, y = dataset(g, test, "test", 60)
    want = int((get_predictor("intsim")(lenet_nnq, g, x, {}).argmax(axis=1) == y).sum())
    assert f"({want}/60)" in cap.out, cap.out
    assert main(["eval", lenet_nnq, "--data", test, "--backend", "intsim", "--limit", "8", "-q"]) == 0
    assert "evaluating" not in capsys.readouterr().err


def test_quantize_prints_both_tensor_plans_on_the_same_footing(lenet_nnq: str, capsys) -> None:
    """`nnb quantize --method int8` ends with the int8 and the float tensor plans, each what `nnb plan` gives."""
    from nnb.commands.quantize import _tensor_plans_line

    line = _tensor_plans_line(lenet_nnq)
    assert line.startswith("tensor plan (batch 1): int8 ") and "tensors only" in line, line
    q8, f32 = _ints(line.split("int8 ", 1)[1])[:2]
    plans = []
    for model in (lenet_nnq, LENET):
        assert main(["plan", model]) == 0
        plans.append(_ints(capsys.readouterr().out.strip().splitlines()[-1].split("arena ", 1)[1])[0])
    assert [q8, f32] == plans and q8 < f32, (line, plans)
