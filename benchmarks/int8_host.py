"""int8 on the host: the integer network through the C int8 kernels beside the float C runtime, same run.

For each model: calibrate int8 as tests/int8 and benchmarks/int8_mcu.py do,
generate the same straight-line C network benchmarks/int8_mcu.py runs on the
emulated Cortex-M4 (every integer step a call into c_runtime/src/kernels/int8/,
weights as const arrays, one static buffer per tensor), build it for this host
with gcc -O2 as a shared library and call it through ctypes; the float model
runs in the C runtime (`nnb.backends.c.CNet`, extended NNB, its run-time ISA
dispatch) on the same input. Both are timed in interleaved rounds (each round
runs each for a share of the time budget); figures are medians of all calls and
the ratio is the median over rounds of int8/float. The int8 logits are checked
equal to the numpy integer simulation's, bit for bit. Also timed: the int8 NNB
(`nnb.emit.convert.convert_int8`) through the C runtime's loader (`CNet`, the
path `nnb run X.nnq --backend c` takes; the library in c_runtime/build, rebuild
it with `make -C c_runtime` after changing the kernels), from the float input
(its Q8Quantize, the integer network and Q8Dequantize), and its ratio to the
kernels alone (runtime/int8, median over rounds: the runtime's per-run cost).

    .venv/bin/python benchmarks/int8_host.py [--models lenet,dscnn,resnet8] [--seconds 2] [--isa vnni,avx2]
                                             [--clock cpu|wall]

--clock cpu (the default) times batches of calls in this thread's CPU time, so the time other processes hold the
core is not counted (at load 11, a wall-clock run gave dscnn runtime/float 1.09 where this CPU-time measure gave
0.81 for the same build); --clock wall
times each call by perf_counter, as earlier sessions did. On a quiet machine the two agree.

--models also takes the trained Fashion-MNIST models (fmnist_lenet, fmnist_dscnn: the fixtures' trained/), calibrated
as `nnb quantize X.nnp --method int8 --calib fashion-mnist --calib-samples 500` does, on the first test image
(fmnist_dscnn has the stride-2 depthwise layer the zoo models lack).

--isa base|avx2|vnni forces both engines' instruction-set level (NNB_I8_ISA for the int8 kernels, NNBRT_ISA
for the float runtime: vnni is its avx512; set before either library loads) and the header prints both, so
an AVX2-only host can be measured on an AVX-512 VNNI machine. A list (the default: vnni,avx2) runs one child
process per level, one table each. The column runtime/float is what a user of `nnb run X.nnq --backend c`
gets: the int8 NNB through the runtime over the float NNB through the runtime, median over the interleaved
rounds of the per-round ratio (issue 13's host line).

--layers also prints each function's time through the C runtime, the int8 NNB beside the float NNB (thread CPU
time, min over 10 rounds of 200 calls of nnbrt_run_range, the nets taking turns; a small C driver linked with
c_runtime/build/libnnbrt.a, so `make -C c_runtime` first), to see which layer the ratio comes from.

NNB_I8_STEPS=1 also prints each integer step's mean time (clock_gettime around every kernel call, a
separate build of the network, 2000 calls) and its share of the network, to find the hotspots.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "int8"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from int8_mcu import INT8, firmware  # noqa: E402

from nnb.backends.c import CNet, kernel_isa  # noqa: E402
from nnb.emit.convert import convert, convert_int8  # noqa: E402
from nnb.nnp.reader import load  # noqa: E402
from nnb.quantize.int_sim import run_int8  # noqa: E402

ZOO = os.path.join(ROOT, "..", "shared", "fixtures", "zoo")
TRAINED = os.path.join(ROOT, "..", "shared", "fixtures", "trained")
TEST_DATA = os.path.join(ROOT, "..", "shared", "fixtures", "data", "fmnist_test_2k.npz")
HOST_TAIL = """
int nnb_i8_host_net(int8_t *logits) {
    if (net()) return 1;
    memcpy(logits, %s, sizeof %s);
    return 0;
}
"""


STEP_TAIL = """
static unsigned long long nnb_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}
"""


def host_source(fw_src: str, last_buf: str, steps: bool = False) -> str:
    """The firmware's network function, with the board's timers and semihosting taken out (``steps``: host
    timers around every step instead, summed in nanoseconds into nnb_i8_step_ns[])."""
    src = fw_src.replace('#include "semihost.h"\n', "")
    if steps:
        src = "#define _POSIX_C_SOURCE 199309L\n#include <time.h>\n" + src
        src = src.replace("static uint32_t step[NSTEP];", "static uint32_t step[NSTEP];\n"
                          "unsigned long long nnb_i8_step_ns[NSTEP];" + STEP_TAIL)
        src = src.replace("#define T0(i) ts = SYST_CVR", "#define T0(i) (void)ts; unsigned long long t0_##i = nnb_ns()")
        src = src.replace("#define T1(i) step[i] = (ts - SYST_CVR) & 0xFFFFFFu",
                          "#define T1(i) (void)step; nnb_i8_step_ns[i] += nnb_ns() - t0_##i")
    src = src.replace("#define T0(i) ts = SYST_CVR", "#define T0(i) (void)ts").replace(
        "#define T1(i) step[i] = (ts - SYST_CVR) & 0xFFFFFFu", "#define T1(i) (void)step")
    src = src.replace('sh_puts("E kernel failed\\n"); ', "")
    src = src[:src.index("static void put(")] + src[src.index("static int net(void)"):src.index("int main(void)")]
    src = src.replace("uint32_t ts;", "uint32_t ts = 0;")
    return src + HOST_TAIL % (last_buf, last_buf)


def _compile(src: str, out: str, stem: str) -> ctypes.CDLL:
    path = os.path.join(out, f"{stem}.c")
    with open(path, "w") as f:
        f.write(src)
    lib = os.path.join(out, f"lib{stem}.so")
    cmd = ["gcc", "-std=c99", "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror", "-I" + INT8, "-o", lib, path,
           *sorted(os.path.join(INT8, f) for f in os.listdir(INT8) if f.endswith(".c"))]
    subprocess.run(cmd, check=True)
    return ctypes.CDLL(lib)


def step_profile(src: str, last_buf: str, out: str, name: str, n_out: int, calls: int = 2000) -> None:
    """Each integer step's mean time over ``calls`` runs of a timed build, and its share."""
    dll = _compile(host_source(src, last_buf, steps=True), out, f"{name}_int8_steps")
    kernels = [c.split("T1(")[0] for c in re.split(r"T0\(\d+\);", src)[1:]]
    labels = [(re.findall(r"CK\(nnb_i8_(\w+)", k) or ["?"])[0] + " " + (re.findall(r"= \{([\d,-]+)\}", k) or [""])[0]
              for k in kernels]
    logits = np.zeros(n_out, np.int8)
    ptr = logits.ctypes.data_as(ctypes.POINTER(ctypes.c_int8))
    for _ in range(calls):
        dll.nnb_i8_host_net(ptr)
    ns = (ctypes.c_ulonglong * len(labels)).in_dll(dll, "nnb_i8_step_ns")
    total = sum(ns) or 1
    print(f"\n{name} int8 steps (mean us over {calls} calls, share):")
    for i, lab in enumerate(labels):
        print(f"  {i:2d} {lab:60s} {ns[i] / calls / 1000:7.2f} us  {100 * ns[i] / total:5.1f} %")
    print()


