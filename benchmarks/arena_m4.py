"""The arena the C runtime asks for on a Cortex-M4F (32-bit), measured under QEMU.

Builds `make -C c_runtime build-m4/libnnbrt.a` (the Makefile's M4 flags), links
a small semihosting program (vector table, FPU on, the model read from the
host with fopen) for QEMU's mps2-an386, and for every zoo model, in nnabla's
compatible format (.nnb fixture) and nnb's extended format, prints what
nnbrt_get_arena_info reports on the target: tables, input/output storage,
tensors, kernel scratch, the total, the total with the inputs in caller
storage (NNBRT_EXTERNAL_INPUTS), the plan, and whether the extended file
meets the bound "arena <= plan + kernel scratch + 2 KB". The model is also
run once (status printed).

usage: python benchmarks/arena_m4.py [--models lenet,dscnn] [--lib PATH/libnnbrt.a] [--nnb A.nnb,B.nnb]

--nnb measures the given NNB files instead of the zoo (e.g. an int8 file from
`nnb quantize X.nnp --method int8 ... -o X.nnq; nnb convert X.nnq -o X8.nnb`
beside the float one from `nnb convert X.nnp`): the Cortex-M4 figures of
issue 13's int8 arena line.
needs: gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from nnb.emit.convert import convert
from nnb.nnp.reader import load

HERE = os.path.dirname(os.path.abspath(__file__))
CRT = os.path.join(HERE, "..", "c_runtime")
ZOO = os.path.join(HERE, "..", "..", "shared", "fixtures", "zoo")
CPU = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]

FIRMWARE = r"""
#include "nnbrt.h"
#include <stdio.h>
#include <stdlib.h>
extern void initialise_monitor_handles(void);
extern unsigned long _stack_top;
int main(void);
void Reset_Handler(void);
__attribute__((section(".vectors"))) const void *const vectors[4] = {
    &_stack_top, (void *)Reset_Handler, (void *)Reset_Handler, (void *)Reset_Handler};
static uint32_t img[1 << 18];
static uint8_t arena[2u << 20] __attribute__((aligned(64)));
void Reset_Handler(void)
{
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20; /* CP10/CP11: FPU on */
    __asm volatile("dsb\n isb");
    initialise_monitor_handles();
    exit(main());
}
int main(void)
{
    FILE *f = fopen("model.nnb", "rb");
    size_t len, need, ext = 0;
    nnbrt_net *net;
    nnbrt_arena_info ai;
    nnbrt_header_info h;
    nnbrt_status st;
    if (!f) { printf("error: cannot open model.nnb\n"); return 1; }
    len = fread(img, 1, sizeof img, f);
    fclose(f);
    st = nnbrt_arena_size(img, len, &need);
    if (st != NNBRT_OK) { printf("error: %s\n", nnbrt_status_str(st)); return 2; }
    nnbrt_arena_size_flags(img, len, NNBRT_EXTERNAL_INPUTS, &ext);
    if (need > sizeof arena) { printf("error: arena %u too big\n", (unsigned)need); return 3; }
    st = nnbrt_init(&net, img, len, arena, need);
    if (st != NNBRT_OK) { printf("error: %s\n", nnbrt_status_str(st)); return 4; }
    nnbrt_get_arena_info(net, &ai);
    nnbrt_get_header(net, &h);
    st = nnbrt_run(net);
    printf("total %u tables %u io %u tensors %u scratch %u ext %u plan %u run %s\n", (unsigned)ai.total,
           (unsigned)ai.tables, (unsigned)ai.io, (unsigned)ai.tensors, (unsigned)ai.scratch, (unsigned)ext,
           (unsigned)h.arena_bytes, nnbrt_status_str(st));
    return 0;
}
"""

LINKER = """
MEMORY { CODE (rx) : ORIGIN = 0x00000000, LENGTH = 4M
         RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 4M }
