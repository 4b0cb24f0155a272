"""Board files: every one in boards/ loads, and a bad one is one line naming the file and the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ZOO

from nnb.boards import list_boards, load_board
from nnb.boards.load import BOARDS_DIR, parse_board
from nnb.boards.tools import need_tool
from nnb.errors import NnbError

REQUIRED = {"host": "x86_64", "qemu-mps2-an385": "cortex-m3", "qemu-mps2-an386": "cortex-m4",
            "qemu-mps2-an500": "cortex-m7", "qemu-mps2-an505": "cortex-m33", "spresense": "cortex-m4",
            "nucleo-l4r5zi": "cortex-m4", "stm32f746g-disco": "cortex-m7", "rpi-pico": "cortex-m0plus"}


def test_every_board_file_loads() -> None:
    boards = {b.name: b for b in list_boards()}
    for name, cpu in REQUIRED.items():
        assert boards[name].cpu == cpu
    for b in boards.values():
        if not b.is_host:
            assert b.region("flash") and b.region("ram"), b.name
    an505 = boards["qemu-mps2-an505"]
    assert (an505.region("flash").origin, an505.region("ram").origin) == (0x10000000, 0x38000000)
    assert boards["qemu-mps2-an385"].fpu == "none" and "-mfloat-abi=soft" in boards["qemu-mps2-an385"].cflags
    assert boards["qemu-mps2-an386"].qemu_machine == "mps2-an386" and boards["qemu-mps2-an386"].insn_per_tick == 40


def _variant(tmp_path, name: str, old: str, new: str) -> str:
    with open(os.path.join(BOARDS_DIR, "qemu-mps2-an386.toml")) as f:
        text = f.read()
    assert old in text
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace(old, new).replace('name = "qemu-mps2-an386"', f'name = "{name}"'))
    return str(path)


@pytest.mark.parametrize("old,new,words", [
    ("clock_hz = 25_000_000", "clock_hz = 25_000_000\ncolour = \"red\"", ["unknown key 'colour'"]),
    ("clock_hz = 25_000_000\n", "", ["missing field 'clock_hz'"]),
    ("insn_per_tick = 40", "insn_per_tick = \"forty\"", ["'qemu.insn_per_tick' must be int"]),
    ('kind = "ram"', 'kind = "rom"', ["memory[1].kind", "rom"]),
    ("origin = 0x20000000", "origin = 0xFFFFF000", ["memory[1]", "32-bit address space"]),
    ('cpu = "cortex-m4"', 'cpu = "cortex-a53"', ["'cpu' is 'cortex-a53'", "cortex-m0plus"]),
    ('stack_margin = 256', 'stack_margin = 256\nheap = 0', ["unknown key 'firmware.heap'"]),
    ("[supports]\nfloat = true", "[supports]", ["missing field 'supports.float'"]),
    ("length = 0x00400000", "length = 0x00400000 oops", ["not valid TOML"]),
])
def test_board_file_errors_name_file_and_key(tmp_path, old: str, new: str, words: list[str]) -> None:
    path = _variant(tmp_path, "bad", old, new)
    with pytest.raises(NnbError) as e:
        parse_board(path)
    msg = str(e.value)
    assert msg.startswith(path) and "\n" not in msg
    for w in words:
        assert w in msg


def test_unknown_board_lists_known() -> None:
    with pytest.raises(NnbError) as e:
        load_board("arduino-uno")
    assert "unknown board 'arduino-uno'" in str(e.value) and "qemu-mps2-an386" in str(e.value)


def test_missing_tool_names_debian_package(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    for tool, pkg in (("qemu-system-arm", "qemu-system-arm"),
                      ("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")):
        with pytest.raises(NnbError) as e:
            need_tool(tool, "running firmware")
        assert f"apt-get install {pkg}" in str(e.value)


def _nnb(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnb.cli", *args], capture_output=True, text=True, env=env)


def test_cli_boards_and_errors(tmp_path) -> None:
    r = _nnb("boards")
    assert r.returncode == 0
    for name in REQUIRED:
        assert name in r.stdout
    model = os.path.join(ZOO, "lenet.nnp")
    cases = [
        (["build", model, "--board", "nosuch", "-o", str(tmp_path / "p")], "unknown board 'nosuch'"),
        (["build", model, "--board", _variant(tmp_path, "bad", "fpu = \"fpv4-sp-d16\"", "fpu = 3"), "-o",
          str(tmp_path / "p")], "'fpu' must be str"),
    ]
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))  # no cross compiler on this PATH
    cases.append((["build", model, "--board", "qemu-mps2-an386", "-o", str(tmp_path / "p")],
                  "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"))
    for k, (args, words) in enumerate(cases):
        r = _nnb(*args, env=env if k == 2 else None)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nnb: error: ") and words in lines[0], r.stderr


def test_run_on_a_real_board_says_build_and_flash() -> None:
    from nnb.boards.run import run_on_board

    with pytest.raises(NnbError) as e:
        run_on_board(os.path.join(ZOO, "lenet.nnp"), "nucleo-l4r5zi", [])
    assert "QEMU does not emulate it" in str(e.value) and "nnb build --board nucleo-l4r5zi" in str(e.value)