def trained_model(name: str):  # noqa: ANN201
    """(int8 model, [input], float .nnp) of a trained Fashion-MNIST model (fmnist_lenet, fmnist_dscnn), calibrated
    as `nnb quantize X.nnp --method int8 --calib fashion-mnist --calib-samples 500` does (nnb/quantize/int8_run.py);
    the input is the first image of the fixtures' test set."""
    from nnb.quantize.int8_run import CalibOptions
    from nnb.quantize.int8_run import build as build_calibrated
    from nnb.train.data import input_array

    path = os.path.join(TRAINED, f"{name}.nnp")
    m, g, _ = build_calibrated(load(path), CalibOptions("int8", "fashion-mnist", 500, quiet=True))
    with np.load(TEST_DATA) as z:
        x0 = input_array(g, z["x"][:1].astype(np.float32) / np.float32(255))
    return m, [np.asarray(x0, np.float32)], path


def model_of(name: str):  # noqa: ANN201
    """(int8 model, inputs, float .nnp): the trained models by their fixture name, zoo models otherwise."""
    if os.path.exists(os.path.join(TRAINED, f"{name}.nnp")):
        return trained_model(name)
    from int8_quant_helpers import calibrated

    m, xs, _ = calibrated(name)
    return m, xs, os.path.join(ZOO, f"{name}.nnp")


