"""An int8 NNB as Cortex-M4 firmware (QEMU mps2-an386, the runtime built with the int8 kernels): its integer
tensors equal the host C runtime's and the integer simulation's bit for bit."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from int8_quant_helpers import fmnist_model

from nnb.emit.nnb_int8 import write_int8_nnb
from nnb.quantize.int_sim import run_int8

MISSING = next((f"{t} (apt-get install {p})" for t, p in (("arm-none-eabi-gcc", "gcc-arm-none-eabi"),
                                                          ("qemu-system-arm", "qemu-system-arm"))
                if shutil.which(t) is None), None)


@pytest.mark.skipif(MISSING is not None, reason=f"the firmware test needs the cross tools: {MISSING}")
def test_int8_lenet_on_cortex_m4_equals_host(tmp_path) -> None:  # noqa: ANN001
    from nnb.backends.c import CNet
    from nnb.boards.run import run_on_board

    m, x = fmnist_model("lenet")
    x = x[:1]
    ints = [s.output for s in m.steps if s.kind == "int"]
    image, d, _ = write_int8_nnb(m, extra_outputs=tuple(ints))
    path = tmp_path / "lenet_int8.nnb"
    path.write_bytes(image)
    outs, report = run_on_board(str(path), "qemu-mps2-an386", [x])
    board = dict(zip(d.outputs, outs.values()))  # in file order (the reader names them without "@dq")
    host = dict(zip(d.outputs, CNet(image).run([x])))
    sim = run_int8(m, [x], keep=ints)
    islands = {o for s in m.steps if s.kind == "island" for o in s.node.outputs}
    for key in d.outputs:
        t = key[:-3] if key.endswith("@dq") else key
        b, h, s = board[key], host[key], sim[t]
        if t in islands:  # Softmax: the board's libm vs the host's, to float rounding
            np.testing.assert_allclose(b.reshape(s.shape), s, rtol=1e-5, atol=1e-6)
            continue
        assert np.array_equal(b, h), f"{t}: board and host differ"
        assert np.array_equal(b.reshape(s.shape), s), f"{t}: board and simulation differ"
    assert report.run_count > 0
