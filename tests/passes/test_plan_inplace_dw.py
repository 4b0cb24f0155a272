"""In-place depthwise convolution: the planner puts the output over the input,
the C runtime (default, REF and ASan/UBSan builds) computes the same values."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from canon_helpers import builder, rand
from conftest import ROOT, SHARED

from nnb import executor
from nnb.emit.convert import convert
from nnb.ir import Graph
from nnb.model import load_model
from nnb.passes import optimize
from nnb.plan.arena import check_plan, plan_arena

CRT = os.path.join(ROOT, "c_runtime")
MBV2 = os.path.join(SHARED, "fixtures", "imported", "mbv2.nnp")
ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="halt_on_error=1")


def _block(shape: tuple[int, ...], stride: int, batch: int = 2) -> Graph:
    """1x1 expand -> ReLU6, depthwise (stride) -> ReLU6 with bias, 1x1 project: an inverted-residual body."""
    c = shape[0]
    nsp = len(shape) - 1
    b = builder("dwblock")
    x = b.input("x", (batch,) + shape)
    e = b.op("ReLU6", [b.op("Convolution", [x, b.param("we", rand(2 * c, c, *(1,) * nsp))])])
    d = b.op("ReLU6", [b.op("DepthwiseConvolution", [e, b.param("wd", rand(2 * c, *(3,) * nsp)),
                                                       b.param("bd", rand(2 * c))],
                            pad=(1,) * nsp, stride=(stride,) * nsp)])
    b.output(b.op("Convolution", [d, b.param("wp", rand(c, 2 * c, *(1,) * nsp))]))
    return b.build()


def test_mbv2_arena_with_inplace_depthwise() -> None:
    if not os.path.exists(MBV2):
        pytest.skip(f"fixture {MBV2} is missing")
    g = optimize(load_model(MBV2))
    plan = plan_arena(g)
    check_plan(g, plan)
    assert plan.arena_bytes <= 84_000 < plan_arena(g, inplace_dw=False).arena_bytes
    dw = [n for n in g.nodes if n.op == "FusedConv" and n.attrs["group"] > 1]
    assert dw and all(plan.offsets[n.outputs[0]] == plan.offsets[n.inputs[0]] for n in dw)


@pytest.mark.parametrize("shape,stride", [((4, 9, 7), 1), ((4, 9, 7), 2), ((3, 17), 2)])
def test_planner_aliases_depthwise(shape: tuple[int, ...], stride: int) -> None:
    g = optimize(_block(shape, stride))
    plan = plan_arena(g)
    check_plan(g, plan)
    dw = next(n for n in g.nodes if n.op == "FusedConv" and n.attrs["group"] > 1)
    assert plan.aliases.get(dw.outputs[0]) == dw.inputs[0]


def _make(variant: str) -> str:
    if shutil.which("make") is None or shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("make or a C compiler is missing")
    r = subprocess.run(["make", "-C", CRT, "-s", "-j2"] + ([f"{variant}=1"] if variant else []),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return os.path.join(CRT, {"": "build", "REF": "build-ref", "SAN": "build-san", "SMALL": "build-small"}[variant],
                        "nnbrt")


# default build: blocks of channels (22 channels of 4 KB planes: 5 blocks of 4 and one of 2); SMALL: one plane each
@pytest.mark.parametrize("variant", ["", "REF", "SAN", "SMALL"])
def test_c_runtime_inplace_depthwise(variant: str, tmp_path) -> None:  # noqa: ANN001
    nnbrt = _make(variant)
    cases = [(_block((4, 9, 7), 1), rand(2, 4, 9, 7)), (_block((4, 9, 7), 2), rand(2, 4, 9, 7)),
             (_block((3, 17), 2), rand(2, 3, 17)), (_block((11, 32, 32), 1, batch=1), rand(1, 11, 32, 32))]
    if os.path.exists(MBV2):
        cases.append((load_model(MBV2), np.load(MBV2[:-4] + ".in0.npy")))
    for k, (g, x) in enumerate(cases):
        conv = convert(g, "extended")
        assert conv.arena is not None and conv.arena.aliases, "no in-place step in the plan"
        model, xin, out = tmp_path / f"m{k}.nnb", tmp_path / f"x{k}.bin", tmp_path / f"y{k}_"
        model.write_bytes(conv.image)
        np.asarray(x, "<f4").tofile(xin)
        r = subprocess.run([nnbrt, "run", str(model), str(xin), "-o", str(out)], capture_output=True, text=True,
                           env=ENV)
        assert r.returncode == 0 and "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
        ref = next(iter(executor.run(g, [x]).values()))
        got = np.fromfile(f"{out}0.bin", dtype="<f4").reshape(ref.shape)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * max(1.0, float(np.abs(ref).max())))


def test_network_output_never_overwritten_in_place() -> None:
    """The last function may not write over a network output it reads (found by an ONNX Identity output)."""
    b = builder("outs")
    x = b.input("x", (2, 3))
    r = b.op("ReLU", [x])
    b.output(b.op("Identity", [r]))
    b.output(r)
    g = b.build()
    plan = plan_arena(g)
    assert r not in plan.aliases.values() and plan.offsets[r] != plan.offsets[g.outputs[0]]