def build_int8(name: str, so, out: str):  # noqa: ANN001, ANN201
    m, xs, float_path = model_of(name)
    x_q = m.qparams[m.graph.inputs[0]].quantize(xs[0])
    src, last, n_out = firmware(m, x_q, so)
    last_buf = _last_buffer(src)
    dll = _compile(host_source(src, last_buf), out, f"{name}_int8")
    if os.environ.get("NNB_I8_STEPS"):
        step_profile(src, last_buf, out, name, n_out)
    want = run_int8(m, xs, keep=[last], as_int=True)[last].reshape(-1)
    image8 = convert_int8(m).image
    return dll, n_out, want, (CNet(image8), image8), xs[0], float_path


def _last_buffer(src: str) -> str:
    """The name of the logits buffer: what main() prints."""
    tail = src[src.index("int main(void)"):]
    return tail.split("put('O', i, ")[1].split("[i]")[0]


def _i8_level(out: str) -> int:
    """What the int8 x86 dispatch runs in this process (nnb_i8_x86_level, NNB_I8_ISA applied)."""
    src = os.path.join(out, "i8_level.c")
    with open(src, "w") as f:
        f.write('#include "i8_host.h"\nint nnb_i8_level_probe(void) { return nnb_i8_x86_level(); }\n')
    lib = os.path.join(out, "libi8_level.so")
    x86 = [os.path.join(INT8, f) for f in ("conv_x86.c", "conv_x86_dw.c", "requant.c")]
    subprocess.run(["gcc", "-std=c99", "-O2", "-fPIC", "-shared", "-I" + INT8, "-o", lib, src, *x86], check=True)
    return int(ctypes.CDLL(lib).nnb_i8_level_probe())


LAYERS_MAIN = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nnbrt.h"

/* argv: int8.nnb float.nnb int8_in.bin float_in.bin rounds reps. Each function's time (thread CPU time, min over
 * rounds of the mean of reps calls of nnbrt_run_range) and the whole run's, the two nets taking turns. */
typedef struct {
    nnbrt_net *net;
    int nf;
    double best[256], whole;
} net_t;

static void *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    void *b;
    if (!f || fseek(f, 0, SEEK_END) || (*n = (size_t)ftell(f)) == 0 || fseek(f, 0, SEEK_SET)) exit(3);
    b = malloc(*n);
    if (!b || fread(b, 1, *n, f) != *n) exit(3);
    fclose(f);
    return b;
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void open_net(net_t *m, const char *path, const char *in)
{
    size_t len, need, il, n;
    void *img = slurp(path, &len), *x = slurp(in, &il), *arena;
    nnbrt_header_info h;
    float *dst;
    int f;
    if (nnbrt_arena_size(img, len, &need) || !(arena = malloc(need + 64)) ||
        nnbrt_init(&m->net, img, len, arena, need))
        exit(4);
    nnbrt_get_header(m->net, &h);
    m->nf = (int)h.num_functions < 256 ? (int)h.num_functions : 256;
    nnbrt_input(m->net, 0, &dst, NULL, NULL);
    nnbrt_input_size(m->net, 0, &n);
    if (il != n * sizeof(float)) exit(5);
    memcpy(dst, x, il);
    for (f = 0; f < 256; ++f) m->best[f] = 1e30;
    m->whole = 1e30;
}

static void one_round(net_t *m, int reps)
{
    double t0, t;
    int i, f;
    for (f = 0; f < m->nf; ++f) {
        t0 = now_us();
        for (i = 0; i < reps; ++i) nnbrt_run_range(m->net, f, f + 1);
        t = (now_us() - t0) / reps;
        if (t < m->best[f]) m->best[f] = t;
    }
    t0 = now_us();
    for (i = 0; i < reps; ++i) nnbrt_run(m->net);
    t = (now_us() - t0) / reps;
    if (t < m->whole) m->whole = t;
}

