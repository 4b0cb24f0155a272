"""Shared int8 test models: zoo models calibrated on perturbed copies of their fixture input, and the
trained Fashion-MNIST models calibrated on 200 images of the fixture data set (cached per session)."""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest

from nnb.nnp.reader import load
from nnb.quantize.calib import collect
from nnb.quantize.int8 import Int8Model, build_int8, prepare_graph

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(os.path.dirname(os.path.dirname(HERE)), os.pardir, "shared")
ZOO = os.path.normpath(os.path.join(SHARED, "fixtures", "zoo"))
TRAINED = os.path.normpath(os.path.join(SHARED, "fixtures", "trained"))
DATA = os.path.normpath(os.path.join(SHARED, "fixtures", "data", "fmnist_test_2k.npz"))


def need(path: str) -> str:
    if not os.path.exists(path):
        pytest.skip(f"fixture {path} is missing (tests read ../shared/fixtures)")
    return path


def zoo_inputs(name: str, n_inputs: int) -> list[np.ndarray]:
    return [np.load(need(os.path.join(ZOO, f"{name}.in{k}.npy"))) for k in range(n_inputs)]


def perturbed(xs: list[np.ndarray], copies: int = 15) -> list[np.ndarray]:
    """The fixture input plus noisy copies (10 % of its spread): a calibration set that is not the test input
    alone."""
    rng = np.random.default_rng(0)
    return [np.concatenate([x] + [x + rng.normal(0, 0.1 * float(x.std()) + 1e-3, x.shape).astype(np.float32)
                                  for _ in range(copies)]) for x in xs]


@functools.cache
def calibrated(name: str, method: str = "minmax"):  # noqa: ANN201
    """(int8 model, fixture inputs, prepared float graph) of a zoo model."""
    g = prepare_graph(load(need(os.path.join(ZOO, f"{name}.nnp"))))
    xs = zoo_inputs(name, len(g.inputs))
    return build_int8(g, collect(g, perturbed(xs)), method), xs, g


@functools.cache
def fmnist_data() -> tuple[np.ndarray, np.ndarray]:
    with np.load(need(DATA)) as z:
        return z["x"].astype(np.float32) / np.float32(255), z["y"].astype(np.int64)


@functools.cache
def fmnist_model(arch: str, method: str = "minmax") -> tuple[Int8Model, np.ndarray]:
    """(int8 model calibrated on the first 200 images, the other 1800 images)."""
    g = prepare_graph(load(need(os.path.join(TRAINED, f"fmnist_{arch}.nnp"))))
    x, _ = fmnist_data()
    return build_int8(g, collect(g, x[:200]), method), x[200:]
