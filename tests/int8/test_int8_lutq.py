"""LUT-Q weights with integer activations (nnb/quantize/lutq_int8*.py, records 1012/1013, kernels/int8/lutq.c):
the per-entry accumulation is the integer convolution, the C runtime equals the numpy simulation on every integer
tensor (a LUT-Q-trained lenet through the CLI, zoo conv models with LUT-Q weights, the Cortex-M4 build), bad
records are refused with a status (also under ASan/UBSan), bad CLI use is one line and exit 2."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest
from int8_harness import sanitized_seed
from int8_quant_helpers import DATA, TRAINED, ZOO, need, perturbed, zoo_inputs

from nnb.cli import main
from nnb.emit.nnb_int8 import write_int8_nnb
from nnb.emit.nnb_int8_read import read_int8_nnb
from nnb.errors import NnbError
from nnb.quantize.int8 import from_quantized
from nnb.quantize.int_sim import run_int8
from nnb.quantize.lutq_int8 import CODES, DICT, build_lutq_int8, integer_dictionary
from nnb.quantize.qmodel import QuantizedModel, load_quantized

ZOO_CASES = {"lenet": dict(k=4), "dscnn": dict(k=8, pow2=True), "resnet8": dict(k=4, prune=0.3),
             "depthwise": dict(k=4), "conv_variants": dict(k=16), "batchnorm": dict(k=8, pow2=True),
             "unet_tiny": dict(k=4)}


def _cnet():  # noqa: ANN202
    if shutil.which("make") is None or (shutil.which("gcc") or shutil.which("cc")) is None:
        pytest.skip("no make/gcc: the C runtime cannot be built (apt-get install make gcc)")
    from nnb.backends.c import CNet

    return CNet


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(args)
    return rc, out.getvalue(), err.getvalue()


_TRAINED: list[tuple[str, str, str]] = []


def _trained(tmp_path_factory) -> tuple[str, str, str]:  # noqa: ANN001
    """A LUT-Q lenet (K=4, 128 images, one epoch) and its integer-activation form through the CLI, once per
    session: (lutq .nnq, int8 .nnq, what quantize --keep-lutq printed)."""
    if _TRAINED:
        return _TRAINED[0]
    tmp = str(tmp_path_factory.mktemp("lutq"))
    lut, out = os.path.join(tmp, "lenet_lutq.nnq"), os.path.join(tmp, "lenet_lutq_i8.nnq")
    rc, _, err = _cli(["quantize", need(os.path.join(TRAINED, "fmnist_lenet.nnp")), "--method", "lutq",
                       "--data", need(DATA), "--limit", "128", "--epochs", "1", "-q", "-o", lut, "--val", "none"])
    assert rc == 0, err
    rc, shown, err = _cli(["quantize", lut, "--method", "int8", "--keep-lutq", "--calib", DATA, "--calib-samples",
                           "100", "-q", "-o", out])
    assert rc == 0, err
    _TRAINED.append((lut, out, shown))
    return _TRAINED[0]


def _check_c_equals_sim(m, x: np.ndarray) -> int:  # noqa: ANN001 - Int8Model
    """Every integer tensor from the C runtime equals the simulation's; the file read back is the same model."""
    ints = [s.output for s in m.steps if s.kind == "int"]
    image, d, _ = write_int8_nnb(m, extra_outputs=tuple(ints))
    got = dict(zip(d.outputs, _cnet()(image).run_batch([x])))
    want = run_int8(m, [x], keep=ints)
    checked = 0
    for key, y in got.items():
        t = key[:-3] if key.endswith("@dq") else key
        if t in ints:
            assert np.array_equal(y.reshape(want[t].shape), want[t]), \
                f"{t}: {int((y.reshape(want[t].shape) != want[t]).sum())} of {want[t].size} values differ"
            checked += 1
    assert checked == len(ints)
    back = run_int8(read_int8_nnb(image), [x], keep=ints)
    assert all(np.array_equal(back[k], want[k]) for k in ints)
    return sum(1 for s in m.steps if CODES in s.arrays)


