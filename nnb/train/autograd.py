"""Reverse-mode automatic differentiation over the graph IR.

A :class:`Program` fixes, once per graph, which nodes lead to the value being
differentiated (the logits), which tensors need a gradient and the rule each
node uses.  ``forward`` records a :class:`Tape`; ``backward`` walks it in
reverse.  Parameter values are passed in explicitly (not read from the graph)
so a quantizer can run the forward pass with quantized weights while the
optimizer updates float shadow weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph, Node
from nnb.ops import get_op
from nnb.train.rules import Ctx, Rule, all_rules, get_rule


@dataclass
class Tape:
    """Values of one forward pass and each node's saved context."""

    values: dict[str, np.ndarray]
    ctxs: list[Ctx | None] = field(default_factory=list)
    act_ctxs: dict[str, object] = field(default_factory=dict)  # activation quantizers' saved inputs


class Program:
    """The part of ``graph`` that computes ``target``, ready for forward and backward passes."""

    def __init__(self, graph: Graph, target: str | None = None, wrt: Iterable[str] | None = None) -> None:
        self.graph = graph
        self.target = target or graph.outputs[0]
        self.nodes = _needed_nodes(graph, self.target)
        self.wrt = {t.name for t in graph.params() if t.need_grad} if wrt is None else set(wrt)
        self.requires = set(self.wrt)
        self.rules: list[Rule | None] = []
        for n in self.nodes:
            if any(i in self.requires for i in n.inputs):
                self.rules.append(get_rule(n.op))  # NnbError names an op without a backward rule
                self.requires.update(n.outputs)
            else:
                self.rules.append(None)
        # Nodes off the gradient path still use a rule's forward when there is one: it keeps the
        # dtype and, for BatchNormalization, uses batch statistics while training.
        self._plain = {op: r for op, r in all_rules().items()}
        # Activation quantizers by tensor name: objects with forward(x) -> (y, ctx) and backward(gy, ctx) -> gx
        # (straight-through); the output of the node is replaced by y (nnb.quantize.dq.ActQuant).
        self.act: dict[str, object] = {}

    def forward(self, feeds: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray], training: bool = True,
                update_stats: bool = False) -> Tape:
        """Run the nodes up to ``target``; ``params`` maps every parameter name to the value to use."""
        values: dict[str, np.ndarray] = dict(params)
        values.update(feeds)
        tape = Tape(values)
        for n, r in zip(self.nodes, self.rules):
            xs = [values[i] for i in n.inputs]
            if r is None:  # no gradient flows through: a plain reference forward will do
                ctx = None
                fw = self._plain.get(n.op)
                outs = fw.forward(xs, n.attrs, Ctx(training, update_stats)) if fw else get_op(n.op).forward(xs, n.attrs)
            else:
                ctx = Ctx(training, update_stats, tuple(i in self.requires for i in n.inputs))
                outs = r.forward(xs, n.attrs, ctx)
            for name, v in zip(n.outputs, outs):
                if name in self.act:
                    v, tape.act_ctxs[name] = self.act[name].forward(v)  # type: ignore[attr-defined]
                values[name] = v
            tape.ctxs.append(ctx)
        return tape

    def backward(self, tape: Tape, seed: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of ``sum(seed * target)`` for every name in ``wrt`` that the target depends on."""
        grads: dict[str, np.ndarray] = {self.target: seed}
        for n, r, ctx in zip(reversed(self.nodes), reversed(self.rules), reversed(tape.ctxs)):
            if r is None or ctx is None or not any(o in grads for o in n.outputs):
                continue
            for o in n.outputs:
                if o in grads and o in tape.act_ctxs:
                    grads[o] = self.act[o].backward(grads[o], tape.act_ctxs[o])  # type: ignore[attr-defined]
            gys = [grads.pop(o) if o in grads else np.zeros_like(tape.values[o]) for o in n.outputs]
            gxs = r.backward(gys, n.attrs, ctx)
            ctx.saved.clear()
            for name, g, need in zip(n.inputs, gxs, ctx.needs):
                if not need or g is None:
                    continue
                if name in grads:
                    grads[name] = grads[name] + g
                else:
                    grads[name] = g
        return {k: v for k, v in grads.items() if k in self.wrt}


def _needed_nodes(graph: Graph, target: str) -> list[Node]:
    producer = graph.producer()
    if target not in producer and target not in graph.inputs:
        raise NnbError(f"'{target}' is not computed by the network")
    need = {target}
    keep: list[Node] = []
    for n in reversed(graph.nodes):
        if any(o in need for o in n.outputs):
            keep.append(n)
            need.update(n.inputs)
    return keep[::-1]
