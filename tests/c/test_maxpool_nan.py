"""C MaxPooling with NaN inputs as nnabla 1.39: each window starts from its first valid cell and takes a
later cell only if greater, so a NaN first cell is the result and a later NaN is skipped (the number beside
it is not). Checked against nnabla's outputs for a 4x4 plane (recorded from nnabla 1.39's F.max_pooling)
and against the numpy reference (nnb/ops/pooling.py) on random NaN-speckled tensors, in the default,
REF and ASan/UBSan builds.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from nnb_writer import write_nnb
from test_c_runtime import _build

from nnb.ops import get_op

NAN = np.nan
X4 = np.array([[[[NAN, 1, 2, 3], [4, 5, NAN, 7], [NAN, NAN, NAN, NAN], [NAN, NAN, 1, NAN]]]], np.float32)
# (kernel, stride, pad) -> nnabla 1.39's F.max_pooling(X4, kernel, stride, True, pad)
NNABLA = {
    ((2, 2), (2, 2), (0, 0)): [[NAN, 7], [NAN, NAN]],
    ((3, 3), (2, 2), (1, 1)): [[NAN, 7], [5, 7]],
    ((2, 2), (1, 1), (1, 1)): [[NAN, NAN, 2, 3, 3], [NAN, NAN, 5, 7, 7], [4, 5, 5, NAN, 7],
                               [NAN, NAN, NAN, NAN, NAN], [NAN, NAN, NAN, 1, NAN]],
    ((3, 3), (1, 1), (0, 0)): [[NAN, 7], [5, 7]],
}
# random cases: the vectorised 2x2/2 and 3x3/2 forms, stride 1, odd windows and pads
RANDOM = [((2, 3, 9, 10), (2, 2), (2, 2), (0, 0)), ((2, 3, 9, 10), (3, 3), (2, 2), (1, 1)),
          ((1, 2, 7, 8), (3, 2), (2, 3), (1, 1)), ((1, 2, 7, 8), (2, 3), (1, 2), (0, 1)),
          ((1, 3, 6, 11), (3, 3), (1, 1), (1, 1))]


def _cases() -> list:
    rng = np.random.default_rng(5)
    out = []
    for (k, s, p), want in NNABLA.items():
        out.append((X4, k, s, p, np.array(want, np.float32).reshape(1, 1, *np.shape(want))))
    for shape, k, s, p in RANDOM:
        x = rng.standard_normal(shape).astype(np.float32)
        x[rng.random(shape) < 0.3] = NAN
        op = get_op("MaxPooling")
        (y,) = op.forward([x], op.normalize(dict(kernel=list(k), stride=list(s), pad=list(p))))
        out.append((x, k, s, p, y))
    return out


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    nan = np.isnan(want)
    return bool(np.array_equal(np.isnan(got), nan) and np.array_equal(got[~nan], want[~nan]))


@pytest.mark.parametrize("build", ["normal", "ref", "san"])
def test_c_max_pooling_nan_as_nnabla(build: str, tmp_path) -> None:  # noqa: ANN001
    bindir = _build(build == "san", ref=build == "ref")
    for i, (x, k, s, p, want) in enumerate(_cases()):
        fn = (266, "iIiIBiIB", [list(k), list(s), True, list(p), 0], [0], [1])
        (tmp_path / "m.nnb").write_bytes(write_nnb([(list(x.shape), None), (list(want.shape), None)], [fn], [0], [1]))
        x.astype("<f4").tofile(tmp_path / "x.bin")
        r = subprocess.run([str(bindir / "nnbrt"), "run", str(tmp_path / "m.nnb"), str(tmp_path / "x.bin"),
                            "-o", str(tmp_path / "y")], capture_output=True, text=True)
        assert r.returncode == 0 and "runtime error" not in r.stderr, r.stderr[-2000:]
        got = np.fromfile(tmp_path / "y0.bin", "<f4").reshape(want.shape)
        assert _same(got, want), f"case {i}: kernel {k} stride {s} pad {p}\ngot {got}\nwant {want}"


# FusedConv with a max pool: the conv output carries the input's NaNs (a 1x1 conv keeps their positions, a 3x3
# spreads them into blobs), pooled from each window's first cell as above (conv_util.h nnbrt_pool_fold in the
# default build, fused_conv.c's loops in REF, conv_mcu.c's fold in the mcu kernels).
FUSED = [((1, 3, 12, 14), 5, 1, ((2, 2), (2, 2), (0, 0))), ((1, 3, 13, 15), 4, 1, ((3, 3), (2, 2), (1, 1))),
         ((2, 2, 9, 10), 3, 1, ((2, 3), (1, 2), (1, 1))), ((1, 2, 12, 12), 6, 3, ((2, 2), (2, 2), (0, 0))),
         ((1, 2, 11, 13), 4, 3, ((3, 3), (1, 1), (1, 1)))]


def _fused_cases() -> list:
    from nnb.ops.fused import fused_conv

    rng = np.random.default_rng(7)
    out = []
    for shape, oc, k, (pk, ps, pp) in FUSED:
        x = rng.standard_normal(shape).astype(np.float32)
        x[rng.random(shape) < (0.3 if k == 1 else 0.04)] = NAN
        w = (rng.standard_normal((oc, shape[1], k, k)) * 0.3).astype(np.float32)
        b = rng.standard_normal(oc).astype(np.float32)
        p = k // 2
        a = get_op("FusedConv").normalize(dict(pad=[p, p], pool="max", pool_kernel=list(pk), pool_stride=list(ps),
                                               pool_pad=list(pp), has_bias=True))
        (y,) = fused_conv([x, w, b], a)
        assert np.isnan(y).any() and not np.isnan(y).all()
        args = [1, [p, p], [1, 1], [1, 1], 1, False, 1, list(pk), list(ps), list(pp), True, True, 0, False, True]
        out.append((x, w, b, args, y))
    return out


def _mcu_nnbrt(tmp_path) -> Path:  # noqa: ANN001
    """nnbrt with the Cortex-M kernels (conv_mcu.c) on the host, no sanitizer (test_mcu_kernels.py has those)."""
    from test_c_runtime import CRT
    from test_mcu_kernels import MCU_FLAGS

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler found (install gcc)")
    srcs = [str(CRT / "src" / "loader.c")] + [str(p) for p in sorted((CRT / "src" / "kernels").glob("*.c"))]
    r = subprocess.run([cc, "-std=c99", "-O0", *MCU_FLAGS, f"-I{CRT / 'include'}", f"-I{CRT / 'src'}", *srcs,
                        str(CRT / "tools" / "nnbrt.c"), "-lm", "-o", str(tmp_path / "nnbrt")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp_path


@pytest.mark.parametrize("build", ["normal", "ref", "mcu"])
def test_c_fused_conv_max_pool_nan_as_nnabla(build: str, tmp_path) -> None:  # noqa: ANN001
    bindir = _mcu_nnbrt(tmp_path) if build == "mcu" else _build(False, ref=build == "ref")
    for i, (x, w, b, args, want) in enumerate(_fused_cases()):
        variables = [(list(x.shape), None), (list(w.shape), w), ([w.shape[0]], b), (list(want.shape), None)]
        fn = (1000, "iiIiIiIiBiiIiIiIBBiBB", args, [0, 1, 2], [3])
        (tmp_path / "m.nnb").write_bytes(write_nnb(variables, [fn], [0], [3], plan={3: 64}))
        x.astype("<f4").tofile(tmp_path / "x.bin")
        r = subprocess.run([str(bindir / "nnbrt"), "run", str(tmp_path / "m.nnb"), str(tmp_path / "x.bin"),
                            "-o", str(tmp_path / "y"), "-t", "2"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        got = np.fromfile(tmp_path / "y0.bin", "<f4").reshape(want.shape)
        nan = np.isnan(want)
        assert np.array_equal(np.isnan(got), nan), f"case {i} ({build}): NaN positions differ\ngot {got}\nwant {want}"
        np.testing.assert_allclose(got[~nan], want[~nan], rtol=1e-5, atol=1e-5, err_msg=f"case {i} ({build})")