def test_lutq_lenet_through_the_cli_c_equals_simulation(tmp_path_factory) -> None:  # noqa: ANN001
    lut, path, shown = _trained(tmp_path_factory)
    assert "per-entry accumulation" in shown and "K=4 2 bit" in shown and "codes" in shown
    qm = load_quantized(path)
    m = from_quantized(qm)
    assert sum(1 for s in m.steps if CODES in s.arrays) == 4  # two FusedConv, two Affine
    with np.load(DATA) as z:
        x = z["x"][-16:].astype(np.float32).reshape(-1, 1, 28, 28) / np.float32(255)
    assert _check_c_equals_sim(m, x) == 4
    # the integer dictionaries reproduce the trained tables on their grid: D * s_w within half a step
    lq = load_quantized(lut)
    st = next(s for s in m.steps if CODES in s.arrays)
    table = next(iter(lq.layers.values())).values.astype(np.float64)
    np.testing.assert_allclose(st.arrays[DICT] * st.arrays["w_scale"][:, None], table[None, :].repeat(
        len(st.arrays[DICT]), 0), atol=float(st.arrays["w_scale"].max()) / 2 + 1e-12)
    # nnb eval: C runtime and integer simulation give the same figure
    outs = []
    for backend in ("c", "intsim"):
        rc, out, err = _cli(["eval", path, "--data", DATA, "--limit", "60", "--backend", backend])
        assert rc == 0, err
        outs.append(out)
    assert outs[0] == outs[1] and "top-1" in outs[0]


def _lutq_zoo(name: str, cfg: dict) -> QuantizedModel:
    """The zoo model with every quantizable weight k-means LUT-Q quantized (LUT-Q's initialisation, no training)."""
    from nnb.nnp.reader import load
    from nnb.quantize.layers import weight_params
    from nnb.quantize.lutq import LutqConfig, LutqLayer

    g = load(need(os.path.join(ZOO, f"{name}.nnp")))
    layers = {}
    for w in weight_params(g):
        q = LutqLayer(np.asarray(g.tensors[w].data), LutqConfig(init_iters=5, **cfg))
        layers[w] = q.to_qlayer()
        g.tensors[w].data = q.quantized()
    return QuantizedModel(g, "lutq", layers)


@functools.cache
def _zoo_model(name: str):  # noqa: ANN202
    qm = _lutq_zoo(name, ZOO_CASES[name])
    xs = zoo_inputs(name, len(qm.graph.inputs))
    return qm, build_lutq_int8(qm, perturbed(xs)[0]), xs[0]


@pytest.mark.parametrize("name", sorted(ZOO_CASES))
def test_zoo_lutq_weights_c_equals_simulation(name: str) -> None:
    from nnb.executor import run

    qm, m, x = _zoo_model(name)
    assert _check_c_equals_sim(m, x) >= 1
    f = run(qm.graph, [x])[qm.graph.outputs[0]]  # the float LUT-Q network
    q = run_int8(m, [x])[qm.graph.outputs[0]]
    sqnr = 10 * np.log10(float((f.astype(np.float64) ** 2).sum()) / max(float(((f - q) ** 2).sum()), 1e-30))
    assert sqnr >= 30, sqnr


def test_per_entry_accumulation_is_the_integer_convolution() -> None:
    """sum_k D[o,k] S_k == sum_t D[o, A[o,t]] (x_t - z) for a grouped, strided, padded convolution and an Affine;
    the shift form of a power-of-two dictionary equals the multiplies."""
    from nnb.ir import Graph, Node, Tensor
    from nnb.ops.conv import grouped_conv
    from nnb.quantize.int8 import Int8Model, IntNode, QParams
    from nnb.quantize.lutq_int8_sim import entry_products, lutq_step

    rng = np.random.default_rng(3)
    for pow2 in (False, True):
        codes = rng.integers(0, 5, (6, 2, 3, 3))
        D = (1 << rng.integers(0, 12, (6, 5))) * rng.choice([-1, 1], (6, 5)) if pow2 \
            else rng.integers(-900, 900, (6, 5))
        D[:, 2] = 0  # a pruned entry
        x = rng.integers(-128, 128, (2, 4, 7, 6))
        attrs = {"base_axis": 1, "pad": (1, 0), "stride": (2, 1), "dilation": (1, 1), "group": 2,
                 "channel_last": False}
        tensors = {n: Tensor(n, s) for n, s in (("x", x.shape), ("y", (2, 6, 4, 4)))}
        tensors["w"] = Tensor("w", codes.shape, kind="param", data=np.zeros(codes.shape, np.float32))
        node = Node("c", "Convolution", ["x", "w"], ["y"], attrs)
        st = IntNode(node, "int", "", "y", {CODES: codes, DICT: D, "lut_pow2": np.array([int(pow2)]),
                                            "bias": rng.integers(-5000, 5000, 6), "mult": np.full(6, 1 << 30),
                                            "shift": np.full(6, -12)})
        m = Int8Model(Graph("t", tensors, [node], ["x"], ["y"]), {"x": QParams(0.1, 3), "y": QParams(0.1, -2)},
                      [st])
        y = lutq_step(st, [x], m)
        w = np.take_along_axis(D, codes.reshape(6, -1), 1).reshape(codes.shape)
        acc = grouped_conv(x - 3, w, (1, 0), (2, 1), (1, 1), 2) + st.arrays["bias"][None, :, None, None]
        from nnb.quantize.int_sim import requant_out

        assert np.array_equal(y, requant_out(acc, st, m.qparams["y"]))
        s = rng.integers(-(1 << 18), 1 << 18, D.shape)
        if pow2:
            assert np.array_equal(entry_products(D, s, True), D * s)
    # a power-of-two table and a BN factor per channel: the integer entries are exact signed powers of two
    D, s_w, pow2 = integer_dictionary(np.array([-0.5, -0.0625, 0.0, 0.125]), np.array([0.7, -1.3, 2.0]), 75)
    assert pow2 and np.all(s_w > 0)
    mag = np.abs(D[D != 0])
    assert np.all(mag & (mag - 1) == 0)
    np.testing.assert_allclose(D * s_w[:, None], np.array([[0.7], [-1.3], [2.0]]) * [-0.5, -0.0625, 0.0, 0.125])


