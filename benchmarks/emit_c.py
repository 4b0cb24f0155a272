"""Emitted C (nnb emit-c) beside the C runtime, on the zoo models, in the same run.

Latency: the emitted code and the C runtime run the same kernel files, so each
pair is timed with the same kernel settings and optimisation:

* ``mcu``: the microcontroller settings (``--kernels mcu``, the default of
  ``nnb emit-c``: SMALL_DEFS and the Cortex-M convolution kernels) compiled
  ``-Os``, against the runtime built with the same defines and ``-Os``
  (c_runtime/build-emitc-mcu, no run-time dispatch);
* ``host``: ``--kernels host`` compiled ``-O3``, against the runtime's
  default kernel settings at ``-O3`` with the baseline instruction set
  (c_runtime/build-emitc-host, as ``make PORTABLE=1``);
* and, for reference, the runtime's default build (x86-64: AVX2/AVX-512 chosen
  at run time), which no emitted tree has.

Both sides are called through cffi with the same input copies; they are timed
in turns (benchmarks/c_runtime.py ``interleaved``) and a ratio is the median of
the per-round ratios.  The ratio emitted/runtime below 1.10 is the target.

Also (``--packed``): the demo's LUT-Q (K=4) and DQ models of the trained
Fashion-MNIST lenet, emitted with packed const weights, against
``nnb eval --backend c`` on the 10,000 test images (``fashion-mnist``, Debian's
dataset-fashion-mnist; the 2,000-image fixture when it is missing): the
predictions must be identical.

And (``--m4``): instructions per inference on an emulated Cortex-M4F (QEMU
``mps2-an386``, ``-icount shift=0``, SysTick: the boards' port and startup
code, templates/firmware/), the emitted C (``--kernels mcu``, arm-none-eabi-gcc
``-O2`` and ``-Os``, harness benchmarks/emit_c_m4_main.c.j2) beside the C
runtime's firmware (nnb.boards.run.run_on_board, the board's ``-O2``), with the
outputs checked against nnabla, the painted stack of one run, and from the
firmware's linker map what the emitted model adds (its objects and the
libgcc/libc/libm members they pull in: code besides the weights, static RAM)
apart from the benchmark harness (startup, semihosting, main).

And int8 models (calibrated as tests/int8 does it; ``fmnist_lenet``/``fmnist_dscnn``: the trained models on
200 fixture images): ``--int8`` times the emitted int8 C (``--kernels host``, -O3: the x86-64 int8 paths)
against the C runtime's int8 on the same int8 NNB records (default build; in C without Python against the
runtime built with the same settings); ``lutq_fmnist_lenet`` is the trained lenet with LUT-Q weights (K=4) and
int8 activations (records Q8LutConv/Q8LutAffine, made through the CLI); ``--int8-m4`` counts instructions
on mps2-an386 (``--kernels mcu``: the DSP path, -O2 and -Os) against the C runtime's int8 firmware
(``nnb run X.nnq --board qemu-mps2-an386``) and checks the M4's integers against the host's;
``--int8-agree`` compares the predictions and int8 logits with the C runtime's on the Fashion-MNIST test set.

usage: python benchmarks/emit_c.py [--models lenet,dscnn] [--seconds 0.5] [--packed] [--m4 lenet,dscnn]
                                   [--int8 lenet,dscnn] [--int8-m4 lenet,dscnn] [--int8-agree fmnist_lenet]
                                   [--json rows.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from c_runtime import interleaved, round_ratio  # noqa: E402
from nnb.backends.c import CNet  # noqa: E402
from nnb.backends.emit_c import EmittedNet  # noqa: E402
from nnb.emit.convert import convert, load_for_convert  # noqa: E402
from nnb.errors import NnbError  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "..", "shared", "fixtures")
ZOO = os.path.join(FIX, "zoo")
PAIRS = {"mcu": ["-Os"], "host": ["-O3"]}


def runtime_variant(kernels: str) -> str:
    """A CNet variant name for the runtime built with the emitted kernel settings (registered in
    nnb.backends.c's library table, which CNet consults first)."""
    from cffi import FFI

    from nnb.backends import c as cbackend
    from nnb.emit.csource import runtime_library

    key = f"EMITC_{kernels}"
    if key not in cbackend._loaded:
        ffi = FFI()
        ffi.cdef(cbackend.CDEF)
        cbackend._loaded[key] = (ffi, ffi.dlopen(runtime_library(kernels)))
    return key


C_TIMER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
%(decl)s
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
int main(int argc, char **argv)
{
    long i, k, reps = atol(argv[1]);
    double best = 1e30;
    %(setup)s
    for (k = 0; k < 7; ++k) {
        const double t0 = now();
        for (i = 0; i < reps; ++i)
            if (%(call)s) { puts("run failed"); return 1; }
        if ((now() - t0) / reps < best) best = (now() - t0) / reps;
    }
    printf("%%.1f\n", best);
    return 0;
}
"""


def c_level(name: str, em: EmittedNet, image: bytes, kernels: str, tmp: str, est_ms: float,
            rounds: int = 5) -> tuple[float, float]:
    """Nanoseconds per run measured in C (no Python call in the loop): the emitted NAME_run against nnbrt_run
    of the runtime built with the same kernel settings, alternating, lowest of ``rounds`` x 7 loops of about
    20 ms each (``est_ms``: a rough time per run)."""
    import subprocess

    from nnb.backends.emit_c import PREFIX
    from nnb.emit.csource import runtime_library

    m = em.model
    bufs = [f"static float b{k}[{io.size}];" for k, io in enumerate(list(m.inputs) + list(m.outputs))]
    args = ", ".join(f"b{k}" for k in range(len(bufs)))
    proto = ", ".join(["const float *"] * len(m.inputs) + ["float *"] * len(m.outputs))
    emit_c = C_TIMER % {"decl": "\n".join(bufs) + f"\nint {PREFIX}_run({proto});", "setup": "(void)argc; (void)argv;",
                        "call": f"{PREFIX}_run({args})"}
    rt_c = C_TIMER % {"decl": '#include "nnbrt.h"', "call": "nnbrt_run(net)",
                      "setup": ("static unsigned char img[1 << 26]; size_t n, need; nnbrt_net *net; void *arena; "
                                "FILE *f = fopen(argv[2], \"rb\"); (void)argc; n = fread(img, 1, sizeof img, f); "
                                "fclose(f); if (nnbrt_arena_size(img, n, &need)) return 1; "
                                "arena = aligned_alloc(64, (need + 63) / 64 * 64); "
                                "if (nnbrt_init(&net, img, n, arena, need)) return 1;")}
    d = os.path.join(tmp, f"ctime_{name}_{kernels}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "m.nnb"), "wb") as f:
        f.write(image)
    for fn, src in (("emit.c", emit_c), ("rt.c", rt_c)):
        with open(os.path.join(d, fn), "w") as f:
            f.write(src)
    rtlib = os.path.dirname(runtime_library(kernels))
    inc = os.path.join(os.path.dirname(rtlib), "include")
    for exe, src, lib in (("emit", "emit.c", em.dir), ("rt", "rt.c", rtlib)):
        name_lib = PREFIX if exe == "emit" else "nnbrt"
        subprocess.run(["cc", "-O2", f"-I{inc}", src, f"-L{lib}", f"-l{name_lib}", f"-Wl,-rpath,{lib}", "-lm",
                        "-o", exe], cwd=d, check=True)
    reps = str(max(5, int(20.0 / max(est_ms, 1e-4))))
    best = {"emit": 1e30, "rt": 1e30}
    for _ in range(rounds):
        for exe in ("emit", "rt"):
            out = subprocess.run([os.path.join(d, exe), reps, os.path.join(d, "m.nnb")], capture_output=True,
                                 text=True, check=True).stdout
            best[exe] = min(best[exe], float(out))
    return best["emit"], best["rt"]


def bench(name: str, seconds: float) -> dict:
    path = os.path.join(ZOO, f"{name}.nnp")
    conv = convert(load_for_convert(path), "extended")
    nin = len(conv.graph.inputs)
    ins = [np.load(os.path.join(ZOO, f"{name}.in{k}.npy")) for k in range(nin)]
    refs = [np.load(os.path.join(ZOO, f"{name}.out{k}.npy")) for k in range(len(conv.graph.outputs))]
    row: dict = {"model": name}
    fns = {}
    ems = {}
    for kernels, opt in PAIRS.items():
        em = ems[kernels] = EmittedNet(path, kernels=kernels, opt=opt)
        rt = CNet(conv.image, variant=runtime_variant(kernels))
        outs = em.run(ins)
        row[f"{kernels}_err"] = max(float(np.abs(o.reshape(r.shape) - r).max()) / max(1.0, float(np.abs(r).max()))
                                    for o, r in zip(outs, refs))
        fns[f"emit_{kernels}"] = (lambda e: lambda: e.run(ins))(em)
        fns[f"rt_{kernels}"] = (lambda n: lambda: n.run(ins))(rt)
        row[f"{kernels}_arena"] = em.model.arena_bytes
    rt_default = CNet(conv.image)
    fns["rt_default"] = lambda: rt_default.run(ins)
    med, per_round = interleaved(fns, seconds * len(fns))
    row.update({f"{k}_ms": v for k, v in med.items()})
    for kernels in PAIRS:
        row[f"{kernels}_ratio"] = round_ratio(per_round, f"emit_{kernels}", f"rt_{kernels}")
    row["host_vs_default"] = round_ratio(per_round, "emit_host", "rt_default")
    row["rt_arena_total"] = rt_default.arena_bytes
    with tempfile.TemporaryDirectory(prefix="nnb-emitc-ctime-") as tmp:
        for kernels in PAIRS:
            e_ns, r_ns = c_level(name, ems[kernels], conv.image, kernels, tmp, med[f"rt_{kernels}"])
            row[f"{kernels}_c_emit_ns"], row[f"{kernels}_c_rt_ns"] = e_ns, r_ns
            row[f"{kernels}_c_ratio"] = e_ns / r_ns
    return row


def packed_agreement() -> list[dict]:
    from nnb.backends import get_predictor
    from nnb.cli import main
    from nnb.quantize.qmodel import load_quantized
    from nnb.train.data import input_array, load_data

    lenet = os.path.join(FIX, "trained", "fmnist_lenet.nnp")
    test_2k = os.path.join(FIX, "data", "fmnist_test_2k.npz")
    try:
        x, _ = load_data("fashion-mnist", "test")
        data = "fashion-mnist test (10,000)"
    except NnbError as e:
        print(f"note: {e}; using the 2,000-image fixture")
        x, _ = load_data(test_2k, "test")
        data = "fmnist_test_2k (2,000)"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, args in (("LUT-Q K=4", ["--method", "lutq", "--k", "4"]),
                            ("DQ 2 bit +5%", ["--method", "dq", "--bits", "2", "--weight-budget", "14kB"])):
            nnq = os.path.join(tmp, "m.nnq")
            if main(["quantize", lenet, *args, "--data", test_2k, "--limit", "512", "--epochs", "1", "-q",
                     "-o", nnq, "--val", "none"]) != 0:
                raise SystemExit(f"quantizing the lenet ({label}) failed")
            m = load_quantized(nnq)
            xi = input_array(m.graph, x)
            want = get_predictor("c")(nnq, m.graph, xi, {}).argmax(axis=1)
            got = get_predictor("emit-c")(nnq, m.graph, xi, {}).argmax(axis=1)
            rows.append({"model": label, "data": data, "images": len(xi),
                         "identical": int((got == want).sum()), "differ": int((got != want).sum())})
    return rows


def m4_counts(name: str, opt: str, workdir: str) -> dict:
    """Build the emitted model into firmware for qemu-mps2-an386, run it, return its figures."""
    from nnb.emit.csource import render

    path = os.path.join(ZOO, f"{name}.nnp")
    e = render(path, prefix="m", kernels="mcu")
    ins = [np.load(os.path.join(ZOO, f"{name}.in{k}.npy")).astype("<f4") for k in range(len(e.model.inputs))]
    outs, row = m4_firmware(e, ins, opt, os.path.join(workdir, f"{name}{opt}"), name)
    err = 0.0
    for k, y in enumerate(outs):
        ref = np.load(os.path.join(ZOO, f"{name}.out{k}.npy"))
        err = max(err, float(np.abs(y.reshape(ref.shape) - ref).max()) / max(1.0, float(np.abs(ref).max())))
    row["err"] = err
    return row


def m4_firmware(e, ins: list[np.ndarray], opt: str, d: str, name: str) -> tuple[list[np.ndarray], dict]:  # noqa: ANN001
    """An emitted model (``e``: nnb.emit.csource.Emitted, prefix "m", --kernels mcu) as firmware for
    qemu-mps2-an386 (harness benchmarks/emit_c_m4_main.c.j2), run once on ``ins``: (outputs, figures)."""
    import subprocess

    import jinja2

    from nnb import footprint
    from nnb.boards.build import UNITS, render_project
    from nnb.boards.load import load_board
    from nnb.boards.qemu import console_values, run_firmware
    from nnb.emit.csource import write_tree

    board = load_board("qemu-mps2-an386")
    unit = UNITS[board.counter]
    write_tree(e, d)
    m = e.model
    io_bytes = max(sum(4 * io.size for io in m.inputs), sum(4 * io.size for io in m.outputs), 16)
    render_project(d, board, board, ["port.h", "port_semihost.c", "startup.c", "link.ld"], model_name=name,
                   stack_reserved=16384)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    with open(os.path.join(d, "bench_main.c"), "w") as f:
        f.write(env.get_template("emit_c_m4_main.c.j2").render(m=m, unit=unit, runs=2, io_bytes=io_bytes))
    srcs = ["bench_main.c", "port.c", "startup.c"] + [r for r in sorted(e.files) if r.endswith(".c")
                                                       and not r.endswith("_example.c")]
    cflags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", *board.cflags, opt, "-ffunction-sections",
              "-fdata-sections", "-ffp-contract=fast", *(f"-D{k}" for k in m.knobs)]
    objs = []
    for src in srcs:
        obj = src[:-2] + ".o"
        r = subprocess.run([board.cc, *cflags, "-c", src, "-o", obj], cwd=d, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"{name}: compiling {src} failed: {r.stderr[-500:]}")
        objs.append(obj)
    r = subprocess.run([board.cc, *board.cflags, "-nostartfiles", "-T", "link.ld", "-Wl,--gc-sections",
                        "-Wl,-Map=fw.map", "-Wl,--cref", *objs, "-lm", "-lc", "-lgcc", "-o", "fw.elf"],
                       cwd=d, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{name}: linking failed: {r.stderr[-500:]}")
    res = run_firmware(board, os.path.join(d, "fw.elf"), {"nnb_in.bin": b"".join(x.tobytes() for x in ins)},
                       want=("nnb_out.bin",))
    v = console_values(res.console)
    raw = np.frombuffer(res.files["nnb_out.bin"], "<f4")
    outs, pos = [], 0
    for io in m.outputs:
        outs.append(raw[pos:pos + io.size].reshape(io.shape).copy())
        pos += io.size
    syms = footprint.symbol_sizes(os.path.join(d, "fw.elf"), "arm-none-eabi-nm")
    text = footprint.section_sizes(os.path.join(d, "fw.elf"), "arm-none-eabi-size")["text"]
    weights = sum(sz for s, (_t, sz) in syms.items() if s.startswith("m_w_"))
    split = model_split(os.path.join(d, "fw.map"), m.prefix)
    return outs, {"insns": v.get(f"run_{unit}", 0), "stack": v.get("stack_run", 0),
                  "static_ram": split["ram"], "arena": m.arena_bytes, "firmware_text_besides_weights": text - weights,
                  "code_besides_weights": split["code"], "harness": split["harness"], "weights": split["weights"],
                  "model_parts": split["parts"]}


def is_model_file(path: str, prefix: str = "m") -> bool:
    """An object of the emitted model: PREFIX.o, PREFIX_weights.o and the copied kernels (nnbrt/...)."""
    return path in (f"{prefix}.o", f"{prefix}_weights.o") or path.startswith("nnbrt/")


def model_split(map_path: str, prefix: str) -> dict:
    """From the firmware's linker map: flash of the emitted model besides the weights (its objects and the
    libgcc/libc/libm members they pull in: text, constants, .data images), its static RAM (.data, .bss:
    arena and library state), the weights, and the benchmark harness (startup, semihosting, main, what they
    pull in); parts: bytes per model file."""
    from nnb import footprint

    with open(map_path, encoding="utf-8") as f:
        lm = footprint.parse_map(f.read())

    def weights(sec: str) -> bool:
        return sec.startswith(f".rodata.{prefix}_w_")

    sp = footprint.map_split(lm, lambda p: is_model_file(p, prefix), weights)
    own, other = sp["own"], sp["other"]
    parts: dict[str, int] = {}
    for _out, sec, size, path in lm.kept:
        if footprint.classify(sec) in ("text", "rodata", "data") and not weights(sec) and is_model_file(path, prefix):
            parts[os.path.basename(path)] = parts.get(os.path.basename(path), 0) + size
    code = own["text"] + own["rodata"] + own["data"]
    parts["libgcc/libc/libm"] = code - sum(parts.values())
    return {"code": code, "ram": own["data"] + own["bss"],
            "harness": other["text"] + other["rodata"] + other["data"],
            "weights": sum(sp["excluded"].values()), "parts": parts}


def m4_rows(models: list[str]) -> list[dict]:
    from nnb.boards.run import run_on_board

    rows = []
    with tempfile.TemporaryDirectory(prefix="nnb-emitc-m4-") as tmp:
        for name in models:
            row: dict = {"model": name}
            for opt in ("-O2", "-Os"):
                row[opt] = m4_counts(name, opt, tmp)
            ins = [np.load(os.path.join(ZOO, f"{name}.in{k}.npy"))
                   for k in range(len(load_for_convert(os.path.join(ZOO, f"{name}.nnp")).inputs))]
            try:
                _, rep = run_on_board(os.path.join(ZOO, f"{name}.nnp"), "qemu-mps2-an386", ins)
                row["runtime_insns"], row["runtime_stack"] = rep.run_count, rep.stack_measured
            except NnbError as e:  # the emitted figures stand alone
                print(f"note: the C runtime's firmware for {name}: {e}")
                row["runtime_insns"], row["runtime_stack"] = 0, 0
            rows.append(row)
    return rows


def lutq_lenet_nnq(tmp: str) -> str:
    """The trained Fashion-MNIST lenet with LUT-Q weights (K=4, one epoch on 128 fixture images) and int8
    activations (`nnb quantize --method int8 --keep-lutq`, 100 calibration images), through the CLI."""
    from nnb.cli import main as nnb_main

    data = os.path.join(FIX, "data", "fmnist_test_2k.npz")
    lut, lut8 = os.path.join(tmp, "lenet_lutq.nnq"), os.path.join(tmp, "lenet_lutq_i8.nnq")
    if nnb_main(["quantize", os.path.join(FIX, "trained", "fmnist_lenet.nnp"), "--method", "lutq", "--data", data,
                 "--limit", "128", "--epochs", "1", "-q", "-o", lut, "--val", "none"]) != 0 or \
            nnb_main(["quantize", lut, "--method", "int8", "--keep-lutq", "--calib", data, "--calib-samples", "100",
                      "-q", "-o", lut8]) != 0:
        raise SystemExit("making the LUT-Q int8 lenet failed")
    return lut8


_LUTQ: list = []  # [TemporaryDirectory, the LUT-Q int8 lenet .nnq in it]


def int8_model(name: str):  # noqa: ANN201 - (Int8Model, input, source model)
    """A zoo model calibrated as tests/int8 does it (the fixture input and 15 noisy copies), or the trained
    Fashion-MNIST lenet/dscnn ("fmnist_lenet") on 200 images of the fixture data set, or ("lutq_fmnist_lenet")
    the trained lenet with LUT-Q weights and int8 activations (its source: the int8 .nnq)."""
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "int8"))
    from int8_quant_helpers import calibrated, fmnist_model

    if name == "lutq_fmnist_lenet":
        from nnb.quantize.int8 import from_quantized
        from nnb.quantize.qmodel import load_quantized

        if not _LUTQ:  # made once per run, removed at exit
            _LUTQ.append(tempfile.TemporaryDirectory(prefix="nnb-lutq-"))
            _LUTQ.append(lutq_lenet_nnq(_LUTQ[0].name))
        nnq = _LUTQ[1]
        _, x = fmnist_model("lenet")
        return from_quantized(load_quantized(nnq)), x[:1], nnq
    if name.startswith("fmnist_"):
        m, x = fmnist_model(name.split("_", 1)[1])
        return m, x[:1], os.path.join(FIX, "trained", f"{name}.nnp")
    m, xs, _ = calibrated(name)
    return m, xs[0], os.path.join(ZOO, f"{name}.nnp")


def int8_bench(name: str, seconds: float) -> dict:
    """Host: the emitted int8 C (--kernels host: the x86-64 int8 paths, -O3) against the C runtime's int8 on
    the same int8 NNB records: the runtime's default build and, in C without Python, the runtime built with
    the same kernel settings and flags (c_runtime/build-emitc-host)."""
    from nnb.emit.csource import render_int8
    from nnb.emit.nnb_int8 import write_int8_nnb

    m, x, _ = int8_model(name)
    image, _, ap = write_int8_nnb(m)
    em = EmittedNet("", kernels="host", opt=["-O3"], emitted=render_int8(m, "nnbm", kernels="host"))
    rt = CNet(image)
    a, b = em.run([x]), rt.run([x])
    same = all(np.array_equal(u, v) for u, v in zip(a, b))
    med, per_round = interleaved({"emit": lambda: em.run([x]), "rt": lambda: rt.run([x])}, seconds * 2)
    row = {"model": name, "same": same, "emit_ms": med["emit"], "rt_ms": med["rt"],
           "ratio": round_ratio(per_round, "emit", "rt"), "tensor_bytes": ap.arena_bytes,
           "emit_arena": em.model.arena_bytes, "rt_arena": rt.arena_info}
    with tempfile.TemporaryDirectory(prefix="nnb-emitc-i8-") as tmp:
        e_ns, r_ns = c_level(f"{name}_i8", em, image, "host", tmp, med["rt"])
    row.update(c_emit_ns=e_ns, c_rt_ns=r_ns, c_ratio=e_ns / r_ns)
    return row


def int8_m4_rows(models: list[str]) -> list[dict]:
    """Cortex-M4: the emitted int8 C (--kernels mcu: the DSP path) as firmware at -O2 and -Os, against the C
    runtime's int8 firmware (`nnb run X.nnq --board qemu-mps2-an386`, the board's -O2), same input. The
    emitted tree also returns the int8 tensor before a final float island (Softmax) dequantized, so that the
    M4's integers are compared with the host's (emitted C and the C runtime) exactly; that adds one
    table look-up per logit to the count."""
    from nnb.boards.run import run_on_board
    from nnb.emit.csource import render_int8
    from nnb.emit.nnb_int8 import write_int8_nnb
    from nnb.nnp.reader import load
    from nnb.quantize.int8 import to_quantized
    from nnb.quantize.qmodel import save_quantized

    rows = []
    with tempfile.TemporaryDirectory(prefix="nnb-emitc-i8m4-") as tmp:
        for name in models:
            m, x, src = int8_model(name)
            last = m.steps[-1]
            extra = tuple(i for i in last.node.inputs if i in m.qparams) if last.kind == "island" else ()
            image, _, _ = write_int8_nnb(m, extra_outputs=extra)
            host = CNet(image).run([x])
            row: dict = {"model": name, "extra": list(extra)}
            m4_y = None
            for opt in ("-O2", "-Os"):
                e = render_int8(m, "m", kernels="mcu", extra_outputs=extra)
                outs, fig = m4_firmware(e, [x.astype("<f4")], opt, os.path.join(tmp, f"{name}{opt}"), name)
                islands = {o for st in m.steps if st.kind == "island" for o in st.node.outputs}
                fig["same_as_host"] = all(np.array_equal(o.reshape(h.shape), h) for o, h, io in
                                          zip(outs, host, e.model.outputs) if io.name not in islands)
                row[opt] = fig
                m4_y = outs[0] if m4_y is None else m4_y
            nnq = src if src.endswith(".nnq") else os.path.join(tmp, f"{name}.nnq")
            if nnq != src:
                save_quantized(nnq, to_quantized(m, load(src)))
            try:
                outs, rep = run_on_board(nnq, "qemu-mps2-an386", [x])
                row["runtime_insns"], row["runtime_stack"] = rep.run_count, rep.stack_measured
                row["runtime_arena"] = rep.arena
                y = list(outs.values())[0] if isinstance(outs, dict) else outs[0]
                row["same_as_runtime_m4"] = bool(np.array_equal(np.asarray(y).reshape(m4_y.shape), m4_y))
            except NnbError as err:
                print(f"note: the C runtime's int8 firmware for {name}: {err}")
                row["runtime_insns"] = row["runtime_stack"] = row["runtime_arena"] = 0
            rows.append(row)
    return rows


def int8_agreement(models: list[str]) -> list[dict]:
    """The trained Fashion-MNIST models in int8 (calibrated on 200 fixture images): the emitted C's predictions
    (--kernels mcu, the portable/Cortex-M paths) against the C runtime's int8 on the 10,000 test images
    (Debian's dataset-fashion-mnist; the 2,000-image fixture when it is missing), and the images whose int8
    logits differ anywhere."""
    from nnb.emit.csource import render_int8
    from nnb.emit.nnb_int8 import write_int8_nnb
    from nnb.train.data import input_array, load_data

    try:
        x_raw, y = load_data("fashion-mnist", "test")
        data = "fashion-mnist test (10,000)"
    except NnbError as e:
        print(f"note: {e}; using the 2,000-image fixture")
        x_raw, y = load_data(os.path.join(FIX, "data", "fmnist_test_2k.npz"), "test")
        data = "fmnist_test_2k (2,000)"
    rows = []
    for name in models:
        m, _, _ = int8_model(name)
        x = input_array(m.graph, x_raw)
        last = m.steps[-1]
        extra = tuple(i for i in last.node.inputs if i in m.qparams) if last.kind == "island" else ()
        em = EmittedNet("", emitted=render_int8(m, "nnbm", extra_outputs=extra))
        image, _, _ = write_int8_nnb(m, extra_outputs=extra)
        rt = CNet(image)
        a = [em.run([x[i:i + 1]]) for i in range(len(x))]
        b = [rt.run([x[i:i + 1]]) for i in range(len(x))]
        pa = np.array([int(o[0].argmax()) for o in a])
        pb = np.array([int(o[0].argmax()) for o in b])
        ints_differ = sum(not np.array_equal(u[-1], v[-1]) for u, v in zip(a, b))
        rows.append({"model": name, "data": data, "images": len(x), "identical": int((pa == pb).sum()),
                     "logits_differ": int(ints_differ), "acc_emit": float((pa == np.asarray(y)).mean()),
                     "acc_rt": float((pb == np.asarray(y)).mean())})
    return rows


def m4_insns(r: dict, model_width: int, runtime_width: int) -> str:
    """A QEMU row's first columns (float and int8 tables): model, emitted C's instructions at -O2 and -Os, the
    runtime's, and emitted -O2 / runtime ('-' when the runtime did not run)."""
    a, b, rt = r["-O2"]["insns"], r["-Os"]["insns"], r["runtime_insns"]
    ratio = f"{a / rt:7.2f}" if rt else f"{'-':>7}"
    return f"{r['model']:{model_width}} {a:10,} {b:10,} {rt:{runtime_width},} {ratio}"


def print_int8(rows: list[dict], mrows: list[dict]) -> None:
    if rows:
        print("\nint8: emitted C (--kernels host, -O3) vs the C runtime's int8 (default build), same int8 records")
        print(f"{'model':13} {'emit ms':>9} {'rt ms':>9} {'ratio':>6} | in C: {'emit us':>8} {'rt us':>8} "
              f"{'ratio':>6} | {'tensors':>7} {'emit arena':>10} {'rt arena (tensors+scratch+tables)':>34} | same")
        for r in rows:
            ra = r["rt_arena"]
            print(f"{r['model']:13} {r['emit_ms']:9.4f} {r['rt_ms']:9.4f} {r['ratio']:6.2f} |       "
                  f"{r['c_emit_ns'] / 1e3:8.2f} {r['c_rt_ns'] / 1e3:8.2f} {r['c_ratio']:6.2f} | "
                  f"{r['tensor_bytes']:7,} {r['emit_arena']:10,} "
                  f"{ra['total']:>12,} ({ra['tensors']:,}+{ra['scratch']:,}+{ra['tables']:,}) | {r['same']}")
    if mrows:
        print("\nint8 on the Cortex-M4F (QEMU mps2-an386, -icount shift=0): instructions per inference, emitted C "
              "(--kernels mcu, DSP path) vs the C runtime's int8 firmware (-O2)")
        print(f"{'model':18} {'emit -O2':>10} {'emit -Os':>10} {'runtime':>10} {'emit/rt':>7} | {'arena':>7} "
              f"{'rt arena':>8} | {'stack':>6} {'rt stack':>8} | {'code -Os':>8} {'RAM':>6} | ints==host, out==rt")
        for r in mrows:
            a, b = r["-O2"], r["-Os"]
            print(f"{m4_insns(r, 18, 10)} | "
                  f"{a['arena']:7,} {r['runtime_arena']:8,} | {a['stack']:6,} {r['runtime_stack']:8,} | "
                  f"{b['code_besides_weights']:8,} {b['static_ram']:6,} | {a['same_as_host'] and b['same_as_host']}, "
                  f"{r.get('same_as_runtime_m4')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="lenet,dscnn,resnet8,autoencoder,unet_tiny,depthwise,conv_variants,pooling")
    ap.add_argument("--seconds", type=float, default=0.5, help="time budget per implementation and model")
    ap.add_argument("--packed", action="store_true", help="also the LUT-Q/DQ prediction agreement on 10k images")
    ap.add_argument("--m4", metavar="MODELS", help="instructions per inference on QEMU mps2-an386 (e.g. lenet,dscnn)")
    ap.add_argument("--int8", metavar="MODELS", help="int8 models on the host (e.g. lenet,dscnn,fmnist_lenet)")
    ap.add_argument("--int8-m4", metavar="MODELS", help="int8 models on QEMU mps2-an386 (e.g. lenet,dscnn)")
    ap.add_argument("--int8-agree", metavar="MODELS",
                    help="int8 predictions, emitted C vs the C runtime on the test set (fmnist_lenet,fmnist_dscnn)")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    rows = [bench(n, args.seconds) for n in args.models.split(",") if n]
    print("emitted C vs the C runtime, same kernels and flags (ratio = emitted / runtime, median of rounds)")
    print(f"{'model':14} {'mcu emit ms':>11} {'mcu rt ms':>11} {'ratio':>6} | {'host emit ms':>12} "
          f"{'host rt ms':>11} {'ratio':>6} | {'default rt ms':>13} {'host/def':>8} | {'arena mcu':>9} "
          f"{'arena host':>10} {'rt whole':>8}")
    for r in rows:
        print(f"{r['model']:14} {r['emit_mcu_ms']:11.4f} {r['rt_mcu_ms']:11.4f} {r['mcu_ratio']:6.2f} | "
              f"{r['emit_host_ms']:12.4f} {r['rt_host_ms']:11.4f} {r['host_ratio']:6.2f} | "
              f"{r['rt_default_ms']:13.4f} {r['host_vs_default']:8.2f} | {r['mcu_arena']:9,} {r['host_arena']:10,} "
              f"{r['rt_arena_total']:8,}")
        print(f"{'':14} in C (no Python call in the loop, lowest of 5 x 7 loops of ~20 ms): mcu "
              f"{r['mcu_c_emit_ns'] / 1e3:.2f} / {r['mcu_c_rt_ns'] / 1e3:.2f} us = {r['mcu_c_ratio']:.2f}, host "
              f"{r['host_c_emit_ns'] / 1e3:.2f} / {r['host_c_rt_ns'] / 1e3:.2f} us = {r['host_c_ratio']:.2f}")
        if max(r["mcu_err"], r["host_err"]) > 1e-5:
            print(f"  WRONG: {r['model']} differs from nnabla by {max(r['mcu_err'], r['host_err']):.3g}")
    out: dict = {"latency": rows}
    if args.packed:
        prow = packed_agreement()
        print("\npacked LUT-Q / DQ lenet: emitted C vs the C runtime, predictions")
        for r in prow:
            print(f"  {r['model']:13} {r['data']}: identical {r['identical']:,} of {r['images']:,}, "
                  f"differ {r['differ']}")
        out["packed"] = prow
    if args.m4:
        mrows = m4_rows(args.m4.split(","))
        print("\nCortex-M4F (QEMU mps2-an386, -icount shift=0): instructions per inference, emitted C vs C runtime")
        print(f"{'model':10} {'emit -O2':>10} {'emit -Os':>10} {'runtime -O2':>11} {'emit/rt':>7} | "
              f"{'stack emit':>10} {'stack rt':>8} | {'arena':>7} | {'max err':>8}")
        for r in mrows:
            a, b = r["-O2"], r["-Os"]
            print(f"{m4_insns(r, 10, 11)} | {a['stack']:10,} {r['runtime_stack']:8,} | "
                  f"{a['arena']:7,} | {max(a['err'], b['err']):8.2g}")
        print("\nwhat the model adds to the firmware (linker map, -Wl,-Map --cref): code besides weights = the emitted"
              "\nPREFIX.c, the copied kernel files and the libgcc/libc/libm members they pull in (text, constants,"
              "\n.data images); static RAM = their .data + .bss (arena, library state); harness = startup, semihosting,"
              "\nbenchmark main and what they pull in; old figure = the whole firmware's .text minus the weights")
        print(f"{'model':10} {'opt':>4} {'code':>7} {'RAM':>7} {'stack':>6} {'RAM+stack':>9} {'weights':>8} "
              f"{'harness':>8} {'old figure':>10} | largest parts of the model")
        for r in mrows:
            for opt in ("-O2", "-Os"):
                a = r[opt]
                parts = sorted(a["model_parts"].items(), key=lambda kv: -kv[1])[:4]
                print(f"{r['model']:10} {opt:>4} {a['code_besides_weights']:7,} {a['static_ram']:7,} "
                      f"{a['stack']:6,} {a['static_ram'] + a['stack']:9,} {a['weights']:8,} {a['harness']:8,} "
                      f"{a['firmware_text_besides_weights']:10,} | "
                      + ", ".join(f"{k} {v:,}" for k, v in parts))
        out["m4"] = mrows
    if args.int8 or args.int8_m4:
        irows = [int8_bench(n, args.seconds) for n in (args.int8 or "").split(",") if n]
        imrows = int8_m4_rows([n for n in (args.int8_m4 or "").split(",") if n])
        print_int8(irows, imrows)
        out["int8"], out["int8_m4"] = irows, imrows
    if args.int8_agree:
        arows = int8_agreement(args.int8_agree.split(","))
        print("\nint8 predictions: emitted C (--kernels mcu) vs the C runtime's int8")
        for r in arows:
            print(f"  {r['model']:13} {r['data']}: identical {r['identical']:,} of {r['images']:,}, int8 logits "
                  f"differ on {r['logits_differ']} images; top-1 {100 * r['acc_emit']:.2f} % / "
                  f"{100 * r['acc_rt']:.2f} %")
        out["int8_agree"] = arows
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
