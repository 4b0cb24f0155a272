"""conv_mcu.c's forms: the emitter compiles only those its layers reach, and leaving a form out never changes
a result (its work goes to a general form)."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from conftest import ZOO, assert_close_to_nnabla, zoo_outputs
from emitc_helpers import host_cc, make

from nnb.emit.csource import emit_c
from nnb.emit.csource_forms import FORM_KNOBS, conv_forms


def test_forms_of_known_layers() -> None:
    # lenet conv1: 1 -> 16 channels, 5x5 over 28x28, 2x2 max pool: 4x4 tiles of stride 1, 24 = 6 x 4 columns
    assert conv_forms(1, [1, 1, 16, 28, 28, 24, 24, 5, 5, 0, 0, 1, 1, 1, 1], 1, False) == {"pool", "s1", "t44"}
    # dscnn's first layer: 10x4 kernel, stride 2, pad (5, 1) over 49x10: columns 1..3 in one 4x3 tile
    assert conv_forms(1, [1, 1, 64, 49, 10, 25, 5, 10, 4, 5, 1, 2, 2, 1, 1], 0, False) == {"s2", "t43"}
    # 3x3 depthwise, stride 1, pad 1 (a group of one channel): the register plane; with pooling: dw_plane
    assert conv_forms(64, [1, 64, 64, 25, 5, 25, 5, 3, 3, 1, 1, 1, 1, 1, 1], 0, False) == {"dw3"}
    assert conv_forms(64, [1, 64, 64, 25, 5, 25, 5, 3, 3, 1, 1, 1, 1, 1, 1], 1, False) == {"dw", "pool"}
    # pointwise over 125 positions: 25 tiles of 4x5; over 16 positions with 6 output channels: 3 tiles of 4x5 and a
    # column for the 4-channel block, 1x4 tiles of stride 1 for the two channels left over
    assert conv_forms(1, [1, 64, 64, 25, 5, 25, 5, 1, 1, 0, 0, 1, 1, 1, 1], 0, False) == {"1x1", "t45"}
    assert conv_forms(1, [1, 8, 6, 4, 4, 4, 4, 1, 1, 0, 0, 1, 1, 1, 1], 0, False) == {"1x1", "t45", "s1", "t14"}


@pytest.mark.parametrize("name", ["dscnn", "lenet"])
def test_every_form_left_out_gives_the_same_outputs(name: str, tmp_path) -> None:
    """The tree built with every conv_mcu.c form left out (pooling kept: it is not a fallback) still matches
    nnabla: each form's work goes to the clipped-column form."""
    host_cc()
    out = str(tmp_path / name)
    e = emit_c(os.path.join(ZOO, f"{name}.nnp"), out)
    assert any(k.startswith("NNBRT_MCU_NO_") for k in e.model.knobs)  # the forms this model does not reach
    knobs = [k for k in e.model.knobs if not k.startswith("NNBRT_MCU_NO_") or k == FORM_KNOBS["pool"]]
    knobs += [k for f, k in FORM_KNOBS.items() if f != "pool"]
    make(out, "CFLAGS=-O1", "KNOBS=" + " ".join(f"-D{k}" for k in knobs))
    n_in = sum(1 for k in range(8) if os.path.exists(os.path.join(ZOO, f"{name}.in{k}.npy")))
    ins = [os.path.join(ZOO, f"{name}.in{k}.npy") for k in range(n_in)]
    r = subprocess.run([os.path.join(out, f"{name}_example"), *ins, "-o", str(tmp_path / "res")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for k, ref in enumerate(zoo_outputs(name)):
        y = np.load(str(tmp_path / f"res.out{k}.npy"))
        assert_close_to_nnabla(y, ref, f"{name} with every conv_mcu.c form left out, output {k}")
