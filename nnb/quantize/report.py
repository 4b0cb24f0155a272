"""``nnb quantize --report report.html``: one self-contained HTML page (jinja2, inline SVG, no plotting library).

Per quantized layer: kind, bitwidth / K, weights, packed weight bytes (codes
word-padded + table, as the extended NNB stores them), float32 bytes, and the
layer's output activation bytes for one sample (float32, or the activation
bitwidth when activations are quantized); then the training curves (loss and
accuracy every ``log_every`` steps, validation accuracy per epoch).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup

from nnb.errors import NnbError
from nnb.ir import Graph
from nnb.quantize.deploy import packed_size
from nnb.quantize.qmodel import QuantizedModel

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")


@dataclass
class LayerRow:
    name: str
    op: str
    shape: str
    kind: str
    bits: int
    k: int | None
    weights: int
    weight_bytes: int
    float_bytes: int
    act_shape: str
    act_bits: int
    act_bytes: int


def layer_rows(graph: Graph, model: QuantizedModel, act_bits: dict[str, int] | None = None) -> list[LayerRow]:
    """One row per quantized weight, in network order; activations at batch 1."""
    name = graph.inputs[0]
    shapes = graph.infer_shapes({name: (1,) + tuple(graph.tensors[name].shape[1:])})
    rows = []
    for node in graph.nodes:
        if len(node.inputs) < 2 or node.inputs[1] not in model.layers:
            continue
        w = node.inputs[1]
        q = model.layers[w]
        ps = packed_size(w, q)
        out = node.outputs[0]
        ab = (act_bits or {}).get(out, 32)
        n_act = int(np.prod(shapes[out]))
        rows.append(LayerRow(w, node.op, "x".join(map(str, q.shape)), q.kind, q.bits,
                             int(np.asarray(q.values).size) if q.kind == "lut" else None, ps.weights,
                             ps.code_bytes + ps.table_bytes, 4 * ps.weights, "x".join(map(str, shapes[out][1:])),
                             ab, (n_act * ab + 7) // 8))
    return rows


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def line_chart(series: list[tuple[str, list[tuple[float, float]]]], title: str, xlabel: str, ylabel: str,
               width: int = 560, height: int = 260, percent: bool = False) -> Markup:
    """An SVG line chart; series with a single point are drawn as markers only."""
    pts = [p for _, s in series for p in s if all(map(math.isfinite, p))]
    if not pts:
        return Markup(f"<p>{html.escape(title)}: no data</p>")
    left, right, top, bottom = 56, 12, 24, 40
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    pad = (y1 - y0) * 0.05 or abs(y1) * 0.05 or 0.5
    y0, y1 = y0 - pad, y1 + pad
    pw, ph = width - left - right, height - top - bottom

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * pw

    def sy(v: float) -> float:
        return top + (1 - (v - y0) / (y1 - y0)) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<text x="{width / 2}" y="15" text-anchor="middle" font-size="13">{html.escape(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>']
    for t in _ticks(y0, y1):
        label = f"{t:.0%}" if percent else f"{t:.3g}"
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 4}" y="{sy(t) + 4:.1f}" text-anchor="end">{label}</text>')
    for t in _ticks(x0, x1):
        out.append(f'<text x="{sx(t):.1f}" y="{top + ph + 14}" text-anchor="middle">{t:.3g}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle">{html.escape(xlabel)}</text>')
    out.append(f'<text x="12" y="{top + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 12 {top + ph / 2})">{html.escape(ylabel)}</text>')
    for k, (label, s) in enumerate(series):
        c = COLORS[k % len(COLORS)]
        s = [p for p in s if all(map(math.isfinite, p))]
        if len(s) > 1:
            d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s)
            out.append(f'<polyline class="series" fill="none" stroke="{c}" stroke-width="1.5" points="{d}"/>')
        for x, y in s if len(s) <= 30 else []:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{c}"/>')
        out.append(f'<text x="{left + 8}" y="{top + 14 + 13 * k}" fill="{c}">{html.escape(label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def bar_chart(labels: list[str], values: list[float], title: str, unit: str, width: int = 560) -> Markup:
    """Horizontal bars, one per layer."""
    if not values:
        return Markup("")
    row, left = 20, 150
    height = 30 + row * len(values)
    top = max(values) or 1.0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="11"><text x="{width / 2}" y="15" text-anchor="middle" font-size="13">'
           f'{html.escape(title)}</text>']
    for k, (lab, v) in enumerate(zip(labels, values)):
        y = 24 + row * k
        w = (width - left - 60) * v / top
        out.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{html.escape(lab)}</text>'
                   f'<rect class="bar" x="{left}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{COLORS[0]}"/>'
                   f'<text x="{left + w + 4:.1f}" y="{y + 12}">{v:g} {html.escape(unit)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


# the head every quantization page starts with (this report and int8_report's); the page adds its own rules
PAGE_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>nnb quantize: {{ title }}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
"""

