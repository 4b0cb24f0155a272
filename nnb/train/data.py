"""Labelled data for training and evaluation, checked against the network's input.

Sources: ``fashion-mnist`` (Debian's IDX files; ``fashion-mnist:train`` /
``fashion-mnist:test`` pick a split), an ``.npz`` with ``x`` and ``y``, or
nnabla's CSV data set (header like ``x:image,y:label``; each row a path to an
``.npy`` or 8-bit ``.png`` file, relative to the CSV, and an integer label).

Scaling: integer images (uint8) are divided by 255, float data is used as is.
The trained fixtures expect ``image / 255``, which is what nnabla's tools fed
them; a float .npz must therefore already be scaled.
"""

from __future__ import annotations

import csv
import os
import struct
import zlib

import numpy as np

from nnb.datasets import fashion_mnist, load_npz
from nnb.errors import NnbError
from nnb.ir import Graph


def load_data(spec: str, default_split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Raw (x, y) for a ``--data`` argument."""
    name, _, split = spec.partition(":")
    if name in ("fashion-mnist", "fashion_mnist", "fmnist"):
        return fashion_mnist(split or default_split)
    if not os.path.exists(spec):
        raise NnbError(f"{spec}: no such data file (use fashion-mnist, FILE.npz or FILE.csv)")
    if spec.endswith(".npz"):
        return load_npz(spec)
    if spec.endswith(".csv"):
        return load_csv(spec)
    raise NnbError(f"{spec}: unknown data format (expected .npz or nnabla .csv)")


def input_array(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Samples as float32, scaled as documented, with the per-sample shape the network declares."""
    if len(graph.inputs) != 1:
        raise NnbError(f"training and evaluation need a single-input network, this one has "
                       f"{len(graph.inputs)} ({', '.join(graph.inputs)})")
    name = graph.inputs[0]
    spec = tuple(graph.input_specs.get(name, graph.tensors[name].shape))
    want = spec[1:]
    if x.ndim < 1 or tuple(x.shape[1:]) != tuple(want):
        raise NnbError(f"data samples have shape {tuple(x.shape[1:])}, the network input '{name}' "
                       f"expects {tuple(want)} per sample")
    if x.dtype.kind in "iub":
        return x.astype(np.float32) / np.float32(255)
    if x.dtype.kind != "f":
        raise NnbError(f"data has dtype {x.dtype}, expected numbers")
    return np.ascontiguousarray(x, dtype=np.float32)


def load_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    """nnabla's CSV data set: first column the sample file, second the label."""
    base = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise NnbError(f"{path}: cannot read ({e.strerror})") from None
    if len(rows) < 2 or len(rows[0]) < 2:
        raise NnbError(f"{path}: expected a header like 'x:image,y:label' and at least one row")
    xs, ys = [], []
    for ln, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) < 2:
            raise NnbError(f"{path}:{ln}: expected a file and a label")
        fp = row[0] if os.path.isabs(row[0]) else os.path.join(base, row[0])
        xs.append(_read_sample(fp, f"{path}:{ln}"))
        try:
            ys.append(int(float(row[1])))
        except ValueError:
            raise NnbError(f"{path}:{ln}: label '{row[1]}' is not a number") from None
    if any(x.shape != xs[0].shape for x in xs):
        raise NnbError(f"{path}: samples have different shapes")
    return np.stack(xs), np.array(ys, dtype=np.int64)


def _read_sample(path: str, where: str) -> np.ndarray:
    if not os.path.exists(path):
        raise NnbError(f"{where}: no such file {path}")
    if path.endswith(".npy"):
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise NnbError(f"{where}: {path}: not a readable .npy ({e})") from None
    if path.endswith(".png"):
        return read_png(path)
    raise NnbError(f"{where}: {path}: unsupported sample file (.npy or .png)")


def read_png(path: str) -> np.ndarray:
    """An 8-bit, non-interlaced PNG as (channels, H, W) uint8 (nnabla's image layout)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise NnbError(f"{path}: not a PNG file")
    pos, idat, hdr = 8, b"", None
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    if hdr is None:
        raise NnbError(f"{path}: PNG without header")
    w, h, depth, ctype, _, _, interlace = hdr
    chans = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or chans is None or interlace:
        raise NnbError(f"{path}: only 8-bit non-interlaced gray/RGB(A) PNGs are supported")
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + w * chans)
    out = np.zeros((h, w * chans), dtype=np.int32)
    for r in range(h):
        ft, line = raw[r, 0], raw[r, 1:].astype(np.int32)
        prev = out[r - 1] if r else np.zeros(w * chans, dtype=np.int32)
        if ft == 0:
            cur = line
        elif ft == 2:
            cur = (line + prev) & 255
        else:
            cur = np.zeros_like(line)
            for i in range(w * chans):
                left = cur[i - chans] if i >= chans else 0
                up = prev[i]
                ul = prev[i - chans] if i >= chans else 0
                if ft == 1:
                    pred = left
                elif ft == 3:
                    pred = (left + up) // 2
                else:
                    p = left + up - ul
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                    pred = left if pa <= pb and pa <= pc else up if pb <= pc else ul
                cur[i] = (line[i] + pred) & 255
        out[r] = cur
    return out.astype(np.uint8).reshape(h, w, chans).transpose(2, 0, 1)
