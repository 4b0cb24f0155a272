"""Fixed-point (FIXED8 / FIXED16) latency through nnb's C runtime, beside float and int8 in the same run (issue 13).

For the trained fmnist_lenet and fmnist_dscnn: the float extended NNB (``nnb convert``), the int8 NNB
(``nnb quantize --method int8 --calib fashion-mnist --calib-samples N`` then ``nnb convert``) and the fixed8 /
fixed16 compatible NNBs (``nnb quantize --method fixed8|fixed16 ... --nnb F.nnb``), each run by the runtime's
own timing loop (``nnbrt run F.nnb x.bin -t RUNS``: batch 1, one test image, no Python in the loop). Every
variant is timed once per round, rounds interleaved; the table gives the median per image and its ratio to
float's median. ``fixed* loops`` are the same fixed files with ``NNB_FIXED_ISA=loops``: fixed_mac.c's int64
loops, the form before kernels/fixed_fast.c; ``--levels`` adds the fast forms capped at AVX2 and at the
portable build (``NNB_FIXED_ISA=avx2|base``). Every fixed variant's outputs are checked equal (the same bits)
to the default level's before timing.

``--m4`` also builds each fixed file (and the float and int8 files) as Cortex-M4 firmware and prints
QEMU mps2-an386's instruction count of one inference (needs arm-none-eabi-gcc and qemu-system-arm; a few
minutes the first time, cached after).

    .venv/bin/python benchmarks/fixed_speed.py [--models lenet,dscnn] [--rounds 7] [--runs 300] [--levels] [--m4]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nnb.backends import c as c_backend  # noqa: E402
from nnb.cli import main as nnb_main  # noqa: E402
from nnb.nnp.reader import load  # noqa: E402
from nnb.train.data import input_array, load_data  # noqa: E402

TRAINED = os.path.normpath(os.path.join(ROOT, "..", "shared", "fixtures", "trained"))
NNBRT = os.path.join(ROOT, "c_runtime", "build", "nnbrt")


def quiet(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        rc = nnb_main(argv)
    if rc:
        raise SystemExit(f"nnb {' '.join(argv)} failed ({rc})")


def make_files(arch: str, calib: int, d: str) -> dict[str, str]:
    """{variant: NNB path} for float, int8, fixed8, fixed16."""
    nnp = os.path.join(TRAINED, f"fmnist_{arch}.nnp")
    cal = ["--calib", "fashion-mnist", "--calib-samples", str(calib)]
    files = {"float": os.path.join(d, f"{arch}_float.nnb"), "int8": os.path.join(d, f"{arch}_int8.nnb")}
    quiet(["convert", nnp, "-o", files["float"]])
    quiet(["quantize", nnp, "--method", "int8"] + cal + ["-o", os.path.join(d, f"{arch}_int8.nnq")])
    quiet(["convert", os.path.join(d, f"{arch}_int8.nnq"), "-o", files["int8"]])
    for m in ("fixed8", "fixed16"):
        files[m] = os.path.join(d, f"{arch}_{m}.nnb")
        quiet(["quantize", nnp, "--method", m] + cal + ["-o", os.path.join(d, f"{arch}_{m}.nnq"), "--nnb", files[m]])
    return files


def run_once(nnb: str, x: str, runs: int, isa: str | None, out: str) -> float:
    """ms per run printed by nnbrt's timing loop."""
    env = dict(os.environ)
    if isa:
        env["NNB_FIXED_ISA"] = isa
    r = subprocess.run([NNBRT, "run", nnb, x, "-t", str(runs), "-o", out], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"nnbrt run {nnb} failed: {r.stderr.strip()}")
    line = [s for s in (r.stdout + r.stderr).splitlines() if "ms/run" in s][-1]
    return float(line.split(",")[1].split()[0])


def outputs(prefix: str) -> bytes:
    k, data = 0, b""
    while os.path.exists(f"{prefix}{k}.bin"):
        with open(f"{prefix}{k}.bin", "rb") as f:
            data += f.read()
        k += 1
    return data


def m4_count(nnb: str, x: np.ndarray) -> str:
    from nnb.boards.run import run_on_board

    try:
        _, rep = run_on_board(nnb, "qemu-mps2-an386", [x])
    except Exception as e:  # noqa: BLE001 - report and go on (no cross tools, QEMU missing)
        return f"n/a ({str(e).splitlines()[0][:60]})"
    return f"{rep.run_count / 1e6:.2f} M"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="lenet,dscnn")
    ap.add_argument("--calib", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=300, help="inferences per timing (nnbrt run -t)")
    ap.add_argument("--levels", action="store_true", help="also the fast forms at AVX2 and portable")
    ap.add_argument("--m4", action="store_true", help="also Cortex-M4 instruction counts (QEMU)")
    args = ap.parse_args()
    c_backend.build_library()  # brings c_runtime/build (nnbrt included) up to date
    xt, _ = load_data("fashion-mnist", "test")
    with tempfile.TemporaryDirectory() as d:
        for arch in args.models.split(","):
            files = make_files(arch, args.calib, d)
            x = np.ascontiguousarray(input_array(load(os.path.join(TRAINED, f"fmnist_{arch}.nnp")), xt[:1]), "<f4")
            xbin = os.path.join(d, "x.bin")
            x.tofile(xbin)
            variants = [("float", files["float"], None), ("int8", files["int8"], None)]
            for m in ("fixed8", "fixed16"):
                variants.append((m, files[m], None))
                if args.levels:
                    variants += [(f"{m} avx2", files[m], "avx2"), (f"{m} base", files[m], "base")]
                variants.append((f"{m} loops", files[m], "loops"))
            want = {}
            for name, f, isa in variants:  # the same bits at every level
                run_once(f, xbin, 2, isa, os.path.join(d, "o"))
                key = name.split()[0]
                got = outputs(os.path.join(d, "o"))
                if key in want and got != want[key]:
                    raise SystemExit(f"{arch} {name}: outputs differ from the default level's")
                want.setdefault(key, got)
            times: dict[str, list[float]] = {v[0]: [] for v in variants}
            for _ in range(args.rounds):
                for name, f, isa in variants:
                    times[name].append(run_once(f, xbin, args.runs, isa, os.path.join(d, "o")))
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"\n{arch}: C runtime, batch 1, median of {args.rounds} interleaved rounds x {args.runs} runs "
                  f"(fast forms at level {isa_level()})")
            print(f"| variant | us/image | / float | fixed: loops / this |{' M4 instructions |' if args.m4 else ''}")
            print(f"|---|---|---|---|{'---|' if args.m4 else ''}")
            for name, f, _ in variants:
                base = med.get(f"{name.split()[0]} loops") if name.startswith("fixed") else None
                m4 = ""
                if args.m4:
                    m4 = f" {m4_count(f, x) if ' ' not in name else ''} |"
                print(f"| {arch} {name} | {med[name] * 1e3:.1f} | {med[name] / med['float']:.2f} | "
                      f"{f'{base / med[name]:.1f}x' if base else ''} |{m4}")
    return 0


def isa_level() -> str:
    lvl = {"avx512": "AVX-512", "avx2": "AVX2", "base": "portable", "loops": "off"}
    return lvl.get(os.environ.get("NNB_FIXED_ISA", ""), "of this CPU")


if __name__ == "__main__":
    raise SystemExit(main())
