"""Array, reduction and elementwise kernels outside the zoo, each run as a
one-function NNB and compared with numpy. Function ids and argument codes
come from shared/reference/nnabla_function_ids.tsv."""
import math
import subprocess

import numpy as np
import pytest
from nnb_writer import write_nnb
from test_activations import _function_table
from test_c_runtime import _build

R = np.random.default_rng(7)


def rnd(*shape):
    return R.standard_normal(shape).astype(np.float32)


def _bn(x, beta, gamma, mean, var, axis, eps):
    shp = [1] * x.ndim
    shp[axis] = -1
    return (x - mean.reshape(shp)) / np.sqrt(var.reshape(shp) + eps) * gamma.reshape(shp) + beta.reshape(shp)


def _cases():
    x234 = rnd(2, 3, 4)
    x235 = rnd(2, 3, 5)
    xpos = np.abs(rnd(3, 4)) + 0.1
    a, b = rnd(2, 1, 4), rnd(3, 1)
    ma, mb = rnd(2, 5, 3), rnd(2, 5, 4)
    sq = rnd(2, 4, 4)
    bnx = rnd(2, 3, 4)
    beta, gamma, mean, var = rnd(3), rnd(3), rnd(3), np.abs(rnd(3)) + 0.5
    slope = rnd(3)
    s0, s1 = np.arange(1, 3), np.arange(3, -1, -1)

    def gelu(v):  # noqa: ANN001, ANN202
        return 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))

    c = [
        ("Transpose", [[2, 0, 1]], [x234], [], x234.transpose(2, 0, 1)),
        ("Slice", [[1, 3], [3, -1], [1, -1]], [rnd(4, 5)], [], None),
        ("Pad", [[1, 2, 2, 1], 0, 1.5], [x235], [], np.pad(x235, ((0, 0), (1, 2), (2, 1)), constant_values=1.5)),
        ("Pad", [[1, 2, 2, 1], 1, 0.0], [x235], [], np.pad(x235, ((0, 0), (1, 2), (2, 1)), mode="reflect")),
        ("Pad", [[1, 2, 2, 1], 2, 0.0], [x235], [], np.pad(x235, ((0, 0), (1, 2), (2, 1)), mode="edge")),
        ("Flip", [[0, 2]], [x234], [], x234[::-1, :, ::-1]),
        ("Concatenate", [0], [x234, x234 * 2, x234 * 3], [], np.concatenate([x234, x234 * 2, x234 * 3], 0)),
        ("Stack", [1], [x234, -x234], [], np.stack([x234, -x234], 1)),
        ("Broadcast", [[2, 3, 4]], [rnd(1, 3, 1)], [], None),
        ("Add2", [0], [a, b], [], a + b),
        ("Div2", [0], [a, b + 5], [], a / (b + 5)),
        ("Maximum2", [], [b, a], [], np.maximum(b, a)),
        ("Sum", [[0, 2], 1], [x234], [], x234.sum(axis=(0, 2), keepdims=True)),
        ("Mean", [[1], 0], [x234], [], x234.mean(axis=1)),
        ("Max", [[2], 0, 0, 0], [x234], [], x234.max(axis=2)),
        ("Min", [[0, 1], 1, 0, 0], [x234], [], x234.min(axis=(0, 1), keepdims=True)),
        ("Prod", [[2], 0], [x234], [], x234.prod(axis=2)),
        ("Softmax", [0], [x234], [], np.exp(x234) / np.exp(x234).sum(0, keepdims=True)),
        ("BatchMatmul", [1, 0], [ma, mb], [], np.matmul(ma.transpose(0, 2, 1), mb)),
        ("BatchMatmul", [0, 1], [ma.transpose(0, 2, 1), mb.transpose(0, 2, 1)], [],
         np.matmul(ma.transpose(0, 2, 1), mb)),
        ("MatrixDiag", [], [x234], [], np.einsum("abi,ij->abij", x234, np.eye(4))),
        ("MatrixDiagPart", [], [sq], [], np.diagonal(sq, axis1=1, axis2=2)),
        ("CReLU", [1], [x234], [], np.concatenate([np.maximum(x234, 0), np.maximum(-x234, 0)], 1)),
        ("Split", [2], [x234], [], [x234[:, :, k] for k in range(4)]),
        ("Unpooling", [[2, 3], 0], [x234], [], np.repeat(np.repeat(x234, 2, 1), 3, 2)),
        ("Unpooling", [[2, 2], 0], [x235], [], np.repeat(np.repeat(x235, 2, 1), 2, 2)),
        ("Unpooling", [[3, 1, 2], 0], [x234], [], np.repeat(np.repeat(x234, 3, 0), 2, 2)),
        ("Unpooling", [[2, 1], 0], [x234], [], np.repeat(x234, 2, 1)),
        ("GlobalAveragePooling", [], [rnd(2, 3, 4, 5)], [], None),
        ("PReLU", [1], [x234], [slope], np.where(x234 > 0, x234, slope.reshape(1, 3, 1) * x234)),
        ("BatchNormalization", [[1], 0.9, 1e-5, 0, 0, 0], [bnx], [beta, gamma, mean, var],
         _bn(bnx, beta, gamma, mean, var, 1, 1e-5)),
        ("BatchNormalization", [[1], 0.9, 1e-5, 0, 1, 0], [bnx], [beta, mean, var],
         _bn(bnx, beta, np.ones(3, np.float32), mean, var, 1, 1e-5)),
        ("BatchNormalization", [[1], 0.9, 1e-5, 1, 0, 0], [bnx], [beta, gamma, mean, var],
         _bn(bnx, beta, gamma, bnx.mean((0, 2)), bnx.var((0, 2)), 1, 1e-5)),
        ("Reshape", [[4, 6], 1], [x234], [], x234.reshape(4, 6)),
        ("Sign", [0.5], [np.array([-2, 0, 3], np.float32)], [], np.array([-1, 0.5, 1])),
        ("Round", [], [np.array([-2.5, -0.4, 0.5, 1.5], np.float32)], [], np.array([-3, 0, 1, 2])),
        ("Ceil", [], [x234], [], np.ceil(x234)),
        ("Floor", [], [x234], [], np.floor(x234)),
        ("Log", [], [xpos], [], np.log(xpos)),
        ("SoftPlus", [1.0], [x234], [], np.log1p(np.exp(x234))),
        ("GELU", [], [x234], [], gelu(x234.astype(np.float64))),
        ("RPowScalar", [2.0], [x234], [], 2.0 ** x234),
        ("Pow2", [0], [xpos, xpos[::-1]], [], xpos ** xpos[::-1]),
        ("Identity", [], [x234], [], x234),
    ]
    # Slice with a negative step: rows 1..2, columns 3..0
    for k, case in enumerate(c):
        if case[0] == "Slice":
            x = case[2][0]
            c[k] = case[:4] + (x[np.ix_(s0, s1)],)
        if case[0] == "Broadcast":
            x = case[2][0]
            c[k] = case[:4] + (np.broadcast_to(x, (2, 3, 4)),)
        if case[0] == "GlobalAveragePooling":
            x = case[2][0]
            c[k] = case[:4] + (x.mean(axis=(2, 3), keepdims=True),)
    return c


