"""Shared by the kernel-form tests that put many random FusedConv layers in one extended NNB and run it
through `nnbrt run` in several builds (test_gemm_big.py, test_dw_stride2.py, test_conv_s2direct.py, test_conv_s1.py,
test_conv_r8wino.py): the builds and ISA levels, the fused-convolution reference and record arguments, the module
fixture of random layers (layers_fixture), the per-build parametrization (over_builds) and the run-and-compare.
"""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from test_c_runtime import _build

FUSED_CODE = "iiIiIiIiBiiIiIiIBBiBB"  # FusedConv's argument codes
ACTS = {"": 0, "relu": 1, "relu6": 2}
ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
           UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")


def builds() -> list:
    """((name, build function), NNBRT_ISA) pairs: the default build at three ISA levels, REF, ASan/UBSan at three."""
    normal = ("normal", lambda: _build(False))
    san = ("san", lambda: _build(True))
    return [(normal, ""), (normal, "avx2"), (normal, "base"), (("ref", lambda: _build(False, ref=True)), ""),
            (san, ""), (san, "avx2"), (san, "base")]


def build_params() -> tuple[list, list]:
    """pytest.mark.parametrize("build,isa", ...) arguments and ids over builds()."""
    bs = builds()
    return [(b[0], i) for b, i in bs], [f"{b[0]}{'-' + i if i else ''}" for b, i in bs]


def build_dir(name: str):  # noqa: ANN201 - a Path
    return dict(b for b, _ in builds())[name]()


def fused_layer(case: dict, x: np.ndarray, wt: np.ndarray, group: int, rng: np.random.Generator,
                pool: bool = False) -> tuple:
    """(bias, residual, reference output, FusedConv record arguments) of one random case: ``case`` holds p, s,
    d, act, residual, bias (bool); ``pool`` adds a 2x2/2 max pool."""
    from nnb.ops import get_op
    from nnb.ops.fused import fused_conv

    b = rng.standard_normal(wt.shape[0]).astype(np.float32) if case["bias"] else None
    pl = dict(pool="max", pool_kernel=[2, 2], pool_stride=[2, 2], pool_pad=[0, 0]) if pool else {}
    a = get_op("FusedConv").normalize(dict(pad=case["p"], stride=list(case["s"]), dilation=case["d"], group=group,
                                           activation=case["act"], residual=case["residual"],
                                           has_bias=case["bias"], **pl))
    (y0,) = fused_conv([x, wt] + ([b] if b is not None else []), {**a, "residual": False})
    res = rng.standard_normal(y0.shape).astype(np.float32) if case["residual"] else None
    (y,) = fused_conv([x, wt] + ([b] if b is not None else []) + ([res] if res is not None else []), a)
    args = [1, list(a["pad"]), list(a["stride"]), list(a["dilation"]), group, False, int(pool),
            [2, 2] if pool else [], [2, 2] if pool else [], [0, 0] if pool else [], True, False,
            ACTS[case["act"]], case["residual"], case["bias"]]
    return b, res, y, args


def write_run_files(tmp_path, image: bytes, inputs: list) -> tuple[str, list[str]]:  # noqa: ANN001
    """``image`` as tmp_path/m.nnb and each input as tmp_path/in<k>.bin (float32): the paths `nnbrt run` takes."""
    model = tmp_path / "m.nnb"
    model.write_bytes(image)
    files = []
    for k, x in enumerate(inputs):
        p = tmp_path / f"in{k}.bin"
        np.asarray(x, "<f4").tofile(p)
        files.append(str(p))
    return str(model), files


def run_random_kernels(bindir, tmp_path) -> int:  # noqa: ANN001
    """test_kernels_random's random convolution/pooling/affine geometries through ``bindir``'s nnbrt: each output
    within 1e-4 * max(1, max|ref|) of numpy's, no sanitizer report. Returns how many cases ran."""
    from test_kernels_random import _cases, _model

    n = 0
    for case in _cases():
        m = _model(case)
        if m is None:
            continue
        nnb, x, ref = m
        model_path, files = write_run_files(tmp_path, nnb, [x])
        r = subprocess.run([str(bindir / "nnbrt"), "run", model_path, *files, "-o", str(tmp_path / "y")],
                           capture_output=True, text=True, env=ENV)
        assert r.returncode == 0 and "runtime error" not in r.stderr, (case, r.stderr)
        got = np.fromfile(tmp_path / "y0.bin", "<f4")
        err = float(np.max(np.abs(got - ref.reshape(-1))))
        assert err <= 1e-4 * max(1.0, float(np.max(np.abs(ref)))), (case, err)
        n += 1
    return n


