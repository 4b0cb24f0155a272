"""Random geometries for the convolution-like, pooling and affine kernels:
the fast build (build/; on x86-64 each of its run-time dispatched variants),
the plain-loop build (build-ref/), the sanitizer build (build-san/) and the
-march=native build (build-native/) are compared with an independent numpy implementation of
nnabla's semantics."""
import functools
import os
import subprocess

import numpy as np
import pytest
from nnb_writer import write_nnb
from test_c_runtime import _build

RNG_SEED = 1234


def np_conv(x, w, b, pad, stride, dil, group):
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    y = np.zeros((n, oc, oh, ow))
    ocg = oc // group
    for g in range(group):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg,
                           i * dil[0]: i * dil[0] + stride[0] * (oh - 1) + 1: stride[0],
                           j * dil[1]: j * dil[1] + stride[1] * (ow - 1) + 1: stride[1]]
                y[:, g * ocg:(g + 1) * ocg] += np.einsum("nchw,oc->nohw", patch,
                                                         w[g * ocg:(g + 1) * ocg, :, i, j])
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def np_deconv(x, w, b, pad, stride, dil, group, opad):
    n, c, h, wd = x.shape
    _, ocg, kh, kw = w.shape
    cg = c // group
    full = [stride[d] * ((h, wd)[d] - 1) + dil[d] * ((kh, kw)[d] - 1) + 1 + opad[d] for d in (0, 1)]
    out = [full[d] - 2 * pad[d] for d in (0, 1)]
    canvas = np.zeros((n, ocg * group, full[0] + pad[0], full[1] + pad[1]))
    for g in range(group):
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nchw,co->nohw", x[:, g * cg:(g + 1) * cg].astype(np.float64),
                                    w[g * cg:(g + 1) * cg, :, i, j])
                canvas[:, g * ocg:(g + 1) * ocg,
                       i * dil[0]: i * dil[0] + stride[0] * (h - 1) + 1: stride[0],
                       j * dil[1]: j * dil[1] + stride[1] * (wd - 1) + 1: stride[1]] += contrib
    y = canvas[:, :, pad[0]:pad[0] + out[0], pad[1]:pad[1] + out[1]]
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y


def np_pool(x, kind, k, s, pad, ignore_border, including_pad):
    n, c, h, wd = x.shape
    if ignore_border:
        oh, ow = (h + 2 * pad[0] - k[0]) // s[0] + 1, (wd + 2 * pad[1] - k[1]) // s[1] + 1
    else:
        oh, ow = -(-(h + 2 * pad[0]) // s[0]), -(-(wd + 2 * pad[1]) // s[1])
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * s[0] - pad[0], j * s[1] - pad[1]
            he, we = min(hs + k[0], h + pad[0]), min(ws + k[1], wd + pad[1])
            size = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, wd)
            he, we = max(he, hs), max(we, ws)  # empty window (entirely in padding)
            win = x[:, :, hs:he, ws:we].astype(np.float64)
            if win.size == 0:
                if kind == "max":
                    return None  # nnabla leaves this undefined; not compared
                y[:, :, i, j] = 0.0
                continue
            if kind == "max":
                y[:, :, i, j] = win.max(axis=(2, 3))
            elif kind == "sum":
                y[:, :, i, j] = win.sum(axis=(2, 3))
            else:
                y[:, :, i, j] = win.sum(axis=(2, 3)) / (size if including_pad else (he - hs) * (we - ws))
    return y


