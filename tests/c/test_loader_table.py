"""Where nnbrt_init keeps its data-flow table (5 words a variable, issue 13's Cortex-M4 arena line).

The table lives during init over the private storage and the tensor plan (both unused then, zeroed again
after it) and spills into the kernel scratch only for the part they cannot hold; so a network whose kernels
need no scratch asks for no scratch at all (63 bytes of alignment slack) however many variables it has, and
the runtime's figures (`nnbrt info`, nnbrt_get_arena_info) add up. Checked on hand-made extended NNB files
(chains of ReLUs, which need no kernel scratch): a table that fits, a table bigger than storage and tensors
together (the spill), both run to numpy's answer in the default and the ASan/UBSan builds (the arena there is
malloc'ed to the exact size, so a table past its end is reported), and the input storage reads zero after
init over an arena full of garbage (nnbrt_init's promise). The data-flow checks themselves (read before
write, live overlap) are test_loader_semantics.py's cases, which run against the table in its new place.
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from layer_runs import write_run_files
from nnb_writer import write_nnb
from test_c_runtime import _build

RELU = (14, "B", [False])
SLACK = 63  # the runtime's alignment slack, counted in its scratch figure


@pytest.fixture(scope="module")
def builds():
    return {"normal": _build(False), "san": _build(True)}


def _chain(n: int, width: int, in_place: bool) -> bytes:
    """x -> ReLU -> ... (n ReLUs) -> y on a [1, width] float tensor; in place (every tensor at offset 0) or
    alternating between two planned slots."""
    vs = [([1, width], None)] * (n + 1)
    fns = [(*RELU, [k], [k + 1]) for k in range(n)]
    slot = (width * 4 + 63) // 64 * 64
    plan = {k: 0 if in_place else (k % 2) * slot for k in range(1, n + 1)}
    return write_nnb(vs, fns, [0], [n], plan=plan)


def _info(bindir, tmp_path, image: bytes) -> dict[str, int]:
    model, _ = write_run_files(tmp_path, image, [])
    r = subprocess.run([str(bindir / "nnbrt"), "info", model], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    m = re.search(r"arena bytes: (\d+) = tables (\d+) \+ inputs/outputs (\d+) \+ tensors (\d+) \+ kernel scratch "
                  r"(\d+) \+ packed weights (\d+)", r.stdout)
    assert m, r.stdout
    return dict(zip(("total", "tables", "io", "tensors", "scratch", "packed"), map(int, m.groups())))


def _run(bindir, tmp_path, image: bytes, x: np.ndarray) -> np.ndarray:
    model, args = write_run_files(tmp_path, image, [x])
    r = subprocess.run([str(bindir / "nnbrt"), "run", model, *args, "-o", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r.stderr
    return np.fromfile(tmp_path / "out0.bin", "<f4")


@pytest.mark.parametrize("n, width, in_place, spills", [(30, 64, False, False), (100, 4, True, True)])
def test_table_costs_no_scratch_unless_it_spills(builds, tmp_path, n: int, width: int, in_place: bool,
                                                 spills: bool) -> None:
    image = _chain(n, width, in_place)
    table = (20 * (n + 1) + 63) // 64 * 64  # the table, 64-aligned as the loader lays it out
    x = np.linspace(-3, 3, width, dtype=np.float32)
    for name, bindir in builds.items():
        a = _info(bindir, tmp_path, image)
        assert a["total"] == a["tables"] + a["io"] + a["tensors"] + a["scratch"] + a["packed"], (name, a)
        held = a["io"] + a["tensors"]  # what the table may use before the scratch (both 64-aligned)
        assert (table > held) == spills, (name, a, table)
        # no kernel scratch: the scratch is the slack plus the part of the table storage and tensors cannot hold
        assert a["scratch"] == SLACK + max(0, table - held), (name, a, table)
        np.testing.assert_array_equal(_run(bindir, tmp_path, image, x), np.maximum(x, 0), err_msg=name)


def test_input_storage_zero_after_init_over_garbage() -> None:
    """The table is written over the input's private storage during init: nnbrt_init zeroes it again."""
    from nnb.backends.c import _library

    _build(False)
    ffi, lib = _library("")
    image = np.frombuffer(_chain(30, 64, False) + b"\0" * 16, np.uint8).copy()
    n = len(image) - 16
    need = ffi.new("size_t *")
    assert lib.nnbrt_arena_size(ffi.from_buffer(image), n, need) == 0
    arena = np.full(int(need[0]) + 64, 0xAB, np.uint8)  # garbage, as a reused buffer would hold
    pnet = ffi.new("nnbrt_net **")
    assert lib.nnbrt_init(pnet, ffi.from_buffer(image), n, ffi.from_buffer(arena), len(arena)) == 0
    data, shape, ndim = ffi.new("float **"), ffi.new("int32_t **"), ffi.new("int *")
    assert lib.nnbrt_input(pnet[0], 0, data, shape, ndim) == 0
    x = np.frombuffer(ffi.buffer(data[0], 4 * 64), np.float32)
    assert not x.any(), "input storage is not zero after init"
    x[:] = np.linspace(-1, 1, 64, dtype=np.float32)
    assert lib.nnbrt_run(pnet[0]) == 0
    assert lib.nnbrt_output(pnet[0], 0, data, shape, ndim) == 0
    np.testing.assert_array_equal(np.frombuffer(ffi.buffer(data[0], 4 * 64), np.float32), np.maximum(x, 0))