int main(int argc, char **argv)
{
    net_t a, b;
    int r, f, rounds, reps;
    if (argc != 7) return 2;
    rounds = atoi(argv[5]);
    reps = atoi(argv[6]);
    open_net(&a, argv[1], argv[3]);
    open_net(&b, argv[2], argv[4]);
    for (r = 0; r < rounds; ++r) {
        one_round(&a, reps);
        one_round(&b, reps);
    }
    printf("whole %.2f %.2f\n", a.whole, b.whole);
    for (f = 0; f < a.nf || f < b.nf; ++f) {
        const char *na = "", *nb = "";
        if (f < a.nf) nnbrt_function(a.net, f, NULL, &na, NULL, NULL, NULL, NULL);
        if (f < b.nf) nnbrt_function(b.net, f, NULL, &nb, NULL, NULL, NULL, NULL);
        printf("%d %s %.2f %s %.2f\n", f, f < a.nf ? na : "-", f < a.nf ? a.best[f] : 0.0, f < b.nf ? nb : "-",
               f < b.nf ? b.best[f] : 0.0);
    }
    return 0;
}
"""


def layer_table(name: str, net8_image: bytes, float_image: bytes, x8: np.ndarray, xin: np.ndarray, out: str,
                rounds: int = 10, reps: int = 200) -> None:
    """--layers: each function of the int8 NNB and of the float NNB through the C runtime (c_runtime/build/
    libnnbrt.a, the ISA levels of this process's environment), thread CPU time, min over ``rounds`` of the mean
    of ``reps`` calls of nnbrt_run_range, the two nets taking turns; and the whole run's."""
    exe = os.path.join(out, "int8_layers")
    if not os.path.exists(exe):
        src = os.path.join(out, "int8_layers.c")
        with open(src, "w") as f:
            f.write(LAYERS_MAIN)
        rt = os.path.join(ROOT, "c_runtime")
        subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I" + os.path.join(rt, "include"),
                        "-o", exe, src, os.path.join(rt, "build", "libnnbrt.a"), "-lm"], check=True)
    paths = []
    for stem, data in (("i8.nnb", net8_image), ("f.nnb", float_image),
                       ("i8.in", np.ascontiguousarray(x8, np.float32).tobytes()),
                       ("f.in", np.ascontiguousarray(xin, np.float32).tobytes())):
        paths.append(os.path.join(out, f"{name}.{stem}"))
        with open(paths[-1], "wb") as f:
            f.write(data)
    r = subprocess.run([exe, *paths, str(rounds), str(reps)], capture_output=True, text=True, check=True)
    lines = r.stdout.split("\n")
    whole = lines[0].split()
    print(f"\n{name}: each function, us (thread CPU time, min over {rounds} rounds of {reps} calls)\n")
    print("| # | int8 NNB | us | float NNB | us |")
    print("|---|---|---:|---|---:|")
    for ln in lines[1:]:
        if ln.strip():
            k, n8, t8, nf, tf = ln.split()
            print(f"| {k} | {n8} | {t8 if n8 != '-' else ''} | {nf if nf != '-' else ''} | {tf if nf != '-' else ''} |")
    print(f"| | whole run | {whole[1]} | | {whole[2]} |")
    print(f"| | int8/float | {float(whole[1]) / float(whole[2]):.3f} | | |\n", flush=True)