TEMPLATE = PAGE_HEAD + """tr.total td { font-weight: bold; }
.charts svg { margin: 0.5em 1em 0.5em 0; }
</style></head><body>
<h1>{{ title }}</h1>
<p>Method <b>{{ method }}</b>{% if options %} ({{ options }}){% endif %}; {{ n_layers }} quantized layers,
{{ "{:,}".format(total.weights) }} weights: <b>{{ "%.2f"|format(total.weight_kb) }} kB</b> packed
(codes + tables; float32 {{ "%.2f"|format(total.float_kb) }} kB, {{ "%.1f"|format(total.ratio) }}x smaller).
Largest layer activation {{ "%.2f"|format(total.act_max_kb) }} kB, sum {{ "%.2f"|format(total.act_sum_kb) }} kB
(one sample).{% if final %} {{ final }}{% endif %}</p>
<h2>Layers</h2>
<table id="layers">
<tr><th>layer</th><th>function</th><th>weight shape</th><th>kind</th><th>bits</th><th>K</th><th>weights</th>
<th>weight kB</th><th>float32 kB</th><th>output</th><th>act bits</th><th>activation kB</th></tr>
{% for r in rows %}<tr class="layer">
<td>{{ r.name }}</td><td>{{ r.op }}</td><td>{{ r.shape }}</td><td>{{ r.kind }}</td><td class="n">{{ r.bits }}</td>
<td class="n">{{ r.k if r.k is not none else "" }}</td><td class="n">{{ "{:,}".format(r.weights) }}</td>
<td class="n">{{ "%.3f"|format(r.weight_bytes / 1024) }}</td>
<td class="n">{{ "%.2f"|format(r.float_bytes / 1024) }}</td>
<td>{{ r.act_shape }}</td><td class="n">{{ r.act_bits }}</td><td class="n">{{ "%.3f"|format(r.act_bytes / 1024) }}</td>
</tr>
{% endfor %}<tr class="total"><td colspan="6">total</td><td class="n">{{ "{:,}".format(total.weights) }}</td>
<td class="n">{{ "%.3f"|format(total.weight_kb) }}</td><td class="n">{{ "%.2f"|format(total.float_kb) }}</td>
<td></td><td></td><td class="n">{{ "%.3f"|format(total.act_sum_kb) }}</td></tr>
</table>
<div class="charts">{{ bits_chart }}{{ kb_chart }}</div>
{% if acts %}<h2>Quantized activations</h2>
<p>Unsigned, learned step and range{% if act_budget %}; budget {{ "%.3f"|format(act_budget.kb) }} kB
({{ act_budget.kind }}){% endif %}.</p>
<table id="activations"><tr><th>activation</th><th>elements</th><th>bits</th><th>step</th><th>range</th>
<th>kB</th><th>int8 kB</th></tr>
{% for a in acts %}<tr class="act"><td>{{ a.name }}</td><td class="n">{{ "{:,}".format(a.elements) }}</td>
<td class="n">{{ a.bits }}</td><td class="n">{{ "%.4g"|format(a.step) }}</td>
<td class="n">{{ "%.4g"|format(a.range) }}</td>
<td class="n">{{ "%.3f"|format(a.elements * a.bits / 8192) }}</td>
<td class="n">{{ "%.3f"|format(a.elements / 1024) }}</td></tr>
{% endfor %}</table>{% endif %}
<h2>Training</h2>
{% if epochs %}<table id="epochs">
<tr><th>epoch</th><th>loss</th><th>train accuracy</th><th>validation accuracy</th></tr>
{% for e in epochs %}<tr><td class="n">{{ e.epoch }}</td><td class="n">{{ "%.4f"|format(e.loss) }}</td>
<td class="n">{{ "%.2f"|format(100 * e.train_acc) }} %</td>
<td class="n">{{ ("%.2f %%"|format(100 * e.val_acc)) if e.val_acc is defined else "" }}</td></tr>
{% endfor %}</table>{% endif %}
<div class="charts">{{ loss_chart }}{{ acc_chart }}</div>
</body></html>
"""