PLAN_MODELS = ["lenet", "dscnn", "resnet8"]


@pytest.mark.skipif(not os.environ.get("NNB_SCRATCH_PLAN"),
                    reason="opt-in (NNB_SCRATCH_PLAN=1, about 4 min: two more runtime builds): kernel scratch "
                           "placed in the plan's free space, on by default on 32-bit Arm only (the boards tests "
                           "run it there)")
def test_scratch_in_plan_on_the_host(builds, tmp_path) -> None:
    """-DNNBRT_SCRATCH_IN_PLAN=1 on the host (normal and ASan/UBSan builds): every zoo model in the extended
    format and its calibrated int8 NNB give the default build's outputs bit for bit, and never ask for more
    kernel scratch; the float dscnn's scratch goes almost all into its plan."""
    from test_c_runtime import CRT, ZOO

    from nnb.emit.convert import convert, convert_int8
    from nnb.nnp.reader import load

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "int8"))
    from int8_quant_helpers import calibrated

    plan = {}  # each against the default build of the same kind (-O1 sanitized floats round differently)
    for name, san in (("build-plan", False), ("build-plan-san", True)):
        args = ["make", "-C", str(CRT), "-j2", f"BUILD={name}", "CFLAGS=-DNNBRT_SCRATCH_IN_PLAN=1",
                f"{name}/nnbrt"] + (["SAN=1"] if san else [])
        r = subprocess.run(args, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        plan[name] = (CRT / name, builds["san" if san else "normal"])
    for model in PLAN_MODELS:
        m, xs, _ = calibrated(model)
        for kind, image in (("float", convert(load(str(ZOO / f"{model}.nnp")), "extended").image),
                            ("int8", convert_int8(m).image)):
            x = np.asarray(xs[0], np.float32).reshape(-1)
            for name, (bindir, default) in plan.items():
                want, base = _run(default, tmp_path, image, x), _info(default, tmp_path, image)
                np.testing.assert_array_equal(_run(bindir, tmp_path, image, x), want, err_msg=f"{model} {kind} {name}")
                a = _info(bindir, tmp_path, image)
                assert a["scratch"] <= base["scratch"], (model, kind, name, a, base)
                if model == "dscnn" and kind == "float":
                    assert a["scratch"] < base["scratch"] // 4, (a, base)
