"""The int8 arena against float's (issue 13: "int8 weights and arena are at most 26 % of float's for lenet and
dscnn").  The first convolution quantizes the float network input itself, one sample at a time in its scratch
(record 1014 Q8QConv, nnb/emit/nnb_int8_qconv.py), so the int8 copy of the input is never in the arena.  Checked
here: the arena figure from the planner and from the C runtime's own accounting; Q8QConv computes the integers of
Q8Quantize + Q8Conv (C runtime == simulation == the old two-record form, which still loads and runs); a corrupt
Q8QConv is refused with a status, and by the CLI in one line with exit status 2."""

from __future__ import annotations

import functools
import os
import struct

import numpy as np
import pytest
from int8_quant_helpers import TRAINED, calibrated, fmnist_model, need
from test_int8_runtime import _cnet, _Edit

from nnb.emit.nnb_int8 import write_int8_nnb
from nnb.emit.nnb_int8_layout import Q8_FUNCTIONS
from nnb.emit.nnb_int8_read import read_int8_nnb
from nnb.errors import NnbError
from nnb.quantize.int_sim import run_int8

TARGET = 0.26
QCONV = Q8_FUNCTIONS["Q8QConv"][0]


@functools.cache
def _float_image(arch: str) -> bytes:
    """The float model as `nnb convert fmnist_ARCH.nnp` writes it (BatchNormalization folded, convolutions
    fused: the float arena the int8 one is compared with)."""
    from nnb.emit.convert import convert
    from nnb.nnp.reader import load

    return convert(load(need(os.path.join(TRAINED, f"fmnist_{arch}.nnp")))).image


@pytest.mark.parametrize("arch", ["lenet", "dscnn"])
def test_int8_arena_at_most_26_percent_of_float(arch: str) -> None:
    m, _ = fmnist_model(arch)
    image, d, ap = write_int8_nnb(m)
    assert d.fns[0].op == "Q8QConv"
    assert all(f.inputs[0] not in d.inputs for f in d.fns if f.op == "Q8Quantize")  # no int8 copy of the input
    fimage = _float_image(arch)
    f_plan = struct.unpack_from("<I", fimage, 60)[0]  # the extended header's arena_bytes (the planner's figure)
    assert struct.unpack_from("<I", image, 60)[0] == ap.arena_bytes
    assert ap.arena_bytes <= TARGET * f_plan, f"{arch}: planner {ap.arena_bytes} B = {ap.arena_bytes / f_plan:.1%}"
    cnet = _cnet()
    n8, nf = cnet(image).arena_info, cnet(fimage).arena_info
    assert n8["tensors"] <= TARGET * nf["tensors"], \
        f"{arch}: C runtime tensors {n8['tensors']} B = {n8['tensors'] / nf['tensors']:.1%} of {nf['tensors']} B"
    print(f"{arch}: int8 arena {ap.arena_bytes} B vs float {f_plan} B ({ap.arena_bytes / f_plan:.1%}); C runtime "
          f"tensors {n8['tensors']} vs {nf['tensors']} B, kernel scratch {n8['scratch']} vs {nf['scratch']} B")


@functools.cache
def _model(name: str):  # noqa: ANN202
    if name.startswith("fmnist_"):
        from nnb.backends.opencl_int8 import rebatched

        m, x = fmnist_model(name.split("_", 1)[1])
        return rebatched(m, 5), x[:5]  # a file for five samples: Q8QConv quantizes one at a time
    m, xs, _ = calibrated(name)
    return m, xs[0]


def _outputs(image: bytes, outputs: list[str], x: np.ndarray) -> dict[str, np.ndarray]:
    got = _cnet()(image).run_batch([x])
    return {(k[:-3] if k.endswith("@dq") else k): y for k, y in zip(outputs, got)}


@pytest.mark.parametrize("name", ["fmnist_lenet", "resnet8"])  # with a fused max pool; without (3 channels)
def test_qconv_gives_the_integers_of_quantize_then_conv(name: str) -> None:
    m, x = _model(name)
    ints = tuple(s.output for s in m.steps if s.kind == "int")
    xname = m.graph.inputs[0]
    image, d, _ = write_int8_nnb(m, extra_outputs=ints)
    assert d.fns[0].op == "Q8QConv" and d.fns[0].inputs[0] == xname
    # asking for the int8 input keeps it: the old form, Q8Quantize then Q8Conv (old files load and run)
    old, d_old, _ = write_int8_nnb(m, extra_outputs=(xname, *ints))
    assert [f.op for f in d_old.fns[:2]] == ["Q8Quantize", "Q8Conv"] and "Q8QConv" not in {f.op for f in d_old.fns}
    new_out, old_out = _outputs(image, d.outputs, x), _outputs(old, d_old.outputs, x)
    want = run_int8(m, [x], keep=list(ints))
    for t in ints:
        y = new_out[t].reshape(want[t].shape)
        assert np.array_equal(y, want[t]), f"{name}: {t}: {int((y != want[t]).sum())} values differ from intsim"
        assert np.array_equal(y, old_out[t].reshape(y.shape)), f"{name}: {t}: Q8QConv and the old form differ"
    # the file read back is the same integer model, its first convolution reading the float input
    back = read_int8_nnb(image)
    assert back.steps[0].node.inputs[0] == xname and back.qparams[xname] == m.qparams[xname]
    again = run_int8(back, [x], keep=list(ints))
    assert all(np.array_equal(again[t], want[t]) for t in ints)


