"""C MaxPooling with NaN inputs as nnabla 1.39: each window starts from its first valid cell and takes a
later cell only if greater, so a NaN first cell is the result and a later NaN is skipped (the number beside
it is not). Checked against nnabla's outputs for a 4x4 plane (recorded from nnabla 1.39's F.max_pooling)
and against the numpy reference (nnb/ops/pooling.py) on random NaN-speckled tensors, in the default,
REF and ASan/UBSan builds.
"""

from __future__ import annotations

import subprocess

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
