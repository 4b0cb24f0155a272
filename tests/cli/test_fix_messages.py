"""Messages a first user meets on the int8 path: each one names the right way out, in one line."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import DATA, TRAINED

from nnb.cli import main

LENET = os.path.join(TRAINED, "fmnist_lenet.nnp")


@pytest.fixture(scope="module")
def calib_dir(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    if not os.path.exists(LENET) or not os.path.isdir(DATA):
        pytest.skip(f"trained fixtures not found at {TRAINED} / {DATA}")
    d = tmp_path_factory.mktemp("fix_messages")
    with np.load(os.path.join(DATA, "fmnist_test_2k.npz")) as z:
        np.savez(d / "xy.npz", x=z["x"][:40], y=z["y"][:40])
    return d


@pytest.fixture(scope="module")
def fixed8_nnq(calib_dir) -> str:  # noqa: ANN001
    out = str(calib_dir / "f8.nnq")
    assert main(["quantize", LENET, "--method", "fixed8", "--calib", str(calib_dir / "xy.npz"), "-q", "-o", out]) == 0
    return out


def test_c_backend_refusal_of_a_fixed8_model_points_to_intsim(fixed8_nnq: str, calib_dir,  # noqa: ANN001
                                                              capsys: pytest.CaptureFixture) -> None:
    rc = main(["eval", fixed8_nnq, "--backend", "c", "--data", str(calib_dir / "xy.npz"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "--backend intsim" in err and "--backend reference" not in err, err
    # and the backend it names does run it
    assert main(["eval", fixed8_nnq, "--backend", "intsim", "--data", str(calib_dir / "xy.npz"), "--quiet"]) == 0
