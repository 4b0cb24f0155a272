"""``nnb emit-c``: a model as firmware-ready C99 source.

Python computes the facts (:mod:`nnb.emit.csource_ctx`), the jinja2 templates
in ``templates/emit_c/`` lay them out, and the kernel sources the model needs
are copied unchanged from ``c_runtime/`` (:mod:`nnb.emit.csource_kernels`).
Everything is rendered in memory first: a model nnb cannot emit stops before
any file is written.  The output is deterministic (no dates, sorted lists).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from nnb.emit import csource_kernels as ck
from nnb.emit.csource_ctx import KERNEL_PROFILES, CModel, build_context, c_comment, sha256_file
from nnb.errors import NnbError
from nnb.readfile import read_bytes

TEMPLATES = os.path.join(ck.ROOT, "templates", "emit_c")
ARENA_MODES = ("static", "caller")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Emitted:
    files: dict[str, bytes]  # relative path -> content
    model: CModel

    @property
    def prefix(self) -> str:
        return self.model.prefix


def default_prefix(model_path: str) -> str:
    base = os.path.basename(model_path).split(".")[0]
    s = re.sub(r"[^A-Za-z0-9_]", "_", base).strip("_").lower() or "model"
    return ("m_" + s) if s[0].isdigit() else s


def _load(model_path: str):  # noqa: ANN202 - Graph | QuantizedModel
    from nnb.emit.convert import load_for_convert

    return load_for_convert(model_path)


_runtimes: dict[str, tuple] = {}


def runtime_library(kernels: str) -> str:
    """c_runtime/build-emitc-KERNELS/libnnbrt.so: the C runtime built with the emitted code's kernel settings
    (KERNEL_PROFILES), brought up to date by make; an existing build is used as it is when make is missing
    or the sources do not build right now."""
    knobs, opt = KERNEL_PROFILES[kernels]
    build = f"build-emitc-{kernels}"
    lib = os.path.join(ck.C_RUNTIME, build, "libnnbrt.so")
    if shutil.which("make"):
        cmd = ["make", "-C", ck.C_RUNTIME, "-s", f"BUILD={build}", "DISPATCH=0",
               "OPT=" + " ".join([opt] + [f"-D{k}" for k in knobs]), f"{build}/libnnbrt.so"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0 and not os.path.exists(lib):
            last = [ln for ln in (r.stderr or r.stdout).splitlines() if "rror" in ln] or ["unknown error"]
            raise NnbError(f"building the C runtime ({build}) failed: {last[0].strip()}")
    if not os.path.exists(lib):
        raise NnbError(f"cannot build the C runtime ({build}): 'make' is not installed (apt-get install make gcc)")
    return lib


def _runtime(kernels: str) -> tuple:
    """(ffi, lib) of :func:`runtime_library`, once per process."""
    if kernels in _runtimes:
        return _runtimes[kernels]
    from cffi import FFI

    ffi = FFI()
    ffi.cdef("""
    typedef struct { int32_t function_index, function_id, variable_index; } nnbrt_diag;
    typedef struct { size_t tables, io, tensors, scratch, total; } nnbrt_arena_info;
    typedef struct nnbrt_net nnbrt_net;
    const char *nnbrt_status_str(int st);
    int nnbrt_arena_size_diag(const void *image, size_t image_len, size_t *bytes, nnbrt_diag *diag);
    int nnbrt_init(nnbrt_net **net, const void *image, size_t image_len, void *arena, size_t arena_len);
    int nnbrt_get_arena_info(const nnbrt_net *net, nnbrt_arena_info *info);
    """)
    if kernels == "default":  # the runtime's own default build (nnb.backends.c), for comparisons
        from nnb.backends.c import build_library

        path = build_library()
    else:
        path = runtime_library(kernels)
    try:
        _runtimes[kernels] = (ffi, ffi.dlopen(path))
    except OSError as e:
        raise NnbError(f"cannot load the C runtime build {path} ({' '.join(str(e).split())[:200]})") from None
    return _runtimes[kernels]


def runtime_arena_info(image: bytes, graph, kernels: str = "mcu") -> dict[str, int]:  # noqa: ANN001 - Graph
    """The C runtime's own arena figures for ``image`` (nnbrt_get_arena_info: tables, io, tensors, scratch,
    total), from the runtime built with the kernel settings ``kernels`` (:func:`runtime_library`; "default":
    the runtime's default build); a function the runtime refuses is named with its layer."""
    ffi, lib = _runtime(kernels)
    buf = ffi.new("uint8_t[]", bytes(image) + b"\0" * 16)
    need, diag = ffi.new("size_t *"), ffi.new("nnbrt_diag *")
    st = lib.nnbrt_arena_size_diag(buf, len(image), need, diag)
    if st != 0:
        why = ffi.string(lib.nnbrt_status_str(st)).decode()
        i = diag.function_index
        if 0 <= i < len(graph.nodes):
            n = graph.nodes[i]
            raise NnbError(f"no C kernel runs function {n.op} (layer '{n.name}'): {why}")
        raise NnbError(f"the C kernels cannot run this model: {why}")
    arena = ffi.new("uint8_t[]", int(need[0]) + 64)
    net = ffi.new("nnbrt_net **")
    st = lib.nnbrt_init(net, buf, len(image), arena, int(need[0]) + 64)
    info = ffi.new("nnbrt_arena_info *")
    if st != 0 or lib.nnbrt_get_arena_info(net[0], info) != 0:
        raise NnbError(f"the C runtime cannot load this model: {ffi.string(lib.nnbrt_status_str(st)).decode()}")
    return {k: int(getattr(info, k)) for k in ("tables", "io", "tensors", "scratch", "total")}


def runtime_scratch(image: bytes, graph, kernels: str = "mcu") -> int:  # noqa: ANN001 - nnb.ir.Graph
    """The kernels' largest scratch (64-byte aligned) for ``image`` with the emitted kernel settings."""
    info = runtime_arena_info(image, graph, kernels)
    return max(0, info["scratch"] - 63)  # the runtime adds 63 bytes of alignment slack


def node_scratch(g, kernels: str = "mcu") -> list[int]:  # noqa: ANN001 - nnb.ir.Graph (extended, as written)
    """Each function's own kernel scratch (64-byte aligned, at least): the runtime's scratch figure for an image
    holding that function alone (its non-parameter inputs made network inputs), so the emitted code can put
    each function's scratch into the plan's free space at that step instead of after every tensor."""
    from dataclasses import replace

    from nnb.emit.nnb_write import NnbPlan, write_nnb
    from nnb.ir import Graph
    from nnb.plan.arena import plan_arena

    out = []
    for node in g.nodes:
        tensors, ins = {}, []
        for x in node.inputs:
            t = g.tensors[x]
            if t.kind == "param":
                tensors[x] = t
            else:
                tensors[x] = replace(t, kind="input", data=None)
                if x not in ins:
                    ins.append(x)
        for o in node.outputs:
            tensors[o] = replace(g.tensors[o], kind="buffer", data=None)
        sub = Graph(g.name, tensors, [node], ins, list(node.outputs))
        ap = plan_arena(sub)
        image = write_nnb(sub, extended=True, plan=NnbPlan([], {}, ap.arena_bytes, ap.offsets))
        out.append(runtime_scratch(image, sub, kernels))
    return out


def add_runtime_files(files: dict[str, bytes], m: Any) -> None:  # noqa: ANN401 - CModel or I8Model
    """Add to ``files`` the runtime headers and the kernel sources and headers the emitted model ``m`` uses."""
    for src, dst in ck.HEADERS:
        files[dst] = read_bytes(os.path.join(ck.C_RUNTIME, src), "runtime header")
    for name in m.kernel_sources + m.kernel_headers:
        files[f"nnbrt/kernels/{name}"] = read_bytes(os.path.join(ck.KERNELS, name), "kernel source")


def _env():  # noqa: ANN202 - jinja2.Environment
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters["ccomment"] = c_comment
    env.filters["dflag"] = lambda k: f"-D{k}"
    return env


def render(model_path: str, prefix: str | None = None, arena: str = "static",
           command: str = "nnb emit-c", kernels: str = "mcu") -> Emitted:
    """Everything ``nnb emit-c`` writes, in memory (relative path -> bytes); ``kernels``: the kernel settings
    (nnb.emit.csource_ctx.KERNEL_PROFILES)."""
    import nnb
    from nnb.emit.convert import convert

    if arena not in ARENA_MODES:
        raise NnbError(f"--arena must be one of {', '.join(ARENA_MODES)}, not '{arena}'")
    if kernels not in KERNEL_PROFILES:
        raise NnbError(f"--kernels must be one of {', '.join(KERNEL_PROFILES)}, not '{kernels}'")
    prefix = prefix or default_prefix(model_path)
    if not _IDENT.match(prefix) or len(prefix) > 40:
        raise NnbError(f"--prefix '{prefix}' is not a C identifier (letters, digits, _; at most 40)")
    if not os.path.isfile(model_path):
        raise NnbError(f"{model_path}: no such model file")
    loaded = _load(model_path)
    from nnb.emit.csource_int8 import load_int8

    im = load_int8(model_path, loaded)
    if im is not None:
        return render_int8(im, prefix, arena, command, kernels, model_path)
    conv = convert(loaded, mode="extended")
    runtime_scratch(conv.image, conv.graph, kernels)  # the runtime validates the whole model first
    # the runtime's scratch figure of a one-function image: that kernel's scratch, or the loader's data-flow
    # table of the small image when that is bigger (a few words per variable): never below the kernel's need
    per_node = node_scratch(conv.graph, kernels)
    sha = sha256_file(model_path)
    header = [f"Generated by nnb {getattr(nnb, '__version__', '?')} (nnb emit-c): do not edit.",
              f"command: {command}",
              f"model: {os.path.basename(model_path)} sha256 {sha}"]
    m = build_context(conv, prefix, arena, header, sha, per_node, list(conv.warnings), kernels)
    env = _env()
    files: dict[str, bytes] = {}
    for tpl, out in (("model.h.j2", f"{prefix}.h"), ("model.c.j2", f"{prefix}.c"),
                     ("weights.c.j2", f"{prefix}_weights.c"), ("example_main.c.j2", f"{prefix}_example.c"),
                     ("Makefile.j2", "Makefile")):
        files[out] = env.get_template(tpl).render(m=m).encode()
    add_runtime_files(files, m)
    return Emitted(files, m)


def render_int8(im, prefix: str, arena: str = "static", command: str = "nnb emit-c",  # noqa: ANN001 - Int8Model
                kernels: str = "mcu", model_path: str | None = None, extra_outputs: tuple[str, ...] = ()) -> Emitted:
    """An int8 model (:class:`nnb.quantize.int8.Int8Model`) as emitted C, in memory
    (:mod:`nnb.emit.csource_int8`); ``extra_outputs``: tensors also returned, dequantized (checks)."""
    import nnb
    from nnb.emit.csource_int8 import build_int8_context, int8_files

    if arena not in ARENA_MODES:
        raise NnbError(f"--arena must be one of {', '.join(ARENA_MODES)}, not '{arena}'")
    if kernels not in KERNEL_PROFILES:
        raise NnbError(f"--kernels must be one of {', '.join(KERNEL_PROFILES)}, not '{kernels}'")
    if not _IDENT.match(prefix) or len(prefix) > 40:
        raise NnbError(f"--prefix '{prefix}' is not a C identifier (letters, digits, _; at most 40)")
    sha = sha256_file(model_path) if model_path else "-"
    header = [f"Generated by nnb {getattr(nnb, '__version__', '?')} (nnb emit-c, int8): do not edit.",
              f"command: {command}",
              f"model: {os.path.basename(model_path) if model_path else '(in memory)'} sha256 {sha}"]
    m = build_int8_context(im, prefix, arena, header, sha, kernels, tuple(extra_outputs))
    if im.islands():
        m.warnings.append(f"float islands (dequantize, float function, quantize): {', '.join(im.islands())}")
    return Emitted(int8_files(m, _env()), m)  # type: ignore[arg-type]


def write_tree(e: Emitted, outdir: str, force: bool = False) -> list[str]:
    """Write the files under ``outdir``; a non-empty directory needs ``force`` (then the old kernel copies go)."""
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise NnbError(f"{outdir}: exists and is not a directory")
    if os.path.isdir(outdir) and os.listdir(outdir):
        if not force:
            raise NnbError(f"{outdir}: directory is not empty (use --force to overwrite)")
        old = os.path.join(outdir, "nnbrt")
        if os.path.isdir(old):
            shutil.rmtree(old)
    written = []
    try:
        for rel in sorted(e.files):
            path = os.path.join(outdir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(e.files[rel])
            written.append(path)
    except OSError as err:
        raise NnbError(f"{outdir}: cannot write ({err.strerror})") from None
    return written


def emit_c(model_path: str, outdir: str, prefix: str | None = None, arena: str = "static", force: bool = False,
           command: str = "nnb emit-c", kernels: str = "mcu") -> Emitted:
    """Render and write (see :func:`render`, :func:`write_tree`)."""
    if os.path.isdir(outdir) and os.listdir(outdir) and not force:  # before the work, not only before writing
        raise NnbError(f"{outdir}: directory is not empty (use --force to overwrite)")
    e = render(model_path, prefix, arena, command, kernels)
    write_tree(e, outdir, force)
    return e
