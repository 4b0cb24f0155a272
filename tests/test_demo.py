"""`nnb demo --quick`: the main job end to end (train, quantize, pack to NNB, run in C, emitted C, OpenCL, the
emulated Cortex-M4), on the real data."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from nnb.datasets import FASHION_MNIST_DIR


def test_quick_demo_runs_end_to_end(tmp_path) -> None:
    if not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip(f"{FASHION_MNIST_DIR} missing: Debian's dataset-fashion-mnist is not installed "
                    "(`make setup` installs it)")
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "nnb.cli", "demo", "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rows = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s+(float|LUT-Q K=4|DQ 2-bit budget)\s+([\d.]+) %\s+([\d.]+) %\s+([\d.]+) %\s+([\d,]+)\s+"
                     r"([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)$", line)
        if m:
            rows[m.group(1)] = [m.group(k) for k in range(2, 10)]
    assert set(rows) == {"float", "LUT-Q K=4", "DQ 2-bit budget"}, r.stdout[-3000:]
    for label, (ref, c, agree, params, file_b, arena, ram, ms) in rows.items():
        assert float(ref) > 60.0, (label, ref)  # ten classes: chance is 10 %
        assert abs(float(c) - float(ref)) <= 0.05 and float(agree) >= 99.9, (label, ref, c, agree)
        assert 0 < int(arena.replace(",", "")) <= 14 * 1024, (label, arena)
        # what the C runtime asks for (nnbrt_arena_size) holds the plan and more
        assert int(arena.replace(",", "")) < int(ram.replace(",", "")) <= 64 * 1024, (label, arena, ram)
        assert float(ms) > 0
        assert 0 < int(params.replace(",", "")) < int(file_b.replace(",", "")), (label, params, file_b)
    p = {k: int(v[3].replace(",", "")) for k, v in rows.items()}
    assert p["LUT-Q K=4"] < p["float"] / 10 and p["DQ 2-bit budget"] < p["float"] / 10, p
    # the emitted C built with its own Makefile matches the reference; OpenCL and the emulated Cortex-M4 either
    # match or say why they were skipped (no device / no cross tools: each names what to install)
    assert re.search(r"max abs error vs the reference [\d.e+-]+, argmax identical", r.stdout), r.stdout[-3000:]
    assert re.search(r"OpenCL (on .*-> matches|: skipped \(.+\))", r.stdout), r.stdout[-3000:]
    m4 = re.search(r"on qemu-mps2-an386: ([\d,]+) instructions per inference", r.stdout)
    if m4:
        assert "argmax identical" in r.stdout.split("qemu-mps2-an386")[-1], r.stdout[-3000:]
    else:
        assert "qemu-mps2-an386: skipped (" in r.stdout, r.stdout[-3000:]
    for name in ("lenet.nnp", "lenet.nnb", "lenet_lutq4.nnq", "lenet_lutq4.nnb", "lenet_dq.nnb",
                 "lenet_lutq4.html", "lenet_dq.html"):
        assert (out / name).stat().st_size > 0, name
