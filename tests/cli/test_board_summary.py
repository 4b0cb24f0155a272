"""`nnb build`'s summary names whose arena it prints: the runtime's (nnbrt_arena_size) or, with
--with emit-c, the emitted model's static arena; figures carry thousands separators."""

from nnb.boards.build import BuildResult
from nnb.boards.fit import Footprint

FP = Footprint(arena=6544, stack_runtime=900, stack_runtime_only=800, stack_whole=1200, stack_reserved=2048,
               static_ram=3148, code_flash=40000, image_flash=60000, ram_capacity=4194304, flash_capacity=0)


def test_runtime_build_names_the_runtime_arena() -> None:
    text = BuildResult("b", "m", "/o", "/o/f.elf", 54156, FP, {"ram": 17107, "flash": 100000}).summary()
    assert "runtime arena 6,544 B (all the C runtime asks for" in text, text
    assert "static data 3,148 B" in text and "weights 54,156 B" in text and "of 4,194,304 B" in text, text


def test_emitc_build_names_the_emitted_arena() -> None:
    res = BuildResult("b", "m", "/o", "/o/f.elf", 54156, FP, {"ram": 17107, "flash": 100000}, emitc=True)
    text = res.summary()
    assert "emitted arena 6,544 B (the emitted model's static arena" in text, text
    assert "runtime arena" not in text and "C runtime asks for" not in text, text
    host = BuildResult("host", "m", "/o", "/o/f", 54156, FP, {}, emitc=True).summary()
    assert "emitted arena 6,544 B" in host and "weights 54,156 B (host: no memory limits)" in host, host