def run_layers(bindir, isa: str, model: tuple, tmp_path, what: str, tol: float = 2e-5) -> None:  # noqa: ANN001
    """Run ``model`` = (image, inputs, references, names) with ``nnbrt run`` (NNBRT_ISA=isa): no sanitizer
    report, and every output within ``tol`` * max(1, max|ref|) of its reference."""
    image, ins, refs, names = model
    model_path, files = write_run_files(tmp_path, image, ins)
    prefix = str(tmp_path / "out")
    r = subprocess.run([str(bindir / "nnbrt"), "run", model_path, *files, "-o", prefix, "-t", "2"],
                       capture_output=True, text=True, env=dict(ENV, NNBRT_ISA=isa))
    assert r.returncode == 0 and "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr[-3000:]
    for k, ref in enumerate(refs):
        got = np.fromfile(f"{prefix}{k}.bin", dtype="<f4")
        assert got.size == ref.size, names[k]
        err = float(np.max(np.abs(got - ref.reshape(-1))))
        assert err <= tol * max(1.0, float(np.max(np.abs(ref)))), f"{what}: {names[k]}: max abs err {err:g}"


def layers_image(layers: list) -> tuple:
    """Layers (case, x, wt, bias, residual, y, args) as one extended NNB: (image, inputs, references, names).
    Each layer reads its own network input, or (case["inplace"]) a copy of it in the arena that its output
    overwrites; a residual is copied into the arena (MulScalar 1.0), and case["alias_res"] lets the output
    overwrite it."""
    from nnb_writer import write_nnb

    variables, functions, inputs, outputs, plan = [], [], [], [], {}
    ins, refs, names = [], [], []
    top = 64

    def region(nfloats: int) -> int:
        nonlocal top
        off = top
        top += (4 * nfloats + 63) // 64 * 64 + 64
        return off

    def var(shape, data=None) -> int:  # noqa: ANN001
        variables.append((list(shape), data))
        return len(variables) - 1

    for i, (case, x, wt, b, res, y, args) in enumerate(layers):
        inplace = case.get("inplace", False)
        xin = var(x.shape)
        inputs.append(xin)
        ins.append(x)
        fn_ins = [xin, var(wt.shape, wt.reshape(-1))] + ([var(b.shape, b)] if b is not None else [])
        if inplace:
            buf = var(x.shape)
            plan[buf] = region(x.size)
            functions.append((38, "f", [1.0], [xin], [buf]))
            fn_ins[0] = buf
        if res is not None:
            rin = var(res.shape)
            inputs.append(rin)
            ins.append(res)
            rbuf = var(res.shape)
            plan[rbuf] = region(res.size)
            functions.append((38, "f", [1.0], [rin], [rbuf]))
            fn_ins.append(rbuf)
        out = var(y.shape)
        plan[out] = (plan[fn_ins[0]] if inplace else
                     plan[fn_ins[-1]] if res is not None and case["alias_res"] else region(y.size))
        functions.append((1000, FUSED_CODE, args, fn_ins, [out]))
        outputs.append(out)
        refs.append(y)
        names.append(f"case {i}: {case}")
    image = write_nnb(variables, functions, inputs, outputs, plan=plan, arena_bytes=top + 64)
    return image, ins, refs, names


def conv_layer(case: dict, rng: np.random.Generator, scale: float, group: int = 1, pool: bool = False) -> tuple:
    """(x, wt, bias, residual, reference output, record arguments) of one random convolution: ``case`` holds n,
    c, h, w, oc, k (c and oc are totals, groups included) and fused_layer's keys; weights * ``scale``."""
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(np.float32)
    wt = (rng.standard_normal((case["oc"], case["c"] // group) + case["k"]) * scale).astype(np.float32)
    return (x, wt, *fused_layer(case, x, wt, group, rng, pool=pool))


def random_layers(rng: np.random.Generator, n: int, case_fn, layer_fn) -> list:  # noqa: ANN001
    """``n`` layers (case, x, wt, b, res, y, args) in drawing order: case_fn(rng, i), then layer_fn(case, rng)."""
    layers = []
    for i in range(n):
        case = case_fn(rng, i)
        layers.append((case, *layer_fn(case, rng)))
    return layers


def run_build(build: str, isa: str, model: tuple, tmp_path, tol: float = 2e-5) -> None:  # noqa: ANN001
    """run_layers in builds()'s ``build`` at NNBRT_ISA=isa, errors named "{build} {isa}"."""
    run_layers(build_dir(build), isa, model, tmp_path, f"{build} {isa}", tol=tol)


def conv_layers(scale: float):  # noqa: ANN201 - a layer_fn for random_layers
    """random_layers' layer_fn drawing a dense convolution (conv_layer) with weights * ``scale``."""
    return lambda case, rng: conv_layer(case, rng, scale)


def layers_fixture(seed: int, n: int, case_fn, layer_fn):  # noqa: ANN001, ANN201 - a pytest fixture
    """A module-scoped fixture named ``model`` (assign it to ``model`` in the test module): ``n`` random layers
    drawn from seed ``seed`` (random_layers) as one extended NNB: (image, inputs, references, case descriptions)."""

    def model() -> tuple:
        return layers_image(random_layers(np.random.default_rng(seed), n, case_fn, layer_fn))

    return pytest.fixture(scope="module", name="model")(model)


def over_builds():  # noqa: ANN201 - a pytest mark
    """pytest.mark.parametrize over builds() as ("build", "isa") with readable ids, for tests calling run_build."""
    values, ids = build_params()
    return pytest.mark.parametrize("build,isa", values, ids=ids)
