"""Optimizers, schedules, the training loop, checkpoints and the train/eval commands (fast: 2k samples)."""

from __future__ import annotations

import argparse
import math
import os

import numpy as np
import pytest
from train_helpers import DSCNN, LENET, TEST_2K

from nnb.commands import register_all
from nnb.errors import NnbError
from nnb.nnp.reader import load
from nnb.train.data import input_array, load_csv, load_data
from nnb.train.optim import SGD, Adam, Schedule
from nnb.train.trainer import Hook, Interrupted, TrainConfig, Trainer

pytestmark = pytest.mark.skipif(not os.path.exists(LENET), reason="fixtures not found")


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    register_all(p.add_subparsers())
    return p.parse_args(list(argv))


def _data(n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    x, y = load_data(TEST_2K)
    return x[:n], y[:n].astype(np.int64)


def test_adam_matches_nnabla_formula() -> None:
    p = {"w": np.array([1.0, -2.0])}
    g = {"w": np.array([0.5, 0.1])}
    opt = Adam()
    opt.step(p, g, 0.1)
    # first step: m/(sqrt(v)) = sign(g) (up to eps) and the bias corrections cancel
    np.testing.assert_allclose(p["w"], [0.9, -2.1], rtol=1e-6)


def test_sgd_momentum_and_weight_decay() -> None:
    p = {"w": np.array([1.0])}
    opt = SGD(momentum=0.5, weight_decay=0.1)
    opt.step(p, {"w": np.array([1.0])}, 0.1)  # v = 0.1 * 1.1
    opt.step(p, {"w": np.array([1.0])}, 0.1)  # v = 0.5 v + 0.1 * (1 + 0.1 w)
    v1 = 0.11
    w1 = 1 - v1
    v2 = 0.5 * v1 + 0.1 * (1 + 0.1 * w1)
    np.testing.assert_allclose(p["w"], [w1 - v2])


def test_schedules() -> None:
    s = Schedule("step", 1.0, 100, 10, step_epochs=2, gamma=0.5)
    assert s(0) == 1.0 and s(19) == 1.0 and s(20) == 0.5 and s(45) == 0.25
    c = Schedule("cosine", 1.0, 100, 10, warmup=10)
    assert c(0) == pytest.approx(0.1) and c(10) == pytest.approx(1.0) and c(99) < 0.01
    assert math.isclose(c(55), 0.5, abs_tol=1e-9)
    with pytest.raises(NnbError):
        Schedule("linear", 1.0, 1, 1)


def test_training_lowers_loss_and_is_deterministic() -> None:
    g = load(LENET)
    x, y = _data(512)
    xs = input_array(g, x)
    runs = []
    for _ in range(2):
        t = Trainer(g, TrainConfig(epochs=2, batch=64, lr=1e-3, progress=False))
        t.fit(xs, y)
        runs.append(t)
    assert runs[0].history[1]["loss"] < runs[0].history[0]["loss"]
    for k in runs[0].params:
        np.testing.assert_array_equal(runs[0].params[k], runs[1].params[k])
    assert runs[0].evaluate(xs, y) > 0.85


def test_batchnorm_network_trains(tmp_path) -> None:
    g = load(DSCNN)
    x, y = _data(128)
    t = Trainer(g, TrainConfig(epochs=1, batch=32, lr=1e-3, optimizer="sgd", schedule="step", progress=False))
    before = t.params["bn0/bn/mean"].copy()
    t.fit(input_array(g, x), y)
    assert not np.array_equal(before, t.params["bn0/bn/mean"])  # running statistics moved
    out = tmp_path / "d.nnp"
    from nnb.nnp.writer import save

    save(t.trained_graph(), str(out))
    assert load(str(out)).tensors["bn0/bn/mean"].data.shape == (1, 32, 1, 1)


class _StopAfter(Hook):
    """Simulate Ctrl-C after a number of steps."""

    def __init__(self, trainer: Trainer, n: int) -> None:
        self.trainer, self.n = trainer, n

    def after_step(self, params: dict) -> None:
        if self.trainer.it + 1 >= self.n:
            import signal

            signal.raise_signal(signal.SIGINT)


def test_interrupt_checkpoint_and_resume_match_a_straight_run(tmp_path) -> None:
    g = load(LENET)
    x, y = _data(320)
    xs = input_array(g, x)
    cfg = TrainConfig(epochs=2, batch=64, lr=1e-3, progress=False)
    straight = Trainer(g, cfg)
    straight.fit(xs, y)
    ck = str(tmp_path / "ck.npz")
    first = Trainer(g, cfg)
    first.hook = _StopAfter(first, 7)
    with pytest.raises(Interrupted):
        first.fit(xs, y, checkpoint=ck)
    assert os.path.exists(ck)
    second = Trainer(g, cfg)
    second.load_checkpoint(ck)
    assert second.it == 7
    second.fit(xs, y)
    for k in straight.params:
        np.testing.assert_allclose(second.params[k], straight.params[k], rtol=1e-6, atol=1e-7)


def test_train_and_eval_commands(tmp_path, capsys) -> None:
    out = str(tmp_path / "ft.nnp")
    a = _parse("train", LENET, "--data", TEST_2K, "--limit", "256", "--epochs", "1", "--lr", "1e-3",
               "--val", TEST_2K, "--val-limit", "200", "-q", "-o", out)
    assert a.func(a) == 0
    a = _parse("eval", out, "--data", TEST_2K, "--limit", "500", "--confusion")
    assert a.func(a) == 0
    text = capsys.readouterr().out
    assert "top-1 accuracy" in text and "true\\pred" in text


def test_eval_fixture_accuracy(capsys) -> None:
    a = _parse("eval", LENET, "--data", TEST_2K)
    assert a.func(a) == 0
    acc = float(capsys.readouterr().out.split()[2].rstrip("%"))
    assert 86.0 < acc < 92.0


def test_bad_data_shape(tmp_path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((4, 28, 28), np.uint8), y=np.zeros(4, np.int64))
    a = _parse("eval", LENET, "--data", str(bad))
    with pytest.raises(NnbError, match="per sample"):
        a.func(a)


def test_label_out_of_range(tmp_path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((4, 1, 28, 28), np.uint8), y=np.array([0, 1, 10, 2]))
    a = _parse("train", LENET, "--data", str(bad), "-q", "-o", str(tmp_path / "o.nnp"))
    with pytest.raises(NnbError, match="out of range"):
        a.func(a)


def test_missing_data_and_model(tmp_path) -> None:
    a = _parse("eval", LENET, "--data", str(tmp_path / "nope.npz"))
    with pytest.raises(NnbError, match="no such data"):
        a.func(a)
    a = _parse("eval", str(tmp_path / "nope.nnp"), "--data", TEST_2K)
    with pytest.raises(NnbError, match="no such model"):
        a.func(a)


def _png(path: str, img: np.ndarray) -> None:
    import struct
    import zlib

    h, w = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_nnabla_csv_dataset(tmp_path) -> None:
    x, y = _data(3)
    rows = ["x:image,y:label"]
    for i in range(3):
        if i == 0:
            _png(str(tmp_path / f"{i}.png"), x[i, 0])
            rows.append(f"{i}.png,{y[i]}")
        else:
            np.save(tmp_path / f"{i}.npy", x[i])
            rows.append(f"{i}.npy,{y[i]}")
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    xs, ys = load_csv(str(tmp_path / "d.csv"))
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(ys, y)