def interleaved(fns: dict, seconds: float, rounds: int = 7, clock: str = "cpu") -> tuple[dict, dict]:
    """Median time per call of each function, and each round's median, the functions taking turns.
    clock "wall": one call per sample, perf_counter. clock "cpu": this thread's CPU time (time.thread_time) over a
    batch of calls of at least 0.2 ms (reading that clock is a system call): the time other processes hold the
    core is not counted, so a loaded machine moves the figures far less (their caches and a shared core still
    do)."""
    tick = time.thread_time if clock == "cpu" else time.perf_counter
    batch = {}
    for k, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        batch[k] = 1 if clock == "wall" else max(1, int(2e-4 / max(time.perf_counter() - t0, 1e-7)))
    calls: dict = {k: [] for k in fns}
    per_round: dict = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            times = []
            end = time.perf_counter() + seconds / rounds / len(fns)
            while time.perf_counter() < end or len(times) < 3:
                t0 = tick()
                for _ in range(batch[k]):
                    fn()
                times.append((tick() - t0) / batch[k])
            calls[k] += times
            per_round[k].append(statistics.median(times))
    return {k: statistics.median(v) * 1e6 for k, v in calls.items()}, per_round


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="lenet,dscnn,resnet8")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--layers", action="store_true",
                    help="also each function's time, int8 NNB beside float NNB, through c_runtime/build/libnnbrt.a")
    ap.add_argument("--clock", default="cpu", choices=("cpu", "wall"),
                    help="cpu: this thread's CPU time over batches of calls (default; steady on a loaded machine); "
                         "wall: perf_counter per call")
    ap.add_argument("--isa", default="vnni,avx2",
                    help="force both engines' level: base, avx2 or vnni, or a comma list (one child process each)")
    args = ap.parse_args()
    levels = [v for v in args.isa.split(",") if v]
    if any(v not in ("base", "avx2", "vnni") for v in levels):
        sys.exit(f"int8_host: error: --isa takes base, avx2 or vnni (or a comma list), not {args.isa!r}")
    if len(levels) > 1:
        for v in levels:
            print(f"## --isa {v}", flush=True)
            subprocess.run([sys.executable, os.path.abspath(__file__), "--models", args.models, "--seconds",
                            str(args.seconds), "--isa", v, "--clock", args.clock,
                            *(["--layers"] if args.layers else [])], check=True)
            print(flush=True)
        return
    args.isa = levels[0] if levels else None
    if args.isa:
        os.environ["NNB_I8_ISA"] = args.isa
        os.environ["NNBRT_ISA"] = "avx512" if args.isa == "vnni" else args.isa
    from int8_harness import build

    out = tempfile.mkdtemp(prefix="nnb_int8_host_")
    so = build(out, dsp=False)
    levels = {0: "base", 1: "avx2", 2: "avx512 vnni"}
    print(f"host int8 (C int8 kernels, gcc -O2, {so.nnb_i8_dsp_path() and 'DSP' or 'portable'} build, x86 level "
          f"{levels.get(_i8_level(out), '?')}) vs float C runtime ({kernel_isa()}); median us per inference "
          f"({'thread CPU time' if args.clock == 'cpu' else 'wall clock'}), ratio = median over rounds of int8/float\n")
    rows = []
    for name in args.models.split(","):
        dll, n_out, want, (net8, image8), x8, float_path = build_int8(name, so, out)
        logits = np.zeros(n_out, np.int8)
        ptr = logits.ctypes.data_as(ctypes.POINTER(ctypes.c_int8))
        assert dll.nnb_i8_host_net(ptr) == 0
        same = bool(np.array_equal(logits.astype(np.int64), want))
        image_f = convert(load(float_path), "extended").image
        net = CNet(image_f)
        xin = x8 if float_path.startswith(TRAINED) else np.load(os.path.join(ZOO, f"{name}.in0.npy"))
        med, per_round = interleaved({"int8": lambda d=dll, p=ptr: d.nnb_i8_host_net(p),
                                      "float": lambda n=net, x=xin: n.run([x]),
                                      "runtime": lambda n=net8, x=x8: n.run([x])},
                                     args.seconds, clock=args.clock)
        ratio = statistics.median(a / b for a, b in zip(per_round["int8"], per_round["float"]))
        rt = statistics.median(a / b for a, b in zip(per_round["runtime"], per_round["int8"]))
        user = statistics.median(a / b for a, b in zip(per_round["runtime"], per_round["float"]))
        rows.append(f"| {name} | {med['int8']:.1f} | {med['float']:.1f} | {ratio:.2f} | {same} | {med['runtime']:.1f} "
                    f"| {rt:.2f} | {user:.2f} |")
        if args.layers:
            layer_table(name, image8, image_f, x8, xin, out)
    print("| model | int8 us | float us | int8/float | int8 logits == simulation | int8 NNB in the runtime us "
          "| runtime/int8 | runtime/float |")
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
