"""Firmware under QEMU: zoo models, the trained LeNet and a LUT-Q .nnq built for emulated Cortex-M boards,
run with semihosting, compared with nnabla (or the numpy reference for the .nnq); the fit check's
prediction against the linker map, the arena exactly as the runtime asks on the target, the painted
stack against the call-graph prediction, and the two instruction counters against each other."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ZOO, assert_close_to_nnabla, zoo_inputs, zoo_outputs

from nnb.boards import load_board
from nnb.boards.build import have_cross_tools
from nnb.boards.run import BoardReport, run_on_board

MISSING = have_cross_tools(load_board("qemu-mps2-an386"))
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"firmware tests need the cross tools: {MISSING}")
TRAINED = os.path.join(os.path.dirname(ZOO), "trained", "fmnist_lenet.nnp")
TEST_2K = os.path.join(os.path.dirname(ZOO), "data", "fmnist_test_2k.npz")


def check_footprint(rep: BoardReport) -> None:
    """Arena exact, RAM and flash within 2 % of the linker map, painted stack within the prediction."""
    p, lk = rep.predicted, rep.linked
    assert rep.arena == p["arena"] > 0
    ram = p["stack_reserved"] + p["static_ram"] + (p["arena"] + 15) // 16 * 16
    flash = p["code_flash"] + p["image_flash"]
    assert abs(ram - lk["ram"]) <= 0.02 * lk["ram"], (ram, lk)
    assert abs(flash - lk["flash"]) <= 0.02 * lk["flash"], (flash, lk)
    if lk.get(".nnb_arena", 0) > 16:  # the runtime's arena section (emit-c keeps its arena in .bss)
        assert lk[".nnb_arena"] >= p["arena"]
    assert 0 < rep.stack_measured <= p["stack_runtime"], (rep.stack_measured, p["stack_runtime"])
    assert rep.stack_total <= p["stack_reserved"]
    assert rep.run_count > 0 and rep.unit == "instructions"


def check_outputs(outs: dict, refs: list[np.ndarray], what: str) -> None:
    assert len(outs) == len(refs)
    for y, ref in zip(outs.values(), refs):
        assert_close_to_nnabla(y, ref, what)
        assert y.reshape(len(y), -1).argmax(1).tolist() == ref.reshape(len(ref), -1).argmax(1).tolist()


@pytest.mark.parametrize("name", ["lenet", "dscnn", "resnet8", "autoencoder"])
def test_zoo_model_on_cortex_m4(name: str) -> None:
    outs, rep = run_on_board(os.path.join(ZOO, f"{name}.nnp"), "qemu-mps2-an386", zoo_inputs(name))
    check_outputs(outs, zoo_outputs(name), f"{name} on mps2-an386")
    check_footprint(rep)


@pytest.mark.parametrize("board", ["qemu-mps2-an385", "qemu-mps2-an500", "qemu-mps2-an505"])
def test_lenet_on_other_cores(board: str) -> None:
    outs, rep = run_on_board(os.path.join(ZOO, "lenet.nnp"), board, zoo_inputs("lenet"))
    check_outputs(outs, zoo_outputs("lenet"), f"lenet on {board}")
    check_footprint(rep)


def _fmnist_images(graph, n: int = 2) -> np.ndarray:  # noqa: ANN001
    from nnb.train.data import input_array, load_data

    x, _ = load_data(TEST_2K, "test")
    return input_array(graph, x[:n])


def test_trained_lenet_on_cortex_m4() -> None:
    """The trained Fashion-MNIST LeNet (no nnabla outputs stored: the numpy reference is the oracle)."""
    from nnb.executor import run
    from nnb.model import load_model

    g = load_model(TRAINED)
    for k, x in enumerate(_fmnist_images(g)):
        ref = run(g, [x[None]])[g.outputs[0]]
        outs, rep = run_on_board(TRAINED, "qemu-mps2-an386", [x[None]])
        check_outputs(outs, [ref], f"fmnist_lenet image {k}")
    check_footprint(rep)


def test_lutq_nnq_on_cortex_m4(tmp_path) -> None:
    """A LUT-Q model made here: packed 2-bit weights in flash, compared with the reference of the packed graph."""
    from nnb.cli import main
    from nnb.emit.convert import convert
    from nnb.emit.nnb import read_nnb
    from nnb.executor import run

    path = str(tmp_path / "lenet_lutq.nnq")
    assert main(["quantize", TRAINED, "--method", "lutq", "--k", "4", "--data", TEST_2K, "--limit", "128",
                 "--epochs", "1", "-q", "-o", path, "--val", "none"]) == 0
    g = read_nnb(convert(path).image)
    assert any(n.op.endswith("Packed") for n in g.nodes)
    x = _fmnist_images(g, 1)
    ref = run(g, [x])[g.outputs[0]]
    outs, rep = run_on_board(path, "qemu-mps2-an386", [x])
    check_outputs(outs, [ref], "LUT-Q lenet")
    check_footprint(rep)


def test_plugin_count_agrees_with_systick() -> None:
    """The TCG plugin's exact count and SysTick under -icount shift=0 (1 tick = 40 instructions) agree."""
    outs, rep = run_on_board(os.path.join(ZOO, "lenet.nnp"), "qemu-mps2-an386", zoo_inputs("lenet"), plugin=True)
    check_outputs(outs, zoo_outputs("lenet"), "lenet with the plugin")
    assert rep.plugin_total > rep.plugin_run > 100_000
    assert abs(rep.plugin_run - rep.run_count) <= 2 * 40 + 64, (rep.plugin_run, rep.run_count)


