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
