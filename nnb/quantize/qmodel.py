"""The quantized model file (.nnq): the network plus, per quantized layer, its codes.

A zip holding
  ``model.nnp``   the network as an NNP, quantized weights zero-filled (the codes are authoritative);
  ``quant.json``  method and per-layer kind/shape/bits (``lut``: dictionary + assignments,
                  ``uniform``: step + signed integer codes);
  ``quant.npz``   per layer ``<name>/values`` (dictionary or step) and ``<name>/codes``
                  (bit-packed, ``bits`` per weight).
Loading rebuilds the float weights, so the file runs anywhere a float NNP does.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph
from nnb.validate import validate_graph


@dataclass
class QLayer:
    """One quantized weight: ``lut`` (values = dictionary, codes index it) or ``uniform`` (values = [step])."""

    kind: str
    shape: tuple[int, ...]
    bits: int
    values: np.ndarray
    codes: np.ndarray  # int, same shape as the weight; lut: 0..K-1, uniform: signed integers

    def dequantize(self) -> np.ndarray:
        if self.kind == "lut":
            return self.values[self.codes].astype(np.float32)
        return (self.codes * self.values[0]).astype(np.float32)

    @property
    def size_bits(self) -> int:
        """Storage: codes plus the dictionary/step in float32."""
        return int(np.prod(self.shape)) * self.bits + 32 * self.values.size


@dataclass
class QuantizedModel:
    graph: Graph  # float weights, the quantized ones rebuilt from codes
    method: str
    layers: dict[str, QLayer]
    info: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # calibrated methods' integer constants (int8)

    def weight_bits(self) -> int:
        return sum(q.size_bits for q in self.layers.values())


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Non-negative ints < 2**bits, ``bits`` each, little-endian bit order, as uint8."""
    c = codes.reshape(-1).astype(np.uint32)
    planes = ((c[:, None] >> np.arange(bits, dtype=np.uint32)) & 1).astype(np.uint8)
    return np.packbits(planes.reshape(-1), bitorder="little")


def unpack_codes(data: np.ndarray, bits: int, n: int) -> np.ndarray:
    planes = np.unpackbits(data, bitorder="little")[:n * bits].reshape(n, bits).astype(np.int64)
    return (planes << np.arange(bits)).sum(axis=1)


def save_quantized(path: str, model: QuantizedModel) -> None:
    from nnb.nnp.writer import save

    g = copy.deepcopy(model.graph)
    for name in model.layers:
        g.tensors[name].data = np.zeros(g.tensors[name].shape, np.float32)
    meta: dict[str, Any] = {"format": "nnb-quantized/1", "method": model.method, "info": model.info, "layers": {}}
    arrays: dict[str, np.ndarray] = {}
    for name, q in model.layers.items():
        offset = 0 if q.kind == "lut" else (1 << (q.bits - 1))
        meta["layers"][name] = {"kind": q.kind, "shape": list(q.shape), "bits": q.bits, "offset": offset}
        arrays[f"{name}/values"] = np.asarray(q.values, np.float32)
        arrays[f"{name}/codes"] = pack_codes(q.codes + offset, q.bits)
    arrays.update({f"extra/{k}": v for k, v in model.arrays.items()})
    with tempfile.TemporaryDirectory() as tmp:
        nnp = os.path.join(tmp, "model.nnp")
        save(g, nnp)
        with open(nnp, "rb") as f:
            nnp_bytes = f.read()
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    try:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("model.nnp", nnp_bytes)
            z.writestr("quant.json", json.dumps(meta, indent=1))
            z.writestr("quant.npz", buf.getvalue())
    except OSError as e:
        raise NnbError(f"{path}: cannot write ({e.strerror})") from None


