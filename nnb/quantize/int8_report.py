"""Per-layer report of a calibrated model (int8 or fixed point): grid, range, SQNR against float.

Printed by ``nnb quantize --method int8|fixed8|fixed16``; ``render_html`` makes
the ``--report`` page with report.py's chart and file helpers.
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
import numpy as np

from nnb.quantize.report import PAGE_HEAD, bar_chart


@dataclass
class LayerStat:
    tensor: str
    op: str
    grid: str  # "s=0.0123 z=-128" or "fp_pos 5"
    lo: float
    hi: float
    sqnr_db: float


def sqnr_db(ref: np.ndarray, got: np.ndarray) -> float:
    """10 log10(sum ref^2 / sum (ref - got)^2); inf when equal."""
    ref = np.asarray(ref, np.float64)
    err = float(np.sum((ref - np.asarray(got, np.float64)) ** 2))
    sig = float(np.sum(ref * ref))
    if err == 0.0:
        return float("inf")
    return 10.0 * np.log10(max(sig, 1e-30) / err)


def islands_line(islands: list[str]) -> list[str]:
    """The summary line naming the float islands (none when there are none); the page shows it once."""
    if not islands:
        return []
    return ["float islands (dequantize -> float function -> quantize): " + ", ".join(islands)]


def format_table(rows: list[LayerStat]) -> str:
    w = max([len(r.tensor) for r in rows] + [6])
    lines = [f"{'tensor':<{w}}  {'function':<20} {'grid':<24} {'range':>23}  {'SQNR dB':>8}"]
    for r in rows:
        rng = f"[{r.lo:.4g}, {r.hi:.4g}]"
        lines.append(f"{r.tensor:<{w}}  {r.op:<20} {r.grid:<24} {rng:>23}  {r.sqnr_db:>8.1f}")
    return "\n".join(lines)


PAGE = PAGE_HEAD + """</style></head><body>
<h1>{{ title }}</h1>
<p>Method <b>{{ method }}</b>, calibration <b>{{ calib }}</b> on {{ samples }} samples.
{% for line in summary %}<br>{{ line }}{% endfor %}</p>
<table id="layers"><tr><th>tensor</th><th>function</th><th>grid</th><th>range</th><th>SQNR dB</th></tr>
{% for r in rows %}<tr class="layer"><td>{{ r.tensor }}</td><td>{{ r.op }}</td><td>{{ r.grid }}</td>
<td class="n">[{{ "%.4g"|format(r.lo) }}, {{ "%.4g"|format(r.hi) }}]</td>
<td class="n">{{ "%.1f"|format(r.sqnr_db) }}</td></tr>
{% endfor %}</table>
<div class="charts">{{ chart }}</div>
</body></html>
"""


def render_html(rows: list[LayerStat], title: str, method: str, calib: str, samples: int,
                summary: list[str]) -> str:
    """The report page; the float islands appear once, as the callers' ``summary`` line."""
    finite = [min(r.sqnr_db, 99.0) for r in rows]
    chart = bar_chart([r.tensor.split("/")[-1][:24] for r in rows], [round(v, 1) for v in finite],
                      "SQNR against float per tensor", "dB")
    env = jinja2.Environment(autoescape=True)
    return env.from_string(PAGE).render(title=title, method=method, calib=calib, samples=samples,
                                        summary=summary, rows=rows, chart=chart)
