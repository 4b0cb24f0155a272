"""The emitted C under AddressSanitizer + UndefinedBehaviorSanitizer, with the caller's arena: unet_tiny
(convolution, deconvolution, pooling, concatenation, arena reuse) by default, every zoo model with
NNB_EMITC_SAN_ALL=1."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from conftest import ZOO, assert_close_to_nnabla, zoo_inputs, zoo_names, zoo_outputs
from emitc_helpers import host_cc, make

from nnb.emit.csource import emit_c

SAN = "-fsanitize=address,undefined -fno-sanitize-recover=all"
MODELS = zoo_names() if os.environ.get("NNB_EMITC_SAN_ALL") else ["unet_tiny"]


@pytest.mark.parametrize("name", MODELS)
def test_emitted_example_is_sanitizer_clean(tmp_path, name: str) -> None:
    host_cc()
    out = str(tmp_path / name)
    emit_c(os.path.join(ZOO, f"{name}.nnp"), out, prefix="m", arena="caller")
    make(out, f"CFLAGS=-O1 -g -fno-omit-frame-pointer {SAN}", f"LDFLAGS={SAN}")
    ins = [os.path.join(ZOO, f"{name}.in{k}.npy") for k in range(len(zoo_inputs(name)))]
    r = subprocess.run([os.path.join(out, "m_example"), *ins, "-o", str(tmp_path / "r")], capture_output=True,
                       text=True, env={**os.environ, "ASAN_OPTIONS": "detect_leaks=0"})
    assert r.returncode == 0 and "runtime error" not in r.stderr, r.stderr[-2000:]
    for k, ref in enumerate(zoo_outputs(name)):
        assert_close_to_nnabla(np.load(str(tmp_path / f"r.out{k}.npy")), ref, f"{name} output {k}")
