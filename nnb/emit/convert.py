"""NNP graph (or quantized model) -> NNB image: choose the format, optimise, plan memory, serialise."""

from __future__ import annotations

from dataclasses import dataclass, field

from nnb.emit.nnb_write import NnbPlan, compat_plan, write_nnb
from nnb.errors import NnbError
from nnb.ir import Graph
from nnb.passes import fold_batch_norm, fuse_convolutions, optimize
from nnb.plan.arena import ArenaPlan, plan_arena
from nnb.validate import validate_graph

MODES = ("auto", "compat", "extended")


@dataclass
class Converted:
    image: bytes
    mode: str  # "compat" | "extended"
    graph: Graph  # the graph as written (optimised in extended mode; packed ops for a quantized model)
    arena: ArenaPlan | None  # extended mode
    buffer_bytes: int  # compat: sum of upstream buffers; extended: arena bytes
    packed: dict = field(default_factory=dict)  # quantized model: weight name -> nnb.quantize.deploy.PackedSize
    warnings: list[str] = field(default_factory=list)  # what the file does not keep (print them)

    @property
    def param_bytes(self) -> int:
        """Parameter storage as written: float32, or packed codes + tables for quantized weights."""
        return sum(t.nbytes for t in self.graph.params())


def convert(g, mode: str = "auto", version: int = 2, fuse: bool = True) -> Converted:  # noqa: ANN001
    """``g``: a Graph, a :class:`nnb.quantize.qmodel.QuantizedModel`, or a model path (.nnp/.nnb/.nnq).

    ``auto`` (the default): the extended file, what nnb's C runtime runs best
    (one arena, fused ops: about 3x less RAM than the compatible file's
    buffers); ``compat``: nnabla's layout for nnabla's C runtime.  A quantized
    model always becomes an extended NNB whose quantized weights stay
    bit-packed (docs/nnb_format.md, "Quantized variable types").  The graph is
    validated before and after the rewrites; nothing is written on an error.
    """
    from nnb.quantize.qmodel import QuantizedModel

    if mode not in MODES:
        raise NnbError(f"unknown NNB mode '{mode}' ({', '.join(MODES)})")
    if isinstance(g, str):
        g = load_for_convert(g)
    if isinstance(g, QuantizedModel):
        validate_graph(g.graph)
        from nnb.quantize.int8 import is_int8_model

        if is_int8_model(g):  # calibrated int8, or a DQ model carrying its int8 form
            return convert_int8(g, mode)
        return _convert_quantized(g, mode, fuse)
    validate_graph(g)  # also a graph built in memory, and a variable-batch model's deferred shape error
    if mode == "auto":
        mode = "extended"
    if mode == "compat":
        plan = compat_plan(g)
        return Converted(write_nnb(g, extended=False, version=version, plan=plan), "compat", g, None,
                         sum(plan.buffer_sizes))
    g2 = optimize(g, fuse=fuse)
    validate_graph(g2)
    ap = plan_arena(g2)
    plan = NnbPlan([], {}, arena_bytes=ap.arena_bytes, offsets=ap.offsets)
    return Converted(write_nnb(g2, extended=True, plan=plan), "extended", g2, ap, ap.arena_bytes)


def load_for_convert(path: str):  # noqa: ANN201 - Graph | QuantizedModel
    """A .nnq file as a QuantizedModel (its weights stay codes), anything else as a Graph."""
    if path.lower().endswith(".nnq"):
        from nnb.quantize.int8 import is_int8_model
        from nnb.quantize.qmodel import load_quantized, refuse_calibrated

        m = load_quantized(path)
        if not is_int8_model(m):  # int8: its own extended records (convert_int8)
            refuse_calibrated(path, m, "NNB conversion")
        return m
    from nnb.model import load_model

    return load_model(path)


def _convert_quantized(m, mode: str, fuse: bool) -> Converted:  # noqa: ANN001 - QuantizedModel
    from nnb.quantize.deploy import packed_graph

    if mode == "compat":
        raise NnbError("a quantized model needs the extended NNB format (--mode extended or auto)")
    g = m.graph
    folded = fold_batch_norm(g)
    used = {i for n in g.nodes for i in n.inputs} & set(m.layers)
    still = {i for n in folded.nodes for i in n.inputs}
    if used - still:  # BN folded into a quantized weight would change it: keep those BNs as functions
        folded = g
    g2 = fuse_convolutions(folded) if fuse else folded
    g3, sizes = packed_graph(g2, m.layers)
    validate_graph(g3)
    notes = []
    acts = m.info.get("activations") or {}
    if acts:
        notes.append(f"the model quantizes {len(acts)} activations; NNB files do not hold activation quantization "
                     "yet, so the NNB computes them in float")
    left = sorted(set(m.layers) - set(sizes))
    if left:
        notes.append(f"quantized weights stored as float32 (their function has no packed form): {', '.join(left)}")
    if folded is g and used - still:
        notes.append("BatchNormalization after a quantized weight is kept as a function (not folded)")
    ap = plan_arena(g3)
    plan = NnbPlan([], {}, arena_bytes=ap.arena_bytes, offsets=ap.offsets)
    return Converted(write_nnb(g3, extended=True, plan=plan), "extended", g3, ap, ap.arena_bytes, sizes, notes)


def convert_int8(m, mode: str = "auto") -> Converted:  # noqa: ANN001 - QuantizedModel (method int8) or Int8Model
    """A calibrated int8 model as an extended NNB of int8 records (docs/nnb_format.md "int8 models")."""
    from nnb.emit.nnb_int8 import write_int8_nnb
    from nnb.quantize.int8 import Int8Model, from_quantized

    if mode == "compat":
        raise NnbError("an int8 model needs the extended NNB format (--mode extended or auto)")
    im = m if isinstance(m, Int8Model) else from_quantized(m)
    image, d, ap = write_int8_nnb(im)
    notes = [f"float islands (dequantize, float function, quantize): {', '.join(im.islands())}"] if im.islands() \
        else []
    return Converted(image, "extended", d.graph(), ap, ap.arena_bytes, {}, notes)
