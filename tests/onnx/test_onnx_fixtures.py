"""Every .onnx fixture through `nnb run` (reference and C) against onnxruntime on the same file."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest
from conftest import SHARED
from onnx_helpers import assert_matches_ort, ort_session

from nnb.cli import main

FIX = os.path.join(SHARED, "fixtures")
MODELS = sorted(glob.glob(os.path.join(FIX, "zoo", "*.onnx")) + glob.glob(os.path.join(FIX, "imported", "*.onnx")))


def _feeds(path: str, sess, tmp: str) -> tuple[dict[str, np.ndarray], list[str]]:  # noqa: ANN001
    """Fixture inputs cut to the batch the file declares, and their .npy paths as NAME=FILE arguments."""
    feeds, args = {}, []
    for k, i in enumerate(sess.get_inputs()):
        x = np.load(f"{path[:-5]}.in{k}.npy").astype(np.float32)
        batch = i.shape[0] if isinstance(i.shape[0], int) else x.shape[0]
        feeds[i.name] = np.ascontiguousarray(x[:batch])
        f = os.path.join(tmp, f"in{k}.npy")
        np.save(f, feeds[i.name])
        args += ["--input", f"{i.name}={f}"]
    return feeds, args


@pytest.mark.parametrize("backend", ["reference", "c"])
@pytest.mark.parametrize("path", MODELS, ids=lambda p: os.path.relpath(p, FIX))
def test_nnb_run_onnx_matches_onnxruntime(path: str, backend: str, tmp_path) -> None:  # noqa: ANN001
    sess = ort_session(path)
    feeds, args = _feeds(path, sess, str(tmp_path))
    ref = sess.run(None, feeds)
    out = tmp_path / "out.npz"
    assert main(["run", path, *args, "--backend", backend, "-o", str(out)]) == 0
    got = np.load(out)
    for o, r in zip(sess.get_outputs(), ref):
        assert_matches_ort(got[o.name], r, f"{os.path.basename(path)} {o.name} ({backend})")


def test_eval_and_train_take_onnx(tmp_path, capsys) -> None:  # noqa: ANN001
    """`nnb eval` on lenet.onnx gives lenet.nnp's accuracy (reference and C); `nnb train` starts from an .onnx."""
    data = os.path.join(FIX, "data", "fmnist_test_2k.npz")
    onnx_path, nnp_path = os.path.join(FIX, "zoo", "lenet.onnx"), os.path.join(FIX, "zoo", "lenet.nnp")
    if not (os.path.exists(data) and os.path.exists(onnx_path)):
        pytest.skip("fixtures lenet.onnx / fmnist_test_2k.npz are missing")
    lines = []
    for model, backend in ((nnp_path, "reference"), (onnx_path, "reference"), (onnx_path, "c")):
        assert main(["eval", model, "--data", data, "--limit", "300", "--backend", backend]) == 0
        lines.append(capsys.readouterr().out.strip().splitlines()[-1])
    assert lines[0].startswith("top-1 accuracy") and lines[0] == lines[1] == lines[2]
    out = tmp_path / "t.nnp"
    assert main(["train", onnx_path, "--data", data, "--limit", "200", "--epochs", "1", "-o", str(out)]) == 0
    assert out.exists()
