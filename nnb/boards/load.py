"""Board files (boards/*.toml): load, validate, list.

A board file names the CPU, its FPU, the memory regions, the toolchain and
flags, the QEMU machine that emulates it (if any), how the firmware counts
time and does I/O, and what the board supports.  An unknown key, a missing
field or a value of the wrong type is an :class:`NnbError` naming the file and
the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from nnb.errors import NnbError
from nnb.readfile import read_bytes

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOARDS_DIR = os.path.join(ROOT, "boards")

CPUS = ("cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "x86_64")
FPUS = ("none", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16", "sse2")
COUNTERS = ("systick-icount", "dwt", "systick", "clock")
IOS = ("semihosting", "files")
KINDS = ("flash", "ram", "external")


@dataclass(frozen=True)
class Region:
    name: str
    kind: str  # flash | ram | external
    origin: int
    length: int


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    cpu: str
    fpu: str
    clock_hz: int
    memory: tuple[Region, ...]
    cc: str
    cflags: tuple[str, ...]
    opt: str
    defines: tuple[str, ...]
    ldflags: tuple[str, ...]
    counter: str
    io: str
    stack_margin: int
    supports: dict[str, bool]
    qemu_machine: str | None = None
    insn_per_tick: int = 0
    path: str = ""
    source: bytes = field(default=b"", repr=False)

    @property
    def is_host(self) -> bool:
        return self.cpu == "x86_64"

    def region(self, kind: str) -> Region | None:
        """The first region of this kind: "flash" holds code and weights, "ram" data, arena and stack."""
        return next((r for r in self.memory if r.kind == kind), None)

    @property
    def flash_bytes(self) -> int:
        r = self.region("flash")
        return r.length if r else 0

    @property
    def ram_bytes(self) -> int:
        r = self.region("ram")
        return r.length if r else 0


# key -> (type, required); nested tables are checked by their own schema
_TOP = {"name": (str, True), "description": (str, True), "cpu": (str, True), "fpu": (str, True),
        "clock_hz": (int, True), "memory": (list, False), "toolchain": (dict, True), "qemu": (dict, False),
        "firmware": (dict, True), "supports": (dict, True)}
_REGION = {"name": (str, True), "kind": (str, True), "origin": (int, True), "length": (int, True)}
_TOOLCHAIN = {"cc": (str, True), "cflags": (list, True), "opt": (str, True), "defines": (list, True),
              "ldflags": (list, True)}
_QEMU = {"machine": (str, True), "insn_per_tick": (int, True)}
_FIRMWARE = {"counter": (str, True), "io": (str, True), "stack_margin": (int, True)}
_SUPPORTS = {"float": (bool, True), "int8": (bool, True), "opencl": (bool, True)}


def _check(path: str, where: str, table: dict, schema: dict) -> None:
    for key in table:
        if key not in schema:
            raise NnbError(f"{path}: unknown key '{where}{key}' (known: {', '.join(schema)})")
    for key, (typ, required) in schema.items():
        if key not in table:
            if required:
                raise NnbError(f"{path}: missing field '{where}{key}'")
            continue
        v = table[key]
        if typ is int and isinstance(v, bool) or not isinstance(v, typ):
            raise NnbError(f"{path}: '{where}{key}' must be {typ.__name__}, not {type(v).__name__}")
        if typ is list and key != "memory" and not all(isinstance(s, str) for s in v):
            raise NnbError(f"{path}: '{where}{key}' must be a list of strings")


def _choice(path: str, key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise NnbError(f"{path}: '{key}' is '{value}', expected one of {', '.join(allowed)}")


def parse_board(path: str) -> Board:
    """Read and validate one board file."""
    source = read_bytes(path, "board file")
    try:
        t = tomllib.loads(source.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise NnbError(f"{path}: not valid TOML: {e}") from None
    _check(path, "", t, _TOP)
    _choice(path, "cpu", t["cpu"], CPUS)
    _choice(path, "fpu", t["fpu"], FPUS)
    tc, fw, sup = t["toolchain"], t["firmware"], t["supports"]
    _check(path, "toolchain.", tc, _TOOLCHAIN)
    _check(path, "firmware.", fw, _FIRMWARE)
    _check(path, "supports.", sup, _SUPPORTS)
    _choice(path, "firmware.counter", fw["counter"], COUNTERS)
    _choice(path, "firmware.io", fw["io"], IOS)
    regions = []
    for k, r in enumerate(t.get("memory", [])):
        if not isinstance(r, dict):
            raise NnbError(f"{path}: 'memory[{k}]' must be a table")
        _check(path, f"memory[{k}].", r, _REGION)
        _choice(path, f"memory[{k}].kind", r["kind"], KINDS)
        if r["length"] <= 0 or r["origin"] < 0 or r["origin"] + r["length"] > 1 << 32:
            raise NnbError(f"{path}: 'memory[{k}]' ({r['name']}) is outside the 32-bit address space")
        regions.append(Region(r["name"], r["kind"], r["origin"], r["length"]))
    qemu = t.get("qemu")
    if qemu is not None:
        _check(path, "qemu.", qemu, _QEMU)
        if qemu["insn_per_tick"] <= 0:
            raise NnbError(f"{path}: 'qemu.insn_per_tick' must be > 0")
    if t["cpu"] != "x86_64":
        for kind in ("flash", "ram"):
            if not any(r.kind == kind for r in regions):
                raise NnbError(f"{path}: missing field 'memory' region of kind '{kind}'")
        if fw["io"] != "semihosting":
            raise NnbError(f"{path}: 'firmware.io' must be 'semihosting' on a microcontroller")
        if fw["counter"] == "clock":
            raise NnbError(f"{path}: 'firmware.counter' 'clock' is for the host only")
    elif fw["io"] != "files" or fw["counter"] != "clock":
        raise NnbError(f"{path}: the host board uses 'firmware.io' = 'files' and 'firmware.counter' = 'clock'")
    if fw["counter"] == "systick-icount" and qemu is None:
        raise NnbError(f"{path}: 'firmware.counter' 'systick-icount' needs a [qemu] table")
    name = os.path.splitext(os.path.basename(path))[0]
    if t["name"] != name:
        raise NnbError(f"{path}: 'name' is '{t['name']}' but the file is named {name}.toml")
    return Board(name=t["name"], description=t["description"], cpu=t["cpu"], fpu=t["fpu"], clock_hz=t["clock_hz"],
                 memory=tuple(regions), cc=tc["cc"], cflags=tuple(tc["cflags"]), opt=tc["opt"],
                 defines=tuple(tc["defines"]), ldflags=tuple(tc["ldflags"]), counter=fw["counter"], io=fw["io"],
                 stack_margin=fw["stack_margin"], supports=dict(sup),
                 qemu_machine=qemu["machine"] if qemu else None, insn_per_tick=qemu["insn_per_tick"] if qemu else 0,
                 path=path, source=source)


def board_names(directory: str = BOARDS_DIR) -> list[str]:
    if not os.path.isdir(directory):
        return []
    return sorted(f[:-5] for f in os.listdir(directory) if f.endswith(".toml"))


def list_boards(directory: str = BOARDS_DIR) -> list[Board]:
    """Every board file, validated."""
    return [parse_board(os.path.join(directory, n + ".toml")) for n in board_names(directory)]


def load_board(name_or_path: str, directory: str = BOARDS_DIR) -> Board:
    """A board by name (boards/NAME.toml) or by the path of a .toml file."""
    if name_or_path.endswith(".toml") or os.sep in name_or_path:
        return parse_board(name_or_path)
    path = os.path.join(directory, name_or_path + ".toml")
    if not os.path.exists(path):
        known = ", ".join(board_names(directory)) or "none"
        raise NnbError(f"unknown board '{name_or_path}' (known boards: {known})")
    return parse_board(path)
