"""What the emitted lenet adds to a Cortex-M4 firmware, from the firmware's own linker map.

The firmware is the one `nnb build --with emit-c` writes for qemu-mps2-an386 (startup, semihosting port,
main), relinked -Os with a cross reference table. The model's share is its objects (build/emitc/...) and the
libgcc/libc/libm members they pull in; the harness (startup, port, main) is apart. That share besides the
weights must be what `nnb emit-c`'s footprint report predicts (within 10 %), and at most 12 KB; its static
RAM plus the stack estimate must stay below onnx2c's 49,296 bytes for the same model (issue 14)."""

from __future__ import annotations

import os
import subprocess

from conftest import ZOO
from emitc_helpers import need

from nnb import footprint
from nnb.cli import main
from nnb.emit.csource import render
from nnb.emit.csource_footprint import measure

LENET = os.path.join(ZOO, "lenet.nnp")
CODE_BOUND = 12 * 1024
ONNX2C_LENET_RAM = 49_296
PREFIX = "nnbmodel"  # nnb build's prefix for the emitted model


def m4_firmware_map(model: str, out: str) -> tuple[footprint.LinkMap, dict[str, dict[str, int]]]:
    """The `nnb build --with emit-c` firmware of ``model`` for qemu-mps2-an386 in ``out``, relinked -Os with a
    cross reference table: (its linker map, the map's split: "own" = the emitted model's objects and the library
    members they pull in, "other" = the harness, "excluded" = the weights). Also used by test_emitc_int8.py."""
    assert main(["build", model, "--board", "qemu-mps2-an386", "--with", "emit-c", "-o", out]) == 0
    ld = "$(CPUFLAGS) -nostartfiles -T link.ld -Wl,--gc-sections -Wl,-Map=cref.map -Wl,--cref"
    r = subprocess.run(["make", "-s", "-B", "-C", out, "firmware.elf", "OPT=-Os", f"LDFLAGS={ld}"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    with open(os.path.join(out, "cref.map"), encoding="utf-8") as f:
        lm = footprint.parse_map(f.read())
    split = footprint.map_split(lm, lambda p: p.startswith("build/emitc/"),
                                lambda sec: sec.startswith(f".rodata.{PREFIX}_w_"))
    return lm, split


def test_emitted_lenet_on_the_m4_is_what_the_footprint_report_says(tmp_path) -> None:
    need("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    need("make", "make")
    lm, split = m4_firmware_map(LENET, str(tmp_path / "fw"))
    own, harness = split["own"], split["other"]
    code = own["text"] + own["rodata"] + own["data"]
    assert sum(split["excluded"].values()) == 4 * 20192  # the weights, exactly, set apart
    assert harness["text"] > 0 and any(p.startswith("build/emitc/nnbrt/") for _o, _s, _n, p in lm.kept)

    rep = measure(render(LENET, prefix=PREFIX), "cortex-m4")
    est = rep["code_besides_weights_bytes"]
    assert abs(est - code) <= 0.10 * code, (est, code)
    assert code <= CODE_BOUND, f"emitted lenet: {code:,} B of code besides the weights (bound {CODE_BOUND:,})"
    ram = own["data"] + own["bss"]
    assert ram >= rep["arena_bytes"] and ram + rep["stack_bytes"] < ONNX2C_LENET_RAM, (ram, rep["stack_bytes"])