# ---- a corrupt Q8QConv ------------------------------------------------------------------------------------

# record layout (docs/nnb_format.md): 20-byte header, then Q8Conv's arguments: base_axis, 3 lists, group, pool,
# 3 lists (60 bytes), then the bytes pool_ignore_border and residual
RESIDUAL_AT = 20 + 60 + 1


def _bad(case: str) -> tuple[bytes, str]:
    m, _ = fmnist_model("lenet")
    image, d, _ = write_int8_nnb(m)
    e = _Edit(image)
    f = d.fns[0]
    x, thr, grid, w = f.inputs[:4]
    b = bytearray(image)
    ins = e.fn_inputs(QCONV)
    if case == "thresholds_unsorted":
        struct.pack_into("<f", b, e.data(thr) + 40, -1e30)
        return bytes(b), "bad quantized weight or descriptor"
    if case == "residual":
        struct.pack_into("<B", b, e.fn(QCONV) + RESIDUAL_AT, 1)
        return bytes(b), "bad function argument"
    if case == "grid_is_the_weight":  # a per-channel int8 parameter where the one-value grid goes
        struct.pack_into("<i", b, ins + 8, e.vid(w))
        return bytes(b), "unsupported variable type"
    if case == "input_is_the_thresholds":  # a float parameter of 255 values where the network input goes
        struct.pack_into("<i", b, ins, e.vid(thr))
        return bytes(b), "unsupported"
    raise AssertionError(case)


BAD = ["thresholds_unsorted", "residual", "grid_is_the_weight", "input_is_the_thresholds"]


@pytest.mark.parametrize("case", BAD)
def test_corrupt_qconv_refused(case: str, tmp_path, capsys) -> None:  # noqa: ANN001
    from nnb.cli import main

    image, status = _bad(case)
    with pytest.raises(NnbError) as e:
        _cnet()(image)
    assert status in str(e.value), str(e.value)
    with pytest.raises(NnbError):  # the reader (intsim, emit-c, nnb plan) checks every field too
        read_int8_nnb(image)
    p, xs = tmp_path / "bad.nnb", tmp_path / "x.npy"
    p.write_bytes(image)
    np.save(xs, fmnist_model("lenet")[1][:1])
    for backend in ("c", "intsim"):
        capsys.readouterr()
        assert main(["run", str(p), "--backend", backend, "-i", str(xs), "-o", str(tmp_path / "y.npz")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("nnb: error:"), (backend, err)


def test_qconv_under_sanitizers(tmp_path) -> None:  # noqa: ANN001
    """lenet's Q8QConv in a file for five samples (one quantized at a time) and the corrupt Q8QConv files under the
    ASan/UBSan build of the runtime: the simulation's outputs, or a status, never a sanitizer report."""
    import subprocess

    from test_c_runtime import _build
    from test_extended import ENV

    san = str(_build(True) / "nnbrt")
    m, x = _model("fmnist_lenet")
    (tmp_path / "lenet.nnb").write_bytes(write_int8_nnb(m)[0])
    np.asarray(x, "<f4").tofile(tmp_path / "x5.bin")
    r = subprocess.run([san, "run", str(tmp_path / "lenet.nnb"), str(tmp_path / "x5.bin"), "-o", str(tmp_path / "y")],
                       capture_output=True, text=True, env=ENV)
    assert r.returncode == 0 and "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r.stderr
    y = np.fromfile(tmp_path / "y0.bin", "<f4")
    np.testing.assert_allclose(y, run_int8(m, [x])[m.graph.outputs[0]].reshape(-1), rtol=1e-5, atol=1e-6)
    xin = tmp_path / "x1.bin"
    np.asarray(x[:1], "<f4").tofile(xin)
    for case in BAD:
        p = tmp_path / f"bad_{case}.nnb"
        p.write_bytes(_bad(case)[0])
        r = subprocess.run([san, "run", str(p), str(xin), "-o", str(tmp_path / "bad")], capture_output=True, text=True,
                           env=ENV)
        assert r.returncode > 0 and r.stderr.startswith("nnbrt:"), (case, r.stderr)
        assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r.stderr
