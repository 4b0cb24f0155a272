"""The Cortex-M4 forms of the int8 convolution (c_runtime/src/kernels/int8/conv.c, DSP path) on random layers:
the 3x3 stride-1 depthwise over the raw int8 plane, the 1x1 and im2col quads requantized from the registers, and
the layers that must fall back to the general forms (a residual, ReLU6's upper clamp, a channel whose shift is
not a right shift, accumulators near 2^31). Each layer's integers equal the numpy simulation's (conv_acc +
requantization, docs/int8.md), computed twice: the emulated DSP path on the host (NNB_I8_EMULATE_DSP), and the
real instructions built by arm-none-eabi-gcc -mcpu=cortex-m4 -O2 as one firmware run on QEMU mps2-an386."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from int8_harness import SRC, build, compiler, conv2d

from nnb.quantize.int8 import IntNode, QParams
from nnb.quantize.int_sim import clamp_bounds, conv_acc, requant_out
from nnb.quantize.int_sim_arith import quantize_multipliers, requantize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MCU = os.path.join(ROOT, "benchmarks", "mcu_kernels")
CPU = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
SAN_ENV = "NNB_INT8_M4_SANITIZED"  # set: the kernels built with ASan + UBSan (run by hand with libasan preloaded)

# (C, O, H, W, (kh, kw), (pad_h, pad_w), stride, group, residual, requantization, what); requantization "fast"
# lets the fused forms take the layer (without ReLU6), "shift0" gives one channel a zero shift and "big" takes the
# accumulators near 2^31: both must leave the layer to the general forms
CASES = [
    (8, 8, 25, 5, (3, 3), (1, 1), 1, 8, False, "fast", "dscnn's depthwise"),
    (5, 5, 9, 7, (3, 3), (0, 0), 1, 5, False, "fast", "depthwise, no padding, odd width"),
    (3, 3, 6, 13, (3, 3), (2, 2), 1, 3, False, "fast", "depthwise, padding 2"),
    (3, 3, 6, 1, (3, 3), (1, 1), 1, 3, False, "fast", "depthwise, one column"),
    (4, 4, 5, 2, (3, 3), (1, 1), 1, 4, False, "fast", "depthwise, even width"),
    (3, 3, 4, 70, (3, 3), (1, 1), 1, 3, False, "fast", "depthwise, rows wider than the accumulator run"),
    (4, 4, 6, 5, (3, 3), (1, 1), 1, 4, False, "shift0", "depthwise, a zero shift (general form)"),
    (4, 4, 6, 5, (3, 3), (1, 1), 1, 4, False, "big", "depthwise, accumulators near 2^31 (general form)"),
    (6, 6, 7, 5, (3, 3), (1, 1), 1, 6, True, "fast", "depthwise with a residual (general form)"),
    (5, 5, 9, 11, (3, 3), (1, 1), 2, 5, False, "fast", "depthwise, stride 2 (general form)"),
    (64, 10, 5, 5, (1, 1), (0, 0), 1, 1, False, "fast", "pointwise, 64 inputs (whole blocks of 16)"),
    (20, 7, 3, 7, (1, 1), (0, 0), 1, 1, False, "fast", "pointwise, 20 inputs, odd outputs"),
    (19, 5, 4, 5, (1, 1), (0, 0), 1, 1, False, "fast", "pointwise, 19 inputs (a tail)"),
    (8, 6, 3, 5, (1, 1), (0, 0), 1, 1, False, "fast", "pointwise, 8 inputs (no block of 16)"),
    (4, 3, 2, 9, (1, 1), (0, 0), 1, 1, False, "fast", "pointwise, 4 inputs"),
    (16, 5, 4, 5, (1, 1), (0, 0), 1, 1, False, "shift0", "pointwise, a zero shift (general form)"),
    (16, 5, 4, 5, (1, 1), (0, 0), 1, 1, False, "big", "pointwise, accumulators near 2^31 (general form)"),
    (7, 4, 6, 5, (1, 1), (0, 0), 1, 1, True, "fast", "pointwise with a residual (general form)"),
    (9, 5, 7, 6, (1, 1), (0, 0), 2, 1, False, "fast", "1x1 stride 2"),
    (3, 6, 11, 9, (3, 3), (1, 1), 2, 1, False, "fast", "3x3 stride 2"),
    (1, 8, 49, 10, (10, 4), (5, 1), 2, 1, False, "fast", "dscnn's first layer (10x4, stride 2)"),
    (4, 6, 8, 8, (3, 3), (1, 1), 1, 2, False, "fast", "grouped"),
]
ACTS = ("", "relu", "relu6")
Z_IN, Z_RES, OUT = -3, 11, QParams(0.05, 7)


def layer(i: int, case: tuple, act: str) -> dict:
    """Random int8 data for case i with activation act, and the simulation's output."""
    c, o, h, w, (kh, kw), (ph, pw), stride, group, residual, rq, _ = case
    rng = np.random.default_rng(1000 + 10 * i + ACTS.index(act))
    x = rng.integers(-128, 128, (1, c, h, w))
    wq = rng.integers(-127, 128, (o, c // group, kh, kw))
    bias = rng.integers(-5000, 5000, o)
    scales = rng.uniform(0.001, 0.02, o)
    if rq == "shift0":  # a channel whose shift is 0 (scale in [0.5, 1))
        scales[-1] = 0.7
    if rq == "big":
        bias = rng.integers(-(1 << 31) + (1 << 22), (1 << 31) - (1 << 22), o)
    mult, shift = quantize_multipliers(scales)
    a = {"pad": (ph, pw), "stride": (stride, stride), "dilation": (1, 1)}
    acc = conv_acc(x, Z_IN, wq, bias, a, group)
    res = rm = rs = None
    if residual:
        res = rng.integers(-128, 128, acc.shape)
        rm, rs = quantize_multipliers(rng.uniform(20.0, 300.0, o))
        acc = acc + requantize(res - Z_RES, rm.reshape(1, -1, 1, 1), rs.reshape(1, -1, 1, 1))
    st = IntNode(None, "int", act, "y", {"mult": mult, "shift": shift})  # type: ignore[arg-type]
    lo, hi = clamp_bounds(act, OUT)
    return dict(x=x, w=wq, bias=bias, mult=mult, shift=shift, a=a, group=group, res=res, rm=rm, rs=rs, lo=lo, hi=hi,
                want=requant_out(acc, st, OUT).astype(np.int8))


def all_layers() -> list[tuple[str, dict]]:
    return [(f"{case[-1]} {act or 'none'}", layer(i, case, act)) for i, case in enumerate(CASES) for act in ACTS]


@pytest.fixture(scope="module")
def dsp_lib(tmp_path_factory):  # noqa: ANN001, ANN201
    if compiler() is None:
        pytest.skip("no C compiler (gcc/cc) on PATH: the C int8 kernels cannot be built")
    return build(str(tmp_path_factory.mktemp("int8m4")), dsp=True, sanitize=bool(os.environ.get(SAN_ENV)))


def run_host(so, d: dict) -> np.ndarray:  # noqa: ANN001
    return conv2d(so, d["x"], Z_IN, d["w"], d["bias"], d["mult"], d["shift"], d["a"], d["group"], OUT.zero, d["lo"],
                  d["hi"], d["res"], Z_RES, d["rm"], d["rs"])


def test_m4_forms_emulated_equal_simulation(dsp_lib) -> None:  # noqa: ANN001
    """Every case on the host with the emulated DSP intrinsics: the same integers as the simulation."""
    for name, d in all_layers():
        got = run_host(dsp_lib, d)
        assert got.shape == d["want"].shape and (got == d["want"]).all(), name


def carr(ctype: str, name: str, a: np.ndarray | None) -> str:
    if a is None:
        return ""
    vals = ",".join(str(int(v)) for v in np.asarray(a).reshape(-1))
    return f"static const {ctype} {name}[{max(1, np.asarray(a).size)}] = {{{vals}}};\n"


def firmware(so, layers: list[tuple[str, dict]]) -> str:  # noqa: ANN001
    """main.c: every layer through nnb_i8_conv2d, its output printed as "Y index hex"."""
    import ctypes

    from int8_harness import ConvParams

    decl, body, scratch = [], [], 1
    for i, (_, d) in enumerate(layers):
        n, c, h, w = d["x"].shape
        o, _, kh, kw = d["w"].shape
        (ph, pw), (sh, sw) = d["a"]["pad"], d["a"]["stride"]
        oh, ow = d["want"].shape[2:]
        prm = (n, c, h, w, o, kh, kw, oh, ow, ph, pw, sh, sw, 1, 1, d["group"], Z_IN, OUT.zero, d["lo"], d["hi"], Z_RES)
        scratch = max(scratch, int(so.nnb_i8_conv_scratch(ctypes.byref(ConvParams(*prm)))))
        decl += [carr("int8_t", f"x{i}", d["x"]), carr("int8_t", f"w{i}", d["w"]), carr("int32_t", f"b{i}", d["bias"]),
                 carr("int32_t", f"m{i}", d["mult"]), carr("int32_t", f"s{i}", d["shift"]),
                 carr("int8_t", f"r{i}", d["res"]), carr("int32_t", f"rm{i}", d["rm"]),
                 carr("int32_t", f"rs{i}", d["rs"])]
        res = f"r{i}, rm{i}, rs{i}" if d["res"] is not None else "NULL, NULL, NULL"
        body.append(f"{{ static const nnb_i8_conv_params p = {{{','.join(str(int(v)) for v in prm)}}};\n"
                    f"  static int8_t y[{d['want'].size}];\n"
                    f"  if (nnb_i8_conv2d(&p, x{i}, w{i}, b{i}, m{i}, s{i}, {res}, y, scratch, SCRATCH) != NNB_I8_OK)"
                    f" {{ sh_puts(\"E {i}\\n\"); return 1; }}\n"
                    f"  dump({i}, y, sizeof y); }}\n")
    return f"""/* generated by tests/int8/test_int8_m4_layers.py */
#include <stddef.h>
#include <stdint.h>
#include "nnb_int8.h"
#include "semihost.h"
#define SCRATCH {scratch}
static int16_t scratch[SCRATCH];
{''.join(decl)}
static void dump(int idx, const int8_t *y, size_t n) {{
    static const char hx[] = "0123456789abcdef";
    char s[80];
    size_t i = 0;
    while (i < n) {{
        int k = 0, v = idx;
        char t[8];
        int m = 0;
        s[k++] = 'Y'; s[k++] = ' ';
        do {{ t[m++] = (char)('0' + v % 10); v /= 10; }} while (v);
        while (m) s[k++] = t[--m];
        s[k++] = ' ';
        for (; i < n && k < 76; ++i) {{ s[k++] = hx[((uint8_t)y[i]) >> 4]; s[k++] = hx[((uint8_t)y[i]) & 15]; }}
        s[k++] = '\\n'; s[k] = 0;
        sh_puts(s);
    }}
}}
int main(void) {{
{''.join(body)}    sh_puts("D done\\n");
    return 0;
}}
"""


@pytest.mark.parametrize("opt", ["-O2", "-Os"])
def test_m4_forms_on_qemu_equal_simulation(dsp_lib, tmp_path, opt) -> None:  # noqa: ANN001
    """The same cases as Cortex-M4 firmware (the real SXTB16/SMLAD/SMMLAR/SSAT/SEL code) at the board's -O2 and at
    -Os (which keeps one copy of the quad asm)."""
    if os.environ.get(SAN_ENV):
        pytest.skip("the sanitized run checks the host build only")
    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
                    "qemu-system-arm): the Cortex-M4 int8 forms are not run")
    layers = all_layers()
    (tmp_path / "main.c").write_text(firmware(dsp_lib, layers))
    elf = str(tmp_path / "fw.elf")
    srcs = sorted(os.path.join(SRC, f) for f in os.listdir(SRC) if f.endswith(".c"))
    r = subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *CPU, opt,
                        "-ffunction-sections", "-fdata-sections", "-I" + SRC, "-I" + MCU, "-nostartfiles", "-T",
                        os.path.join(MCU, "an386.ld"), "-Wl,--gc-sections", os.path.join(MCU, "startup.c"),
                        str(tmp_path / "main.c"), *srcs, "-lc", "-lgcc", "-o", elf], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting-config",
                        "enable=on,target=native", "-icount", "shift=0", "-kernel", elf], capture_output=True,
                       text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "D done" in out, out[-2000:]
    got: dict[int, str] = {}
    for ln in out.splitlines():
        if ln.startswith("Y "):
            _, idx, hx = ln.split()
            got[int(idx)] = got.get(int(idx), "") + hx
    for i, (name, d) in enumerate(layers):
        y = np.frombuffer(bytes.fromhex(got.get(i, "")), np.int8)
        assert y.size == d["want"].size and (y == d["want"].reshape(-1)).all(), name