def _nnb(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnb.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_run_board(tmp_path) -> None:
    np.save(tmp_path / "x.npy", zoo_inputs("dscnn")[0])
    r = _nnb("run", os.path.join(ZOO, "dscnn.nnp"), "--board", "qemu-mps2-an386", "--input", str(tmp_path / "x.npy"),
             "--output", str(tmp_path / "out.npz"))
    assert r.returncode == 0, r.stderr
    assert "instructions per inference" in r.stdout and "stack below main" in r.stdout
    got = np.load(tmp_path / "out.npz")
    check_outputs({k: got[k] for k in got.files}, zoo_outputs("dscnn"), "nnb run --board")


def test_cli_build_real_board_and_host(tmp_path) -> None:
    """A project for a real board (compiled, not run) with the prediction printed beside the linker map; the
    host board's build runs natively and gives nnabla's outputs."""
    out = tmp_path / "nucleo"
    r = _nnb("build", os.path.join(ZOO, "dscnn.nnp"), "--board", "nucleo-l4r5zi", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "linker map" in r.stdout
    for f in ("startup.c", "main.c", "link.ld", "Makefile", "firmware.elf", "firmware.map", "model.nnb"):
        assert (out / f).exists(), f
    assert "0x08000000" in (out / "link.ld").read_text()
    outs, rep = run_on_board(os.path.join(ZOO, "lenet.nnp"), "host", zoo_inputs("lenet"))
    check_outputs(outs, zoo_outputs("lenet"), "lenet on the host board")
    assert rep.unit == "ns" and rep.arena == rep.predicted["arena"]


def test_model_that_does_not_fit(tmp_path) -> None:
    """Flash: the autoencoder's 783 KB of weights on the Spresense's 768 KB; RAM: resnet8 on a board with
    1 KB more RAM than its arena (the stack and static data do not fit)."""
    r = _nnb("build", os.path.join(ZOO, "autoencoder.nnp"), "--board", "spresense", "-o", str(tmp_path / "a"))
    assert r.returncode == 2 and r.stderr.startswith("nnb: error: needs ") and "flash, spresense has 768 KB" in r.stderr
    from nnb.boards.build import probe_arena
    from nnb.boards.image import model_image

    arena = probe_arena(load_board("qemu-mps2-an386"), model_image(os.path.join(ZOO, "resnet8.nnp")).image)
    with open(load_board("qemu-mps2-an386").path) as f:
        text = f.read()
    tiny = tmp_path / "tiny.toml"
    tiny.write_text(text.replace('name = "qemu-mps2-an386"', 'name = "tiny"').replace(
        "length = 0x00400000\n\n[toolchain]", f"length = {arena + 1024:#x}\n\n[toolchain]"))
    r = _nnb("build", os.path.join(ZOO, "resnet8.nnp"), "--board", str(tiny), "-o", str(tmp_path / "r"))
    assert r.returncode == 2, r.stderr
    msg = r.stderr.strip()
    assert "\n" not in msg and msg.startswith("nnb: error: needs ") and "RAM, tiny has " in msg
    assert f"arena {arena / 1024:.0f} KB" in msg and "stack " in msg


@pytest.mark.parametrize("name", ["lenet", "dscnn"])
def test_emit_c_firmware_on_cortex_m4(name: str) -> None:
    """The second way in: nnb emit-c's C source (static arena, kernels called through their records) with the
    same startup and port; outputs as nnabla's, the arena the emitter's, the fit against the map."""
    outs, rep = run_on_board(os.path.join(ZOO, f"{name}.nnp"), "qemu-mps2-an386", zoo_inputs(name), with_="emit-c")
    check_outputs(outs, zoo_outputs(name), f"{name} as emitted C")
    check_footprint(rep)
