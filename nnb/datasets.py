"""Labelled image data sets: Fashion-MNIST from Debian's IDX files, and .npz files."""

from __future__ import annotations

import gzip
import os

import numpy as np

from nnb.errors import NnbError

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file (optionally .gz): the MNIST family's array format."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise NnbError(f"{path}: cannot read IDX file ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise NnbError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise NnbError(f"{path}: IDX header says {dims} but holds {body.size} bytes")
    return body.reshape(dims)


def fashion_mnist(split: str = "test", root: str = FASHION_MNIST_DIR) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, 28, 28) uint8 and labels (N,) from Debian's ``dataset-fashion-mnist``."""
    if split not in _FILES:
        raise NnbError(f"unknown split '{split}' (train or test)")
    paths = []
    for stem in _FILES[split]:
        cands = [os.path.join(root, stem + ext) for ext in (".gz", "")]
        found = next((c for c in cands if os.path.exists(c)), None)
        if found is None:
            raise NnbError(f"Fashion-MNIST not found in {root} (apt-get install dataset-fashion-mnist)")
        paths.append(found)
    x = read_idx(paths[0])
    y = read_idx(paths[1]).astype(np.int64)
    return x.reshape(-1, 1, 28, 28), y


def load_npz(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` arrays from an .npz file."""
    x, y = _npz(path, labels=True)
    assert y is not None
    return x, y


def load_npz_x(path: str) -> np.ndarray:
    """The ``x`` array of an .npz file; a ``y`` array may be there or not (calibration needs no labels)."""
    return _npz(path, labels=False)[0]


def _npz(path: str, labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z:
                raise NnbError(f"{path}: expected an array 'x' (the samples), found {', '.join(z.files) or 'none'}")
            if labels and "y" not in z:
                raise NnbError(f"{path}: expected arrays 'x' and 'y' (labels: accuracy needs them; calibration "
                               f"alone takes an x-only file), found {', '.join(z.files)}")
            return z["x"], (z["y"].astype(np.int64) if labels else None)
    except (OSError, ValueError) as e:
        raise NnbError(f"{path}: not a readable .npz file ({e})") from None
