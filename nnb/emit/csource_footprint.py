"""The footprint report of an emitted model: flash (weights, code) and RAM (arena, stack).

Weights and arena are exact from the emitter's own figures.  Code and stack are
measured when a compiler is present: the emitted sources are compiled (``-c``,
``-Os``, one section per function) for a Cortex-M4 with ``arm-none-eabi-gcc``
when it is installed, else for the host; code is the functions reachable from
the API (what ``--gc-sections`` keeps; the objects' whole ``.text`` is given too),
constants their ``.rodata`` besides the weights; for the Cortex-M4 the objects are
also linked alone (entry ``PREFIX_run``, ``--gc-sections``, newlib and libgcc) and
the linker map gives what the model adds to a firmware image besides its weights:
code with the library routines it pulls in, constants and ``.data`` images
(``code_besides_weights_bytes``); the stack is the
worst-case chain from ``PREFIX_run`` through ``-fstack-usage`` and
``-fcallgraph-info`` (:mod:`nnb.footprint`), with the calls through the kernel
records added as edges.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any

from nnb import footprint
from nnb.errors import NnbError

M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def target_toolchain(target: str = "auto") -> tuple[str, str, list[str], str] | None:
    """(target name, compiler, target flags, size tool) or None when no compiler is installed."""
    if target in ("auto", "cortex-m4") and shutil.which("arm-none-eabi-gcc") and shutil.which("arm-none-eabi-size"):
        return "cortex-m4", "arm-none-eabi-gcc", M4_FLAGS, "arm-none-eabi-size"
    # the host: position-dependent code, as firmware is (const tables with pointers stay in .rodata)
    if target == "cortex-m4":
        raise NnbError("no Cortex-M4 compiler: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi")
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc) and shutil.which("size"):
            return "host", cc, ["-fno-pie"], "size"
    return None


def compile_objects(e: Any, workdir: str, cc: str, flags: list[str], opt: str = "-Os") -> list[str]:  # noqa: ANN401
    """Compile every model/kernel source of ``e`` (an Emitted, already written to ``workdir``) with -c."""
    objs = []
    for rel in sorted(e.files):
        if not rel.endswith(".c") or rel.endswith("_example.c"):
            continue
        obj = rel[:-2] + ".o"
        cmd = [cc] + WARN + flags + [opt, "-ffunction-sections", "-fdata-sections", "-fstack-usage",
                                     "-fcallgraph-info=su"] + [f"-D{k}" for k in e.model.knobs] + ["-c", rel, "-o", obj]
        r = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
        if r.returncode != 0:
            msg = [ln for ln in r.stderr.splitlines() if "error" in ln] or r.stderr.splitlines()[-1:] or ["failed"]
            raise NnbError(f"compiling the emitted {rel} with {cc} failed: {msg[0].strip()}")
        objs.append(obj)
    return objs


def measure(e: Any, target: str = "auto") -> dict[str, Any]:  # noqa: ANN401
    """The footprint of an :class:`nnb.emit.csource.Emitted` (see the module docstring)."""
    from nnb.emit.csource import write_tree

    m = e.model
    rep: dict[str, Any] = {
        "prefix": m.prefix,
        "weights_bytes": m.weight_bytes,
        "arena_bytes": m.arena_bytes,
        "tensor_bytes": m.tensor_bytes,
        "scratch_bytes": m.scratch_bytes,
        "macs": m.macs,
        "functions": len(m.nodes),
        "kernel_files": len(m.kernel_sources),
        "target": None, "code_bytes": None, "const_bytes": None, "stack_bytes": None, "stack_path": None,
    }
    tc = target_toolchain(target)
    if tc is None:
        rep["note"] = "no C compiler found: code and stack not measured (apt-get install gcc)"
        return rep
    name, cc, flags, size_tool = tc
    with tempfile.TemporaryDirectory(prefix="nnb-emitc-") as tmp:
        write_tree(e, tmp)
        objs = compile_objects(e, tmp, cc, flags)
        sizes = footprint.section_sizes([os.path.join(tmp, o) for o in objs], size_tool)
        wsyms = footprint.symbol_sizes(os.path.join(tmp, f"{m.prefix}_weights.o"), size_tool.replace("size", "nm"))
        weights_in_obj = sum(n for s, (_t, n) in wsyms.items() if s.startswith(f"{m.prefix}_w_"))
        edges = m.call_edges()
        roots = [f"{m.prefix}_run", f"{m.prefix}_check", f"{m.prefix}_status_str"]
        code, _ = footprint.reachable_code([os.path.join(tmp, o) for o in objs], roots, edges,
                                           size_tool.replace("size", "nm"))
        sus = [os.path.join(tmp, o[:-2] + ".su") for o in objs]
        cis = [os.path.join(tmp, o[:-2] + ".ci") for o in objs]
        try:
            st = footprint.stack_report([p for p in sus if os.path.exists(p)], [f"{m.prefix}_run"],
                                        [p for p in cis if os.path.exists(p)], edges)
            rep["stack_bytes"] = st.worst[f"{m.prefix}_run"]
            rep["stack_path"] = st.path[f"{m.prefix}_run"]
        except NnbError as err:
            rep["note"] = f"stack not bounded: {err}"
        linked = link_model(e, tmp, cc, flags, objs) if name == "cortex-m4" else None
    rep.update(target=f"{name} ({cc} -Os)", code_bytes=code, code_all_objects_bytes=sizes["text"],
               const_bytes=sizes["rodata"] + sizes["data"] - weights_in_obj, weights_in_objects=weights_in_obj,
               static_ram_bytes=sizes["data"] + sizes["bss"])
    rep["flash_bytes"] = m.weight_bytes + code + rep["const_bytes"]
    if linked is not None:
        # what the model adds to a firmware image: its objects linked alone with --gc-sections from the API,
        # with the libgcc/libc/libm routines they pull in (code, constants, .data images; weights apart)
        rep.update(code_linked_bytes=linked["own"]["text"], library_bytes=linked["library"],
                   const_bytes=linked["own"]["rodata"] + linked["own"]["data"],
                   static_ram_bytes=linked["own"]["data"] + linked["own"]["bss"])
        rep["code_besides_weights_bytes"] = rep["code_linked_bytes"] + rep["const_bytes"]
        rep["flash_bytes"] = m.weight_bytes + rep["code_besides_weights_bytes"]
    return rep


def link_model(e: Any, workdir: str, cc: str, flags: list[str], objs: list[str]) -> dict[str, Any] | None:  # noqa: ANN401
    """Link the model's objects alone (entry PREFIX_run, PREFIX_check and PREFIX_status_str kept,
    --gc-sections, -lm -lc -lgcc) and split the map: the model's bytes by class and the library members' text.
    None when the link fails (the figure is then not reported)."""
    p = e.model.prefix
    cmd = [cc, *flags, "-nostartfiles", "-Wl,--gc-sections", f"-Wl,-e,{p}_run", f"-Wl,-u,{p}_check",
           f"-Wl,-u,{p}_status_str", "-Wl,-Map=model.map", "-Wl,--cref", *objs, "-lm", "-lc", "-lgcc",
           "-o", "model.elf"]
    r = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if r.returncode != 0:
        return None
    with open(os.path.join(workdir, "model.map"), encoding="utf-8") as f:
        lm = footprint.parse_map(f.read())
    ours = set(objs)
    split = footprint.map_split(lm, lambda path: path in ours, lambda sec: sec.startswith(f".rodata.{p}_w_"))
    lib = sum(n for _o, sec, n, path in lm.kept if "(" in path and footprint.classify(sec) == "text")
    return {"own": split["own"], "library": lib}


def format_report(rep: dict[str, Any]) -> str:
    lines = [f"footprint of {rep['prefix']}: {rep['functions']} functions, {rep['macs']:,} MACs, "
             f"{rep['kernel_files']} kernel files"]
    if rep.get("code_besides_weights_bytes") is not None:
        lines.append(f"  flash {rep['flash_bytes']:,} B = weights {rep['weights_bytes']:,} + code "
                     f"{rep['code_linked_bytes']:,} (libgcc/libc/libm {rep['library_bytes']:,} of it) + constants "
                     f"{rep['const_bytes']:,}   [{rep['target']}, linked alone]")
    elif rep.get("code_bytes") is not None:
        lines.append(f"  flash {rep['flash_bytes']:,} B = weights {rep['weights_bytes']:,} + code "
                     f"{rep['code_bytes']:,} + constants {rep['const_bytes']:,}   [{rep['target']}]")
    else:
        lines.append(f"  flash: weights {rep['weights_bytes']:,} B (code not measured)")
    past = rep['arena_bytes'] - rep['tensor_bytes']
    ram = f"  RAM   arena {rep['arena_bytes']:,} B (tensors {rep['tensor_bytes']:,}; largest kernel scratch " \
          f"{rep['scratch_bytes']:,} B; the scratch ends {past:,} B past the tensors)"
    if rep.get("stack_bytes") is not None:
        ram += f" + stack {rep['stack_bytes']:,} B ({' > '.join(rep['stack_path'][:4])}" \
               f"{' > ...' if len(rep['stack_path']) > 4 else ''})"
    lines.append(ram)
    if rep.get("note"):
        lines.append(f"  note: {rep['note']}")
    return "\n".join(lines)
