"""A model (path, Graph or quantized model) as the NNB image the firmware embeds, with its I/O shapes."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from nnb.errors import NnbError


@dataclass
class ModelImage:
    name: str
    image: bytes
    inputs: list[tuple[str, tuple[int, ...]]]  # (name, shape) in file order
    outputs: list[tuple[str, tuple[int, ...]]]
    mode: str  # "extended" | "compat" | "nnb file"

    @property
    def input_bytes(self) -> int:
        return sum(4 * int(np.prod(s, dtype=np.int64)) for _, s in self.inputs)

    @property
    def output_bytes(self) -> int:
        """nnb_out.bin: per output an int32 ndim, the int32 dims and the float32 data."""
        return sum(4 * (1 + len(s) + int(np.prod(s, dtype=np.int64))) for _, s in self.outputs)


def model_image(model, name: str | None = None) -> ModelImage:  # noqa: ANN001 - path | Graph | QuantizedModel
    """An .nnb file is used as it is; anything else becomes an extended NNB (nnb.emit.convert)."""
    from nnb.emit.convert import convert

    if isinstance(model, str):
        if not os.path.exists(model):
            raise NnbError(f"model file not found: {model}")
        name = name or os.path.splitext(os.path.basename(model))[0]
        if model.lower().endswith(".nnb"):
            from nnb.emit.nnb import load_nnb

            with open(model, "rb") as f:
                image = f.read()
            g = load_nnb(model)
            return ModelImage(_safe(name), image, _shapes(g, g.inputs), _shapes(g, g.outputs), "nnb file")
    conv = convert(model, mode="extended")
    g = conv.graph
    return ModelImage(_safe(name or g.name or "model"), conv.image, _shapes(g, g.inputs), _shapes(g, g.outputs),
                      conv.mode)


def _safe(name: str) -> str:
    """A model name fit for file names and C string literals."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)[:60] or "model"


def _shapes(g, names: list[str]) -> list[tuple[str, tuple[int, ...]]]:  # noqa: ANN001
    out = []
    for n in names:
        shape = tuple(int(d) for d in g.tensors[n].shape)
        if any(d <= 0 for d in shape):
            raise NnbError(f"the firmware needs fixed shapes, but '{n}' has shape {shape}")
        out.append((n, shape))
    return out


def pack_inputs(mi: ModelImage, inputs: list[np.ndarray]) -> bytes:
    """The inputs as the firmware reads them: float32, one after the other, in file order."""
    if len(inputs) != len(mi.inputs):
        raise NnbError(f"{mi.name} takes {len(mi.inputs)} input(s), got {len(inputs)}")
    parts = []
    for (n, shape), x in zip(mi.inputs, inputs):
        x = np.asarray(x, dtype=np.float32)
        if x.size != int(np.prod(shape, dtype=np.int64)):
            raise NnbError(f"input '{n}' has shape {x.shape}, the model expects {shape}")
        parts.append(np.ascontiguousarray(x).astype("<f4").tobytes())
    return b"".join(parts)


def unpack_outputs(mi: ModelImage, blob: bytes) -> list[np.ndarray]:
    """nnb_out.bin back into arrays (exact float bits); the dims must be the model's."""
    out, pos = [], 0
    for n, shape in mi.outputs:
        if pos + 4 > len(blob):
            raise NnbError(f"the firmware's output file is short (output '{n}' missing)")
        nd = int(np.frombuffer(blob, "<i4", 1, pos)[0])
        dims = tuple(int(d) for d in np.frombuffer(blob, "<i4", nd, pos + 4)) if 0 <= nd <= 8 else ()
        size = int(np.prod(dims, dtype=np.int64))
        if size != int(np.prod(shape, dtype=np.int64)) or pos + 4 * (1 + nd + size) > len(blob):
            raise NnbError(f"the firmware's output '{n}' has dims {dims}, expected {shape}")
        pos += 4 * (1 + nd)
        out.append(np.frombuffer(blob, "<f4", size, pos).astype(np.float32).reshape(shape))
        pos += 4 * size
    return out
