"""Shared test helpers: where the fixtures are and how to compare with nnabla."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
ZOO = os.path.join(SHARED, "fixtures", "zoo")
TRAINED = os.path.join(SHARED, "fixtures", "trained")
DATA = os.path.join(SHARED, "fixtures", "data")


def manifest() -> dict:
    path = os.path.join(ZOO, "manifest.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)["models"]


def zoo_names() -> list[str]:
    return sorted(manifest())


def zoo_inputs(name: str) -> list[np.ndarray]:
    n = len(manifest()[name]["inputs"])
    return [np.load(os.path.join(ZOO, f"{name}.in{k}.npy")) for k in range(n)]


def zoo_outputs(name: str) -> list[np.ndarray]:
    n = len(manifest()[name]["outputs"])
    return [np.load(os.path.join(ZOO, f"{name}.out{k}.npy")) for k in range(n)]


def assert_close_to_nnabla(y: np.ndarray, ref: np.ndarray, what: str = "") -> None:
    """The project-wide tolerance: max abs error <= 1e-5 * max(1, max|ref|)."""
    assert y.shape == ref.shape, f"{what}: shape {y.shape} != nnabla's {ref.shape}"
    tol = 1e-5 * max(1.0, float(np.abs(ref).max()) if ref.size else 1.0)
    err = float(np.abs(y.astype(np.float64) - ref).max()) if ref.size else 0.0
    assert err <= tol, f"{what}: max abs error {err:.3g} > {tol:.3g}"


@pytest.fixture(scope="session")
def zoo_dir() -> str:
    if not os.path.isdir(ZOO):
        pytest.skip(f"fixtures not found at {ZOO}")
    return ZOO