@functools.lru_cache(maxsize=1)
def _cases():
    """240 random layers (geometries that make no valid layer are drawn again, not skipped), then 6 fixed pools."""
    rng = np.random.default_rng(RNG_SEED)
    cases = []
    while len(cases) < 240:
        kind = ["conv", "conv", "depthwise", "deconv", "max", "avg", "sum", "affine"][len(cases) % 8]
        n = int(rng.integers(1, 3))
        c = int(rng.integers(1, 7))
        h, wd = int(rng.integers(1, 14)), int(rng.integers(1, 40))
        k = [int(rng.integers(1, 4)), int(rng.integers(1, 5))]
        s = [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
        d = [int(rng.integers(1, 3)), int(rng.integers(1, 3))]
        p = [int(rng.integers(0, 3)), int(rng.integers(0, 3))]
        if len(cases) % 5 == 0:  # 1x1 / stride 1 / no pad (flattened fast path)
            k, s, p = [1, 1], [1, 1], [0, 0]
        case = dict(kind=kind, n=n, c=c, h=h, w=wd, k=k, s=s, d=d, p=p,
                    group=int(rng.choice([g for g in (1, 2, 3) if c % g == 0])),
                    oc_mult=int(rng.integers(1, 4)), bias=bool(rng.integers(0, 2)),
                    ib=bool(rng.integers(0, 2)), incl=bool(rng.integers(0, 2)),
                    opad=[int(rng.integers(0, 2)), int(rng.integers(0, 2))],
                    seed=int(rng.integers(0, 1 << 30)))
        if _model(case) is not None:
            cases.append(case)
    # the row-pooling fast path (2-wide stride-2 windows) next to clipped border windows
    for i, (kind, h, wd, p, ib) in enumerate([("max", 9, 27, [1, 1], True), ("sum", 7, 16, [0, 1], False),
                                              ("avg", 8, 33, [1, 0], True), ("max", 10, 28, [1, 1], False),
                                              ("sum", 5, 3, [1, 1], True), ("avg", 6, 31, [1, 1], False)]):
        case = dict(kind=kind, n=2, c=3, h=h, w=wd, k=[2, 2], s=[2, 2], d=[1, 1], p=p, group=1, oc_mult=1,
                    bias=False, ib=ib, incl=bool(i % 2), opad=[0, 0], seed=1000 + i)
        assert _model(case) is not None, case
        cases.append(case)
    return tuple(cases)


def _model(case):
    rng = np.random.default_rng(case["seed"])
    n, c, h, wd, k, s, d, p = (case[key] for key in ("n", "c", "h", "w", "k", "s", "d", "p"))
    x = rng.standard_normal((n, c, h, wd)).astype(np.float32)
    kind = case["kind"]
    if kind in ("conv", "depthwise", "deconv"):
        if kind == "conv":
            g = case["group"]
            oc = g * case["oc_mult"]
            w = rng.standard_normal((oc, c // g, *k)).astype(np.float32)
            b = rng.standard_normal(oc).astype(np.float32) if case["bias"] else None
            if (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) < 0 or (wd + 2 * p[1] - d[1] * (k[1] - 1) - 1) < 0:
                return None
            y = np_conv(x, w, b, p, s, d, g)
            # every third case uses the legacy id 1 (api level 1 argument code)
            fn = (1, "iiIiIiIi", [1, p, s, d, g]) if case["seed"] % 3 == 0 else \
                (265, "iiIiIiIiB", [1, p, s, d, g, 0])
        elif kind == "depthwise":
            m = case["oc_mult"]
            w = rng.standard_normal((c * m, *k)).astype(np.float32)
            b = rng.standard_normal(c * m).astype(np.float32) if case["bias"] else None
            if (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) < 0 or (wd + 2 * p[1] - d[1] * (k[1] - 1) - 1) < 0:
                return None
            wfull = np.zeros((c * m, 1, *k), np.float32)
            wfull[:, 0] = w
            xr = np.repeat(x, m, axis=1)  # channel oc reads input oc // m
            y = np_conv(xr, wfull, b, p, s, d, c * m)
            fn = (2, "iiIiIiIi", [1, p, s, d, m])
        else:
            g = case["group"]
            ocg = case["oc_mult"]
            op = [min(case["opad"][i], max(s[i], d[i]) - 1) for i in (0, 1)]
            w = rng.standard_normal((c, ocg, *k)).astype(np.float32)
            b = rng.standard_normal(ocg * g).astype(np.float32) if case["bias"] else None
            out = [s[i] * ((h, wd)[i] - 1) + d[i] * (k[i] - 1) + 1 - 2 * p[i] + op[i] for i in (0, 1)]
            if min(out) < 1:
                return None
            y = np_deconv(x, w, b, p, s, d, g, op)
            fn = (292, "iiIiIiIiBiI", [1, p, s, d, g, 0, op])
        params = [w] + ([b] if b is not None else [])
    elif kind == "affine":
        out = [case["oc_mult"] + 1, c]
        inner = c * h * wd
        W = rng.standard_normal((inner, *out)).astype(np.float32)
        b = rng.standard_normal(out).astype(np.float32) if case["bias"] else None
        y = x.reshape(n, inner).astype(np.float64) @ W.reshape(inner, -1).astype(np.float64)
        if b is not None:
            y += b.reshape(1, -1)
        y = y.reshape(n, *out)
        params = [(list(W.shape), W.reshape(inner, -1).T.copy())] + ([b] if b is not None else [])
        fn = (0, "i", [1])
    else:
        kk = [min(k[0], h + 2 * p[0]), min(k[1], wd + 2 * p[1])]
        if case["ib"] and ((h + 2 * p[0] < kk[0]) or (wd + 2 * p[1] < kk[1])):
            return None
        if max(p[0] - kk[0], p[1] - kk[1]) >= 0 and kind == "max":
            p = [min(p[0], kk[0] - 1), min(p[1], kk[1] - 1)]
        y = np_pool(x, kind, kk, s, p, case["ib"], case["incl"])
        if y is None or y.size == 0 or (kind == "avg" and not case["incl"] and not np.all(np.isfinite(y))):
            return None
        fid, code = {"max": (266, "iIiIBiIB"), "sum": (268, "iIiIBiIB"),
                     "avg": (267, "iIiIBiIBB")}[kind]
        args = [kk, s, case["ib"], p, 0] + ([case["incl"]] if kind == "avg" else [])
        fn = (fid, code, args)
        params = []
    variables = [(list(x.shape), None)]
    ins = [0]
    for prm in params:
        if isinstance(prm, tuple):
            variables.append(prm)
        else:
            variables.append((list(prm.shape), prm.reshape(-1)))
        ins.append(len(variables) - 1)
    variables.append((list(y.shape), None))
    out_id = len(variables) - 1
    # odd seeds: NNB version 3 (buffer sizes in bytes)
    nnb = write_nnb(variables, [(fn[0], fn[1], fn[2], ins, [out_id])], [0], [out_id],
                    version=3 if case["seed"] % 2 else 2)
    return nnb, x, y


@pytest.fixture(scope="module")
def builds():
    normal = _build(False)
    # (build, NNBRT_ISA): the default x86-64 build dispatches at run time; its narrower variants forced too
    return [(normal, ""), (normal, "avx2"), (normal, "base"), (_build(False, ref=True), ""), (_build(True), ""),
            (_build(False, native=True), "")]


@pytest.mark.parametrize("idx", range(len(_cases())))
def test_random_kernel(builds, idx, tmp_path):
    case = _cases()[idx]
    nnb, x, ref = _model(case)
    (tmp_path / "m.nnb").write_bytes(nnb)
    x.astype("<f4").tofile(tmp_path / "x.bin")
    for bindir, isa in builds:
        r = subprocess.run([str(bindir / "nnbrt"), "run", str(tmp_path / "m.nnb"),
                            str(tmp_path / "x.bin"), "-o", str(tmp_path / "y")],
                           capture_output=True, text=True, env=dict(os.environ, NNBRT_ISA=isa))
        assert r.returncode == 0, (case, r.stderr)
        got = np.fromfile(tmp_path / "y0.bin", "<f4")
        err = float(np.max(np.abs(got - ref.reshape(-1))))
        assert err <= 1e-4 * max(1.0, float(np.max(np.abs(ref)))), (bindir.name, isa, case, err)
