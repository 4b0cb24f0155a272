"""A fuzzing campaign of the C loader: both mutators, under ASan/UBSan.

Seeds: every zoo .nnb (nnabla's converter) and every zoo model in nnb's
extended format. Runs ``fuzz_nnb`` (byte-level) and ``fuzz_fields``
(field-aware, with the data-flow oracle) from ``make SAN=1``, N files each
(default 10^6), split over --jobs processes, and prints per mutator: files,
files the loader accepted, files run, wall time, and the verdict (any
sanitizer report or wrong-but-accepted file stops that process and is printed).

usage: nice python benchmarks/fuzz.py [--files 1000000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from nnb.emit.convert import convert
from nnb.nnp.reader import load

HERE = os.path.dirname(os.path.abspath(__file__))
CRT = os.path.join(HERE, "..", "c_runtime")
ZOO = os.path.join(HERE, "..", "..", "shared", "fixtures", "zoo")


def seeds(tmp: str) -> list[str]:
    out = sorted(glob.glob(os.path.join(ZOO, "*.nnb")))
    with open(os.path.join(ZOO, "manifest.json")) as f:
        names = sorted(json.load(f)["models"])
    for name in names:
        p = os.path.join(tmp, f"{name}.ext.nnb")
        with open(p, "wb") as f:
            f.write(convert(load(os.path.join(ZOO, f"{name}.nnp")), "extended").image)
        out.append(p)
    return out


def campaign(tool: str, files: int, jobs: int, seed_files: list[str]) -> dict:
    t0 = time.time()
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    procs = [subprocess.Popen([os.path.join(CRT, "build-san", tool), "-n", str((files + k) // jobs), "-m", "1000000",
                               "-s", str(90000 + k), *seed_files],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for k in range(jobs)]
    accepted = run = 0
    failures = []
    for p in procs:
        out, err = p.communicate()
        last = out.strip().splitlines()[-1] if out.strip() else ""
        if p.returncode != 0 or "Sanitizer" in err or "runtime error" in err:
            failures.append(err.strip()[-2000:] or last)
        m = re.search(r"(\d+) (?:valid mutants|accepted)", last)
        accepted += int(m.group(1)) if m else 0
        m = re.search(r"(\d+) run", last)
        run += int(m.group(1)) if m else 0
    return {"tool": tool, "files": files, "accepted": accepted, "run": run, "seconds": time.time() - t0,
            "failures": failures}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1_000_000, help="mutants per mutator")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    r = subprocess.run(["make", "-C", CRT, "-s", "-j2", "SAN=1", "all"], capture_output=True, text=True)
    if r.returncode:
        print(r.stdout[-2000:] + r.stderr[-2000:])
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        seed_files = seeds(tmp)
        print(f"seeds: {len(seed_files)} files (zoo .nnb + zoo extended); ASan+UBSan build")
        bad = 0
        for tool in ("fuzz_nnb", "fuzz_fields"):
            res = campaign(tool, args.files, args.jobs, seed_files)
            verdict = "0 sanitizer reports, 0 wrong-but-accepted" if not res["failures"] else "FAILED"
            print(f"{tool:12s} {res['files']:>9,d} files  {res['accepted']:>8,d} accepted  {res['run']:>8,d} run  "
                  f"{res['seconds']:7.1f} s  {verdict}")
            for f in res["failures"]:
                print("   ", f.replace("\n", "\n    "))
            bad |= bool(res["failures"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
