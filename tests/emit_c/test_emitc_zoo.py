"""Every zoo model through `nnb run --backend emit-c` (emit, compile with -Werror, run) matches nnabla."""

from __future__ import annotations

import os

import pytest
from conftest import ZOO, assert_close_to_nnabla, zoo_inputs, zoo_names, zoo_outputs
from emitc_helpers import host_cc

from nnb.backends import get_runner
from nnb.model import load_model


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_model_through_emit_c_backend(name: str) -> None:
    host_cc()
    path = os.path.join(ZOO, f"{name}.nnp")
    g = load_model(path)
    outs = get_runner("emit-c")(path, g, dict(zip(g.inputs, zoo_inputs(name))), {})
    refs = zoo_outputs(name)
    assert len(outs) == len(refs)
    for k, (oname, ref) in enumerate(zip(g.outputs, refs)):
        assert_close_to_nnabla(outs[oname].reshape(ref.shape), ref, f"{name} output {k} ({oname})")