def render_report(graph: Graph, model: QuantizedModel, steps: list[dict[str, float]],
                  epochs: list[dict[str, float]], title: str = "", options: str = "", final: str = "",
                  act_bits: dict[str, int] | None = None) -> str:
    rows = layer_rows(graph, model, act_bits)
    acts = [dict(a, name=n) for n, a in (model.info.get("activations") or {}).items()]
    wb = sum(r.weight_bytes for r in rows)
    fb = sum(r.float_bytes for r in rows)
    total = {"weights": sum(r.weights for r in rows), "weight_kb": wb / 1024, "float_kb": fb / 1024,
             "ratio": fb / max(wb, 1), "act_max_kb": max((r.act_bytes for r in rows), default=0) / 1024,
             "act_sum_kb": sum(r.act_bytes for r in rows) / 1024}
    short = [r.name.split("/")[0] for r in rows]
    loss = [(s["epoch"], s["loss"]) for s in steps]
    acc = [("train (window)", [(s["epoch"], s["acc"]) for s in steps])]
    val = [(float(e["epoch"]), e["val_acc"]) for e in epochs if "val_acc" in e]
    if val:
        acc.append(("validation", val))
    env = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)
    return env.from_string(TEMPLATE).render(
        title=title or "quantized model", method=model.method, options=options, final=final, rows=rows,
        n_layers=len(rows), total=total, epochs=epochs, acts=acts, act_budget=model.info.get("act_budget"),
        bits_chart=bar_chart(short, [float(r.bits) for r in rows], "bits per weight", "bit"),
        kb_chart=bar_chart(short, [round(r.weight_bytes / 1024, 2) for r in rows], "packed weight kB", "kB"),
        loss_chart=line_chart([("loss", loss)], "training loss", "epoch", "loss"),
        acc_chart=line_chart(acc, "accuracy", "epoch", "top-1", percent=True))


def write_report(path: str, html_text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(html_text)
    except OSError as e:
        raise NnbError(f"{path}: cannot write the report ({e.strerror})") from None


def options_text(args: Any) -> str:
    if args.method == "lutq":
        extra = [n for n in ("pow2", "symmetric") if getattr(args, n, False)]
        if getattr(args, "prune", 0):
            extra.append(f"prune {args.prune}")
        return ", ".join([f"K={args.k}"] + extra)
    parts = [f"bits {args.bits}" if args.bits else f"weight budget {args.weight_budget}"]
    if getattr(args, "act_budget", None):
        parts.append(f"activation budget {args.act_budget} ({getattr(args, 'act_budget_kind', 'max')})")
    if args.pow2_step:
        parts.append("power-of-two step")
    return ", ".join(parts)
