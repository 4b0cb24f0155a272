"""The C runtime through cffi: nnb's compatible NNB files and the CLI's --backend c."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ZOO, assert_close_to_nnabla, zoo_inputs, zoo_names, zoo_outputs

from nnb.emit.convert import convert
from nnb.errors import NnbError
from nnb.nnp.reader import load

pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which(os.environ.get("CC", "cc")) is None,
                                reason="no C compiler or make: the C runtime cannot be built")


@pytest.mark.parametrize("name", zoo_names())
def test_compatible_files_run_in_the_c_runtime(name: str) -> None:
    from nnb.backends.c import CNet

    g = load(os.path.join(ZOO, name + ".nnp"))
    try:
        image = convert(g, "compat").image
    except NnbError as e:
        pytest.skip(f"{name} has no compatible NNB form: {e}")
    net = CNet(image)
    ins = zoo_inputs(name)
    for _ in range(2):  # a second run without reloading the inputs must give the same answer
        outs = net.run(ins)
        for k, (y, ref) in enumerate(zip(outs, zoo_outputs(name))):
            assert_close_to_nnabla(y, ref, f"{name} output {k} (C runtime)")


def test_cli_backend_c_matches_reference(tmp_path) -> None:
    out_c, out_r = tmp_path / "c.npz", tmp_path / "r.npz"
    model, x = os.path.join(ZOO, "dscnn.nnp"), os.path.join(ZOO, "dscnn.in0.npy")
    for backend, out in (("c", out_c), ("reference", out_r)):
        cmd = [sys.executable, "-m", "nnb.cli", "run", model, "-i", x, "--backend", backend, "-o", str(out)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    c, ref = np.load(out_c), np.load(out_r)
    assert c.files == ref.files
    for k in c.files:
        assert_close_to_nnabla(c[k], ref[k], k)


def test_c_runtime_refuses_a_corrupt_file_cleanly() -> None:
    from nnb.backends.c import CNet

    data = open(os.path.join(ZOO, "lenet.nnb"), "rb").read()
    for bad in (data[:100], data[:-8], b"\x07" + data[1:]):
        with pytest.raises(NnbError, match="C runtime"):
            CNet(bad)


def test_graphs_built_without_explicit_geometry_run_in_c(tmp_path) -> None:
    """A graph from the builder has pad/stride/dilation unset; NNB records must still carry them (float and packed)."""
    from nnb.backends.c import CNet
    from nnb.builder import GraphBuilder
    from nnb.cli import main
    from nnb.emit.convert import load_for_convert
    from nnb.emit.nnb import read_nnb
    from nnb.executor import run
    from nnb.nnp.writer import save

    rng = np.random.default_rng(0)
    b = GraphBuilder("net")
    h = b.input("x", (-1, 1, 12, 12))
    h = b.op("Convolution", [h, b.param("c/W", rng.standard_normal((4, 1, 3, 3))), b.param("c/b", np.zeros(4))])
    h = b.op("MaxPooling", [h], kernel=(2, 2))
    h = b.op("ReLU", [h])
    h = b.op("Affine", [h, b.param("f/W", rng.standard_normal((100, 10)) * 0.1), b.param("f/b", np.zeros(10))])
    b.output(b.op("Softmax", [h], axis=1))
    g = b.build()
    x = rng.random((1, 1, 12, 12), dtype=np.float32)
    want = run(g, [x])[g.outputs[0]]
    np.testing.assert_allclose(CNet(convert(g, "extended").image).run([x])[0], want, atol=1e-6)
    nnp = str(tmp_path / "m.nnp")
    save(g, nnp)
    data = tmp_path / "d.npz"
    np.savez(data, x=(rng.random((64, 1, 12, 12)) * 255).astype(np.uint8), y=rng.integers(0, 10, 64))
    nnq = str(tmp_path / "m.nnq")
    assert main(["quantize", nnp, "--method", "lutq", "--k", "4", "--data", str(data), "--epochs", "1", "-q",
                 "--val", "none", "-o", nnq]) == 0
    image = convert(load_for_convert(nnq), "extended").image
    ref = read_nnb(image, "packed")
    np.testing.assert_allclose(CNet(image).run([x])[0], run(ref, [x])[ref.outputs[0]], atol=1e-6)
