"""Instructions per layer of the C runtime on an emulated Cortex-M4F (QEMU mps2-an386).

For every model: the zoo NNP is converted to an extended NNB (as `nnb convert`
writes it: BatchNormalization folded, fused convolutions, one-arena plan) and
linked as a const array into a bare-metal firmware (benchmarks/mcu_kernels/:
start-up, linker script, main.c) together with the C runtime built by
arm-none-eabi-gcc for -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard with
the microcontroller scratch settings of `make -C c_runtime cortex-m4`, and only
the kernels the model uses (c_runtime/tools/gen_kernel_table.py).  QEMU runs it
with `-icount shift=0`, where SysTick counts one tick per 40 instructions
(reference/QEMU_BOARDS.md), so every figure is good to +-40 instructions per
measured span.  The firmware times one whole nnbrt_run, then every function
alone (nnbrt_run_range), and prints the outputs, which are compared with
nnabla's (NAME.out<k>.npy): max abs error <= 1e-5 * max(1, max|ref|).

usage: python benchmarks/mcu_kernels.py [--models dscnn,lenet] [--opt=-O2,-Os] [--runtime DIR] [--no-mcu-kernels]
           [--cflags FLAGS]
           [--json FILE] [--baseline FILE]
  --json FILE      write the figures (per layer and totals) as JSON
  --baseline FILE  a JSON of an earlier run: print its figures beside these
  --no-mcu-kernels the same runtime with the vector engine's scalar form instead of conv_mcu.c
                   (the Cortex-M path before conv_mcu.c), for before/after figures
  --cflags FLAGS   more flags for the runtime (e.g. -DNNBRT_MCU_SMALL: the smaller conv_mcu.c)
  --runtime DIR    another copy of c_runtime/, e.g. an older commit's:
                   git archive HEAD c_runtime | tar -x -C /tmp/old  ->  --runtime /tmp/old/c_runtime
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np

from nnb.emit.convert import convert
from nnb.errors import NnbError
from nnb.inspect import model_stats

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SRC = os.path.join(HERE, "mcu_kernels")
ZOO = os.path.join(ROOT, "..", "shared", "fixtures", "zoo")
OUT = os.path.join(ROOT, "out", "mcu_kernels")
CPU = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
TICK = 40  # instructions per SysTick tick on mps2-an386 with -icount shift=0
ARENA_WORDS = 1 << 19  # 2 MiB of the board's 4 MiB RAM
DEFAULT_RT = os.path.join(ROOT, "c_runtime")
_BUILT: set = set()
EXTRA = ""  # --no-mcu-kernels: -DNNBRT_NO_MCU_KERNELS (the vector engine's scalar form, as before conv_mcu.c)
RT = DEFAULT_RT  # --runtime: another copy of c_runtime/ (e.g. `git archive` of an older commit)
QEMU = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting-config",
        "enable=on,target=native", "-icount", "shift=0", "-kernel"]


def need_tools() -> None:
    for tool, pkg in (("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi"),
                      ("qemu-system-arm", "qemu-system-arm")):
        if shutil.which(tool) is None:
            raise NnbError(f"{tool} not found (Debian package: {pkg})")


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise NnbError(f"{' '.join(cmd[:3])} ... failed: {(r.stderr or r.stdout).strip()[-800:]}")
    return r


def c_floats(a: np.ndarray) -> str:
    v = a.astype(np.float32).ravel().view(np.uint32)
    return ",\n".join(", ".join(f"0x{int(x):08x}u" for x in v[i:i + 8]) for i in range(0, v.size, 8))


def write_model(d: str, image: bytes, inputs: list[np.ndarray], nfunc: int) -> None:
    """model.h / model.c: the NNB image as an aligned const array, the inputs as float bits."""
    pad = image + b"\0" * (-len(image) % 4)
    words = np.frombuffer(pad, dtype="<u4")
    with open(os.path.join(d, "model.h"), "w") as f:
        f.write("#include <stdint.h>\n#include <stddef.h>\n"
                f"#define MCU_NFUNC {nfunc}\n#define MCU_NIN {len(inputs)}\n"
                f"#define MCU_ARENA_WORDS {ARENA_WORDS}\n"
                "extern const uint32_t mcu_model[];\nextern const size_t mcu_model_len;\n"
                "extern const float *const mcu_inputs[];\nextern const size_t mcu_input_len[];\n")
    with open(os.path.join(d, "model.c"), "w") as f:
        f.write('#include "model.h"\n')
        f.write("const uint32_t mcu_model[] = {\n")
        f.write(",\n".join(", ".join(f"0x{int(x):08x}u" for x in words[i:i + 8])
                           for i in range(0, words.size, 8)))
        f.write(f"}};\nconst size_t mcu_model_len = {len(image)};\n")
        for k, a in enumerate(inputs):
            f.write(f"static const uint32_t in{k}[] = {{\n{c_floats(a)}}};\n")
        f.write("const float *const mcu_inputs[] = {"
                + ", ".join(f"(const float *)(const void *)in{k}" for k in range(len(inputs))) + "};\n")
        f.write("const size_t mcu_input_len[] = {" + ", ".join(str(a.size) for a in inputs) + "};\n")


def build(model: str, opt: str, image: bytes, inputs: list[np.ndarray], nfunc: int) -> tuple[str, int]:
    """Firmware ELF for one model and -O level; returns (path, .text bytes of the runtime + kernels)."""
    make = ["make", "-s", "-C", SRC, f"OPT={opt}", f"RT={RT}", f"EXTRA={EXTRA}"]
    if RT == DEFAULT_RT and not EXTRA:
        lib_dir = os.path.join(OUT, "lib" + opt)
        sh([*make, f"OUT={lib_dir}"])
    else:  # another copy (e.g. unpacked by git archive, old mtimes) or other flags: rebuilt once per run
        lib_dir = os.path.join(OUT, "lib" + opt + "-" + hashlib.sha1((RT + EXTRA).encode()).hexdigest()[:8])
        if (RT, opt) not in _BUILT:
            sh([*make, "-B", f"OUT={lib_dir}"])
            _BUILT.add((RT, opt))
    d = os.path.join(OUT, opt.lstrip("-"), model)
    os.makedirs(d, exist_ok=True)
    nnb_path = os.path.join(d, model + ".nnb")
    with open(nnb_path, "wb") as f:
        f.write(image)
    write_model(d, image, inputs, nfunc)
    kt = os.path.join(d, "kernel_table.c")
    sh([sys.executable, os.path.join(RT, "tools", "gen_kernel_table.py"), "-o", kt, nnb_path])
    rt = RT
    cflags = ["-std=c99", "-Wall", "-Wextra", "-Werror", *CPU, opt, *EXTRA.split(), "-ffunction-sections",
              "-fdata-sections", "-I" + os.path.join(rt, "include"), "-I" + os.path.join(rt, "src"), "-I" + SRC,
              "-I" + d]
    elf = os.path.join(d, "fw.elf")
    srcs = [os.path.join(SRC, "startup.c"), os.path.join(SRC, "main.c"), os.path.join(d, "model.c"), kt]
    sh(["arm-none-eabi-gcc", *cflags, "-nostartfiles", "-T", os.path.join(SRC, "an386.ld"),
        "-Wl,--gc-sections", *srcs,
        os.path.join(lib_dir, "libnnbrt_nokt.a"), "-lm", "-lc", "-lgcc", "-o", elf])
    return elf, runtime_text(elf)


def runtime_text(elf: str) -> int:
    """.text of the firmware: code only (the model and constants are in .rodata)."""
    r = sh(["arm-none-eabi-size", "-A", elf])
    for ln in r.stdout.splitlines():
        p = ln.split()
        if p and p[0] == ".text":
            return int(p[1])
    return 0


def run_fw(elf: str) -> dict:
    try:
        r = subprocess.run([*QEMU, elf], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as e:
        raise NnbError(f"qemu timed out on {elf}") from e
    out = r.stderr + r.stdout
    if r.returncode != 0:
        raise NnbError(f"firmware {elf} failed (status {r.returncode}): {out.strip()[-300:]}")
    res: dict = {"fn": {}, "out": []}
    cur: list[int] | None = None
    for ln in out.splitlines():
        p = ln.split()
        if not p:
            continue
        if p[0] == "A":
            res["arena"] = int(p[1])
        elif p[0] == "T":
            res["total"] = int(p[1]) * TICK
        elif p[0] == "F":
            res["fn"][int(p[1])] = int(p[2]) * TICK
        elif p[0] == "O":
            cur = []
            res["out"].append(cur)
        elif p[0] == "V" and cur is not None:
            cur.extend(int(x, 16) for x in p[1:])
    res["out"] = [np.array(o, dtype=np.uint32).view(np.float32) for o in res["out"]]
    return res


def zoo_io(model: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    def files(kind: str) -> list[np.ndarray]:
        out, k = [], 0
        while os.path.exists(os.path.join(ZOO, f"{model}.{kind}{k}.npy")):
            out.append(np.load(os.path.join(ZOO, f"{model}.{kind}{k}.npy")))
            k += 1
        return out
    return files("in"), files("out")


def measure(model: str, opt: str) -> dict:
    path = os.path.join(ZOO, model + ".nnp")
    if not os.path.exists(path):
        raise NnbError(f"model '{model}' not found in {ZOO}")
    c = convert(path, mode="extended")
    stats = model_stats(c.graph)
    inputs, refs = zoo_io(model)
    elf, text = build(model, opt, c.image, inputs, len(stats.layers))
    r = run_fw(elf)
    errs = []
    for k, ref in enumerate(refs):
        y = r["out"][k] if k < len(r["out"]) else np.zeros(0, np.float32)
        if y.size != ref.size:
            raise NnbError(f"{model}: output {k} has {y.size} values, nnabla's {ref.size}")
        tol = 1e-5 * max(1.0, float(np.abs(ref).max()))
        err = float(np.abs(y.astype(np.float64) - ref.ravel()).max())
        errs.append((err, tol))
    layers = []
    for i, ls in enumerate(stats.layers):
        layers.append({"name": ls.name, "op": ls.op, "shape": list(ls.output_shape), "macs": ls.macs,
                       "instr": r["fn"].get(i, 0)})
    macs = sum(ls.macs for ls in stats.layers)
    return {"model": model, "opt": opt, "total": r["total"], "macs": macs, "layers": layers,
            "text": text, "arena": r.get("arena", 0), "errors": errs,
            "ok": all(e <= t for e, t in errs)}


def fmt_m(v: float) -> str:
    return f"{v / 1e6:.3f} M"


def report(res: dict, base: dict | None) -> None:
    print(f"\n== {res['model']} ({res['opt']}): {fmt_m(res['total'])} instructions per inference, "
          f"{res['macs']:,} MACs, {res['total'] / max(res['macs'], 1):.2f} per MAC; "
          f"firmware .text (code) {res['text']:,} B; arena {res['arena']:,} B")
    for k, (e, t) in enumerate(res["errors"]):
        print(f"   output {k}: max abs error vs nnabla {e:.3g} (tolerance {t:.3g}) {'ok' if e <= t else 'MISMATCH'}")
    bl = {(x["name"]): x for x in base["layers"]} if base else {}
    hdr = f"  {'#':>2}  {'layer':<30} {'op':<16} {'MACs':>9} {'instr':>11} {'/MAC':>7}"
    if base:
        hdr += f" {'before':>11} {'/MAC':>7} {'x faster':>8}"
    print(hdr)
    for i, ly in enumerate(res["layers"]):
        per = f"{ly['instr'] / ly['macs']:.2f}" if ly["macs"] else "-"
        row = f"  {i:>2}  {ly['name'][:30]:<30} {ly['op'][:16]:<16} {ly['macs']:>9,} {ly['instr']:>11,} {per:>7}"
        b = bl.get(ly["name"])
        if b:
            bper = f"{b['instr'] / b['macs']:.2f}" if b["macs"] else "-"
            sp = f"{b['instr'] / ly['instr']:.2f}" if ly["instr"] else "-"
            row += f" {b['instr']:>11,} {bper:>7} {sp:>8}"
        print(row)
    s = sum(ly["instr"] for ly in res["layers"])
    line = f"  sum of layers {s:,}; whole run {res['total']:,}"
    if base:
        line += (f"; before {base['total']:,} ({base['total'] / max(res['total'], 1):.2f}x); "
                 f".text before {base['text']:,} B, now {res['text']:,} B")
    print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="dscnn,lenet")
    ap.add_argument("--opt", default="-O2,-Os", help="comma-separated gcc optimisation levels")
    ap.add_argument("--json", help="write the figures to this JSON file")
    ap.add_argument("--baseline", help="JSON of an earlier run to compare with")
    ap.add_argument("--runtime", help="measure this copy of c_runtime/ instead of the working tree's")
    ap.add_argument("--no-mcu-kernels", action="store_true",
                    help="build with -DNNBRT_NO_MCU_KERNELS: the convolution engine instead of conv_mcu.c")
    ap.add_argument("--cflags", default="", help="more compiler flags for the runtime, e.g. -DNNBRT_MCU_SMALL")
    a = ap.parse_args()
    global RT, EXTRA
    if a.runtime:
        RT = os.path.abspath(a.runtime)
    EXTRA = " ".join(f for f in (a.cflags, "-DNNBRT_NO_MCU_KERNELS" if a.no_mcu_kernels else "") if f)
    try:
        need_tools()
        base = {}
        if a.baseline:
            with open(a.baseline) as f:
                base = {(r["model"], r["opt"]): r for r in json.load(f)}
        results = []
        for opt in a.opt.split(","):
            for m in a.models.split(","):
                res = measure(m, opt)
                report(res, base.get((m, opt)))
                results.append(res)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1)
        if not all(r["ok"] for r in results):
            raise NnbError("outputs differ from nnabla's (see above)")
    except NnbError as e:
        print(f"nnb: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
