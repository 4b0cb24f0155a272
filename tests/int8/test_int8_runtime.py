"""int8 models as NNB files in the C runtime (docs/nnb_format.md "int8 models"): every integer tensor the C
runtime computes equals the numpy integer simulation bit for bit, the arena holds int8 tensors at one byte per
value, bad int8 records are refused with a status (also under ASan/UBSan), and the CLI runs .nnq/.nnb int8
models through the C runtime."""

from __future__ import annotations

import functools
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from int8_harness import sanitized_seed
from int8_quant_helpers import TRAINED, calibrated, fmnist_data, fmnist_model, need

from nnb.emit.nnb_int8 import write_int8_nnb
from nnb.emit.nnb_int8_layout import Q8_FUNCTIONS, Q8DESC
from nnb.emit.nnb_int8_read import read_int8_nnb
from nnb.errors import NnbError
from nnb.quantize.int_sim import run_int8

ZOO_CONV = ["lenet", "dscnn", "resnet8", "depthwise", "conv_variants", "batchnorm", "unet_tiny"]
MODELS = ZOO_CONV + ["fmnist_lenet", "fmnist_dscnn"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "c"))


def _cnet():  # noqa: ANN202
    import shutil

    if shutil.which("make") is None or (shutil.which("gcc") or shutil.which("cc")) is None:
        pytest.skip("no make/gcc: the C runtime cannot be built (apt-get install make gcc)")
    from nnb.backends.c import CNet

    return CNet


@functools.cache
def _model(name: str):  # noqa: ANN202
    if name.startswith("fmnist_"):
        m, x = fmnist_model(name.split("_", 1)[1])
        return m, x[:6]
    m, xs, _ = calibrated(name)
    return m, xs[0]


@pytest.mark.parametrize("name", MODELS)
def test_c_runtime_equals_integer_simulation(name: str) -> None:
    m, x = _model(name)
    ints = [s.output for s in m.steps if s.kind == "int"]
    image, d, _ = write_int8_nnb(m, extra_outputs=tuple(ints))
    got = dict(zip(d.outputs, _cnet()(image).run_batch([x])))
    want = run_int8(m, [x], keep=ints)
    islands = {o for s in m.steps if s.kind == "island" for o in s.node.outputs}
    checked = 0
    for key, y in got.items():
        t = key[:-3] if key.endswith("@dq") else key
        w = want[t]
        if t in islands:  # a float island's output: the C float kernel vs numpy, to float rounding
            np.testing.assert_allclose(y.reshape(w.shape), w, rtol=1e-5, atol=1e-6, err_msg=t)
            continue
        assert np.array_equal(y.reshape(w.shape), w), \
            f"{t}: {int((y.reshape(w.shape) != w).sum())} of {w.size} dequantized int8 values differ"
        checked += 1
    assert checked >= len(ints)
    # the file read back is the same integer model
    back = run_int8(read_int8_nnb(image), [x], keep=ints)
    assert all(np.array_equal(back[k], want[k]) for k in ints)


@pytest.mark.parametrize("scale,zero", [(0.0039215689, -128), (0.1913, 23), (1 / 256, -128), (3.7e-5, 5), (12.5, 0)])
def test_quantize_thresholds_and_table_are_numpys(scale: float, zero: int) -> None:
    """Q8Quantize's thresholds (-128 + the count of thresholds <= x, float32 compares) give numpy's
    round-half-to-even quantization for every float32, ties included; Q8Dequantize's table numpy's dequantize."""
    from nnb.emit.nnb_int8_layout import dequantize_table, quantize_thresholds
    from nnb.quantize.int8 import QParams

    q = QParams(scale, zero)
    t = quantize_thresholds(scale, zero)
    rng = np.random.default_rng(3)
    ks = np.arange(-300, 300)
    ties = ((ks + 0.5) * scale).astype(np.float32)
    near = np.concatenate([np.nextafter(ties, np.float32(np.inf)), np.nextafter(ties, np.float32(-np.inf))])
    x = np.concatenate([ties, near, t, np.nextafter(t, np.float32(-np.inf)),
                        rng.normal(0, 200 * scale, 20000).astype(np.float32),
                        np.array([0, -0.0, np.inf, -np.inf, 3e38, -3e38, 1e-45], np.float32)])
    got = -128 + np.searchsorted(t, x, side="right")  # what the C binary search counts
    assert np.array_equal(got, q.quantize(x))
    assert np.array_equal(dequantize_table(scale, zero), q.dequantize(np.arange(-128, 128)))