SECTIONS {
  .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) . = ALIGN(4); } > CODE
  .ARM.exidx : { *(.ARM.exidx*) } > CODE
  .data : { *(.data*) . = ALIGN(4); } > RAM
  .bss (NOLOAD) : { __bss_start__ = .; *(.bss*) *(COMMON) . = ALIGN(8); __bss_end__ = .; } > RAM
  end = .; _end = .;
  _stack_top = ORIGIN(RAM) + LENGTH(RAM);
}
"""


def build(tmp: str, lib: str | None) -> str:
    if lib is None:
        r = subprocess.run(["make", "-C", CRT, "-s", "-j2", "build-m4/libnnbrt.a"], capture_output=True, text=True)
        if r.returncode:
            sys.exit(r.stdout[-2000:] + r.stderr[-2000:])
        lib = os.path.join(CRT, "build-m4", "libnnbrt.a")
    with open(os.path.join(tmp, "fw.c"), "w") as f:
        f.write(FIRMWARE)
    with open(os.path.join(tmp, "fw.ld"), "w") as f:
        f.write(LINKER)
    elf = os.path.join(tmp, "fw.elf")
    subprocess.run(["arm-none-eabi-gcc", "-std=c99", *CPU, "-Os", f"-I{os.path.join(CRT, 'include')}",
                    "--specs=rdimon.specs", "-nostartfiles", "-T", os.path.join(tmp, "fw.ld"), "-Wl,--gc-sections",
                    os.path.join(tmp, "fw.c"), lib, "-lm", "-o", elf], check=True)
    return elf


def measure(elf: str, image: bytes, tmp: str) -> dict:
    d = tempfile.mkdtemp(dir=tmp)
    with open(os.path.join(d, "model.nnb"), "wb") as f:
        f.write(image)
    r = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
                        "-semihosting-config", "enable=on,target=native", "-kernel", elf],
                       cwd=d, capture_output=True, text=True, timeout=600)
    line = r.stdout.strip().splitlines()[0] if r.stdout.strip() else r.stderr.strip()
    if not line.startswith("total"):
        return {"error": line}
    vals = dict(zip(line.split()[0::2], line.split()[1::2]))
    out = {k: int(v) for k, v in vals.items() if k != "run"}
    out["run"] = vals["run"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="", help="comma-separated zoo names (default: all)")
    ap.add_argument("--lib", default=None, help="an M4 libnnbrt.a to measure instead of build-m4's")
    ap.add_argument("--nnb", default="", help="comma-separated NNB files to measure instead of the zoo")
    args = ap.parse_args()
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            print(f"nnb: error: {tool} not found (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)")
            return 2
    with open(os.path.join(ZOO, "manifest.json")) as f:
        names = sorted(json.load(f)["models"])
    if args.models:
        names = [n for n in names if n in args.models.split(",")]
    print("Cortex-M4F (QEMU mps2-an386): bytes the runtime asks for (nnbrt_get_arena_info)")
    print(f"{'model':14s} {'format':8s} {'total':>8s} {'tables':>7s} {'i/o':>7s} {'tensors':>8s} {'scratch':>8s} "
          f"{'ext.in':>8s} {'plan':>8s}  bound(plan+scratch+2K)")
    with tempfile.TemporaryDirectory() as tmp:
        elf = build(tmp, args.lib)
        for path in [p for p in args.nnb.split(",") if p]:
            if not os.path.isfile(path):
                print(f"nnb: error: {path}: no such file")
                return 2
            with open(path, "rb") as f:
                m = measure(elf, f.read(), tmp)
            if "error" in m:
                print(f"{os.path.basename(path):23s} {m['error']}")
                continue
            print(f"{os.path.basename(path):23s} {m['total']:8d} {m['tables']:7d} {m['io']:7d} {m['tensors']:8d} "
                  f"{m['scratch']:8d} {m['ext']:8d} {m['plan']:8d}  tensors+scratch {m['tensors'] + m['scratch']}"
                  f"  run {m['run']}")
        if args.nnb:
            return 0
        for name in names:
            images = []
            compat = os.path.join(ZOO, f"{name}.nnb")
            if os.path.exists(compat):
                with open(compat, "rb") as f:
                    images.append(("compat", f.read()))
            images.append(("extended", convert(load(os.path.join(ZOO, f"{name}.nnp")), "extended").image))
            for fmt, image in images:
                m = measure(elf, image, tmp)
                if "error" in m:
                    print(f"{name:14s} {fmt:8s} {m['error']}")
                    continue
                bound = ""
                if fmt == "extended":
                    limit = m["plan"] + m["scratch"] + 2048
                    ok_ext, ok_total = m["ext"] <= limit, m["total"] <= limit
                    bound = f"ext.in {'<=' if ok_ext else '>'} {limit}; total {'<=' if ok_total else '>'}"
                print(f"{name:14s} {fmt:8s} {m['total']:8d} {m['tables']:7d} {m['io']:7d} {m['tensors']:8d} "
                      f"{m['scratch']:8d} {m['ext']:8d} {m['plan']:8d}  {bound}  run {m['run']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
