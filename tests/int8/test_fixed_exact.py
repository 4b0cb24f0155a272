"""fixed8 / fixed16 computed in integers: the C runtime (c_runtime/src/kernels/fixed_mac.c) and the numpy
simulation (nnb/quantize/fixed_int.py) give the same integers on every tensor of the trained Fashion-MNIST
lenet and dscnn, over 200 test images, random inputs and adversarial ones (values on the rounding ties,
saturating and non-finite inputs); also through the ASan/UBSan build of the runtime, and with the fast forms
(kernels/fixed_fast.c) at each x86 level and off (NNB_FIXED_ISA)."""

from __future__ import annotations

import copy
import functools
import os
import shutil
import subprocess

import numpy as np
import pytest
from int8_quant_helpers import TRAINED, fmnist_data, need

from nnb.nnp.reader import load
from nnb.quantize import fixed, fixed_int
from nnb.quantize.calib import collect

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CASES = [(a, m) for a in ("lenet", "dscnn") for m in ("fixed8", "fixed16")]


@functools.cache
def _calibrated(arch: str):  # noqa: ANN202 - (prepared graph, statistics)
    g = fixed.prepare_graph(load(need(os.path.join(TRAINED, f"fmnist_{arch}.nnp"))))
    x, _ = fmnist_data()
    return g, collect(g, x[:200])


@functools.cache
def _model(arch: str, method: str) -> fixed.FixedModel:
    """Calibrated (minmax: the arithmetic under test does not depend on the choice) on the first 200 images,
    every function output also a network output so each integer tensor is compared."""
    g, stats = _calibrated(arch)
    m = fixed.build_fixed(g, stats, method, "minmax")
    g2 = copy.deepcopy(m.graph)
    g2.outputs = [o for n in g2.nodes for o in n.outputs]
    return fixed.FixedModel(g2, m.bits, m.fp_pos)


def _inputs(m: fixed.FixedModel) -> np.ndarray:
    """200 test images, 20 random, 20 adversarial: every value on a tie of the input grid (+-(k + 1/2) / 2^fp),
    the grid's ends and beyond (+-top, +-(top + 1), huge, +-inf, NaN)."""
    x, _ = fmnist_data()
    fp = m.fp_pos[m.graph.inputs[0]]
    top = (1 << (m.bits - 1)) - 1
    rng = np.random.default_rng(1)
    shape = (20,) + x.shape[1:]
    ties = (rng.integers(-top - 2, top + 2, shape) + 0.5) / 2.0 ** fp
    ends = rng.choice(np.array([top, -top, top + 1, -top - 1, 1e30, -1e30, np.inf, -np.inf, np.nan, 0.5, -0.5])
                      / 2.0 ** fp, shape)
    mix = np.where(rng.random(shape) < 0.5, ties, ends)
    scale = top / 2.0 ** fp
    return np.concatenate([x[200:400], rng.uniform(-scale, scale, shape), mix]).astype(np.float32)


def _cnet():  # noqa: ANN202
    if shutil.which("make") is None or (shutil.which("gcc") or shutil.which("cc")) is None:
        pytest.skip("no make/gcc: the C runtime cannot be built (apt-get install make gcc)")
    from nnb.backends.c import CNet

    return CNet


def _ints(m: fixed.FixedModel, name: str, v: np.ndarray) -> np.ndarray:
    return fixed_int.to_int(v, m.fp_pos[name])