# ---- bad records -----------------------------------------------------------------------------------

def _lut_fn(image: bytes, fid: int) -> tuple[int, list[int]]:
    """(record offset, input variable ids) of the first record with id ``fid``."""
    from nnb.emit.nnb_read import _Image

    im = _Image(image, "x")
    for c in im.ints(*im.functions):
        p = im.chunk(c, 20)
        if struct.unpack_from("<H", image, p)[0] == fid:
            n, ch = struct.unpack_from("<Ii", image, p + 4)
            return p, list(im.ints(n, ch))
    raise AssertionError(fid)


def _data_at(image: bytes, vid: int) -> int:
    from nnb.emit.nnb_read import _Image

    im = _Image(image, "x")
    var = im.chunk(im.ints(*im.variables)[vid], 20)
    return im.chunk(struct.unpack_from("<i", image, var + 16)[0], 4)


def _bad_images() -> dict[str, tuple[bytes, str]]:
    """One field at a time of the zoo lenet's LUT-Q records (K=4, 2-bit codes; its Affine is 1013)."""
    _, m, _ = _zoo_model("lenet")
    image = write_int8_nnb(m)[0]
    conv, conv_in = _lut_fn(image, 1012)
    aff, aff_in = _lut_fn(image, 1013)
    cases: dict[str, tuple[bytes, str]] = {}

    def put(key: str, pos: int, fmt: str, value: int, status: str) -> None:
        b = bytearray(image)
        struct.pack_into(fmt, b, pos, value)
        cases[key] = (bytes(b), status)

    # Q8LutConv: header 20, base_axis 4, 3 lists 24, group 4, pool 4, 3 lists 24, 2 bools, 3 ints, w_shape, bits
    bits_at = conv + 20 + 4 + 24 + 4 + 4 + 24 + 4 + 12 + 8  # the two bools padded to 4 bytes
    put("bits_0", bits_at, "<i", 0, "bad quantized weight or descriptor")
    put("bits_9", bits_at, "<i", 9, "bad quantized weight or descriptor")
    put("bits_1", bits_at, "<i", 1, "bad quantized weight or descriptor")  # K = 4 entries do not fit 1-bit codes
    put("dict_huge", _data_at(image, conv_in[2]), "<i", 1 << 28, "bad quantized weight or descriptor")
    o = next(s for s in m.steps if CODES in s.arrays).arrays["bias"].size  # rq: biases, multipliers, shifts
    put("bias_2_30", _data_at(image, conv_in[3]), "<i", 1 << 30, "bad quantized weight or descriptor")
    put("shift_40", _data_at(image, conv_in[3]) + 4 * (3 * o - 1), "<i", 40, "bad function argument")
    put("mult_negative", _data_at(image, conv_in[3]) + 4 * o, "<i", -3, "bad function argument")
    put("group_2", conv + 20 + 4 + 24, "<i", 2, "variable shapes inconsistent with function")
    put("affine_bits_3", aff + 20 + 16 + 8, "<i", 3, "bad quantized weight or descriptor")  # codes misread
    put("unchanged", aff + 0, "<H", 1013, "")  # a control: must run
    b = bytearray(image)  # the Affine's codes variable replaced by the int8 input (a type-6 tensor)
    vlist = struct.unpack_from("<i", image, aff + 8)[0]
    from nnb.emit.nnb_read import _Image

    struct.pack_into("<i", b, _Image(image, "x").chunk(vlist, 4) + 4, aff_in[0])
    cases["codes_int8"] = (bytes(b), "bad function argument")
    return cases


BAD = ["affine_bits_3", "bias_2_30", "bits_0", "bits_1", "bits_9", "codes_int8", "dict_huge", "group_2",
       "mult_negative", "shift_40"]


