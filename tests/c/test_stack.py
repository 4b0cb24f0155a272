"""The C runtime's footprint on a Cortex-M4F (arm-none-eabi-gcc, the Makefile's M4 flags).

- stack: the deepest call path from ``nnbrt_init`` and from ``nnbrt_run``
  (the loader's frames plus the check/run functions of every kernel the zoo
  models use, their extended files' FusedConv included, down to libc leaves
  counted as 64 bytes each) is at most 1 KB. The frame sizes and the call
  graph come from the compiler (``-fcallgraph-info=su``), summed by
  ``c_runtime/tools/stack_usage.py``; the two indirect calls (a kernel's
  check in the loader's check pass, its run in ``nnbrt_run_range``) are
  resolved to those kernels. ``nnbrt_arena_size`` (validation without an
  arena) is reported, not bounded.
- RAM: with the inputs in the caller's storage (NNBRT_EXTERNAL_INPUTS), the
  arena the runtime asks for is at most the extended plan + the kernel
  scratch + 2 KB for every zoo model (tables, alignment; host build).
- libm keeps no errno state (no newlib reentrancy struct in a firmware that
  has no exit path) and no double-precision helper is linked.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CRT = Path(__file__).resolve().parents[2] / "c_runtime"
sys.path.insert(0, str(CRT / "tools"))
import stack_usage  # noqa: E402

BUDGET = 1024
CC = "arm-none-eabi-gcc"


def _need_cc() -> None:
    if shutil.which(CC) is None:
        pytest.skip(f"{CC} not installed (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi)")


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    _need_cc()
    d = tmp_path_factory.mktemp("callgraph")
    return stack_usage.read_graph(stack_usage.compile_callgraph(CC, str(d)))


def _zoo_models() -> list[str]:
    return sorted(str(p) for p in Path(stack_usage.ZOO).glob("*.nnb"))


def _kernel_params():
    models = _zoo_models()
    if not models:
        return [pytest.param("none", marks=pytest.mark.skip(reason=f"no zoo .nnb files in {stack_usage.ZOO}"))]
    return sorted(stack_usage.model_kernels(models))


@pytest.mark.parametrize("kernel", _kernel_params())
def test_stack_within_budget(graph, kernel):
    """nnbrt_init and nnbrt_run with this kernel (as a model using it would call it)."""
    frames, calls = graph
    kernels = stack_usage.kernel_functions(frames)
    assert kernel in kernels, f"{kernel}: no kernel definition found in c_runtime/src/kernels"
    w = stack_usage.worst_paths(frames, calls, {kernel: kernels[kernel]})
    over = [f"{e} via {kernel}: {w[e][0]} B > {BUDGET}: " + " -> ".join(w[e][1])
            for e in ("nnbrt_init", "nnbrt_run") if w[e][0] > BUDGET]
    print(kernel, {e: w[e][0] for e in w})
    assert not over, "\n".join(over)


def test_loader_share(graph):
    """The loader's frames above a kernel call (a stand-in kernel of 10,000 B
    makes the kernel path the deepest one), and the loader's own deepest
    path (kernels of zero stack). The fixed-point integer kernels
    (kernels/fixed_mac.c, entered at nnbrt_fixed_dispatch for FIXED8/FIXED16
    files) are kernels the loader calls directly: "alone" leaves them out,
    and their whole path from nnbrt_run is held to the kernels' budget."""
    frames, calls = graph
    stub = {"nnbrt_k_stub": {"check": "stub_check", "run": "stub_run"}}
    big = dict(frames, stub_check=(10000, "static"), stub_run=(10000, "static"))
    zero = dict(frames, stub_check=(0, "static"), stub_run=(0, "static"))
    above = {k: v[0] - 10000 for k, v in stack_usage.worst_paths(big, calls, stub).items()}
    with_fixed = stack_usage.worst_paths(zero, calls, stub)
    no_fixed = dict(zero, nnbrt_fixed_dispatch=(0, "static"))
    alone = {k: v[0] for k, v in
             stack_usage.worst_paths(no_fixed, dict(calls, nnbrt_fixed_dispatch=set()), stub).items()}
    print("above the kernel call:", above, "loader alone:", alone,
          "with the fixed-point kernels:", with_fixed["nnbrt_run"])
    assert above["nnbrt_run"] <= 64 and above["nnbrt_init"] <= 256, above
    assert alone["nnbrt_run"] <= 512 and alone["nnbrt_init"] <= 768, alone
    assert "nnbrt_fixed_dispatch" in frames, "the fixed-point entry moved: update this test"
    assert with_fixed["nnbrt_run"][0] <= BUDGET, with_fixed["nnbrt_run"]


def test_no_errno_state_no_double(tmp_path):
    """A firmware-like link (no C start-up files, so no exit path): newlib's
    1 KB reentrancy struct (errno) is absent and no soft double routine is in."""
    _need_cc()
    r = subprocess.run(["make", "-C", str(CRT), "-s", "-j2", "build-m4/libnnbrt.a"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    elf = tmp_path / "fw.elf"
    r = subprocess.run([CC, "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os",
                        f"-I{CRT / 'include'}", "--specs=nosys.specs", "-nostartfiles", "-Wl,--gc-sections",
                        "-Wl,-e,main", str(CRT / "tests" / "m4_main.c"), str(CRT / "build-m4" / "libnnbrt.a"),
                        "-lm", "-o", str(elf)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    syms = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    names = {line.split()[-1] for line in syms.splitlines() if line.strip()}
    assert "impure_data" not in names and "_impure_ptr" not in names, "newlib errno state linked"
    doubles = sorted(n for n in names if re.match(r"__aeabi_d|__(add|sub|mul|div)df3|__extendsfdf2", n))
    assert not doubles, f"double-precision routines linked: {doubles}"
    assert "expf" in names, "the check needs a kernel that calls libm (expf)"
    print(os.path.getsize(elf), "bytes ELF; symbols checked:", len(names))


ZOO_NAMES = sorted(p.stem for p in Path(stack_usage.ZOO).glob("*.nnp") if not p.stem.endswith(".pb"))


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_ram_bound(name, tmp_path):
    from test_c_runtime import _build
    from test_extended import _extended_image
    bindir = _build(False)
    model = tmp_path / f"{name}.nnb"
    model.write_bytes(_extended_image(name))
    r = subprocess.run([str(bindir / "nnbrt"), "info", str(model)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    plan = int(re.search(r"plan arena_bytes (\d+)", r.stdout).group(1))
    scratch = int(re.search(r"kernel scratch (\d+)", r.stdout).group(1))
    ext = int(re.search(r"NNBRT_EXTERNAL_INPUTS\): (\d+)", r.stdout).group(1))
    # host builds may keep weights packed once at load (a copy for speed; none on microcontrollers)
    m = re.search(r"packed weights (\d+)", r.stdout)
    packed = int(m.group(1)) if m else 0
    print(f"{name}: {ext} B <= plan {plan} + scratch {scratch} + packed weights {packed} + 2048")
    assert ext <= plan + scratch + packed + 2048, r.stdout
