"""The fit check's parsers on small hand-written inputs: the call graph (static names, calls through the
kernel table resolved by the call site, library allowance) and the linker map."""

from __future__ import annotations

from nnb.boards import load_board
from nnb.boards.fit import section_usage
from nnb.boards.stack import read_callgraph, worst_depth

LOADER_C = """int nnbrt_run_range(void)
{
    return k->run(a);
}
int check_all(void) { return k->check(a); }
"""

LOADER_CI = """graph: { title: "loader.c"
node: { title: "nnbrt_run_range" label: "nnbrt_run_range\\nloader.c:1:5\\n100 bytes (static)" }
node: { title: "__indirect_call" label: "Indirect Call Placeholder" shape : ellipse }
edge: { sourcename: "nnbrt_run_range" targetname: "__indirect_call" label: "SRC:3:12" }
node: { title: "check_all" label: "check_all\\nloader.c:5:5\\n40 bytes (static)" }
edge: { sourcename: "check_all" targetname: "__indirect_call" label: "SRC:5:28" }
node: { title: "nnbrt_init" label: "nnbrt_init\\nloader.c:9:5\\n8 bytes (static)" }
edge: { sourcename: "nnbrt_init" targetname: "check_all" }
}
"""

CONV_CI = """graph: { title: "conv.c"
node: { title: "/src/conv.c:run" label: "run\\n/src/conv.c:3:13\\n300 bytes (static)" }
node: { title: "/src/conv.c:check" label: "check\\n/src/conv.c:9:13\\n20 bytes (static)" }
node: { title: "/src/conv.c:helper" label: "helper\\n/src/conv.c:20:13\\n64 bytes (static)" }
edge: { sourcename: "/src/conv.c:run" targetname: "/src/conv.c:helper" }
node: { title: "expf" label: "expf\\nmath.h:1:1" shape : ellipse }
edge: { sourcename: "/src/conv.c:helper" targetname: "expf" }
}
"""


def test_worst_depth_resolves_static_indirect_and_library(tmp_path) -> None:
    src = tmp_path / "loader.c"
    src.write_text(LOADER_C)
    (tmp_path / "loader.ci").write_text(LOADER_CI.replace("SRC", str(src)))
    (tmp_path / "conv.ci").write_text(CONV_CI)
    g = read_callgraph([str(tmp_path / "loader.ci"), str(tmp_path / "conv.ci")])
    kern = {"run": ["conv:/src/conv.c:run"], "check": ["conv:/src/conv.c:check"]}
    depth, chain = worst_depth(g, "nnbrt_run_range", kern, extern_bytes=50)
    assert depth == 100 + 300 + 64 + 50  # k->run -> run -> static helper -> expf (library allowance)
    assert chain[:4] == ["nnbrt_run_range", "/src/conv.c:run", "/src/conv.c:helper", "expf (library, 50 B allowed)"]
    assert worst_depth(g, "nnbrt_init", kern, extern_bytes=50)[0] == 8 + 40 + 20  # k->check: check only


MAP = """Memory Configuration

Name             Origin             Length             Attributes
FLASH            0x00000000         0x00400000         xr
RAM              0x20000000         0x00400000         xrw

Linker script and memory map

.isr_vector     0x00000000       0x40
 .isr_vector    0x00000000       0x40 build/startup.o
.text           0x00000040     0x1000
 .text.main     0x00000040       0x80 build/main.o
.nnb_model      0x00001040      0x200
.stack          0x20000000      0x800
.data           0x20000800       0x10 load address 0x00001240
.bss            0x20000810       0x20
.nnb_arena      0x20000830      0x400
.ARM.attributes
                0x00000000       0x2e
.comment        0x00000000       0x49
"""


def test_section_usage_from_map(tmp_path) -> None:
    p = tmp_path / "fw.map"
    p.write_text(MAP)
    u = section_usage(load_board("qemu-mps2-an386"), str(p))
    assert u["flash"] == 0x40 + 0x1000 + 0x200 + 0x10  # .data's initial values are in flash too
    assert u["ram"] == 0x800 + 0x10 + 0x20 + 0x400
    assert u[".nnb_arena"] == 0x400 and ".comment" not in u and ".ARM.attributes" not in u