@pytest.mark.parametrize("case", BAD)
def test_bad_lutq_record_refused(case: str) -> None:
    image, status = _bad_images()[case]
    with pytest.raises(NnbError) as e:
        _cnet()(image)
    assert status in str(e.value), str(e.value)
    with pytest.raises(NnbError):  # the Python reader names the field too
        read_int8_nnb(image)


def test_bad_lutq_records_under_sanitizers(tmp_path) -> None:  # noqa: ANN001
    """Good LUT-Q int8 files and the corrupt ones under the ASan/UBSan runtime, then byte-level mutants of the
    good ones: outputs or statuses, never a sanitizer report."""
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "c"))
    from test_c_runtime import _build
    from test_extended import ENV

    san = _build(True)
    seeds = []
    for name in ("lenet", "resnet8", "dscnn"):
        _, m, x = _zoo_model(name)
        seeds.append(sanitized_seed(str(san / "nnbrt"), m, x, tmp_path, name, ENV))
    xin = tmp_path / "lenet.bin"
    for case, (image, _) in _bad_images().items():
        p = tmp_path / f"bad_{case}.nnb"
        p.write_bytes(image)
        r = subprocess.run([str(san / "nnbrt"), "run", str(p), str(xin), "-o", str(tmp_path / "bad")],
                           capture_output=True, text=True, env=ENV)
        assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, (case, r.stderr)
        assert (r.returncode == 0) == (case == "unchanged"), (case, r.stderr)
    for seed in seeds:  # the field-aware fuzzer's data-flow oracle takes the good files ...
        r = subprocess.run([str(san / "fuzz_fields"), "--oracle", seed], capture_output=True, text=True, env=ENV)
        assert r.returncode == 0 and r.stdout.strip() == "ok", (seed, r.stdout, r.stderr)
    iters = int(os.environ.get("NNB_INT8_FUZZ_ITERS", "500"))  # ... and mutants give outputs or statuses
    for tool in ("fuzz_nnb", "fuzz_fields"):
        r = subprocess.run([str(san / tool), "-n", str(iters), *(["-m", "1000000"] if tool == "fuzz_nnb" else []),
                            "-s", "1212", *seeds], capture_output=True, text=True, env=ENV, timeout=3600)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr[-3000:]


# ---- the Cortex-M4 build ---------------------------------------------------------------------------

MISSING = next((f"{t} (apt-get install {p})" for t, p in (("arm-none-eabi-gcc", "gcc-arm-none-eabi"),
                                                          ("qemu-system-arm", "qemu-system-arm"))
                if shutil.which(t) is None), None)


@pytest.mark.skipif(MISSING is not None, reason=f"the firmware test needs the cross tools: {MISSING}")
def test_lutq_lenet_on_cortex_m4_equals_host(tmp_path) -> None:  # noqa: ANN001
    from nnb.boards.run import run_on_board

    _, m, x = _zoo_model("lenet")
    ints = [s.output for s in m.steps if s.kind == "int"]
    image, d, _ = write_int8_nnb(m, extra_outputs=tuple(ints))
    path = tmp_path / "lenet_lutq_i8.nnb"
    path.write_bytes(image)
    outs, report = run_on_board(str(path), "qemu-mps2-an386", [x[:1]])
    board = dict(zip(d.outputs, outs.values()))
    host = dict(zip(d.outputs, _cnet()(image).run([x[:1]])))
    sim = run_int8(m, [x[:1]], keep=ints)
    for key in d.outputs:
        t = key[:-3] if key.endswith("@dq") else key
        if t in ints:
            assert np.array_equal(board[key], host[key]), f"{t}: board and host differ"
            assert np.array_equal(board[key].reshape(sim[t].shape), sim[t]), f"{t}: board and simulation differ"
    assert report.run_count > 0


# ---- the command line ------------------------------------------------------------------------------

def test_keep_lutq_bad_use(tmp_path_factory, tmp_path) -> None:  # noqa: ANN001
    lenet = need(os.path.join(TRAINED, "fmnist_lenet.nnp"))
    out = str(tmp_path / "x.nnq")
    for args, words in ((["quantize", lenet, "--method", "int8", "--keep-lutq", "--calib", DATA, "-o", out],
                         "needs the LUT-Q .nnq"),
                        (["quantize", lenet, "--method", "lutq", "--keep-lutq", "--data", DATA, "-o", out],
                         "goes with --method int8")):
        rc, _, err = _cli(args)
        assert rc == 2 and err.count("\n") == 1 and err.startswith("nnb: error:") and words in err, err
        assert not os.path.exists(out)
    lut, path, _ = _trained(tmp_path_factory)
    rc, _, err = _cli(["quantize", path, "--method", "int8", "--keep-lutq", "--calib", DATA, "-o", out])
    assert rc == 2 and "LUT-Q model" in err and err.count("\n") == 1, err  # an int8 .nnq is not a LUT-Q one