def _compare(m: fixed.FixedModel, got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    """Every tensor's integers equal, the final Softmax's too (computed in double on both sides: libm's exp and
    numpy's may differ in the 53rd bit, which moves a rounding only for a value within 2^-53 of a grid edge)."""
    for name in m.graph.outputs:
        a, b = _ints(m, name, got[name]), _ints(m, name, want[name].reshape(got[name].shape))
        assert np.array_equal(a, b), (name, int(np.sum(a != b)), int(np.abs(a - b).max()))


@pytest.mark.parametrize("arch,method", CASES)
def test_c_runtime_equals_simulation(arch: str, method: str) -> None:
    m = _model(arch, method)
    x = _inputs(m)
    image = fixed.write_fixed_nnb(m)
    net = _cnet()(image)
    got = dict(zip(m.graph.outputs, net.run_batch([x])))
    _compare(m, got, fixed.run_fixed(m, [x]))


def test_simulation_rounds_once_in_integers() -> None:
    """A convolution's output is its exact integer sum rounded once (half away from zero, symmetric clip)."""
    m = _model("lenet", "fixed16")
    x = _inputs(m)[:3]
    n = m.graph.nodes[0]
    assert n.op == "Convolution"
    vals = fixed.run_fixed(m, [x])
    xi = fixed_int.to_int(fixed.fixed_round(x, m.bits, m.fp_pos[n.inputs[0]]), m.fp_pos[n.inputs[0]])
    w = m.graph.tensors[n.inputs[1]].data
    b = m.graph.tensors[n.inputs[2]].data
    fx, fw, fb, fo = (m.fp_pos[n.inputs[0]], m.fp_pos[n.inputs[1]], m.fp_pos[n.inputs[2]], m.fp_pos[n.outputs[0]])
    wi, bi = fixed_int.to_int(w, fw), fixed_int.to_int(b, fb)
    o, i, r, s = 3, 0, 5, 7  # one output value, summed by hand in Python integers
    acc = sum(int(xi[i, c, r + kh, s + kw]) * int(wi[o, c, kh, kw]) for c in range(w.shape[1])
              for kh in range(w.shape[2]) for kw in range(w.shape[3]))
    pad = m.graph.nodes[0].attrs.get("pad") or (0, 0)
    assert tuple(pad) == (0, 0)
    fa = max(fx + fw, fb)
    acc = acc * 2 ** (fa - fx - fw) + int(bi[o]) * 2 ** (fa - fb)
    q = min((abs(acc) * 2 ** fo + 2 ** (fa - 1)) // 2 ** fa, 32767) * (1 if acc >= 0 else -1)
    assert fixed_int.to_int(vals[n.outputs[0]], fo)[i, o, r, s] == q


def test_rounding_rule() -> None:
    """Half away from zero, symmetric saturation, NaN to 0, no negative zero."""
    y = fixed_int.round_value(np.array([0.5, -0.5, 1.5, -1.5, -0.49, 1e9, -1e9, np.inf, -np.inf, np.nan]), 8, 0)
    assert y.tolist() == [1, -1, 2, -2, 0, 127, -127, 127, -127, 0]
    assert not np.signbit(y[4])
    q = fixed_int.finish(np.array([3, -3, 5, -5, 1 << 40, -(1 << 40)]), 1, 0, 8)
    assert q.tolist() == [2, -2, 3, -3, 127, -127]
    q = fixed_int.finish(np.array([5, -5, 7]), 0, 0, 8, np.array([2, 2, 2]))  # division by the window count
    assert q.tolist() == [3, -3, 4]


def _san_nnbrt() -> str:
    if shutil.which("make") is None or (shutil.which("gcc") or shutil.which("cc")) is None:
        pytest.skip("no make/gcc: the sanitized C runtime cannot be built")
    crt = os.path.join(ROOT, "c_runtime")
    r = subprocess.run(["make", "-C", crt, "-j2", "SAN=1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return os.path.join(crt, "build-san", "nnbrt")


def _batch_model(arch: str, method: str) -> tuple[fixed.FixedModel, np.ndarray]:
    """The model at batch 16 (every activation at that batch) and 16 adversarial and real inputs."""
    m = _model(arch, method)
    x = _inputs(m)
    x = np.concatenate([x[-8:], x[:8]])
    g = copy.deepcopy(m.graph)
    name = g.inputs[0]
    g.tensors[name].shape = (len(x),) + tuple(g.tensors[name].shape[1:])
    for t, shape in g.infer_shapes().items():  # every activation at the new batch
        if g.tensors[t].kind != "param":
            g.tensors[t].shape = tuple(shape)
    return fixed.FixedModel(g, m.bits, m.fp_pos), x


def _nnbrt_equals_simulation(nnbrt: str, arch: str, method: str, tmp_path: os.PathLike, env: dict) -> None:
    """`nnbrt run` of the batch-16 NNB (environment env): every tensor equal to the simulation's."""
    mb, x = _batch_model(arch, method)
    g = mb.graph
    nnb = os.path.join(tmp_path, "m.nnb")
    with open(nnb, "wb") as f:
        f.write(fixed.write_fixed_nnb(mb))
    xin = os.path.join(tmp_path, "x.bin")
    x.astype("<f4").tofile(xin)
    r = subprocess.run([nnbrt, "run", nnb, xin, "-o", os.path.join(tmp_path, "out")], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0 and "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r.stderr
    want = _simulated(arch, method)
    got = {}
    for k, o in enumerate(g.outputs):
        got[o] = np.fromfile(os.path.join(tmp_path, f"out{k}.bin"), "<f4").reshape(want[o].shape)
    _compare(mb, got, want)


@functools.cache
def _simulated(arch: str, method: str) -> dict[str, np.ndarray]:
    mb, x = _batch_model(arch, method)
    return fixed.run_fixed(mb, [x])


@pytest.mark.parametrize("arch,method", [("lenet", "fixed16"), ("dscnn", "fixed8")])
def test_sanitized_runtime_equals_simulation(arch: str, method: str, tmp_path: os.PathLike) -> None:
    """The ASan/UBSan build of the runtime on a batch-16 NNB of adversarial and real inputs."""
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    _nnbrt_equals_simulation(_san_nnbrt(), arch, method, tmp_path, env)


@pytest.mark.parametrize("level", ["loops", "base"])
@pytest.mark.parametrize("arch,method", CASES)
def test_runtime_levels_equal_simulation(arch: str, method: str, level: str, tmp_path: os.PathLike) -> None:
    """The fast forms (kernels/fixed_fast.c) at the portable level and turned off (the int64 loops of
    fixed_mac.c, which 32-bit Arm runs where float cannot hold the sums), on the batch-16 NNB: every tensor
    equal (the CPU's own level: the tests above; AVX2 and every form: test_fixed_spd_forms)."""
    from nnb.backends.c import C_RUNTIME, build_library

    _cnet()
    build_library()
    _nnbrt_equals_simulation(os.path.join(C_RUNTIME, "build", "nnbrt"), arch, method, tmp_path,
                             dict(os.environ, NNB_FIXED_ISA=level))


def _nnabla_cli() -> str | None:
    """nnabla 1.39's nnabla_cli: beside $NNB_NNABLA_PYTHON, else in the repo's .venv-nnabla (`make nnabla`)."""
    py = os.environ.get("NNB_NNABLA_PYTHON") or os.path.join(ROOT, ".venv-nnabla", "bin", "python")
    cli = os.path.join(os.path.dirname(py), "nnabla_cli")
    return cli if os.path.exists(cli) else None


def test_nnabla_converter_fixed_files(tmp_path: os.PathLike) -> None:
    """FIXED8 and FIXED16 files written by nnabla's own converter (its parameter fp_pos and rounding, our
    calibrated activation fp_pos given in its settings file): C runtime == simulation of the file, 200 images."""
    from nnb.backends.c import CNet
    from nnb.quantize.fixed_nnb import fixed_model_from_nnb

    cli = _nnabla_cli()
    if cli is None:
        pytest.skip("no nnabla 1.39 (run `make nnabla` or set NNB_NNABLA_PYTHON): nnabla's converter writes the "
                    "FIXED files; the zoo has none")
    _cnet()
    nnp = need(os.path.join(TRAINED, "fmnist_lenet.nnp"))
    procs = {}
    for method, typ in (("fixed8", "FIXED8"), ("fixed16", "FIXED16")):
        m = _model("lenet", method)
        params = {t.name for t in m.graph.params()}
        settings = os.path.join(tmp_path, f"{method}.yaml")
        with open(settings, "w") as f:  # buffers: our fp_pos; parameters: the converter chooses
            f.write("variables:\n" + "".join(f'  "{k}": {typ}' + ("" if k in params else f"_{v}") + "\n"
                                              for k, v in m.fp_pos.items()))
        out = os.path.join(tmp_path, f"{method}.nnb")
        procs[out] = subprocess.Popen([cli, "convert", "-b", "1", "--api", "44", nnp, out, "-T", typ, "-s", settings],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    x = _inputs(_model("lenet", "fixed16"))
    x = np.concatenate([x[:200], x[-20:]])
    for out, p in procs.items():
        log = p.communicate(timeout=300)[0]
        assert p.returncode == 0, log[-2000:]
        with open(out, "rb") as f:
            data = f.read()
        m = fixed_model_from_nnb(data, out)
        o = m.graph.outputs[0]
        got = CNet(data).run_batch([x])[0]
        _compare(m, {o: got}, fixed.run_fixed(m, [x]))
        assert m.fp_pos[o] == _model("lenet", "fixed8" if m.bits == 8 else "fixed16").fp_pos["y"]
