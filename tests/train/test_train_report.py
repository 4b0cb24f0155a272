"""nnb quantize --report: the HTML page's per-layer rows and charts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from train_helpers import LENET, TEST_2K

from nnb.cli import main
from nnb.ops.packed import packed_words
from nnb.quantize.qmodel import load_quantized


def _rows(html: str) -> list[list[str]]:
    table = html.split('<table id="layers">')[1].split("</table>")[0]
    rows = re.findall(r'<tr class="layer">(.*?)</tr>', table, re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]


def test_quantize_report(tmp_path, capsys) -> None:
    out, rep = str(tmp_path / "q.nnq"), str(tmp_path / "r.html")
    assert main(["quantize", LENET, "--method", "lutq", "--k", "16", "--data", TEST_2K, "--limit", "640",
                 "--epochs", "2", "-q", "-o", out, "--val", TEST_2K, "--val-limit", "200", "--report", rep]) == 0
    html = open(rep, encoding="utf-8").read()
    m = load_quantized(out)
    rows = _rows(html)
    assert [r[0] for r in rows] == list(m.layers)
    for r, q in zip(rows, m.layers.values()):
        assert r[1] in ("Convolution", "Affine") and r[3] == "lut" and r[4] == "4" and r[5] == "16"
        assert int(r[6].replace(",", "")) == q.codes.size
        assert float(r[7]) == round((4 * packed_words(q.codes.size, 4) + 4 * 16) / 1024, 3)
        assert float(r[11]) > 0  # activation kB
    assert rows[0][9] == "16x24x24" and rows[0][11] == f"{16 * 24 * 24 * 4 / 1024:.3f}"
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) == 4
    for s in svgs:
        ET.fromstring(s)  # well-formed
    assert html.count('class="series"') >= 3  # loss, train accuracy, validation accuracy
    assert "validation accuracy" in html and "K=16" in html
    assert "wrote " + rep in capsys.readouterr().out
