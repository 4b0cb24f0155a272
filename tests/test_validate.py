"""The validator (nnb/validate.py) and the new-user defects of issue 9, each with its test."""

from __future__ import annotations

import os
import shutil
import struct

import numpy as np
import pytest
from conftest import DATA, TRAINED, ZOO, assert_close_to_nnabla, zoo_names, zoo_outputs

from nnb.cli import main
from nnb.emit.convert import convert
from nnb.emit.nnb import read_nnb, write_nnb
from nnb.errors import NnbError
from nnb.executor import run
from nnb.ir import Node, Tensor
from nnb.model import load_model
from nnb.ops import get_op
from nnb.passes import optimize
from nnb.validate import check_shape, validate_graph

LENET = os.path.join(ZOO, "lenet.nnp")
LENET_X = os.path.join(ZOO, "lenet.in0.npy")
TRAINED_LENET = os.path.join(TRAINED, "fmnist_lenet.nnp")
TEST_2K = os.path.join(DATA, "fmnist_test_2k.npz")


def _err(capsys, argv: list[str], *words: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("nnb: error: "), (code, err)
    for w in words:
        assert w in err[0], (w, err[0])
    return err[0]


# ---- the validator ----------------------------------------------------------------------

def test_sizes_are_python_integers() -> None:
    t = Tensor("t", (1 << 21, 1 << 21, 1 << 21))
    assert t.size == 1 << 63 and t.nbytes == 1 << 65  # numpy int64 would wrap to 0 / negative
    with pytest.raises(NnbError, match="32-bit"):
        check_shape(t.shape, "t")
    with pytest.raises(NnbError, match="must be >= 1"):
        check_shape((1, 0, 3), "t")


@pytest.mark.parametrize("name", zoo_names())
def test_every_zoo_model_and_its_rewrites_validate(name: str) -> None:
    g = load_model(os.path.join(ZOO, f"{name}.nnp"))
    shapes = validate_graph(g)
    assert all(shapes[o] == g.tensors[o].shape for o in g.outputs)
    validate_graph(optimize(g))
    nnb = os.path.join(ZOO, f"{name}.nnb")
    if os.path.exists(nnb):
        load_model(nnb)  # nnabla's converter's file: read, validated, declared shapes = inferred


def test_graph_rewritten_wrongly_is_refused() -> None:
    g = load_model(LENET)
    g.nodes = g.nodes[::-1]  # functions in reverse order
    with pytest.raises(NnbError, match="before any function writes it"):
        validate_graph(g)
    g = load_model(LENET)
    n = g.nodes[1]
    g.nodes[1] = Node(n.name, n.op, n.inputs, list(n.inputs), n.attrs)  # writes its own input
    with pytest.raises(NnbError, match=f"function '{n.name}'"):
        validate_graph(g)
    g = load_model(LENET)
    g.tensors["conv1/conv/W"].data = g.tensors["conv1/conv/W"].data.astype(np.float64)
    g.tensors["conv1/conv/W"].dtype = "float64"
    validate_graph(g)  # float64 is a float dtype
    g.tensors["conv1/conv/W"].data = g.tensors["conv1/conv/W"].data.astype(np.int8)
    with pytest.raises(NnbError, match="dtype int8"):
        validate_graph(g)


def test_nnb_with_functions_in_reverse_order_is_refused() -> None:
    g = load_model(LENET)
    image = convert(g, "compat").image
    read_nnb(image)
    g.nodes = g.nodes[::-1]
    with pytest.raises(NnbError, match="before any function writes it"):
        read_nnb(write_nnb(g))


def test_nnb_whose_stored_shape_disagrees_is_refused() -> None:
    g = load_model(LENET)
    g.tensors["@net/ReLU_out"].shape = (1, 16, 12, 11)
    with pytest.raises(NnbError, match="declared with shape"):
        read_nnb(write_nnb(g))


# ---- new-user defects -----------------------------------------------------------------

def test_empty_batch_is_a_clear_error(tmp_path, capsys) -> None:
    x = tmp_path / "empty.npy"
    np.save(x, np.zeros((0, 1, 28, 28), np.float32))
    for backend in ("reference", "c"):
        _err(capsys, ["run", LENET, "-i", str(x), "--backend", backend], "empty", "(0, 1, 28, 28)")


def test_integer_npy_is_refused_with_a_hint(tmp_path, capsys) -> None:
    x = tmp_path / "u8.npy"
    np.save(x, (np.load(LENET_X) * 255).astype(np.uint8))
    _err(capsys, ["run", LENET, "-i", str(x)], "uint8", "/ 255")


def test_convert_refuses_to_overwrite_its_input(tmp_path, capsys) -> None:
    src = tmp_path / "m.nnb"
    assert main(["convert", LENET, "-o", str(src)]) == 0
    before = src.read_bytes()
    capsys.readouterr()
    _err(capsys, ["convert", str(src), "-o", str(src)], "input model")
    _err(capsys, ["convert", str(src)], "input model")  # the default output name is the input's
    assert src.read_bytes() == before


def test_run_output_is_written_under_the_name_reported(tmp_path, capsys) -> None:
    out = tmp_path / "outnoext"
    assert main(["run", LENET, "-i", LENET_X, "-o", str(out)]) == 0
    assert f"to {out}:" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["outnoext"]
    assert_close_to_nnabla(np.load(out)["y"], zoo_outputs("lenet")[0], "y")


def _nnq(tmp_path) -> str:
    from nnb.nnp.reader import load
    from nnb.quantize.qmodel import QLayer, QuantizedModel, save_quantized

    g = load(TRAINED_LENET)
    layers = {}
    for t in g.params():
        if t.name.endswith("/W"):
            values = np.quantile(t.data, [0.05, 0.35, 0.65, 0.95]).astype(np.float32)
            codes = np.abs(t.data[..., None] - values).argmin(-1)
            layers[t.name] = QLayer("lut", t.shape, 2, values, codes)
            t.data = layers[t.name].dequantize()
    path = str(tmp_path / "q.nnq")
    save_quantized(path, QuantizedModel(g, "lutq", layers))
    return path


def test_nnq_is_accepted_by_every_command_that_takes_a_model(tmp_path, capsys) -> None:
    nnq = _nnq(tmp_path)
    x = tmp_path / "x.npy"
    with np.load(TEST_2K) as z:
        key = [k for k in z.files if z[k].ndim >= 3][0]
        np.save(x, (z[key][:2].astype(np.float32) / 255).reshape(2, 1, 28, 28))
    assert main(["inspect", nnq]) == 0
    assert "Convolution" in capsys.readouterr().out
    assert main(["plan", nnq]) == 0
    capsys.readouterr()
    assert main(["run", nnq, "-i", str(x), "-o", str(tmp_path / "o.npz")]) == 0
    assert main(["convert", nnq, "-o", str(tmp_path / "q.nnb")]) == 0
    assert "extended NNB" in capsys.readouterr().out
    assert main(["eval", nnq, "--data", TEST_2K, "--limit", "100"]) == 0
    # the .nnq's reference run equals its packed NNB's
    ref = np.load(tmp_path / "o.npz")
    assert main(["run", str(tmp_path / "q.nnb"), "-i", str(x), "-o", str(tmp_path / "p.npz")]) == 0
    got = np.load(tmp_path / "p.npz")
    assert ref.files == got.files
    np.testing.assert_allclose(got[got.files[0]], ref[ref.files[0]], rtol=1e-4, atol=1e-5)


def test_extended_nnb_keeps_the_network_names(tmp_path, capsys) -> None:
    arith = os.path.join(ZOO, "arith.nnp")
    g = load_model(arith)
    ext, compat = tmp_path / "e.nnb", tmp_path / "c.nnb"
    assert main(["convert", arith, "-o", str(ext)]) == 0
    assert main(["convert", arith, "--mode", "compat", "-o", str(compat)]) == 0
    capsys.readouterr()
    ge, gc = load_model(str(ext)), load_model(str(compat))
    assert ge.inputs == g.inputs and ge.outputs == g.outputs
    assert all(o.startswith("v") for o in gc.outputs)  # nnabla's layout has no names: v<variable id>
    a, b = os.path.join(ZOO, "arith.in0.npy"), os.path.join(ZOO, "arith.in1.npy")
    assert main(["run", str(ext), "-i", a, "-i", b, "-o", str(tmp_path / "o.npz")]) == 0
    z = np.load(tmp_path / "o.npz")
    assert z.files == g.outputs
    for k, ref in zip(z.files, zoo_outputs("arith")):
        assert_close_to_nnabla(z[k], ref, k)


def test_name_trailer_is_checked() -> None:
    image = convert(load_model(LENET), "extended").image
    assert read_nnb(image).outputs == ["y"]
    n_vars = struct.unpack_from("<I", image, 16)[0]
    for bad in (image + b"\0" * 4, image[:-4], image[:-8] + b"\xff" * 8):
        with pytest.raises(NnbError, match="name trailer"):
            read_nnb(bad)
    assert n_vars > 0


def test_nan_follows_nnabla_op_by_op() -> None:
    """Expected values: nnabla 1.39 (F.max_pooling, F.relu, F.max, F.maximum2, ...) on the same arrays."""
    nan = np.nan

    def fwd(op: str, xs: list, **kw) -> np.ndarray:
        o = get_op(op)
        return o.forward([np.asarray(x, np.float32) for x in xs], o.normalize(kw))[0].ravel()

    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    cases = [((0, 0, 0, 0), {}, [nan, 7, 13, 15]), ((0, 0, 0, 1), {}, [5, 7, 13, 15]),
             ((0, 0, 1, 1), {}, [4, 7, 13, 15]),
             ((0, 0, 1, 1), {"stride": (2, 2), "pad": (1, 1)}, [4, 7, 13, nan]),
             ((0, 0, 0, 1), {"stride": (2, 2), "pad": (1, 1)}, [5, nan, 13, 15])]
    for pos, kw, want in cases:
        x2 = x.copy()
        x2[pos] = nan
        k = (3, 3) if kw else (2, 2)
        np.testing.assert_array_equal(fwd("MaxPooling", [x2], kernel=k, **kw), want)
    np.testing.assert_array_equal(fwd("ReLU", [[nan, -1, 1]]), [0, 0, 1])
    rows = [[nan, 1, 2], [1, nan, 2], [1, 2, nan]]
    np.testing.assert_array_equal(fwd("Max", [rows], axes=(1,)), [2, 2, 2])
    np.testing.assert_array_equal(fwd("Min", [rows], axes=(1,)), [1, 1, 1])
    np.testing.assert_array_equal(fwd("Maximum2", [[nan, 2, 1], [1, 1, nan]]), [1, 2, nan])
    np.testing.assert_array_equal(fwd("Minimum2", [[nan, 2, 1], [1, 1, nan]]), [1, 1, nan])
    np.testing.assert_array_equal(fwd("MaximumScalar", [[nan, 2, 0]], val=0.5), [0.5, 2, 0.5])
    np.testing.assert_array_equal(fwd("MinimumScalar", [[nan, 2, 0]], val=0.5), [0.5, 0.5, 0])


# nnabla 1.39's outputs for the zoo input with pixel (9, 9) (lenet) / (16, 3) (dscnn) set to NaN
NAN_PIXEL = {
    "lenet": ((0, 0, 9, 9), [0.0036954900715500116, 0.00041476290789432824, 6.322596277641424e-07,
                             5.999888162477873e-05, 0.9436513185501099, 0.0003868998901452869,
                             0.0016230851178988814, 0.0337105356156826, 0.015771912410855293,
                             0.0006854724488221109]),
    "dscnn": ((0, 0, 16, 3), [0.4653559625148773, 0.024442659690976143, 0.01420152373611927,
                              0.00014525082951877266, 0.007085869554430246, 0.012339609675109386,
                              0.433562695980072, 0.0011311654234305024, 0.0024795655626803637,
                              0.005553422961384058, 0.012392659671604633, 0.02130967378616333]),
}


@pytest.mark.parametrize("name", sorted(NAN_PIXEL))
def test_one_nan_pixel_gives_nnablas_output(name: str) -> None:
    pos, want = NAN_PIXEL[name]
    x = np.load(os.path.join(ZOO, f"{name}.in0.npy")).copy()
    x[pos] = np.nan
    g = load_model(os.path.join(ZOO, f"{name}.nnp"))
    y = run(g, [x])[g.outputs[0]]
    assert_close_to_nnabla(y, np.array(want, np.float32).reshape(y.shape), name)
    ext = read_nnb(convert(g, "extended").image)  # fused conv + pool + relu
    assert_close_to_nnabla(run(ext, [x])[ext.outputs[0]], np.array(want, np.float32).reshape(y.shape), name)


def test_fused_conv_macs_are_the_convolutions(capsys) -> None:
    from nnb.inspect import model_stats

    g = load_model(TRAINED_LENET)
    fused = read_nnb(convert(g, "extended").image)
    assert any(n.op == "FusedConv" and n.attrs["pool"] for n in fused.nodes)
    assert model_stats(fused).macs == model_stats(g).macs == 1_083_008


def test_hardsigmoid_compat_message(tmp_path, capsys) -> None:
    out = tmp_path / "a.nnb"
    err = _err(capsys, ["convert", os.path.join(ZOO, "activations.nnp"), "--mode", "compat", "-o", str(out)])
    assert err == "nnb: error: HardSigmoid has no compatible NNB form; use --mode extended"
    assert not out.exists()


def test_convert_defaults_to_extended_and_says_which(tmp_path, capsys) -> None:
    assert main(["convert", LENET, "-o", str(tmp_path / "a.nnb")]) == 0
    assert "extended NNB (for nnb's C runtime; --mode compat writes nnabla's layout)" in capsys.readouterr().out
    assert main(["convert", LENET, "--mode", "compat", "-o", str(tmp_path / "c.nnb")]) == 0
    assert "compat NNB (for nnabla's C runtime)" in capsys.readouterr().out
    assert (tmp_path / "a.nnb").read_bytes() == convert(load_model(LENET), "extended").image


def test_folded_variable_batch_runs_from_the_cli_and_inspect_names_the_shape_problem(tmp_path, capsys) -> None:
    """nnabla may save (1, 8, 16) as (-1, 16): `run` checks the shapes with the real input, shape-only
    commands report what the declared shapes cannot resolve."""
    from test_ops import folded_matmul_nnp

    dst = folded_matmul_nnp(tmp_path)
    out = tmp_path / "o.npz"
    assert main(["run", dst, "-i", os.path.join(ZOO, "matmul.in0.npy"), "-o", str(out)]) == 0
    z = np.load(out)
    assert_close_to_nnabla(z[z.files[0]], zoo_outputs("matmul")[0], "folded")
    capsys.readouterr()
    _err(capsys, ["inspect", dst], "function '")
    _err(capsys, ["convert", dst, "-o", str(tmp_path / "f.nnb")], "function '")
    assert not (tmp_path / "f.nnb").exists()


@pytest.mark.parametrize("edit", ["shape", "bits", "missing", "kind", "layer", "table"])
def test_corrupt_nnq_is_a_clean_error(tmp_path, capsys, edit: str) -> None:
    import json
    import zipfile

    src = _nnq(tmp_path)
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    meta = json.loads(members["quant.json"])
    name = sorted(meta["layers"])[0]
    layer = meta["layers"][name]
    if edit == "shape":
        layer["shape"] = [3] + layer["shape"][1:]
    elif edit == "bits":
        layer["bits"] = 0
    elif edit == "missing":
        del layer["offset"]
    elif edit == "kind":
        layer["kind"] = "int3"
    elif edit == "layer":
        meta["layers"]["nowhere/W"] = layer
    else:
        layer["offset"] = -3  # codes 0..3 become 3..6: outside the 4-entry table
    members["quant.json"] = json.dumps(meta).encode()
    bad = str(tmp_path / "bad.nnq")
    with zipfile.ZipFile(bad, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    out = tmp_path / "bad.nnb"
    for argv in (["inspect", bad], ["convert", bad, "-o", str(out)]):
        _err(capsys, argv, "bad.nnq")
    assert not out.exists()


@pytest.mark.skipif(shutil.which("make") is None or shutil.which(os.environ.get("CC", "cc")) is None,
                    reason="no C compiler or make: the C runtime cannot be built")
def test_c_runtime_loads_extended_files_with_the_name_trailer() -> None:
    """The trailer lies after the data area: the C loader (header + index + data_size) must accept it."""
    from nnb.backends.c import CNet

    image = convert(load_model(LENET), "extended").image
    h = struct.unpack_from("<14I", image)
    assert len(image) > 88 + 4 * h[12] + h[13]  # there is a trailer
    y = CNet(image).run([np.load(LENET_X)])[0]
    assert_close_to_nnabla(y, zoo_outputs("lenet")[0], "lenet (C runtime, extended file with names)")


def test_arena_over_32_bits_is_refused_before_anything_is_written() -> None:
    """Each tensor fits (1 GiB), the two that live together do not: convert refuses instead of wrapping."""
    from nnb.builder import GraphBuilder

    b = GraphBuilder()
    x = b.input("x", (1 << 14, 1 << 14))
    t1 = b.op("Transpose", [x], axes=(1, 0))
    t2 = b.op("Transpose", [t1], axes=(1, 0))
    b.output(b.op("Add2", [t1, t2]))
    g = b.build()
    for mode in ("extended", "compat"):
        with pytest.raises(NnbError, match="32-bit"):
            convert(g, mode)


@pytest.mark.parametrize("name,bias", [("depthwise", (7,)), ("deconv", (2,))])
def test_bias_of_the_wrong_size_is_refused_at_load(name: str, bias: tuple[int, ...]) -> None:
    """Found by the C mutator's files: a bias that does not match the output channels."""
    g = load_model(os.path.join(ZOO, f"{name}.nnp"))
    node = next(n for n in g.nodes if len(n.inputs) > 2)
    b = g.tensors[node.inputs[2]]
    b.shape, b.data = bias, np.zeros(bias, np.float32)
    with pytest.raises(NnbError, match="bias"):
        validate_graph(g)
