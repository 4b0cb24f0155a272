"""Structure: the CLI stays on top (nothing below imports it), subpackages import on their own, module-level
imports form no circle, and the converter keeps accepting every model it accepted before."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest
from conftest import ROOT, SHARED

PKG = os.path.join(ROOT, "nnb")
CLI = ("nnb.cli", "nnb.commands", "nnb.__main__")  # __main__: `python -m nnb`, the CLI itself


def _modules() -> dict[str, str]:
    """Module name -> file, for every .py under nnb/."""
    out = {}
    for folder, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                out[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return out


def _imports(path: str, module: str, top_level_only: bool) -> set[str]:
    """Modules ``path`` imports (absolute names; relative imports resolved)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = set()
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in out if m == "nnb" or m.startswith("nnb.")}


def test_no_module_below_the_cli_imports_it() -> None:
    offenders = []
    for module, path in _modules().items():
        if module.startswith(CLI):
            continue
        for imp in _imports(path, module, top_level_only=False):
            if imp.startswith(CLI):
                offenders.append(f"{module} imports {imp}")
    assert not offenders, offenders


def test_module_level_imports_form_no_circle() -> None:
    mods = _modules()
    graph = {m: {i for i in _imports(p, m, top_level_only=True) if i in mods and i != m} for m, p in mods.items()}
    # importing a package runs its __init__: a module importing nnb.x.y also depends on nnb.x
    for m, deps in graph.items():
        for d in list(deps):
            parts = d.split(".")
            deps.update(".".join(parts[:k]) for k in range(2, len(parts)) if ".".join(parts[:k]) in mods)
        deps.discard(m)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if m.startswith(d + "."):  # a package's own __init__ runs first: not a circle
                continue
            if state.get(d) == 1:
                cycle = stack[stack.index(d):] + [d]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def _subpackages() -> list[str]:
    return sorted(f"nnb.{d}" for d in os.listdir(PKG) if os.path.isfile(os.path.join(PKG, d, "__init__.py")))


def test_each_subpackage_imports_on_its_own() -> None:
    """A fresh interpreter per subpackage (in parallel): no hidden dependence on import order."""
    procs = {m: subprocess.Popen([sys.executable, "-c", f"import {m}"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, cwd=ROOT) for m in _subpackages()}
    failed = {}
    for m, p in procs.items():
        _, err = p.communicate(timeout=120)
        if p.returncode:
            failed[m] = err.strip().splitlines()[-1:]
    assert len(procs) >= 8
    assert not failed, failed


# Every model the converter accepted when this list was written, with the modes it accepted.  A model that
# stops converting is a regression: this test fails (it never skips a listed model).
CONVERTS = {
    "zoo/activations": ("extended",),  # HardSigmoid has no compatible form
    "zoo/arith": ("compat", "extended"),
    "zoo/array": ("compat", "extended"),
    "zoo/autoencoder": ("compat", "extended"),
    "zoo/batchnorm": ("compat", "extended"),
    "zoo/broadcast": ("compat", "extended"),
    "zoo/conv_variants": ("compat", "extended"),
    "zoo/deconv": ("compat", "extended"),
    "zoo/depthwise": ("compat", "extended"),
    "zoo/dscnn": ("compat", "extended"),
    "zoo/lenet": ("compat", "extended"),
    "zoo/matmul": ("compat", "extended"),
    "zoo/pooling": ("compat", "extended"),
    "zoo/reduce": ("compat", "extended"),
    "zoo/resnet8": ("compat", "extended"),
    "zoo/unet_tiny": ("compat", "extended"),
    "trained/fmnist_lenet": ("compat", "extended"),
    "trained/fmnist_dscnn": ("compat", "extended"),
    "imported/convt_pad": ("compat", "extended"),
    "imported/mbv2": ("compat", "extended"),
    "imported/mlp_ops": ("compat", "extended"),
}


@pytest.mark.parametrize("model", sorted(CONVERTS))
def test_converter_still_accepts(model: str) -> None:
    from nnb.emit.convert import convert
    from nnb.emit.nnb import read_nnb
    from nnb.model import load_model

    path = os.path.join(SHARED, "fixtures", model + ".nnp")
    assert os.path.exists(path), f"{path}: fixture missing (this test does not skip)"
    g = load_model(path)
    for mode in CONVERTS[model]:
        c = convert(g, mode)
        assert c.mode == mode
        back = read_nnb(c.image, model)
        assert len(back.outputs) == len(g.outputs)
