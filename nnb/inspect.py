"""Per-layer statistics of a graph: output shape, parameters, MACs, activation bytes."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from nnb.ir import Graph
from nnb.ops import get_op


@dataclass
class LayerStats:
    name: str
    op: str
    output_shape: list[int]
    params: int
    macs: int
    activation_bytes: int


@dataclass
class ModelStats:
    name: str
    inputs: dict[str, list[int]]
    outputs: dict[str, list[int]]
    layers: list[LayerStats]
    params: int
    param_bytes: int
    macs: int
    activation_bytes: int
    packed_weight_bytes: int = 0  # bit-packed quantized weights (codes + tables), included in param_bytes

    def to_dict(self) -> dict:
        return asdict(self)


def model_stats(g: Graph) -> ModelStats:
    """Statistics for ``g`` at its declared batch size."""
    shapes = g.infer_shapes()
    layers = []
    packed = _packed_params(g)
    for n in g.nodes:
        op = get_op(n.op)
        ins = [shapes[i] for i in n.inputs]
        outs = [shapes[o] for o in n.outputs]
        params = sum(packed.get(i, (g.tensors[i].size,))[0] for i in n.inputs if g.tensors[i].kind == "param")
        macs = op.macs(ins, outs, n.attrs) if op.macs else 0
        act = sum(4 * _size(s) for s in outs)
        shown = list(outs[0]) if len(outs) == 1 else [list(s) for s in outs]
        layers.append(LayerStats(n.name, n.op, shown, params, int(macs), act))
    return ModelStats(
        name=g.name,
        inputs={k: list(shapes[k]) for k in g.inputs},
        outputs={k: list(shapes[k]) for k in g.outputs},
        layers=layers,
        params=sum(packed.get(t.name, (t.size,))[0] for t in g.params()),
        param_bytes=sum(t.nbytes for t in g.params()),
        macs=sum(ly.macs for ly in layers),
        activation_bytes=sum(ly.activation_bytes for ly in layers),
        packed_weight_bytes=sum(g.tensors[k].nbytes for k in packed),
    )


def _packed_params(g: Graph) -> dict[str, tuple[int]]:
    """Packed-weight ops: codes tensor -> (weights it stands for,), table tensor -> (0,); bytes stay as stored."""
    from nnb.ops.packed import BASE_OF

    out: dict[str, tuple[int]] = {}
    for n in g.nodes:
        if n.op in BASE_OF:
            out[n.inputs[1]] = (_size(tuple(n.attrs["w_shape"])),)
            out[n.inputs[2]] = (0,)
    return out


def memory_stats(g: Graph) -> dict[str, int]:
    """Arena bytes (fused and not), the no-reuse total and the upstream-style buffer total."""
    from nnb.emit.nnb import compat_plan
    from nnb.passes import optimize
    from nnb.plan.arena import plan_arena

    plain = plan_arena(g)
    fused = plan_arena(optimize(g))
    return {
        "arena_bytes": fused.arena_bytes,
        "arena_bytes_unfused": plain.arena_bytes,
        "lower_bound_unfused": plain.lower_bound,
        "no_reuse_bytes": plain.no_reuse_bytes,
        "upstream_buffer_bytes": sum(compat_plan(g).buffer_sizes),
        "input_bytes": sum(g.tensors[n].nbytes for n in g.inputs),
    }


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def format_table(s: ModelStats) -> str:
    """A fixed-width table a person can read, with totals."""
    rows = [("#", "layer", "op", "output shape", "params", "MACs", "act bytes")]
    for i, ly in enumerate(s.layers):
        rows.append((str(i), ly.name, ly.op, str(tuple(ly.output_shape)) if ly.output_shape and
                     isinstance(ly.output_shape[0], int) else str([tuple(x) for x in ly.output_shape]),
                     f"{ly.params:,}", f"{ly.macs:,}", f"{ly.activation_bytes:,}"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    right = {0, 4, 5, 6}

    def fmt(r: tuple[str, ...]) -> str:
        return "  ".join(v.rjust(w) if c in right else v.ljust(w) for c, (v, w) in enumerate(zip(r, widths))).rstrip()

    lines = [f"model: {s.name}",
             "inputs:  " + ", ".join(f"{k} {tuple(v)}" for k, v in s.inputs.items()),
             "outputs: " + ", ".join(f"{k} {tuple(v)}" for k, v in s.outputs.items()), "",
             fmt(rows[0]), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows[1:]]
    pbytes = (f"{s.param_bytes:,} bytes: {s.packed_weight_bytes:,} packed weights and tables, "
              f"{s.param_bytes - s.packed_weight_bytes:,} float32" if s.packed_weight_bytes
              else f"{s.param_bytes:,} bytes float32")
    lines += ["", f"total: {len(s.layers)} layers, {s.params:,} parameters ({pbytes}), "
              f"{s.macs:,} MACs, {s.activation_bytes:,} activation bytes"]
    return "\n".join(lines)
