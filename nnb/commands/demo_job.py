"""The built-in default job (``make demo`` / ``nnb demo``): train, quantize, pack, run.

Nothing is downloaded; the data is Debian's ``dataset-fashion-mnist``.

1. build a LeNet (the same shape as nnabla's fmnist_lenet fixture) with He
   initialisation and train it for one epoch with nnb's numpy trainer;
2. quantize it two ways with one epoch of quantization-aware training each:
   LUT-Q with K=4 (2-bit indices + a 4-entry table per layer) and DQ with a
   weight budget of 2 bits per weight + 5 % (the learned bitwidths decide
   where the bits go);
3. convert each to NNB (extended format: arena plan, fused convolutions,
   packed sub-byte weights for the quantized ones);
4. evaluate on the 10,000 test images with the numpy reference and with the C
   runtime, and print accuracy, sizes, arena and latency side by side;
5. emit the float model as C source (nnb emit-c), print its flash/RAM
   footprint, build it with its own Makefile and run it on one image;
6. run the float model on the first OpenCL device (PoCL on a PC) against
   the reference;
7. build the LUT-Q model as firmware for an emulated Cortex-M4 (QEMU
   mps2-an386), run it, and print its footprint and instruction count.

``--quick`` trains on fewer images (about half a minute in all) for a smoke run.
"""

from __future__ import annotations

import os
import time

import numpy as np

from nnb.builder import GraphBuilder
from nnb.errors import NnbError
from nnb.ir import Graph


def build_lenet(seed: int = 0) -> Graph:
    """conv 16@5x5 -> max 2 -> relu -> conv 32@5x5 -> max 2 -> relu -> fc 64 -> relu -> fc 10 -> softmax."""
    rng = np.random.default_rng(seed)

    def he(*shape: int) -> np.ndarray:
        fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
        return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)

    b = GraphBuilder("net")
    h = b.input("x", (-1, 1, 28, 28))
    for i, (c_in, c_out) in enumerate([(1, 16), (16, 32)], start=1):
        h = b.op("Convolution", [h, b.param(f"conv{i}/conv/W", he(c_out, c_in, 5, 5)),
                                 b.param(f"conv{i}/conv/b", np.zeros(c_out))], name=f"conv{i}")
        h = b.op("MaxPooling", [h], name=f"pool{i}", kernel=(2, 2), stride=(2, 2))
        h = b.op("ReLU", [h], name=f"relu{i}")
    h = b.op("Affine", [h, b.param("fc3/affine/W", he(512, 64)), b.param("fc3/affine/b", np.zeros(64))], name="fc3")
    h = b.op("ReLU", [h], name="relu3")
    h = b.op("Affine", [h, b.param("fc4/affine/W", he(64, 10)), b.param("fc4/affine/b", np.zeros(10))], name="fc4")
    b.output(b.op("Softmax", [h], name="softmax", outputs=["y"], axis=1))
    return b.build()


def qat_lines(models: dict[str, str]) -> list[str]:
    """Each quantized model's own training record, read back from its .nnq: the epoch's loss and its training
    accuracy with the hit count. The full demo's LUT-Q and DQ epochs both hit 25,463 of 29,952 images (their
    per-step hits differ in 367 of 468 steps; the loss, 0.437123 vs 0.437095, printed to 4 digits, was equal
    too), which read as one figure printed twice: the count and the 6-digit loss show two runs."""
    from nnb.commands.train import train_acc_text
    from nnb.quantize.qmodel import load_quantized

    lines, seen = [], {}
    for label, path in models.items():
        hist = load_quantized(path).info.get("history") or []
        if not hist:
            lines.append(f"{label}: no training record in {path}")
            continue
        rec = hist[-1]
        lines.append(f"{label}: its epoch {rec['epoch']}: loss {rec['loss']:.6f}, train acc {train_acc_text(rec)}")
        seen.setdefault(round(rec["train_acc"] * 1e9), []).append(label)
    for labels in seen.values():
        if len(labels) > 1:
            lines.append(f"({' and '.join(labels)}: the same count of correct training images, from two separate "
                         "runs)")
    return lines


def _cli(*args: str) -> None:
    from nnb.cli import main as cli_main  # the demo runs the verbs a user would type

    print("   $ nnb " + " ".join(args))
    rc = cli_main(list(args))
    if rc != 0:
        raise NnbError(f"'nnb {' '.join(args)}' failed with exit status {rc}")