def _float_plan_bytes(m) -> int:  # noqa: ANN001
    from nnb.plan.arena import plan_arena

    return plan_arena(m.graph).arena_bytes


@pytest.mark.parametrize("arch", ["lenet", "dscnn"])
def test_arena_at_int8_width(arch: str) -> None:
    from nnb.emit.convert import convert

    m, _ = fmnist_model(arch)
    image, d, ap = write_int8_nnb(m)
    widths = {"q8": 1, "f32": 4}
    for name, lt in ap.lifetimes.items():
        v = d.vars[name]
        assert lt.nbytes == int(np.prod(v.shape)) * widths[v.kind], name
    assert struct.unpack_from("<I", image, 60)[0] == ap.arena_bytes  # the header's arena_bytes
    float_plan = _float_plan_bytes(m)
    assert ap.arena_bytes * 3 < float_plan, (ap.arena_bytes, float_plan)
    # the C runtime's arena: the tensors part is the int8 plan (kernel scratch depends on the kernels built)
    cnet = _cnet()
    n8, nf = cnet(image), cnet(convert(m.graph).image)
    assert ap.arena_bytes <= n8.arena_info["tensors"] < ap.arena_bytes + 64
    assert n8.arena_info["tensors"] * 3 < nf.arena_info["tensors"]


# ---- bad int8 records ---------------------------------------------------------------------------

class _Edit:
    """Field offsets of an int8 image, for corrupting one field at a time."""

    def __init__(self, image: bytes) -> None:
        from nnb.emit.nnb_read import _Image, _read_names

        self.im = _Image(image, "x")
        self.names = _read_names(self.im, self.im.variables[0])
        self.vars = [self.im.chunk(c, 20) for c in self.im.ints(*self.im.variables)]
        self.fns = [self.im.chunk(c, 20) for c in self.im.ints(*self.im.functions)]
        self.qlist = self.im.ints(self.im.ext[5], self.im.ext[6])

    def vid(self, name: str) -> int:
        return self.names.index(name)

    def desc(self, name: str) -> int:
        return self.im.chunk(self.qlist[self.vid(name)], Q8DESC.size)

    def data(self, name: str) -> int:
        return self.im.chunk(struct.unpack_from("<i", self.im.data, self.vars[self.vid(name)] + 16)[0], 4)

    def fn(self, fid: int) -> int:
        return next(p for p in self.fns if struct.unpack_from("<H", self.im.data, p)[0] == fid)

    def fn_inputs(self, fid: int) -> int:
        p = self.fn(fid)
        return self.im.chunk(struct.unpack_from("<i", self.im.data, p + 8)[0], 4)


def _lenet_image() -> tuple[bytes, object]:
    m, _ = _model("fmnist_lenet")
    image, d, _ = write_int8_nnb(m)
    return image, d