CASES = _cases()


def _model(idx):
    name, args, ins, params, ref = CASES[idx]
    fid, code = _function_table()[name]
    refs = ref if isinstance(ref, list) else [ref]
    variables, in_ids = [], []
    for x in ins:
        variables.append((list(x.shape), None))
        in_ids.append(len(variables) - 1)
    fn_in = list(in_ids)
    for p in params:
        variables.append((list(p.shape), p.reshape(-1)))
        fn_in.append(len(variables) - 1)
    out_ids = []
    for r in refs:
        variables.append((list(np.shape(r)), None))
        out_ids.append(len(variables) - 1)
    return write_nnb(variables, [(fid, code, args, fn_in, out_ids)], in_ids, out_ids), refs


def test_fuzz_misc_kernels(tmp_path):
    """Mutation-fuzz every one-function model above under ASan/UBSan, so each
    kernel's argument and shape checks see hostile values."""
    san = _build(True)
    seeds = []
    for idx in range(len(CASES)):
        p = tmp_path / f"k{idx}.nnb"
        p.write_bytes(_model(idx)[0])
        seeds.append(str(p))
    r = subprocess.run([str(san / "fuzz_nnb"), "-n", "100000", "-s", "99", *seeds],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


@pytest.mark.parametrize("idx", range(len(CASES)), ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_kernel(idx, tmp_path):
    name, ins = CASES[idx][0], CASES[idx][2]
    nnb, refs = _model(idx)
    (tmp_path / "m.nnb").write_bytes(nnb)
    files = []
    for k, x in enumerate(ins):
        np.asarray(x, "<f4").tofile(tmp_path / f"in{k}.bin")
        files.append(str(tmp_path / f"in{k}.bin"))
    for bindir in (_build(False), _build(True)):  # normal and ASan/UBSan builds
        r = subprocess.run([str(bindir / "nnbrt"), "run", str(tmp_path / "m.nnb"), *files, "-o",
                            str(tmp_path / "out")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        for k, ref_k in enumerate(refs):
            got = np.fromfile(tmp_path / f"out{k}.bin", "<f4")
            want = np.asarray(ref_k, np.float64).reshape(-1)
            assert got.size == want.size
            err = float(np.max(np.abs(got - want)))
            assert err <= 1e-5 * max(1.0, float(np.max(np.abs(want)))), (bindir.name, name, k, err)
