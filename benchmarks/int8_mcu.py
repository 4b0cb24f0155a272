"""int8 on an emulated Cortex-M4F (QEMU mps2-an386): the C int8 kernels' DSP path, bit-exact and counted.

For each zoo model: calibrate int8 (the fixture input and 15 noisy copies, as
tests/int8 do), generate a bare-metal firmware that runs every integer step
with c_runtime/src/kernels/int8/ (built by arm-none-eabi-gcc -mcpu=cortex-m4,
so ``__ARM_FEATURE_DSP`` selects the ``__smlad`` path), weights as const
arrays, one static int8 buffer per tensor. QEMU runs it with ``-icount
shift=0`` (SysTick: one tick per 40 instructions, reference/QEMU_BOARDS.md).
The firmware prints the instruction count of the whole integer network and of
each step, and the int8 logits, which must equal the numpy integer simulation's
bit for bit. Start-up code, linker script and semihosting come from
benchmarks/mcu_kernels/.

    .venv/bin/python benchmarks/int8_mcu.py [--models dscnn,lenet,resnet8] [--opt=-O2,-Os]

NNB_I8_STEPS=1 also prints every integer step's instruction count.

Also prints the .text of the int8 kernels (every file of c_runtime/src/kernels/int8/,
arm-none-eabi-gcc -mcpu=cortex-m4 at each --opt level). Exits with status 1 when
any model's logits differ from the simulation.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "int8"))

from nnb.ops.conv import _geom  # noqa: E402
from nnb.ops.fused import pool_attrs  # noqa: E402
from nnb.ops.pooling import _out_sizes  # noqa: E402
from nnb.quantize.int_sim import clamp_bounds, run_int8  # noqa: E402

MCU = os.path.join(ROOT, "benchmarks", "mcu_kernels")
INT8 = os.path.join(ROOT, "c_runtime", "src", "kernels", "int8")
OUT = os.path.join(ROOT, "out", "int8_mcu")
CPU = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
QEMU = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting-config", "enable=on,target=native",
        "-icount", "shift=0", "-kernel"]
TICK = 40


def carr(ctype: str, name: str, a: np.ndarray) -> str:
    vals = ",".join(str(int(v)) for v in np.asarray(a).reshape(-1))
    return f"static const {ctype} {name}[{max(1, np.asarray(a).size)}] = {{{vals or '0'}}};\n"


def pool_call(x_shape: tuple, a: dict, src: str, dst: str, zero: int | None) -> str:
    k, s, p, first, out = _out_sizes(x_shape, a)
    n, c, h, w = x_shape
    incl = 1 if a.get("including_pad", True) else 0
    prm = f"{{{n},{c},{h},{w},{out[0]},{out[1]},{k[0]},{k[1]},{s[0]},{s[1]},{p[0]},{p[1]},{incl}}}"
    if zero is None:
        return f"{{ static const nnb_i8_pool_params pp = {prm}; CK(nnb_i8_max_pool2d(&pp, {src}, {dst})); }}\n"
    return f"{{ static const nnb_i8_pool_params pp = {prm}; CK(nnb_i8_avg_pool2d(&pp, {src}, {zero}, {dst})); }}\n"


def scratch_size(so, prm: tuple) -> int:  # noqa: ANN001
    """int16 elements nnb_i8_conv_scratch asks for this layer (the portable build's rule, which the M4 shares)."""
    import ctypes

    from int8_harness import ConvParams

    return int(so.nnb_i8_conv_scratch(ctypes.byref(ConvParams(*prm))))


def firmware(m, x_q: np.ndarray, so) -> tuple[str, str, int]:  # noqa: ANN001
    """(main.c, name of the logits buffer, logits size)."""
    g = m.graph
    shapes = g.infer_shapes({g.inputs[0]: x_q.shape})
    buf = {}
    decl, body = [], []
    scratch = 1

    def b(name: str) -> str:
        if name not in buf:
            buf[name] = f"t{len(buf)}"
            decl.append(f"static int8_t {buf[name]}[{int(np.prod(shapes[name]))}];\n")
        return buf[name]

    decl.append(carr("int8_t", "x_in", x_q))
    body.append(f"memcpy({b(g.inputs[0])}, x_in, sizeof x_in);\n")
    int_steps = [s for s in m.steps if s.kind == "int"]
    last = int_steps[-1].output
    for i, st in enumerate(int_steps):
        node, a, arr = st.node, st.node.attrs, st.arrays
        q_in, q_out = m.qparams[node.inputs[0]], m.qparams[st.output]
        lo, hi = clamp_bounds(st.activation, q_out)
        src, dst = b(node.inputs[0]), b(st.output)
        xs = shapes[node.inputs[0]]
        body.append(f"T0({i});\n")
        if node.op in ("FusedConv", "Convolution", "DepthwiseConvolution"):
            w = arr["weight"]
            (ph, pw), (sh, sw), (dh, dw) = _geom(2, a)
            group = xs[1] if node.op == "DepthwiseConvolution" else a["group"]
            o, _, kh, kw = w.shape
            oh = (xs[2] + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
            ow = (xs[3] + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
            for k, ct in (("weight", "int8_t"), ("bias", "int32_t"), ("mult", "int32_t"), ("shift", "int32_t")):
                decl.append(carr(ct, f"{k}{i}", arr[k]))
            res, rz, rm, rs = "NULL", 0, "NULL", "NULL"
            if node.op == "FusedConv" and a["residual"]:
                res, rz = b(node.inputs[-1]), m.qparams[node.inputs[-1]].zero
                decl.append(carr("int32_t", f"rm{i}", arr["res_mult"]) + carr("int32_t", f"rs{i}", arr["res_shift"]))
                rm, rs = f"rm{i}", f"rs{i}"
            conv_out = dst
            if node.op == "FusedConv" and a["pool"] == "max":
                conv_out = f"c{i}"
                decl.append(f"static int8_t {conv_out}[{xs[0] * o * oh * ow}];\n")
            vals = (*xs, o, kh, kw, oh, ow, ph, pw, sh, sw, dh, dw, group, q_in.zero, q_out.zero, lo, hi, rz)
            need = scratch_size(so, vals)
            if need == 0:
                raise SystemExit(f"{node.name}: the int8 convolution refuses this geometry")
            scratch = max(scratch, need)
            prm = "{" + ",".join(str(int(v)) for v in vals) + "}"
            body.append(f"{{ static const nnb_i8_conv_params cp = {prm}; CK(nnb_i8_conv2d(&cp, {src}, weight{i}, "
                        f"bias{i}, mult{i}, shift{i}, {res}, {rm}, {rs}, {conv_out}, scratch, SCRATCH)); }}\n")
            if conv_out != dst:
                body.append(pool_call((xs[0], o, oh, ow), pool_attrs(a), conv_out, dst, None))
        elif node.op == "Affine":
            w = arr["weight"]
            decl.append(carr("int8_t", f"weight{i}", np.ascontiguousarray(w.T)))
            for k in ("bias", "mult", "shift"):
                decl.append(carr("int32_t", f"{k}{i}", arr[k]))
            n = xs[0]
            body.append(f"CK(nnb_i8_affine({n}, {w.shape[0]}, {w.shape[1]}, {src}, {q_in.zero}, weight{i}, bias{i}, "
                        f"mult{i}, shift{i}, {q_out.zero}, {lo}, {hi}, {dst}));\n")
        elif node.op == "MaxPooling":
            body.append(pool_call(xs, a, src, dst, None))
        elif node.op == "AveragePooling":
            body.append(pool_call(xs, a, src, dst, q_in.zero))
        elif node.op == "GlobalAveragePooling":
            body.append(f"CK(nnb_i8_global_avg_pool({xs[0]}, {xs[1]}, {int(np.prod(xs[2:]))}, {src}, {q_in.zero}, "
                        f"{int(arr['mult'][0])}, {int(arr['shift'][0])}, {q_out.zero}, {dst}));\n")
        elif node.op == "Add2" and shapes[node.inputs[0]] == shapes[node.inputs[1]]:
            decl.append(carr("int32_t", f"mult{i}", arr["mult"]) + carr("int32_t", f"shift{i}", arr["shift"]))
            body.append(f"CK(nnb_i8_add(sizeof {dst}, {src}, {q_in.zero}, {b(node.inputs[1])}, "
                        f"{m.qparams[node.inputs[1]].zero}, mult{i}, shift{i}, {q_out.zero}, {lo}, {hi}, {dst}));\n")
        elif node.op in ("ReLU", "ReLU6", "Reshape", "Identity"):
            body.append(f"{{ size_t j; for (j = 0; j < sizeof {dst}; ++j) {dst}[j] = (int8_t)({src}[j] < {lo} ? {lo} "
                        f": {src}[j] > {hi} ? {hi} : {src}[j]); }}\n")
        else:
            raise SystemExit(f"{node.op}: no firmware form in this benchmark")
        body.append(f"T1({i});\n")
    n_out = int(np.prod(shapes[last]))
    src = f"""/* generated by benchmarks/int8_mcu.py */
#include <stdint.h>
#include <string.h>
#include "nnb_int8.h"
#include "semihost.h"
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCRATCH {scratch}
#define NSTEP {len(int_steps)}
#define CK(e) do {{ if ((e) != NNB_I8_OK) {{ sh_puts("E kernel failed\\n"); return 1; }} }} while (0)
#define T0(i) ts = SYST_CVR
#define T1(i) step[i] = (ts - SYST_CVR) & 0xFFFFFFu
static int16_t scratch[SCRATCH];
static uint32_t step[NSTEP];
{''.join(decl)}
static void put(char tag, long a, long v) {{
    char s[40], t[16]; int n = 0, k = 0; unsigned long u;
    s[k++] = tag; s[k++] = ' ';
    u = (unsigned long)a; do {{ t[n++] = (char)('0' + u % 10); u /= 10; }} while (u); while (n) s[k++] = t[--n];
    s[k++] = ' ';
    if (v < 0) {{ s[k++] = '-'; v = -v; }}
    u = (unsigned long)v; do {{ t[n++] = (char)('0' + u % 10); u /= 10; }} while (u); while (n) s[k++] = t[--n];
    s[k++] = '\\n'; s[k] = 0; sh_puts(s);
}}
static int net(void) {{
    uint32_t ts;
{''.join('    ' + ln for ln in body)}    return 0;
}}
int main(void) {{
    uint32_t t0, t; int i;
    SYST_RVR = 0xFFFFFFu; SYST_CVR = 0; SYST_CSR = 5u;
    t0 = SYST_CVR;
    if (net()) return 1;
    t = (t0 - SYST_CVR) & 0xFFFFFFu;
    put('D', 0, nnb_i8_dsp_path());
    put('T', 0, (long)t);
    for (i = 0; i < NSTEP; ++i) put('F', i, (long)step[i]);
    for (i = 0; i < {n_out}; ++i) put('O', i, {buf[last]}[i]);
    return 0;
}}
"""
    return src, last, n_out


def kernels_text(opt: str) -> int:
    """Bytes of .text of the int8 kernels built for the M4 at this optimisation level."""
    out = tempfile.mkdtemp(prefix="nnb_int8_size_")
    total = 0
    for f in sorted(os.listdir(INT8)):
        if f.endswith(".c"):
            o = os.path.join(out, f + ".o")
            subprocess.run(["arm-none-eabi-gcc", "-std=c99", *CPU, opt, "-ffunction-sections", "-c",
                            os.path.join(INT8, f), "-o", o], check=True)
            sz = subprocess.run(["arm-none-eabi-size", "-A", o], capture_output=True, text=True, check=True).stdout
            total += sum(int(ln.split()[1]) for ln in sz.splitlines() if ln.startswith(".text"))
    return total


def run_model(name: str, opt: str, so) -> bool:  # noqa: ANN001
    from int8_quant_helpers import calibrated

    m, xs, _ = calibrated(name)
    islands = [s.node.op for s in m.steps if s.kind == "island"]
    int_after = any(s.kind == "int" for s in m.steps[next((i for i, s in enumerate(m.steps) if s.kind == "island"),
                                                              len(m.steps)):])
    if int_after:
        print(f"| {name} | {opt} | skipped: a float island ({', '.join(islands)}) inside the network |")
        return True
    x_q = m.qparams[m.graph.inputs[0]].quantize(xs[0])
    src, last, n_out = firmware(m, x_q, so)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "main.c"), "w") as f:
        f.write(src)
    elf = os.path.join(d, "fw.elf")
    cmd = ["arm-none-eabi-gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *CPU, opt, "-ffunction-sections",
           "-fdata-sections", "-I" + INT8, "-I" + MCU, "-nostartfiles", "-T", os.path.join(MCU, "an386.ld"),
           "-Wl,--gc-sections", os.path.join(MCU, "startup.c"), os.path.join(d, "main.c"),
           *sorted(os.path.join(INT8, f) for f in os.listdir(INT8) if f.endswith(".c")), "-lc", "-lgcc", "-o", elf]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr[-2000:])
    r = subprocess.run([*QEMU, elf], capture_output=True, text=True, timeout=600)
    lines = [ln.split() for ln in (r.stdout + r.stderr).splitlines() if ln[:2] in ("T ", "F ", "O ", "D ", "E ")]
    if r.returncode or any(p[0] == "E" for p in lines):
        raise SystemExit(f"{name}: firmware failed ({r.returncode}): {(r.stdout + r.stderr)[-500:]}")
    total = next(int(p[2]) for p in lines if p[0] == "T") * TICK
    dsp = next(int(p[2]) for p in lines if p[0] == "D")
    got = np.array([int(p[2]) for p in lines if p[0] == "O"])
    want = run_int8(m, xs, keep=[last], as_int=True)[last].reshape(-1)
    same = got.size == n_out and np.array_equal(got, want)
    steps = [int(p[2]) * TICK for p in lines if p[0] == "F"]
    ops = [s.node.op for s in m.steps if s.kind == "int"]
    worst = sorted(zip(steps, ops), reverse=True)[:3]
    print(f"| {name} | {opt} | {total / 1e6:.3f} M | {'yes' if dsp else 'no'} | {same} | "
          + ", ".join(f"{op} {n / 1e6:.2f} M" for n, op in worst) + " |")
    if os.environ.get("NNB_I8_STEPS"):
        for (n, op), st in zip(zip(steps, ops), [s for s in m.steps if s.kind == "int"]):
            print(f"    {op:<24} {n / 1e3:8.1f} k  {st.output}")
    return same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="dscnn,lenet,resnet8")
    ap.add_argument("--opt", default="-O2", help="comma-separated optimisation levels, e.g. -O2,-Os")
    ap.add_argument("--no-size", action="store_true", help="skip the kernels' .text figure")
    args = ap.parse_args()
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
                             "qemu-system-arm)")
    opts = args.opt.split(",")
    print(f"int8 networks on QEMU mps2-an386 (Cortex-M4F), arm-none-eabi-gcc {args.opt}; instructions = SysTick "
          f"ticks x {TICK} (+-{TICK} per span); logits compared with the numpy integer simulation\n")
    print("| model | opt | instructions (integer steps) | __smlad path | logits bit-exact | largest steps |")
    print("|---|---|---:|---|---|---|")
    from int8_harness import build

    so = build(tempfile.mkdtemp(prefix="nnb_int8_"), dsp=True)
    ok = True
    for name in args.models.split(","):
        for opt in opts:
            ok = run_model(name, opt, so) and ok
    if not args.no_size:
        print("\nint8 kernels' .text on the M4: " + ", ".join(f"{o} {kernels_text(o):,} B" for o in opts))
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