def _bad_images() -> dict[str, tuple[bytes, str]]:
    image, d = _lenet_image()
    e = _Edit(image)
    conv = Q8_FUNCTIONS["Q8Conv"][0]
    first_conv = next(f for f in d.fns if f.op == "Q8Conv")
    x8 = next(n for n in e.names if n.endswith("@q8") and n[:-3] in d.inputs)
    cases: dict[str, tuple[bytes, str]] = {}

    def put(key: str, pos: int, fmt: str, value, status: str) -> None:  # noqa: ANN001
        b = bytearray(image)
        struct.pack_into(fmt, b, pos, *(value if isinstance(value, tuple) else (value,)))
        cases[key] = (bytes(b), status)

    put("zero_point_300", e.desc(x8) + 16, "<i", 300, "bad quantized weight or descriptor")
    put("scale_nan", e.im.chunk(Q8DESC.unpack_from(image, e.desc(x8))[3], 8), "<d", float("nan"),
        "bad quantized weight or descriptor")
    put("scale_count", e.desc(x8) + 8, "<i", 2, "bad quantized weight or descriptor")
    put("thresholds_unsorted", e.data(f"{x8}/thresholds") + 40, "<f", -1e30, "bad quantized weight or descriptor")
    # Q8Conv record: 20-byte header, base_axis, 3 lists, group, pool, 3 lists, 2 bools, activation, act_min, act_max
    act_min = e.fn(conv) + 20 + 4 + 24 + 8 + 24 + 4 + 4
    put("clamp_reversed", act_min, "<ii", (100, 50), "bad function argument")
    put("group_3", e.fn(conv) + 20 + 4 + 24, "<i", 3, "variable shapes inconsistent with function")
    put("shift_40", e.data(first_conv.inputs[4]), "<i", 40, "bad function argument")
    put("bias_2_31", e.data(first_conv.inputs[2]), "<i", (1 << 31) - 1, "bad function argument")
    put("mult_negative", e.data(first_conv.inputs[3]), "<i", -5, "bad function argument")
    # the float Softmax reads an int8 tensor of the same size
    soft = next(p for p in e.fns if struct.unpack_from("<H", image, p)[0] < 1000)
    soft_in = e.im.chunk(struct.unpack_from("<i", image, soft + 8)[0], 4)
    int_logits = next(f.inputs[0] for f in d.fns if f.op == "Q8Dequantize" and f.outputs[0].endswith("@dq"))
    put("int8_into_float_kernel", soft_in, "<i", e.vid(int_logits), "unsupported variable type")
    # the conv's weight replaced by an int32 parameter
    w_slot = e.fn_inputs(conv) + 4
    put("int32_weight", w_slot, "<i", e.vid(first_conv.inputs[2]), "unsupported variable type")
    # an int8 activation planned past the arena's end
    plan = e.im.chunk(e.im.ext[3], 4 * len(e.names))
    arena = e.im.ext[1]
    put("plan_past_arena", plan + 4 * e.vid(first_conv.outputs[0]), "<i", arena - 4, "bad arena plan")
    # the network output typed int8 (no descriptor)
    out_var = e.vars[e.vid(d.outputs[0])]
    put("float_output_typed_int8", out_var + 12, "<B", 6, "bad quantized weight or descriptor")
    return cases


BAD = ["bias_2_31", "clamp_reversed", "float_output_typed_int8", "group_3", "int32_weight", "int8_into_float_kernel",
       "mult_negative", "plan_past_arena", "scale_count", "scale_nan", "shift_40", "thresholds_unsorted",
       "zero_point_300"]


@pytest.mark.parametrize("case", BAD)
def test_bad_int8_record_refused(case: str) -> None:
    need(os.path.join(TRAINED, "fmnist_lenet.nnp"))
    cases = _bad_images()
    assert sorted(cases) == BAD
    image, status = cases[case]
    with pytest.raises(NnbError) as e:
        _cnet()(image)
    assert status in str(e.value), str(e.value)


def test_bad_int8_records_under_sanitizers(tmp_path) -> None:  # noqa: ANN001
    """The same corrupt files, good int8 files of five models, and byte-level mutation fuzzing of them under the
    ASan/UBSan build of the runtime: outputs or statuses, never a sanitizer report."""
    from test_c_runtime import _build
    from test_extended import ENV

    san = _build(True)
    need(os.path.join(TRAINED, "fmnist_lenet.nnp"))
    seeds = []
    for name in ("fmnist_lenet", "fmnist_dscnn", "resnet8", "unet_tiny", "conv_variants"):
        m, x = _model(name)
        seeds.append(sanitized_seed(str(san / "nnbrt"), m, x, tmp_path, name, ENV))
    m, x = _model("fmnist_lenet")
    xin = tmp_path / "x.bin"
    np.asarray(x[:1], "<f4").tofile(xin)
    for case, (image, _) in _bad_images().items():
        p = tmp_path / f"bad_{case}.nnb"
        p.write_bytes(image)
        r = subprocess.run([str(san / "nnbrt"), "run", str(p), str(xin), "-o", str(tmp_path / "bad")],
                           capture_output=True, text=True, env=ENV)
        assert r.returncode > 0 and r.stderr.startswith("nnbrt:"), (case, r.stderr)
        assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r.stderr
    # the good int8 files pass the field-aware fuzzer's data-flow oracle (int8 spans counted in bytes) ...
    for seed in seeds:
        r = subprocess.run([str(san / "fuzz_fields"), "--oracle", seed], capture_output=True, text=True, env=ENV)
        assert r.returncode == 0 and r.stdout.strip() == "ok", (seed, r.stdout, r.stderr)
    # ... and byte-level and field-aware mutants of them give outputs or statuses, never a sanitizer report
    # (nor, for field-aware mutants, an accepted file that breaks the oracle's rules)
    iters = int(os.environ.get("NNB_INT8_FUZZ_ITERS", "3000"))
    for tool in ("fuzz_nnb", "fuzz_fields"):
        r = subprocess.run([str(san / tool), "-n", str(iters), *(["-m", "1000000"] if tool == "fuzz_nnb" else []),
                            "-s", "1313", *seeds], capture_output=True, text=True, env=ENV, timeout=3600)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr[-3000:]
        print(tool, r.stdout.strip().splitlines()[-1])


