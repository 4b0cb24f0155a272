"""nnb's extended NNB format (version 1001) in the C runtime.

- every zoo model converted with ``convert(load(nnp), "extended")`` run
  through the normal, reference (REF=1) and sanitizer builds;
- FusedConv (id 1000) against nnb's numpy reference (nnb/ops/fused.py):
  pool kinds, strides, padding, narrow and wide outputs, residual aliasing;
- in-place aliasing of elementwise kernels (broadcasting included);
- plans the loader must refuse (out of range, misaligned, bad aliasing);
- the mutation fuzzer seeded with the extended zoo images.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from layer_runs import ENV, run_random_kernels, write_run_files
from nnb_writer import write_nnb
from test_c_runtime import ZOO, _build

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

BUILDS = ["normal", "normal-avx2", "normal-base", "ref", "san", "native"]


class Bin(Path("").__class__):
    """A build directory; ``isa`` forces the run-time dispatch of the default x86-64 build
    (NNBRT_ISA), so its AVX2 and SSE2 variants are tested on an AVX-512 machine too."""

    isa = ""


def _isa_build(path, isa):
    b = Bin(path)
    b.isa = isa
    return b


@pytest.fixture(scope="session")
def bindirs():
    normal = _build(False)
    return {"normal": normal, "normal-avx2": _isa_build(normal, "avx2"), "normal-base": _isa_build(normal, "base"),
            "ref": _build(False, ref=True), "san": _build(True), "native": _build(False, native=True)}


def _manifest():
    p = ZOO / "manifest.json"
    return json.load(open(p))["models"] if p.exists() else {}


def _run_cli(bindir, image, inputs, tmp_path, expect_ok=True):
    model, ins = write_run_files(tmp_path, image, inputs)
    prefix = str(tmp_path / "out")
    env = dict(ENV, NNBRT_ISA=getattr(bindir, "isa", ""))
    r = subprocess.run([str(bindir / "nnbrt"), "run", model, *ins, "-o", prefix, "-t", "2"],
                       capture_output=True, text=True, env=env)
    assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r.stderr
    if not expect_ok:
        assert r.returncode > 0, r.stderr
        return r.stderr
    assert r.returncode == 0, r.stderr
    return prefix


def _check_outputs(prefix, refs, what):
    for k, ref in enumerate(refs):
        ref = np.asarray(ref, np.float32)
        got = np.fromfile(f"{prefix}{k}.bin", dtype="<f4")
        assert got.size == ref.size, (what, k, got.size, ref.size)
        err = float(np.max(np.abs(got - ref.reshape(-1)))) if ref.size else 0.0
        tol = 1e-5 * max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
        assert err <= tol, f"{what} output {k}: max abs err {err:g} > {tol:g}"


_IMAGES = {}


def _extended_image(name):
    if name not in _IMAGES:
        from nnb.emit.convert import convert
        from nnb.nnp.reader import load
        _IMAGES[name] = convert(load(str(ZOO / f"{name}.nnp")), "extended").image
    return _IMAGES[name]


def _zoo_io(name):
    """(inputs, nnabla's outputs) of zoo model ``name``."""
    spec = _manifest()[name]
    return ([np.load(ZOO / f"{name}.in{k}.npy") for k in range(len(spec["inputs"]))],
            [np.load(ZOO / f"{name}.out{k}.npy") for k in range(len(spec["outputs"]))])


def check_zoo_extended(bindir, name, tmp_path, label):
    """Zoo model ``name`` converted to the extended format, run by ``bindir``'s nnbrt, against nnabla."""
    ins, refs = _zoo_io(name)
    _check_outputs(_run_cli(bindir, _extended_image(name), ins, tmp_path), refs, f"{name} ({label})")


def check_fused(bindir, case, alias, tmp_path, label):
    """FusedConv ``case`` (FUSED_PARAMS) run by ``bindir``'s nnbrt, against nnb's numpy reference."""
    image, ins, refs = _fused_model(case, alias)
    _check_outputs(_run_cli(bindir, image, ins, tmp_path), refs, f"FusedConv {case} ({label})")


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("name", sorted(_manifest()))
def test_zoo_extended(bindirs, build, name, tmp_path):
    assert int.from_bytes(_extended_image(name)[:4], "little") == 1001
    check_zoo_extended(bindirs[build], name, tmp_path, build)


# ---- FusedConv against nnb's numpy reference ------------------------------------------------

FUSED_CODE = "iiIiIiIiBiiIiIiIBBiBB"
POOLS = {"": 0, "max": 1, "average": 2}
ACTS = {"": 0, "relu": 1, "relu6": 2}

FUSED_CASES = {
    # name: (x shape, oc, kernel, conv attrs, pool attrs, act, residual, has_bias)
    "plain_relu": ((1, 3, 9, 11), 5, (3, 3), dict(pad=[1, 1]), None, "relu", False, True),
    "nobias_relu6": ((2, 4, 10, 20), 6, (3, 3), dict(pad=[1, 1]), None, "relu6", False, False),
    "max2x2": ((1, 3, 12, 20), 8, (3, 3), dict(pad=[1, 1]), dict(pool="max", pool_kernel=[2, 2]), "relu",
               False, True),
    "max3x3s2pad": ((1, 2, 13, 17), 4, (3, 3), dict(pad=[1, 1]),
                    dict(pool="max", pool_kernel=[3, 3], pool_stride=[2, 2], pool_pad=[1, 1]), "", False, True),
    "max_no_ignore_border": ((1, 2, 11, 13), 5, (3, 3), dict(),
                             dict(pool="max", pool_kernel=[2, 2], pool_ignore_border=False), "relu", False, True),
    "avg_incl_pad": ((1, 3, 10, 10), 4, (3, 3), dict(pad=[1, 1]),
                     dict(pool="average", pool_kernel=[3, 3], pool_stride=[2, 2], pool_pad=[1, 1]), "", False,
                     True),
    "avg_excl_pad": ((1, 3, 10, 10), 4, (3, 3), dict(pad=[1, 1]),
                     dict(pool="average", pool_kernel=[3, 3], pool_stride=[2, 2], pool_pad=[1, 1],
                          pool_including_pad=False), "relu6", False, True),
    "avg_no_ignore_border": ((1, 3, 9, 11), 3, (1, 1), dict(),
                             dict(pool="average", pool_kernel=[2, 2], pool_ignore_border=False), "", False, True),
    "stride2_residual": ((1, 4, 16, 16), 8, (3, 3), dict(pad=[1, 1], stride=[2, 2]), None, "relu", True, True),
    "residual_1x1": ((1, 8, 6, 6), 8, (1, 1), dict(), None, "relu", True, False),
    "residual_wide": ((1, 5, 7, 37), 6, (3, 3), dict(pad=[1, 1]), None, "", True, True),
    "residual_pool": ((1, 3, 8, 12), 4, (3, 3), dict(pad=[1, 1]), dict(pool="max", pool_kernel=[2, 2]),
                      "relu", True, True),
    "dilated_group": ((1, 4, 12, 14), 6, (3, 3), dict(pad=[2, 2], dilation=[2, 2], group=2), None, "relu",
                      False, True),
    "narrow_stride3": ((1, 2, 9, 9), 5, (2, 2), dict(stride=[3, 3]), dict(pool="max", pool_kernel=[2, 1]), "",
                       False, True),
    "conv1d_pool": ((1, 3, 30), 4, (5,), dict(pad=[2]), dict(pool="max", pool_kernel=[3], pool_stride=[2]),
                    "relu", True, True),
    "grouped_narrow_relu6": ((1, 4, 7, 6), 8, (3, 3), dict(pad=[1, 1], group=4), None, "relu6", False, True),
    "grouped_wide_residual": ((1, 3, 5, 21), 3, (3, 3), dict(pad=[1, 1], group=3), None, "relu", True, True),
    "grouped_5x3_dilated": ((1, 2, 9, 12), 2, (5, 3), dict(pad=[2, 2], dilation=[1, 2], group=2), None, "", False,
                            False),
    "stride2_narrow_residual": ((1, 3, 11, 9), 4, (3, 3), dict(pad=[1, 1], stride=[2, 2]), None, "relu", True,
                                True),
    "wide_1x1_odd_oc": ((1, 5, 8, 9), 11, (1, 1), dict(), None, "relu6", False, True),
    "wide_1x1_residual": ((2, 6, 7, 11), 6, (1, 1), dict(), None, "relu", True, False),
    "first_layer_c1": ((1, 1, 28, 28), 6, (5, 5), dict(), dict(pool="max", pool_kernel=[2, 2]), "relu", False,
                       True),
    # conv_gemm.c (im2col from phase planes; in-place 1x1) and conv_dwflat.c (flat depthwise)
    "kws_first_10x4_s2": ((1, 1, 49, 10), 12, (10, 4), dict(pad=[5, 1], stride=[2, 2]), None, "relu", False,
                          True),
    "im2col_dil_stride_residual": ((2, 3, 9, 7), 5, (3, 2), dict(pad=[2, 1], stride=[2, 3], dilation=[2, 1]),
                                   None, "relu6", True, True),
    "im2col_1x1_stride2_pad": ((1, 6, 9, 8), 9, (1, 1), dict(pad=[1, 0], stride=[2, 2]), None, "", True, False),
    "pointwise_long_residual": ((2, 8, 5, 13), 8, (1, 1), dict(), None, "relu6", True, True),
    "pointwise_short": ((1, 4, 2, 3), 7, (1, 1), dict(), None, "relu", True, True),
    "pointwise_many_oc": ((1, 16, 9, 9), 21, (1, 1), dict(), None, "relu", False, True),
    "dw_same_residual": ((1, 6, 5, 4), 6, (3, 3), dict(pad=[1, 1], group=6), None, "relu", True, True),
    "dw_mult2_dilated": ((2, 3, 6, 5), 6, (3, 3), dict(pad=[2, 2], dilation=[2, 2], group=3), None, "relu6",
                         True, False),
    "dw_5x5_narrow": ((1, 4, 7, 9), 4, (5, 5), dict(pad=[2, 2], group=4), None, "", False, True),
    "dw_3x1_rows": ((1, 5, 11, 3), 10, (3, 1), dict(pad=[1, 0], group=5), None, "relu", True, True),
}


def _fused_model(case, alias_residual):
    from nnb.ops import get_op
    from nnb.ops.fused import fused_conv
    xs, oc, k, conv, pool, act, residual, has_bias = FUSED_CASES[case]
    rng = np.random.default_rng(abs(hash(case)) % (2**32))
    nsp = len(xs) - 2
    group = conv.get("group", 1)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal((oc, xs[1] // group) + tuple(k)) * 0.3).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32) if has_bias else None
    attrs = dict(conv)
    attrs.setdefault("pad", [0] * nsp)
    attrs.update(pool or {})
    attrs.update(activation=act, residual=residual, has_bias=has_bias)
    a = get_op("FusedConv").normalize(attrs)
    (y0,) = fused_conv([x, w] + ([b] if has_bias else []), {**a, "residual": False})
    res = rng.standard_normal(y0.shape).astype(np.float32) if residual else None
    (y,) = fused_conv([x, w] + ([b] if has_bias else []) + ([res] if residual else []), a)
    # variables: 0 x (input), 1 W, [2 b], [res input, res copy], out
    variables = [(list(x.shape), None), (list(w.shape), w)]
    if has_bias:
        variables.append(([oc], b))
    args = [1, list(a["pad"] or []), list(a["stride"] or []), list(a["dilation"] or []), a["group"], False,
            POOLS[a["pool"]], list(a["pool_kernel"] or []), list(a["pool_stride"] or []),
            list(a["pool_pad"] or []), a["pool_ignore_border"], a["pool_including_pad"], ACTS[a["activation"]],
            residual, has_bias]
    fn_ins = list(range(len(variables)))
    functions, inputs, plan, outs = [], [0], {}, []
    nbytes = 4 * int(y.size)
    if residual:
        # network input r -> MulScalar 1.0 (a copy) into a buffer the conv may overwrite
        rid = len(variables)
        variables.append((list(res.shape), None))
        inputs.append(rid)
        cid = len(variables)
        variables.append((list(res.shape), None))
        plan[cid] = 64
        functions.append((38, "f", [1.0], [rid], [cid]))  # MulScalar (legacy id 38): copy
        fn_ins.append(cid)
    oid = len(variables)
    variables.append((list(y.shape), None))
    plan[oid] = 64 if (residual and alias_residual) else 64 + nbytes + 64
    functions.append((1000, FUSED_CODE, args, fn_ins, [oid]))
    outs.append(oid)
    image = write_nnb(variables, functions, inputs, outs, plan=plan)
    return image, [x] + ([res] if residual else []), [y]


FUSED_PARAMS = [(c, al) for c in FUSED_CASES for al in ([False, True] if FUSED_CASES[c][6] else [False])]


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("case,alias", FUSED_PARAMS, ids=[f"{c}{'-alias' if a else ''}" for c, a in FUSED_PARAMS])
def test_fused_conv(bindirs, build, case, alias, tmp_path):
    check_fused(bindirs[build], case, alias, tmp_path, build)


# ---- in-place aliasing of elementwise kernels ---------------------------------------------------

def _alias_model(kind):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    small = rng.standard_normal((1, 3, 1, 5)).astype(np.float32)
    # v0 input a, v1 input small, v2 = a*1 (buffer at 0), v3 = op(v2, ...) aliased at 0
    variables = [(list(a.shape), None), (list(small.shape), None), (list(a.shape), None), (list(a.shape), None)]
    fns = [(38, "f", [1.0], [0], [2])]
    if kind == "add_bcast_second":
        fns.append((31, "B", [False], [2, 1], [3]))  # Add2(full, bcast) -> over full
        ref = a + small
    elif kind == "sub_bcast_first":
        fns.append((308, "B", [False], [1, 2], [3]))  # Sub2(bcast, full) -> over full (second input)
        ref = small - a
    elif kind == "mul_same":
        fns.append((309, "B", [False], [2, 2], [3]))  # Mul2(x, x) -> over x
        ref = a * a
    else:  # unary
        fns.append((14, "B", [False], [2], [3]))  # ReLU over its input
        ref = np.maximum(a, 0)
    image = write_nnb(variables, fns, [0, 1], [3], plan={2: 0, 3: 0})
    return image, [a, small], [ref]


@pytest.mark.parametrize("kind", ["add_bcast_second", "sub_bcast_first", "mul_same", "relu"])
def test_inplace_elementwise(bindirs, kind, tmp_path):
    image, ins, refs = _alias_model(kind)
    for build in BUILDS:
        prefix = _run_cli(bindirs[build], image, ins, tmp_path)
        _check_outputs(prefix, refs, f"{kind} ({build})")


# ---- plans the loader refuses -------------------------------------------------------------------

def _bad_plans():
    x = [(list((1, 2, 6, 6)), None)]
    w = np.ones((2, 2, 3, 3), np.float32)
    conv = (265, "iiIiIiIiBB", [1, [1, 1], [1, 1], [1, 1], 1, False], [0, 1], [2])
    base = x + [([2, 2, 3, 3], w), ([1, 2, 6, 6], None)]
    cases = {
        "out_of_range": write_nnb(base, [conv], [0], [2], plan={2: 16}, arena_bytes=64),
        "misaligned": write_nnb(base, [conv], [0], [2], plan={2: 2}),
        "negative": write_nnb(base, [conv], [0], [2], plan={2: -8}),
        "bad_magic": write_nnb(base, [conv], [0], [2], plan={2: 0},
                               ext_words=[0x1234, 288, 3, 0, 1, 0, 0, 0]),
        "bad_flags": write_nnb(base, [conv], [0], [2], plan={2: 0},
                               ext_words=[0x58424E4E, 288, 3, 0, 0, 0, 0, 0]),
    }
    # conv output over its own input (a buffer copy of x): not in-place capable
    vs = x + [([2, 2, 3, 3], w), ([1, 2, 6, 6], None), ([1, 2, 6, 6], None)]
    cp = (38, "f", [1.0], [0], [2])
    conv2 = (265, "iiIiIiIiBB", [1, [1, 1], [1, 1], [1, 1], 1, False], [2, 1], [3])
    cases["conv_alias"] = write_nnb(vs, [cp, conv2], [0], [3], plan={2: 0, 3: 0})
    cases["partial_overlap"] = write_nnb(vs, [cp, (38, "f", [2.0], [2], [3])], [0], [3], plan={2: 0, 3: 8})
    cases["write_input"] = write_nnb(vs[:3], [cp, (38, "f", [2.0], [2], [0])], [0], [2], plan={2: 0})
    return cases


@pytest.mark.parametrize("case", sorted(_bad_plans()))
def test_bad_plan(bindirs, case, tmp_path):
    image = _bad_plans()[case]
    for build in ("normal", "san"):
        err = _run_cli(bindirs[build], image, [np.zeros((1, 2, 6, 6), np.float32)], tmp_path, expect_ok=False)
        assert err.startswith("nnbrt:"), err


def test_fuzz_extended(bindirs, tmp_path):
    """Mutation fuzzing of the extended zoo images (plus the FusedConv, fixed-point and SIGN cases) under ASan/UBSan."""
    iters = int(os.environ.get("NNB_FUZZ_ITERS", "5000"))
    seeds = []
    for name in sorted(_manifest()):
        p = tmp_path / f"{name}.ext.nnb"
        p.write_bytes(_extended_image(name))
        seeds.append(str(p))
    for case, alias in FUSED_PARAMS:
        p = tmp_path / f"fused_{case}_{int(alias)}.nnb"
        p.write_bytes(_fused_model(case, alias)[0])
        seeds.append(str(p))
    for version in (2, 3):
        for wt, at in ((1, 1), (2, 2), (1, 2)):
            p = tmp_path / f"fixed_v{version}_{wt}{at}.nnb"
            p.write_bytes(_fixed_model(version, wt, at)[0])
            seeds.append(str(p))
        p = tmp_path / f"sign_v{version}.nnb"
        p.write_bytes(_sign_model(version)[0])
        seeds.append(str(p))
    procs = [subprocess.Popen([str(bindirs["san"] / "fuzz_nnb"), "-n", str((iters + k) // 2), "-m", "1000000",
                               "-s", str(2000 + k), *seeds],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
             for k in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=3600)
        assert p.returncode == 0, out[-3000:] + err[-3000:]
        print(out.strip().splitlines()[-1])


# ---- per-model kernel tables and the Cortex-M4 build -------------------------------------------

CRT = REPO / "c_runtime"


def test_generated_kernel_table(bindirs, tmp_path):
    """A table listing only lenet's kernels: link with --gc-sections, run lenet, refuse other models."""
    import shutil
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    model = tmp_path / "lenet.nnb"
    model.write_bytes(_extended_image("lenet"))
    table = tmp_path / "kt.c"
    r = subprocess.run([sys.executable, str(CRT / "tools" / "gen_kernel_table.py"), "-o", str(table), str(model)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    srcs = [str(p) for p in sorted((CRT / "src").rglob("*.c"))
            if p.name != "kernel_table.c" and "opencl" not in p.parts]  # src/opencl: the OpenCL host, not the runtime
    exe = tmp_path / "nnbrt_lenet"
    r = subprocess.run([cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-ffunction-sections",
                        "-fdata-sections", "-Wl,--gc-sections", f"-I{CRT / 'include'}", f"-I{CRT / 'src'}",
                        str(table), *srcs, str(CRT / "tools" / "nnbrt.c"), "-lm", "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    ins, refs = _zoo_io("lenet")
    os.symlink(exe, tmp_path / "nnbrt")
    prefix = _run_cli(tmp_path, _extended_image("lenet"), ins, tmp_path)
    _check_outputs(prefix, refs, "lenet (generated kernel table)")
    err = _run_cli(tmp_path, _extended_image("dscnn"), [np.zeros((1, 1, 49, 10), np.float32)], tmp_path,
                   expect_ok=False)
    assert "unsupported function" in err, err


SMALL_FLAGS = {
    # the microcontroller configuration (Makefile cortex-m4): no vector extension, no padded planes, no im2col
    "plain": ["-DNNBRT_NO_VECTOR_EXT", "-DNNBRT_PLANE_MAX=0", "-DNNBRT_GEMM_IM2COL_MAX=0",
              "-DNNBRT_DECONV_GEMM_MAX=0"],
    # vector tiles without padded planes (row pointers, as for big maps)
    "rows": ["-DNNBRT_PLANE_MAX=0"],
    # the row-tiled engine alone on narrow maps (conv_gemm.c im2col and conv_dwflat.c off), deconvolution
    # scattered plane by plane (its GEMM form off)
    "engine": ["-DNNBRT_GEMM_IM2COL_MAX=0", "-DNNBRT_DWFLAT_MAX=0", "-DNNBRT_DECONV_GEMM_MAX=0"],
}


def sanitized_nnbrt(tmp_path_factory, name: str, flags: list[str],  # noqa: ANN001
                    srcs: list[Path] | None = None) -> Path:
    """A directory holding the nnbrt CLI built for the host with ASan/UBSan (-O1, -Werror) and ``flags`` from
    ``srcs`` (default: every runtime source but the OpenCL host); skips when there is no C compiler. Also used
    by test_mcu_kernels.py."""
    import shutil
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler found (install gcc)")
    d = tmp_path_factory.mktemp(name)
    if srcs is None:
        srcs = [p for p in sorted((CRT / "src").rglob("*.c")) if "opencl" not in p.parts]
    r = subprocess.run([cc, "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pedantic",
                        "-fsanitize=address,undefined", "-fno-sanitize-recover=all", *flags,
                        f"-I{CRT / 'include'}", f"-I{CRT / 'src'}", *map(str, srcs), str(CRT / "tools" / "nnbrt.c"),
                        "-lm", "-o", str(d / "nnbrt")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return d


@pytest.fixture(scope="session", params=sorted(SMALL_FLAGS))
def small_build(request, tmp_path_factory):
    """Host builds (ASan/UBSan) of the kernel paths the default build does not take (SMALL_FLAGS)."""
    return sanitized_nnbrt(tmp_path_factory, "small_" + request.param, SMALL_FLAGS[request.param])


@pytest.mark.parametrize("name", sorted(_manifest()))
def test_zoo_extended_small_build(small_build, name, tmp_path):
    check_zoo_extended(small_build, name, tmp_path, "small build")


@pytest.mark.parametrize("case,alias", FUSED_PARAMS, ids=[f"{c}{'-alias' if a else ''}" for c, a in FUSED_PARAMS])
def test_fused_conv_small_build(small_build, case, alias, tmp_path):
    check_fused(small_build, case, alias, tmp_path, "small build")


def test_cortex_m4_sizes(tmp_path):
    import shutil
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed (`make cross` installs it)")
    model = tmp_path / "lenet.nnb"
    model.write_bytes(_extended_image("lenet"))
    r = subprocess.run(["make", "-C", str(CRT), "-s", "-j2", "cortex-m4", f"MODEL={model}"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    print(r.stdout)
    import re
    m = re.search(r"runtime core \(loader \+ dispatch, no kernels\) (\d+)", r.stdout)
    assert m and int(m.group(1)) < 8192, r.stdout


def test_random_kernels_small_build(small_build, tmp_path):
    """The random convolution/pooling/affine geometries of test_kernels_random on the other engine paths."""
    assert run_random_kernels(small_build, tmp_path) > 0


def test_depthwise_narrow_sweep(bindirs, tmp_path):
    """3x3 depthwise (pad 1) on every small width/height: the narrow-row paths of the planar engine."""
    rng = np.random.default_rng(3)
    for build in BUILDS:
        for W in range(1, 18):
            for H in (1, 2, 3, 7):
                x = rng.standard_normal((1, 3, H, W)).astype(np.float32)
                w = rng.standard_normal((3, 3, 3)).astype(np.float32)
                b = rng.standard_normal(3).astype(np.float32)
                v = [(list(x.shape), None), (list(w.shape), w), ([3], b), (list(x.shape), None)]
                img = write_nnb(v, [(2, "iiIiIiIi", [1, [1, 1], [1, 1], [1, 1], 1], [0, 1, 2], [3])], [0], [3],
                                plan={3: 0})
                xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
                ref = np.zeros_like(x) + b.reshape(1, 3, 1, 1)
                for i in range(3):
                    for j in range(3):
                        ref += w[:, i, j].reshape(1, 3, 1, 1) * xp[:, :, i:i + H, j:j + W]
                prefix = _run_cli(bindirs[build], img, [x], tmp_path)
                _check_outputs(prefix, [ref], f"depthwise {H}x{W} ({build})")


# ---- fixed point (FIXED16 / FIXED8 variables, NNB v2/v3) ------------------------------------------

def _q(x, vtype, fp):
    """Round to the fixed-point grid and saturate (what the runtime stores); FLOAT: unchanged."""
    if vtype == 0:
        return np.asarray(x, np.float64) * 2.0 ** fp
    lo, hi = (-32768, 32767) if vtype == 1 else (-128, 127)
    return np.clip(np.floor(np.asarray(x, np.float64) * 2.0 ** fp + 0.5), lo, hi)


def _fixed_model(version, wtype, atype):
    """x -> Affine(FIXED W, b) -> ReLU -> Add2(., AddScalar(.)) -> MulScalar; buffers in atype."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 6)).astype(np.float32)
    w = rng.standard_normal((6, 5)).astype(np.float32) * 0.5
    b = rng.standard_normal(5).astype(np.float32) * 0.2
    wfp, afp = (12, 8) if wtype == 1 else (5, 4)
    wq = _q(w, wtype, wfp)
    bq = _q(b, wtype, wfp)
    afp = 10 if atype == 1 else 4 if atype == 2 else 0
    vs = [([2, 6], None, atype, afp),                       # 0 input
          ([6, 5], wq.T.copy(), wtype, wfp),                # 1 W (stored transposed)
          ([5], bq, wtype, wfp),                             # 2 b
          ([2, 5], None, atype, afp),                       # 3 affine
          ([2, 5], None, atype, afp),                       # 4 relu
          ([2, 5], None, atype, afp),                       # 5 addscalar
          ([2, 5], None, atype, afp),                       # 6 add2
          ([2, 5], None, 0, 0)]                             # 7 mulscalar (float output)
    fns = [(0, "i", [1], [0, 1, 2], [3]),                    # Affine base_axis 1
           (14, "B", [False], [3], [4]),                    # ReLU
           (312, "fB", [0.3, False], [4], [5]),             # AddScalar
           (31, "B", [False], [4, 5], [6]),                 # Add2
           (313, "fB", [1.5, False], [6], [7])]             # MulScalar
    image = write_nnb(vs, fns, [0], [7], version=version)
    s = 2.0 ** afp
    xq = _q(x, atype, afp) / s
    y = _q(xq @ (wq / 2.0 ** wfp) + bq / 2.0 ** wfp, atype, afp) / s
    y = _q(np.maximum(y, 0), atype, afp) / s
    z = _q(y + 0.3, atype, afp) / s
    y = _q(y + z, atype, afp) / s
    return image, [x], [(y * 1.5).astype(np.float32)], (1.5 / s if atype else 1e-5)


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("wtype,atype", [(1, 1), (2, 2), (1, 2), (2, 0)], ids=["w16a16", "w8a8", "w16a8", "w8afloat"])
def test_fixed_point(bindirs, version, wtype, atype, tmp_path):
    image, ins, refs, lsb = _fixed_model(version, wtype, atype)
    for build in BUILDS:
        prefix = _run_cli(bindirs[build], image, ins, tmp_path)
        got = np.fromfile(f"{prefix}0.bin", "<f4").reshape(refs[0].shape)
        # float accumulation order may move a value across a rounding boundary: one step at most
        assert np.max(np.abs(got - refs[0])) <= lsb * 1.01 + 1e-6, (build, got, refs[0])


# ---- SIGN (binary +-1) parameters of v2/v3 files --------------------------------------------------

def _sign_model(version):
    """x -> Convolution(SIGN W 3x2x3x3, float b, pad 1) -> Affine(SIGN W 75x7, stored transposed)."""
    from test_kernels_random import np_conv
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    wc = np.where(rng.random((3, 2, 3, 3)) < 0.5, -1.0, 1.0).astype(np.float32)  # 54 bits: a partial word
    b = rng.standard_normal(3).astype(np.float32)
    wa = np.where(rng.random((75, 7)) < 0.5, -1.0, 1.0).astype(np.float32)
    vs = [([1, 2, 5, 5], None), ([3, 2, 3, 3], wc, 3, 0), ([3], b), ([1, 3, 5, 5], None),
          ([75, 7], wa.T.copy(), 3, 0), ([1, 7], None)]
    fns = [(265, "iiIiIiIiB", [1, [1, 1], [1, 1], [1, 1], 1, 0], [0, 1, 2], [3]),
           (0, "i", [1], [3, 4], [5])]
    image = write_nnb(vs, fns, [0], [5], version=version)
    y = np_conv(x.astype(np.float64), wc, b, [1, 1], [1, 1], [1, 1], 1)
    return image, x, (y.reshape(1, 75) @ wa).astype(np.float32)


@pytest.mark.parametrize("version", [2, 3])
def test_sign_parameters(bindirs, version, tmp_path):
    from nnb.emit.nnb import read_nnb
    from nnb.executor import run
    image, x, ref = _sign_model(version)
    for build in BUILDS:
        prefix = _run_cli(bindirs[build], image, [x], tmp_path)
        _check_outputs(prefix, [ref], f"SIGN weights v{version} ({build})")
    g = read_nnb(image, "sign.nnb")  # the reader decodes the bits too
    (y,) = run(g, [x]).values()
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_sign_activation_and_short_data_are_refused(bindirs, tmp_path):
    image, x, _ = _sign_model(2)
    # variable 3 (the conv output, a buffer) typed SIGN: the runtime takes SIGN parameters only
    vs = [([1, 2, 5, 5], None), ([3, 2, 3, 3], np.ones((3, 2, 3, 3)), 3, 0), ([3], np.zeros(3)),
          ([1, 3, 5, 5], None, 3, 0), ([75, 7], np.ones((7, 75)), 3, 0), ([1, 7], None)]
    fns = [(265, "iiIiIiIiB", [1, [1, 1], [1, 1], [1, 1], 1, 0], [0, 1, 2], [3]), (0, "i", [1], [3, 4], [5])]
    bad = write_nnb(vs, fns, [0], [5])
    err = _run_cli(bindirs["san"], bad, [x], tmp_path, expect_ok=False)
    assert "unsupported variable type" in err, err
    # the 75x7 SIGN weight needs 17 words; cut its chunk to 16 by shrinking the data area's last chunks
    vs2 = [([1, 2, 5, 5], None), ([3, 2, 3, 3], np.ones((3, 2, 3, 3)), 3, 0), ([3], np.zeros(3)),
           ([1, 3, 5, 5], None), ([75, 7], np.ones(7 * 75 - 40), 3, 0), ([1, 7], None)]
    short = write_nnb(vs2, fns, [0], [5])
    err = _run_cli(bindirs["san"], short, [x], tmp_path, expect_ok=False)
    assert "parameter data too small" in err, err
    from nnb.emit.nnb import read_nnb
    from nnb.errors import NnbError
    with pytest.raises(NnbError, match="too short"):  # the reader bounds each chunk by the next one too
        read_nnb(short, "short.nnb")
