"""nnb.footprint: .su / .ci parsing, worst-case stack over the call graph, section classes."""

from __future__ import annotations

import pytest

from nnb import footprint
from nnb.errors import NnbError

SU = "a.c:1:12:leaf\t104\tstatic\na.c:5:5:mid\t48\tstatic\na.c:6:5:top\t32\tdynamic,bounded\n"
CI = """graph: { title: "a.c"
node: { title: "a.c:leaf" label: "leaf\\na.c:1:12\\n104 bytes (static)" }
node: { title: "__aeabi_idivmod" label: "__aeabi_idivmod\\n<built-in>" shape : ellipse }
edge: { sourcename: "a.c:leaf" targetname: "__aeabi_idivmod" }
node: { title: "mid" label: "mid\\na.c:5:5\\n48 bytes (static)" }
edge: { sourcename: "mid" targetname: "a.c:leaf" label: "a.c:5:54" }
node: { title: "top" label: "top\\na.c:6:5\\n32 bytes (dynamic,bounded)" }
edge: { sourcename: "top" targetname: "mid" label: "a.c:6:48" }
node: { title: "side" label: "side\\na.c:9:5\\n400 bytes (static)" }
}
"""


def test_parse_su_and_ci() -> None:
    su = footprint.parse_su(SU)
    assert su["leaf"] == footprint.StackFrame(104, "static") and su["top"].qualifier == "dynamic,bounded"
    nodes, edges = footprint.parse_ci(CI)
    assert nodes["a.c:leaf"].bytes == 104 and "__aeabi_idivmod" not in nodes
    assert ("top", "mid") in edges and ("mid", "a.c:leaf") in edges


def test_stack_worst_path_and_extra_edges(tmp_path) -> None:
    (tmp_path / "a.su").write_text(SU)
    (tmp_path / "a.ci").write_text(CI)
    su, ci = [str(tmp_path / "a.su")], [str(tmp_path / "a.ci")]
    assert footprint.stack_usage(su, ["top", "mid"], ci) == {"top": 32 + 48 + 104, "mid": 48 + 104}
    # a call the compiler cannot see (through a function-pointer table) to the 400-byte frame
    r = footprint.stack_report(su, ["top"], ci, {"mid": ["side"]})
    assert r.worst["top"] == 32 + 48 + 400 and r.path["top"] == ["top", "mid", "side"]
    assert "__aeabi_idivmod" in r.unknown and "top" in r.dynamic
    assert footprint.stack_usage(su, ["top"]) == {"top": 32}  # no call graph: the frame alone
    with pytest.raises(NnbError, match="recursion"):
        footprint.stack_usage(su, ["top"], ci, {"a.c:leaf": ["top"]})


def test_section_classes() -> None:
    assert [footprint.classify(s) for s in (".text.run", ".rodata.cst4", ".data.rel.ro", ".bss.arena", ".comment",
                                            ".init_array", ".ARM.exidx")] == \
        ["text", "rodata", "data", "bss", "", "data", "text"]
