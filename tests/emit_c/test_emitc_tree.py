"""`nnb emit-c` trees: built with their own Makefile, run on .npy files, measured against `size` and the
C runtime's arena, emitted deterministically."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ZOO, assert_close_to_nnabla, zoo_inputs, zoo_outputs
from emitc_helpers import host_cc, make, need

from nnb import footprint
from nnb.emit.convert import convert, load_for_convert
from nnb.emit.csource import emit_c, render, runtime_arena_info

LENET = os.path.join(ZOO, "lenet.nnp")
FIRMWARE_CFLAGS = "-Os -fno-pie -ffunction-sections -fdata-sections"


@pytest.fixture(scope="module")
def lenet_tree(tmp_path_factory) -> tuple[str, dict]:
    """zoo lenet through the CLI (--arena static, host footprint), built with its Makefile as firmware would."""
    host_cc()
    out = str(tmp_path_factory.mktemp("emitc") / "lenet")
    r = subprocess.run([os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "nnb"),
                        "emit-c", LENET, "-o", out, "--arena", "static", "--target", "host", "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    make(out, "all", f"CFLAGS={FIRMWARE_CFLAGS}", "LDFLAGS=-no-pie")
    return out, rep


def _run_example(outdir: str, prefix: str, name: str, tmp: str) -> list[np.ndarray]:
    ins = [os.path.join(ZOO, f"{name}.in{k}.npy") for k in range(len(zoo_inputs(name)))]
    r = subprocess.run([os.path.join(outdir, f"{prefix}_example"), *ins, "-o", os.path.join(tmp, "res")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return [np.load(os.path.join(tmp, f"res.out{k}.npy")) for k in range(len(zoo_outputs(name)))]


def test_example_program_matches_nnabla(lenet_tree, tmp_path) -> None:
    out, _ = lenet_tree
    for k, (y, ref) in enumerate(zip(_run_example(out, "lenet", "lenet", str(tmp_path)), zoo_outputs("lenet"))):
        assert_close_to_nnabla(y, ref, f"lenet_example output {k}")


def test_example_refuses_an_input_of_another_shape(lenet_tree, tmp_path) -> None:
    """The example program reads only the input's own shape, as `nnb run` does: the same 784 floats without the
    batch axis, transposed or flat are refused with one line naming the file and the expected shape."""
    out, _ = lenet_tree
    x = zoo_inputs("lenet")[0]
    want = "(" + ", ".join(str(d) for d in x.shape) + ")"
    for k, bad in enumerate((x.reshape(x.shape[1:]), x.reshape(x.shape[::-1]), x.reshape(-1))):
        assert bad.size == x.size and bad.shape != x.shape
        path = str(tmp_path / f"bad{k}.npy")
        np.save(path, bad)
        r = subprocess.run([os.path.join(out, "lenet_example"), path, "-o", str(tmp_path / "res")],
                           capture_output=True, text=True)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert lines[0] == f"lenet_example: {path}: wrong shape for this input: the network expects {want}", lines
        assert not os.path.exists(tmp_path / "res.out0.npy")


def test_caller_arena_multi_io_example(tmp_path) -> None:
    """arith: two inputs, 13 outputs named after the network's variables, the arena passed by the caller."""
    host_cc()
    out = str(tmp_path / "arith")
    e = emit_c(os.path.join(ZOO, "arith.nnp"), out, arena="caller")
    h = e.files["arith.h"].decode()
    assert "int arith_run(void *arena, const float *" in h and "#define ARITH_ARENA_ALIGN" in h
    make(out)
    for k, (y, ref) in enumerate(zip(_run_example(out, "arith", "arith", str(tmp_path)), zoo_outputs("arith"))):
        assert_close_to_nnabla(y, ref, f"arith_example output {k}")


def _macro(h: str, name: str) -> int:
    line = next(ln for ln in h.splitlines() if ln.startswith(f"#define {name} "))
    return int(line.split()[2].rstrip("u"))