def _evaluate(path: str, image: bytes, x: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy with the reference and the C runtime, sizes and latency for one NNB image."""
    from nnb.backends.c import CNet
    from nnb.emit.nnb import read_nnb
    from nnb.executor import run_batched

    g = read_nnb(image, path)
    t0 = time.perf_counter()
    ref = run_batched(g, [x], batch=1000)[g.outputs[0]]
    row = {"ref_acc": float((ref.argmax(1) == y).mean()), "ref_s": time.perf_counter() - t0,
           "param_bytes": sum(t.nbytes for t in g.params()), "file_bytes": len(image)}
    try:
        net = CNet(image)
    except NnbError as e:
        row["c_error"] = str(e)
        return row
    one = x[:1]
    net.run([one])
    t0 = time.perf_counter()
    for _ in range(200):
        net.run([one])
    row["c_ms"] = (time.perf_counter() - t0) / 200 * 1e3
    pred = np.concatenate([net.run([x[i:i + 1]])[0] for i in range(len(x))]).argmax(1)
    row["c_acc"] = float((pred == y).mean())
    row["agree"] = float((pred == ref.argmax(1)).mean())
    row["runtime_arena"] = net.arena_bytes
    return row


def main(out_dir: str = "out/demo", quick: bool = False) -> int:
    from nnb.datasets import fashion_mnist
    from nnb.emit.convert import convert, load_for_convert
    from nnb.inspect import format_table, model_stats
    from nnb.nnp.reader import load
    from nnb.nnp.writer import save

    os.makedirs(out_dir, exist_ok=True)
    p = lambda name: os.path.join(out_dir, name)  # noqa: E731
    limit = ["--limit", "12000"] if quick else []
    qlimit = ["--limit", "6000"] if quick else ["--limit", "30000"]
    t_start = time.perf_counter()

    print("== 1. data: Fashion-MNIST from Debian's dataset-fashion-mnist (input = image / 255)")
    xte, yte = fashion_mnist("test")
    print(f"   test {xte.shape}")

    print("== 2. a LeNet, He-initialised, trained for one epoch by nnb's numpy trainer")
    save(build_lenet(), p("lenet_init.nnp"))
    _cli("train", p("lenet_init.nnp"), "--data", "fashion-mnist", "--epochs", "1", "--lr", "1e-3",
         "--val", "none", "--quiet", *limit, "-o", p("lenet.nnp"))
    g = load(p("lenet.nnp"))
    print("   " + format_table(model_stats(g)).replace("\n", "\n   "))

    print("== 3. quantization-aware training: LUT-Q K=4, and DQ at 2 bits/weight + 5 %")
    weights = sum(t.size for t in g.params() if t.name.endswith("/W"))
    budget_kb = weights * 2 / 8 / 1024 * 1.05
    common = ["--data", "fashion-mnist", "--epochs", "1", "--lr", "2e-4", "--val", "none", "--quiet", *qlimit]
    _cli("quantize", p("lenet.nnp"), "--method", "lutq", "--k", "4", *common, "-o", p("lenet_lutq4.nnq"),
         "--report", p("lenet_lutq4.html"))
    _cli("quantize", p("lenet.nnp"), "--method", "dq", "--weight-budget", f"{budget_kb:.2f}kB", *common,
         "-o", p("lenet_dq.nnq"), "--report", p("lenet_dq.html"))
    for line in qat_lines({"LUT-Q K=4": p("lenet_lutq4.nnq"), "DQ 2-bit budget": p("lenet_dq.nnq")}):
        print("   " + line)

    print("== 4. NNB files (extended: one-arena plan, fused convolutions, packed weights)")
    images = {}
    for label, src in (("float", g), ("LUT-Q K=4", load_for_convert(p("lenet_lutq4.nnq"))),
                       ("DQ 2-bit budget", load_for_convert(p("lenet_dq.nnq")))):
        c = convert(src, "extended")
        name = {"float": "lenet.nnb", "LUT-Q K=4": "lenet_lutq4.nnb", "DQ 2-bit budget": "lenet_dq.nnb"}[label]
        with open(p(name), "wb") as f:
            f.write(c.image)
        images[label] = (p(name), c)
        print(f"   {p(name)}: {len(c.image):,} bytes, tensor arena {c.buffer_bytes:,} bytes (C RAM below)")

    print("== 5. the 10,000 test images: numpy reference and C runtime")
    xf = xte.astype(np.float32) / 255.0
    rows = {label: _evaluate(path, c.image, xf, yte) for label, (path, c) in images.items()}
    # "plan B": the tensors' one-arena plan; "C RAM B": all the C runtime asks for (nnbrt_arena_size: the
    # plan plus its tables, input/output staging and kernel scratch)
    head = ("model", "ref top-1", "C top-1", "C = ref", "params B", "file B", "plan B", "C RAM B", "C ms/image")
    table = [head]
    for label, r in rows.items():
        arena = images[label][1].buffer_bytes
        table.append((label, f"{r['ref_acc'] * 100:.2f} %",
                      f"{r['c_acc'] * 100:.2f} %" if "c_acc" in r else "n/a",
                      f"{r['agree'] * 100:.2f} %" if "agree" in r else "n/a",
                      f"{r['param_bytes']:,}", f"{r['file_bytes']:,}", f"{arena:,}",
                      f"{r['runtime_arena']:,}" if "runtime_arena" in r else "n/a",
                      f"{r['c_ms']:.3f}" if "c_ms" in r else "n/a"))
    widths = [max(len(t[i]) for t in table) for i in range(len(head))]
    for k, t in enumerate(table):
        print("   " + "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(t, widths))))
        if k == 0:
            print("   " + "  ".join("-" * w for w in widths))
    for label, r in rows.items():
        if "c_error" in r:
            print(f"   C runtime could not run {label}: {r['c_error']}")
    print(f"   reports: {p('lenet_lutq4.html')}, {p('lenet_dq.html')}")

    x1 = xf[:1].reshape((1,) + tuple(g.tensors[g.inputs[0]].shape[1:]))
    ref1 = _reference_output(g, x1)
    _emit_c_step(p("lenet.nnp"), p("lenet_c"), x1, ref1)
    _opencl_step(p("lenet.nnb"), xf[:500], _reference_scores(images["float"][0], xf[:500]))
    print("== 8. the LUT-Q model as firmware on an emulated Cortex-M4 (QEMU mps2-an386)")
    from nnb.boards.run import demo_step
    from nnb.emit.nnb import load_nnb

    gq = load_nnb(images["LUT-Q K=4"][0])
    xq = xf[:1].reshape(gq.tensors[gq.inputs[0]].shape)
    print("   " + demo_step(images["LUT-Q K=4"][0], [xq], reference=[_reference_output(gq, xq)]).replace("\n", "\n   "))
    print(f"== done in {time.perf_counter() - t_start:.0f} s")
    return 0


def _reference_output(g: Graph, x: np.ndarray) -> np.ndarray:
    from nnb.executor import run as run_ref

    return run_ref(g, [x])[g.outputs[0]]


def _reference_scores(nnb_path: str, x: np.ndarray) -> np.ndarray:
    from nnb.backends.reference import predict
    from nnb.emit.nnb import load_nnb

    return predict(nnb_path, load_nnb(nnb_path), x)


def _emit_c_step(model: str, outdir: str, x: np.ndarray, ref: np.ndarray) -> None:
    """Emit the float model as C, print its footprint, build it with its own Makefile and run it on one image."""
    import shutil
    import subprocess

    from nnb.emit.csource import emit_c
    from nnb.emit.csource_footprint import format_report, measure

    print("== 6. the float model as C source (nnb emit-c): footprint, then its own Makefile and example program")
    e = emit_c(model, outdir, force=True, command=f"nnb emit-c {model} -o {outdir}")
    print(f"   $ nnb emit-c {model} -o {outdir}")
    print("   " + format_report(measure(e)).replace("\n", "\n   "))
    if not shutil.which("make") or not (shutil.which("cc") or shutil.which("gcc")):
        print("   build skipped: no make/cc (apt-get install gcc make)")
        return
    r = subprocess.run(["make", "-s", "-C", outdir], capture_output=True, text=True)
    if r.returncode != 0:
        raise NnbError(f"{outdir}: make failed: {' '.join(r.stderr.split())[-300:]}")
    np.save(os.path.join(outdir, "in0.npy"), x.astype(np.float32))
    exe = os.path.join(outdir, f"{e.prefix}_example")
    r = subprocess.run([exe, os.path.join(outdir, "in0.npy"), "-o", os.path.join(outdir, "out")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise NnbError(f"{exe} failed: {' '.join((r.stderr or r.stdout).split())[-300:]}")
    y = np.load(os.path.join(outdir, "out.out0.npy"))
    err = float(np.abs(y.astype(np.float64) - ref).max())
    print(f"   $ make -C {outdir} && {exe} in0.npy -o out: max abs error vs the reference {err:.3g}, argmax "
          f"{'identical' if np.array_equal(y.argmax(1), ref.argmax(1)) else 'DIFFERENT'}")


def _opencl_step(nnb_path: str, x: np.ndarray, ref: np.ndarray) -> None:
    from nnb.backends import quiet_opencl_compiler
    from nnb.backends.opencl import reference_check
    from nnb.emit.nnb import load_nnb

    quiet_opencl_compiler()
    print("== 7. the float model on the first OpenCL device")
    ok, line = reference_check(nnb_path, load_nnb(nnb_path), x, ref)
    print("   " + line)


if __name__ == "__main__":
    raise SystemExit(main())
