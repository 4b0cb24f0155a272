"""Every zoo model's emitted C compiles warning-free for a Cortex-M4 (arm-none-eabi-gcc) and its generated
files under clang.

One `make -j2` over all models; the kernel files are byte-identical copies across models, so each
distinct one (content and kernel settings) is compiled once."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

from conftest import ZOO, zoo_names
from emitc_helpers import need

from nnb.emit.csource import render, write_tree

M4 = "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
WARN = "-std=c99 -Wall -Wextra -Werror -pedantic -Wvla"  # -Wvla: no variable-length arrays anywhere


def test_every_zoo_model_compiles_for_cortex_m4_and_clang(tmp_path) -> None:
    need("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    need("make", "make")
    have_clang = bool(shutil.which("clang"))
    sources, seen, rules = [], set(), []
    for name in zoo_names():
        e = render(os.path.join(ZOO, f"{name}.nnp"))
        write_tree(e, str(tmp_path / name))
        knobs = " ".join(f"-D{k}" for k in e.model.knobs)  # per model: the conv_mcu.c forms it uses
        rules.append(f"{name}/%.m4.o: {name}/%.c\n\tarm-none-eabi-gcc {WARN} {M4} -Os {knobs} -c $< -o $@\n"
                     f"{name}/%.clang: {name}/%.c\n\tclang {WARN} -O2 {knobs} -fsyntax-only $< && touch $@\n")
        for rel in sorted(e.files):
            if not rel.endswith(".c") or rel.endswith("_example.c"):
                continue
            h = hashlib.sha256(e.files[rel] + knobs.encode()).hexdigest()
            if rel.startswith("nnbrt/") and h in seen:
                continue
            seen.add(h)
            sources.append(f"{name}/{rel}")
    objs = " ".join(s[:-2] + ".m4.o" for s in sources)
    # clang: the generated files (the kernel copies are the runtime's, checked by its own builds)
    stamps = " ".join(s[:-2] + ".clang" for s in sources if "/nnbrt/" not in s) if have_clang else ""
    (tmp_path / "Makefile").write_text(f"all: {objs} {stamps}\n" + "".join(rules))
    r = subprocess.run(["make", "-s", "-j2", "-C", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "warning" not in r.stderr.lower(), r.stderr[-3000:]
    assert len(sources) > 2 * len(zoo_names())
    for s in sources:
        assert os.path.exists(tmp_path / (s[:-2] + ".m4.o")), s