def test_static_arena_and_rodata_weights(lenet_tree) -> None:
    out, rep = lenet_tree
    with open(os.path.join(out, "lenet.h")) as f:
        arena = _macro(f.read(), "LENET_ARENA_BYTES")
    objs = [os.path.join(out, f) for f in ("lenet.o", "lenet_weights.o")]
    objs += [os.path.join(out, "nnbrt", "kernels", f) for f in sorted(os.listdir(os.path.join(out, "nnbrt", "kernels")))
             if f.endswith(".o")]
    s = footprint.section_sizes(objs)
    assert s["data"] + s["bss"] <= arena + 256, s
    syms = footprint.symbol_sizes(os.path.join(out, "lenet_weights.o"))
    weights = {n: v for n, v in syms.items() if n.startswith("lenet_w_")}
    assert len(weights) == 8 and all(t in "rR" for t, _ in weights.values()), weights  # every weight in .rodata
    assert sum(sz for _, sz in weights.values()) == rep["footprint"]["weights_bytes"] == 4 * 20192  # exact
    assert footprint.symbol_sizes(os.path.join(out, "lenet.o"))["lenet_arena"][1] == arena == \
        rep["footprint"]["arena_bytes"]
    # the runtime's own whole arena for the same model, minus its tables
    c = convert(load_for_convert(LENET))
    info = runtime_arena_info(c.image, c.graph, "default")
    assert arena <= info["total"] - info["tables"], (arena, info)


def test_footprint_code_within_ten_percent_of_linked_size(lenet_tree, tmp_path) -> None:
    out, rep = lenet_tree
    cc = host_cc()
    (tmp_path / "run.c").write_text('#include "lenet.h"\nstatic float x[LENET_X_SIZE], y[LENET_Y_SIZE];\n'
                                    "int main(void) { return lenet_check() + lenet_run(x, y); }\n")
    (tmp_path / "base.c").write_text("int main(void) { return 0; }\n")
    objs = [os.path.join(out, f) for f in ("lenet.o", "lenet_weights.o")]
    kdir = os.path.join(out, "nnbrt", "kernels")
    objs += [os.path.join(kdir, f) for f in sorted(os.listdir(kdir)) if f.endswith(".o")]
    text = {}
    for name, extra in (("run", objs), ("base", [])):
        elf = str(tmp_path / f"{name}.elf")
        cmd = [cc, "-Os", "-no-pie", "-fno-pie", "-ffunction-sections", "-Wl,--gc-sections", f"-I{out}",
               str(tmp_path / f"{name}.c"), *extra, "-lm", "-o", elf]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        text[name] = footprint.section_sizes(elf)["text"]
    linked = text["run"] - text["base"]
    est = rep["footprint"]["code_bytes"]
    assert abs(est - linked) <= 0.10 * linked, (est, linked)