def load_quantized(path: str) -> QuantizedModel:
    from nnb.nnp.reader import load

    try:
        with zipfile.ZipFile(path) as z:
            nnp_bytes = z.read("model.nnp")
            meta = json.loads(z.read("quant.json"))
            npz = z.read("quant.npz")
    except (OSError, KeyError, zipfile.BadZipFile, ValueError) as e:
        raise NnbError(f"{path}: not an nnb quantized model ({e})") from None
    with tempfile.TemporaryDirectory() as tmp:
        nnp = os.path.join(tmp, "model.nnp")
        with open(nnp, "wb") as f:
            f.write(nnp_bytes)
        g = load(nnp)
    layers: dict[str, QLayer] = {}
    try:
        with np.load(io.BytesIO(npz), allow_pickle=False) as z:
            if not isinstance(meta, dict) or not isinstance(meta.get("layers"), dict):
                raise NnbError(f"{path}: quant.json has no 'layers' table")
            for name, m in meta["layers"].items():
                layers[name] = _read_layer(path, name, m, z, g)
                g.tensors[name].data = layers[name].dequantize()
            extra = {k[len("extra/"):]: z[k] for k in z.files if k.startswith("extra/")}
        method = str(meta.get("method", ""))
        info = meta.get("info", {})
    except (KeyError, TypeError, ValueError, OSError, zipfile.BadZipFile) as e:
        raise NnbError(f"{path}: corrupt quantized model ({' '.join(str(e).split())})") from None
    # the graph with its dequantized weights meets every rule again (nnb/validate.py)
    validate_graph(g, infer=not g.deferred_error)
    return QuantizedModel(g, method, layers, info if isinstance(info, dict) else {}, extra)


def _read_layer(path: str, name: str, m: Any, z: Any, g: Any) -> QLayer:  # noqa: ANN401 - JSON / npz / Graph
    """One quantized layer of a .nnq, every field checked against the network and the codes."""
    where = f"{path}: quantized layer '{name}'"
    if name not in g.tensors or g.tensors[name].kind != "param":
        raise NnbError(f"{where} is not a parameter of the network")
    kind, bits, offset = m["kind"], m["bits"], m["offset"]
    shape = tuple(int(d) for d in m["shape"])
    if kind not in ("lut", "uniform") or not isinstance(bits, int) or not 1 <= bits <= 16 \
            or not isinstance(offset, int):
        raise NnbError(f"{where}: kind {kind!r}, bits {bits!r}, offset {offset!r}")
    if shape != tuple(g.tensors[name].shape):
        raise NnbError(f"{where} has shape {shape}, the network's weight {tuple(g.tensors[name].shape)}")
    n = math.prod(shape)
    raw, values = np.asarray(z[f"{name}/codes"]), np.asarray(z[f"{name}/values"])
    if raw.dtype != np.uint8 or raw.size * 8 < n * bits:
        raise NnbError(f"{where}: {raw.size} code bytes ({raw.dtype}) for {n} codes of {bits} bits")
    if values.dtype.kind != "f" or values.ndim != 1 or not values.size or not np.all(np.isfinite(values)):
        raise NnbError(f"{where}: values must be finite floats")
    codes = unpack_codes(raw, bits, n).reshape(shape) - offset
    if kind == "lut" and (codes.min(initial=0) < 0 or codes.max(initial=0) >= values.size):
        raise NnbError(f"{where}: a code is outside its {values.size}-entry table")
    if kind == "uniform" and values.size != 1:
        raise NnbError(f"{where}: uniform codes need one step, got {values.size} values")
    return QLayer(kind, shape, bits, values.astype(np.float32), codes)


CALIBRATED_METHODS = ("int8", "fixed8", "fixed16")


def refuse_calibrated(path: str, model: QuantizedModel, what: str) -> None:
    """A calibrated (integer) .nnq computed in float would silently give the float network's results: refuse it."""
    if model.method in CALIBRATED_METHODS:
        from nnb.errors import NnbError

        more = (", --backend c for the C runtime's int8 kernels (nnb convert writes its int8 NNB)"
                if model.method == "int8" else "")
        raise NnbError(f"{path}: a calibrated {model.method} model; {what} has no integer path for it yet "
                       f"(use --backend intsim for its integer simulation{more}, or the float .nnp)")