# ---- the command line -----------------------------------------------------------------------------

def test_cli_int8_nnq_and_nnb_through_c(tmp_path, capsys) -> None:  # noqa: ANN001
    from nnb.cli import main
    from nnb.nnp.reader import load
    from nnb.quantize.int8 import to_quantized
    from nnb.quantize.qmodel import save_quantized

    m, x = _model("fmnist_lenet")
    nnq, nnb_path = str(tmp_path / "lenet.nnq"), str(tmp_path / "lenet8.nnb")
    save_quantized(nnq, to_quantized(m, load(os.path.join(TRAINED, "fmnist_lenet.nnp"))))
    xs = str(tmp_path / "x.npy")
    np.save(xs, x[:3])
    assert main(["convert", nnq, "-o", nnb_path]) == 0
    outs = {}
    for key, model, backend in (("c_nnb", nnb_path, "c"), ("c_nnq", nnq, "c"), ("sim_nnq", nnq, "intsim"),
                                ("sim_nnb", nnb_path, "intsim")):
        o = str(tmp_path / f"{key}.npz")
        assert main(["run", model, "--backend", backend, "-i", xs, "-o", o]) == 0
        with np.load(o) as z:
            outs[key] = {k: z[k] for k in z.files}
    assert list(outs["c_nnb"]) == list(outs["sim_nnq"]) == ["y"]
    assert np.array_equal(outs["c_nnb"]["y"], outs["c_nnq"]["y"])
    assert np.array_equal(outs["sim_nnb"]["y"], outs["sim_nnq"]["y"])
    np.testing.assert_allclose(outs["c_nnb"]["y"], outs["sim_nnq"]["y"], rtol=1e-5, atol=1e-6)  # Softmax island
    capsys.readouterr()
    assert main(["inspect", nnb_path]) == 0
    out = capsys.readouterr().out
    assert "FusedConv" in out
    want = write_int8_nnb(m)[2].arena_bytes
    assert f"int8 records plan an arena of {want:,} bytes" in out
    # nnb plan shows the int8 plan the file holds (int8 tensors at one byte), for the .nnb and the .nnq alike
    for path in (nnb_path, nnq):
        assert main(["plan", path]) == 0
        last = capsys.readouterr().out.strip().splitlines()[-1]
        assert last.startswith(f"arena {want:,} bytes;"), last
    # the float reference (the default backend) does not silently run an int8 file in float
    assert main(["run", nnb_path, "-i", xs, "-o", str(tmp_path / "ref.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "int8 NNB" in err[0] and "--backend intsim" in err[0]
    assert not os.path.exists(tmp_path / "ref.npz")
    # eval: the C runtime's predictions are the simulation's
    from nnb.backends import c as c_backend
    from nnb.backends import intsim

    xe = fmnist_data()[0][200:700]
    pc = c_backend.predict(nnq, load(os.path.join(TRAINED, "fmnist_lenet.nnp")), xe)
    ps = intsim.predict(nnq, None, xe)  # type: ignore[arg-type]
    assert np.array_equal(pc.argmax(1), ps.argmax(1))