def test_emitting_twice_is_byte_identical(tmp_path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    emit_c(LENET, a, command="nnb emit-c lenet.nnp")
    emit_c(LENET, b, command="nnb emit-c lenet.nnp")
    files = sorted(os.path.relpath(os.path.join(d, f), a) for d, _, fs in os.walk(a) for f in fs)
    assert files == sorted(os.path.relpath(os.path.join(d, f), b) for d, _, fs in os.walk(b) for f in fs)
    for rel in files:
        with open(os.path.join(a, rel), "rb") as fa, open(os.path.join(b, rel), "rb") as fb:
            assert fa.read() == fb.read(), rel
    e = render(LENET, command="nnb emit-c lenet.nnp")
    assert e.files["lenet.h"] == open(os.path.join(a, "lenet.h"), "rb").read()


def test_generated_source_is_what_a_reviewer_expects() -> None:
    """Header stamp, a comment per node, exact compact floats, no interpreter pieces."""
    e = render(LENET, command="nnb emit-c lenet.nnp -o out")
    c, w, h = (e.files[f].decode() for f in ("lenet.c", "lenet_weights.c", "lenet.h"))
    with open(LENET, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    for text in (c, w, h):
        assert "nnb emit-c lenet.nnp -o out" in text and sha in text
    # the convolutions, Affine and Softmax called straight into the runtime's kernel files with constant
    # geometry; ReLU through its record
    assert c.count("nnbrt_mcu_conv_blk(") == 2 and c.count("nnbrt_affine_f32(") == 2
    assert c.count("nnbrt_softmax_f32(") == 1 and c.count(".run(&lenet_a") == 1 and len(e.model.nodes) == 6
    assert "nnbrt_k_fused_conv" not in c and "nnbrt/kernels/fused_conv.c" not in e.files
    assert "NNP function '@net/Convolution'" in c and "230,400 MACs" in c
    assert "malloc" not in c + w and "nnbrt_find_kernel" not in c and "nnbrt_init" not in c
    assert "\nconst float lenet_w_conv1_conv_W[400]" in w  # named by the direct call in lenet.c
    # hex floats: exact and short (no 20-digit decimals)
    vals = [v for line in w.splitlines() if line.startswith("    0") or line.startswith("    -0")
            for v in line.strip().rstrip(",").split(", ")]
    assert len(vals) > 20000 and max(len(v) for v in vals) <= 16
    g = load_for_convert(LENET)
    want = np.asarray(g.tensors["conv1/conv/W"].data, np.float32).reshape(-1)
    first = w.split("lenet_w_conv1_conv_W[400] = {")[1].split("};")[0].replace("\n", " ").split(",")
    got = np.array([float.fromhex(v.strip().rstrip("f")) if "p" in v else float(v.strip().rstrip("f"))
                    for v in first if v.strip()], np.float32)
    np.testing.assert_array_equal(got, want)


def test_cross_compilers_for_one_tree(lenet_tree) -> None:
    """clang -Werror on the same files (gcc built them in the fixture)."""
    out, _ = lenet_tree
    need("clang", "clang")
    srcs = ["lenet.c", "lenet_weights.c", "lenet_example.c"]
    r = subprocess.run(["clang", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only",
                        *(f"-D{k}" for k in render(LENET).model.knobs), *srcs], cwd=out, capture_output=True,
                       text=True)
    assert r.returncode == 0 and not r.stderr, r.stderr


@pytest.mark.parametrize("name", ["dscnn", "resnet8", "unet_tiny"])
def test_scratch_per_function_agrees_with_the_runtime_and_fits_the_free_space(name: str) -> None:
    """Each function's scratch comes from the runtime for that function alone (at most the runtime's figure
    for the whole model; with the MCU kernels some models need none); each lies where no tensor is alive
    at its step; the kernels' own checks accept the reservations (NAME_check through the backend)."""
    from nnb.emit.csource import node_scratch, runtime_scratch

    c = convert(load_for_convert(os.path.join(ZOO, f"{name}.nnp")))
    per = node_scratch(c.graph)
    assert 0 <= max(per) <= runtime_scratch(c.image, c.graph)
    e = render(os.path.join(ZOO, f"{name}.nnp"))
    plan = c.arena
    for i, n in enumerate(e.model.nodes):
        assert n.scratch_bytes == per[i] and n.scratch_off % 64 == 0
        for t, lt in plan.lifetimes.items():
            if t in plan.offsets and lt.start <= i <= lt.end and n.scratch_bytes:
                a, b = plan.offsets[t], plan.offsets[t] + lt.nbytes
                assert b <= n.scratch_off or n.scratch_off + n.scratch_bytes <= a, (i, t)
        assert n.scratch_off + n.scratch_bytes <= e.model.arena_bytes
    assert e.model.arena_bytes <= plan.arena_bytes + max(per) + 64  # never more than scratch after the tensors
    from nnb.backends.emit_c import EmittedNet

    EmittedNet(os.path.join(ZOO, f"{name}.nnp"))  # runs m_check(): every kernel fits its reservation


def test_host_kernel_settings_tree(tmp_path) -> None:
    """--kernels host: the runtime's default kernel settings (vector engine, no Cortex-M kernels)."""
    host_cc()
    out = str(tmp_path / "dscnn")
    e = emit_c(os.path.join(ZOO, "dscnn.nnp"), out, kernels="host")
    assert e.model.knobs == ["NNBRT_NO_MCU_KERNELS"] and "nnbrt/kernels/conv_mcu.c" not in e.files
    make(out, "CFLAGS=-O2")
    for k, (y, ref) in enumerate(zip(_run_example(out, "dscnn", "dscnn", str(tmp_path)), zoo_outputs("dscnn"))):
        assert_close_to_nnabla(y, ref, f"dscnn_example (host kernels) output {k}")
